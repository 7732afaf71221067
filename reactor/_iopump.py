"""
Two protocols connected in memory, and the pump that moves their bytes.

One idea: each MemoryTransport only buffers what its protocol writes; nothing
is delivered until the test calls ``pump.flush()``, which moves each side's
buffered bytes to the other side's ``dataReceived`` (one chunk per round,
like a socket read), round after round, until a round moves nothing.  So a
test decides exactly when the network "runs", and a protocol is never called
back from inside its own call to ``write`` or ``loseConnection``.

The pump also models what a real transport does around the bytes:

- ``loseConnection`` closes once the writer's buffer has been delivered and
  its producer unregistered; both protocols then get ``connectionLost``
  (ConnectionDone), exactly once.  ``abortConnection`` drops the buffer and
  closes at the next round (ConnectionAborted here, ConnectionLost there).
- ``loseWriteConnection`` half-closes: the peer gets ``readConnectionLost``
  if it provides IHalfCloseableProtocol, else the connection closes.
- ``pauseProducing()`` on a transport stops delivery *to* its protocol (like
  a paused read).  Bytes then pile up on the other side; past ``highWater``
  that side's push producer is paused, and resumed when its buffer drains.
  A pull producer is asked for more whenever its transport's buffer is empty.
- Backpressure by default, as reactor.stream does it: with no producer
  registered, the server's transport stops delivering to its protocol while
  more than ``highWater`` bytes it wrote wait (the client's does not, unless
  its protocol's ``autoPauseReading`` says so), until its buffer is delivered.
"""

from zope.interface import implementer

from reactor import error
from reactor.address import IPv4Address
from reactor.failure import Failure
from reactor.interfaces import (
    IConsumer,
    IHalfCloseableProtocol,
    IPushProducer,
    ITCPTransport,
)

__all__ = ["IOPump", "MemoryTransport", "connectedPair"]

_DONE = Failure(error.ConnectionDone())


@implementer(ITCPTransport, IConsumer, IPushProducer)
class MemoryTransport:
    """
    One end of an in-memory connection, driven by an IOPump.

    :ivar protocol: the protocol this transport carries.
    :ivar peer: the MemoryTransport of the other end.
    :ivar disconnecting: loseConnection or abortConnection was called.
    :ivar disconnected: connectionLost has been delivered.
    :ivar readPaused: pauseProducing was called: nothing is delivered to
        protocol until resumeProducing.
    :ivar highWater: buffered bytes past which a push producer is paused,
        or reading is (see autoPauseReading).
    :ivar autoPauseReading: whether reading pauses while more than
        highWater bytes are buffered and no producer is registered, when the
        protocol does not say (True for the server end of connectedPair).
    :ivar autoPaused: reading is paused for that reason.
    """

    highWater = 2**16
    autoPauseReading = False

    def __init__(self, protocol, hostAddress, peerAddress):
        self.protocol = protocol
        self.peer = None
        self.hostAddress = hostAddress
        self.peerAddress = peerAddress
        self.disconnecting = False
        self.disconnected = False
        self.aborted = False
        self.readPaused = False
        self.writeShutdown = False
        self.readShutdown = False
        self.producer = None
        self.streaming = None
        self.producerPaused = False
        self.autoPaused = False
        self.noDelay = False
        self.keepAlive = False
        self._buffer = []
        self._bufferSize = 0

    def __repr__(self):
        return "<MemoryTransport %r -> %r>" % (self.hostAddress, self.peerAddress)

    # -- ITransport -------------------------------------------------------------

    def write(self, data):
        """
        Buffer data for the next pump round (dropped once closed).

        :raises TypeError: for a str.
        """
        if isinstance(data, str):
            raise TypeError("Data must be bytes, not str: %r" % (data,))
        if self.disconnected or self.writeShutdown or self.aborted or not data:
            return
        self._buffer.append(bytes(data))
        self._bufferSize += len(data)
        if self._bufferSize > self.highWater:
            if self.streaming and not self.producerPaused:
                self.producerPaused = True
                self.producer.pauseProducing()
            elif self.producer is None and not self.autoPaused:
                choice = getattr(self.protocol, "autoPauseReading", None)
                self.autoPaused = bool(self.autoPauseReading if choice is None else choice)

    def writeSequence(self, data):
        """Buffer each bytes object of the iterable data."""
        for chunk in data:
            self.write(chunk)

    def loseConnection(self):
        """Close after the buffer is delivered and the producer unregistered."""
        if not self.disconnected:
            self.disconnecting = True

    def abortConnection(self):
        """Drop the buffer and close at the next pump round."""
        if not self.disconnected:
            self.aborted = True
            self.disconnecting = True
            self._buffer = []
            self._bufferSize = 0

    def loseWriteConnection(self):
        """Half-close: no more writes; the peer learns once the buffer is delivered."""
        if not self.disconnected:
            self.writeShutdown = True

    def getPeer(self):
        """Return the other end's address."""
        return self.peerAddress

    def getHost(self):
        """Return this end's address."""
        return self.hostAddress

    def getTcpNoDelay(self):
        """Return the recorded TCP_NODELAY setting."""
        return self.noDelay

    def setTcpNoDelay(self, enabled):
        """Record TCP_NODELAY (there is no Nagle delay in memory)."""
        self.noDelay = bool(enabled)

    def getTcpKeepAlive(self):
        """Return the recorded SO_KEEPALIVE setting."""
        return self.keepAlive

    def setTcpKeepAlive(self, enabled):
        """Record SO_KEEPALIVE."""
        self.keepAlive = bool(enabled)

    # -- IConsumer and IPushProducer ----------------------------------------------

    def registerProducer(self, producer, streaming):
        """
        Register a producer of data for this transport.

        A pull producer (streaming False) is asked for data at once.
        :raises RuntimeError: if a producer is already registered.
        """
        if self.producer is not None:
            raise RuntimeError("Cannot register two producers")
        if self.disconnected:
            producer.stopProducing()
            return
        self.producer = producer
        self.streaming = streaming
        self.producerPaused = False
        self.autoPaused = False  # the producer takes over
        if not streaming:
            producer.resumeProducing()

    def unregisterProducer(self):
        """Forget the producer (a pending loseConnection may now complete)."""
        self.producer = None
        self.streaming = None

    def pauseProducing(self):
        """Stop delivering received bytes to the protocol."""
        self.readPaused = True

    def resumeProducing(self):
        """Deliver received bytes again, from the next pump round."""
        self.readPaused = False

    def stopProducing(self):
        """Stop for good: loseConnection."""
        self.loseConnection()

    # -- driven by IOPump -----------------------------------------------------------

    def _take(self):
        data = b"".join(self._buffer)
        self._buffer = []
        self._bufferSize = 0
        return data

    def _drained(self):
        """The buffer is empty: read again, let the producer go on."""
        self.autoPaused = False
        producer = self.producer
        if producer is None or self.disconnected or self.disconnecting:
            return
        if not self.streaming:
            producer.resumeProducing()
        elif self.producerPaused:
            self.producerPaused = False
            producer.resumeProducing()

    def connectionLost(self, reason):
        """
        End the connection at once with reason (a Failure), as the reactor
        ends a real one: drop what is buffered, stop the producer, and tell
        the protocol.  The pump calls it when a side closes; protocols.loopback
        when a protocol raised.
        """
        self.disconnected = True
        self.disconnecting = False
        self._buffer = []
        self._bufferSize = 0
        producer, self.producer = self.producer, None
        if producer is not None:
            producer.stopProducing()
        self.protocol.connectionLost(reason)


class IOPump:
    """
    Moves bytes between two MemoryTransports when asked.

    :ivar server: the server protocol; :ivar client: the client protocol.
    :ivar serverTransport: its MemoryTransport; :ivar clientTransport: likewise.
    :ivar clock: a task.Clock advanced by 0 every round (for callLater(0)
        calls), or None.
    :ivar pumpPolicy: how a round's bytes reach the other side: None delivers
        everything one side wrote since the last round in one dataReceived;
        else a callable ``(queue, protocol)`` given a queue of the writes
        (``get()`` returns the next one, None once empty), as Twisted's
        loopbackAsync takes (protocols.loopback.identityPumpPolicy).
    """

    def __init__(
        self, server, client, serverTransport, clientTransport, clock=None, *, pumpPolicy=None
    ):
        self.pumpPolicy = pumpPolicy
        self.server = server
        self.client = client
        self.serverTransport = serverTransport
        self.clientTransport = clientTransport
        self.clock = clock

    def flush(self, maxRounds=10000):
        """
        Pump until a round moves nothing.

        :return: True if anything moved.
        :raises RuntimeError: if still busy after maxRounds rounds (a producer
            that never stops), so that a test cannot hang.
        """
        moved = False
        for _ in range(maxRounds):
            if not self.pump():
                return moved
            moved = True
        raise RuntimeError("IOPump still busy after %d rounds" % (maxRounds,))

    def pump(self):
        """
        Run one round: deliver each side's buffer, drain producers, close.

        :return: True if bytes moved or a connection state changed.
        """
        if self.clock is not None:
            self.clock.advance(0)
        busy = False
        pairs = (
            (self.clientTransport, self.serverTransport),
            (self.serverTransport, self.clientTransport),
        )
        for source, destination in pairs:
            busy = self._deliver(source, destination) or busy
        for source, destination in pairs:
            busy = self._close(source, destination) or busy
        for transport in (self.clientTransport, self.serverTransport):
            if not transport._buffer:
                transport._drained()
                # Only new bytes count: bytes held back by a paused reader
                # must not keep flush() spinning.
                busy = busy or bool(transport._buffer)
        return busy

    def _deliver(self, source, destination):
        if (
            not source._buffer
            or destination.readPaused
            or destination.autoPaused
            or destination.disconnected
        ):
            return False
        if self.pumpPolicy is None:
            destination.protocol.dataReceived(source._take())
        else:
            chunks = source._buffer
            source._buffer = []
            source._bufferSize = 0
            self.pumpPolicy(_ChunkQueue(chunks), destination.protocol)
        return True

    def _close(self, source, destination):
        if source.disconnected:
            return False
        if source.aborted:
            source.connectionLost(Failure(error.ConnectionAborted()))
            destination.connectionLost(Failure(error.ConnectionLost("Connection reset")))
            return True
        if source._buffer:
            return False
        if source.disconnecting and source.producer is None:
            source.connectionLost(_DONE)
            destination.connectionLost(_DONE)
            return True
        if source.writeShutdown and not destination.readShutdown:
            destination.readShutdown = True
            if IHalfCloseableProtocol.providedBy(destination.protocol):
                destination.protocol.readConnectionLost()
                if IHalfCloseableProtocol.providedBy(source.protocol):
                    source.protocol.writeConnectionLost()
            else:
                # A protocol that cannot half-close treats EOF as the end.
                source.connectionLost(_DONE)
                destination.connectionLost(_DONE)
            return True
        return False


class _ChunkQueue:
    """The bytes one side wrote since the last delivery, one write per item."""

    def __init__(self, chunks):
        self._chunks = chunks
        self._next = 0

    def __bool__(self):
        return self._next < len(self._chunks)

    def get(self):
        """Return the next chunk (None when empty, as in Twisted's queue)."""
        if not self:
            return None
        chunk = self._chunks[self._next]
        self._next += 1
        return chunk


def connectedPair(
    serverProtocol,
    clientProtocol,
    *,
    clock=None,
    greet=True,
    serverAddress=None,
    clientAddress=None,
):
    """
    Connect two protocols in memory and return the IOPump between them.

    The server's makeConnection runs first, then the client's; with greet
    (the default) the pump is flushed once so that greetings written in
    connectionMade are delivered.

    :param clock: a task.Clock to advance by 0 on every pump round.
    :param serverAddress: the server's address (IPv4 127.0.0.1:80 by default).
    :param clientAddress: the client's address (IPv4 127.0.0.1:54321 by default).
    """
    serverAddress = serverAddress or IPv4Address("TCP", "127.0.0.1", 80)
    clientAddress = clientAddress or IPv4Address("TCP", "127.0.0.1", 54321)
    serverTransport = MemoryTransport(serverProtocol, serverAddress, clientAddress)
    serverTransport.autoPauseReading = True  # as an accepted connection's
    clientTransport = MemoryTransport(clientProtocol, clientAddress, serverAddress)
    serverTransport.peer = clientTransport
    clientTransport.peer = serverTransport
    pump = IOPump(serverProtocol, clientProtocol, serverTransport, clientTransport, clock)
    serverProtocol.makeConnection(serverTransport)
    clientProtocol.makeConnection(clientTransport)
    if greet:
        pump.flush()
    return pump
