"""
The thread pool stopped with a WSGI application blocked in Loom's hands,
waiting for the request body or for the client to take the response: it
is woken with ConnectionLost, so that the thread pool's stop (in the
shutdown's "before" phase, or called by hand while the reactor runs)
joins its workers instead of waiting for ever.  On every reactor.
"""

import socket
import threading
import time

import pytest

from protocols.web import server, wsgi
from reactor.defer import maybeDeferred
from reactor.error import ConnectionLost
from reactor.threadpool import ThreadPool
from tests.protocols.web.test_sockets import CountingChannel

CHUNK = 1 << 16


class Blocked:
    """An application that blocks reading its body, or writing to a client that reads nothing."""

    def __init__(self):
        self.started = threading.Event()
        self.written = 0
        self.error = None
        self.done = threading.Event()

    def __call__(self, environ, startResponse):
        try:
            if environ["REQUEST_METHOD"] == "POST":
                self.started.set()
                environ["wsgi.input"].read()
            else:
                write = startResponse("200 OK", [("Content-Type", "application/octet-stream")])
                self.started.set()
                while True:
                    write(b"w" * CHUNK)
                    self.written += 1
        except Exception as error:
            self.error = error
            raise
        finally:
            self.done.set()


def stepUntil(reactor, condition, timeout=20):
    deadline = time.monotonic() + timeout
    while not condition() and time.monotonic() < deadline:
        reactor.iterate(0.01)
    return condition()


@pytest.mark.timeout(60)
@pytest.mark.parametrize("how", ["atShutdown", "byHand"])
@pytest.mark.parametrize("method", [b"POST", b"GET"], ids=["readingTheBody", "writing"])
def test_stoppingThePoolWakesABlockedApplication(reactor, runUntil, method, how):
    pool = ThreadPool(1, 2, name="wsgi-stop")
    pool.start()
    # "before": ahead of the reactor's own shutdown work (its connections
    # closed), which would otherwise wake a writer by luck of order.
    trigger = reactor.addSystemEventTrigger("before", "shutdown", pool.stop)
    app = Blocked()
    site = server.Site(wsgi.WSGIResource(reactor, pool, app), reactor=reactor)
    site.protocol = CountingChannel
    site.opened = site.closed = 0
    port = reactor.listenTCP(0, site, interface="127.0.0.1")
    client = socket.create_connection(("127.0.0.1", port.getHost().port), timeout=10)
    client.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, CHUNK)
    try:
        client.sendall(b"%s / HTTP/1.1\r\nHost: x\r\nContent-Length: 100\r\n\r\nabc" % (method,))
        assert stepUntil(reactor, app.started.is_set)
        if method == b"GET":
            # Until the connection's buffers are full and the write waits.
            previous = -1
            while previous != app.written:
                previous = app.written
                stepUntil(reactor, lambda: False, timeout=0.3)
        if how == "atShutdown":
            reactor.fireSystemEvent("shutdown")  # returns once the pool is joined
        else:
            reactor.removeSystemEventTrigger(trigger)
            pool.stop()
        assert app.done.is_set()
        assert isinstance(app.error, ConnectionLost)
        assert pool.threads == []
    finally:
        client.close()
        runUntil(reactor, maybeDeferred(port.stopListening))
        stepUntil(reactor, lambda: site.closed == site.opened)
