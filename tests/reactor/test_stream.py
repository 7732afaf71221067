"""
The stream transport's write path and producer handling (reactor.stream),
on a real TCP connection over loopback, on every reactor.

Each test fills the kernel's buffers by pausing the reading side, so that
writes really are buffered by the transport; the sender's SO_SNDBUF is made
small so that each doWrite hands the kernel a bounded amount.
"""

import socket

import pytest

from reactor import stream, tcp
from reactor.error import ConnectionDone
from tests.reactor.transport_helpers import (
    HalfCloseRecorder,
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
