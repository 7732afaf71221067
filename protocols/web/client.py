"""
The HTTP client, with twisted.web.client's names: Agent and its pool of
kept-alive connections, the agents that wrap an Agent (RedirectAgent,
BrowserLikeRedirectAgent, ContentDecoderAgent), readBody, FileBodyProducer
and the old convenience getPage.

This module holds the Agent, its pool and getPage, and gives the rest
from the private modules that hold them: the connection and its Request
and Response (protocols.web._newclient), URI (_uri), readBody and
FileBodyProducer (_readbody), the wrapping agents (_agents).

An Agent turns ``request(method, uri, headers, bodyProducer)`` into a
connection from its HTTPConnectionPool (one reused if one to the same
scheme, host and port is idle, else a new one through an endpoint) and an
HTTP11ClientProtocol request on it (protocols.web._newclient); a _Sending
does it, and sends the request once more on a new connection when the
reused one turns out closed.  ``sendRequest`` (beyond Twisted) sends a
request already prepared, telling an answer object instead of returning
a Deferred: the reverse proxy's way, a Deferred less per request.  ``https``
URIs are verified by default: BrowserLikePolicyForHTTPS asks
reactor.ssl.optionsForClientTLS, which checks the chain against the
platform's trust store (or the trustRoot given) and the host name.
"""

from __future__ import annotations

import functools
import importlib
import io
from collections import OrderedDict
from typing import Any, Callable

from zope.interface import implementer

from protocols.protocol import Factory
from protocols.web import error
from protocols.web._agents import (
    BrowserLikeRedirectAgent,
    ContentDecoderAgent,
    CookieAgent,
    GzipDecoder,
    RedirectAgent,
)
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
)
from protocols.web._readbody import FileBodyProducer, PartialDownloadError, readBody
from protocols.web._uri import URI
from protocols.web.iweb import UNKNOWN_LENGTH, IAgent, IAgentEndpointFactory, IPolicyForHTTPS
from reactor.defer import CancelledError, Deferred, succeed
from reactor.endpoints import HostnameEndpoint, wrapClientTLS
from reactor.failure import Failure

__all__ = [
    "Agent",
    "HTTP11ClientProtocol",
    "Headers",
    "Request",
    "UNKNOWN_LENGTH",
    "BrowserLikePolicyForHTTPS",
    "BrowserLikeRedirectAgent",
    "ContentDecoderAgent",
    "CookieAgent",
    "FileBodyProducer",
    "GzipDecoder",
    "HTTPConnectionPool",
    "HostnameCachingHTTPSPolicy",
    "PartialDownloadError",
    "PotentialDataLoss",
    "ProxyAgent",
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
        # reactor.ssl (and OpenSSL under it) is imported for the first https
        # request: a process that never makes one does not carry the TLS
        # stack's objects (as many again as the web's own), which every full
        # collection of the garbage collector would walk.
        from reactor.ssl import optionsForClientTLS

        return optionsForClientTLS(hostname.decode("idna"), trustRoot=self._trustRoot)


@implementer(IPolicyForHTTPS)
class HostnameCachingHTTPSPolicy:
    """
    An IPolicyForHTTPS that keeps the TLS options another one made for
    each of the last cacheSize host names, as Twisted's does: making them
    (loading the trust store) costs far more than a lookup.

    :param policyforHTTPS: the IPolicyForHTTPS asked on a miss.
    :param cacheSize: how many host names are remembered, the least
        recently used forgotten first.
    """

    def __init__(self, policyforHTTPS: Any, cacheSize: int = 20) -> None:
        self._policyForHTTPS = policyforHTTPS
        self._cache: OrderedDict[bytes, Any] = OrderedDict()
        self._cacheSize = cacheSize

    def creatorForNetloc(self, hostname: bytes, port: int) -> Any:
        """Return the TLS options for hostname: remembered, or made and remembered."""
        creator = self._cache.pop(hostname, None)
        if creator is None:
            creator = self._policyForHTTPS.creatorForNetloc(hostname, port)
            if len(self._cache) >= self._cacheSize:
                self._cache.popitem(last=False)
        self._cache[hostname] = creator
        return creator


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
        # Idle connections by key, each with the time it went idle (its
        # _idleSince).
        self._connections: dict[Any, list[HTTP11ClientProtocol]] = {}
        self._expiry: Any = None

    def getConnection(self, key: Any, endpoint: Any) -> Deferred[HTTP11ClientProtocol]:
        """Return a Deferred firing with an idle connection for key, or a new one."""
        connection = self._idleConnection(key)
        if connection is not None:
            connection._reused = True  # type: ignore[attr-defined]
            return succeed(connection)
        return self._newConnection(key, endpoint)

    def _idleConnection(self, key: Any) -> HTTP11ClientProtocol | None:
        # The idle connection for key that was put back first, taken; or None.
        idle = self._connections.get(key)
        while idle:
            connection = idle.pop(0)
            if connection.state == "QUIESCENT":
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
            idle.pop(0).transport.loseConnection()
        idle.append(connection)
        connection._idleSince = self._reactor.seconds()  # type: ignore[attr-defined]
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
                since = connection._idleSince  # type: ignore[attr-defined]
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

    def closeCachedConnections(self) -> Deferred[Any]:
        """Close every idle connection; return a Deferred firing when all are closed."""
        from reactor.defer import DeferredList

        closing = []
        for idle in self._connections.values():
            for connection in idle:
                closing.append(connection.abort())
        self._connections = {}
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
        # Whether an idle connection of the pool may be taken at once, not
        # through getConnection's Deferred (its own getConnection is not
        # overridden): asked once, not for each request (_Sending).
        self._idleAtOnce = type(self._pool).getConnection is HTTPConnectionPool.getConnection

    def _takeIdle(self, key: Any) -> HTTP11ClientProtocol | None:
        # The idle connection of the pool for key, taken, to be sent on at
        # once (HTTP11ClientProtocol.send); or None (none idle, or the
        # pool's getConnection is its own: it is asked through a Deferred).
        return self._pool._idleConnection(key) if self._idleAtOnce else None

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
        request = self._makeRequest(method, parsed, parsed.originForm, headers, bodyProducer)
        key = (parsed.scheme, parsed.host, parsed.port)
        return self._requestWithRetry(key, parsed, request)

    def sendRequest(
        self, origin: URI, request: Request, answer: Any, *, direct: bool = False
    ) -> Any:
        """
        Send request to origin (a URI: its scheme, host and port) over the
        pool, as ``request`` does, and tell answer of its response instead
        of returning a Deferred: ``answer.callback(response)`` or
        ``answer.errback(failure)``, once, as HTTP11ClientProtocol.send
        does (a Deferred is such an answer).  request is sent as it is:
        its target in origin form, its headers holding Host, not copied.

        Return a handle whose ``cancel()`` gives the request up (its
        connection is aborted); answer is told nothing after that.  An
        answer whose ``wantsHead`` is true is told ``headReceived(head,
        connection)`` instead of a Response (HTTP11ClientProtocol.send).

        With ``direct``, a request that goes at once on an idle connection
        of the pool has no handle: that connection (an
        HTTP11ClientProtocol) is returned, and tells answer itself.  It
        does not send the request again if it turns out closed: the caller
        asks ``sendAgain``, and tells the connection's failure from its
        own errbacks with ``_newclient._owes``.

        Beyond Twisted: for a caller that forwards many requests to one
        origin, the reverse proxy, with no URI to parse, no headers to copy
        and no Deferred (nor, with ``direct``, handle) to make for each.
        """
        key = (origin.scheme, origin.host, origin.port)
        if direct:
            connection = self._takeIdle(key)
            if connection is not None:
                connection.send(request, answer, self._responseTimeout)
                return connection
        return _Sending(self, key, origin, request, answer)

    def sendAgain(self, origin: URI, request: Request, answer: Any, reason: Failure) -> Any:
        """
        Send request once more, on a new connection, if its first sending
        (on a connection sendRequest returned) failed as reason says
        because that reused connection turned out closed (the server's
        keep-alive ran out) and the request is idempotent, without a body;
        return the handle of the new sending (as sendRequest's), or None
        when the request is not to be sent again.  Beyond Twisted.
        """
        if not _retryable(self, request, reason):
            return None
        key = (origin.scheme, origin.host, origin.port)
        return _Sending(self, key, origin, request, answer, fresh=True)

    def _endpointFor(self, where: Any) -> Any:
        # The endpoint of where, a URI (for ProxyAgent, its proxy's endpoint).
        return self._endpointFactory.endpointForURI(where)

    def _makeRequest(
        self, method: bytes, parsed: URI, target: bytes, headers: Headers | None, body: Any
    ) -> Request:
        headers = Headers() if headers is None else headers.copy()
        if b"Host" not in _table(headers):
            default = 443 if parsed.scheme == b"https" else 80
            host = parsed.host if parsed.port == default else b"%s:%d" % (parsed.host, parsed.port)
            if b":" in parsed.host:
                host = parsed.netloc
            headers.addRawHeader(b"host", host)
        return Request(method, target, headers, body, self._pool.persistent, parsedURI=parsed)

    def _requestWithRetry(self, key: Any, where: Any, request: Request) -> Deferred[Response]:
        # request sent by a _Sending, told to a Deferred that cancels it.
        sending: _Sending | None = None

        def cancel(deferred: Deferred[Response]) -> None:
            if sending is not None:
                sending.cancel()

        deferred: Deferred[Response] = Deferred(cancel)
        sending = _Sending(self, key, where, request, deferred)
        return deferred


#: The methods of a request sent again when the reused connection it went
#: on turns out closed (HTTPConnectionPool.retryAutomatically).
_IDEMPOTENT = frozenset([b"GET", b"HEAD", b"OPTIONS", b"DELETE", b"PUT"])


def _retryable(agent: Agent, request: Any, reason: Failure) -> bool:
    """
    Whether request, which failed as reason says on a reused connection of
    agent's pool before it was answered, is sent once more, on a new
    connection: the connection turned out closed (the server's keep-alive
    ran out), and the request is idempotent, without a body.
    """
    return bool(
        agent._pool.retryAutomatically
        and reason.check(ResponseNeverReceived, RequestNotSent)
        and request.bodyProducer is None
        and request.method in _IDEMPOTENT
        and reason.value.__class__ is not CancelledError
    )


class _Sending:
    """
    One request an Agent sends: at once on an idle connection of its pool,
    else on one the pool gives (a new one); sent once more, on a new
    connection, when a reused one turns out closed before answering (the
    server's keep-alive ran out: HTTPConnectionPool.retryAutomatically).
    Its answer is told of the response as HTTP11ClientProtocol.send tells
    it (so the connections tell this, which passes it on).
    """

    __slots__ = (
        "agent",
        "key",
        "where",
        "request",
        "answer",
        "connection",
        "connecting",
        "reused",
        "called",
        "cancelled",
        "wantsHead",
    )

    def __init__(
        self, agent: Agent, key: Any, where: Any, request: Request, answer: Any, fresh: bool = False
    ) -> None:
        """
        Send request: at once on an idle connection, else on the pool's; or,
        when fresh, on a new connection (the request's first went on a
        reused one that turned out closed: _retryable), with no retry.
        """
        self.agent = agent
        self.key = key
        self.where = where  # what the Agent's _endpointFor takes
        self.request = request
        self.answer = answer
        # (Each set here, none left to a class default: on 3.11 reading an
        # attribute an instance lacks misses the specialised lookup.)
        self.connection: HTTP11ClientProtocol | None = None  # answering
        self.connecting: Deferred[Any] | None = None  # or the pool's Deferred
        self.reused = False
        self.called = False
        self.cancelled = False
        # Whether answer is told of the head, with no Response (see
        # HTTP11ClientProtocol.send): then so is this.
        self.wantsHead = getattr(answer, "wantsHead", False)
        pool = agent._pool
        connection = None
        try:
            if fresh:
                connecting = pool._newConnection(key, agent._endpointFor(where))
            else:
                connection = agent._takeIdle(key)  # at once, not through a Deferred
                if connection is None:
                    connecting = pool.getConnection(key, agent._endpointFor(where))
        except Exception:
            self.errback(Failure())
            return
        if connection is not None:  # (_send)
            self.connection = connection
            self.reused = True
            connection.send(request, self, agent._responseTimeout)
            return
        self._connect(connecting)

    def cancel(self) -> None:
        """Give the request up: its connection is aborted (or connecting stops)."""
        if self.called or self.cancelled:
            return
        self.cancelled = True
        self.answer = None
        connection, self.connection = self.connection, None
        connecting, self.connecting = self.connecting, None
        if connection is not None:
            connection.abort()
        elif connecting is not None:
            connecting.cancel()

    def _connect(self, connecting: Deferred[Any]) -> None:
        self.connecting = connecting
        connecting.addCallbacks(self._send, self._notConnected)

    def _notConnected(self, reason: Failure) -> None:
        self.connecting = None
        self.errback(reason)

    def _send(self, connection: HTTP11ClientProtocol) -> None:
        self.connecting = None
        if self.cancelled:
            connection.abort()
            return
        self.connection = connection
        self.reused = connection._reused  # type: ignore[attr-defined]
        connection.send(self.request, self, self.agent._responseTimeout)

    # -- what the connection tells ----------------------------------------------

    def callback(self, response: Response) -> None:
        """The response head came: the answer is told."""
        self.connection = None
        if not self.cancelled:
            # The answer is let go of: it may hold this (a cycle otherwise).
            answer, self.answer = self.answer, None
            self.called = True
            answer.callback(response)

    def headReceived(self, head: Any, connection: HTTP11ClientProtocol) -> Any:
        """The response head came, for an answer that wants it: the answer is told."""
        self.connection = None
        if self.cancelled:
            return None
        answer, self.answer = self.answer, None
        self.called = True
        return answer.headReceived(head, connection)

    def errback(self, reason: Failure) -> None:
        """The request failed: sent again (see the class), or the answer is told."""
        connection, self.connection = self.connection, None
        if self.cancelled:
            return
        if connection is not None and self.reused and _retryable(self.agent, self.request, reason):
            self.reused = False  # once: the new connection's failure is final
            try:
                connecting = self.agent._pool._newConnection(
                    self.key, self.agent._endpointFor(self.where)
                )
            except Exception:
                reason = Failure()
            else:
                self._connect(connecting)
                return
        answer, self.answer = self.answer, None
        self.called = True
        answer.errback(reason)


class ProxyAgent(Agent):
    """
    Make every request through one HTTP proxy, as twisted.web.client's
    ProxyAgent does: the request line carries the absolute URI, and all
    requests share the proxy's connections in the pool.  An ``https`` URI
    is sent to the proxy as it is (no CONNECT tunnel), as in Twisted.

    :param endpoint: the IStreamClientEndpoint of the proxy.
    :param reactor: schedules the timeouts (the global reactor by default).
    :param pool: an HTTPConnectionPool (a non-persistent one by default).
    """

    def __init__(
        self,
        endpoint: Any,
        reactor: Any = None,
        pool: HTTPConnectionPool | None = None,
        *,
        responseTimeout: float | None = None,
    ) -> None:
        if reactor is None:
            reactor = importlib.import_module("reactor").reactor
        self._proxyEndpoint = endpoint
        self._init(reactor, None, pool, responseTimeout)

    def request(
        self,
        method: bytes,
        uri: bytes,
        headers: Headers | None = None,
        bodyProducer: Any = None,
    ) -> Deferred[Response]:
        """Request uri through the proxy; see Agent.request."""
        parsed = URI.fromBytes(uri)
        request = self._makeRequest(method, parsed, parsed.toBytes(), headers, bodyProducer)
        key = ("http-proxy", self._proxyEndpoint)
        return self._requestWithRetry(key, None, request)

    def _endpointFor(self, where: Any) -> Any:
        return self._proxyEndpoint


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
