"""
static.File over real sockets, on every reactor and both parsers: curl
(whole files, single and multiple ranges), http.client (keep-alive, HEAD,
304, traversal attempts sent as they are) and urllib; os.sendfile used on
plain TCP and UNIX connections, reads over TLS.

The clients block, so they run in the reactor's thread pool while the test
steps the reactor, as in test_sockets.py, whose helpers these reuse.
"""

import errno
import fcntl
import hashlib
import http.client
import os
import socket
import ssl
import struct
import threading
import urllib.request

import pytest

from protocols.web import server, static
from reactor.defer import maybeDeferred
from reactor.threads import deferToThread
from tests.protocols.web.test_sockets import CountingChannel, curl, needsCurl

pytestmark = pytest.mark.timeout(60)

SIZE = 3 * 1024 * 1024 + 5


@pytest.fixture
def files(tmp_path):
    """A root holding a large file and a small one; a secret beside it."""
    root = tmp_path / "root"
    root.mkdir()
    data = os.urandom(SIZE)
    (root / "big.bin").write_bytes(data)
    (root / "small.txt").write_bytes(b"small\n")
    (tmp_path / "secret.txt").write_bytes(b"secret")
    return root, data


@pytest.fixture
def sendfileCalls(monkeypatch):
    """The os.sendfile calls static makes, counted."""
    calls = []

    def counting(*args):
        calls.append(args)
        return os.sendfile(*args)

    monkeypatch.setattr(static, "_sendfile", counting)
    return calls


class StaticServer:
    """A Site serving the files' root on 127.0.0.1 of a test's reactor."""

    def __init__(self, reactor, parser, root, contextFactory=None):
        self.reactor = reactor
        self.site = server.Site(static.File(str(root)), reactor=reactor, parser=parser)
        self.site.noisy = False
        self.site.protocol = CountingChannel
        self.site.opened = self.site.closed = 0
        if contextFactory is None:
            self.port = reactor.listenTCP(0, self.site, interface="127.0.0.1")
        else:
            self.port = reactor.listenSSL(0, self.site, contextFactory, interface="127.0.0.1")
        self.portNumber = self.port.getHost().port
        self.url = "http://127.0.0.1:%d" % (self.portNumber,)

    def run(self, runUntil, function, *args):
        return runUntil(self.reactor, deferToThread(function, *args, _reactor=self.reactor), 30)

    def close(self, runUntil):
        runUntil(self.reactor, maybeDeferred(self.port.stopListening))
        for _ in range(1000):
            if self.site.closed >= self.site.opened:
                break
            self.reactor.iterate(0.01)


@pytest.fixture
def web(reactor, parser, runUntil, files):
    served = StaticServer(reactor, parser, files[0])
    yield served
    served.close(runUntil)


@needsCurl
def test_curlWholeFileWithSendfile(web, runUntil, files, sendfileCalls):
    status, out, err = web.run(runUntil, curl, web.url + "/big.bin", web.url + "/small.txt")
    assert status == 0, err
    assert out == files[1] + b"small\n"
    assert sendfileCalls
    assert web.site.opened == 1


def test_aFailedSendfileClosesTheConnection(web, runUntil, files, monkeypatch, reactor):
    # The socket fails under sendfile (as when the client is gone): the
    # connection is closed, its writer removed.  The producer used to stay
    # registered, and the transport, waiting for it to let go before
    # closing, pulled from it at every turn: a busy loop for ever, the
    # connection never closed.
    calls = []

    def failing(out, fd, offset, count):
        calls.append(count)
        if len(calls) > 1:
            raise BrokenPipeError(errno.EPIPE, "broken pipe")
        return os.sendfile(out, fd, offset, min(count, 1 << 16))  # the rest asked for later

    monkeypatch.setattr(static, "_sendfile", failing)

    def fetch():
        with socket.create_connection(("127.0.0.1", web.portNumber), timeout=10) as sock:
            sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: a\r\n\r\n")
            received = []
            while True:
                try:
                    chunk = sock.recv(1 << 20)
                except TimeoutError:
                    return None  # never closed
                if not chunk:
                    return b"".join(received)
                received.append(chunk)

    out = web.run(runUntil, fetch)
    assert out is not None, "the server never closed the connection"
    head, _, body = out.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 ")
    assert 0 < len(body) < len(files[1])
    assert body == files[1][: len(body)]
    assert len(calls) == 2
    for _ in range(500):
        if web.site.closed == web.site.opened == 1:
            break
        reactor.iterate(0.01)
    assert web.site.closed == web.site.opened == 1
    assert not [w for w in reactor.getWriters() if hasattr(w, "protocol")]


SIOCOUTQNSD = 0x894B  # Linux: the bytes a TCP socket holds not yet sent


@pytest.mark.skipif(
    not hasattr(socket, "TCP_NOTSENT_LOWAT"), reason="no TCP_NOTSENT_LOWAT on this system"
)
@pytest.mark.parametrize("limit", [128 * 1024, None])
def test_sendfileLeavesLittleUnsentInTheKernel(
    reactor, parser, runUntil, files, monkeypatch, limit
):
    # What sendfile leaves waiting unsent in the kernel, read after each
    # call: at most about File.sendfileUnsentLimit (by default 128 KiB;
    # TCP_NOTSENT_LOWAT lets a call overshoot by up to one 64 KiB piece).
    # Without it, the socket's whole send buffer (megabytes).  The client
    # reads only once the server is that far ahead of it.
    served = StaticServer(reactor, parser, files[0])
    if limit is None:
        served.site.resource.sendfileUnsentLimit = None
        ahead = 256 * 1024 + 1
    else:
        assert static.File.sendfileUnsentLimit == limit
        ahead = limit // 2
    unsent, options = [], []
    serverAhead = threading.Event()

    def watching(out, fd, offset, count):
        sent = os.sendfile(out, fd, offset, count)
        unsent.append(struct.unpack("i", fcntl.ioctl(out, SIOCOUTQNSD, b"\0" * 4))[0])
        if unsent[-1] >= ahead:
            serverAhead.set()
        with socket.socket(fileno=out) as sock:
            try:
                options.append(sock.getsockopt(socket.IPPROTO_TCP, socket.TCP_NOTSENT_LOWAT))
            finally:
                sock.detach()
        return sent

    def fetch():
        with socket.create_connection(("127.0.0.1", served.portNumber), timeout=20) as sock:
            sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            serverAhead.wait(10)  # (a hang guard: the assertions below tell)
            return b"".join(iter(lambda: sock.recv(1 << 16), b""))

    monkeypatch.setattr(static, "_sendfile", watching)
    try:
        out = served.run(runUntil, fetch)
    finally:
        served.close(runUntil)
    assert out.partition(b"\r\n\r\n")[2] == files[1]
    if limit is None:
        assert max(unsent) > 256 * 1024
    else:
        assert set(options) == {limit}
        assert ahead <= max(unsent) <= limit + 64 * 1024, unsent


@needsCurl
def test_curlRanges(web, runUntil, files):
    data = files[1]
    status, out, err = web.run(runUntil, curl, "-r", "100-2000099", web.url + "/big.bin")
    assert status == 0, err
    assert out == data[100:2000100]
    status, out, err = web.run(runUntil, curl, "-i", "-r", "0-9,-10", web.url + "/big.bin")
    assert status == 0, err
    head, _, body = out.partition(b"\r\n\r\n")
    assert b"206" in head.split(b"\r\n")[0]
    assert b"multipart/byteranges" in head
    assert data[:10] in body and data[-10:] in body


def httpClientSession(port):
    """A keep-alive session: GET, HEAD, a 304, traversal attempts; what came back."""
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        results = []
        connection.request("GET", "/big.bin")
        response = connection.getresponse()
        body = response.read()
        etag = response.getheader("ETag")
        results.append((response.status, hashlib.sha256(body).hexdigest()))
        connection.request("HEAD", "/big.bin")
        response = connection.getresponse()
        results.append((response.status, response.getheader("Content-Length"), response.read()))
        connection.request("GET", "/big.bin", headers={"If-None-Match": etag})
        response = connection.getresponse()
        results.append((response.status, response.read()))
        for path in ("/../secret.txt", "/%2e%2e/secret.txt", "/..%2fsecret.txt", "/%00"):
            connection.request("GET", path)
            response = connection.getresponse()
            results.append((response.status, b"secret" in response.read()))
        return results
    finally:
        connection.close()


def test_httpClient(web, runUntil, files):
    results = web.run(runUntil, httpClientSession, web.portNumber)
    assert (
        results
        == [
            (200, hashlib.sha256(files[1]).hexdigest()),
            (200, str(SIZE), b""),
            (304, b""),
        ]
        + [(404, False)] * 4
    )
    assert web.site.opened == 1


def rawRequest(port, request):
    """Send request bytes as they are; return the status line."""
    with socket.create_connection(("127.0.0.1", port), timeout=20) as sock:
        sock.sendall(request)
        return sock.makefile("rb").readline()


def test_rawTraversalIs404(web, runUntil):
    for target in (
        b"/../secret.txt",
        b"/./../secret.txt",
        b"/..\\secret.txt",
        b"/%5c..%5csecret.txt",
    ):
        line = web.run(
            runUntil, rawRequest, web.portNumber, b"GET %s HTTP/1.1\r\nHost: a\r\n\r\n" % target
        )
        assert line.split()[1] in (b"404", b"400"), (target, line)


def test_urllib(web, runUntil):
    def fetch(url):
        with urllib.request.urlopen(url + "/small.txt", timeout=20) as response:
            return response.status, response.headers["Content-Type"], response.read()

    assert web.run(runUntil, fetch, web.url) == (200, "text/plain", b"small\n")


def test_unixSocketUsesSendfile(reactor, parser, runUntil, files, sendfileCalls, tmp_path):
    site = server.Site(static.File(str(files[0])), reactor=reactor, parser=parser)
    site.noisy = False
    path = str(tmp_path / "web.sock")
    port = reactor.listenUNIX(path, site)

    def fetch():
        with socket.socket(socket.AF_UNIX) as sock:
            sock.settimeout(20)
            sock.connect(path)
            sock.sendall(b"GET /big.bin HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
            chunks = []
            while True:
                chunk = sock.recv(1 << 20)
                if not chunk:
                    return b"".join(chunks)
                chunks.append(chunk)

    try:
        out = runUntil(reactor, deferToThread(fetch, _reactor=reactor), 30)
    finally:
        runUntil(reactor, maybeDeferred(port.stopListening))
    assert out.partition(b"\r\n\r\n")[2] == files[1]
    assert sendfileCalls
    for _ in range(500):
        if not reactor.getReaders():
            break
        reactor.iterate(0.01)


def test_tlsReadsInsteadOfSendfile(
    reactor, parser, runUntil, files, sendfileCalls, tlsCertificates
):
    options = tlsCertificates.privateCertificate(tlsCertificates.server).options()
    served = StaticServer(reactor, parser, files[0], options)
    context = ssl.create_default_context(cadata=tlsCertificates.ca.cert_pem.bytes().decode())

    def fetch(port):
        connection = http.client.HTTPSConnection("localhost", port, timeout=20, context=context)
        try:
            connection.request("GET", "/big.bin", headers={"Range": "bytes=1-3000000"})
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    try:
        status, body = served.run(runUntil, fetch, served.portNumber)
    finally:
        served.close(runUntil)
    assert (status, body) == (206, files[1][1:3000001])
    assert sendfileCalls == []
