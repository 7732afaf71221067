"""
Every way of ending a stream connection goes through one closing path
(reactor.stream): whatever the order of the calls and events that end it,
the transport leaves the reactor's readers and writers, its descriptor is
closed once, and connectionLost runs once, with the reason of what ended it.

On every reactor (the ``reactor`` fixture), over TCP and UNIX.  The far end
of each connection is a plain socket, so that the test decides exactly when
the peer sends its FIN or a reset.
"""

import itertools
import os
import select
import socket
import struct

import pytest
from zope.interface import implementer

from reactor.error import ConnectionAborted, ConnectionDone, ConnectionLost
from reactor.interfaces import IHalfCloseableProtocol
from tests.reactor.transport_helpers import (
    Recorder,
    RecordingClientFactory,
    RecordingServerFactory,
    spin,
)


class Ender(Recorder):
    """
    A Recorder that runs ``script`` (once) from inside dataReceived, and
    notes whether the reactor still watched its transport when it was told
    connectionLost (it must not: the transport leaves first).
    """

    script = None

    def __init__(self):
        Recorder.__init__(self)
        self.watchedWhenLost = []

    def dataReceived(self, data):
        Recorder.dataReceived(self, data)
        script, self.script = self.script, None
        if script is not None:
            script()

    def connectionLost(self, reason):
        transport = self.transport
        reactor = transport.reactor
        watched = transport in reactor.getReaders() or transport in reactor.getWriters()
        self.watchedWhenLost.append(watched)
        Recorder.connectionLost(self, reason)


@implementer(IHalfCloseableProtocol)
class HalfCloseEnder(Ender):
    """An Ender that stays connected when either direction is shut."""

    def readConnectionLost(self):
        self.events.append("readLost")

    def writeConnectionLost(self):
        self.events.append("writeLost")


class PushProducer:
    """A push producer that never writes; counts stopProducing."""

    def __init__(self):
        self.stopped = 0

    def pauseProducing(self):
        pass

    def resumeProducing(self):
        pass

    def stopProducing(self):
        self.stopped += 1


class PullProducer(PushProducer):
    """The same, registered as a pull producer (asked for more, writes nothing)."""


@pytest.fixture
def closes(monkeypatch):
    """Every descriptor number given to os.close during the test, in order."""
    closed = []
    realClose = os.close

    def countingClose(fd):
        closed.append(fd)
        realClose(fd)

    monkeypatch.setattr(os, "close", countingClose)
    return closed


def _waitForPeer(fd):
    # The peer's FIN or reset has reached our socket (loopback delivers it
    # within the peer's call, but do not rely on that).
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    assert poller.poll(5000), "the peer's FIN or reset never arrived"


class Peer:
    """The far end of a connection: a plain blocking socket."""

    def __init__(self, sock, fd):
        self.sock = sock
        self.fd = fd  # the transport's descriptor, watched for what we send
        self.finished = False
        self.reset = False

    def fin(self):
        if not (self.finished or self.reset):
            self.finished = True
            try:
                self.sock.shutdown(socket.SHUT_WR)
            except OSError:
                return  # we reset the connection already (abort): nothing to shut
            _waitForPeer(self.fd)

    def resetConnection(self):
        if not self.reset:
            self.reset = True
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            self.sock.close()
            _waitForPeer(self.fd)

    def close(self):
        self.sock.close()


class Side:
    """
    Makes live connections of one kind (TCP or UNIX) with a plain-socket peer,
    and returns the Loom end: the server end (accepted by a listening port) or
    the client end (connectTCP/connectUNIX to a plain listening socket).
    """

    def __init__(self, reactor, kind, role, path):
        self.reactor = reactor
        self.kind = kind
        self.role = role
        self.path = path
        self.port = None
        self.listener = None

    def _listenLoom(self, factory):
        if self.port is None or not self.port.connected:
            if self.kind == "tcp":
                self.port = self.reactor.listenTCP(0, factory, interface="127.0.0.1")
            else:
                self.port = self.reactor.listenUNIX(self.path, factory)
        self.port.factory = factory

    def _plainListener(self):
        if self.listener is None:
            if self.kind == "tcp":
                self.listener = socket.create_server(("127.0.0.1", 0))
            else:
                self.listener = socket.socket(socket.AF_UNIX)
                self.listener.bind(self.path)
                self.listener.listen(8)
        return self.listener

    def connect(self, protocolClass):
        """Return (protocol, factory, peer) for a new connection."""
        if self.role == "server":
            factory = RecordingServerFactory(protocolClass)
            self._listenLoom(factory)
            family = socket.AF_INET if self.kind == "tcp" else socket.AF_UNIX
            address = ("127.0.0.1", self.port.getHost().port) if self.kind == "tcp" else self.path
            sock = socket.socket(family)
            sock.settimeout(5)
            sock.connect(address)
            spin(self.reactor, lambda: factory.built, what="accept")
        else:
            factory = RecordingClientFactory(protocolClass)
            listener = self._plainListener()
            if self.kind == "tcp":
                self.reactor.connectTCP("127.0.0.1", listener.getsockname()[1], factory, timeout=5)
            else:
                self.reactor.connectUNIX(self.path, factory, timeout=5)
            spin(self.reactor, lambda: factory.built, what="connect")
            listener.settimeout(5)
            sock, _ = listener.accept()
        protocol = factory.built[0]
        return protocol, factory, Peer(sock, protocol.transport.fileno())

    def close(self):
        if self.listener is not None:
            self.listener.close()
        if self.port is not None and self.port.connected:
            self.port.stopListening()
            spin(self.reactor, lambda: self.port.socket is None, what="the port to close")


@pytest.fixture(params=["tcp", "unix"])
def kind(request):
    return request.param


def _makeSide(reactor, kind, role, tmp_path):
    return Side(reactor, kind, role, str(tmp_path / ("%s.sock" % (role,))))


@pytest.fixture
def server(reactor, kind, tmp_path):
    """Connections whose Loom end was accepted by a listening port."""
    side = _makeSide(reactor, kind, "server", tmp_path)
    yield side
    side.close()


@pytest.fixture(params=["server", "client"])
def anySide(request, reactor, kind, tmp_path):
    """Connections whose Loom end is the accepted or the connecting one."""
    side = _makeSide(reactor, kind, request.param, tmp_path)
    yield side
    side.close()


def _assertClosedCleanly(reactor, protocol, factory, closes, fd, reason):
    """The checks every ended connection must pass, whatever ended it."""
    transport = protocol.transport
    # A few more turns: anything still scheduled for it has run by now.
    for _ in range(3):
        reactor.iterate(0)
    assert transport not in reactor.getReaders()
    assert transport not in reactor.getWriters()
    assert transport not in reactor.openDescriptors
    assert [call for call in reactor.getDelayedCalls() if call.active()] == []
    assert transport.fileno() == -1
    assert (transport.connected, transport.disconnected) == (False, True)
    assert closes.count(fd) == 1, closes
    assert protocol.events.count("lost") == 1, protocol.events
    assert protocol.watchedWhenLost == [False]
    assert type(protocol.lost[0].value) is reason, protocol.lost[0]
    if isinstance(factory, RecordingClientFactory):
        assert [type(lost.value) for lost in factory.lostReasons] == [reason]


# -- the leftovers of the old close path -----------------------------------------


def _abortThenUnregister(transport, peer):
    transport.registerProducer(PushProducer(), True)
    transport.abortConnection()
    transport.unregisterProducer()


def _abortThenLoseWrite(transport, peer):
    transport.abortConnection()
    transport.loseWriteConnection()


def _abortThenRegisterPull(transport, peer):
    transport.abortConnection()
    transport.registerProducer(PullProducer(), False)


def _loseThenAbortThenUnregister(transport, peer):
    transport.registerProducer(PushProducer(), True)
    transport.loseConnection()
    transport.abortConnection()
    transport.unregisterProducer()


def _abortThenLose(transport, peer):
    transport.abortConnection()
    transport.loseConnection()


def _loseThenAbort(transport, peer):
    transport.loseConnection()
    transport.abortConnection()


def _writeErrorThenAbort(transport, peer):
    peer.resetConnection()
    transport.write(b"into a reset connection")
    transport.abortConnection()


def _writeErrorThenUnregister(transport, peer):
    transport.registerProducer(PushProducer(), True)
    peer.resetConnection()
    transport.write(b"into a reset connection")
    transport.loseConnection()
    transport.unregisterProducer()


LEFTOVER_ORDERS = [
    (_abortThenUnregister, ConnectionAborted),
    (_abortThenLoseWrite, ConnectionAborted),
    (_abortThenRegisterPull, ConnectionAborted),
    (_loseThenAbortThenUnregister, ConnectionAborted),
    (_abortThenLose, ConnectionAborted),
    (_loseThenAbort, ConnectionAborted),
    (_writeErrorThenAbort, ConnectionLost),
    (_writeErrorThenUnregister, ConnectionLost),
]


@pytest.mark.parametrize(
    "order, reason", LEFTOVER_ORDERS, ids=[order.__name__[1:] for order, _ in LEFTOVER_ORDERS]
)
@pytest.mark.parametrize("inside", [False, True], ids=["fromOutside", "fromDataReceived"])
def test_noLeftoverAfterAbort(reactor, anySide, closes, order, reason, inside):
    # An aborted connection that is then asked to write, half-close or pull
    # once more used to stay in getWriters() with fd -1, on every reactor.
    protocol, factory, peer = anySide.connect(Ender)
    transport = protocol.transport
    fd = transport.fileno()
    try:
        if inside:
            protocol.script = lambda: order(transport, peer)
            peer.sock.sendall(b"go")
        else:
            order(transport, peer)
        spin(reactor, lambda: protocol.lost, timeout=5, what="connectionLost")
        _assertClosedCleanly(reactor, protocol, factory, closes, fd, reason)
    finally:
        peer.close()


# -- every pair and triple of ending operations ----------------------------------

OPS = ("lose", "abort", "loseWrite", "unregister", "peerFin", "peerReset", "write", "shutdown")


def expectedEnd(sequence, halfCloseable, kind, holds=False):
    """
    The reason connectionLost gets after sequence, or None if the connection
    stays open: the rules of doc/transports.md, written out.

    The operations run one after another within one turn of the reactor
    (the peer's FIN or reset has reached our socket when its operation
    returns); the reactor then runs until the connection ends or settles.
    A push producer is registered beforehand when "unregister" is among them.

    A write goes to the kernel at once; for a protocol whose holdWrites is
    True (holds), it is held for the end of the turn (reactor.stream),
    unless the transport is closed, half-closed, aborted or shut down
    before: each of those sends what was held first.  A send into a reset
    connection fails, which ends it with ConnectionLost.
    """
    end = None
    closing = writeShutPending = False
    producer = "unregister" in sequence
    fin = reset = resetRead = wrote = held = False

    def send():
        # What was held goes out now (or fails): the reason, if it ends.
        nonlocal held, wrote
        if held:
            held = False
            if reset:
                return ConnectionLost
            wrote = True
        return None

    for op in sequence:
        if end is not None:
            continue  # decided: nothing after it changes the reason
        if op in ("abort", "shutdown", "lose", "loseWrite"):
            end = send()
            if end is not None:
                continue
        if op == "abort":
            end = ConnectionAborted
        elif op == "shutdown":
            end = ConnectionLost  # the reactor's disconnectAll
        elif op == "lose":
            closing = True
        elif op == "loseWrite":
            writeShutPending = writeShutPending or not closing
        elif op == "unregister":
            producer = False
        elif op == "peerFin":
            fin = fin or not reset
        elif op == "peerReset" and not reset:
            reset = True
            resetRead = _readSeesReset(kind, fin, wrote)
            fin = fin or not resetRead
        elif op == "write" and not closing:
            if holds and not writeShutPending:
                held = True
            elif reset:
                end = ConnectionLost  # sent at once, and failing: reported on the next turn
            else:
                wrote = True
    if end is None:
        end = send()  # the end of the turn
    if end is not None:
        return end
    if closing:
        # Reading stopped; the close waits for the producer to go.
        return None if producer else ConnectionDone
    # Still reading: the reactor reads the reset or the end of file.
    if resetRead:
        return ConnectionLost
    if fin and not halfCloseable:
        return ConnectionDone
    if fin and writeShutPending and not producer:
        # Half-closed by the peer, then our FIN goes: both directions are
        # done, unless the peer reset a TCP connection after its FIN, when
        # shutdown() fails (ENOTCONN).
        return ConnectionLost if reset and kind == "tcp" else ConnectionDone
    return None


def _readSeesReset(kind, fin, wrote):
    # What the kernel makes a read see after the peer's abortive close.  TCP:
    # ECONNRESET, unless the peer's FIN came first (then end of file).  UNIX
    # has no RST: ECONNRESET if the peer left bytes of ours unread, else end
    # of file.
    if kind == "tcp":
        return not fin
    return wrote


class Operations:
    """The ending operations, applied to one live connection."""

    def __init__(self, reactor, transport, peer):
        self.reactor = reactor
        self.transport = transport
        self.peer = peer

    def run(self, sequence):
        if "unregister" in sequence:
            self.transport.registerProducer(PushProducer(), True)
        for op in sequence:
            getattr(self, op)()

    def lose(self):
        self.transport.loseConnection()

    def abort(self):
        self.transport.abortConnection()

    def loseWrite(self):
        self.transport.loseWriteConnection()

    def unregister(self):
        self.transport.unregisterProducer()

    def peerFin(self):
        self.peer.fin()

    def peerReset(self):
        self.peer.resetConnection()

    def write(self):
        self.transport.write(b"more")

    def shutdown(self):
        self.reactor.disconnectAll()


def _settle(reactor, turns=4):
    for _ in range(turns):
        reactor.iterate(0.002)


def _runCase(reactor, side, closes, sequence, halfCloseable, inside, holds=False):
    protocolClass = HalfCloseEnder if halfCloseable else Ender
    if holds:
        protocolClass = type("Holding" + protocolClass.__name__, (protocolClass,), {})
        protocolClass.holdWrites = True
    protocol, factory, peer = side.connect(protocolClass)
    transport = protocol.transport
    fd = transport.fileno()
    del closes[:]  # fd numbers are reused from one case to the next
    expected = expectedEnd(sequence, halfCloseable, side.kind, holds)
    operations = Operations(reactor, transport, peer)
    try:
        if inside:
            protocol.script = lambda: operations.run(sequence)
            peer.sock.sendall(b"go")
            spin(reactor, lambda: protocol.received, timeout=5, what="the go")
        else:
            operations.run(sequence)
        if expected is None:
            _settle(reactor)
            assert protocol.lost == [] and transport.connected, (sequence, protocol.lost)
            transport.abortConnection()
            expected = ConnectionAborted
        spin(reactor, lambda: protocol.lost, timeout=5, what="connectionLost")
        _assertClosedCleanly(reactor, protocol, factory, closes, fd, expected)
    except AssertionError as error:
        raise AssertionError(
            "%s (half-closeable: %s, holding writes: %s): %s"
            % (sequence, halfCloseable, holds, error)
        ) from error
    finally:
        peer.close()


def _cases(length):
    sequences = (
        itertools.product(OPS, repeat=2) if length == 2 else itertools.permutations(OPS, length)
    )
    for sequence in sequences:
        yield sequence, False
        if "peerFin" in sequence or "loseWrite" in sequence:
            yield sequence, True


@pytest.mark.parametrize("holds", [False, True], ids=["atOnce", "holdingWrites"])
def test_everyPairOfEndings(reactor, server, closes, holds):
    for sequence, halfCloseable in _cases(2):
        for inside in (False, True):
            if inside and "shutdown" in sequence:
                continue  # the reactor stops between turns, not inside a read
            _runCase(reactor, server, closes, sequence, halfCloseable, inside, holds)


@pytest.mark.parametrize("holds", [False, True], ids=["atOnce", "holdingWrites"])
def test_everyTripleOfEndings(reactor, server, closes, holds):
    for sequence, halfCloseable in _cases(3):
        _runCase(reactor, server, closes, sequence, halfCloseable, False, holds)


def test_theModelCoversEveryOutcome():
    # The table is not trivially one-sided: its sequences end in every way.
    for kind in ("tcp", "unix"):
        outcomes = {
            expectedEnd(sequence, halfCloseable, kind)
            for length in (2, 3)
            for sequence, halfCloseable in _cases(length)
        }
        assert outcomes == {None, ConnectionAborted, ConnectionDone, ConnectionLost}


# -- the write side, as Twisted documents it ---------------------------------------


def test_writeAfterWriteSideShutIsIgnored(reactor, anySide):
    # Twisted ignores a write once the write side is shut; it used to fail
    # with EPIPE here and lose the whole connection, reading side included.
    protocol, factory, peer = anySide.connect(HalfCloseEnder)
    try:
        protocol.transport.loseWriteConnection()
        spin(reactor, lambda: "writeLost" in protocol.events, what="the half-close")
        assert peer.sock.recv(16) == b""
        protocol.transport.write(b"after the FIN")
        _settle(reactor)
        assert protocol.transport.connected and protocol.lost == []
        peer.sock.sendall(b"still read")
        spin(reactor, lambda: protocol.received == b"still read", what="more data")
        assert protocol.events == ["made", "writeLost"]
    finally:
        peer.close()
    spin(reactor, lambda: protocol.lost, what="the peer's close")


def test_halfCloseWaitsForTheProducer(reactor, anySide):
    # "as with loseConnection this will only happen when buffer has emptied
    # and there is no registered producer" (Twisted's ITCPTransport).
    protocol, factory, peer = anySide.connect(HalfCloseEnder)
    transport = protocol.transport
    producer = PushProducer()
    try:
        transport.registerProducer(producer, True)
        transport.loseWriteConnection()
        _settle(reactor)
        assert protocol.events == ["made"]
        transport.write(b"last words")
        transport.unregisterProducer()
        spin(reactor, lambda: "writeLost" in protocol.events, what="the half-close")
        peer.sock.settimeout(5)
        received = b""
        while chunk := peer.sock.recv(64):  # until our FIN
            received += chunk
        assert received == b"last words"
        assert producer.stopped == 0
    finally:
        peer.close()
    spin(reactor, lambda: protocol.lost, what="the peer's close")
