"""
Loopback: connect a server protocol instance to a client protocol instance
and tell the test when both sides are done.

``loopbackAsync`` joins them in memory, through the pump of reactor.testing
(reactor._iopump), with no socket and, for protocols that only react to each
other, no reactor either: it pumps at once, and if both sides have closed
when nothing more moves, its Deferred has already fired.  When a protocol
acts later on its own (a timer, a Deferred from elsewhere), its transport
call schedules the next pumping turn with ``reactor.callLater(0, ...)``, so
a protocol is never called back from inside its own call into its transport.

``loopbackTCP`` and ``loopbackUNIX`` run the same pair over a real socket on
127.0.0.1 (or a UNIX socket in a fresh temporary directory), so a protocol
can be checked against real transports.  All three return a Deferred that
fires with None once both protocols have had ``connectionLost``.
"""

import os
import shutil
import tempfile

from protocols.protocol import ClientFactory, Factory
from reactor import error, getReactor
from reactor._iopump import IOPump, MemoryTransport
from reactor.address import IPv4Address
from reactor.defer import Deferred, gatherResults
from reactor.failure import Failure

__all__ = [
    "collapsingPumpPolicy",
    "identityPumpPolicy",
    "loopbackAsync",
    "loopbackTCP",
    "loopbackUNIX",
]


# -- pump policies ------------------------------------------------------------------


def identityPumpPolicy(queue, target):
    """Deliver each write separately: one ``dataReceived`` per ``write``."""
    while queue:
        chunk = queue.get()
        if chunk is None:
            break
        target.dataReceived(chunk)


def collapsingPumpPolicy(queue, target):
    """Deliver everything written since the last turn in one ``dataReceived``."""
    chunks = []
    while queue:
        chunk = queue.get()
        if chunk is None:
            break
        chunks.append(chunk)
    if chunks:
        target.dataReceived(b"".join(chunks))


# -- loopbackAsync ---------------------------------------------------------------------


class _LoopbackTransport(MemoryTransport):
    """A MemoryTransport that asks its loop for a pumping turn after each change."""

    loop = None

    def write(self, data):
        """Buffer data, and see that it gets delivered."""
        MemoryTransport.write(self, data)
        self.loop.kick()

    def loseConnection(self):
        """Close once delivered (see MemoryTransport)."""
        MemoryTransport.loseConnection(self)
        self.loop.kick()

    def abortConnection(self):
        """Close at once (see MemoryTransport)."""
        MemoryTransport.abortConnection(self)
        self.loop.kick()

    def loseWriteConnection(self):
        """Half-close (see MemoryTransport)."""
        MemoryTransport.loseWriteConnection(self)
        self.loop.kick()

    def registerProducer(self, producer, streaming):
        """Register producer (see MemoryTransport)."""
        MemoryTransport.registerProducer(self, producer, streaming)
        self.loop.kick()

    def unregisterProducer(self):
        """Unregister the producer (a pending close may now finish)."""
        MemoryTransport.unregisterProducer(self)
        self.loop.kick()

    def resumeProducing(self):
        """Deliver to the protocol again."""
        MemoryTransport.resumeProducing(self)
        self.loop.kick()


class _Loop:
    """
    Runs pumping turns until both sides are disconnected.

    A turn runs up to ``roundsPerTurn`` pump rounds; if the protocols are
    still busy after that (a producer that never stops), the next turn is
    scheduled on the reactor so that timers and other connections get a go.
    """

    roundsPerTurn = 1000

    def __init__(self, pump, deferred, reactor):
        self.pump = pump
        self.deferred = deferred
        self.reactor = reactor
        self.running = False
        self.scheduled = None
        self.done = False

    def kick(self):
        """Something changed: run a turn soon (unless one is running now)."""
        if self.running or self.scheduled is not None or self.done:
            return
        if self.reactor is None:
            self.reactor = getReactor()
        self.scheduled = self.reactor.callLater(0, self.turn)

    def turn(self):
        """Pump until nothing moves (or the budget is spent); finish if both closed."""
        self.scheduled = None
        self.running = True
        busy = True
        try:
            for _ in range(self.roundsPerTurn):
                if not self.pump.pump():
                    busy = False
                    break
        except Exception:
            self._fail(Failure())
            return
        finally:
            self.running = False
        if self.pump.serverTransport.disconnected and self.pump.clientTransport.disconnected:
            self.done = True
            self.deferred.callback(None)
        elif busy:
            self.kick()

    def _fail(self, failure):
        # A protocol raised: drop both sides and report the error.
        self.done = True
        for transport in (self.pump.serverTransport, self.pump.clientTransport):
            if not transport.disconnected:
                try:
                    transport.connectionLost(
                        Failure(error.ConnectionLost("loopback protocol failed"))
                    )
                except Exception:
                    pass
        self.deferred.errback(failure)


def loopbackAsync(server, client, pumpPolicy=None, *, reactor=None):
    """
    Connect server and client in memory; return a Deferred fired when both are lost.

    The server's makeConnection runs first, then the client's; bytes flow in
    order; ``loseConnection`` on either side ends both with ConnectionDone
    once what was written is delivered; producers, pauses and half-closes
    behave as on the in-memory pair of reactor.testing.  If a protocol
    raises, both sides get ConnectionLost and the Deferred fails with the
    error.

    :param pumpPolicy: how written bytes reach the other side: a callable
        ``(queue, protocol)``; None (like :func:`collapsingPumpPolicy`)
        delivers everything written since the last round as one chunk,
        :func:`identityPumpPolicy` delivers one chunk per write.
    :param reactor: an IReactorTime used only when a protocol acts after the
        first pumping (a timer, say); the global reactor if None.
    """
    serverAddress = IPv4Address("TCP", "127.0.0.1", 80)
    clientAddress = IPv4Address("TCP", "127.0.0.1", 54321)
    serverTransport = _LoopbackTransport(server, serverAddress, clientAddress)
    clientTransport = _LoopbackTransport(client, clientAddress, serverAddress)
    serverTransport.peer, clientTransport.peer = clientTransport, serverTransport
    pump = IOPump(server, client, serverTransport, clientTransport, pumpPolicy=pumpPolicy)
    deferred = Deferred()
    loop = _Loop(pump, deferred, reactor)
    serverTransport.loop = clientTransport.loop = loop
    loop.running = True  # writes from connectionMade need no separate turn
    try:
        server.makeConnection(serverTransport)
        client.makeConnection(clientTransport)
    except Exception:
        loop.running = False
        loop._fail(Failure())
        return deferred
    loop.running = False
    loop.turn()
    return deferred


# -- over real sockets ---------------------------------------------------------------------


def _watchLoss(protocol):
    """
    Return a Deferred fired when protocol.connectionLost has run.

    The protocol keeps its real transport: its connectionLost is wrapped on
    the instance for the one call, then put back.
    """
    lost = Deferred()
    original = protocol.connectionLost

    def connectionLost(reason):
        del protocol.connectionLost
        try:
            original(reason)
        finally:
            lost.callback(None)

    protocol.connectionLost = connectionLost
    return lost


def _forgetWatch(protocol):
    # The connection never happened: undo _watchLoss.
    protocol.__dict__.pop("connectionLost", None)


class _OneProtocolFactory(Factory):
    """Serves its one protocol to the first connection and refuses the rest."""

    def __init__(self, protocol):
        self._protocol = protocol

    def buildProtocol(self, addr):
        protocol, self._protocol = self._protocol, None
        return protocol


class _OneClientFactory(ClientFactory):
    """Connects its one protocol, or fails ``failed`` if it cannot."""

    def __init__(self, protocol, failed):
        self._protocol = protocol
        self.failed = failed

    def buildProtocol(self, addr):
        return self._protocol

    def clientConnectionFailed(self, connector, reason):
        self.failed.errback(reason)


def _loopbackOverSockets(server, client, noisy, listen, connect):
    serverFactory = _OneProtocolFactory(server)
    failed = Deferred()
    clientFactory = _OneClientFactory(client, failed)
    serverFactory.noisy = clientFactory.noisy = noisy
    port = listen(serverFactory)
    serverLost, clientLost = _watchLoss(server), _watchLoss(client)
    both = gatherResults([serverLost, clientLost])
    finished = Deferred()

    def stop(result):
        def report(ignored):
            if isinstance(result, Failure):
                finished.errback(result)
            else:
                finished.callback(None)

        port.stopListening().addBoth(report)

    def connectFailed(failure):
        _forgetWatch(server)
        _forgetWatch(client)
        stop(failure)

    both.addCallback(lambda _: stop(None))
    failed.addErrback(connectFailed)
    connect(port, clientFactory)
    return finished


def loopbackTCP(server, client, port=0, noisy=True, reactor=None):
    """
    Connect server and client over TCP on 127.0.0.1.

    Both protocols see real transports.  The listening port is closed when
    both sides are lost, before the returned Deferred fires (with None); if
    the connection cannot be made, it fails with the reason.

    :param port: the port to listen on; 0 picks a free one.
    :param noisy: log the factories' start and stop.
    :param reactor: the reactor to use; the global one if None.
    """
    reactor = getReactor(reactor)

    def listen(factory):
        return reactor.listenTCP(port, factory, interface="127.0.0.1")

    def connect(listening, factory):
        reactor.connectTCP("127.0.0.1", listening.getHost().port, factory)

    return _loopbackOverSockets(server, client, noisy, listen, connect)


def loopbackUNIX(server, client, noisy=True, reactor=None):
    """
    Connect server and client over a UNIX socket in a new temporary directory.

    As loopbackTCP; the directory is removed when the port has closed.

    :param noisy: log the factories' start and stop.
    :param reactor: the reactor to use; the global one if None.
    """
    reactor = getReactor(reactor)
    directory = tempfile.mkdtemp(prefix="loom-loopback-")
    path = os.path.join(directory, "socket")

    def listen(factory):
        return reactor.listenUNIX(path, factory)

    def connect(listening, factory):
        reactor.connectUNIX(path, factory)

    def cleanUp(result):
        shutil.rmtree(directory, ignore_errors=True)
        return result

    try:
        finished = _loopbackOverSockets(server, client, noisy, listen, connect)
    except BaseException:
        cleanUp(None)
        raise
    return finished.addBoth(cleanUp)
