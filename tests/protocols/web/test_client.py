"""
The HTTP client against Loom's own Site over real sockets, on every reactor
and both parsers: Content-Length, chunked and close-delimited bodies,
HEAD and 204, keep-alive reuse counted on the server, redirects, gzip,
backpressure, truncated bodies, cancellation, https verified by default;
timeouts on a Clock.
"""

import gzip
import io
import os
import subprocess
import sys
from urllib.parse import urlparse, urlunparse

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.protocol import Factory, Protocol
from protocols.web import _newclient, client, resource, server
from protocols.web.error import Error
from reactor.defer import CancelledError, Deferred, maybeDeferred
from reactor.error import ConnectionDone
from reactor.failure import Failure
from reactor.ssl import trustRootFromCertificates
from reactor.task import Cooperator
from reactor.testing import MemoryReactorClock, StringTransport
from tests.protocols.web.test_sockets import CountingChannel

pytestmark = pytest.mark.timeout(60)


class Chunked(resource.Resource):
    isLeaf = True

    def render_GET(self, request):
        request.write(b"abc")
        request.write(b"def")
        request.finish()
        return server.NOT_DONE_YET


class Text(resource.Resource):
    isLeaf = True

    def __init__(self, body):
        resource.Resource.__init__(self)
        self.body = body

    def render_GET(self, request):
        return self.body

    def render_POST(self, request):
        return b"posted " + request.content.read()


class NoContent(resource.Resource):
    isLeaf = True

    def render_GET(self, request):
        request.setResponseCode(204)
        return b""


class Redirect(resource.Resource):
    isLeaf = True

    def __init__(self, code, location):
        resource.Resource.__init__(self)
        self.code, self.location = code, location

    def render(self, request):
        request.setResponseCode(self.code)
        request.setHeader(b"location", self.location)
        return b"moved"


class Gzipped(resource.Resource):
    isLeaf = True

    def render_GET(self, request):
        request.setHeader(b"content-encoding", b"gzip")
        return gzip.compress(b"unzipped " * 100)


def makeRoot():
    root = resource.Resource()
    root.putChild(b"length", Text(b"hello"))
    root.putChild(b"big", Text(b"x" * 1_000_000))
    root.putChild(b"chunked", Chunked())
    root.putChild(b"empty", NoContent())
    for code in (301, 302, 303, 307):
        root.putChild(b"r%d" % code, Redirect(code, b"/length"))
    root.putChild(b"loop", Redirect(302, b"/loop"))
    root.putChild(b"gzip", Gzipped())
    return root


class Web:
    def __init__(self, reactor, parser, contextFactory=None):
        self.site = server.Site(makeRoot(), reactor=reactor, parser=parser)
        self.site.noisy = False
        self.site.protocol = CountingChannel
        self.site.opened = self.site.closed = 0
        if contextFactory is None:
            self.port = reactor.listenTCP(0, self.site, interface="127.0.0.1")
            scheme = "http"
        else:
            self.port = reactor.listenSSL(0, self.site, contextFactory, interface="127.0.0.1")
            scheme = "https"
        self.url = "%s://127.0.0.1:%d" % (scheme, self.port.getHost().port)

    def u(self, path):
        return (self.url + path).encode("ascii")


@pytest.fixture
def web(reactor, parser, runUntil):
    served = Web(reactor, parser)
    yield served
    runUntil(reactor, maybeDeferred(served.port.stopListening))


@pytest.fixture
def pool(reactor, parser, runUntil):
    pool = client.HTTPConnectionPool(reactor, persistent=True, parser=parser)
    yield pool
    runUntil(reactor, pool.closeCachedConnections())


def get(reactor, runUntil, agent, url, method=b"GET", body=None):
    response = runUntil(reactor, agent.request(method, url, None, body))
    return response, runUntil(reactor, client.readBody(response))


@pytest.mark.parametrize(
    "path, expected",
    [(b"/length", b"hello"), (b"/chunked", b"abcdef"), (b"/big", b"x" * 1_000_000)],
)
def test_bodies(reactor, runUntil, web, pool, path, expected):
    agent = client.Agent(reactor, pool=pool)
    response, body = get(reactor, runUntil, agent, web.u(path.decode()))
    assert (response.code, response.phrase, body) == (200, b"OK", expected)
    assert response.length == (client.UNKNOWN_LENGTH if path == b"/chunked" else len(expected))


def test_keepAliveReusesOneConnection(reactor, runUntil, web, pool):
    agent = client.Agent(reactor, pool=pool)
    bodies = [
        get(reactor, runUntil, agent, web.u(p))[1] for p in ("/length", "/chunked", "/length")
    ]
    assert bodies == [b"hello", b"abcdef", b"hello"]
    assert web.site.opened == 1


def test_withoutPersistenceEachRequestConnects(reactor, runUntil, web):
    agent = client.Agent(reactor)
    for _ in range(2):
        assert get(reactor, runUntil, agent, web.u("/length"))[1] == b"hello"
    assert web.site.opened == 2


def test_headAnd204HaveNoBodyAndKeepTheConnection(reactor, runUntil, web, pool):
    agent = client.Agent(reactor, pool=pool)
    response, body = get(reactor, runUntil, agent, web.u("/length"), method=b"HEAD")
    assert (response.code, body, response.length) == (200, b"", 0)
    response, body = get(reactor, runUntil, agent, web.u("/empty"))
    assert (response.code, body) == (204, b"")
    assert get(reactor, runUntil, agent, web.u("/length"))[1] == b"hello"
    assert web.site.opened == 1


def test_postWithFileBodyProducer(reactor, runUntil, web, pool):
    agent = client.Agent(reactor, pool=pool)
    cooperator = Cooperator(scheduler=lambda step: reactor.callLater(0, step))
    body = client.FileBodyProducer(io.BytesIO(b"some data"), cooperator)
    assert body.length == 9
    response, data = get(reactor, runUntil, agent, web.u("/length"), b"POST", body)
    assert data == b"posted some data"


class RawServer(Protocol):
    """Answers any request with the factory's raw bytes, then closes if told."""

    def dataReceived(self, data):
        self.transport.write(self.factory.answer)
        if self.factory.close:
            self.transport.loseConnection()


def rawServer(reactor, answer, close=True):
    factory = Factory.forProtocol(RawServer)
    factory.answer, factory.close = answer, close
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    return port, b"http://127.0.0.1:%d/" % (port.getHost().port,)


def test_closeDelimitedBody(reactor, parser, runUntil):
    port, url = rawServer(reactor, b"HTTP/1.0 200 OK\r\n\r\nuntil the end")
    agent = client.Agent(reactor, pool=client.HTTPConnectionPool(reactor, False, parser=parser))
    try:
        response, body = get(reactor, runUntil, agent, url)
        assert (response.length, body) == (client.UNKNOWN_LENGTH, b"until the end")
    finally:
        runUntil(reactor, maybeDeferred(port.stopListening))


def test_truncatedBodyIsAPartialDownloadError(reactor, parser, runUntil):
    port, url = rawServer(reactor, b"HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nshort")
    agent = client.Agent(reactor, pool=client.HTTPConnectionPool(reactor, False, parser=parser))
    try:
        response = runUntil(reactor, agent.request(b"GET", url))
        with pytest.raises(client.PartialDownloadError) as caught:
            runUntil(reactor, client.readBody(response))
        assert caught.value.response == b"short"
    finally:
        runUntil(reactor, maybeDeferred(port.stopListening))


@pytest.mark.parametrize("code", [301, 302, 303, 307])
def test_redirects(reactor, runUntil, web, pool, code):
    agent = client.RedirectAgent(client.Agent(reactor, pool=pool))
    response, body = get(reactor, runUntil, agent, web.u("/r%d" % code))
    assert body == b"hello"
    assert response.previousResponse.code == code
    assert response.request.absoluteURI == web.u("/length")


def test_postRedirectedBy301FailsButABrowserFollowsWithGet(reactor, runUntil, web, pool):
    agent = client.RedirectAgent(client.Agent(reactor, pool=pool))
    with pytest.raises(client.ResponseFailed):
        runUntil(reactor, agent.request(b"POST", web.u("/r301")))
    browser = client.BrowserLikeRedirectAgent(client.Agent(reactor, pool=pool))
    response, body = get(reactor, runUntil, browser, web.u("/r301"), b"POST")
    assert (body, response.request.method) == (b"hello", b"GET")


def test_infiniteRedirection(reactor, runUntil, web, pool):
    agent = client.RedirectAgent(client.Agent(reactor, pool=pool), redirectLimit=3)
    with pytest.raises(client.ResponseFailed) as caught:
        runUntil(reactor, agent.request(b"GET", web.u("/loop")))
    assert caught.value.reasons[0].check(client.error.InfiniteRedirection)


def test_gzipIsDecoded(reactor, runUntil, web, pool):
    agent = client.ContentDecoderAgent(
        client.Agent(reactor, pool=pool), [(b"gzip", client.GzipDecoder)]
    )
    response, body = get(reactor, runUntil, agent, web.u("/gzip"))
    assert body == b"unzipped " * 100
    assert not response.headers.hasHeader(b"content-encoding")


class Slow(Protocol):
    """Pauses at the first piece; the test resumes it."""

    def __init__(self):
        self.data = []
        self.done = Deferred()

    def dataReceived(self, data):
        if not self.data:
            self.transport.pauseProducing()
        self.data.append(data)

    def connectionLost(self, reason):
        self.done.callback([reason])


def test_pausedBodyProtocolPausesTheSocket(reactor, runUntil, web, pool):
    agent = client.Agent(reactor, pool=pool)
    response = runUntil(reactor, agent.request(b"GET", web.u("/big")))
    slow = Slow()
    response.deliverBody(slow)
    for _ in range(20):
        reactor.iterate(0.01)
    assert (len(slow.data), slow.done.called) == (1, False)
    slow.transport.resumeProducing()
    [reason] = runUntil(reactor, slow.done)
    assert reason.check(client.ResponseDone)
    assert len(b"".join(slow.data)) == 1_000_000


def test_cancellingTheRequestClosesTheConnection(reactor, parser, runUntil):
    port, url = rawServer(reactor, b"", close=False)
    agent = client.Agent(reactor, pool=client.HTTPConnectionPool(reactor, False, parser=parser))
    try:
        deferred = agent.request(b"GET", url)
        for _ in range(10):
            reactor.iterate(0.01)
        deferred.cancel()
        with pytest.raises(CancelledError):
            runUntil(reactor, deferred)
    finally:
        runUntil(reactor, maybeDeferred(port.stopListening))


def test_getPage(reactor, runUntil, web):
    assert runUntil(reactor, client.getPage(web.u("/r302"), reactor=reactor)) == b"hello"
    with pytest.raises(Error) as caught:
        runUntil(reactor, client.getPage(web.u("/missing"), reactor=reactor))
    assert caught.value.status == b"404"


def test_httpsVerifiedByDefault(reactor, parser, runUntil, tlsCertificates):
    from reactor.ssl import CertificateOptions

    leaf = tlsCertificates.privateCertificate(tlsCertificates.server)
    options = CertificateOptions(privateKey=leaf.privateKey.original, certificate=leaf.original)
    web = Web(reactor, parser, options)
    try:
        trusted = client.BrowserLikePolicyForHTTPS(
            trustRootFromCertificates([tlsCertificates.caCertificate()])
        )
        agent = client.Agent(reactor, trusted, pool=client.HTTPConnectionPool(reactor, False))
        assert get(reactor, runUntil, agent, web.u("/length"))[1] == b"hello"
        untrusted = client.BrowserLikePolicyForHTTPS(
            trustRootFromCertificates([tlsCertificates.caCertificate(tlsCertificates.untrustedCA)])
        )
        agent = client.Agent(reactor, untrusted, pool=client.HTTPConnectionPool(reactor, False))
        with pytest.raises(client.ResponseNeverReceived):
            runUntil(reactor, agent.request(b"GET", web.u("/length")))
    finally:
        runUntil(reactor, maybeDeferred(web.port.stopListening))


def test_responseTimeoutOnAClock(parser):
    clock = MemoryReactorClock()
    protocol = client.HTTP11ClientProtocol(reactor=clock, parser=parser)
    transport = StringTransport()
    protocol.makeConnection(transport)
    request = client.Request(b"GET", b"/", client.Headers(), None, True)
    results = []
    protocol.request(request, timeout=5).addBoth(results.append)
    clock.advance(4.9)
    assert results == [] and not transport.disconnecting
    clock.advance(0.1)
    assert results[0].check(client.ResponseNeverReceived)
    assert transport.disconnecting or transport.disconnected


def _urlparsed(uri, defaultPort=None):
    # URI.fromBytes's parts as urllib.parse.urlparse gives them (its only
    # implementation before the fast path for http URIs).
    parsed = urlparse(uri.strip())
    host = parsed.hostname or b""
    try:
        port = parsed.port
    except ValueError:
        port = None
    if port is None:
        port = (
            defaultPort if defaultPort is not None else (443 if parsed.scheme == b"https" else 80)
        )
    if not host and parsed.netloc:
        host = parsed.netloc.rsplit(b":", 1)[0]
    fields = (parsed.scheme, parsed.netloc, host, port, parsed.path, parsed.params, parsed.query)
    return (*fields, parsed.fragment)


def _uriParts(uri, defaultPort=None):
    parsed = client.URI.fromBytes(uri, defaultPort)
    fields = (parsed.scheme, parsed.netloc, parsed.host, parsed.port, parsed.path, parsed.params)
    return (*fields, parsed.query, parsed.fragment)


def _sameAsUrlparse(uri, defaultPort=None):
    try:
        expected = _urlparsed(uri, defaultPort)
    except (ValueError, UnicodeError) as e:
        with pytest.raises(type(e)):
            _uriParts(uri, defaultPort)
        return
    assert _uriParts(uri, defaultPort) == expected
    parsed = client.URI.fromBytes(uri, defaultPort)
    target = urlunparse((b"", b"", parsed.path or b"/", parsed.params, parsed.query, b""))
    assert parsed.originForm == target


@pytest.mark.parametrize(
    "uri",
    [
        b"http://example.com",
        b"http://Example.COM:8080/a/b;p?q=1&r#frag",
        b"HTTPS://example.com/",
        b"https://user:pw@[::1]:8443/x;y/z;w?#",
        b"http://[::1]/",
        b"http://host:0/",
        b"http://host:99999/",
        b"http://host:x/",
        b"http://host:/p",
        b"http:///p",
        b"http://host/a?b?c#d#e",
        b"http://host/%2e%2e/;;?;",
        b"  http://host/padded  ",
        b"http://host/with space",
        b"http://ho\\st/",
        b"http://[::1/",
        b"http://h\xc3\xa9/",
        b"Http://host/",
        b"ftp://host/file",
        b"/relative?x",
    ],
)
def test_uriPartsAreUrlparses(uri):
    # URI.fromBytes splits http(s) URIs itself: each part, and the request
    # target made of them, is what urlparse gives.
    _sameAsUrlparse(uri)
    _sameAsUrlparse(uri, defaultPort=8000)


@settings(max_examples=300, deadline=None)
@given(
    scheme=st.sampled_from([b"http", b"https", b"HTTP", b"hTtp", b"ftp"]),
    rest=st.binary(max_size=40)
    | st.text(alphabet="ab:@[]/?#;%.1 \\\t", max_size=40).map(str.encode),
)
def test_anyUriPartsAreUrlparses(scheme, rest):
    _sameAsUrlparse(scheme + b"://" + rest)


class CountingTransport(StringTransport):
    pauses = 0

    def pauseProducing(self):
        self.pauses += 1
        StringTransport.pauseProducing(self)


def _clientOnAClock(parser):
    clock = MemoryReactorClock()
    protocol = client.HTTP11ClientProtocol(reactor=clock, parser=parser)
    transport = CountingTransport()
    protocol.makeConnection(transport)
    request = client.Request(b"GET", b"/", client.Headers(), None, True)
    return protocol, transport, protocol.request(request)


class Collect(Protocol):
    def __init__(self):
        self.data = []

    def dataReceived(self, data):
        self.data.append(data)


def test_bodyDeliveredAtOnceNeverPausesTheSocket(parser):
    # The proxy's case: deliverBody is called as the head arrives; reading
    # is not paused and resumed for nothing.
    protocol, transport, asked = _clientOnAClock(parser)
    body = Collect()
    asked.addCallback(lambda response: response.deliverBody(body))
    protocol.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n")
    protocol.dataReceived(b"ab")
    protocol.dataReceived(b"cd")
    assert b"".join(body.data) == b"abcd"
    assert transport.pauses == 0 and transport.producerState == "producing"


def test_bodyWaitingForDeliverBodyPausesTheSocket(parser):
    protocol, transport, asked = _clientOnAClock(parser)
    responses = []
    asked.addCallback(responses.append)
    protocol.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\n")
    assert transport.producerState == "producing"
    protocol.dataReceived(b"ab")
    assert transport.producerState == "paused"
    body = Collect()
    responses[0].deliverBody(body)
    assert transport.producerState == "producing"
    protocol.dataReceived(b"cd")
    assert b"".join(body.data) == b"abcd"


def _pooledConnections(clock, count):
    connections = []
    for _ in range(count):
        connection = client.HTTP11ClientProtocol(reactor=clock)
        connection.makeConnection(StringTransport())
        connections.append(connection)
    return connections


def test_idleConnectionsShareOneTimer():
    # Keeping a connection and taking it back costs no timed call of its
    # own: the pool's one timer stays the same however many cycles.
    clock = MemoryReactorClock()
    pool = client.HTTPConnectionPool(clock)
    pool.maxPersistentPerHost = 10
    key = (b"http", b"example.com", 80)
    connections = _pooledConnections(clock, 3)
    for connection in connections:
        pool._putConnection(key, connection)
    timers = clock.getDelayedCalls()
    assert len(timers) == 1
    for _ in range(50):
        taken = runNow(pool.getConnection(key, None))
        pool._putConnection(key, taken)
    assert clock.getDelayedCalls() == timers


def test_idleConnectionsExpireAfterCachedConnectionTimeout():
    clock = MemoryReactorClock()
    pool = client.HTTPConnectionPool(clock)
    key = (b"http", b"example.com", 80)
    first, second = _pooledConnections(clock, 2)
    pool._putConnection(key, first)
    clock.advance(100)
    pool._putConnection(key, second)
    clock.advance(139.9)
    assert not first.transport.disconnecting
    clock.advance(0.1)  # 240 s idle: closed; the other has 100 s left
    assert first.transport.disconnecting and not second.transport.disconnecting
    assert runNow(pool.getConnection(key, None)) is second
    pool._putConnection(key, second)  # idle again from now
    clock.advance(239)
    assert not second.transport.disconnecting
    clock.advance(1)
    assert second.transport.disconnecting
    assert clock.getDelayedCalls() == []


def runNow(deferred):
    results = []
    deferred.addBoth(results.append)
    assert len(results) == 1
    return results[0]


def test_responseTimeoutsShareOneTimer(parser):
    # A kept-alive connection's requests reuse one timed call: the second
    # request's deadline is kept all the same.
    clock = MemoryReactorClock()
    protocol = client.HTTP11ClientProtocol(reactor=clock, parser=parser)
    protocol.makeConnection(StringTransport())
    first = []
    request = client.Request(b"GET", b"/", client.Headers(), None, True)
    protocol.request(request, timeout=5).addBoth(first.append)
    timers = clock.getDelayedCalls()
    protocol.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n")
    assert first[0].code == 200 and protocol.state == "QUIESCENT"
    clock.advance(1)
    second = []
    protocol.request(request, timeout=5).addBoth(second.append)
    assert clock.getDelayedCalls() == timers
    clock.advance(4.8)
    assert second == []  # past the first request's deadline (5), not its own (6)
    clock.advance(0.3)
    assert second[0].check(client.ResponseNeverReceived)


class HeadAnswer:
    """An answer to HTTP11ClientProtocol.send told of the head (wantsHead)."""

    wantsHead = True
    called = False

    def __init__(self, take=True):
        self.take = take
        self.heads = []
        self.data = []
        self.reasons = []
        self.failures = []

    def headReceived(self, head, connection):
        self.called = True
        self.heads.append((head.code, head.phrase, head.headers, head.length, connection))
        return self if self.take else None

    def errback(self, reason):
        self.called = True
        self.failures.append(reason)

    def dataReceived(self, data):
        self.data.append(data)

    def connectionLost(self, reason):
        self.reasons.append(reason)


def _sentWithAHeadAnswer(parser, answer, method=b"GET"):
    protocol = client.HTTP11ClientProtocol(reactor=MemoryReactorClock(), parser=parser)
    transport = CountingTransport()
    protocol.makeConnection(transport)
    protocol.send(client.Request(method, b"/", client.Headers(), None, True), answer)
    return protocol, transport


def test_aHeadAnswerIsToldOfTheHeadAndTakesTheBody(parser, monkeypatch):
    # No Response is made for an answer that wants the head: it gets the
    # ResponseHead and the connection, and the body goes to what it returns.
    monkeypatch.setattr(_newclient, "Response", None)
    answer, quiet = HeadAnswer(), []
    protocol, transport = _sentWithAHeadAnswer(parser, answer)
    protocol._quiescentCallback = quiet.append
    protocol.dataReceived(b"HTTP/1.1 201 Made\r\nContent-Length: 4\r\nX-A: b\r\n\r\nab")
    protocol.dataReceived(b"cd")
    [(code, phrase, headers, length, connection)] = answer.heads
    assert (code, phrase, headers[b"X-A"], length) == (201, b"Made", [b"b"], 4)
    assert connection is protocol and b"".join(answer.data) == b"abcd"
    [reason] = answer.reasons
    assert reason.check(client.ResponseDone) and quiet == [protocol]
    assert transport.pauses == 0 and not transport.disconnecting


def test_aHeadAnswersBodyIsPausedThroughTheConnection(parser):
    # The connection is the body's push producer: pausing it stops the
    # socket's reading, until resumed or the body ends.
    answer = HeadAnswer()
    protocol, transport = _sentWithAHeadAnswer(parser, answer)
    protocol.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
    protocol.pauseProducing()
    assert transport.producerState == "paused"
    protocol.resumeProducing()
    assert transport.producerState == "producing"
    protocol.pauseProducing()
    protocol.dataReceived(b"cd")  # (what was read already is delivered)
    assert transport.producerState == "producing" and answer.reasons


def test_aHeadAnswerTakingNoBodyAbortsTheConnection(parser):
    answer = HeadAnswer(take=False)
    protocol, transport = _sentWithAHeadAnswer(parser, answer)
    protocol.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
    assert transport.aborted and answer.heads and not answer.data


def test_aHeadAnswersBodyStoppedOrCutShortFails(parser):
    # stopProducing aborts the connection; its loss, mid-body, ends the
    # body with ResponseFailed (as a Response's protocol is told).
    answer = HeadAnswer()
    protocol, transport = _sentWithAHeadAnswer(parser, answer)
    protocol.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nab")
    protocol.stopProducing()
    assert transport.aborted
    protocol.connectionLost(Failure(ConnectionDone()))
    [reason] = answer.reasons
    assert reason.check(client.ResponseFailed)
    assert reason.value.reasons[0].check(_newclient.ConnectionAborted)


def test_aHeadAnswerToHEADGetsNoBody(parser):
    answer = HeadAnswer()
    protocol, transport = _sentWithAHeadAnswer(parser, answer, method=b"HEAD")
    protocol.dataReceived(b"HTTP/1.1 200 OK\r\nContent-Length: 40\r\n\r\n")
    assert answer.heads[0][3] == 0 and answer.data == []
    assert answer.reasons[0].check(client.ResponseDone)


def test_aPreparedRequestWritesItsLinesAndTheFraming():
    # The proxy's request: its lines as given, the framing added as a
    # Request adds it, and headers read back from the lines when asked.
    lines = b"POST /p HTTP/1.1\r\nHost: h\r\nX-A: 1\r\nX-A: 2\r\n"
    prepared = _newclient._PreparedRequest(b"POST", b"/p", lines, None, True)
    assert prepared._head() == lines + b"Content-Length: 0\r\n\r\n"
    assert prepared.headers.getRawHeaders(b"x-a") == [b"1", b"2"]
    get = _newclient._PreparedRequest(b"GET", b"/p", b"GET /p HTTP/1.1\r\nHost: h\r\n", None, False)
    assert get._head() == b"GET /p HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"
    get.headers = client.Headers({b"host": [b"other"]})
    assert get._head() == b"GET /p HTTP/1.1\r\nHost: other\r\nConnection: close\r\n\r\n"


def test_theTLSStackAndTheEmailPackageAreImportedWhenFirstUsed():
    """
    A web server, reverse proxy or client that speaks no TLS, reads no
    multipart form and keeps no cookies does not load OpenSSL, the email
    package or urllib.request: their objects (OpenSSL's alone a third of a
    proxy's) would be walked by every full collection of the garbage
    collector.  Using each loads it.
    """
    child = (
        "import sys\n"
        "from protocols.web import client, proxy, server, static\n"
        "from protocols.web._forms import formArguments\n"
        "proxy.ReverseProxyResource('127.0.0.1', 8080, '/')\n"
        "from reactor.testing import MemoryReactorClock\n"
        "client.Agent(MemoryReactorClock())\n"
        "lazy = ('OpenSSL', 'email', 'urllib.request')\n"
        "assert not [m for m in lazy if m in sys.modules], 'imported at once'\n"
        "client.BrowserLikePolicyForHTTPS().creatorForNetloc(b'example.com', 443)\n"
        "assert 'OpenSSL' in sys.modules, 'OpenSSL not imported when asked'\n"
        "assert formArguments(b'multipart/form-data; boundary=b', b'--b--\\r\\n') == {}\n"
        "assert 'email' in sys.modules, 'email not imported when asked'\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", child],
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__)))),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr[-2000:]
