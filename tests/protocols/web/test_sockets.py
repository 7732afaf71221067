"""
The server over real sockets, on every reactor and both parsers, with real
clients: curl (keep-alive, chunked upload, 100-continue, a UNIX socket),
the stdlib's http.client and urllib; malformed requests, each answered with
its 4xx while a good connection goes on; and slowloris connections timed
out while a good client keeps being served.

The clients block, so they run in the reactor's thread pool
(deferToThread) while the test steps the reactor (runUntil); every wait is
bounded.
"""

import hashlib
import http.client
import os
import shutil
import socket
import subprocess
import time
import urllib.parse
import urllib.request

import pytest
from zope.interface import implementer

from protocols.web import http as web_http
from protocols.web import resource, server
from reactor import stream
from reactor.defer import gatherResults, maybeDeferred
from reactor.interfaces import IConsumer, IPullProducer
from reactor.threads import deferToThread

pytestmark = pytest.mark.timeout(60)

CURL = shutil.which("curl")
needsCurl = pytest.mark.skipif(CURL is None, reason="curl is not installed")


class CountingChannel(web_http.HTTPChannel):
    """An HTTPChannel that counts, on its factory, connections made and lost."""

    def connectionMade(self):
        self.factory.opened += 1
        web_http.HTTPChannel.connectionMade(self)

    def connectionLost(self, reason=None):
        self.factory.closed += 1
        web_http.HTTPChannel.connectionLost(self, reason)


class Hello(resource.Resource):
    isLeaf = True

    def render_GET(self, request):
        return b"hello from " + request.path


class Digest(resource.Resource):
    """Answers a POST with the length and SHA-256 of its body, and what it was told."""

    isLeaf = True

    def render_POST(self, request):
        body = request.content.read()
        expect = request.getHeader(b"Expect") or b"-"
        args = b"&".join(
            b"%s=%s" % (name, b",".join(values)) for name, values in sorted(request.args.items())
        )
        return b"%d %s %s %s" % (len(body), hashlib.sha256(body).hexdigest().encode(), expect, args)


@implementer(IConsumer)
class Hasher:
    def __init__(self):
        self.hash = hashlib.sha256()
        self.length = 0

    def registerProducer(self, producer, streaming):
        pass

    def unregisterProducer(self):
        pass

    def write(self, data):
        self.hash.update(data)
        self.length += len(data)


class StreamDigest(resource.Resource):
    """The same answer, from a body streamed as it arrives."""

    isLeaf = True
    streamRequestBody = True

    def render_POST(self, request):
        hasher = Hasher()
        done = request.streamBody(hasher)
        return done.addCallback(
            lambda _: b"%d %s" % (hasher.length, hasher.hash.hexdigest().encode())
        )


@implementer(IPullProducer)
class Pattern:
    """Writes size bytes of a pattern, a piece each time it is asked."""

    def __init__(self, request, size):
        self.request = request
        self.left = size

    def resumeProducing(self):
        if self.left <= 0:
            self.request.unregisterProducer()
            self.request.finish()
            return
        piece = min(self.left, 1 << 16)
        self.left -= piece
        self.request.write(b"0123456789abcdef" * (piece // 16))

    def stopProducing(self):
        pass


class Big(resource.Resource):
    """A large response, produced as the connection takes it."""

    isLeaf = True

    def render_GET(self, request):
        size = int(request.args.get(b"size", [b"1048576"])[0])
        request.setHeader(b"Content-Length", b"%d" % (size,))
        request.registerProducer(Pattern(request, size), False)
        return server.NOT_DONE_YET


def makeRoot():
    root = resource.Resource()
    root.putChild(b"hello", Hello())
    root.putChild(b"digest", Digest())
    root.putChild(b"stream", StreamDigest())
    root.putChild(b"big", Big())
    return root


class Server:
    """A Site listening on 127.0.0.1 of a test's reactor."""

    def __init__(self, reactor, parser, **kwargs):
        self.reactor = reactor
        self.site = server.Site(makeRoot(), reactor=reactor, parser=parser, **kwargs)
        self.site.noisy = False
        self.site.protocol = CountingChannel
        self.site.opened = self.site.closed = 0
        self.port = reactor.listenTCP(0, self.site, interface="127.0.0.1")
        self.portNumber = self.port.getHost().port
        self.url = "http://127.0.0.1:%d" % (self.portNumber,)

    def run(self, runUntil, function, *args, timeout=30):
        """Run function(*args) in a thread while the reactor runs; return its result."""
        return runUntil(
            self.reactor, deferToThread(function, *args, _reactor=self.reactor), timeout
        )

    def close(self, runUntil):
        runUntil(self.reactor, maybeDeferred(self.port.stopListening))
        deadline = time.monotonic() + 10
        while self.site.closed < self.site.opened and time.monotonic() < deadline:
            self.reactor.iterate(0.01)


@pytest.fixture
def web(reactor, parser, runUntil):
    served = Server(reactor, parser)
    yield served
    served.close(runUntil)


def curl(*arguments):
    """Run curl; return (exit status, stdout bytes, stderr text)."""
    result = subprocess.run(
        [CURL, "-sS", "--max-time", "20", *arguments],
        capture_output=True,
        timeout=30,
    )
    return result.returncode, result.stdout, result.stderr.decode("utf-8", "replace")


@needsCurl
def test_curlKeepAlive(web, runUntil):
    status, out, err = web.run(runUntil, curl, "-v", web.url + "/hello/a", web.url + "/hello/b")
    assert status == 0, err
    assert out == b"hello from /hello/ahello from /hello/b"
    assert "Re-using existing connection" in err
    assert web.site.opened == 1


@needsCurl
@pytest.mark.parametrize("path", ["/digest", "/stream"])
def test_curlChunkedUpload(web, runUntil, tmp_path, path):
    data = os.urandom(3 * 1024 * 1024 + 17)
    upload = tmp_path / "upload"
    upload.write_bytes(data)
    status, out, err = web.run(
        runUntil,
        curl,
        "-H",
        "Transfer-Encoding: chunked",
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        "@%s" % (upload,),
        web.url + path,
    )
    assert status == 0, err
    assert out.split()[:2] == [b"%d" % (len(data),), hashlib.sha256(data).hexdigest().encode()]


@needsCurl
def test_curlExpectContinue(web, runUntil, tmp_path):
    data = os.urandom(200_000)
    upload = tmp_path / "upload"
    upload.write_bytes(data)
    status, out, err = web.run(
        runUntil,
        curl,
        "-v",
        "-H",
        "Expect: 100-continue",
        "-H",
        "Content-Type: application/octet-stream",
        "--data-binary",
        "@%s" % (upload,),
        web.url + "/digest",
    )
    assert status == 0, err
    assert "HTTP/1.1 100 Continue" in err
    assert out.split()[:3] == [
        b"%d" % (len(data),),
        hashlib.sha256(data).hexdigest().encode(),
        b"100-continue",
    ]


@needsCurl
def test_curlLargeDownload(web, runUntil):
    size = 8 * 1024 * 1024
    status, out, err = web.run(runUntil, curl, web.url + "/big?size=%d" % (size,))
    assert status == 0, err
    assert out == b"0123456789abcdef" * (size // 16)


@needsCurl
def test_curlOverAUnixSocket(reactor, parser, runUntil, tmp_path):
    site = server.Site(makeRoot(), reactor=reactor, parser=parser)
    site.noisy = False
    path = str(tmp_path / "web.sock")
    port = reactor.listenUNIX(path, site)
    try:
        status, out, err = runUntil(
            reactor,
            deferToThread(
                curl, "--unix-socket", path, "http://localhost/hello/u", _reactor=reactor
            ),
            30,
        )
    finally:
        runUntil(reactor, maybeDeferred(port.stopListening))
    assert status == 0, err
    assert out == b"hello from /hello/u"
    deadline = time.monotonic() + 5
    while reactor.getReaders() and time.monotonic() < deadline:
        reactor.iterate(0.01)


def httpClientSession(port):
    """Several requests on one http.client connection; return what came back."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        results = []
        connection.request("GET", "/hello/one")
        response = connection.getresponse()
        results.append((response.status, response.read()))
        connection.request("HEAD", "/hello/two")
        response = connection.getresponse()
        results.append((response.status, response.getheader("Content-Length"), response.read()))
        body = b"x" * 100_000
        connection.request("POST", "/digest", body=body, headers={"Content-Type": "text/plain"})
        response = connection.getresponse()
        results.append((response.status, response.read().split()[0]))
        connection.request("GET", "/missing")
        response = connection.getresponse()
        results.append((response.status, len(response.read()) > 0))
        return results
    finally:
        connection.close()


def test_httpClient(web, runUntil):
    results = web.run(runUntil, httpClientSession, web.portNumber)
    assert results == [
        (200, b"hello from /hello/one"),
        (200, "21", b""),
        (200, b"100000"),
        (404, True),
    ]
    assert web.site.opened == 1


def urllibSession(url):
    with urllib.request.urlopen(url + "/hello/u", timeout=20) as response:
        first = (response.status, response.read())
    form = urllib.parse.urlencode({"name": "Jörg", "n": "1"}).encode()
    with urllib.request.urlopen(url + "/digest?q=x", data=form, timeout=20) as response:
        second = response.read()
    return first, second


def test_urllib(web, runUntil):
    first, second = web.run(runUntil, urllibSession, web.url)
    assert first == (200, b"hello from /hello/u")
    assert second.endswith(b" - n=1&name=J\xc3\xb6rg&q=x")


MALFORMED = [
    (b"GET\r\n\r\n", 400),
    (b"GET / HTTP/1.1\r\nHo st: a\r\n\r\n", 400),
    (
        b"POST /digest HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
        b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
        400,
    ),
    (b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: %s\r\n\r\n" % (b"x" * 20000,), 431),
    (
        b"POST /digest HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"zz\r\nabc\r\n0\r\n\r\n",
        400,
    ),
    (
        b"POST /digest HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"fffffffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
        400,
    ),
    (b"POST /digest HTTP/1.1\r\nHost: a\r\nContent-Length: 999999999999\r\n\r\n", 413),
]


def rawExchange(port, data):
    """Send data on a new connection; return (status line, whether the server closed)."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(data)
        received = b""
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                return received.split(b"\r\n", 1)[0], True
            received += chunk


def malformedWhileGoodGoesOn(port):
    good = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        statuses = []
        for data, _ in MALFORMED:
            good.request("GET", "/hello/good")
            response = good.getresponse()
            statuses.append((response.status, response.read()))
            statuses.append(rawExchange(port, data))
        good.request("GET", "/hello/last")
        response = good.getresponse()
        statuses.append((response.status, response.read()))
        return statuses
    finally:
        good.close()


def test_malformedRequestsGetTheir4xxAndDisturbNothing(web, runUntil):
    statuses = web.run(runUntil, malformedWhileGoodGoesOn, web.portNumber)
    expected = []
    for _, status in MALFORMED:
        expected.append((200, b"hello from /hello/good"))
        reason = web_http.RESPONSES[status]
        expected.append((b"HTTP/1.1 %d %s" % (status, reason), True))
    expected.append((200, b"hello from /hello/last"))
    assert statuses == expected


def slowloris(port, stop):
    """Trickle a head a byte at a time until the server answers; return its answer."""
    head = b"GET /hello/x HTTP/1.1\r\nHost: a\r\nX-Slow: " + b"s" * 1000
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.settimeout(0.05)
        received = b""
        for byte in head:
            if stop():
                break
            try:
                sock.send(bytes([byte]))
            except OSError:
                break
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                continue
            except OSError:
                break
            if not chunk:
                break
            received += chunk
        sock.settimeout(20)
        try:
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                received += chunk
        except OSError:
            pass
        return received.split(b"\r\n", 1)[0]


def goodClient(port, finished):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        bodies = []
        for number in range(20):
            connection.request("GET", "/hello/%d" % (number,))
            bodies.append(connection.getresponse().read())
            time.sleep(0.02)
        return bodies
    finally:
        connection.close()
        finished.append(True)


def test_slowlorisIsTimedOutWhileAGoodClientIsServed(reactor, parser, runUntil):
    served = Server(reactor, parser, headerTimeout=0.5)
    try:
        finished = []
        lorises = [
            deferToThread(slowloris, served.portNumber, lambda: False, _reactor=reactor)
            for _ in range(3)
        ]
        good = deferToThread(goodClient, served.portNumber, finished, _reactor=reactor)
        results = runUntil(reactor, gatherResults([good] + lorises), 40)
    finally:
        served.close(runUntil)
    assert results[0] == [b"hello from /hello/%d" % (number,) for number in range(20)]
    assert results[1:] == [b"HTTP/1.1 408 Request Timeout"] * 3


def pipelinedThenClosed(port, count):
    """Send count pipelined GETs, the last asking to close; return all received."""
    requests = b"".join(
        b"GET /hello/%d HTTP/1.1\r\nHost: x\r\n%s\r\n"
        % (index, b"Connection: close\r\n" if index == count - 1 else b"")
        for index in range(count)
    )
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(requests)
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    return received


def test_pipelinedAnswersOfOneTurnLeaveInOneSystemCall(web, runUntil, monkeypatch):
    # The channel holds its writes (holdWrites): the answers to requests that
    # came in one read go to the kernel together, in one writev, at the end
    # of the reactor's turn; the client still gets them in order.
    sends = []
    for name in ("_write", "_writev"):
        real = getattr(stream, name)

        def counting(fd, data, real=real, name=name):
            sends.append((name, fd))
            return real(fd, data)

        monkeypatch.setattr(stream, name, counting)
    received = web.run(runUntil, pipelinedThenClosed, web.portNumber, 3)
    bodies = [b"hello from /hello/%d" % (index,) for index in range(3)]
    assert received.count(b"HTTP/1.1 200 OK") == 3
    positions = [received.find(body) for body in bodies]
    assert -1 not in positions and positions == sorted(positions)
    assert [name for name, fd in sends] == ["_writev"], sends
