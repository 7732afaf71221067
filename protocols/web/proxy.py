"""
The reverse proxy: ReverseProxyResource, a resource that forwards each
request to a backend through the HTTP client's Agent and its pool of
kept-alive connections.

Each request is an _Exchange, which is also its backend request: that
is prepared here, its request line and header lines written as the
headers to forward are picked (Host first, then the client's, then
X-Forwarded-*), with no Headers made for it (a _PreparedRequest).  It is
sent at once on an idle connection of the Agent's pool, else with the
Agent's ``sendRequest`` (which has one made); it is sent once more, on a
new connection, when the reused one turns out closed; and the connection
tells the exchange of the response's head itself (the exchange
``wantsHead``: HTTP11ClientProtocol.send): no URI parsed, no Deferred,
Response, Headers or handle made per request.  The client's going away
reaches the exchange, which watches in the request's ``notifications``
(where a notifyFinish Deferred would be), and cancels the backend
request.  Every object kept per waiting request counts: a hundred wait
at once, and what they hold is what the garbage collector walks.

The one idea is two bridges, each a producer for the other side's
consumer, so that neither body is ever held whole.  The client's request
body is streamed (``streamRequestBody``) into _RequestBodyProducer, the
IBodyProducer of the backend request: when the backend connection is
full it pauses us, and we pause the client's socket.  The backend's
response body goes to the _Exchange, which registers the backend's
connection (or, told of a Response, its body transport) as the producer
of the client's response: when the client is slow the server pauses it,
and the backend socket is not read.

A backend that cannot be reached or breaks the exchange is answered 502;
one that does not answer within ``timeout`` seconds, 504.  The client's
disconnect cancels the backend request (its connection is aborted).
"""

from __future__ import annotations

import importlib
from collections.abc import Iterable, Sequence
from typing import Any

from zope.interface import implementer

from protocols.web import error, resource, server
from protocols.web._clientparser import ResponseHead
from protocols.web._headers import (
    InvalidHeaderName,
    _canonicalCache,
    _canonicalName,
    _table,
)
from protocols.web._newclient import (
    _RESPONSE_DONE,
    HTTP11ClientProtocol,
    _giveUp,
    _owes,
    _PreparedRequest,
    _WrapperException,
)
from protocols.web._request import _headerPairs
from protocols.web.client import (
    URI,
    Agent,
    BrowserLikePolicyForHTTPS,
    HTTPConnectionPool,
    PotentialDataLoss,
    RequestGenerationFailed,
    ResponseDone,
)
from protocols.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from reactor import error as reactorerror
from reactor.defer import CancelledError, Deferred
from reactor.failure import Failure
from reactor.interfaces import IConsumer, IProtocol

__all__ = ["ReverseProxyResource", "HOP_BY_HOP"]

#: Headers about one connection, never forwarded (RFC 9110 7.6.1).  With
#: them the proxy drops those Connection names, and Content-Length, which
#: the side writing the body sets again.
HOP_BY_HOP = frozenset(
    [
        b"connection",
        b"keep-alive",
        b"proxy-authenticate",
        b"proxy-authorization",
        b"proxy-connection",
        b"te",
        b"trailer",
        b"transfer-encoding",
        b"upgrade",
    ]
)


# The names of a Headers are canonical (protocols.web._headers): what is
# not forwarded is looked up by canonical name, with no lower() per header.
_NOT_FORWARDED = frozenset(_canonicalName(name) for name in HOP_BY_HOP | {b"content-length"})
# What is never forwarded but Content-Length (which the exchange copies
# with the rest, then sets again when it is not the one to forward).
_HOP_BY_HOP = frozenset(_canonicalName(name) for name in HOP_BY_HOP)
# Request headers the proxy sets itself (Expect: the client's 100 Continue
# comes from us, when the body is asked for; the backend is sent the body
# at once).
_NOT_FORWARDED_REQUEST = _NOT_FORWARDED | {
    b"Host",
    b"Expect",
    b"X-Forwarded-For",
    b"X-Forwarded-Proto",
    b"X-Forwarded-Host",
}
_PROTO_HTTP = b"X-Forwarded-Proto: http\r\n"


def _notForwarded(connection: list[bytes] | None, dropped: frozenset[bytes]) -> frozenset[bytes]:
    """dropped and the canonical names that the Connection values list."""
    if not connection:
        return dropped
    named = set(dropped)
    for value in connection:
        for token in value.split(b","):
            try:
                named.add(_canonicalName(token.strip()))
            except InvalidHeaderName:
                pass
    return frozenset(named)


def _pickHeaders(
    pairs: Iterable[tuple[bytes, bytes]], dropped: frozenset[bytes]
) -> tuple[list[bytes], bytes | None, list[bytes], list[bytes], bytes | None, bool]:
    """
    The header lines to forward of a request's headers, pairs (name,
    value) in order: each as ``name: value`` CRLF, in pieces, but those
    whose canonical name is in dropped.  With them, what the proxy reads
    of the headers: the first Host, the X-Forwarded-For values, the
    Connection values, the first Content-Length, whether there is a
    Transfer-Encoding.  One pass, no table made: the names of the pairs
    are tokens (the parsers refused others), their values clean.
    """
    lines: list[bytes] = []
    host = length = None
    forwardedFor: list[bytes] = []
    connection: list[bytes] = []
    chunked = False
    for name, value in pairs:
        canonical = _canonicalCache.get(name)
        if canonical is None:
            canonical = _canonicalName(name)
        if canonical not in dropped:
            lines += (canonical, b": ", value, b"\r\n")
        elif canonical == b"Host":
            if host is None:
                host = value
        elif canonical == b"X-Forwarded-For":
            forwardedFor.append(value)
        elif canonical == b"Connection":
            connection.append(value)
        elif canonical == b"Content-Length":
            if length is None:
                length = value
        elif canonical == b"Transfer-Encoding":
            chunked = True
    return lines, host, forwardedFor, connection, length, chunked


@implementer(IBodyProducer, IConsumer)
class _RequestBodyProducer:
    """
    The client's request body as the backend request's body producer: the
    consumer of request.streamBody, passing pauses from the backend on to
    the client's socket.
    """

    def __init__(self, request: Any, length: int | str) -> None:
        self._request = request
        self.length = length
        self._consumer: Any = None
        self._stream: Any = None

    # -- IBodyProducer, for the backend connection -----------------------------

    def startProducing(self, consumer: Any) -> Deferred[None]:
        self._consumer = consumer
        return self._request.streamBody(self)

    def pauseProducing(self) -> None:
        if self._stream is not None:
            self._stream.pauseProducing()

    def resumeProducing(self) -> None:
        if self._stream is not None:
            self._stream.resumeProducing()

    def stopProducing(self) -> None:
        if self._stream is not None:
            self._stream.stopProducing()

    # -- IConsumer, for the client's body ----------------------------------------

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self._stream = producer

    def unregisterProducer(self) -> None:
        self._stream = None

    def write(self, data: bytes) -> None:
        self._consumer.write(data)


#: A response body no longer than this (its length known from its head) is
#: written to the client without the backend registered as its producer:
#: the client's connection holds at most this much of it, and the proxy
#: saves two registrations per small response.
_SMALL_BODY = 1 << 16


class _HeadOf:
    """A Response's head, as _Exchange.headReceived takes a ResponseHead."""

    def __init__(self, response: Any) -> None:
        self.code = response.code
        self.phrase = response.phrase
        self.headers = _table(response.headers)
        length = response.length
        self.length = None if length is UNKNOWN_LENGTH else length


@implementer(IProtocol)
class _Exchange(_PreparedRequest):
    """
    One request on its way through the proxy, which is also its backend
    request (a _PreparedRequest: its request line and header lines
    written by the proxy) and the watch on the client (see below): one
    object for the three.

    It is the answer of the backend request, sent at once on an idle
    connection of the pool (HTTP11ClientProtocol.send), else through
    Agent.sendRequest: it is told of the response's head
    (``headReceived``, from the connection), or of a Response as a
    Deferred would be told (``callback``, from a connection that makes
    one), or of a failure (``errback``); then it is the protocol the
    response body is delivered to.  The body is written to the client, the
    backend's connection (or body transport) registered as its producer
    (unless the body is small: see _SMALL_BODY).  A request that went on
    an idle connection which turns out closed before answering is sent
    once more, on a new connection, as the Agent's handle does
    (client._retryable).

    It watches the client in the Request's ``notifications``, as a
    notifyFinish Deferred would: ``callback(None)`` there (the response
    was finished) is nothing to it, ``errback(reason)`` (the client went
    away first) is ``clientGone``.  An errback is the backend request's
    failure only once the sending (``sending``: the connection, or the
    Agent's handle) has told it, and this is not yet answered: a
    connection lets go of its answer before telling it, a handle marks
    itself ``called`` (_told).
    """

    #: Told of the response's head, not of a Response (see headReceived).
    wantsHead = True

    def __init__(
        self,
        request: Any,
        method: bytes,
        uri: bytes,
        lines: bytes,
        bodyProducer: Any,
        persistent: bool,
        proxy: ReverseProxyResource | None = None,
    ) -> None:
        self.request = request  # the client's
        self.proxy = proxy  # the resource forwarding it (its Agent sends again)
        self.method = method
        self.uri = uri
        self._lines = lines
        self.bodyProducer = bodyProducer
        self.persistent = persistent
        self._parsedURI = None
        # (Each set here, none left to a class default: on 3.11 reading an
        # attribute an instance lacks misses the specialised lookup.)
        self.called = False  # whether the backend request's answer came (or failed)
        self.gone = False  # whether the client went away
        self.streaming = False  # whether the body transport is the client's producer
        # The backend request's sending: the idle connection it was sent on
        # at once (an HTTP11ClientProtocol), or the Agent's handle.
        self.sending: Any = None
        self.transport: Any = None

    def _told(self) -> bool:
        # Whether the sending told this of the backend's answer (or
        # failure): a connection has let go of it, a handle marked itself.
        sending = self.sending
        if isinstance(sending, HTTP11ClientProtocol):
            return not _owes(sending, self)
        return sending.called  # type: ignore[no-any-return]

    def clientGone(self, reason: Failure) -> None:
        """The client went away: the backend request is given up."""
        self.gone = True
        sending = self.sending
        if not self.called and sending is not None:
            if isinstance(sending, HTTP11ClientProtocol):
                _giveUp(sending, self)  # aborted; this told nothing more
            else:
                sending.cancel()

    # -- the backend's answer ----------------------------------------------------

    def callback(self, response: Any) -> None:
        """
        The backend's Response: the client's response begins.  (None: the
        client's response was finished, in ``notifications``.)
        """
        if response is None:
            return
        # Its head as headReceived takes it; its body transport is then
        # registered, as the producer, by makeConnection.
        self.headReceived(_HeadOf(response), None)
        response.deliverBody(self)

    def headReceived(self, head: ResponseHead | _HeadOf, connection: Any) -> _Exchange | None:
        """
        The backend's response head (a ResponseHead), straight from its
        connection (no Response made: HTTP11ClientProtocol.send): the
        client's response begins, and this takes the body, with the
        connection as its producer.
        """
        self.called = True
        self.sending = None
        if self.gone:
            return None  # the connection is aborted
        self.transport = connection
        # The client's response head, from the backend's: the code, the
        # headers to forward, the length when it is known.
        request = self.request
        code = head.code
        received = head.headers
        length = head.length  # (None: not known)
        request.setResponseCode(code, head.phrase)
        table = _table(request.responseHeaders)
        # (The lists are shared: received is not used after.)
        declared = received.get(b"Content-Length")
        if received.keys().isdisjoint(_HOP_BY_HOP):
            # None to drop (as usual): all copied at once, Content-Length
            # too, set again below when it is not the one to forward.
            table.update(received)
        else:
            dropped = _notForwarded(received.get(b"Connection"), _NOT_FORWARDED)
            for name, values in received.items():
                if name not in dropped:
                    table[name] = values
            if declared is not None:
                table[b"Content-Length"] = declared
        if request.method == b"HEAD" or code == 304:
            if declared:
                table[b"Content-Length"] = declared[-1:]
            elif declared is not None:
                del table[b"Content-Length"]
        elif length is not None:
            # The backend's own value when it is the one, in digits (the
            # parser read the length from it): not written again.
            if declared is None or len(declared) != 1 or code == 204 or not declared[0].isdigit():
                table[b"Content-Length"] = [b"%d" % (length,)]
        elif declared is not None:
            del table[b"Content-Length"]  # chunked: Transfer-Encoding wins
        if length is None or length > _SMALL_BODY:
            self.streaming = True
            if connection is not None:
                request.registerProducer(connection, True)
        return self

    def errback(self, reason: Failure) -> None:
        """
        The backend request failed: the client is told why.  Or, from
        ``notifications``, the client went away (see the class docstring).
        """
        sending = self.sending
        if self.called or (sending is not None and not self._told()):
            self.clientGone(reason)
            return
        self.sending = None
        proxy = self.proxy
        if not self.gone and isinstance(sending, HTTP11ClientProtocol) and proxy is not None:
            # Sent at once on an idle connection, which may have turned out
            # closed: sent once more, on a new connection, if it is to be.
            again = proxy.agent.sendAgain(proxy._origin()[1], self, self, reason)
            if again is not None:
                if not self.called:  # (unless the new sending failed at once)
                    self.sending = again
                return
        self.called = True
        if not self.gone:
            ReverseProxyResource._fail(reason, self.request)

    # -- the response body ---------------------------------------------------------

    def makeConnection(self, transport: Any) -> None:
        self.transport = transport
        if self.gone:
            transport.stopProducing()
        elif self.streaming:
            self.request.registerProducer(transport, True)

    def dataReceived(self, data: bytes) -> None:
        if not self.gone:
            self.request.write(data)

    def connectionMade(self) -> None:
        pass

    def connectionLost(self, reason: Failure) -> None:
        if self.gone:
            return
        request = self.request
        if self.streaming:
            request.unregisterProducer()
        if reason is _RESPONSE_DONE or issubclass(reason.type, (ResponseDone, PotentialDataLoss)):
            request.finish()
        else:
            # The backend broke off mid-body: the client must see it too.
            request.loseConnection()


class ReverseProxyResource(resource.Resource):
    """
    Forward every request under this resource to http://host:port/path.

    :param host: the backend's host name or address.
    :param port: the backend's port.
    :param path: the path the rest of the request's path is appended to
        (bytes, or an ASCII str: ``'/'`` as Twisted's examples write it).
    :param reactor: the reactor to connect with (the global one by default).
    :param preserveHost: send the client's Host header unchanged, as
        Apache's ProxyPreserveHost; by default the backend's host:port.
    :param scheme: ``b"https"`` to speak TLS to the backend.
    :param contextFactory: an IPolicyForHTTPS for an https backend
        (BrowserLikePolicyForHTTPS(): the platform's trust store).
    :param pool: the HTTPConnectionPool (a persistent one of its own by
        default), whose idle connections are reused.
    :param timeout: seconds to connect and then to wait for the response
        head: past them the client gets 504.

    Beyond Twisted: the forwarding headers, hop-by-hop headers removed,
    streaming both ways, 502/504, https backends; a path ending in ``/``
    is not doubled (Twisted forwards ``/a`` under ``'/'`` as ``//a``).
    """

    isLeaf = True
    streamRequestBody = True
    #: The backend decides how large a body it takes.
    maxRequestBodySize: int | None = 1 << 62

    def __init__(
        self,
        host: str,
        port: int,
        path: bytes | str,
        reactor: Any = None,
        *,
        preserveHost: bool = False,
        scheme: bytes = b"http",
        contextFactory: Any = None,
        pool: HTTPConnectionPool | None = None,
        timeout: float = 60,
    ) -> None:
        resource.Resource.__init__(self)
        if reactor is None:
            reactor = importlib.import_module("reactor").reactor
        self.host = host
        self.port = port
        self.path = path.encode("ascii") if isinstance(path, str) else path
        self.reactor = reactor
        self.preserveHost = preserveHost
        self.scheme = scheme
        if pool is None:
            pool = HTTPConnectionPool(reactor, persistent=True)
        self.pool = pool
        if contextFactory is None:
            contextFactory = BrowserLikePolicyForHTTPS()
        self.agent = Agent(
            reactor, contextFactory, connectTimeout=timeout, pool=pool, responseTimeout=timeout
        )

    def _backendPath(self, request: Any) -> bytes:
        uri = request.uri
        if not request.prepath and uri[:1] == b"/" and uri.find(b"?") < 0:
            # The root resource, no query: the whole path follows.  (find,
            # not ``in``: on 3.11 bytes' ``in`` first fails to read its
            # operand as an int, a formatted TypeError thrown away.)
            path = self.path.rstrip(b"/") + uri
            return path if path[:1] == b"/" else b"/" + path
        raw, _, query = uri.partition(b"?")
        base = self.path.rstrip(b"/")  # a path ending in "/" is not doubled
        if not request.prepath and raw[:1] == b"/":
            path = base + raw  # the root resource: the whole path follows
        else:
            rest = raw[1:].split(b"/")[len(request.prepath) :]
            path = base + b"/" + b"/".join(rest) if rest else self.path
        if not path.startswith(b"/"):
            path = b"/" + path
        return path + (b"?" + query if query else b"")

    def _origin(self) -> tuple[bytes, URI]:
        # host[:port] of the backend and the URI of its root, made again
        # only when host, port or scheme change.
        where = (self.host, self.port, self.scheme)
        known = self._origins
        if known is not None and known[0] == where:
            return known[1]
        host = self.host.encode("idna") if isinstance(self.host, str) else self.host
        if b":" in host:
            host = b"[" + host + b"]"
        default = 443 if self.scheme == b"https" else 80
        netloc = host if self.port == default else b"%s:%d" % (host, self.port)
        origin = (netloc, URI.fromBytes(self.scheme + b"://" + netloc + b"/"))
        self._origins = (where, origin)
        return origin

    _origins: tuple[tuple[Any, int, bytes], tuple[bytes, URI]] | None = None

    def _requestLines(
        self, request: Any, pairs: Sequence[tuple[bytes, bytes]], netloc: bytes, path: bytes
    ) -> tuple[bytes, int | str | None]:
        # The backend request's line and header lines, written as the
        # headers to forward are picked (a _PreparedRequest's lines): Host
        # first, the client's headers but those dropped, then the
        # forwarding ones; and the length of its body (UNKNOWN_LENGTH:
        # chunked, None: none).
        picked, clientHost, forwarded, connection, length, chunked = _pickHeaders(
            pairs, _NOT_FORWARDED_REQUEST
        )
        if connection:
            # It names more headers not to forward: picked again without.
            dropped = _notForwarded(connection, _NOT_FORWARDED_REQUEST)
            picked = _pickHeaders(pairs, dropped)[0]
        if self.preserveHost:
            host = clientHost or b""
        else:
            host = netloc
        lines = [request.method, b" ", path, b" HTTP/1.1\r\nHost: ", host, b"\r\n"]
        lines += picked
        address = getattr(request.getClientAddress(), "host", None)
        if isinstance(address, str):
            lines.append(b"X-Forwarded-For: ")
            if forwarded:
                lines += (b", ".join(forwarded), b", ")
            lines += (address.encode("ascii"), b"\r\n")
        lines.append(b"X-Forwarded-Proto: https\r\n" if request.isSecure() else _PROTO_HTTP)
        if clientHost:
            lines += (b"X-Forwarded-Host: ", clientHost, b"\r\n")
        size: int | str | None = None
        if chunked:
            size = UNKNOWN_LENGTH
        elif length is not None and int(length) > 0:
            size = int(length)
        return b"".join(lines), size

    def render(self, request: Any) -> Any:
        """Forward request to the backend; answer with what it answers."""
        known = self._origins
        if known is not None and known[0] == (self.host, self.port, self.scheme):
            netloc, origin = known[1]
        else:
            netloc, origin = self._origin()
        # The backend's Content-Type is forwarded, or none: a Site's default
        # (text/html) would make an untyped response HTML to the client.
        request.defaultContentType = None
        path = self._backendPath(request)
        lines, length = self._requestLines(request, _headerPairs(request), netloc, path)
        producer = None if length is None else _RequestBodyProducer(request, length)
        exchange = _Exchange(
            request, request.method, path, lines, producer, self.pool.persistent, self
        )
        # Told of the client's going away: as a notifyFinish Deferred would
        # be, by the exchange watching in the Request's ``notifications``
        # while it has a channel (it is neither finished nor disconnected).
        notifications = getattr(request, "notifications", None)
        if type(notifications) is list and request.channel is not None:
            notifications.append(exchange)
        else:
            request.notifyFinish().addErrback(exchange.clientGone)
        # At once on an idle connection, which then tells the exchange
        # itself (no handle between them: see errback), else through a
        # handle.  (A connection that fails at once, writing, tells the
        # exchange before this is set: a failure not sent again anyway.)
        exchange.sending = self.agent.sendRequest(origin, exchange, exchange, direct=True)
        return server.NOT_DONE_YET

    @staticmethod
    def _fail(reason: Failure, request: Any) -> None:
        if request.finished:
            return
        code, message = 502, b"Bad Gateway"
        reasons = reason.value.reasons if isinstance(reason.value, _WrapperException) else [reason]
        for each in reasons:
            value = each.value
            if isinstance(value, reactorerror.TimeoutError):
                code, message = 504, b"Gateway Timeout"
            elif isinstance(value, error.Error) and reason.check(RequestGenerationFailed):
                # The client's body broke (a bad chunk): the client's fault.
                code, message = int(value.status), value.message or b"Bad Request"
            elif isinstance(value, CancelledError):
                return
        request.setResponseCode(code, message)
        request.setHeader(b"content-type", b"text/plain; charset=utf-8")
        request.responseHeaders.removeHeader(b"content-length")
        request.write(b"%d %s\n" % (code, message))
        request.finish()
