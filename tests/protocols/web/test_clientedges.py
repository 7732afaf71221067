"""
The HTTP client at its edges, over real sockets on every reactor and both
parsers: a connect that times out or is cancelled while its connection is
being made, a reused connection the server closed (retried), corrupt and
truncated gzip, credentials on a redirect to another origin, a response
that comes while the request body is still being sent, and bytes after a
complete response.

The servers here are raw protocols where the test needs a misbehaving
server, Loom's Site elsewhere.
"""

import gzip
import json
import socket

import pytest
from zope.interface import implementer

from protocols.protocol import Factory, Protocol
from protocols.web import client, resource, server
from protocols.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from reactor.defer import CancelledError, Deferred, maybeDeferred
from reactor.error import ConnectingCancelledError, TimeoutError

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def pool(reactor, parser, runUntil):
    pool = client.HTTPConnectionPool(reactor, persistent=True, parser=parser)
    yield pool
    runUntil(reactor, pool.closeCachedConnections())


@pytest.fixture
def listening(reactor, runUntil):
    """listen(factory) -> the URL of a 127.0.0.1 port, stopped after the test."""
    ports = []

    def listen(factory):
        port = reactor.listenTCP(0, factory, interface="127.0.0.1")
        ports.append(port)
        return "http://127.0.0.1:%d" % (port.getHost().port,)

    yield listen
    for port in ports:
        runUntil(reactor, maybeDeferred(port.stopListening))


# -- connecting ---------------------------------------------------------------------


@pytest.fixture
def unanswered():
    """
    A 127.0.0.1 address whose connects never complete: a listening socket
    with its accept queue full (listen(0), never accepted), so the kernel
    drops further SYNs.
    """
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    address = listener.getsockname()
    fillers = []
    for _ in range(4):
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(address)
        fillers.append(filler)
    yield b"http://127.0.0.1:%d/" % (address[1],)
    for each in fillers + [listener]:
        each.close()


def test_connectTimeout(reactor, parser, runUntil, unanswered):
    agent = client.Agent(
        reactor, connectTimeout=0.5, pool=client.HTTPConnectionPool(reactor, False, parser=parser)
    )
    with pytest.raises(TimeoutError):
        runUntil(reactor, agent.request(b"GET", unanswered), timeout=10)


def test_cancellingARequestWaitingForItsConnection(reactor, pool, runUntil, unanswered):
    agent = client.Agent(reactor, pool=pool)
    deferred = agent.request(b"GET", unanswered)
    for _ in range(5):
        reactor.iterate(0.01)
    deferred.cancel()
    with pytest.raises((CancelledError, ConnectingCancelledError)):
        runUntil(reactor, deferred)
    assert pool._connections == {}


# -- a misbehaving raw server --------------------------------------------------------


class Scripted(Protocol):
    """
    Answers each request head with the next of the factory's answers for
    this connection (a list per connection, in order); None closes the
    connection instead of answering.  Request bodies are not read.
    """

    def connectionMade(self):
        factory = self.factory
        self.answers = list(factory.script[min(factory.opened, len(factory.script) - 1)])
        factory.opened += 1
        self.buffer = b""

    def dataReceived(self, data):
        self.buffer += data
        while b"\r\n\r\n" in self.buffer and self.answers:
            head, _, self.buffer = self.buffer.partition(b"\r\n\r\n")
            self.factory.requests.append(head.split(b" ", 1)[0])
            answer = self.answers.pop(0)
            if answer is None:
                self.transport.loseConnection()
                return
            self.transport.write(answer)


def scripted(*script):
    factory = Factory.forProtocol(Scripted)
    factory.script, factory.opened, factory.requests = script, 0, []
    return factory


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


def get(reactor, runUntil, agent, url, method=b"GET", headers=None, body=None):
    response = runUntil(reactor, agent.request(method, url, headers, body))
    return response, runUntil(reactor, client.readBody(response))


def test_aReusedConnectionClosedByTheServerIsRetried(reactor, runUntil, pool, listening):
    # The first connection answers one request and closes on the second,
    # as a server whose keep-alive ran out just as the request came.
    factory = scripted([OK, None], [OK])
    url = listening(factory).encode() + b"/"
    agent = client.Agent(reactor, pool=pool)
    assert get(reactor, runUntil, agent, url)[1] == b"ok"
    assert get(reactor, runUntil, agent, url)[1] == b"ok"
    assert (factory.opened, factory.requests) == (2, [b"GET", b"GET", b"GET"])


@pytest.mark.parametrize(
    "method, body, retry",
    [(b"GET", False, False), (b"POST", False, True), (b"PUT", True, True)],
    ids=["retryOff", "notIdempotent", "withABody"],
)
def test_otherRequestsAreNotRetried(reactor, runUntil, pool, listening, method, body, retry):
    factory = scripted([OK, None], [OK])
    url = listening(factory).encode() + b"/"
    pool.retryAutomatically = retry
    agent = client.Agent(reactor, pool=pool)
    assert get(reactor, runUntil, agent, url)[1] == b"ok"
    producer = Blocks(1) if body else None
    with pytest.raises((client.ResponseNeverReceived, client.RequestTransmissionFailed)):
        runUntil(reactor, agent.request(method, url, None, producer))
    assert factory.opened == 1


def test_bytesAfterAHeadResponseCloseTheConnection(reactor, runUntil, pool, listening):
    # A HEAD answered with a body: the body is not the next response.
    factory = scripted([b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", OK], [OK])
    url = listening(factory).encode() + b"/"
    agent = client.Agent(reactor, pool=pool)
    response, body = get(reactor, runUntil, agent, url, b"HEAD")
    assert (response.code, response.length, body) == (200, 0, b"")
    assert get(reactor, runUntil, agent, url)[1] == b"ok"
    assert factory.opened == 2


def test_bytesAfterAResponseCloseTheConnection(reactor, runUntil, pool, listening):
    stray = b"HTTP/1.1 200 OK\r\nContent-Length: 4\r\n\r\nevil"
    factory = scripted([OK + stray, OK], [OK])
    url = listening(factory).encode() + b"/"
    agent = client.Agent(reactor, pool=pool)
    assert get(reactor, runUntil, agent, url)[1] == b"ok"
    assert get(reactor, runUntil, agent, url)[1] == b"ok"
    assert factory.opened == 2


@implementer(IBodyProducer)
class Blocks:
    """A request body of count 64 KiB blocks, made as the connection takes them."""

    def __init__(self, count):
        self.length = count << 16
        self.left = count
        self.paused = self.stopped = False
        self.consumer = None
        self.done = Deferred()

    def startProducing(self, consumer):
        self.consumer = consumer
        self._produce()
        return self.done

    def _produce(self):
        block = b"b" * (1 << 16)
        while self.left and not self.paused and not self.stopped:
            self.left -= 1
            self.consumer.write(block)
        if not self.left and not self.done.called:
            self.done.callback(None)

    def pauseProducing(self):
        self.paused = True

    def resumeProducing(self):
        self.paused = False
        self._produce()

    def stopProducing(self):
        self.stopped = True


class AnswersAtOnce(Protocol):
    """Answers 413 as the request head comes, then reads no more; records its loss."""

    def connectionMade(self):
        self.factory.connected = self
        self.transport.write(b"HTTP/1.1 413 Too Large\r\nContent-Length: 4\r\n\r\nnope")
        self.transport.pauseProducing()

    def connectionLost(self, reason):
        self.factory.lost.callback(None)


def test_earlyResponseStopsTheUpload(reactor, runUntil, pool, listening):
    # The whole response comes while the body is still being sent, and the
    # server reads no more of it: the response is delivered, the body is
    # given up and the connection closed (as Twisted gives it up).
    factory = Factory.forProtocol(AnswersAtOnce)
    factory.lost = Deferred()
    url = listening(factory).encode() + b"/"
    agent = client.Agent(reactor, pool=pool)
    body = Blocks(1 << 12)  # 256 MiB, far more than the socket buffers hold
    response, data = get(reactor, runUntil, agent, url, b"POST", body=body)
    assert (response.code, data) == (413, b"nope")
    assert body.stopped and body.left > 0
    # The server reads again, to see the connection go.
    factory.connected.transport.resumeProducing()
    runUntil(reactor, factory.lost)


# -- content decoding ---------------------------------------------------------------


class Encoded(resource.Resource):
    isLeaf = True

    def __init__(self, body):
        resource.Resource.__init__(self)
        self.body = body

    def render_GET(self, request):
        request.setHeader(b"content-encoding", b"gzip")
        return self.body


def decodingAgent(reactor, pool):
    return client.ContentDecoderAgent(
        client.Agent(reactor, pool=pool), [(b"gzip", client.GzipDecoder)]
    )


@pytest.mark.parametrize(
    "body",
    [b"this is not gzip at all" * 10, gzip.compress(b"cut short " * 1000)[:-12]],
    ids=["corrupt", "truncated"],
)
def test_badGzipFailsTheBody(reactor, parser, runUntil, pool, listening, body):
    root = resource.Resource()
    root.putChild(b"bad", Encoded(body))
    root.putChild(b"good", Encoded(gzip.compress(b"fine")))
    url = listening(server.Site(root, reactor=reactor, parser=parser)).encode()
    agent = decodingAgent(reactor, pool)
    response = runUntil(reactor, agent.request(b"GET", url + b"/bad"))
    assert response.length is UNKNOWN_LENGTH
    with pytest.raises(client.ResponseFailed):
        runUntil(reactor, client.readBody(response))
    # Nothing else suffers: the next request is answered.
    assert get(reactor, runUntil, agent, url + b"/good")[1] == b"fine"


# -- redirects -----------------------------------------------------------------------


class Echo(resource.Resource):
    """Answers with the request's Authorization, Cookie and X-Kept headers, as JSON."""

    isLeaf = True

    def render_GET(self, request):
        names = (b"authorization", b"cookie", b"x-kept")
        seen = {n.decode(): (request.getHeader(n) or b"").decode() for n in names}
        return json.dumps(seen).encode()


class To(resource.Resource):
    isLeaf = True

    def __init__(self, location):
        resource.Resource.__init__(self)
        self.location = location

    def render_GET(self, request):
        return request.redirect(self.location) or b""


def test_aRedirectToAnotherOriginDropsCredentials(reactor, parser, runUntil, pool, listening):
    other = resource.Resource()
    other.putChild(b"echo", Echo())
    otherURL = listening(server.Site(other, reactor=reactor, parser=parser)).encode()
    root = resource.Resource()
    root.putChild(b"echo", Echo())
    root.putChild(b"away", To(otherURL + b"/echo"))
    root.putChild(b"here", To(b"/echo"))
    url = listening(server.Site(root, reactor=reactor, parser=parser)).encode()
    agent = client.RedirectAgent(client.Agent(reactor, pool=pool))
    headers = client.Headers(
        {b"authorization": [b"Basic c2VjcmV0"], b"cookie": [b"id=1"], b"x-kept": [b"yes"]}
    )
    seen = {}
    for path in (b"/away", b"/here"):
        response, body = get(reactor, runUntil, agent, url + path, headers=headers)
        assert response.previousResponse.code == 302
        seen[path] = json.loads(body)
    assert seen == {
        b"/away": {"authorization": "", "cookie": "", "x-kept": "yes"},
        b"/here": {"authorization": "Basic c2VjcmV0", "cookie": "id=1", "x-kept": "yes"},
    }
