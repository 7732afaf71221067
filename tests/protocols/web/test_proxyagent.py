"""
ProxyAgent over real sockets, on every reactor and both parsers, through a
real forward proxy: ForwardProxy, a Loom Site answering absolute-URI
requests (``GET http://origin.invalid:8080/a HTTP/1.1``) by fetching them
from a Loom origin server on 127.0.0.1 and streaming the answer back.

The origins are named ``*.invalid``, names that never resolve (RFC 2606):
only the proxy, which maps them to the origin's port, can reach them, so a
request that arrives at all went through the proxy.  What is checked: the
request line the proxy gets (the absolute URI) and its Host header, the
origin-form request the origin gets, one connection to the proxy for
requests to several origins, a request body going through, a response body
streamed piece by piece before the origin has finished it, a proxy's error
status given as a Response, and failures with their reasons: a proxy that
refuses the connection, one that closes it without an answer, one that
breaks off mid-body.

Loom has no forward proxy of its own (doc/porting.md: ``ProxyRequest``),
so no third-party client (curl -x) is pointed at one here.
"""

import hashlib
import io
import socket

import pytest

from protocols.protocol import Factory, Protocol
from protocols.web import client, resource, server
from reactor.defer import Deferred, maybeDeferred
from reactor.endpoints import TCP4ClientEndpoint
from reactor.error import ConnectionDone, ConnectionLost, ConnectionRefusedError
from reactor.task import Cooperator
from tests.protocols.web.test_sockets import CountingChannel

pytestmark = pytest.mark.timeout(60)

BIG = b"0123456789abcdef" * (1 << 16)  # 1 MiB
HOP_BY_HOP = {b"connection", b"keep-alive", b"proxy-connection", b"transfer-encoding"}


# -- the origin ---------------------------------------------------------------------


class Seen(resource.Resource):
    """Answers with what the origin was asked: method, request target, Host, body digest."""

    isLeaf = True

    def render(self, request):
        body = request.content.read()
        return b"%s %s host=%s body=%d:%s" % (
            request.method,
            request.uri,
            request.getHeader(b"host"),
            len(body),
            hashlib.sha256(body).hexdigest()[:16].encode(),
        )


class Big(resource.Resource):
    isLeaf = True

    def render_GET(self, request):
        return BIG


class Gate(resource.Resource):
    """Writes a first piece and holds the response open until the test finishes it."""

    isLeaf = True

    def __init__(self):
        resource.Resource.__init__(self)
        self.waiting = []

    def render_GET(self, request):
        request.write(b"first piece;")
        self.waiting.append(request)
        return server.NOT_DONE_YET


def makeOrigin():
    root = resource.Resource()
    root.putChild(b"seen", Seen())
    root.putChild(b"big", Big())
    root.gate = Gate()
    root.putChild(b"gate", root.gate)
    return root


# -- the forward proxy --------------------------------------------------------------


class Relay(Protocol):
    """Writes each piece of the origin's body to the proxy's client as it comes."""

    def __init__(self, request):
        self.request = request

    def dataReceived(self, data):
        self.request.write(data)

    def connectionLost(self, reason):
        if reason.check(client.ResponseDone):
            self.request.finish()
        else:
            self.request.channel.transport.abortConnection()


class ForwardProxy(resource.Resource):
    """
    A forward proxy for the tests: takes an absolute-URI request for a host
    in ``origins`` ({host: port on 127.0.0.1}), fetches it from there with
    the client's Host header and body, and streams the answer back.  Every
    request line and Host header it gets is kept in ``seen``.
    """

    isLeaf = True

    def __init__(self, reactor, pool, origins):
        resource.Resource.__init__(self)
        self.agent = client.Agent(reactor, pool=pool)
        self.cooperator = Cooperator(scheduler=lambda step: reactor.callLater(0, step))
        self.origins = origins
        self.seen = []

    def render(self, request):
        self.seen.append((request.method, request.uri, request.clientproto))
        self.seen.append(request.getHeader(b"host"))
        if not request.uri.startswith(b"http://"):
            request.setResponseCode(400)
            return b"a proxy wants an absolute URI\n"
        uri = client.URI.fromBytes(request.uri)
        headers = client.Headers()
        for name, values in request.requestHeaders.getAllRawHeaders():
            # The agent writes the body's Content-Length itself.
            if name.lower() not in HOP_BY_HOP and name.lower() != b"content-length":
                headers.setRawHeaders(name, values)
        body = None
        if request.getHeader(b"content-length") not in (None, b"0"):
            body = client.FileBodyProducer(request.content, self.cooperator)
        port = self.origins.get(uri.host, 1)  # an unknown host: a closed port, a 502
        target = b"http://127.0.0.1:%d%s" % (port, uri.originForm)
        fetching = self.agent.request(request.method, target, headers, body)
        fetching.addCallbacks(self._relay, self._badGateway, (request,), None, (request,))
        return server.NOT_DONE_YET

    def _relay(self, response, request):
        request.setResponseCode(response.code, response.phrase)
        for name, values in response.headers.getAllRawHeaders():
            if name.lower() not in HOP_BY_HOP:
                request.responseHeaders.setRawHeaders(name, values)
        response.deliverBody(Relay(request))

    def _badGateway(self, reason, request):
        request.setResponseCode(502)
        request.write(b"502 Bad Gateway: %s\n" % (reason.getErrorMessage().encode(),))
        request.finish()


# -- fixtures -----------------------------------------------------------------------


class Servers:
    """The origin and the proxy listening on 127.0.0.1; the agent's pool."""

    def __init__(self, reactor, parser):
        self.root = makeOrigin()
        origin = server.Site(self.root, reactor=reactor, parser=parser)
        origin.noisy = False
        self.originPort = reactor.listenTCP(0, origin, interface="127.0.0.1")
        port = self.originPort.getHost().port
        self.origin = b"origin.invalid:%d" % (port,)
        self.proxyPool = client.HTTPConnectionPool(reactor, persistent=False, parser=parser)
        self.proxy = ForwardProxy(
            reactor, self.proxyPool, {b"origin.invalid": port, b"other.invalid": port}
        )
        site = server.Site(self.proxy, reactor=reactor, parser=parser)
        site.noisy = False
        site.protocol = CountingChannel
        site.opened = site.closed = 0
        self.proxySite = site
        self.proxyPort = reactor.listenTCP(0, site, interface="127.0.0.1")
        self.pool = client.HTTPConnectionPool(reactor, persistent=True, parser=parser)
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", self.proxyPort.getHost().port)
        self.agent = client.ProxyAgent(endpoint, reactor, self.pool)

    def stop(self, reactor, runUntil):
        runUntil(reactor, self.pool.closeCachedConnections())
        runUntil(reactor, self.proxyPool.closeCachedConnections())
        runUntil(reactor, maybeDeferred(self.proxyPort.stopListening))
        runUntil(reactor, maybeDeferred(self.originPort.stopListening))


@pytest.fixture
def servers(reactor, parser, runUntil):
    running = Servers(reactor, parser)
    yield running
    running.stop(reactor, runUntil)


def fetch(reactor, runUntil, agent, uri, method=b"GET", body=None):
    response = runUntil(reactor, agent.request(method, uri, None, body))
    return response, runUntil(reactor, client.readBody(response))


# -- what the proxy and the origin are sent -----------------------------------------


def test_requestLineCarriesTheAbsoluteURIAndHostTheOrigin(reactor, runUntil, servers):
    uri = b"http://%s/seen/a?b=c" % (servers.origin,)
    response, body = fetch(reactor, runUntil, servers.agent, uri)
    assert (response.code, response.phrase) == (200, b"OK")
    assert body.startswith(b"GET /seen/a?b=c host=%s body=0:" % (servers.origin,))
    response, body = fetch(reactor, runUntil, servers.agent, b"http://other.invalid/seen")
    assert body.startswith(b"GET /seen host=other.invalid body=0:")  # port 80: not written
    assert servers.proxy.seen == [
        (b"GET", uri, b"HTTP/1.1"),
        servers.origin,
        (b"GET", b"http://other.invalid/seen", b"HTTP/1.1"),
        b"other.invalid",
    ]


def test_oneConnectionToTheProxyServesEveryOrigin(reactor, runUntil, servers):
    for uri in (b"http://%s/seen" % (servers.origin,), b"http://other.invalid/seen") * 2:
        assert fetch(reactor, runUntil, servers.agent, uri)[0].code == 200
    assert servers.proxySite.opened == 1


def test_requestBodyGoesThroughTheProxy(reactor, runUntil, servers):
    data = b"some form data " * 1000
    cooperator = Cooperator(scheduler=lambda step: reactor.callLater(0, step))
    producer = client.FileBodyProducer(io.BytesIO(data), cooperator)
    uri = b"http://%s/seen" % (servers.origin,)
    response, body = fetch(reactor, runUntil, servers.agent, uri, b"POST", producer)
    digest = hashlib.sha256(data).hexdigest()[:16].encode()
    assert body == b"POST /seen host=%s body=%d:%s" % (servers.origin, len(data), digest)
    assert servers.proxy.seen[0] == (b"POST", uri, b"HTTP/1.1")


# -- what comes back ----------------------------------------------------------------


class Collecting(Protocol):
    """Keeps the body's pieces; ``arrived`` fires at the first, ``done`` at the end."""

    def __init__(self):
        self.pieces = []
        self.arrived = Deferred()
        self.done = Deferred()

    def dataReceived(self, data):
        self.pieces.append(data)
        if not self.arrived.called:
            self.arrived.callback(None)

    def connectionLost(self, reason):
        self.done.callback([reason])  # in a list: a Failure would fail the Deferred


def test_bodyIsStreamedBeforeTheOriginHasFinishedIt(reactor, runUntil, servers):
    uri = b"http://%s/gate" % (servers.origin,)
    response = runUntil(reactor, servers.agent.request(b"GET", uri))
    assert (response.code, response.length) == (200, client.UNKNOWN_LENGTH)
    body = Collecting()
    response.deliverBody(body)
    runUntil(reactor, body.arrived)
    [held] = servers.root.gate.waiting
    assert (b"".join(body.pieces), held.finished, body.done.called) == (
        b"first piece;",
        False,
        False,
    )
    held.write(b"second piece")
    held.finish()
    [reason] = runUntil(reactor, body.done)
    assert reason.check(client.ResponseDone)
    assert b"".join(body.pieces) == b"first piece;second piece"


def test_largeBodyArrivesWhole(reactor, runUntil, servers):
    response, body = fetch(reactor, runUntil, servers.agent, b"http://other.invalid/big")
    assert (response.length, len(body)) == (len(BIG), len(BIG))
    assert body == BIG


def test_theProxysErrorIsAResponse(reactor, runUntil, servers):
    # The proxy cannot reach the origin: it says so with a 502, which the
    # agent hands on as a Response, not a failure.
    response, body = fetch(reactor, runUntil, servers.agent, b"http://nowhere.invalid/")
    assert response.code == 502
    assert body.startswith(b"502 Bad Gateway: ")


# -- failures -----------------------------------------------------------------------


def closedPort():
    """A port on 127.0.0.1 nothing listens on (bound, then closed)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_aProxyRefusingTheConnectionIsAConnectionRefusedError(reactor, parser, runUntil):
    pool = client.HTTPConnectionPool(reactor, persistent=False, parser=parser)
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", closedPort())
    agent = client.ProxyAgent(endpoint, reactor, pool)
    with pytest.raises(ConnectionRefusedError) as caught:
        runUntil(reactor, agent.request(b"GET", b"http://origin.invalid/"))
    assert str(caught.value).startswith("Connection was refused by other side")


class RawProxy(Protocol):
    """Once a request head has come, writes the factory's answer and closes."""

    def connectionMade(self):
        self.received = b""

    def dataReceived(self, data):
        self.received += data
        if b"\r\n\r\n" in self.received:
            self.factory.requests.append(self.received)
            self.transport.write(self.factory.answer)
            self.transport.loseConnection()


def rawProxyAgent(reactor, parser, answer):
    factory = Factory.forProtocol(RawProxy)
    factory.answer, factory.requests = answer, []
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    pool = client.HTTPConnectionPool(reactor, persistent=False, parser=parser)
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port)
    return client.ProxyAgent(endpoint, reactor, pool), factory, port


def test_aProxyClosingWithoutAnAnswerIsResponseNeverReceived(reactor, parser, runUntil):
    agent, factory, port = rawProxyAgent(reactor, parser, b"")
    try:
        with pytest.raises(client.ResponseNeverReceived) as caught:
            runUntil(reactor, agent.request(b"GET", b"http://origin.invalid:81/x"))
        [reason] = caught.value.reasons
        assert reason.check(ConnectionDone, ConnectionLost)
        [request] = factory.requests
        assert request.startswith(b"GET http://origin.invalid:81/x HTTP/1.1\r\n")
        assert b"\r\nhost: origin.invalid:81\r\n" in request.lower()
    finally:
        runUntil(reactor, maybeDeferred(port.stopListening))


def test_aProxyBreakingOffMidBodyIsAPartialDownload(reactor, parser, runUntil):
    answer = b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nhalf "
    agent, factory, port = rawProxyAgent(reactor, parser, answer)
    try:
        response = runUntil(reactor, agent.request(b"GET", b"http://origin.invalid/x"))
        with pytest.raises(client.PartialDownloadError) as caught:
            runUntil(reactor, client.readBody(response))
        assert caught.value.response == b"half "
    finally:
        runUntil(reactor, maybeDeferred(port.stopListening))
