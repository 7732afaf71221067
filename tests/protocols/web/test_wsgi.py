"""
WSGIResource over real sockets, on every reactor and both parsers, with
http.client: the environ, a large body streamed through wsgi.input, a
response streamed from an iterable and through write() with backpressure,
start_response's exc_info, the iterable closed (also when the client goes
away), and a failing application answered 500.  Every application is
wrapped in wsgiref.validate.validator, which asserts PEP 3333's rules on
both sides.

The clients block, so they run in a thread (deferToThread) while the test
steps the reactor (runUntil); every wait is bounded.
"""

import hashlib
import http.client
import json
import os
import select
import socket
import sys
import threading
import time
from wsgiref.validate import validator

import pytest

from protocols.web import resource, server, wsgi
from reactor import log
from reactor.defer import maybeDeferred
from reactor.error import ConnectionLost
from reactor.threadpool import ThreadPool
from reactor.threads import deferToThread
from tests.protocols.web.test_sockets import CountingChannel

pytestmark = pytest.mark.timeout(90)

CHUNK = 1 << 16


def environApp(environ, startResponse):
    shown = {
        key: value
        for key, value in environ.items()
        if isinstance(value, (str, bool, tuple)) and not key.startswith("wsgi.input")
    }
    body = json.dumps(shown).encode("utf-8")
    startResponse("200 OK", [("Content-Type", "application/json")])
    return [body]


def digestApp(environ, startResponse):
    digest = hashlib.sha256()
    reads = 0
    stream = environ["wsgi.input"]
    while True:
        data = stream.read(CHUNK)
        if not data:
            break
        assert len(data) <= CHUNK
        digest.update(data)
        reads += 1
    startResponse("200 OK", [("Content-Type", "text/plain")])
    return [b"%s %d" % (digest.hexdigest().encode("ascii"), reads)]


def waitingDigestApp(observed):
    # Reads one byte, then waits until the test releases it.
    def app(environ, startResponse):
        stream = environ["wsgi.input"]
        digest = hashlib.sha256(stream.read(1))
        observed.reading.set()
        if not observed.release.wait(30):
            raise RuntimeError("never released")
        try:
            while True:
                data = stream.read(CHUNK)
                if not data:
                    break
                digest.update(data)
        except Exception as error:
            observed.error = error
            raise
        startResponse("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "64")])
        return [digest.hexdigest().encode("ascii")]

    return app


def linesApp(environ, startResponse):
    lines = list(environ["wsgi.input"])
    startResponse("200 OK", [("Content-Type", "text/plain")])
    return [b"%d|" % (len(lines),), lines[0], lines[-1]]


class Observed:
    """Counts what a streaming application yields, and sees its close()."""

    def __init__(self):
        self.yielded = 0
        self.closed = threading.Event()
        self.chunks = 512
        self.reading = threading.Event()
        self.release = threading.Event()
        self.error = None


def iterableApp(observed):
    def app(environ, startResponse):
        startResponse("200 OK", [("Content-Type", "application/octet-stream")])
        try:
            for index in range(observed.chunks):
                observed.yielded += 1
                yield bytes([index % 256]) * CHUNK
        finally:
            observed.closed.set()

    return app


def writeApp(observed):
    def app(environ, startResponse):
        write = startResponse("200 OK", [("Content-Type", "application/octet-stream")])
        try:
            for index in range(observed.chunks):
                observed.yielded += 1
                write(bytes([index % 256]) * CHUNK)
        except Exception as error:
            observed.error = error
            raise
        finally:
            observed.closed.set()
        return []

    return app


def excInfoApp(environ, startResponse):
    startResponse("200 OK", [("Content-Type", "text/plain")])
    try:
        raise ValueError("changed my mind")
    except ValueError:
        startResponse("503 Busy", [("Content-Type", "text/plain")], sys.exc_info())
    return [b"sorry"]


def lateExcInfoApp(observed):
    def app(environ, startResponse):
        write = startResponse("200 OK", [("Content-Type", "text/plain")])
        write(b"begun")
        try:
            raise ValueError("too late")
        except ValueError:
            try:
                startResponse("500 Oops", [("Content-Type", "text/plain")], sys.exc_info())
            except ValueError as error:
                observed.reraised = error
                raise
        return [b"never"]

    return app


class HeldClose:
    """A whole body (its Content-Length given) whose close() waits for the test."""

    def __init__(self, observed):
        self.observed = observed

    def __iter__(self):
        yield b"complete"

    def close(self):
        self.observed.reading.set()
        self.observed.release.wait(30)
        self.observed.closed.set()


def heldCloseApp(observed):
    def app(environ, startResponse):
        startResponse("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "8")])
        return HeldClose(observed)

    return app


def failingApp(environ, startResponse):
    raise ZeroDivisionError("secret detail")


class Server:
    """A Site with WSGI applications, on 127.0.0.1 of a test's reactor."""

    def __init__(self, reactor, parser):
        self.reactor = reactor
        self.pool = ThreadPool(2, 4, name="wsgi-test")
        self.pool.start()
        self.observed = Observed()
        self.root = resource.Resource()
        apps = {
            b"environ": environApp,
            b"digest": digestApp,
            b"lines": linesApp,
            b"waiting": waitingDigestApp(self.observed),
            b"iterable": iterableApp(self.observed),
            b"write": writeApp(self.observed),
            b"excinfo": excInfoApp,
            b"lateexcinfo": lateExcInfoApp(self.observed),
            b"failing": failingApp,
            b"heldclose": heldCloseApp(self.observed),
        }
        for name, app in apps.items():
            self.root.putChild(name, wsgi.WSGIResource(reactor, self.pool, validator(app)))
        self.site = server.Site(self.root, reactor=reactor, parser=parser)
        self.site.noisy = False
        self.site.protocol = CountingChannel
        self.site.opened = self.site.closed = 0
        self.port = reactor.listenTCP(0, self.site, interface="127.0.0.1")
        self.portNumber = self.port.getHost().port

    def run(self, runUntil, function, *args, **kwargs):
        return runUntil(
            self.reactor, deferToThread(function, *args, _reactor=self.reactor, **kwargs), 60
        )

    def stepUntil(self, condition, timeout=20):
        deadline = time.monotonic() + timeout
        while not condition() and time.monotonic() < deadline:
            self.reactor.iterate(0.01)
        return condition()

    def close(self, runUntil):
        runUntil(self.reactor, maybeDeferred(self.port.stopListening))
        self.stepUntil(lambda: self.site.closed >= self.site.opened, timeout=10)
        self.pool.stop()


@pytest.fixture
def web(reactor, parser, runUntil):
    served = Server(reactor, parser)
    yield served
    served.close(runUntil)


@pytest.fixture
def events():
    seen = []
    log.addObserver(seen.append)
    yield seen
    log.removeObserver(seen.append)


def exchange(port, method, path, body=None, headers=None, **kwargs):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    try:
        connection.request(method, path, body=body, headers=headers or {}, **kwargs)
        response = connection.getresponse()
        return response.status, dict(response.getheaders()), response.read()
    finally:
        connection.close()


def test_environ(web, runUntil):
    status, headers, body = web.run(
        runUntil,
        exchange,
        web.portNumber,
        "GET",
        "/environ/a/b%20c?x=1&y=%20",
        None,
        {"X-Thing": "one", "Content-Type": "text/x"},
    )
    assert status == 200
    assert headers["Content-Type"] == "application/json"
    environ = json.loads(body)
    assert environ["REQUEST_METHOD"] == "GET"
    assert environ["SCRIPT_NAME"] == "/environ"
    assert environ["PATH_INFO"] == "/a/b c"
    assert environ["QUERY_STRING"] == "x=1&y=%20"
    assert environ["CONTENT_TYPE"] == "text/x"
    assert environ["CONTENT_LENGTH"] == ""
    assert "HTTP_CONTENT_TYPE" not in environ
    assert environ["HTTP_X_THING"] == "one"
    assert environ["HTTP_HOST"] == "127.0.0.1:%d" % (web.portNumber,)
    assert environ["SERVER_NAME"] == "127.0.0.1"
    assert environ["SERVER_PORT"] == str(web.portNumber)
    assert environ["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert environ["REMOTE_ADDR"] == "127.0.0.1"
    assert environ["wsgi.version"] == [1, 0]
    assert environ["wsgi.url_scheme"] == "http"
    assert environ["wsgi.multithread"] is True
    assert environ["wsgi.multiprocess"] is False
    assert environ["wsgi.run_once"] is False


def test_environBehindATrustedProxy(web, runUntil):
    web.site.trustedProxies = server.TrustedProxies(["127.0.0.1"])
    status, _, body = web.run(
        runUntil,
        exchange,
        web.portNumber,
        "GET",
        "/environ",
        None,
        {"X-Forwarded-For": "192.0.2.7", "X-Forwarded-Proto": "https"},
    )
    environ = json.loads(body)
    assert (status, environ["REMOTE_ADDR"], environ["wsgi.url_scheme"]) == (
        200,
        "192.0.2.7",
        "https",
    )
    assert (environ["SCRIPT_NAME"], environ["PATH_INFO"]) == ("/environ", "")


def test_largeUploadIsStreamedThroughInput(web, runUntil):
    data = os.urandom(8 * 1024 * 1024 + 5)
    status, _, body = web.run(runUntil, exchange, web.portNumber, "POST", "/digest", data)
    digest, reads = body.split()
    assert status == 200
    assert digest == hashlib.sha256(data).hexdigest().encode("ascii")
    assert int(reads) >= len(data) // CHUNK


def test_chunkedUploadIsStreamedThroughInput(web, runUntil):
    pieces = [os.urandom(100_000) for _ in range(30)]
    status, _, body = web.run(
        runUntil,
        exchange,
        web.portNumber,
        "POST",
        "/digest",
        iter(pieces),
        {"Transfer-Encoding": "chunked"},
        encode_chunked=True,
    )
    assert status == 200
    assert body.split()[0] == hashlib.sha256(b"".join(pieces)).hexdigest().encode("ascii")


def uploadUntilBlocked(port, data, observed):
    """
    Upload data to /waiting: send until the server stops taking it (nothing
    taken for a second), note how much it took, release the application and
    send the rest.  Return (bytes taken while held back, response).
    """
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 1 << 16)
        connection.sendall(
            b"POST /waiting HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
            b"Content-Length: %d\r\n\r\n" % (len(data),) + data[:CHUNK]
        )
        if not observed.reading.wait(30):
            return None, b""
        connection.setblocking(False)
        sent = CHUNK
        while sent < len(data):
            _, writable, _ = select.select([], [connection], [], 1)
            if not writable:
                break
            try:
                sent += connection.send(data[sent : sent + CHUNK])
            except BlockingIOError:
                continue
        taken = sent
        observed.release.set()
        connection.settimeout(30)
        connection.sendall(data[sent:])
        received = []
        while True:
            piece = connection.recv(1 << 16)
            if not piece:
                return taken, b"".join(received)
            received.append(piece)
    finally:
        observed.release.set()
        connection.close()


def test_uploadWaitsForTheApplication(web, runUntil):
    # An application that does not read holds the client back: the server
    # stops reading once a little waits, then all arrives when it reads.
    data = os.urandom(64 * 1024 * 1024)
    taken, response = web.run(runUntil, uploadUntilBlocked, web.portNumber, data, web.observed)
    assert taken is not None and taken < 16 * 1024 * 1024
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert body == hashlib.sha256(data).hexdigest().encode("ascii")


def halfAnUpload(port, observed):
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        connection.sendall(
            b"POST /waiting HTTP/1.1\r\nHost: x\r\nContent-Length: 1000000\r\n\r\nabc"
        )
        return observed.reading.wait(30)
    finally:
        connection.close()


def test_clientGoingAwayDuringTheBodyIsConnectionLostForTheReader(web, runUntil, events):
    observed = web.observed
    assert web.run(runUntil, halfAnUpload, web.portNumber, observed)
    assert web.stepUntil(lambda: web.site.closed == web.site.opened)
    observed.release.set()
    assert web.stepUntil(lambda: observed.error is not None)
    assert isinstance(observed.error, ConnectionLost)
    assert [event for event in events if event.get("isError")] == []


def test_inputIsReadLineByLine(web, runUntil):
    data = b"".join(b"line %d\n" % (index,) for index in range(20_000)) + b"last"
    status, _, body = web.run(runUntil, exchange, web.portNumber, "POST", "/lines", data)
    assert (status, body) == (200, b"20001|line 0\nlast")


def idleThenRead(port, path, started, release):
    """Send a request, read nothing until release is set, then read it all."""
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    connection.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 1 << 16)
    try:
        connection.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % (path,))
        started.set()
        if not release.wait(30):
            return b""
        received = []
        while True:
            data = connection.recv(1 << 20)
            if not data:
                return b"".join(received)
            received.append(data)
    finally:
        connection.close()


@pytest.mark.parametrize("path", [b"/iterable", b"/write"])
def test_streamedResponseWaitsForTheClient(web, runUntil, path):
    # A client that does not read holds the application back (its thread
    # waits while the connection's buffer is full); then all arrives.
    observed = web.observed
    started, release = threading.Event(), threading.Event()
    result = deferToThread(
        idleThenRead, web.portNumber, path, started, release, _reactor=web.reactor
    )
    assert web.stepUntil(lambda: started.is_set() and observed.yielded > 0)
    # Let the application run as far as the connection lets it.
    previous = -1
    while previous != observed.yielded:
        previous = observed.yielded
        web.stepUntil(lambda: False, timeout=0.5)
    assert observed.yielded < observed.chunks // 2
    release.set()
    response = runUntil(web.reactor, result, 60)
    head, _, body = response.partition(b"\r\n\r\n")
    assert head.startswith(b"HTTP/1.1 200 OK")
    assert b"Transfer-Encoding: chunked" in head
    assert observed.yielded == observed.chunks
    if path == b"/iterable":
        assert web.stepUntil(observed.closed.is_set)


def readSomeThenClose(port, path):
    connection = socket.create_connection(("127.0.0.1", port), timeout=30)
    try:
        connection.sendall(b"GET %s HTTP/1.1\r\nHost: x\r\n\r\n" % (path,))
        got = 0
        while got < 4 * CHUNK:
            data = connection.recv(CHUNK)
            assert data
            got += len(data)
        connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\1\0\0\0\0\0\0\0")
        return got
    finally:
        connection.close()


def test_iterableIsClosedWhenTheClientGoesAway(web, runUntil, events):
    observed = web.observed
    observed.chunks = 1 << 20  # far more than anyone reads
    web.run(runUntil, readSomeThenClose, web.portNumber, b"/iterable")
    assert web.stepUntil(observed.closed.is_set)
    assert observed.yielded < observed.chunks
    assert [event for event in events if event.get("isError")] == []


def test_writeAfterTheClientWentAwayRaises(web, runUntil, events):
    observed = web.observed
    observed.chunks = 1 << 20
    web.run(runUntil, readSomeThenClose, web.portNumber, b"/write")
    assert web.stepUntil(observed.closed.is_set)
    assert isinstance(observed.error, ConnectionLost)
    assert observed.yielded < observed.chunks
    assert [event for event in events if event.get("isError")] == []


def test_aWholeResponseIsFinishedAndLoggedThoughTheClientHangsUpAtOnce(web, runUntil, events):
    # The last byte of the Content-Length finishes the request there and
    # then, in the reactor's turn that writes it: the client, which has all
    # it asked for, may hang up before the application's thread is done
    # (here its close() still runs), and the request is not taken for one
    # the client gave up on (no access log line: loomd web --wsgi lost them).
    status, _, body = web.run(runUntil, exchange, web.portNumber, "GET", "/heldclose")
    assert (status, body) == (200, b"complete")
    assert web.stepUntil(lambda: web.site.closed == web.site.opened == 1)
    assert web.stepUntil(web.observed.reading.is_set)  # close() has begun, and waits
    web.observed.release.set()
    assert web.stepUntil(web.observed.closed.is_set)
    for _ in range(5):
        web.reactor.iterate(0.01)  # the thread's finish, which has nothing left to do
    lines = [event["line"] for event in events if "line" in event]
    assert len(lines) == 1 and '"GET /heldclose HTTP/1.1" 200 8 ' in lines[0], lines
    assert [event for event in events if event.get("isError")] == []


def test_excInfoReplacesTheStatusBeforeTheBody(web, runUntil):
    status, headers, body = web.run(runUntil, exchange, web.portNumber, "GET", "/excinfo")
    assert (status, headers["Content-Type"], body) == (503, "text/plain", b"sorry")


def test_excInfoAfterTheBodyBeganIsReraised(web, runUntil, events):
    def fetch(port):
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        try:
            connection.request("GET", "/lateexcinfo")
            response = connection.getresponse()
            with pytest.raises(http.client.IncompleteRead) as caught:
                response.read()
            return response.status, caught.value.partial
        finally:
            connection.close()

    assert web.run(runUntil, fetch, web.portNumber) == (200, b"begun")
    assert str(web.observed.reraised) == "too late"
    assert any(
        "too late" in str(event.get("failure") and event["failure"].value) for event in events
    )


def test_failingApplicationIs500WithTheTracebackLogged(web, runUntil, events):
    status, _, body = web.run(runUntil, exchange, web.portNumber, "GET", "/failing")
    assert status == 500
    assert b"Processing Failed" in body
    assert b"secret detail" not in body and b"Traceback" not in body
    failures = [event["failure"] for event in events if event.get("failure") is not None]
    assert [failure.type for failure in failures] == [ZeroDivisionError]
    assert "secret detail" in failures[0].getTraceback()


def test_wsgiErrorsIsLogged(events):
    errors = wsgi._ErrorStream()
    errors.write("one\ntw")
    errors.writelines(["o\n", "three"])
    errors.flush()
    lines = [event["line"] for event in events if "line" in event]
    assert lines == ["one", "two", "three"]


def test_startResponseRefusesWhatIsNotNativeLatin1():
    response = object.__new__(wsgi._WSGIResponse)
    response._status = None
    response._headersSent = False
    with pytest.raises(TypeError):
        response.startResponse(b"200 OK", [])
    with pytest.raises(TypeError):
        response.startResponse("200 OK", [(b"X", b"y")])
    with pytest.raises(TypeError):
        response.startResponse("200 OK", [("X", "\u20ac")])
    with pytest.raises(ValueError):
        response.startResponse("OK", [])
    write = response.startResponse("200 OK", [("X-A", "\xe9")])
    assert response._headers == [(b"X-A", b"\xe9")]
    assert write == response.write
    with pytest.raises(RuntimeError):
        response.startResponse("200 OK", [])


def test_writeBeforeTheClientWentAwayIsRefusedAfter():
    response = object.__new__(wsgi._WSGIResponse)
    response._status = (200, b"OK")
    response._disconnected = True
    with pytest.raises(ConnectionLost):
        response.write(b"x")


def test_wsgiResourceIsALeaf():
    resrc = wsgi.WSGIResource(None, None, environApp)
    assert resrc.isLeaf and resrc.streamRequestBody
    with pytest.raises(RuntimeError):
        resrc.putChild(b"a", resource.Resource())


def test_headGetsTheHeadersAndNoBody(web, runUntil):
    status, headers, body = web.run(runUntil, exchange, web.portNumber, "HEAD", "/iterable")
    assert (status, headers["Content-Type"], body) == (200, "application/octet-stream", b"")
    assert web.stepUntil(web.observed.closed.is_set)
