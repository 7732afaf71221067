"""
Reactor shutdown closes every connection and port of the reactor, also those
it was not watching: a connection whose reading is paused, a half-closed one
whose buffer has drained, a port whose accepts are paused (EMFILE).  Each
gets connectionLost once and its descriptor is closed.  On every reactor.
"""

import errno
import os
import socket

from tests.reactor.transport_helpers import (
    HalfCloseRecorder,
    Recorder,
    RecordingServerFactory,
    spin,
)


def isOpen(fd):
    try:
        os.fstat(fd)
    except OSError:
        return False
    return True


def runAndStop(reactor):
    reactor.callWhenRunning(reactor.stop)
    reactor.run(installSignalHandlers=False)


def test_pausedAndHalfClosedConnectionsAreClosedAtShutdown(reactor):
    server = RecordingServerFactory()
    server.protocol = Recorder
    port = reactor.listenTCP(0, server, interface="127.0.0.1")
    halfServer = RecordingServerFactory(HalfCloseRecorder)
    halfPort = reactor.listenTCP(0, halfServer, interface="127.0.0.1")
    clients = [
        socket.create_connection(("127.0.0.1", port.getHost().port)),
        socket.create_connection(("127.0.0.1", halfPort.getHost().port)),
    ]
    try:
        spin(reactor, lambda: server.built and halfServer.built, what="accept")
        paused = server.built[0]
        paused.transport.pauseProducing()
        clients[1].shutdown(socket.SHUT_WR)
        half = halfServer.built[0]
        spin(reactor, lambda: "readLost" in half.events, what="half-close")
        fds = [paused.transport.fileno(), half.transport.fileno()]
        runAndStop(reactor)
        assert paused.events == ["made", "lost"]
        assert half.events == ["made", "readLost", "lost"]
        assert not any(isOpen(fd) for fd in fds)
    finally:
        for client in clients:
            client.close()


def test_portWithAcceptsPausedIsClosedAtShutdown(reactor):
    server = RecordingServerFactory()
    port = reactor.listenTCP(0, server, interface="127.0.0.1")
    stops = []
    server.doStop = lambda: stops.append(True)
    port._pauseAccepting(OSError(errno.EMFILE, "Too many open files"))
    assert port not in reactor.getReaders()
    fd = port.fileno()
    runAndStop(reactor)
    assert stops == [True] and not isOpen(fd)
    assert reactor.getDelayedCalls() == []


def test_nothingIsClosedTwice(reactor):
    server = RecordingServerFactory()
    reactor.listenTCP(0, server, interface="127.0.0.1").stopListening()
    port = reactor.listenTCP(0, server, interface="127.0.0.1")
    client = socket.create_connection(("127.0.0.1", port.getHost().port))
    try:
        spin(reactor, lambda: server.built, what="accept")
        server.built[0].transport.loseConnection()
        spin(reactor, lambda: server.built[0].events == ["made", "lost"], what="close")
        runAndStop(reactor)
        assert server.built[0].events == ["made", "lost"]
        assert reactor.openDescriptors == set()
    finally:
        client.close()


def test_closedConnectionsAreNotKeptAlive(reactor):
    # The reactor tracks what it opened only until it is closed: a busy
    # server must not accumulate its past connections.
    server = RecordingServerFactory()
    port = reactor.listenTCP(0, server, interface="127.0.0.1")
    for _ in range(50):
        client = socket.create_connection(("127.0.0.1", port.getHost().port))
        client.close()
    spin(
        reactor,
        lambda: len(server.built) == 50 and all(p.events == ["made", "lost"] for p in server.built),
        what="50 connections made and lost",
    )
    assert reactor.openDescriptors == {port}
    port.stopListening()
    spin(reactor, lambda: not reactor.openDescriptors, what="the port to close")
