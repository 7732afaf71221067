"""
The stream transport's write path and producer handling (reactor.stream),
on a real TCP connection over loopback, on every reactor.

Each test fills the kernel's buffers by pausing the reading side, so that
writes really are buffered by the transport; the sender's SO_SNDBUF is made
small so that each doWrite hands the kernel a bounded amount.
"""

import dis
import socket
import sys
import time
import tracemalloc

import pytest

from reactor import stream, tcp, unix
from reactor.error import ConnectionDone
from tests.reactor.transport_helpers import (
    EchoRecorder,
    HalfCloseRecorder,
    HoldingEchoRecorder,
    HoldingRecorder,
    Recorder,
    RecordingClientFactory,
    RecordingServerFactory,
    spin,
    wait,
)


def _openPair(reactor, protocol=Recorder, serverProtocol=None):
    """Connect over loopback TCP; return (client protocol, server protocol, port)."""
    server = RecordingServerFactory(serverProtocol or protocol)
    port = reactor.listenTCP(0, server, interface="127.0.0.1")
    client = RecordingClientFactory(protocol)
    reactor.connectTCP("127.0.0.1", port.getHost().port, client, timeout=5)
    spin(reactor, lambda: client.built and server.built, what="connect")
    return client.built[0], server.built[0], port


def _closePair(reactor, client, server, port):
    for protocol in (client, server):
        protocol.transport.abortConnection()
    wait(reactor, port.stopListening())
    spin(reactor, lambda: client.lost and server.lost, what="cleanup")


@pytest.fixture
def pair(reactor):
    """A TCP connection on loopback as (client protocol, server protocol), closed afterwards."""
    client, server, port = _openPair(reactor)
    yield client, server
    _closePair(reactor, client, server, port)


def _shrinkSendBuffer(transport):
    # The kernel takes at most about SO_SNDBUF per send, so doWrite drains
    # the transport's buffer in steps of tens of KiB, not all at once.
    sock = socket.socket(fileno=transport.fd)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    finally:
        sock.detach()


def _fillUntil(transport, condition, chunk=b"f" * 4096):
    """
    Write chunk until condition() holds; the peer must not be reading.

    :return: the number of bytes written.
    """
    for count in range(16384):
        if condition():
            return count * len(chunk)
        transport.write(chunk)
    raise AssertionError("the transport never buffered enough (is the peer reading?)")


class BufferWatcher:
    """A push producer that records the transport's buffer size at each call."""

    def __init__(self, transport):
        self.transport = transport
        self.events = []

    def pauseProducing(self):
        self.events.append(("pause", self.transport.getBufferSize()))

    def resumeProducing(self):
        self.events.append(("resume", self.transport.getBufferSize()))

    def stopProducing(self):
        self.events.append(("stop", self.transport.getBufferSize()))


def test_pushProducerResumedAtLowWaterMark(reactor, pair, monkeypatch):
    # Water marks far above what one doWrite sends (about 64 KiB with the
    # small SO_SNDBUF), so the buffer must pass through (0, lowWater] while
    # draining: the producer is resumed there, not only once it is empty.
    monkeypatch.setattr(tcp.Connection, "highWater", 1024 * 1024)
    monkeypatch.setattr(tcp.Connection, "lowWater", 512 * 1024)
    client, server = pair
    transport = client.transport
    _shrinkSendBuffer(transport)
    server.transport.pauseProducing()
    producer = BufferWatcher(transport)
    transport.registerProducer(producer, True)
    _fillUntil(transport, lambda: producer.events)
    [(event, size)] = producer.events
    assert event == "pause" and size > transport.highWater
    server.transport.resumeProducing()
    spin(reactor, lambda: len(producer.events) == 2, what="resumeProducing")
    event, size = producer.events[1]
    assert event == "resume"
    assert 0 < size <= transport.lowWater, producer.events


def test_manySmallBufferedWritesGoOutWithWritev(reactor, pair, monkeypatch):
    client, server = pair
    transport = client.transport
    _shrinkSendBuffer(transport)
    server.transport.pauseProducing()
    filled = _fillUntil(transport, lambda: transport.getBufferSize() > 0)
    pieces = [b"<piece %04d>" % index for index in range(500)]
    calls = []
    realWritev = stream._writev

    def recordingWritev(fd, buffers):
        sizes = [len(buffer) for buffer in buffers]
        sent = realWritev(fd, buffers)
        calls.append((sizes, sent))
        return sent

    monkeypatch.setattr(stream, "_writev", recordingWritev)
    buffered = transport.getBufferSize()
    for piece in pieces:
        transport.write(piece)
    assert transport.getBufferSize() == buffered + sum(map(len, pieces))
    server.transport.resumeProducing()
    expected = b"f" * filled + b"".join(pieces)
    spin(reactor, lambda: len(server.received) >= len(expected), what="all pieces")
    assert bytes(server.received) == expected
    # One writev sent more than its first piece: several pieces per syscall.
    assert any(sent > sizes[0] for sizes, sent in calls), calls
    assert len(calls) < len(pieces)


def test_stopProducingClosesConnection(reactor, pair):
    client, server = pair
    client.transport.stopProducing()
    spin(reactor, lambda: client.lost and server.lost, timeout=5, what="close")
    assert client.lost[0].check(ConnectionDone)
    assert server.lost[0].check(ConnectionDone)
    assert client.events == ["made", "lost"]
    assert server.events == ["made", "lost"]


# -- the read size ---------------------------------------------------------------


@pytest.fixture
def readSizes(monkeypatch):
    """Record (fd, size asked) for every read the stream transports make."""
    calls = []
    realRead = stream._read

    def recordingRead(fd, size):
        calls.append((fd, size))
        return realRead(fd, size)

    monkeypatch.setattr(stream, "_read", recordingRead)
    return calls


def _sendAndAwait(reactor, sender, receiver, data):
    before = len(receiver.received)
    sender.transport.write(data)
    spin(reactor, lambda: len(receiver.received) >= before + len(data), what="data")


def test_smallMessagesAreReadWithTheSmallSize(reactor, pair, readSizes):
    # The first read asks for bufferSize; once one came back short of
    # _SMALL_READ, the next ones ask for _SMALL_READ only.
    client, server = pair
    for index in range(5):
        _sendAndAwait(reactor, client, server, b"m%02d" % index * 16)
    asked = [size for fd, size in readSizes if fd == server.transport.fd]
    assert asked[0] == stream.StreamTransport.bufferSize
    assert asked[1:] == [stream._SMALL_READ] * (len(asked) - 1)
    assert len(asked) >= 5
    assert bytes(server.received) == b"".join(b"m%02d" % index * 16 for index in range(5))


def test_aReadThatFillsTheSmallSizeGrowsBack(reactor, pair, readSizes):
    # After small messages, a large one arrives whole: its first read takes
    # _SMALL_READ bytes, the next asks for bufferSize again.
    client, server = pair
    _sendAndAwait(reactor, client, server, b"hello")
    sizes = []
    server.dataReceived = lambda data: (
        sizes.append(len(data)),
        type(server).dataReceived(server, data),
    )
    big = bytes(range(256)) * 1024
    _sendAndAwait(reactor, client, server, big)
    assert bytes(server.received) == b"hello" + big
    asked = [size for fd, size in readSizes if fd == server.transport.fd]
    assert asked[:3] == [
        stream.StreamTransport.bufferSize,
        stream._SMALL_READ,
        stream.StreamTransport.bufferSize,
    ]
    assert sizes[0] == stream._SMALL_READ
    assert max(sizes[1:]) > stream._SMALL_READ


def test_largeReadsKeepTheFullSize(reactor, pair, readSizes):
    # Reads of a few KiB are short of bufferSize but not small: no shrinking.
    client, server = pair
    for index in range(5):
        _sendAndAwait(reactor, client, server, b"%d" % index * 4096)
    asked = {size for fd, size in readSizes if fd == server.transport.fd}
    assert asked == {stream.StreamTransport.bufferSize}


def test_aSmallBufferSizeIsNeverExceeded(reactor, monkeypatch, readSizes):
    # A transport class with bufferSize below _SMALL_READ reads at most that.
    monkeypatch.setattr(stream.StreamTransport, "bufferSize", 100)
    sender, receiver, port = _openPair(reactor)
    _sendAndAwait(reactor, sender, receiver, b"a" * 10)
    _sendAndAwait(reactor, sender, receiver, b"b" * 1000)
    assert bytes(receiver.received) == b"a" * 10 + b"b" * 1000
    assert {size for fd, size in readSizes if fd == receiver.transport.fd} == {100}
    _closePair(reactor, sender, receiver, port)


# -- writes that are ignored -----------------------------------------------------


def test_writeAfterConnectionLostIsIgnored(reactor, pair):
    client, server = pair
    client.transport.loseConnection()
    spin(reactor, lambda: client.lost and server.lost, what="close")
    client.transport.write(b"too late")
    client.transport.write(b"")
    reactor.iterate(0)
    assert client.transport.getBufferSize() == 0
    assert client.events == ["made", "lost"]
    assert client.lost[0].check(ConnectionDone)


def test_writeAfterLoseConnectionIsNotSent(reactor, pair):
    client, server = pair
    client.transport.write(b"before")
    client.transport.loseConnection()
    client.transport.write(b"after")
    spin(reactor, lambda: client.lost and server.lost, what="close")
    assert bytes(server.received) == b"before"
    assert server.lost[0].check(ConnectionDone)


def test_emptyWriteAfterWriteSideClosedDoesNotLoseTheConnection(reactor):
    # Writing nothing once the write side is shut is ignored, as it is on an
    # open connection; the connection stays up for reading.
    client, server, port = _openPair(reactor, HalfCloseRecorder)
    client.transport.loseWriteConnection()
    spin(reactor, lambda: "readLost" in server.events, what="half-close")
    client.transport.write(b"")
    for _ in range(5):
        reactor.iterate(0.01)
    assert client.transport.connected and not client.lost
    _sendAndAwait(reactor, server, client, b"still reading")
    assert bytes(client.received) == b"still reading"
    assert client.events == ["made", "writeLost"]
    _closePair(reactor, client, server, port)


class WritesWhenStopped:
    """A push producer that tries to write once more when it is stopped."""

    def __init__(self, transport):
        self.transport = transport
        self.stopped = 0

    def pauseProducing(self):
        pass

    def resumeProducing(self):
        pass

    def stopProducing(self):
        self.stopped += 1
        self.transport.write(b"from stopProducing")


def test_writeWhileTheConnectionIsBeingLostIsNotSent(reactor):
    # The server half-closes; the client, not half-closeable, loses its
    # connection and its producer's stopProducing writes.  The server is
    # still reading, but that write is never sent.
    client, server, port = _openPair(reactor, Recorder, HalfCloseRecorder)
    producer = WritesWhenStopped(client.transport)
    client.transport.registerProducer(producer, True)
    server.transport.loseWriteConnection()
    spin(reactor, lambda: client.lost, what="client lost")
    for _ in range(5):
        reactor.iterate(0.01)
    assert producer.stopped == 1
    assert bytes(server.received) == b""
    _closePair(reactor, client, server, port)


# -- backpressure by default: reading pauses while our own buffer is full ---------


_CHUNK = b"x" * 65536


def _shrinkKernelBuffers(*transports):
    # Small send buffers on both ends, so that the kernel holds little and
    # the transports' own buffers show where the bytes pile up.  (Not the
    # receive buffers: shrinking a window already advertised stalls TCP.)
    for transport in transports:
        _shrinkSendBuffer(transport)


def _openUNIXPair(reactor, path, protocol, serverProtocol):
    server = RecordingServerFactory(serverProtocol)
    port = reactor.listenUNIX(path, server)
    client = RecordingClientFactory(protocol)
    reactor.connectUNIX(path, client, timeout=5)
    spin(reactor, lambda: client.built and server.built, what="connect")
    return client.built[0], server.built[0], port


@pytest.fixture(params=["tcp", "unix", "tcp-holding", "unix-holding"])
def echoPair(request, reactor, tmp_path):
    """
    (client, server) over TCP or UNIX: the server echoes, the client does not
    read (its reading is paused) until the test resumes it.  Both write at
    once, or both hold their writes for the end of the turn (holdWrites).
    """
    if request.param.endswith("-holding"):
        clientClass, serverClass = HoldingRecorder, HoldingEchoRecorder
    else:
        clientClass, serverClass = Recorder, EchoRecorder
    if request.param.startswith("tcp"):
        client, server, port = _openPair(reactor, clientClass, serverClass)
    else:
        path = str(tmp_path / "echo.sock")
        client, server, port = _openUNIXPair(reactor, path, clientClass, serverClass)
    _shrinkKernelBuffers(client.transport, server.transport)
    client.transport.pauseProducing()
    yield client, server
    _closePair(reactor, client, server, port)


@pytest.fixture
def readerChanges(reactor, monkeypatch):
    """Record ("add" or "remove", transport, its buffer size) for each change of
    a stream transport's reading."""
    changes = []
    for name, event in (("addReader", "add"), ("removeReader", "remove")):
        real = getattr(reactor, name)

        def record(descriptor, real=real, event=event):
            if isinstance(descriptor, stream.StreamTransport):
                changes.append((event, descriptor, descriptor.getBufferSize()))
            real(descriptor)

        monkeypatch.setattr(reactor, name, record)
    return changes


def _reading(reactor, protocol):
    return protocol.transport in reactor.getReaders()


def _floodUntilPaused(reactor, client, server):
    """
    Write 64 KiB chunks from client to the echoing server until the server
    stops reading for good (at most 16 MiB); return the bytes written.

    Bounded by bytes, not by loop turns: on a loaded machine one turn may
    move less, and the server's buffer fills after more of them.  A pause
    while the kernel could still take the echo ends when the buffer drains
    to lowWater (a turn's writes are sent together at its end, so the
    buffer can pass highWater before the kernel is full): flooding goes on
    until a pause outlasts a settling of the sockets.  More chunks then go
    until some wait in the client's own buffer (the kernel's are full): for
    the server to read once it may again, and so that the client watches
    its socket for writability and sees the server's end (an abort).
    """
    written = 0
    deadline = time.monotonic() + 30  # a hang guard only
    while written < 256 * len(_CHUNK) and time.monotonic() < deadline:
        if not _reading(reactor, server):
            _settle(reactor)
            if not _reading(reactor, server):
                for _ in range(64):
                    client.transport.write(_CHUNK)
                    written += len(_CHUNK)
                    reactor.iterate(0.001)
                    if client.transport.getBufferSize():
                        return written
                raise AssertionError("the client's kernel buffer never filled")
            continue
        if client.transport.getBufferSize() < 4 * len(_CHUNK):
            client.transport.write(_CHUNK)
            written += len(_CHUNK)
        reactor.iterate(0.001)
    raise AssertionError(
        "the server never stopped reading; %d bytes buffered for a peer that does not read"
        % (server.transport.getBufferSize(),)
    )


def _settle(reactor, seconds=0.3):
    # Longer than TCP's minimum retransmission timeout (200 ms): a segment
    # the kernel dropped while the receiver was full has been sent again.
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        reactor.iterate(0.01)


def _flush(reactor, client, server, written):
    """Let the client read again and wait until every byte has been echoed back."""
    client.transport.resumeProducing()
    spin(
        reactor,
        lambda: len(client.received) >= written,
        what="the echo of %d bytes (client has %d)" % (written, len(client.received)),
    )
    assert len(server.received) == len(client.received) == written


def test_readingPausedAboveHighWater(reactor, echoPair):
    # A peer that sends without reading: the echo server's own buffer passes
    # highWater, it stops reading, and more sending piles up on the sender's
    # side, not the server's.
    client, server = echoPair
    written = _floodUntilPaused(reactor, client, server)
    transport = server.transport
    limit = transport.highWater + transport.bufferSize
    # Paused past highWater (test_readingResumesAtLowWaterOncePerPause sees
    # each pause); the same turn may have sent some since, but not down to
    # lowWater, where reading resumes.
    assert transport.lowWater < transport.getBufferSize() <= limit
    received = len(server.received)
    for _ in range(16):
        client.transport.write(_CHUNK)
        written += len(_CHUNK)
        reactor.iterate(0)
    _settle(reactor)
    assert len(server.received) == received
    assert transport.getBufferSize() <= limit
    assert not _reading(reactor, server)
    _flush(reactor, client, server, written)
    assert _reading(reactor, server)


def test_readingResumesAtLowWaterOncePerPause(reactor, echoPair, readerChanges):
    # Each time reading is paused, the buffer is past highWater; each time it
    # is re-added, the buffer has drained to lowWater; and adds and removes
    # alternate: the read side is re-added exactly once per pause.
    client, server = echoPair
    del readerChanges[:]
    written = _floodUntilPaused(reactor, client, server)
    _flush(reactor, client, server, written)
    transport = server.transport
    changes = [
        (event, size) for event, descriptor, size in readerChanges if descriptor is transport
    ]
    assert changes[0][0] == "remove" and changes[-1][0] == "add", changes
    assert [event for event, size in changes] == ["remove", "add"] * (len(changes) // 2)
    assert all(size > transport.highWater for event, size in changes if event == "remove")
    assert all(size <= transport.lowWater for event, size in changes if event == "add")


def test_externalPauseAndAutoPauseCompose(reactor, echoPair, readerChanges):
    # pauseProducing() from a consumer of ours and the automatic pause are two
    # separate reasons not to read: reading resumes only when both let go.
    client, server = echoPair
    transport = server.transport
    written = _floodUntilPaused(reactor, client, server)
    del readerChanges[:]
    # Resumed from outside while our buffer is still full: still paused.
    transport.pauseProducing()
    transport.resumeProducing()
    assert not _reading(reactor, server)
    # Paused from outside, then the buffer drains: still paused.
    transport.pauseProducing()
    client.transport.resumeProducing()
    spin(reactor, lambda: transport.getBufferSize() == 0, what="the server's buffer to drain")
    _settle(reactor)
    assert not _reading(reactor, server)
    assert len(server.received) == len(client.received)
    transport.resumeProducing()
    assert _reading(reactor, server)
    adds = [change for change in readerChanges if change[:2] == ("add", transport)]
    assert adds == [("add", transport, 0)]  # once, when both have let go
    _flush(reactor, client, server, written)


def test_pushProducerRegisteredTakesOver(reactor, echoPair):
    # A push producer registered while reading is paused automatically takes
    # over: reading resumes at once, and from then on the buffer pauses the
    # producer, never the reading.
    client, server = echoPair
    transport = server.transport
    written = _floodUntilPaused(reactor, client, server)
    producer = BufferWatcher(transport)
    transport.registerProducer(producer, True)
    assert _reading(reactor, server)
    # The client still has plenty buffered: the server reads and echoes it.
    spin(reactor, lambda: producer.events, what="the producer to be paused")
    _settle(reactor)
    assert producer.events[0][0] == "pause"
    assert _reading(reactor, server)
    transport.unregisterProducer()
    _flush(reactor, client, server, written)


def test_pullProducerRegisteredTakesOver(reactor, echoPair):
    client, server = echoPair
    transport = server.transport
    written = _floodUntilPaused(reactor, client, server)
    producer = BufferWatcher(transport)
    transport.registerProducer(producer, False)
    assert _reading(reactor, server)
    client.transport.resumeProducing()
    spin(reactor, lambda: producer.events, what="the pull producer to be asked for more")
    assert producer.events[0] == ("resume", 0)
    transport.unregisterProducer()
    _flush(reactor, client, server, written)


class NoAutoPauseEcho(EchoRecorder):
    autoPauseReading = False


def test_optedOutProtocolKeepsReading(reactor, tmp_path):
    # A protocol with autoPauseReading = False is read whatever is buffered.
    client, server, port = _openPair(reactor, Recorder, NoAutoPauseEcho)
    _shrinkKernelBuffers(client.transport, server.transport)
    client.transport.pauseProducing()
    transport = server.transport
    for _ in range(64):
        client.transport.write(_CHUNK)
        reactor.iterate(0)
    spin(reactor, lambda: transport.getBufferSize() > 8 * transport.highWater, what="buffering")
    assert _reading(reactor, server)
    _closePair(reactor, client, server, port)


def test_optOutOnTheInstanceAndThroughAWrapper(reactor):
    # The switch is read from the protocol the transport has: an instance
    # attribute counts, and a ProtocolWrapper answers for what it wraps.
    from protocols.policies import WrappingFactory

    server = WrappingFactory(RecordingServerFactory(EchoRecorder))
    port = reactor.listenTCP(0, server, interface="127.0.0.1")
    factory = RecordingClientFactory(Recorder)
    reactor.connectTCP("127.0.0.1", port.getHost().port, factory, timeout=5)
    spin(reactor, lambda: factory.built and server.wrappedFactory.built, what="connect")
    client, wrapped = factory.built[0], server.wrappedFactory.built[0]
    wrapped.autoPauseReading = False
    wrapper = wrapped.transport
    assert wrapper.autoPauseReading is False
    _shrinkKernelBuffers(client.transport, wrapper.transport)
    client.transport.pauseProducing()
    for _ in range(64):
        client.transport.write(_CHUNK)
        reactor.iterate(0)
    spin(reactor, lambda: wrapper.getBufferSize() > 8 * wrapper.highWater, what="buffering")
    assert wrapper.transport in reactor.getReaders()
    for protocol in (client, wrapped):
        protocol.transport.abortConnection()
    wait(reactor, port.stopListening())
    spin(reactor, lambda: client.lost and wrapped.lost, what="cleanup")


def test_loseConnectionWhileAutoPaused(reactor, echoPair, readerChanges):
    # The close waits for the buffer to drain, and reading is not resumed on
    # the way out.
    client, server = echoPair
    _floodUntilPaused(reactor, client, server)
    del readerChanges[:]
    server.transport.loseConnection()
    echoed = len(server.received)
    client.transport.resumeProducing()
    spin(reactor, lambda: server.lost and client.lost, what="close")
    assert server.lost[0].check(ConnectionDone)
    assert len(client.received) == echoed
    assert ("add", server.transport) not in [change[:2] for change in readerChanges]


def test_abortConnectionWhileAutoPaused(reactor, echoPair, readerChanges):
    client, server = echoPair
    _floodUntilPaused(reactor, client, server)
    del readerChanges[:]
    server.transport.abortConnection()
    spin(reactor, lambda: server.lost and client.lost, what="abort")
    assert ("add", server.transport) not in [change[:2] for change in readerChanges]
    assert server.events == ["made", "lost"]


class HalfCloseEcho(HalfCloseRecorder):
    echo = True


def test_halfCloseWhileAutoPausedResumesReading(reactor):
    # The write side is shut once the buffer drains; reading comes back then,
    # as a half-close keeps the read side.
    client, server, port = _openPair(reactor, HalfCloseRecorder, HalfCloseEcho)
    _shrinkKernelBuffers(client.transport, server.transport)
    client.transport.pauseProducing()
    written = _floodUntilPaused(reactor, client, server)
    server.echo = False
    server.transport.loseWriteConnection()
    client.transport.resumeProducing()
    spin(reactor, lambda: "readLost" in client.events, what="the half-close")
    assert _reading(reactor, server)
    client.transport.write(b"after the half-close")
    spin(reactor, lambda: server.received.endswith(b"after the half-close"), what="more data")
    assert len(server.received) >= written
    assert server.events == ["made", "writeLost"]
    _closePair(reactor, client, server, port)


class PausedOnConnect(Recorder):
    """Does not read until resumed."""

    def connectionMade(self):
        Recorder.connectionMade(self)
        self.transport.pauseProducing()


class FloodsOnConnect(Recorder):
    """Writes 4 MiB in connectionMade, far more than highWater."""

    def connectionMade(self):
        Recorder.connectionMade(self)
        self.transport.write(b"h" * (4 << 20))


def test_noReadingWhileConnectionMadeOutputIsBuffered(reactor, readerChanges):
    # Reading starts once what connectionMade wrote has drained to lowWater,
    # not when the connection is made; and then only once.
    serverFactory = RecordingServerFactory(FloodsOnConnect)
    port = reactor.listenTCP(0, serverFactory, interface="127.0.0.1")
    # Accepted sockets inherit the listener's small send buffer.
    port.socket.setsockopt(socket.SOL_SOCKET, socket.SO_SNDBUF, 4096)
    clientFactory = RecordingClientFactory(PausedOnConnect)
    reactor.connectTCP("127.0.0.1", port.getHost().port, clientFactory, timeout=5)
    spin(reactor, lambda: clientFactory.built and serverFactory.built, what="connect")
    client, server = clientFactory.built[0], serverFactory.built[0]
    transport = server.transport
    assert transport.getBufferSize() > transport.highWater
    client.transport.write(b"early")
    _settle(reactor)
    assert server.received == b""
    assert not _reading(reactor, server)
    client.transport.resumeProducing()
    spin(reactor, lambda: server.received == b"early", what="the early bytes")
    adds = [change for change in readerChanges if change[:2] == ("add", transport)]
    assert len(adds) == 1 and adds[0][2] <= transport.lowWater, adds
    _closePair(reactor, client, server, port)


class WritesOnConnect(Recorder):
    """A client that writes 4 MiB at once, then reads the echo."""

    def connectionMade(self):
        Recorder.connectionMade(self)
        self.transport.write(b"c" * (4 << 20))


def test_outgoingConnectionsKeepReadingSoTwoPeersCannotDeadlock(reactor):
    # A client that writes more than highWater before it reads anything, to an
    # echo server: the server pauses, the client keeps reading (its
    # connections are not paused by default), and everything comes back.
    # Were both ends to pause, each would wait for the other for ever.
    client, server, port = _openPair(reactor, WritesOnConnect, EchoRecorder)
    spin(reactor, lambda: len(client.received) == 4 << 20, what="the whole echo")
    assert client.transport.autoPauseReading is False
    assert server.transport.autoPauseReading is True
    _closePair(reactor, client, server, port)


class PausingClient(Recorder):
    autoPauseReading = True


def test_aClientProtocolCanOptIn(reactor):
    # autoPauseReading = True on the protocol turns the pause on for an
    # outgoing connection too (here the client "echoes" by writing a lot).
    client, server, port = _openPair(reactor, PausingClient, Recorder)
    _shrinkKernelBuffers(client.transport, server.transport)
    server.transport.pauseProducing()
    _fillUntil(
        client.transport, lambda: client.transport.getBufferSize() > client.transport.highWater
    )
    assert not _reading(reactor, client)
    server.transport.resumeProducing()
    spin(reactor, lambda: _reading(reactor, client), what="reading to resume")
    assert client.transport.getBufferSize() <= client.transport.lowWater
    _closePair(reactor, client, server, port)


def _tracedGrowth(action):
    tracemalloc.start()
    try:
        before = tracemalloc.get_traced_memory()[0]
        action()
        return tracemalloc.get_traced_memory()[0] - before
    finally:
        tracemalloc.stop()


def test_writtenBytesAreHeldByReferenceNotCopied(reactor, pair):
    # 32 MiB written to a peer that does not read: the transport keeps the
    # object it was given (memoryviews of it), and pieces given to
    # writeSequence while buffering are kept as they are, not joined.
    client, server = pair
    server.transport.pauseProducing()
    transport = client.transport
    big = bytes(32 << 20)
    pieces = [bytes(4 << 20) for _ in range(8)]

    def writeAndRun():
        transport.write(big)
        transport.writeSequence(pieces)
        for _ in range(10):
            reactor.iterate(0)

    growth = _tracedGrowth(writeAndRun)
    assert transport.getBufferSize() > 60 << 20
    assert growth < 1 << 20, growth


# -- the hot methods' copies (stream._PER_CLASS) -----------------------------


def test_eachTransportClassHasItsOwnCopyOfTheHotMethods():
    """
    Accepted and outgoing connections, TCP and UNIX, each run code objects
    of their own for every read and write: the same code, with inline
    caches of their own.
    """
    classes = [tcp.Connection, tcp.Server, unix.Connection, unix.Server]
    hot = ("doRead", "doWrite", "write", "writeSequence", "_sendHeld")
    assert set(hot) <= set(stream._PER_CLASS)
    for name in hot:
        original = getattr(stream.StreamTransport, name)
        copies = [getattr(cls, name) for cls in classes]
        assert len({id(copy.__code__) for copy in copies + [original]}) == len(classes) + 1
        for copy in copies:
            assert copy.__code__.co_code == original.__code__.co_code
            assert copy.__globals__ is original.__globals__
            assert copy.__qualname__ == original.__qualname__
            assert copy.__doc__ == original.__doc__


def test_aSubclassKeepsAHotMethodItDefines():
    class Counting(tcp.Server):
        __slots__ = ()

        def doRead(self):
            return "its own"

    class Below(Counting):
        __slots__ = ()

    assert Counting.__dict__["doRead"](None) == "its own"
    # A subclass of it copies the override, not StreamTransport's.
    assert Below.doRead is not Counting.doRead
    assert Below.doRead.__code__.co_code == Counting.doRead.__code__.co_code
    assert Below.write.__code__ is not tcp.Server.write.__code__


def test_aHotMethodThatIsNotAFunctionIsInheritedAsItIs():
    """A subclass below one whose write is another callable inherits that callable."""

    class Recording:
        def __call__(self, transport, data):
            return data

    recording = Recording()

    class Wrapped(tcp.Server):
        __slots__ = ()
        write = staticmethod(recording)

    class Below(Wrapped):
        __slots__ = ()

    assert Below.write is recording
    assert Below.doRead.__code__ is not Wrapped.doRead.__code__


@pytest.mark.skipif(
    sys.version_info[:2] != (3, 11) or sys.implementation.name != "cpython",
    reason="the names of specialised instructions checked are CPython 3.11's",
)
def test_readsOnBothKindsOfConnectionRunSpecialisedLookups(reactor, pair):
    """
    A process with accepted and outgoing connections (a proxy) reads on
    both in turn; each class's doRead specialises its attribute lookups
    for that class alone (one shared copy would not: 3.11 keeps one class
    per site, and turns back to the generic lookup when the class changes).
    """
    client, server = pair
    kinds = (type(client.transport), type(server.transport))
    assert kinds[0].doRead.__code__ is not kinds[1].doRead.__code__
    for count in range(1, 101):
        client.transport.write(b"x")
        spin(reactor, lambda n=count: len(server.received) == n, what="the server's read")
        server.transport.write(b"y")
        spin(reactor, lambda n=count: len(client.received) == n, what="the client's read")
    for cls in kinds:
        lookups = {
            instruction.argval: instruction.opname
            for instruction in dis.get_instructions(cls.doRead, adaptive=True)
            if instruction.argval in ("_readSize", "fd")
            and instruction.opname.startswith("LOAD_ATTR")
        }
        assert lookups == {"_readSize": "LOAD_ATTR_SLOT", "fd": "LOAD_ATTR_SLOT"}, cls
