"""
The HTTP client, with twisted.web.client's names: Agent and its pool of
kept-alive connections, the agents that wrap an Agent (RedirectAgent,
BrowserLikeRedirectAgent, ContentDecoderAgent), readBody, FileBodyProducer
and the old convenience getPage.

An Agent turns ``request(method, uri, headers, bodyProducer)`` into a
connection from its HTTPConnectionPool (one reused if one to the same
scheme, host and port is idle, else a new one through an endpoint) and an
HTTP11ClientProtocol request on it (protocols.web._newclient).  ``https``
URIs are verified by default: BrowserLikePolicyForHTTPS asks
reactor.ssl.optionsForClientTLS, which checks the chain against the
platform's trust store (or the trustRoot given) and the host name.
"""

from __future__ import annotations

import functools
import importlib
import io
import re
import zlib
from typing import Any, Callable
from urllib import parse

from zope.interface import implementer

from protocols.protocol import Factory, Protocol
from protocols.web import error
from protocols.web._headers import Headers, _table
from protocols.web._newclient import (
    HTTP11ClientProtocol,
    PotentialDataLoss,
    Request,
    RequestGenerationFailed,
    RequestNotSent,
    RequestTransmissionFailed,
    Response,
    ResponseDone,
    ResponseFailed,
    ResponseNeverReceived,
    _DataLoss,
)
from protocols.web.iweb import (
    UNKNOWN_LENGTH,
    IAgent,
    IAgentEndpointFactory,
    IBodyProducer,
    IPolicyForHTTPS,
    IResponse,
)
from reactor.defer import CancelledError, Deferred, fail, succeed
from reactor.endpoints import HostnameEndpoint, wrapClientTLS
from reactor.failure import Failure
from reactor.ssl import optionsForClientTLS
from reactor.task import TaskStopped

__all__ = [
    "Agent",
    "HTTP11ClientProtocol",
    "Headers",
    "Request",
    "UNKNOWN_LENGTH",
    "BrowserLikePolicyForHTTPS",
    "BrowserLikeRedirectAgent",
    "ContentDecoderAgent",
    "FileBodyProducer",
    "GzipDecoder",
    "HTTPConnectionPool",
    "PartialDownloadError",
    "PotentialDataLoss",
    "RedirectAgent",
    "RequestGenerationFailed",
    "RequestNotSent",
    "RequestTransmissionFailed",
    "Response",
    "ResponseDone",
    "ResponseFailed",
    "ResponseNeverReceived",
    "URI",
    "getPage",
    "readBody",
]


class PartialDownloadError(error.Error):
    """The body was cut short; ``response`` holds the bytes that came."""


class URI:
    """
    A parsed absolute http(s) URI: scheme, netloc, host, port, path,
    params, query and fragment, all bytes (port an int).
    """

    def __init__(
        self,
        scheme: bytes,
        netloc: bytes,
        host: bytes,
        port: int,
        path: bytes,
        params: bytes,
        query: bytes,
        fragment: bytes,
    ) -> None:
        self.scheme = scheme
        self.netloc = netloc
        self.host = host
        self.port = port
        self.path = path
        self.params = params
        self.query = query
        self.fragment = fragment

    @classmethod
    def fromBytes(cls, uri: bytes, defaultPort: int | None = None) -> URI:
        """
        Parse uri; the port defaults to defaultPort, else 80 for http and
        443 for https.

        The parts are urllib.parse.urlparse's (test_uriPartsAreUrlparses):
        an http(s) URI is split here at the cost of a regular expression,
        and its authority's host and port read once per authority
        (_authority); any other goes through urlparse itself.
        """
        uri = uri.strip()
        match = _HTTP_URI.match(uri)
        if match is None:
            return cls._fromUrlparse(uri, defaultPort)
        scheme, netloc, path, query, fragment = match.groups()
        scheme = scheme.lower()
        host, port = _authority(netloc)
        if port is None:
            port = defaultPort if defaultPort is not None else (443 if scheme == b"https" else 80)
        params = b""
        if b";" in path:
            # urlparse's: the params of the last segment only.
            semicolon = path.find(b";", max(path.rfind(b"/"), 0))
            if semicolon >= 0:
                path, params = path[:semicolon], path[semicolon + 1 :]
        return cls(scheme, netloc, host, port, path, params, query or b"", fragment or b"")

    @classmethod
    def _fromUrlparse(cls, uri: bytes, defaultPort: int | None) -> URI:
        parsed = parse.urlparse(uri)
        scheme, netloc = parsed.scheme, parsed.netloc
        host, port = parsed.hostname or b"", None
        try:
            port = parsed.port
        except ValueError:
            port = None
        if port is None:
            port = defaultPort if defaultPort is not None else (443 if scheme == b"https" else 80)
        if not host and netloc:
            host = netloc.rsplit(b":", 1)[0]
        return cls(
            scheme, netloc, host, port, parsed.path, parsed.params, parsed.query, parsed.fragment
        )

    def toBytes(self) -> bytes:
        """The URI, assembled again."""
        return parse.urlunparse(
            (self.scheme, self.netloc, self.path, self.params, self.query, self.fragment)
        )

    @property
    def originForm(self) -> bytes:
        """The request target: the path (b"/" if empty), params and query."""
        target = self.path or b"/"
        if self.params:
            target += b";" + self.params
        if self.query:
            target += b"?" + self.query
        return target


# An http or https URI as urlparse splits it: scheme, authority, path, query,
# fragment.  A URI with what urlparse strips or refuses (spaces, controls,
# bytes beyond ASCII) or a backslash in its authority goes to urlparse itself.
_HTTP_URI = re.compile(
    rb"\A(https?|HTTPS?)://([^/?#\\\x00-\x20\x7f-\xff]*)(?=[/?#]|\Z)([^?#\x00-\x20\x7f-\xff]*)"
    rb"(?:\?([^#\x00-\x20\x7f-\xff]*))?(?:#([^\x00-\x20\x7f-\xff]*))?\Z"
)
_authorities: dict[bytes, tuple[bytes, int | None]] = {}


def _authority(netloc: bytes) -> tuple[bytes, int | None]:
    # (host, port) of an authority as URI._fromUrlparse reads them, kept
    # for the next request to it (a bounded cache: authorities are few).
    known = _authorities.get(netloc)
    if known is None:
        parsed = URI._fromUrlparse(b"http://" + netloc, -1)
        known = (parsed.host, None if parsed.port == -1 else parsed.port)
        if len(_authorities) < 1000:
            _authorities[netloc] = known
    return known


@implementer(IPolicyForHTTPS)
class BrowserLikePolicyForHTTPS:
    """
    Verify servers as a browser does: the chain must lead to trustRoot
    (the platform's trust store by default) and name the host.
    """

    def __init__(self, trustRoot: Any = None) -> None:
        self._trustRoot = trustRoot

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
        """Return the client TLS options for hostname."""
        return optionsForClientTLS(hostname.decode("idna"), trustRoot=self._trustRoot)


class _ProtocolFactory(Factory):
    def __init__(self, build: Callable[[], HTTP11ClientProtocol]) -> None:
        self._build = build
        self.noisy = False

    def buildProtocol(self, addr: Any) -> HTTP11ClientProtocol:
        return self._build()


class HTTPConnectionPool:
    """
    Connections, kept open between requests when ``persistent``.

    :param maxPersistentPerHost: idle connections kept for one key.
    :param cachedConnectionTimeout: seconds an idle connection is kept.
    :param retryAutomatically: retry once, on a new connection, an
        idempotent request without a body whose reused connection closed
        before it was answered (the server's keep-alive ran out).

    Keeping a connection costs no timer operation: the time it went idle
    is noted, and one timed call for the whole pool closes those idle for
    ``cachedConnectionTimeout`` (test_idleConnectionsShareOneTimer).
    """

    maxPersistentPerHost = 2
    cachedConnectionTimeout = 240
    retryAutomatically = True

    def __init__(self, reactor: Any, persistent: bool = True, *, parser: str | None = None) -> None:
        self._reactor = reactor
        self.persistent = persistent
        self._parser = parser
        self._connections: dict[Any, list[HTTP11ClientProtocol]] = {}
        self._idleSince: dict[HTTP11ClientProtocol, float] = {}
        self._expiry: Any = None

    def getConnection(self, key: Any, endpoint: Any) -> Deferred[HTTP11ClientProtocol]:
        """Return a Deferred firing with an idle connection for key, or a new one."""
        connection = self._idleConnection(key)
        if connection is not None:
            return succeed(connection)
        return self._newConnection(key, endpoint)

    def _idleConnection(self, key: Any) -> HTTP11ClientProtocol | None:
        # The idle connection for key that was put back first, taken; or None.
        idle = self._connections.get(key)
        while idle:
            connection = idle.pop(0)
            del self._idleSince[connection]
            if connection.state == "QUIESCENT":
                connection._reused = True  # type: ignore[attr-defined]
                return connection
        return None

    def _newConnection(self, key: Any, endpoint: Any) -> Deferred[HTTP11ClientProtocol]:
        quiescent = functools.partial(self._putConnection, key)

        def build() -> HTTP11ClientProtocol:
            protocol = HTTP11ClientProtocol(quiescent, reactor=self._reactor, parser=self._parser)
            protocol._reused = False  # type: ignore[attr-defined]
            protocol.closedDeferred.addCallback(lambda _: self._removeConnection(key, protocol))
            return protocol

        return endpoint.connect(_ProtocolFactory(build))

    def _putConnection(self, key: Any, connection: HTTP11ClientProtocol) -> None:
        idle = self._connections.get(key)
        if idle is None:
            idle = self._connections[key] = []
        if len(idle) >= self.maxPersistentPerHost:
            dropped = idle.pop(0)
            del self._idleSince[dropped]
            dropped.transport.loseConnection()
        idle.append(connection)
        self._idleSince[connection] = self._reactor.seconds()
        if self._expiry is None:
            self._expiry = self._reactor.callLater(self.cachedConnectionTimeout, self._expire)

    def _expire(self) -> None:
        # Close the connections idle for cachedConnectionTimeout; come back
        # when the next of the others will have been.
        self._expiry = None
        now = self._reactor.seconds()
        timeout = self.cachedConnectionTimeout
        earliest = None
        for key, idle in list(self._connections.items()):
            for connection in list(idle):
                since = self._idleSince[connection]
                if since + timeout <= now:
                    self._removeConnection(key, connection)
                    connection.transport.loseConnection()
                elif earliest is None or since < earliest:
                    earliest = since
        if earliest is not None:
            self._expiry = self._reactor.callLater(earliest + timeout - now, self._expire)

    def _removeConnection(self, key: Any, connection: HTTP11ClientProtocol) -> None:
        idle = self._connections.get(key)
        if idle and connection in idle:
            idle.remove(connection)
            del self._idleSince[connection]

    def closeCachedConnections(self) -> Deferred[Any]:
        """Close every idle connection; return a Deferred firing when all are closed."""
        from reactor.defer import DeferredList

        closing = []
        for idle in self._connections.values():
            for connection in idle:
                closing.append(connection.abort())
        self._connections = {}
        self._idleSince = {}
        expiry, self._expiry = self._expiry, None
        if expiry is not None and expiry.active():
            expiry.cancel()
        return DeferredList(closing)


@implementer(IAgentEndpointFactory)
class _StandardEndpointFactory:
    def __init__(self, reactor: Any, policy: Any, connectTimeout: float | None, bindAddress: Any):
        self._reactor = reactor
        self._policy = policy
        self._connectTimeout = connectTimeout
        self._bindAddress = bindAddress
        self._endpoints: dict[tuple[bytes, int], Any] = {}

    def endpointForURI(self, uri: URI) -> Any:
        if uri.scheme != b"http":
            return self._endpoint(uri)
        # An http endpoint depends on the host and port alone: one each.
        key = (uri.host, uri.port)
        endpoint = self._endpoints.get(key)
        if endpoint is None:
            endpoint = self._endpoint(uri)
            if len(self._endpoints) < 1000:
                self._endpoints[key] = endpoint
        return endpoint

    def _endpoint(self, uri: URI) -> Any:
        kwargs: dict[str, Any] = {"bindAddress": self._bindAddress}
        if self._connectTimeout is not None:
            kwargs["timeout"] = self._connectTimeout
        host = uri.host.decode("idna")
        endpoint = HostnameEndpoint(self._reactor, host, uri.port, **kwargs)
        if uri.scheme == b"http":
            return endpoint
        if uri.scheme == b"https":
            creator = self._policy.creatorForNetloc(uri.host, uri.port)
            return wrapClientTLS(creator, endpoint)
        raise error.SchemeNotSupported("unsupported scheme: %r" % (uri.scheme,))


@implementer(IAgent)
class Agent:
    """
    Make HTTP requests over a pool of connections (see the module docstring).

    :param reactor: connects, and schedules the timeouts.
    :param contextFactory: an IPolicyForHTTPS (BrowserLikePolicyForHTTPS()).
    :param connectTimeout: seconds allowed to connect.
    :param bindAddress: a local address to connect from.
    :param pool: an HTTPConnectionPool (a non-persistent one by default).
    :param responseTimeout: seconds to wait for each response head, after
        the request is sent (None: for ever).  Not in Twisted.
    """

    def __init__(
        self,
        reactor: Any,
        contextFactory: Any = None,
        connectTimeout: float | None = None,
        bindAddress: Any = None,
        pool: HTTPConnectionPool | None = None,
        *,
        responseTimeout: float | None = None,
    ) -> None:
        if contextFactory is None:
            contextFactory = BrowserLikePolicyForHTTPS()
        factory = _StandardEndpointFactory(reactor, contextFactory, connectTimeout, bindAddress)
        self._init(reactor, factory, pool, responseTimeout)

    def _init(self, reactor: Any, factory: Any, pool: Any, responseTimeout: Any) -> None:
        self._reactor = reactor
        self._endpointFactory = factory
        self._pool = pool if pool is not None else HTTPConnectionPool(reactor, persistent=False)
        self._responseTimeout = responseTimeout

    @classmethod
    def usingEndpointFactory(
        cls,
        reactor: Any,
        endpointFactory: Any,
        pool: HTTPConnectionPool | None = None,
        *,
        responseTimeout: float | None = None,
    ) -> Agent:
        """An Agent connecting through endpointFactory.endpointForURI(uri)."""
        agent = cls.__new__(cls)
        agent._init(reactor, endpointFactory, pool, responseTimeout)
        return agent

    def request(
        self,
        method: bytes,
        uri: bytes,
        headers: Headers | None = None,
        bodyProducer: Any = None,
    ) -> Deferred[Response]:
        """
        Request uri; return a Deferred firing with the Response once its
        head has come.  Fails with SchemeNotSupported for a scheme other
        than http and https, with the connecting error, or as
        HTTP11ClientProtocol.request says.  Cancelling it closes the
        connection.
        """
        parsed = URI.fromBytes(uri)
        try:
            endpoint = self._endpointFactory.endpointForURI(parsed)
        except Exception:
            return fail()
        headers = Headers() if headers is None else headers.copy()
        if b"Host" not in _table(headers):
            default = 443 if parsed.scheme == b"https" else 80
            host = parsed.host if parsed.port == default else b"%s:%d" % (parsed.host, parsed.port)
            if b":" in parsed.host:
                host = parsed.netloc
            headers.addRawHeader(b"host", host)
        request = Request(
            method, parsed.originForm, headers, bodyProducer, self._pool.persistent,
            parsedURI=parsed,
        )  # fmt: skip
        key = (parsed.scheme, parsed.host, parsed.port)
        return self._requestWithRetry(key, endpoint, request)

    def _requestWithRetry(self, key: Any, endpoint: Any, request: Request) -> Deferred[Response]:
        pool = self._pool

        def send(connection: HTTP11ClientProtocol) -> Deferred[Response]:
            deferred = connection.request(request, self._responseTimeout)
            if not (connection._reused and pool.retryAutomatically):  # type: ignore[attr-defined]
                return deferred

            def maybeRetry(reason: Failure) -> Any:
                # The server closed an idle connection as we reused it.
                if (
                    reason.check(ResponseNeverReceived, RequestNotSent)
                    and request.bodyProducer is None
                    and request.method in (b"GET", b"HEAD", b"OPTIONS", b"DELETE", b"PUT")
                    and reason.value.__class__ is not CancelledError
                ):
                    return pool._newConnection(key, endpoint).addCallback(
                        lambda fresh: fresh.request(request, self._responseTimeout)
                    )
                return reason

            return deferred.addErrback(maybeRetry)

        if type(pool).getConnection is HTTPConnectionPool.getConnection:
            # An idle connection is used at once, not through a Deferred.
            connection = pool._idleConnection(key)
            if connection is not None:
                try:
                    return send(connection)
                except Exception:
                    return fail()
        return pool.getConnection(key, endpoint).addCallback(send)


class _ReadBodyProtocol(Protocol):
    transport: Any

    def __init__(self, response: Any, deferred: Deferred[bytes]) -> None:
        self._response = response
        self._deferred = deferred
        self._data: list[bytes] = []

    def dataReceived(self, data: bytes) -> None:
        self._data.append(data)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        if self._deferred.called:
            return
        body = b"".join(self._data)
        if reason.check(ResponseDone, PotentialDataLoss):
            self._deferred.callback(body)
        elif reason.check(ResponseFailed) and any(
            r.check(_DataLoss)
            for r in reason.value.reasons  # type: ignore[attr-defined]
        ):
            self._deferred.errback(
                PartialDownloadError(self._response.code, self._response.phrase, body)
            )
        else:
            self._deferred.errback(reason)


def readBody(response: Any) -> Deferred[bytes]:
    """
    Return a Deferred firing with the whole body of response, or failing
    with PartialDownloadError (its ``response`` the bytes that came) when
    the connection closed before the body's end.  Cancelling it closes
    the connection.

    A body delimited by the connection's close is a success here, where
    Twisted fails it with PartialDownloadError: it can end no other way.
    """

    def cancel(deferred: Deferred[bytes]) -> None:
        transport = getattr(protocol, "transport", None)
        if transport is not None:
            transport.stopProducing()

    deferred: Deferred[bytes] = Deferred(cancel)
    protocol = _ReadBodyProtocol(response, deferred)
    response.deliverBody(protocol)
    return deferred


@implementer(IBodyProducer)
class FileBodyProducer:
    """
    A request body read from a file, readSize bytes at a time, cooperatively.

    Its length is what is left of the file from its position when it can
    seek, else UNKNOWN_LENGTH (sent chunked).
    """

    def __init__(self, inputFile: Any, cooperator: Any = None, readSize: int = 2**16) -> None:
        self._inputFile = inputFile
        self._cooperate = (cooperator or _globalCooperator()).cooperate
        self._readSize = readSize
        self._task: Any = None
        self.length: int | str = self._determineLength(inputFile)

    @staticmethod
    def _determineLength(inputFile: Any) -> int | str:
        try:
            position = inputFile.tell()
            inputFile.seek(0, io.SEEK_END)
            end = inputFile.tell()
            inputFile.seek(position, io.SEEK_SET)
        except (AttributeError, OSError):
            return UNKNOWN_LENGTH
        return end - position

    def startProducing(self, consumer: Any) -> Deferred[None]:
        """Write the file to consumer; return a Deferred firing at its end."""

        def chunks() -> Any:
            while True:
                data = self._inputFile.read(self._readSize)
                if not data:
                    return
                consumer.write(data)
                yield None

        self._task = self._cooperate(chunks())
        done: Deferred[Any] = self._task.whenDone()

        def stopped(reason: Failure) -> Any:
            reason.trap(TaskStopped)
            return Deferred()  # stopped: never fires, as IBodyProducer says

        return done.addCallbacks(_toNone, stopped)

    def pauseProducing(self) -> None:
        """Pause reading the file."""
        if self._task is not None:
            self._task.pause()

    def resumeProducing(self) -> None:
        """Resume reading the file."""
        if self._task is not None:
            self._task.resume()

    def stopProducing(self) -> None:
        """Stop for good (the Deferred of startProducing never fires)."""
        if self._task is not None:
            try:
                self._task.stop()
            except Exception:
                pass


def _toNone(result: object) -> None:
    return None


def _globalCooperator() -> Any:
    from reactor import task

    return task  # its cooperate() runs on the global Cooperator


# -- agents wrapping an agent ----------------------------------------------------------

_SENSITIVE_HEADERS = (b"authorization", b"cookie", b"cookie2", b"proxy-authorization",
                      b"www-authenticate")  # fmt: skip


def _discardBody(response: Any) -> None:
    # A redirect's body is read and dropped, so its connection goes back
    # to the pool.
    readBody(response).addErrback(lambda reason: None)


@implementer(IAgent)
class RedirectAgent:
    """
    Follow redirects: 301, 302, 307 and 308 for GET and HEAD (others fail
    with ResponseFailed holding a PageRedirect), 303 with a GET for any
    method.  After redirectLimit, ResponseFailed holding an
    InfiniteRedirection.  Each response after a redirect has the one
    before as previousResponse (whose body was read and dropped).
    Credentials and cookies are not sent on to another origin.
    """

    _redirectResponses: tuple[int, ...] = (301, 302, 307, 308)
    _seeOtherResponses: tuple[int, ...] = (303,)

    def __init__(self, agent: Any, redirectLimit: int = 20) -> None:
        self._agent = agent
        self._redirectLimit = redirectLimit

    def request(
        self, method: bytes, uri: bytes, headers: Headers | None = None, bodyProducer: Any = None
    ) -> Deferred[Any]:
        """Request uri, following redirects; see IAgent.request."""
        deferred = self._agent.request(method, uri, headers, bodyProducer)
        return deferred.addCallback(self._handleResponse, method, uri, headers, 0)

    def _handleResponse(
        self, response: Any, method: bytes, uri: bytes, headers: Any, redirectCount: int
    ) -> Any:
        if response.code in self._redirectResponses:
            if method not in (b"GET", b"HEAD"):
                location = (response.headers.getRawHeaders(b"location") or [None])[0]
                err = error.PageRedirect(response.code, location=location)
                raise ResponseFailed([Failure(err)], response)
            return self._handleRedirect(response, method, uri, headers, redirectCount)
        if response.code in self._seeOtherResponses:
            return self._handleRedirect(response, b"GET", uri, headers, redirectCount)
        return response

    def _handleRedirect(
        self, response: Any, method: bytes, uri: bytes, headers: Any, redirectCount: int
    ) -> Any:
        locations = response.headers.getRawHeaders(b"location", [])
        if not locations:
            err = error.RedirectWithNoLocation(response.code, b"No location header field", uri)
            raise ResponseFailed([Failure(err)], response)
        location = parse.urljoin(uri, locations[0])
        if redirectCount >= self._redirectLimit:
            loop = error.InfiniteRedirection(
                response.code, b"Infinite redirection detected", location=location
            )
            raise ResponseFailed([Failure(loop)], response)
        _discardBody(response)
        old, new = URI.fromBytes(uri), URI.fromBytes(location)
        if headers is not None and (old.scheme, old.host, old.port) != (
            new.scheme,
            new.host,
            new.port,
        ):
            headers = headers.copy()
            for name in _SENSITIVE_HEADERS:
                headers.removeHeader(name)

        def setPrevious(newResponse: Any) -> Any:
            newResponse.setPreviousResponse(response)
            return newResponse

        deferred = self._agent.request(method, location, headers)
        deferred.addCallback(setPrevious)
        return deferred.addCallback(
            self._handleResponse, method, location, headers, redirectCount + 1
        )


class BrowserLikeRedirectAgent(RedirectAgent):
    """A RedirectAgent that, as browsers do, follows 301 and 302 with a GET for any method."""

    _redirectResponses = (307, 308)
    _seeOtherResponses = (301, 302, 303)


class _GzipProtocol(Protocol):
    transport: Any

    def __init__(self, protocol: Any, response: Any) -> None:
        self._protocol = protocol
        self._response = response
        self._decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def makeConnection(self, transport: Any) -> None:
        self.transport = transport
        self._protocol.makeConnection(transport)

    def dataReceived(self, data: bytes) -> None:
        try:
            decoded = self._decompressor.decompress(data)
        except zlib.error:
            self.transport.stopProducing()
            self._failed = Failure()
            return
        if decoded:
            self._protocol.dataReceived(decoded)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        failed = getattr(self, "_failed", None)
        if failed is not None:
            self._protocol.connectionLost(Failure(ResponseFailed([reason, failed], self._response)))
            return
        if reason.check(ResponseDone, PotentialDataLoss):
            try:
                rest = self._decompressor.flush()
            except zlib.error:
                self._protocol.connectionLost(Failure(ResponseFailed([Failure()], self._response)))
                return
            if rest:
                self._protocol.dataReceived(rest)
        self._protocol.connectionLost(reason)


@implementer(IResponse)
class GzipDecoder:
    """A Response whose gzip-encoded body is delivered decoded (length unknown)."""

    def __init__(self, response: Any) -> None:
        self.original = response
        self.length = UNKNOWN_LENGTH

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)

    def deliverBody(self, protocol: Any) -> None:
        """Deliver the decoded body to protocol."""
        self.original.deliverBody(_GzipProtocol(protocol, self.original))


@implementer(IAgent)
class ContentDecoderAgent:
    """
    Ask for encoded bodies (Accept-Encoding) and decode them.

    :param decoders: (name, decoder) pairs, most preferred first:
        ``[(b"gzip", GzipDecoder)]``.
    """

    def __init__(self, agent: Any, decoders: list[tuple[bytes, Any]]) -> None:
        self._agent = agent
        self._decoders = dict(decoders)
        self._supported = b",".join(name for name, _ in decoders)

    def request(
        self, method: bytes, uri: bytes, headers: Headers | None = None, bodyProducer: Any = None
    ) -> Deferred[Any]:
        """Request uri with Accept-Encoding; the Response's body comes decoded."""
        headers = Headers() if headers is None else headers.copy()
        headers.addRawHeader(b"accept-encoding", self._supported)
        return self._agent.request(method, uri, headers, bodyProducer).addCallback(self._decode)

    def _decode(self, response: Any) -> Any:
        values = response.headers.getRawHeaders(b"content-encoding", [])
        encodings = [e.strip().lower() for value in values for e in value.split(b",") if e.strip()]
        while encodings and encodings[-1] in self._decoders:
            response = self._decoders[encodings.pop()](response)
        if encodings:
            response.headers.setRawHeaders(b"content-encoding", [b",".join(encodings)])
        else:
            response.headers.removeHeader(b"content-encoding")
        return response


def getPage(
    url: bytes | str,
    method: bytes = b"GET",
    postdata: bytes | None = None,
    headers: dict[bytes, bytes] | None = None,
    *,
    reactor: Any = None,
    contextFactory: Any = None,
    timeout: float | None = None,
) -> Deferred[bytes]:
    """
    Fetch url (following redirects) and return a Deferred firing with its
    body, or failing with protocols.web.error.Error (code, phrase, body)
    for a status of 400 or more.

    :param reactor: the reactor to use (the global one by default).
    :param contextFactory: an IPolicyForHTTPS for https URLs.
    :param timeout: seconds allowed for the response head.
    """
    if reactor is None:
        reactor = importlib.import_module("reactor").reactor
    if isinstance(url, str):
        url = url.encode("ascii")
    agent = RedirectAgent(Agent(reactor, contextFactory, responseTimeout=timeout))
    requestHeaders = Headers()
    for name, value in (headers or {}).items():
        requestHeaders.addRawHeader(name, value)
    body = None if postdata is None else FileBodyProducer(io.BytesIO(postdata))

    def gotResponse(response: Any) -> Deferred[bytes]:
        def checkStatus(data: bytes) -> bytes:
            if response.code >= 400:
                raise error.Error(response.code, response.phrase, data)
            return data

        return readBody(response).addCallback(checkStatus)

    return agent.request(method, url, requestHeaders, body).addCallback(gotResponse)
