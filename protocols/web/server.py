"""
A web server: a Site answers each request from a tree of Resources, as
twisted.web.server does.

``Site(root)`` is the factory to listen with; its ``Request`` finds the
resource for the path (``getChildForRequest``, walking ``postpath`` into
``prepath``) and renders it.  Beyond Twisted:

- the resource is found as soon as the request's head has arrived, so its
  ``maxRequestBodySize`` and ``streamRequestBody`` apply to the body that
  follows (doc/web.md, "Request bodies");
- ``render`` may return a Deferred or be an ``async def``; if the client
  goes away first, the Deferred is cancelled;
- an error while rendering is logged with its traceback and answered with a
  500 whose body shows none, unless the Site was made with
  ``displayTracebacks=True`` (Twisted's old default showed them to anyone);
  a render that fails with ``protocols.web.error.Error`` is answered with
  that error's status instead;
- a method a resource lacks gets 405 with Allow whenever it is a standard
  method (Twisted answers 501 to any but GET, HEAD and POST);
- behind the proxies a Site trusts (``trustedProxies``),
  ``getClientAddress()`` and ``isSecure()`` follow Forwarded and
  X-Forwarded-For/-Proto, and only then (protocols/web/_forwarded.py).
"""

from __future__ import annotations

import html
import os
from binascii import hexlify
from io import BytesIO
from types import CoroutineType
from typing import Any
from urllib.parse import quote as _quote

from zope.interface import implementer

from protocols.web import iweb
from protocols.web._body import BodyStream
from protocols.web._encoding import GzipEncoderFactory, _IEncodingResource
from protocols.web._factory import HTTPFactory
from protocols.web._forms import parse_qs, unquote
from protocols.web._forwarded import TrustedProxies
from protocols.web._headers import _table
from protocols.web._request import NO_BODY_CODES
from protocols.web._request import Request as _HTTPRequest
from protocols.web._responses import INTERNAL_SERVER_ERROR, NOT_ALLOWED, NOT_IMPLEMENTED, OK
from protocols.web._session import Session
from protocols.web.error import Error, UnsupportedMethod
from protocols.web.resource import ErrorPage, getChildForRequest
from reactor.defer import CancelledError, Deferred, ensureDeferred, succeed
from reactor.failure import Failure
from reactor.interfaces import IProtocolNegotiationFactory, IPushProducer

__all__ = [
    "supportedMethods",
    "Request",
    "Session",
    "Site",
    "version",
    "NOT_DONE_YET",
    "GzipEncoderFactory",
]

NOT_DONE_YET = 1
"""What render returns when it will write and finish the response itself."""

version = b"Loom"
"""The Server header's value."""

supportedMethods = (b"GET", b"HEAD", b"POST")

# Methods a resource may lack and be answered 405 (RFC 9110 and PATCH);
# for any other, 501: the server does not know the method at all.
_STANDARD_METHODS = frozenset(
    [b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"CONNECT", b"OPTIONS", b"TRACE", b"PATCH"]
)

_PROCESSING_FAILED = (
    b"<html><head><title>Processing Failed</title></head><body>"
    b"<b>Processing Failed</b></body></html>"
)


def quote(string: bytes, *args: Any, **kwargs: Any) -> bytes:
    """urllib's quote for bytes: percent-encode string, giving bytes."""
    return _quote(string.decode("charmap"), *args, **kwargs).encode("charmap")


@implementer(IPushProducer)
class _NoBody:
    """The producer of a streamed request without a body: it is over already."""

    def pauseProducing(self) -> None:
        pass

    def resumeProducing(self) -> None:
        pass

    def stopProducing(self) -> None:
        pass


_NO_BODY = _NoBody()


@implementer(iweb.IRequest)
class Request(_HTTPRequest):
    """
    A request a Site answers from its resource tree.

    :ivar site: the Site.
    :ivar prepath: the path segments traversed so far (decoded).
    :ivar postpath: the path segments still to traverse (decoded).
    :ivar sitepath: the prepath when the Site began traversing.
    :cvar defaultContentType: the Content-Type of responses that set none
        (None for no default).
    """

    defaultContentType: bytes | None = b"text/html"
    site: Any = None
    appRootURL: bytes | None = None
    prepath: list[bytes] | None = None
    postpath: list[bytes] | None = None
    sitepath: list[bytes] | None = None
    _inFakeHead = False
    _resource: Any = None
    _traversalFailure: Failure | None = None
    _rendering: Deferred[Any] | None = None
    _bodyStream: BodyStream | None = None
    _insecureSession: Any = None
    _secureSession: Any = None
    _forwarded: tuple[Any, bool | None] | None = None

    def _parsesForms(self) -> bool:
        # The request's own setting, else its Site's.
        choice = self._parseForms
        if choice is None:
            return self.site is None or self.site.parsePOSTFormSubmission
        return bool(choice)

    # -- the head: find the resource --------------------------------------------

    def headReceived(self, method: bytes, uri: bytes, version: bytes, rawHeaders: Any) -> None:
        """
        The head arrived: find the resource, so that its limits apply to
        the body still to come (called by the channel).
        """
        # http.Request's part, inline: this is once per request.
        self.method = method
        self.uri = uri
        self.clientproto = version
        self._rawHeaders = rawHeaders
        path, _, query = uri.partition(b"?")
        self.path = path
        self.args = parse_qs(query, True) if query else {}
        self.site = self.channel.site
        self.prepath = []
        # find(), not ``b"%" in path``: on Python 3.11 ``in`` on bytes first
        # tries its operand as an int and builds and drops a TypeError.
        if path.find(b"%") >= 0:
            self.postpath = [unquote(segment) for segment in path[1:].split(b"/")]
        else:
            self.postpath = path[1:].split(b"/")
        if path == b"*":
            return
        try:
            resource = self._resource = self.site.getResourceFor(self)
        except Exception:
            self._traversalFailure = Failure()
            return
        try:
            # Resource's class attributes; an IResource of another kind may
            # lack them (getattr with a default would cost more every time).
            limit = resource.maxRequestBodySize
            streams = resource.streamRequestBody
        except AttributeError:
            limit = getattr(resource, "maxRequestBodySize", None)
            streams = getattr(resource, "streamRequestBody", False)
        if limit is not None:
            self.maxRequestBodySize = limit
        if streams:
            self.streamingBody = True

    def gotLength(self, length: int | None) -> None:
        """
        Make ``content`` for a body of length (the Site's ``getContentFile``
        if it has one); a streamed body gets no ``content``.
        """
        if self.streamingBody:
            if length != 0:  # (none for no body: streamBody ends at once)
                self._bodyStream = BodyStream(self.channel, self)
            return
        getContentFile = self.site.getContentFile
        if getContentFile is not None:
            self.content = getContentFile(length)
        elif length == 0:
            self.content = BytesIO()
        else:
            _HTTPRequest.gotLength(self, length)

    def handleContentChunk(self, data: bytes) -> None:
        """A piece of the body arrived (called by the channel)."""
        stream = self._bodyStream
        if stream is None:
            _HTTPRequest.handleContentChunk(self, data)
        else:
            stream.write(data)

    def handleContentEnd(self, error: Exception | None = None) -> None:
        """The body ended, or failed (called by the channel)."""
        stream = self._bodyStream
        if stream is not None:
            stream.end(None if error is None else Failure(error))

    def streamBody(self, consumer: Any) -> Deferred[None]:
        """
        Write the request body to consumer as it arrives, with backpressure:
        the body registers with consumer as a push producer, and pausing it
        pauses reading from the client.

        For a resource without ``streamRequestBody`` the body is all in
        ``content`` already, and is written at once.

        :param consumer: an IConsumer (``write``, ``registerProducer``,
            ``unregisterProducer``).
        :return: a Deferred firing with None at the end of the body, or
            failing with an ``error.Error`` (413, 400) or the connection's
            loss.
        """
        stream = self._bodyStream
        if stream is not None:
            return stream.startStreaming(consumer)
        content = self.content
        if content is None:  # a streamed request without a body
            consumer.registerProducer(_NO_BODY, True)
            consumer.unregisterProducer()
            return succeed(None)
        content.seek(0, 0)
        while True:
            chunk = content.read(1 << 16)
            if not chunk:
                break
            consumer.write(chunk)
        content.seek(0, 0)
        return succeed(None)

    # -- answering -------------------------------------------------------------

    def process(self) -> None:
        """Render the resource found for this request."""
        table = _table(self.responseHeaders)
        table[b"Server"] = [version]
        table[b"Date"] = [self.channel.dates.date()]
        if self.path == b"*":
            self._handleStar()
            return
        if self._traversalFailure is not None:
            self.processingFailed(self._traversalFailure)
            return
        resource = self._resource
        try:
            if _IEncodingResource.providedBy(resource):
                self._encoder = resource.getEncoder(self)
            self.render(resource)
        except Exception:
            self.processingFailed(Failure())

    def render(self, resrc: Any) -> None:
        """
        Ask resrc to render this request, and answer with what it returns:
        bytes, NOT_DONE_YET, or a Deferred (or coroutine) of either.
        """
        try:
            body = resrc.render(self)
        except UnsupportedMethod as e:
            body = self._unsupported(resrc, e.allowedMethods)
            if body is None:
                return
        if body.__class__ is bytes:
            self._answer(body)
        elif body is NOT_DONE_YET:
            return
        elif isinstance(body, (Deferred, CoroutineType)):
            rendering = self._rendering = ensureDeferred(body)
            rendering.addCallbacks(self._cbRendered, self._ebRendered)
        elif isinstance(body, bytes):
            self._answer(bytes(body))
        else:
            self._notBytes(resrc, body)

    def _answer(self, body: bytes) -> None:
        # The whole body is known: set its length, write it, finish.
        table = _table(self.responseHeaders)
        if self.method == b"HEAD":
            if body or b"Content-Length" not in table:
                table[b"Content-Length"] = [b"%d" % (len(body),)]
            self.write(b"")
        else:
            table[b"Content-Length"] = [b"%d" % (len(body),)]
            if self._encoder is None and not self.startedWriting:
                # write()'s work, without its call: the common case.
                if b"Content-Type" not in table and self.defaultContentType is not None and body:
                    table[b"Content-Type"] = [self.defaultContentType]
                if self.finished or self._disconnected:
                    _HTTPRequest.write(self, body)  # (raises, or ignores it)
                else:
                    self._writeHead(body)
            else:
                self.write(body)
        self.finish()

    def _cbRendered(self, body: Any) -> None:
        # What a Deferred render gave: bytes to answer with; NOT_DONE_YET,
        # or None once it has begun writing, when it answers itself.
        self._rendering = None
        if self._disconnected or self.finished:
            return
        if isinstance(body, bytes):
            self._answer(body)
        elif body is NOT_DONE_YET or (body is None and self.startedWriting):
            return
        else:
            self._notBytes(self._resource, body)

    def _ebRendered(self, failure: Failure) -> None:
        self._rendering = None
        if self._disconnected:
            failure.trap(CancelledError)
            return
        if not self.finished:
            self.processingFailed(failure)

    def _unsupported(self, resrc: Any, allowed: Any) -> Any:
        # The resource has no render method for ours: 405 or 501, or a HEAD
        # answered as a GET without its body.
        if self.method == b"HEAD" and b"GET" in allowed:
            self.method = b"GET"
            self._inFakeHead = True
            try:
                body = resrc.render(self)
            finally:
                self._inFakeHead = False
                self.method = b"HEAD"
            if isinstance(body, bytes):
                _table(self.responseHeaders)[b"Content-Length"] = [b"%d" % (len(body),)]
            self.write(b"")
            self.finish()
            return None
        method = self.method.decode("latin-1")
        if self.method in _STANDARD_METHODS:
            self.setHeader(b"Allow", b", ".join(allowed))
            names = ", ".join(name.decode("latin-1") for name in allowed)
            page = ErrorPage(
                NOT_ALLOWED,
                "Method Not Allowed",
                "Your browser approached me (at %s) with the method %s.  I only allow the "
                "method%s %s here."
                % (self.uri.decode("latin-1"), method, "s" if len(allowed) > 1 else "", names),
            )
        else:
            page = ErrorPage(
                NOT_IMPLEMENTED, "Huh?", "I don't know how to treat a %s request." % (method,)
            )
        return page.render(self)

    def _notBytes(self, resrc: Any, body: Any) -> None:
        self.processingFailed(
            Failure(TypeError("%r rendered %r, which is not bytes" % (resrc, body)))
        )

    def write(self, data: bytes) -> None:
        """
        Write body bytes (the first write adds the default Content-Type);
        nothing while a HEAD is being answered as a GET.
        """
        if self._inFakeHead:
            return
        if not self.startedWriting:
            table = _table(self.responseHeaders)
            if b"Content-Type" not in table:
                self._defaultContentType()
        encoder = self._encoder
        if encoder is not None:
            data = encoder.encode(data)
        _HTTPRequest.write(self, data)

    def _defaultContentType(self) -> None:
        table = _table(self.responseHeaders)
        if (
            self.defaultContentType is not None
            and self.code not in NO_BODY_CODES
            and b"Content-Type" not in table
            and table.get(b"Content-Length") != [b"0"]
        ):
            table[b"Content-Type"] = [self.defaultContentType]

    def _flushEncoder(self) -> None:
        # Called by finish() while an encoder is set: its last bytes.
        encoder, self._encoder = self._encoder, None
        if not self.startedWriting:
            self._defaultContentType()
            _HTTPRequest.write(self, encoder.encode(b""))
        tail = encoder.finish()
        if tail:
            _HTTPRequest.write(self, tail)

    def processingFailed(self, reason: Failure) -> Failure:
        """
        Log reason with its traceback and answer 500 (or the status of an
        ``error.Error``); the traceback is shown only with the Site's
        ``displayTracebacks``.  If the response had begun, the connection
        is closed instead: a half-written response cannot be taken back.

        :return: reason.
        """
        if reason.check(Error):
            # An answer the resource chose, not a bug: no traceback.
            self._log.info("{uri}: {error}", uri=self.uri, error=reason.value)
        else:
            self._log.failure("Error rendering {uri}", failure=reason, uri=self.uri)
        if self._disconnected or self.finished:
            return reason
        if self.startedWriting:
            self.channel.loseConnection()
            return reason
        if self._encoder is not None:
            self._encoder = None
            self.responseHeaders.removeHeader(b"Content-Encoding")
        error = reason.value
        if isinstance(error, Error):
            code = int(error.status)
            body = b"<html><head><title>%d %s</title></head><body><b>%s</b></body></html>" % (
                code,
                error.message or b"",
                html.escape((error.message or b"").decode("latin-1")).encode("latin-1"),
            )
        elif self.site is not None and self.site.displayTracebacks:
            code = INTERNAL_SERVER_ERROR
            body = (
                b"<html><head><title>web.Server Traceback (most recent call last)</title></head>"
                b"<body><b>web.Server Traceback (most recent call last):</b>\n\n<pre>"
                + html.escape(reason.getTraceback()).encode("utf-8", "replace")
                + b"</pre>\n\n</body></html>\n"
            )
        else:
            code = INTERNAL_SERVER_ERROR
            body = _PROCESSING_FAILED
        self.setResponseCode(code)
        self.setHeader(b"Content-Type", b"text/html")
        self.setHeader(b"Content-Length", b"%d" % (len(body),))
        self.write(body)
        self.finish()
        return reason

    def connectionLost(self, reason: Failure | None) -> None:
        """The client went away: cancel a pending render, fail a streamed body."""
        rendering, self._rendering = self._rendering, None
        stream = self._bodyStream
        _HTTPRequest.connectionLost(self, reason)
        if stream is not None:
            stream.end(reason or Failure(CancelledError("the connection was lost")))
        if rendering is not None:
            rendering.cancel()

    def _handleStar(self) -> None:
        # OPTIONS * asks what the server can do: an empty 200; any other
        # method with * gets 405.
        if self.method == b"OPTIONS":
            self.setResponseCode(OK)
        else:
            self.setResponseCode(NOT_ALLOWED)
            self.setHeader(b"Allow", b"OPTIONS")
        self.setHeader(b"Content-Length", b"0")
        self.finish()

    # -- where the request came from --------------------------------------------

    def _forwardedClient(self) -> tuple[Any, bool | None]:
        forwarded = self._forwarded
        if forwarded is None:
            proxies = self.site.trustedProxies if self.site is not None else None
            if proxies is not None and (proxies.networks or proxies.unix):
                forwarded = proxies.client(self.client, self.requestHeaders)
            else:
                forwarded = (self.client, None)
            self._forwarded = forwarded
        return forwarded

    def getClientAddress(self) -> Any:
        """
        Return the client's address: the peer's, or, when the peer is one
        of the Site's trusted proxies, the one its forwarding headers give.
        """
        forwarded = self._forwarded
        if forwarded is None:
            forwarded = self._forwardedClient()
        return forwarded[0]

    def isSecure(self) -> bool:
        """
        Return whether the request came over TLS (to us, or, through a
        trusted proxy, to the proxy).
        """
        if _HTTPRequest.isSecure(self):
            return True
        forwarded = self._forwarded
        if forwarded is None:
            forwarded = self._forwardedClient()
        return forwarded[1] is True

    # -- sessions --------------------------------------------------------------

    @property
    def session(self) -> Any:
        """The session getSession found or made for this request, or None."""
        return self._secureSession if self.isSecure() else self._insecureSession

    def getSession(self, sessionInterface: Any = None, forceNotSecure: bool = False) -> Any:
        """
        Return the client's session, made (with its cookie) if it has none
        or it expired.  A secure request gets a session of its own, whose
        cookie is sent only over TLS.

        :param sessionInterface: if given, return the session's component
            for it.
        :param forceNotSecure: on a secure request, the insecure session.
        """
        secure = self.isSecure() and not forceNotSecure
        cookieString = b"TWISTED_SECURE_SESSION" if secure else b"TWISTED_SESSION"
        session = self._secureSession if secure else self._insecureSession
        if session is not None and session.uid not in self.site.sessions:
            session = None
        if session is None:
            cookieName = b"_".join([cookieString] + (self.sitepath or []))
            uid = self.getCookie(cookieName)
            if uid:
                try:
                    session = self.site.getSession(uid)
                except KeyError:
                    session = None
            if session is None:
                session = self.site.makeSession()
                self.addCookie(
                    cookieName,
                    session.uid,
                    path=b"/",
                    secure=secure,
                    httpOnly=True,
                    sameSite=b"lax",
                )
        session.touch()
        if secure:
            self._secureSession = session
        else:
            self._insecureSession = session
        if sessionInterface:
            return session.getComponent(sessionInterface)
        return session

    # -- URLs ------------------------------------------------------------------

    def _prePathURL(self, prepath: list[bytes]) -> bytes:
        port = self.getHost().port
        secure = self.isSecure()
        hostport = b"" if port == (443 if secure else 80) else b":%d" % (port,)
        prefix = b"http%s://%s%s/" % (b"s" if secure else b"", self.getRequestHostname(), hostport)
        return prefix + b"/".join(quote(segment, safe=b"") for segment in prepath)

    def prePathURL(self) -> bytes:
        """Return the absolute URL of the resource found so far."""
        assert self.prepath is not None
        return self._prePathURL(self.prepath)

    def rememberRootURL(self) -> None:
        """Remember the URL of the resource before the current one as the root."""
        assert self.prepath is not None
        self.appRootURL = self._prePathURL(self.prepath[:-1])

    def getRootURL(self) -> bytes | None:
        """Return what rememberRootURL remembered."""
        return self.appRootURL

    def sibLink(self, name: bytes) -> bytes:
        """Return a relative URL to the sibling name of the resource."""
        if self.postpath:
            return len(self.postpath) * b"../" + name
        return name

    def childLink(self, name: bytes) -> bytes:
        """Return a relative URL to the child name of the resource."""
        postpath = self.postpath or []
        if len(postpath) > 1:
            return (len(postpath) - 1) * b"../" + name
        if len(postpath) == 1:
            return name
        if self.prepath and self.prepath[-1]:
            return self.prepath[-1] + b"/" + name
        return name


@implementer(IProtocolNegotiationFactory)
class Site(HTTPFactory):
    """
    A web site: the factory of a server answering from a resource tree.

    :ivar resource: the root resource.
    :ivar sessions: the live sessions, {uid: Session}.
    :ivar trustedProxies: the proxies whose forwarding headers are believed.
    :cvar displayTracebacks: show tracebacks in 500 responses.
    :cvar getContentFile: None, or a callable (length or None) returning the
        file a request body is written to (as in Twisted, where a Site may
        have one).
    """

    counter = 0
    requestFactory: Any = Request
    displayTracebacks = False
    sessionFactory: Any = Session
    sessionCheckTime = 1800
    isLeaf = False
    getContentFile: Any = None
    _entropy = staticmethod(os.urandom)

    def __init__(
        self,
        resource: Any,
        requestFactory: Any = None,
        *args: Any,
        parsePOSTFormSubmission: bool = True,
        displayTracebacks: bool = False,
        trustedProxies: Any = (),
        **kwargs: Any,
    ) -> None:
        """
        :param resource: the root of the tree.
        :param requestFactory: the Request class (server.Request by default).
        :param parsePOSTFormSubmission: read POSTed forms into ``args``.
        :param displayTracebacks: show tracebacks in 500 responses (for
            development only: they tell anyone how the code works).
        :param trustedProxies: addresses or networks (``"10.0.0.0/8"``,
            ``"unix"``) of the reverse proxies to believe.
        :param args: HTTPFactory's positional arguments (logPath, timeout, ...),
        :param kwargs: and its keywords (maxRequestBodySize, headerTimeout, ...).
        """
        super().__init__(*args, **kwargs)
        self.sessions: dict[bytes, Any] = {}
        self.resource = resource
        if requestFactory is not None:
            self.requestFactory = requestFactory
        self.parsePOSTFormSubmission = parsePOSTFormSubmission
        if displayTracebacks:
            self.displayTracebacks = True
        self.trustedProxies = TrustedProxies(trustedProxies)

    def _mkuid(self) -> bytes:
        return hexlify(self._entropy(32))

    def makeSession(self) -> Any:
        """Make a new session, keep it in ``sessions`` and start its expiry."""
        uid = self._mkuid()
        session = self.sessions[uid] = self.sessionFactory(self, uid)
        session.startCheckingExpiration()
        return session

    def getSession(self, uid: bytes) -> Any:
        """
        Return the live session uid.

        :raises KeyError: if there is none.
        """
        return self.sessions[uid]

    def buildProtocol(self, addr: Any) -> Any:
        """Return a channel answering from this site."""
        channel = super().buildProtocol(addr)
        channel.requestFactory = self.requestFactory
        channel.site = self
        return channel

    def render(self, request: Any) -> Any:
        """A Site rendered as a resource redirects to its root with a slash."""
        request.redirect(request.prePathURL() + b"/")
        request.finish()
        return NOT_DONE_YET

    def getChildWithDefault(self, pathEl: bytes, request: Any) -> Any:
        """A Site used as a resource: its root's child."""
        request.site = self
        return self.resource.getChildWithDefault(pathEl, request)

    def getResourceFor(self, request: Any) -> Any:
        """Walk the tree for request's path; return the resource found."""
        request.site = self
        request.sitepath = request.prepath[:]
        return getChildForRequest(self.resource, request)

    def acceptableProtocols(self) -> list[bytes]:
        """The protocols this server speaks, for ALPN: HTTP/1.1."""
        return [b"http/1.1"]
