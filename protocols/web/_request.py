"""
Request: one HTTP request and the response to it, as twisted.web.http has it.

The channel makes a Request per head and drives it through calls its
users need not know (``headReceived``, ``gotLength``,
``handleContentChunk``, ``handleContentEnd``, ``requestReceived``);
``process()`` is where a subclass (server.Request) answers.  The answer is
written with ``setResponseCode``, ``setHeader``, ``write`` and ``finish``.

The response path is written for one transport write per response: the
status line and headers are not written when set but joined to the first
body bytes (``write``), and a response finished without a body gets a
``Content-Length: 0`` instead of an empty chunked body.  When no length is
set, an HTTP/1.1 response is chunked; an HTTP/1.0 one ends with the
connection.  The request's headers stay the parser's raw list until
``requestHeaders`` is asked for.  A Content-Length the body does not keep
to is not allowed to desynchronise the connection: extra bytes are dropped
and the connection closes after the response (test_shortBodyClosesConnection).
"""

from __future__ import annotations

import base64
import binascii
import math
import re
import tempfile
import warnings
from collections.abc import Sequence
from io import BytesIO
from typing import Any

from protocols.web._cookies import parseCookies, setCookieValue
from protocols.web._dates import datetimeToString, stringToDatetime
from protocols.web._forms import FormError, formArguments, parse_qs
from protocols.web._headers import Headers, _headersFromRaw, _setOne, _table
from protocols.web._responses import (
    FOUND,
    NOT_MODIFIED,
    OK,
    PRECONDITION_FAILED,
    RESPONSES,
)
from reactor.address import IPv4Address
from reactor.defer import Deferred, fail, succeed
from reactor.error import ConnectionDone
from reactor.failure import Failure
from reactor.logger import Logger

__all__ = ["Request", "CACHED", "NO_BODY_CODES"]

NO_BODY_CODES = (204, 304)

CACHED = """A value setLastModified and setETag return when the client's copy is
current: write no body."""

_statusLines: dict[tuple[bytes, int, bytes], bytes] = {}
_HOST_HEADER = re.compile(rb"^\[?(?P<host>.*?)\]?(:\d+)?$")
_BIG_WRITE = 1 << 16  # from here on, head and body go out as two pieces (writev)


def _statusLine(version: bytes, code: int, message: bytes) -> bytes:
    key = (version, code, message)
    line = _statusLines.get(key)
    if line is None:
        line = b"%s %d %s\r\n" % (version, code, message)
        if len(_statusLines) < 1000:
            _statusLines[key] = line
    return line


def _headerPairs(request: Any) -> Sequence[tuple[bytes, bytes]]:
    # The request's headers as (name, value) pairs, in order, for a reader
    # that only looks (the reverse proxy, once a request): the parser's
    # list itself, unless requestHeaders was made or set (then its own, by
    # canonical name).  No Headers, dict or lists are made from the
    # parser's list, so that a request waiting for its answer holds none
    # (objects that a hundred requests in flight keep alive make the
    # garbage collector run;
    # test_proxy.py::test_theRequestHeadersAsTheProxyFindsThem).
    if isinstance(request, Request):
        headers = request._headers
        if headers is None:
            return request._rawHeaders  # type: ignore[no-any-return]
    else:
        headers = request.requestHeaders
    return [(name, value) for name, values in _table(headers).items() for value in values]


_OK_MESSAGE = RESPONSES[OK]


class Request:
    """
    An HTTP request: what the client asked, and the response being made.

    :ivar method: the method, as sent (``b"GET"``).
    :ivar uri: the request target, still encoded, with its query.
    :ivar path: the uri without its query.
    :ivar args: the query's (and a POSTed form's) fields, {name: [values]}.
    :ivar clientproto: the version, ``b"HTTP/1.1"``.
    :ivar content: a file holding the body (None when it is streamed).
    :ivar responseHeaders: the Headers of the response.
    :ivar code: the response code; :ivar code_message: its reason phrase.
    :ivar sentLength: body bytes written so far.
    :ivar client: the client's address; :ivar host: ours.
    :ivar channel: the HTTPChannel, None once the request is done.
    :ivar notifications: Deferreds from notifyFinish not yet fired (or
        anything else with their ``callback`` and ``errback``, called the
        same way: the reverse proxy's watch on its client, a Deferred less
        per request).
    :cvar maxRequestBodySize: this request's body limit, None for the
        channel's (server.Request takes its resource's).
    :cvar streamingBody: whether the body is handed over as it arrives
        rather than collected in ``content`` (server.Request's, for
        resources that ask).
    """

    producer: Any = None
    streamingProducer = False
    finished = False
    queued = False
    code = OK
    code_message = _OK_MESSAGE
    method = b"(no method yet)"
    clientproto = b"(no clientproto yet)"
    uri = b"(no uri yet)"
    startedWriting = False
    chunked = False
    sentLength = 0
    etag: bytes | None = None
    lastModified: int | None = None
    args: dict[bytes, list[bytes]] | None = None
    path: bytes = b""
    content: Any = None
    maxRequestBodySize: int | None = None
    streamingBody = False
    _forceSSL = False
    _disconnected = False
    _noBody = False
    _declaredLength: int | None = None
    _rawHeaders: Any = ()
    _headers: Headers | None = None
    _cookies: dict[bytes, bytes] | None = None
    _spoolAt: int | None = None
    _encoder: Any = None  # server.Request's response encoder (gzip)
    _log = Logger()

    def __init__(
        self, channel: Any, queued: object = None, parsePOSTFormSubmission: bool | None = None
    ) -> None:
        """
        :param channel: the HTTPChannel the request came on.
        :param queued: ignored (Twisted's, deprecated there).
        :param parsePOSTFormSubmission: whether a POSTed form's fields go
            into ``args`` (by default yes; server.Request asks its Site).
        """
        if parsePOSTFormSubmission is not None:
            self._parseForms = parsePOSTFormSubmission
        self.notifications: list[Any] = []
        self.channel = channel
        self.client = channel.getPeer()
        self.host = channel.getHost()
        self.responseHeaders = Headers()
        self.cookies: list[bytes] = []
        self.transport = channel.transport
        # The response's state, though each has its class default: on
        # CPython 3.11 the instances of a class keep their attributes in
        # one key table, which takes new names only while few instances
        # exist.  A name first set late in a request's life, many requests
        # later (a proxy's answer comes turns after its request), would
        # give every request a dict of its own, and generic lookups.
        self.code = OK
        self.code_message = _OK_MESSAGE
        self.startedWriting = False
        self.sentLength = 0
        self._declaredLength = None
        self.finished = False

    # -- what the channel calls --------------------------------------------------

    def headReceived(self, method: bytes, uri: bytes, version: bytes, rawHeaders: Any) -> None:
        """
        The head arrived (called by the channel): keep the method, URI,
        version and the parser's list of raw (name, value) header pairs.
        """
        self.method = method
        self.uri = uri
        self.clientproto = version
        self._rawHeaders = rawHeaders
        query = uri.find(b"?")
        if query < 0:
            self.path = uri
            self.args = {}
        else:
            self.path = uri[:query]
            self.args = parse_qs(uri[query + 1 :], True)

    def gotLength(self, length: int | None) -> None:
        """
        The body's length is known (None when chunked): make ``content``, in
        memory up to the channel's ``maxMemoryBodySize``, else a temporary
        file (a chunked body moves to one when it grows past that).
        """
        threshold = getattr(self.channel, "maxMemoryBodySize", 100_000)
        if length is not None and length > threshold:
            self.content = tempfile.TemporaryFile()
        else:
            self.content = BytesIO()
            if length is None:
                self._spoolAt = threshold

    def handleContentChunk(self, data: bytes) -> None:
        """A piece of the body arrived (called by the channel)."""
        content = self.content
        content.write(data)
        spoolAt = self._spoolAt
        if spoolAt is not None and content.tell() > spoolAt:
            self._spoolAt = None
            spooled = tempfile.TemporaryFile()
            spooled.write(content.getvalue())
            self.content = spooled

    def handleContentEnd(self, error: Exception | None = None) -> None:
        """
        The body is complete, or (error given) will never be: the channel
        refused the rest.  Nothing to do here: ``requestReceived`` follows.
        """

    def requestReceived(self, command: bytes, path: bytes, version: bytes) -> None:
        """
        The request may be answered now (called by the channel): read a
        POSTed form into ``args``, then ``process()``.

        :param command: the method; :param path: the URI; :param version:
            the version (the channel passes what ``headReceived`` kept; a
            caller driving a Request by hand may pass new ones).
        """
        if path is not self.uri or command is not self.method:
            self.headReceived(command, path, version, self._rawHeaders)
        content = self.content
        if content is not None and content.tell():
            content.seek(0, 0)
            if self.method == b"POST" and self._parsesForms():
                contentType = self.getHeader(b"Content-Type")
                if contentType:
                    try:
                        fields = formArguments(content.read(), contentType)
                    except FormError:
                        self._badForm()
                        return
                    assert self.args is not None
                    self.args.update(fields)
                    content.seek(0, 0)
        self.process()

    _parseForms: bool | None = None

    def _parsesForms(self) -> bool:
        return self._parseForms is not False

    def _badForm(self) -> None:
        self.setResponseCode(400)
        self.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        self.write(b"400 Bad Request: the form body does not parse\n")
        self.finish()

    def process(self) -> None:
        """Answer the request: override (server.Request finds a resource)."""

    def connectionLost(self, reason: Failure | None) -> None:
        """The connection is gone: fail the notifyFinish Deferreds."""
        self._disconnected = True
        self.channel = None
        if self.content is not None:
            self.content.close()
        if reason is None:
            reason = Failure(ConnectionDone("the request was not read to its end"))
        notifications, self.notifications = self.notifications, []
        for notification in notifications:
            notification.errback(reason)

    # -- the request, as users read it -------------------------------------------

    @property
    def requestHeaders(self) -> Headers:
        """The Headers of the request (built on first use from the parser's list)."""
        headers = self._headers
        if headers is None:
            headers = self._headers = _headersFromRaw(self._rawHeaders)
        return headers

    @requestHeaders.setter
    def requestHeaders(self, headers: Headers) -> None:
        self._headers = headers

    @property
    def received_cookies(self) -> dict[bytes, bytes]:
        """The cookies the client sent, {name: value} (parsed on first use)."""
        cookies = self._cookies
        if cookies is None:
            cookies = self._cookies = parseCookies(self.requestHeaders.getRawHeaders(b"Cookie", ()))
        return cookies

    @received_cookies.setter
    def received_cookies(self, cookies: dict[bytes, bytes]) -> None:
        self._cookies = cookies

    def parseCookies(self) -> None:
        """Parse the Cookie headers into ``received_cookies`` (done lazily anyway)."""
        self._cookies = None
        self.received_cookies  # noqa: B018

    def getHeader(self, key: Any) -> Any:
        """
        Return the last value of the request header key, or None.

        A str key gives a str value.
        """
        values = self.requestHeaders.getRawHeaders(key)
        if values is not None:
            return values[-1]
        return None

    def getAllHeaders(self) -> dict[bytes, bytes]:
        """Return {lower-case name: last value} of the request's headers."""
        return {name.lower(): values[-1] for name, values in self.requestHeaders.getAllRawHeaders()}

    def getCookie(self, key: bytes) -> bytes | None:
        """Return the value of the cookie key the client sent, or None."""
        return self.received_cookies.get(key)

    def getRequestHostname(self) -> bytes:
        """Return the host name the client asked for (Host header), else ours."""
        host = self.getHeader(b"Host")
        if host is not None:
            match = _HOST_HEADER.match(host)
            if match is not None:
                return match.group("host")
        return str(getattr(self.getHost(), "host", "")).encode("ascii", "replace")

    def getHost(self) -> Any:
        """Return the address the client connected to (or what setHost said)."""
        return self.host

    def setHost(self, host: bytes, port: int, ssl: bool = False) -> None:
        """
        Say the request came for host:port (behind a reverse proxy), and
        whether it counts as secure: sets the Host header and ``host``.
        """
        self._forceSSL = bool(ssl)
        default = 443 if self.isSecure() else 80
        hostHeader = host if port == default else b"%s:%d" % (host, port)
        self.requestHeaders.setRawHeaders(b"Host", [hostHeader])
        self.host = IPv4Address("TCP", host.decode("ascii", "replace"), port)

    def getClientIP(self) -> str | None:
        """Return the client's IP address, or None (deprecated: use getClientAddress)."""
        host = getattr(self.getClientAddress(), "host", None)
        return host if isinstance(host, str) else None

    def getClientAddress(self) -> Any:
        """Return the client's address (an IAddress: IPv4Address, UNIXAddress, ...)."""
        return self.client

    def isSecure(self) -> bool:
        """Return whether the request came over TLS (or setHost said so)."""
        if self._forceSSL:
            return True
        channel = self.channel
        return channel is not None and channel.isSecure()

    def _authorize(self) -> tuple[bytes, bytes]:
        header = self.getHeader(b"Authorization")
        if header:
            try:
                scheme, encoded = header.split()
                if scheme.lower() == b"basic":
                    user, _, password = base64.b64decode(encoded, validate=True).partition(b":")
                    return user, password
            except (binascii.Error, ValueError):
                pass
        return b"", b""

    def getUser(self) -> bytes:
        """Return the user of a Basic Authorization header, or b""."""
        return self._authorize()[0]

    def getPassword(self) -> bytes:
        """Return the password of a Basic Authorization header, or b""."""
        return self._authorize()[1]

    # -- the response ----------------------------------------------------------

    def setResponseCode(self, code: int, message: bytes | None = None) -> None:
        """Set the response code, and its reason phrase (the standard one by default)."""
        if not isinstance(code, int):
            raise TypeError("HTTP response code must be int, not %r" % (code,))
        self.code = code
        self.code_message = (
            message if message is not None else RESPONSES.get(code, b"Unknown Status")
        )

    def setHeader(self, name: bytes | str, value: bytes | str) -> None:
        """Set a response header, replacing any value it had."""
        _setOne(self.responseHeaders, name, value)

    def redirect(self, url: bytes | str) -> None:
        """Answer 302 Found with Location url (then call finish)."""
        self.setResponseCode(FOUND)
        self.setHeader(b"Location", url)

    def addCookie(
        self,
        k: bytes | str,
        v: bytes | str,
        expires: bytes | str | None = None,
        domain: bytes | str | None = None,
        path: bytes | str | None = None,
        max_age: bytes | str | int | None = None,
        comment: bytes | str | None = None,
        secure: bool | None = None,
        httpOnly: bool = False,
        sameSite: bytes | str | None = None,
    ) -> None:
        """
        Set a cookie in the response (a Set-Cookie header).

        CR, LF and ``;`` in any part become spaces, so no part can add
        attributes of its own.

        :param sameSite: None, ``"lax"``, ``"strict"`` or ``"none"`` (which
            needs ``secure``).
        :raises ValueError: for another sameSite, or ``"none"`` without secure.
        """
        cookie = setCookieValue(
            k,
            v,
            expires=expires,
            domain=domain,
            path=path,
            maxAge=max_age,
            comment=comment,
            secure=secure,
            httpOnly=httpOnly,
            sameSite=sameSite,
        )
        self.cookies.append(cookie)

    def setLastModified(self, when: float) -> Any:
        """
        Set Last-Modified (only ever moved later); return CACHED, with the
        code set to 304, if the client's If-Modified-Since copy is current.
        """
        when = int(math.ceil(when))
        if not self.lastModified or self.lastModified < when:
            self.lastModified = when
        modifiedSince = self.getHeader(b"If-Modified-Since")
        if modifiedSince:
            try:
                since = stringToDatetime(modifiedSince.split(b";", 1)[0])
            except ValueError:
                return None
            if since >= self.lastModified:
                self.setResponseCode(NOT_MODIFIED)
                return CACHED
        return None

    def setETag(self, etag: bytes) -> Any:
        """
        Set the ETag; return CACHED, with the code set to 304 (GET, HEAD) or
        412, if the client's If-None-Match names it.
        """
        if etag:
            self.etag = etag
        tags = self.getHeader(b"If-None-Match")
        if tags:
            # A comma-separated list; weak comparison (RFC 9110 13.1.2): W/ is ignored.
            tags = [tag.strip().removeprefix(b"W/") for tag in tags.split(b",")]
            if etag.removeprefix(b"W/") in tags or b"*" in tags:
                self.setResponseCode(
                    NOT_MODIFIED if self.method in (b"HEAD", b"GET") else PRECONDITION_FAILED
                )
                return CACHED
        return None

    def write(self, data: bytes) -> None:
        """
        Write body bytes; the first call sends the status line and headers
        with them.

        :raises RuntimeError: after finish().
        """
        if self.finished:
            raise RuntimeError("Request.write called on a request after Request.finish was called.")
        if self._disconnected:
            return
        if not self.startedWriting:
            self._writeHead(data)
            return
        if self._noBody or not data:
            return
        declared = self._declaredLength
        if declared is not None and self.sentLength + len(data) > declared:
            data = data[: declared - self.sentLength]
            self.channel.persistent = False
            if not data:
                return
        self.sentLength += len(data)
        if self.chunked:
            if len(data) < _BIG_WRITE:
                self.channel.write(b"%x\r\n%s\r\n" % (len(data), data))
            else:
                self.channel.writeSequence([b"%x\r\n" % (len(data),), data, b"\r\n"])
        else:
            self.channel.write(data)

    def _writeHead(self, data: bytes) -> None:
        # The status line and headers, framed, joined to the first body bytes.
        self.startedWriting = True
        table = _table(self.responseHeaders)
        if self.lastModified is not None or self.etag is not None or self.cookies:
            self._addValidatorsAndCookies(table)
        code = self.code
        version = self.clientproto
        noBody = code in NO_BODY_CODES or code < 200 or self.method == b"HEAD"
        if noBody:
            framed = self._noBody = True
        else:
            length = table.get(b"Content-Length")
            if length is not None:
                framed = length[0].isdigit()
                if framed:
                    self._declaredLength = int(length[0])
            elif version == b"HTTP/1.1":
                framed = self.chunked = True
                table[b"Transfer-Encoding"] = [b"chunked"]
            else:
                framed = False
        connection = table.get(b"Connection")
        if connection is not None and connection[0].lower().find(b"close") >= 0:
            framed = False
        if self.channel.responseStarted(self, framed):
            if version == b"HTTP/1.0":
                table[b"Connection"] = [b"keep-alive"]
        elif version == b"HTTP/1.1":
            table[b"Connection"] = [b"close"]
        line = _statusLines.get((version, code, self.code_message))
        parts = [line or _statusLine(version, code, self.code_message)]
        for name, values in table.items():
            for value in values:
                parts += (name, b": ", value, b"\r\n")
        parts.append(b"\r\n")
        if not noBody and data:
            declared = self._declaredLength
            if declared is not None and len(data) > declared:
                data = data[:declared]
                self.channel.persistent = False
            self.sentLength = len(data)
            if self.chunked:
                parts += (b"%x\r\n" % (len(data),), data, b"\r\n")
            elif len(data) >= _BIG_WRITE:
                self.channel.writeSequence([b"".join(parts), data])
                return
            else:
                parts.append(data)
        self.channel.write(b"".join(parts))

    def _addValidatorsAndCookies(self, table: dict[bytes, list[bytes]]) -> None:
        # Last-Modified, ETag and Set-Cookie, from what was set on the request.
        if self.lastModified is not None and b"Last-Modified" not in table:
            table[b"Last-Modified"] = [datetimeToString(self.lastModified)]
        if self.etag is not None:
            self.responseHeaders.setRawHeaders(b"ETag", [self.etag])
        if self.cookies:
            self.responseHeaders.setRawHeaders(b"Set-Cookie", self.cookies)

    def finish(self) -> None:
        """
        End the response.

        :raises RuntimeError: if the connection was lost first (use
            notifyFinish to learn of that).
        """
        if self._disconnected:
            raise RuntimeError(
                "Request.finish called on a request after its connection was lost; "
                "use Request.notifyFinish to keep track of this."
            )
        if self.finished:
            warnings.warn("Warning! request.finish called twice.", stacklevel=2)
            return
        if self._encoder is not None:
            self._flushEncoder()
        if not self.startedWriting:
            table = _table(self.responseHeaders)
            if (
                b"Content-Length" not in table
                and self.code not in NO_BODY_CODES
                and self.code >= 200
                and self.method != b"HEAD"
            ):
                table[b"Content-Length"] = [b"0"]
            self._writeHead(b"")
        elif self.chunked and not self._noBody:
            self.channel.write(b"0\r\n\r\n")
        declared = self._declaredLength
        if declared is not None and self.sentLength != declared and not self._noBody:
            self.channel.persistent = False
        channel = self.channel
        try:
            factory = channel.factory
        except AttributeError:  # a channel of a test, without a factory
            factory = None
        if factory is not None:
            factory.log(self)
        self.finished = True
        if self.producer is not None:
            self._log.failure(
                "",
                Failure(RuntimeError("Producer was not unregistered for %r" % (self.uri,))),
            )
            self.unregisterProducer()
        self.channel = None
        channel.requestDone(self)
        if self.content is not None:
            self.content.close()
        notifications = self.notifications
        if notifications:
            self.notifications = []
            for notification in notifications:
                notification.callback(None)

    def _flushEncoder(self) -> None:
        # server.Request's: write what the encoder still holds.
        self._encoder = None

    def notifyFinish(self) -> Deferred[None]:
        """
        Return a Deferred that fires with None when the response is finished,
        or fails if the connection is lost first.  Asked after either, it
        has fired already.
        """
        if self.finished:
            return succeed(None)
        if self._disconnected:
            return fail(ConnectionDone("the connection was lost before the response was finished"))
        notification: Deferred[None] = Deferred()
        self.notifications.append(notification)
        return notification

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """
        Register a producer of the response body, with backpressure from
        the connection.

        :raises ValueError: if one is registered already.
        """
        if self.producer is not None:
            raise ValueError(
                "registering producer %s before previous one (%s) was unregistered"
                % (producer, self.producer)
            )
        self.streamingProducer = streaming
        self.producer = producer
        self.channel.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        """Unregister the producer."""
        if self.channel is not None:
            self.channel.unregisterProducer()
        self.producer = None

    def loseConnection(self) -> None:
        """Close the connection the request came on."""
        if self.channel is not None:
            self.channel.loseConnection()

    def __repr__(self) -> str:
        return "<%s at 0x%x method=%s uri=%s clientproto=%s>" % (
            type(self).__name__,
            id(self),
            self.method.decode("latin-1"),
            self.uri.decode("latin-1"),
            self.clientproto.decode("latin-1"),
        )

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Request):
            return self is other
        return NotImplemented

    def __hash__(self) -> int:
        return id(self)
