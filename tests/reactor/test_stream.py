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
    RecordingClientFactory,
    RecordingServerFactory,
    spin,
    wait,
)


@pytest.fixture
def pair(reactor):
    """A TCP connection on loopback as (client protocol, server protocol), closed afterwards."""
    server = RecordingServerFactory()
    port = reactor.listenTCP(0, server, interface="127.0.0.1")
    client = RecordingClientFactory()
    reactor.connectTCP("127.0.0.1", port.getHost().port, client, timeout=5)
    spin(reactor, lambda: client.built and server.built, what="connect")
    yield client.built[0], server.built[0]
    for protocol in (client.built[0], server.built[0]):
        protocol.transport.abortConnection()
    wait(reactor, port.stopListening())
    spin(reactor, lambda: client.built[0].lost and server.built[0].lost, what="cleanup")


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
