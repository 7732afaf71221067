"""
The reverse proxy over real sockets, on every reactor and both parsers: a
Loom Site backend on loopback behind a Site with a ReverseProxyResource,
asked through the HTTP client.  Forwarding of method, path, query, headers
and body; Host preserved or not; X-Forwarded-*; hop-by-hop headers
dropped; keep-alive reuse counted on the backend; 502 on a refused or
reset backend, 504 on a silent one; the client's disconnect reaching the
backend; an https backend.  Last, the proxy in a subprocess keeps its
memory bounded while far more than the bound streams through it, down to
a slow client and up to a slow backend.
"""

import io
import json
import os
import socket
import subprocess
import sys
import time

import pytest
from zope.interface import implementer

from protocols.protocol import Factory, Protocol
from protocols.web import client, proxy, resource, server
from protocols.web._clientparser import ResponseHead
from protocols.web._headers import _table
from reactor.defer import CancelledError, Deferred, maybeDeferred
from reactor.error import ConnectionDone, ConnectionRefusedError
from reactor.failure import Failure
from reactor.interfaces import IConsumer
from reactor.ssl import CertificateOptions, trustRootFromCertificates
from reactor.task import Cooperator
from reactor.testing import MemoryReactorClock, StringTransport
from reactor.threads import deferToThread
from tests.protocols.web.test_clientedges import OK, scripted
from tests.protocols.web.test_sockets import CountingChannel

pytestmark = pytest.mark.timeout(60)


class Echo(resource.Resource):
    """Answers 201 with what it was asked, as JSON, and headers of its own."""

    isLeaf = True

    def render(self, request):
        request.setResponseCode(201)
        request.setHeader(b"x-backend", b"yes")
        request.setHeader(b"x-hop", b"1")
        request.setHeader(b"connection", b"x-hop")
        request.setHeader(b"proxy-authenticate", b"Basic")
        headers = {
            name.decode().lower(): [value.decode() for value in values]
            for name, values in request.requestHeaders.getAllRawHeaders()
        }
        answer = {
            "method": request.method.decode(),
            "uri": request.uri.decode(),
            "headers": headers,
            "body": request.content.read().decode(),
        }
        return json.dumps(answer).encode()


class Hang(resource.Resource):
    """Never answers; ``lost`` fires when the connection of a request closes."""

    isLeaf = True

    def __init__(self):
        resource.Resource.__init__(self)
        self.arrived = Deferred()
        self.lost = Deferred()

    def render_GET(self, request):
        request.notifyFinish().addErrback(lambda _: self.lost.callback(None))
        self.arrived.callback(None)
        return server.NOT_DONE_YET


class Endless(resource.Resource):
    """Streams a body without end; ``lost`` fires when its connection closes."""

    isLeaf = True

    def __init__(self):
        resource.Resource.__init__(self)
        self.lost = Deferred()

    def render_GET(self, request):
        request.notifyFinish().addErrback(lambda _: self.lost.callback(None))
        request.registerProducer(Forever(request), False)
        return server.NOT_DONE_YET


class Forever:
    def __init__(self, request):
        self.request = request

    def resumeProducing(self):
        self.request.write(b"z" * (1 << 16))

    def stopProducing(self):
        pass


class Sink(resource.Resource):
    """Streams a body away; ``arrived`` fires with its first piece, ``lost`` on close."""

    isLeaf = True
    streamRequestBody = True

    def __init__(self):
        resource.Resource.__init__(self)
        self.arrived = Deferred()
        self.lost = Deferred()

    def render_POST(self, request):
        request.notifyFinish().addErrback(lambda _: self.lost.callback(None))
        sink = self

        @implementer(IConsumer)
        class First:
            def registerProducer(self, producer, streaming):
                pass

            def unregisterProducer(self):
                pass

            def write(self, data):
                if not sink.arrived.called:
                    sink.arrived.callback(None)

        request.streamBody(First()).addErrback(lambda _: None)
        return server.NOT_DONE_YET


class Backend:
    def __init__(self, reactor, parser, contextFactory=None):
        root = resource.Resource()
        root.putChild(b"base", Echo())
        self.hang = Hang()
        root.putChild(b"hang", self.hang)
        self.endless = Endless()
        root.putChild(b"endless", self.endless)
        self.sink = Sink()
        root.putChild(b"sink", self.sink)
        small = Echo()
        small.maxRequestBodySize = 1000
        root.putChild(b"small", small)
        self.site = server.Site(root, reactor=reactor, parser=parser)
        self.site.noisy = False
        self.site.protocol = CountingChannel
        self.site.opened = self.site.closed = 0
        if contextFactory is None:
            self.port = reactor.listenTCP(0, self.site, interface="127.0.0.1")
        else:
            self.port = reactor.listenSSL(0, self.site, contextFactory, interface="127.0.0.1")
        self.portNumber = self.port.getHost().port


class Front:
    """A Site whose /p is a ReverseProxyResource(host, port, path, **kwargs)."""

    def __init__(self, reactor, parser, port, path=b"/base", **kwargs):
        self.pool = client.HTTPConnectionPool(reactor, persistent=True, parser=parser)
        self.resource = proxy.ReverseProxyResource(
            "127.0.0.1", port, path, reactor=reactor, pool=self.pool, **kwargs
        )
        root = resource.Resource()
        root.putChild(b"p", self.resource)
        self.site = server.Site(root, reactor=reactor, parser=parser)
        self.site.noisy = False
        self.site.protocol = CountingChannel
        self.site.opened = self.site.closed = 0
        self.port = reactor.listenTCP(0, self.site, interface="127.0.0.1")
        self.url = "http://127.0.0.1:%d" % (self.port.getHost().port,)

    def u(self, path):
        return (self.url + path).encode("ascii")


@pytest.fixture
def backend(reactor, parser, runUntil):
    served = Backend(reactor, parser)
    yield served
    runUntil(reactor, maybeDeferred(served.port.stopListening))


@pytest.fixture
def stack(reactor, parser, runUntil, backend, request):
    kwargs = getattr(request, "param", {})
    front = Front(reactor, parser, backend.portNumber, **kwargs)
    agent = client.Agent(reactor, pool=client.HTTPConnectionPool(reactor, False, parser=parser))
    yield front, agent
    runUntil(reactor, maybeDeferred(front.port.stopListening))
    runUntil(reactor, front.pool.closeCachedConnections())


def ask(reactor, runUntil, agent, url, method=b"GET", headers=None, body=None):
    producer = None
    if body is not None:
        cooperator = Cooperator(scheduler=lambda step: reactor.callLater(0, step))
        producer = client.FileBodyProducer(io.BytesIO(body), cooperator)
    response = runUntil(reactor, agent.request(method, url, headers, producer))
    return response, runUntil(reactor, client.readBody(response))


def test_forwardsMethodPathQueryHeadersAndBody(reactor, runUntil, stack):
    front, agent = stack
    headers = client.Headers({b"x-custom": [b"one"]})
    response, body = ask(
        reactor, runUntil, agent, front.u("/p/a/b%20c?x=1&y=2"), b"PUT", headers, b"the body"
    )
    seen = json.loads(body)
    assert response.code == 201
    assert response.headers.getRawHeaders(b"x-backend") == [b"yes"]
    assert seen["method"] == "PUT"
    assert seen["uri"] == "/base/a/b%20c?x=1&y=2"
    assert seen["headers"]["x-custom"] == ["one"]
    assert seen["body"] == "the body"


class _InFront(resource.Resource):
    """A leaf in front of a proxy: keeps each request, and may add a header."""

    isLeaf = True
    streamRequestBody = True  # (as the proxy asks)

    def __init__(self, inner, added=None):
        resource.Resource.__init__(self)
        self.inner = inner
        self.added = added
        self.requests = []

    def render(self, request):
        self.requests.append(request)
        if self.added is not None:
            request.requestHeaders.setRawHeaders(b"x-added", [self.added])
        return self.inner.render(request)


@pytest.mark.parametrize("added", [None, b"by-front"])
def test_theRequestHeadersAsTheProxyFindsThem(reactor, parser, runUntil, backend, added):
    # The proxy reads the client's headers without making the Request keep
    # a Headers for them (a hundred requests in flight would keep a hundred,
    # and the garbage collector runs the more); headers changed through
    # requestHeaders before it are the ones forwarded.
    front = Front(reactor, parser, backend.portNumber)
    inFront = _InFront(front.resource, added)
    site = server.Site(inFront, reactor=reactor, parser=parser)
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    try:
        agent = client.Agent(reactor, pool=client.HTTPConnectionPool(reactor, False, parser=parser))
        url = b"http://127.0.0.1:%d/a?b=1" % (port.getHost().port,)
        headers = client.Headers({b"x-custom": [b"one"]})
        response, body = ask(reactor, runUntil, agent, url, headers=headers)
    finally:
        runUntil(reactor, maybeDeferred(port.stopListening))
        runUntil(reactor, maybeDeferred(front.port.stopListening))
        runUntil(reactor, front.pool.closeCachedConnections())
    seen = json.loads(body)
    assert response.code == 201 and seen["uri"] == "/base/a?b=1"
    assert seen["headers"]["x-custom"] == ["one"]
    [request] = inFront.requests
    if added is None:
        assert "x-added" not in seen["headers"]
        assert request._headers is None
    else:
        assert seen["headers"]["x-added"] == ["by-front"]


@pytest.mark.parametrize("stack", [{"preserveHost": True}, {}], indirect=True)
def test_preserveHost(reactor, runUntil, stack, backend):
    front, agent = stack
    headers = client.Headers({b"host": [b"www.example.com"]})
    seen = json.loads(ask(reactor, runUntil, agent, front.u("/p/"), headers=headers)[1])
    if front.resource.preserveHost:
        assert seen["headers"]["host"] == ["www.example.com"]
    else:
        assert seen["headers"]["host"] == ["127.0.0.1:%d" % (backend.portNumber,)]
    assert seen["headers"]["x-forwarded-host"] == ["www.example.com"]


def test_xForwardedHeaders(reactor, runUntil, stack):
    front, agent = stack
    headers = client.Headers(
        {b"x-forwarded-for": [b"203.0.113.9"], b"x-forwarded-proto": [b"https"]}
    )
    seen = json.loads(ask(reactor, runUntil, agent, front.u("/p"), headers=headers)[1])
    assert seen["uri"] == "/base"
    assert seen["headers"]["x-forwarded-for"] == ["203.0.113.9, 127.0.0.1"]
    assert seen["headers"]["x-forwarded-proto"] == ["http"]
    assert seen["headers"]["x-forwarded-host"] == [front.url[len("http://") :]]


@pytest.mark.parametrize(
    "stack, paths, expected",
    [
        (
            {"path": "/"},
            ["/p/base/a?x=1", "/p/base/", "/p/base"],
            ["/base/a?x=1", "/base/", "/base"],
        ),
        ({"path": b"/base/"}, ["/p/a/b?x=1", "/p/", "/p"], ["/base/a/b?x=1", "/base/", "/base/"]),
    ],
    indirect=["stack"],
)
def test_aPathEndingInASlashIsNotDoubled(reactor, runUntil, stack, paths, expected):
    # ReverseProxyResource(host, 80, '/'), as Twisted's examples write it (a
    # str path), forwards /a as /a where Twisted forwards //a.
    front, agent = stack
    seen = [json.loads(ask(reactor, runUntil, agent, front.u(path))[1])["uri"] for path in paths]
    assert seen == expected


def test_hopByHopHeadersAreRemoved(reactor, runUntil, stack):
    front, agent = stack
    headers = client.Headers(
        {
            b"connection": [b"x-drop"],
            b"x-drop": [b"1"],
            b"keep-alive": [b"timeout=5"],
            b"te": [b"trailers"],
            b"proxy-authorization": [b"Basic xyz"],
            b"upgrade": [b"websocket"],
        }
    )
    response, body = ask(reactor, runUntil, agent, front.u("/p"), headers=headers)
    seen = json.loads(body)["headers"]
    for name in ("x-drop", "keep-alive", "te", "proxy-authorization", "upgrade"):
        assert name not in seen
    assert seen.get("connection") != ["x-drop"]
    assert not response.headers.hasHeader(b"x-hop")
    assert not response.headers.hasHeader(b"proxy-authenticate")


def test_keepAliveConnectionsToTheBackendAreReused(reactor, runUntil, stack, backend):
    front, agent = stack
    for n in range(3):
        response, body = ask(reactor, runUntil, agent, front.u("/p/%d" % (n,)))
        assert json.loads(body)["uri"] == "/base/%d" % (n,)
    assert backend.site.opened == 1


def freePort():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Rude(Protocol):
    """Resets the connection once a request arrives, or stays silent."""

    def dataReceived(self, data):
        if self.factory.reset:
            self.transport.abortConnection()


def rudeBackend(reactor, reset):
    factory = Factory.forProtocol(Rude)
    factory.reset = reset
    return reactor.listenTCP(0, factory, interface="127.0.0.1")


def test_refusedIs502(reactor, parser, runUntil):
    front = Front(reactor, parser, freePort())
    agent = client.Agent(reactor, pool=client.HTTPConnectionPool(reactor, False, parser=parser))
    try:
        response, body = ask(reactor, runUntil, agent, front.u("/p"))
        assert response.code == 502
    finally:
        runUntil(reactor, maybeDeferred(front.port.stopListening))


@pytest.mark.parametrize("reset, code", [(True, 502), (False, 504)])
def test_resetIs502AndSilenceIs504(reactor, parser, runUntil, reset, code):
    rude = rudeBackend(reactor, reset)
    front = Front(reactor, parser, rude.getHost().port, timeout=0.5)
    agent = client.Agent(reactor, pool=client.HTTPConnectionPool(reactor, False, parser=parser))
    try:
        response, body = ask(reactor, runUntil, agent, front.u("/p"))
        assert response.code == code
    finally:
        runUntil(reactor, maybeDeferred(front.port.stopListening))
        runUntil(reactor, maybeDeferred(rude.stopListening))
        runUntil(reactor, front.pool.closeCachedConnections())


@pytest.mark.parametrize("stack", [{"path": b""}], indirect=True)
def test_clientDisconnectCancelsTheBackendRequest(reactor, runUntil, stack, backend):
    front, agent = stack
    asked = agent.request(b"GET", front.u("/p/hang"))
    runUntil(reactor, backend.hang.arrived)
    asked.cancel()
    with pytest.raises(CancelledError):
        runUntil(reactor, asked)
    runUntil(reactor, backend.hang.lost)


@pytest.mark.parametrize("stack", [{"path": b""}], indirect=True)
def test_clientDisconnectCancelsARequestOnAReusedConnection(reactor, runUntil, stack, backend):
    # The second request goes at once on the first's idle connection (no
    # handle between them): the client's going away aborts it all the same.
    front, agent = stack
    assert ask(reactor, runUntil, agent, front.u("/p/base/warm"))[0].code == 201
    asked = agent.request(b"GET", front.u("/p/hang"))
    runUntil(reactor, backend.hang.arrived)
    assert backend.site.opened == 1
    asked.cancel()
    with pytest.raises(CancelledError):
        runUntil(reactor, asked)
    runUntil(reactor, backend.hang.lost)


class TakeSome(Protocol):
    """Reads some of a body, then gives up (closing the client's connection)."""

    def __init__(self):
        self.received = 0
        self.done = Deferred()

    def dataReceived(self, data):
        self.received += len(data)
        if self.received > 1 << 20 and not self.done.called:
            self.transport.stopProducing()
            self.done.callback(None)


@pytest.mark.parametrize("stack", [{"path": b""}], indirect=True)
def test_clientDisconnectMidBodyClosesTheBackendConnection(reactor, runUntil, stack, backend):
    front, agent = stack
    response = runUntil(reactor, agent.request(b"GET", front.u("/p/endless")))
    taker = TakeSome()
    response.deliverBody(taker)
    runUntil(reactor, taker.done)
    runUntil(reactor, backend.endless.lost)


@pytest.mark.parametrize("stack", [{"path": b""}], indirect=True)
def test_clientDisconnectMidUploadClosesTheBackendConnection(reactor, runUntil, stack, backend):
    front, agent = stack
    sock = socket.create_connection(("127.0.0.1", front.port.getHost().port), timeout=10)
    try:
        sock.sendall(b"POST /p/sink HTTP/1.1\r\nHost: x\r\nContent-Length: 9999999\r\n\r\n")
        sock.sendall(b"x" * 100_000)
        runUntil(reactor, backend.sink.arrived)
    finally:
        sock.close()
    runUntil(reactor, backend.sink.lost)


def test_headKeepsTheBackendsLength(reactor, runUntil, stack):
    front, agent = stack
    got, body = ask(reactor, runUntil, agent, front.u("/p"))
    head, nothing = ask(reactor, runUntil, agent, front.u("/p"), b"HEAD")
    assert (head.code, nothing) == (201, b"")
    # Echo's answer names the method: "HEAD" is one byte longer than "GET".
    assert head.headers.getRawHeaders(b"content-length") == [b"%d" % (len(body) + 1,)]


@pytest.mark.parametrize("stack", [{"path": b"/small"}], indirect=True)
def test_aBackendsEarlyAnswerReachesTheClient(reactor, runUntil, stack, backend):
    # The backend answers 413 as soon as the head says how long the body
    # is, and reads no more of it: the client gets that answer while still
    # uploading, and every connection closes (the proxy's and the client's
    # Agents give their bodies up).
    front, agent = stack
    response, body = ask(reactor, runUntil, agent, front.u("/p"), b"POST", body=b"u" * (8 << 20))
    assert response.code == 413
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and (
        backend.site.closed < backend.site.opened or front.site.closed < front.site.opened
    ):
        reactor.iterate(0.01)
    assert (backend.site.closed, front.site.closed) == (1, 1)


@pytest.mark.parametrize("stack", [{"path": b""}], indirect=True)
def test_expectContinueIsAnsweredByTheProxyNotTheBackend(reactor, runUntil, stack):
    front, agent = stack
    request = (
        b"POST /p/base HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\n"
        b"Expect: 100-continue\r\nConnection: close\r\n\r\nbody"
    )
    port = front.port.getHost().port
    answer = runUntil(reactor, deferToThread(rawExchange, port, request, _reactor=reactor), 20)
    # The body came with the head, so the 100 may or may not have been sent.
    final = answer.removeprefix(b"HTTP/1.1 100 Continue\r\n\r\n")
    assert final.startswith(b"HTTP/1.1 201 ")
    seen = json.loads(answer[answer.index(b"{") : answer.rindex(b"}") + 1])
    assert seen["body"] == "body"
    assert "expect" not in seen["headers"]


def test_httpsBackend(reactor, parser, runUntil, tlsCertificates):
    leaf = tlsCertificates.privateCertificate(tlsCertificates.server)
    options = CertificateOptions(privateKey=leaf.privateKey.original, certificate=leaf.original)
    backend = Backend(reactor, parser, options)
    trusted = client.BrowserLikePolicyForHTTPS(
        trustRootFromCertificates([tlsCertificates.caCertificate()])
    )
    front = Front(reactor, parser, backend.portNumber, scheme=b"https", contextFactory=trusted)
    untrusting = Front(reactor, parser, backend.portNumber, scheme=b"https")
    agent = client.Agent(reactor, pool=client.HTTPConnectionPool(reactor, False, parser=parser))
    try:
        response, body = ask(reactor, runUntil, agent, front.u("/p/x"), b"POST", None, b"sealed")
        assert (response.code, json.loads(body)["body"]) == (201, "sealed")
        response, body = ask(reactor, runUntil, agent, untrusting.u("/p/x"))
        assert response.code == 502
    finally:
        for each in (front, untrusting):
            runUntil(reactor, maybeDeferred(each.port.stopListening))
            runUntil(reactor, each.pool.closeCachedConnections())
        runUntil(reactor, maybeDeferred(backend.port.stopListening))


# -- memory, with the proxy in a subprocess ----------------------------------------
#
# A GiB each way through the proxy (and its backend, in the same process:
# tests/protocols/web/proxyprocess.py), with the process's RSS sampled as
# it goes.  Each side is slow for its first SLOW bytes, so that the far
# side is held back by backpressure, then fast, so that the whole GiB goes
# through in seconds; DEADLINE bounds each test.

RSS_BOUND = 64 * 1024 * 1024
PUSHED = 1 << 30
SLOW = 16 << 20
DEADLINE = 45


def rss(pid):
    with open("/proc/%d/status" % (pid,)) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    raise AssertionError("no VmRSS for %d" % (pid,))


@pytest.fixture
def proxyProcess():
    process = subprocess.Popen(
        [sys.executable, "-m", "tests.protocols.web.proxyprocess"],
        stdout=subprocess.PIPE,
        cwd=os.path.dirname(os.path.dirname(os.path.dirname(os.path.dirname(__file__)))),
    )
    try:
        port = int(process.stdout.readline())
        yield process, port
    finally:
        process.kill()
        process.wait(10)
        process.stdout.close()


def readHead(sock):
    head = b""
    while b"\r\n\r\n" not in head:
        piece = sock.recv(1)
        assert piece, head
        head += piece
    return head


@pytest.mark.timeout(90)
def test_slowClientKeepsTheProxysMemoryBounded(proxyProcess):
    process, port = proxyProcess
    deadline = time.monotonic() + DEADLINE
    buffer = bytearray(1 << 16)
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(b"GET /big?size=%d HTTP/1.1\r\nHost: x\r\n\r\n" % (PUSHED,))
        assert readHead(sock).startswith(b"HTTP/1.1 200 ")
        received, highest = 0, rss(process.pid)
        while received < PUSHED and time.monotonic() < deadline:
            count = sock.recv_into(buffer)
            assert count
            received += count
            if received < SLOW:
                # Slow: 64 KiB per 10 ms, while the backend could go on.
                highest = max(highest, rss(process.pid))
                time.sleep(0.01)
            elif received % (1 << 24) < count:
                highest = max(highest, rss(process.pid))
        highest = max(highest, rss(process.pid))
    print(
        "slow client: %d MiB through, proxy RSS at most %.1f MB" % (received >> 20, highest / 1e6)
    )
    assert received == PUSHED
    assert highest < RSS_BOUND, (received, highest)


@pytest.mark.timeout(90)
def test_uploadToASlowBackendKeepsTheProxysMemoryBounded(proxyProcess):
    process, port = proxyProcess
    deadline = time.monotonic() + DEADLINE
    block = memoryview(bytes(range(256)) * 256)
    with socket.create_connection(("127.0.0.1", port), timeout=1) as sock:
        sock.sendall(b"POST /slow HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n" % (PUSHED,))
        sent, highest = 0, rss(process.pid)
        while sent < PUSHED and time.monotonic() < deadline:
            try:
                count = sock.send(block[: PUSHED - sent])
            except socket.timeout:
                continue  # the proxy stopped reading: backpressure
            sent += count
            if sent < SLOW or sent % (1 << 24) < count:
                highest = max(highest, rss(process.pid))
        sock.settimeout(max(1, deadline - time.monotonic()))
        answer = readHead(sock)
        answer += sock.recv(100)
        highest = max(highest, rss(process.pid))
    print("slow backend: %d MiB sent, proxy RSS at most %.1f MB" % (sent >> 20, highest / 1e6))
    assert answer.startswith(b"HTTP/1.1 200 ")
    assert answer.endswith(b"\r\n\r\n%d" % (PUSHED,))
    assert highest < RSS_BOUND, (sent, highest)


def rawExchange(port, data):
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        sock.sendall(data)
        answer = b""
        while True:
            piece = sock.recv(1 << 16)
            if not piece:
                return answer
            answer += piece


def test_aBrokenChunkFromTheClientIs400(reactor, runUntil, stack):
    front, agent = stack
    port = front.port.getHost().port
    request = (
        b"POST /p HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\nzz\r\n"
    )
    answer = runUntil(reactor, deferToThread(rawExchange, port, request, _reactor=reactor), 20)
    assert answer.startswith(b"HTTP/1.1 400 ")


class _BodyResponse:
    """A backend response whose body is delivered at once."""

    code, phrase = 200, b"OK"

    def __init__(self, length):
        self.length = length
        self.headers = client.Headers({b"content-length": [b"%d" % (length,)]})

    def deliverBody(self, protocol):
        transport = object()
        protocol.makeConnection(transport)
        protocol.dataReceived(b"x" * self.length)
        protocol.connectionLost(Failure(client.ResponseDone()))
        self.transport = transport


class _RecordingRequest:
    method = b"GET"

    def __init__(self):
        self.responseHeaders = client.Headers()
        self.producers = []
        self.written = []
        self.finished = False

    def setResponseCode(self, code, phrase):
        self.code = code

    def setHeader(self, name, value):
        self.responseHeaders.setRawHeaders(name, [value])

    def registerProducer(self, producer, streaming):
        self.producers.append(producer)

    def unregisterProducer(self):
        self.producers.append(None)

    def write(self, data):
        self.written.append(data)

    def finish(self):
        self.finished = True


class _Connection:
    """The backend connection an exchange is told of with the head."""


def _exchange(request):
    """An exchange for request, whose backend request is a GET of /."""
    return proxy._Exchange(request, b"GET", b"/", b"GET / HTTP/1.1\r\n", None, True)


@pytest.mark.parametrize("length, registered", [(100, False), ((1 << 16) + 1, True)])
def test_smallResponseBodyIsWrittenWithoutRegisteringTheBackend(length, registered):
    # A body known to be small goes to the client without the backend's
    # body transport registered as its producer (nothing to hold back);
    # a larger one is, so that a slow client pauses the backend.
    response, request = _BodyResponse(length), _RecordingRequest()
    _exchange(request).callback(response)
    assert request.finished and sum(map(len, request.written)) == length
    assert request.producers == ([response.transport, None] if registered else [])


@pytest.mark.parametrize("length, registered", [(100, False), ((1 << 16) + 1, True), (None, True)])
def test_aResponseHeadGoesStraightToTheExchange(length, registered):
    # The backend's head reaches the exchange from its connection (no
    # Response): the headers to forward are set, the length when known,
    # and the connection is registered as the producer of a large body or
    # one of unknown length (chunked).
    request, connection = _RecordingRequest(), _Connection()
    exchange = _exchange(request)
    received = {b"Content-Type": [b"text/plain"], b"Connection": [b"X-Hop"], b"X-Hop": [b"1"]}
    head = ResponseHead(200, b"OK", (b"HTTP", 1, 1), received, b"GET", True)
    head.length = length
    assert exchange.headReceived(head, connection) is exchange
    table = _table(request.responseHeaders)
    assert table[b"Content-Type"] == [b"text/plain"]
    assert b"X-Hop" not in table and b"Connection" not in table
    assert table.get(b"Content-Length") == (None if length is None else [b"%d" % (length,)])
    exchange.dataReceived(b"x" * 10)
    exchange.connectionLost(Failure(client.ResponseDone()))
    assert request.finished and request.written == [b"x" * 10]
    assert request.producers == ([connection, None] if registered else [])


@pytest.mark.parametrize(
    "code, received, forwarded",
    [
        (200, [b"10"], None),
        (200, [b"010"], None),
        (200, [b"10", b"10"], [b"10"]),
        (204, [b"10"], [b"0"]),
    ],
    ids=["digits", "leadingZero", "twice", "noContent"],
)
def test_theBackendsContentLengthIsForwardedAsItCame(code, received, forwarded):
    # The backend's Content-Length, one value in digits, is forwarded as it
    # came (not read and written again); otherwise the length the head
    # gives is written (None: as it came).
    request = _RecordingRequest()
    head = ResponseHead(code, b"OK", (b"HTTP", 1, 1), {b"Content-Length": received}, b"GET", True)
    _exchange(request).headReceived(head, _Connection())
    table = _table(request.responseHeaders)
    if forwarded is None:
        assert table[b"Content-Length"] is received
    else:
        assert table[b"Content-Length"] == forwarded


@pytest.mark.parametrize(
    "received, forwarded",
    [
        (
            {b"Content-Length": [b"10"], b"X-A": [b"1"]},
            {b"Content-Length": [b"10"], b"X-A": [b"1"]},
        ),
        ({b"Content-Length": [b"10"], b"Transfer-Encoding": [b"chunked"]}, {}),
        (
            {b"Content-Length": [b"10"], b"Connection": [b"X-A"], b"X-A": [b"1"]},
            {b"Content-Length": [b"10"]},
        ),
    ],
    ids=["plain", "chunkedWithALength", "hopByHopNamed"],
)
def test_theForwardedResponseHeaders(received, forwarded):
    # The backend's headers are forwarded but the hop-by-hop ones and
    # those Connection names; Content-Length only when it frames the body
    # (not beside chunked, which wins).
    request = _RecordingRequest()
    head = ResponseHead(200, b"OK", (b"HTTP", 1, 1), dict(received), b"GET", True)
    _exchange(request).headReceived(head, _Connection())
    table = dict(_table(request.responseHeaders))
    assert table == forwarded


def test_aResponseHeadForAGoneClientIsRefused():
    # The client went away before the head: the exchange takes no body
    # (the connection then aborts the backend's).
    request = _RecordingRequest()
    exchange = _exchange(request)
    exchange.clientGone(Failure(CancelledError()))
    head = ResponseHead(200, b"OK", (b"HTTP", 1, 1), {}, b"GET", True)
    assert exchange.headReceived(head, _Connection()) is None
    assert not hasattr(request, "code")


class _Sending:
    """The Agent's handle on a backend request (what sendRequest returns)."""

    def __init__(self):
        self.called = False  # marked as the sending tells its answer
        self.cancelled = False

    def cancel(self):
        self.cancelled = True


def _sentExchange():
    request, sending = _RecordingRequest(), _Sending()
    exchange = _exchange(request)
    exchange.sending = sending
    return request, sending, exchange


def test_anErrbackBeforeTheSendingToldIsTheClientGoing():
    # The exchange is the backend request's answer and the watch on the
    # client in the request's notifications, both told errback.  Before
    # the sending told it anything, an errback is the watch's: the client
    # went away, and the backend request is cancelled, nothing written.
    request, sending, exchange = _sentExchange()
    exchange.errback(Failure(ConnectionDone()))
    assert exchange.gone and sending.cancelled
    assert not hasattr(request, "code") and not request.finished


def test_anErrbackFromTheSendingIsAnsweredBadGateway():
    # The sending marks itself called, then tells its answer: that errback
    # is the backend request's failure (502); a later one is the watch's.
    request, sending, exchange = _sentExchange()
    sending.called = True
    exchange.errback(Failure(ConnectionRefusedError()))
    assert (request.code, request.finished, exchange.gone) == (502, True, False)
    exchange.errback(Failure(ConnectionDone()))
    assert exchange.gone and not sending.cancelled


def test_anErrbackAfterTheHeadIsTheClientGoing():
    # Once the head came, the watch's errback stops the body's delivery.
    request, sending, exchange = _sentExchange()
    head = ResponseHead(200, b"OK", (b"HTTP", 1, 1), {b"Content-Length": [b"5"]}, b"GET", True)
    assert exchange.headReceived(head, _Connection()) is exchange
    exchange.errback(Failure(ConnectionDone()))
    exchange.dataReceived(b"hello")
    exchange.connectionLost(Failure(client.ResponseDone()))
    assert exchange.gone and request.written == [] and not request.finished


def _sentOnAConnection():
    # An exchange sent at once on a connection (no handle between them).
    request = _RecordingRequest()
    exchange = _exchange(request)
    connection = client.HTTP11ClientProtocol(reactor=MemoryReactorClock())
    transport = StringTransport()
    connection.makeConnection(transport)
    exchange.sending = connection
    connection.send(exchange, exchange, 30)
    return request, exchange, connection, transport


def test_anErrbackWhileTheConnectionOwesTheAnswerIsTheClientGoing():
    # The connection still owes the exchange its answer: an errback is the
    # watch's, and the connection is aborted, its request given up (the
    # exchange is told nothing of that).
    request, exchange, connection, transport = _sentOnAConnection()
    assert transport.value() == b"GET / HTTP/1.1\r\n\r\n"
    exchange.errback(Failure(ConnectionDone()))
    assert exchange.gone and transport.aborted
    connection.connectionLost(Failure(ConnectionDone()))
    assert not hasattr(request, "code") and not request.finished


def test_aFailureFromTheConnectionIsAnsweredBadGateway():
    # The connection lets go of its answer, then tells it: that errback is
    # the backend request's failure (502, nothing sent again: the request
    # went on a connection not known to be reused by the exchange's proxy).
    request, exchange, connection, transport = _sentOnAConnection()
    connection.dataReceived(b"not HTTP\r\n\r\n")
    assert (request.code, request.finished, exchange.gone) == (502, True, False)
    assert exchange.sending is None and exchange.called


def test_theWatchsCallbackIsNothing():
    # callback(None) is the watch's (the client's response was finished).
    request, sending, exchange = _sentExchange()
    exchange.callback(None)
    assert not exchange.called and not exchange.gone and not sending.cancelled
    assert not hasattr(request, "code")


class _Client:
    host = "192.0.2.7"


class _IncomingRequest:
    method = b"GET"
    uri = b"/a?b=1"
    prepath = []

    def getClientAddress(self):
        return _Client()

    def isSecure(self):
        return True


def test_theBackendRequestsLinesHoldHostFirstAndTheForwardingHeaders():
    # The backend request's head is written as the headers are picked:
    # Host first, the client's headers but the hop-by-hop ones and those
    # its Connection names, then X-Forwarded-For (added to the client's),
    # -Proto and -Host.
    resource_ = proxy.ReverseProxyResource("127.0.0.1", 8080, b"/base", reactor=object())
    # The pairs as a parser gives them: names as sent, in order.
    incoming = [
        (b"host", b"front.example"),
        (b"X-Private", b"no"),
        (b"connection", b"keep-alive, X-Private"),
        (b"Keep-Alive", b"300"),
        (b"x-custom", b"1"),
        (b"X-Forwarded-For", b"203.0.113.9"),
        (b"X-CUSTOM", b"2"),
        (b"x-forwarded-for", b"198.51.100.4"),
        (b"X-Forwarded-Proto", b"http"),
        (b"Host", b"second.example"),
    ]
    lines, length = resource_._requestLines(
        _IncomingRequest(), incoming, b"127.0.0.1:8080", b"/base/a"
    )
    assert lines == (
        b"GET /base/a HTTP/1.1\r\nHost: 127.0.0.1:8080\r\n"
        b"X-Custom: 1\r\nX-Custom: 2\r\n"
        b"X-Forwarded-For: 203.0.113.9, 198.51.100.4, 192.0.2.7\r\n"
        b"X-Forwarded-Proto: https\r\nX-Forwarded-Host: front.example\r\n"
    )
    assert length is None


@pytest.mark.parametrize(
    "incoming, length",
    [
        ([(b"Content-Length", b"12")], 12),
        ([(b"content-length", b"0")], None),
        ([(b"Transfer-Encoding", b"chunked")], client.UNKNOWN_LENGTH),
        ([(b"Accept", b"*/*")], None),
    ],
)
def test_theBackendRequestsBodyLengthIsTheClients(incoming, length):
    # What the client's headers say of its body: the backend request's
    # body producer is made for that length (none for an empty body).
    resource_ = proxy.ReverseProxyResource("127.0.0.1", 8080, b"/base", reactor=object())
    lines, found = resource_._requestLines(_IncomingRequest(), incoming, b"h", b"/")
    assert found == length
    assert b"Content-Length" not in lines and b"Transfer-Encoding" not in lines


def test_proxiedResponsesMakeNoResponse(reactor, runUntil, stack, monkeypatch):
    # The proxy's backend requests are answered without a Response object
    # (only the test's own client, asking the proxy, makes one).
    front, agent = stack
    made = []
    original = client.Response.__init__

    def counting(self, head, request, channel):
        made.append(type(request).__name__)
        original(self, head, request, channel)

    monkeypatch.setattr(client.Response, "__init__", counting)
    for n in range(2):
        response, body = ask(reactor, runUntil, agent, front.u("/p/%d" % (n,)))
        assert (response.code, json.loads(body)["uri"]) == (201, "/base/%d" % (n,))
    assert made == ["Request", "Request"]


def test_requestsGoToThePoolWithoutAgentRequest(reactor, runUntil, stack, backend, monkeypatch):
    # Each request is sent, prepared, through Agent.sendRequest: no URI is
    # parsed and no Headers copied by Agent.request on the way.
    front, agent = stack

    def refuse(*args, **kwargs):
        raise AssertionError("Agent.request was called")

    monkeypatch.setattr(front.resource.agent, "request", refuse)
    for n in range(2):
        response, body = ask(reactor, runUntil, agent, front.u("/p/%d" % (n,)))
        assert (response.code, json.loads(body)["uri"]) == (201, "/base/%d" % (n,))
    assert backend.site.opened == 1


def test_aRequestOnAnIdleConnectionIsSentWithoutAHandle(
    reactor, runUntil, stack, backend, monkeypatch
):
    # Once the pool holds an idle connection, a request is sent on it at
    # once, the exchange its answer: the Agent makes no _Sending for it.
    front, agent = stack
    assert ask(reactor, runUntil, agent, front.u("/p/0"))[0].code == 201
    made = []
    real = client._Sending

    def counting(sender, *args, **kwargs):
        if sender is front.resource.agent:  # (not the test's own Agent)
            made.append(args)
        return real(sender, *args, **kwargs)

    monkeypatch.setattr(client, "_Sending", counting)
    for n in range(1, 3):
        response, body = ask(reactor, runUntil, agent, front.u("/p/%d" % (n,)))
        assert (response.code, json.loads(body)["uri"]) == (201, "/base/%d" % (n,))
    assert (made, backend.site.opened) == ([], 1)


@pytest.mark.parametrize(
    "script, code, opened",
    [(([OK, None], [OK]), 200, 2), (([OK, None], [None], [OK]), 502, 2)],
    ids=["retried", "once"],
)
def test_aReusedBackendConnectionClosedIsRetriedOnce(
    reactor, parser, runUntil, monkeypatch, script, code, opened
):
    # The backend closes a kept-alive connection as the second request
    # comes (its keep-alive ran out): the proxy sends it once more, on a
    # new connection; if that one closes too, the client gets 502.
    # The second request went at once on the idle connection, so the
    # exchange itself sends it again, through a fresh _Sending.
    factory = scripted(*script)
    listening = reactor.listenTCP(0, factory, interface="127.0.0.1")
    front = Front(reactor, parser, listening.getHost().port, path=b"")
    agent = client.Agent(reactor, pool=client.HTTPConnectionPool(reactor, False, parser=parser))
    fresh = []
    real = client._Sending

    def recording(sender, *args, **kwargs):
        if sender is front.resource.agent:  # (not the test's own Agent)
            fresh.append(kwargs.get("fresh", False))
        return real(sender, *args, **kwargs)

    monkeypatch.setattr(client, "_Sending", recording)
    try:
        assert ask(reactor, runUntil, agent, front.u("/p"))[1] == b"ok"
        response, body = ask(reactor, runUntil, agent, front.u("/p"))
        assert (response.code, factory.opened) == (code, opened)
        assert factory.requests == [b"GET", b"GET", b"GET"]
        assert fresh == [False, True]  # the first request's, then the exchange's
    finally:
        runUntil(reactor, maybeDeferred(front.port.stopListening))
        runUntil(reactor, maybeDeferred(listening.stopListening))
        runUntil(reactor, front.pool.closeCachedConnections())


@pytest.mark.parametrize(
    "answer, contentType",
    [
        (b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", None),
        (
            b"HTTP/1.1 200 OK\r\nContent-Type: image/png\r\nContent-Length: 5\r\n\r\nhello",
            b"image/png",
        ),
        (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n", None),
    ],
)
def test_theBackendsContentTypeIsForwardedOrNone(reactor, parser, runUntil, answer, contentType):
    """
    The proxy adds no Content-Type of its own (the Site's default,
    text/html, would make an untyped response HTML to the client).
    """
    backend = reactor.listenTCP(0, scripted([answer]), interface="127.0.0.1")
    front = Front(reactor, parser, backend.getHost().port)
    try:
        raw = runUntil(
            reactor,
            deferToThread(
                rawExchange,
                front.port.getHost().port,
                b"GET /p/x HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n",
                _reactor=reactor,
            ),
            20,
        )
    finally:
        runUntil(reactor, maybeDeferred(front.port.stopListening))
        runUntil(reactor, maybeDeferred(backend.stopListening))
        runUntil(reactor, front.pool.closeCachedConnections())
    head, _, body = raw.partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == b"HTTP/1.1 200 OK"
    types = [
        line.split(b":", 1)[1].strip()
        for line in lines
        if line.lower().startswith(b"content-type:")
    ]
    assert types == ([] if contentType is None else [contentType])
    assert b"hello" in body
