"""
Tests for protocols.wire: the RFC 862-868 services, on StringTransport and
task.Clock, and Chargen's backpressure over a real loopback connection.
"""

import calendar
import socket
import struct

import pytest

from protocols.protocol import ClientFactory, Factory, Protocol
from protocols.wire import (
    EPOCH_OFFSET,
    QOTD,
    Chargen,
    Daytime,
    Discard,
    Echo,
    Time,
    chargenPattern,
)
from reactor.task import Clock
from reactor.testing import StringTransport, StringTransportWithDisconnection


def connect(protocol, transport=None):
    transport = transport or StringTransport()
    protocol.makeConnection(transport)
    return transport


def test_echoWritesBackWhatArrives():
    protocol = Echo()
    transport = connect(protocol)
    protocol.dataReceived(b"hello ")
    protocol.dataReceived(b"world")
    assert transport.value() == b"hello world"
    assert not transport.disconnecting


def test_discardAnswersNothing():
    protocol = Discard()
    transport = connect(protocol)
    protocol.dataReceived(b"x" * 1000)
    assert transport.value() == b""
    assert not transport.disconnecting


def test_qotdSendsDefaultQuoteAndCloses():
    transport = connect(QOTD())
    assert transport.value() == QOTD.quote
    assert transport.value().endswith(b"\r\n")
    assert transport.disconnecting


def test_qotdQuoteIsConfigurable():
    assert connect(QOTD(quote=b"Carpe diem.\r\n")).value() == b"Carpe diem.\r\n"
    factory = Factory.forProtocol(QOTD)
    factory.quote = "Ünïcode quote\r\n"
    protocol = factory.buildProtocol(None)
    assert connect(protocol).value() == "Ünïcode quote\r\n".encode("utf-8")


def test_daytimeUsesGivenClock():
    when = calendar.timegm((1982, 2, 22, 17, 37, 43))
    clock = Clock()
    clock.advance(when)
    transport = connect(Daytime(clock=clock))
    assert transport.value() == b"Monday, February 22, 1982 17:37:43-UTC\r\n"
    assert transport.disconnecting


def test_daytimeAcceptsTimeFunction():
    transport = connect(Daytime(clock=lambda: 0))
    assert transport.value() == b"Thursday, January 1, 1970 00:00:00-UTC\r\n"


def test_timeSendsSecondsSince1900BigEndian():
    transport = connect(Time(clock=lambda: 1000.75))
    assert transport.value() == struct.pack("!I", EPOCH_OFFSET + 1000)
    assert len(transport.value()) == 4
    assert transport.disconnecting


def test_timeAtPosixEpochIsRfcValue():
    # RFC 868: 2,208,988,800 corresponds to 00:00 1 Jan 1970 GMT.
    value = connect(Time(clock=lambda: 0)).value()
    assert struct.unpack("!I", value) == (2208988800,)


def test_timeWrapsAfter2036():
    value = connect(Time(clock=lambda: 2**32 - EPOCH_OFFSET + 5)).value()
    assert struct.unpack("!I", value) == (5,)


# -- chargen ------------------------------------------------------------------


def test_chargenPatternFollowsRfc864():
    lines = chargenPattern(96).split(b"\r\n")
    assert lines[-1] == b""
    lines = lines[:-1]
    assert len(lines) == 96
    assert all(len(line) == 72 for line in lines)
    assert lines[0] == bytes(range(32, 104))
    assert lines[1] == bytes(range(33, 105))
    # Line 24 wraps round the ring of 95 printable characters.
    assert lines[24] == bytes(range(56, 127)) + b" "
    assert lines[95] == lines[0]


def chargenOn(clock):
    protocol = Chargen(reactor=clock)
    transport = connect(protocol)
    return protocol, transport


def test_chargenRegistersAsPushProducer():
    protocol, transport = chargenOn(Clock())
    assert transport.producer is protocol
    assert transport.streaming is True


def test_chargenWritesATurnAtOnceThenOnePerInterval():
    clock = Clock()
    protocol, transport = chargenOn(clock)
    first = len(transport.value())
    assert Chargen.bytesPerTurn <= first < Chargen.bytesPerTurn + 2 * 7030
    clock.advance(0)
    assert len(transport.value()) == first
    clock.advance(Chargen.interval)
    clock.advance(Chargen.interval)
    data = transport.value()
    assert len(data) == 3 * first
    assert data == chargenPattern(len(data) // 74)


def test_chargenStopsWhenPausedAndResumes():
    clock = Clock()
    protocol, transport = chargenOn(clock)
    protocol.pauseProducing()
    written = transport.value()
    for _ in range(5):
        clock.advance(1)
    assert transport.value() == written
    assert clock.getDelayedCalls() == []
    protocol.resumeProducing()
    protocol.resumeProducing()
    data = transport.value()
    assert len(data) == 2 * len(written)
    assert data == chargenPattern(len(data) // 74)
    assert len(clock.getDelayedCalls()) == 1


def test_chargenStopsForGoodOnStopProducing():
    clock = Clock()
    protocol, transport = chargenOn(clock)
    written = transport.value()
    protocol.stopProducing()
    protocol.resumeProducing()
    clock.advance(1)
    assert transport.value() == written
    assert clock.getDelayedCalls() == []


def test_chargenStopsOnConnectionLost():
    clock = Clock()
    protocol = Chargen(reactor=clock)
    transport = StringTransportWithDisconnection()
    transport.protocol = protocol
    protocol.makeConnection(transport)
    transport.loseConnection()
    written = transport.value()
    clock.advance(1)
    assert transport.value() == written
    assert clock.getDelayedCalls() == []


def test_chargenTakesReactorFromFactory():
    clock = Clock()
    factory = Factory.forProtocol(Chargen)
    factory.reactor = clock
    protocol = factory.buildProtocol(None)
    transport = connect(protocol)
    assert [call.getTime() for call in clock.getDelayedCalls()] == [Chargen.interval]
    assert transport.value().startswith(chargenPattern(2))


def test_chargenPausedInsideWriteSchedulesNothing():
    # A transport that pauses its producer from inside write(), as a real
    # one does when its buffer passes highWater.
    class PausingTransport(StringTransport):
        def write(self, data):
            StringTransport.write(self, data)
            self.producer.pauseProducing()

    clock = Clock()
    protocol = Chargen(reactor=clock)
    transport = connect(protocol, PausingTransport())
    assert transport.value() == chargenPattern(95 * Chargen.burstCycles)
    assert clock.getDelayedCalls() == []


# -- chargen over a real connection --------------------------------------------


class SlowReader(Protocol):
    """
    Reads nothing until the server's Chargen has been paused, then one
    chunk per turn of the loop, checking the sender's buffer each time.
    """

    reactor = None

    def __init__(self, target, state):
        self.received = 0
        self.target = target
        self.state = state

    def connectionMade(self):
        self.transport.pauseProducing()

    def dataReceived(self, data):
        self.received += len(data)
        self.state.sample()
        if self.received >= self.target:
            self.transport.loseConnection()
            return
        self.transport.pauseProducing()
        self.reactor.callLater(0, self.transport.resumeProducing)


class ChargenState:
    """Counts Chargen's pauses and resumes and the sender's largest buffer."""

    def __init__(self):
        self.server = None
        self.pauses = 0
        self.resumes = 0
        self.peakBuffer = 0

    def sample(self):
        if self.server is not None and self.server.transport is not None:
            size = self.server.transport.getBufferSize()
            self.peakBuffer = max(self.peakBuffer, size)


def shrinkBuffer(transport, option):
    # A small kernel send buffer, so that the transport's own buffer (what
    # this test bounds) fills soon and two megabytes are far more than the
    # kernel holds.
    sock = socket.socket(fileno=transport.fd)
    try:
        sock.setsockopt(socket.SOL_SOCKET, option, 16384)
    finally:
        sock.detach()


class CountingChargen(Chargen):
    state = None

    def connectionMade(self):
        shrinkBuffer(self.transport, socket.SO_SNDBUF)
        Chargen.connectionMade(self)

    def pauseProducing(self):
        self.state.pauses += 1
        Chargen.pauseProducing(self)

    def resumeProducing(self):
        self.state.resumes += 1
        Chargen.resumeProducing(self)

    def _produce(self):
        Chargen._produce(self)
        self.state.sample()


def spin(reactor, predicate, timeout, what):
    import time

    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail("timed out waiting for %s" % (what,))
        due = reactor.timeout()
        reactor.iterate(0.01 if due is None else min(due, 0.01))


def test_chargenRespectsBackpressure(reactor):
    state = ChargenState()

    class ServerFactory(Factory):
        def buildProtocol(self, addr):
            protocol = CountingChargen(reactor=reactor)
            protocol.state = state
            state.server = protocol
            return protocol

    target = 1 << 21
    client = SlowReader(target, state)
    client.reactor = reactor

    class OneClient(ClientFactory):
        def buildProtocol(self, addr):
            return client

    serverFactory = ServerFactory()
    serverFactory.noisy = False
    port = reactor.listenTCP(0, serverFactory, interface="127.0.0.1")
    try:
        clientFactory = OneClient()
        clientFactory.noisy = False
        reactor.connectTCP("127.0.0.1", port.getHost().port, clientFactory)
        # The reader reads nothing: kernel buffers fill, then ours, then
        # the transport pauses Chargen.
        spin(reactor, lambda: state.pauses, 10, "Chargen to be paused")
        client.transport.resumeProducing()
        spin(reactor, lambda: client.received >= target, 10, "two megabytes of chargen")
        spin(reactor, lambda: state.server._stopped, 10, "the server to see the close")
    finally:
        stopped = port.stopListening()
        spin(reactor, lambda: stopped.called, 5, "the port to close")
    highWater = state.server.transport.highWater
    assert state.pauses >= 1 and state.resumes >= 1
    assert 0 < state.peakBuffer < 2 * highWater
