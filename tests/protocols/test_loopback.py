"""
Tests for protocols.loopback: loopbackAsync in memory (no reactor, or a
task.Clock), loopbackTCP and loopbackUNIX over real sockets on every reactor.
"""

import os

import pytest
from zope.interface import implementer

from protocols.loopback import (
    collapsingPumpPolicy,
    identityPumpPolicy,
    loopbackAsync,
    loopbackTCP,
    loopbackUNIX,
)
from protocols.protocol import Factory, Protocol
from protocols.wire import Chargen
from reactor.error import CannotListenError, ConnectionDone, ConnectionLost
from reactor.interfaces import IPullProducer
from reactor.pytestplugin import runUntil
from reactor.task import Clock


class Recorder(Protocol):
    """Records data and the end of its connection; may act on connect."""

    greeting = None
    closeAfter = None

    def __init__(self):
        self.chunks = []
        self.lost = []

    @property
    def received(self):
        return b"".join(self.chunks)

    def connectionMade(self):
        if self.greeting is not None:
            self.transport.write(self.greeting)

    def dataReceived(self, data):
        self.chunks.append(data)
        if self.closeAfter is not None and len(self.received) >= self.closeAfter:
            self.transport.loseConnection()

    def connectionLost(self, reason):
        self.lost.append(reason.type)


class Shouter(Recorder):
    """Answers each chunk in capitals; closes when it sees b'bye'."""

    def dataReceived(self, data):
        Recorder.dataReceived(self, data)
        self.transport.write(data.upper())
        if self.received.endswith(b"bye"):
            self.transport.loseConnection()


def fired(deferred):
    results = []
    deferred.addBoth(results.append)
    return results


# -- loopbackAsync ----------------------------------------------------------------------


def test_exchangeFinishesWithoutReactor():
    server, client = Shouter(), Recorder()
    client.greeting = b"hello, bye"
    results = fired(loopbackAsync(server, client))
    assert results == [None]
    assert server.received == b"hello, bye"
    assert client.received == b"HELLO, BYE"
    assert server.lost == client.lost == [ConnectionDone]


def test_serverClosingEndsBothAfterDelivery():
    class Closer(Recorder):
        def connectionMade(self):
            self.transport.write(b"last words")
            self.transport.loseConnection()

    server, client = Closer(), Recorder()
    results = fired(loopbackAsync(server, client))
    assert results == [None]
    assert client.received == b"last words"
    assert server.lost == client.lost == [ConnectionDone]


def test_defaultPolicyCollapsesWrites():
    server = Recorder()
    server.closeAfter = 3

    class ThreeWrites(Recorder):
        def connectionMade(self):
            for chunk in (b"a", b"b", b"c"):
                self.transport.write(chunk)

    assert fired(loopbackAsync(server, ThreeWrites())) == [None]
    assert server.chunks == [b"abc"]


@pytest.mark.parametrize(
    "policy, expected", [(identityPumpPolicy, [b"a", b"b", b"c"]), (collapsingPumpPolicy, [b"abc"])]
)
def test_pumpPolicyDecidesChunking(policy, expected):
    server = Recorder()
    server.closeAfter = 3

    class ThreeWrites(Recorder):
        def connectionMade(self):
            self.transport.writeSequence([b"a", b"b"])
            self.transport.write(b"c")

    assert fired(loopbackAsync(server, ThreeWrites(), pumpPolicy=policy)) == [None]
    assert server.chunks == expected


def test_pushProducerIsPacedByBackpressure():
    clock = Clock()
    server, client = Chargen(reactor=clock), Recorder()
    client.closeAfter = 500000
    results = fired(loopbackAsync(server, client, reactor=clock))
    # Chargen wrote more than a buffer's worth at a time and was paused and
    # resumed by the in-memory transport; no timer was ever needed.
    assert results == [None]
    assert len(client.received) >= 500000
    assert client.lost == [ConnectionDone]
    assert clock.getDelayedCalls() == []


@implementer(IPullProducer)
class Countdown:
    """Writes one numbered chunk per request, then unregisters and closes."""

    def __init__(self, transport, count):
        self.transport = transport
        self.count = count
        self.sent = 0

    def resumeProducing(self):
        if self.sent == self.count:
            self.transport.unregisterProducer()
            self.transport.loseConnection()
            return
        self.transport.write(b"%d;" % (self.sent,))
        self.sent += 1

    def stopProducing(self):
        pass


def test_pullProducerIsAskedUntilDone():
    class Sender(Recorder):
        def connectionMade(self):
            self.transport.registerProducer(Countdown(self.transport, 5), False)

    server, client = Sender(), Recorder()
    assert fired(loopbackAsync(server, client)) == [None]
    assert client.received == b"0;1;2;3;4;"
    assert server.lost == client.lost == [ConnectionDone]


def test_laterActivityIsPumpedOnGivenReactor():
    clock = Clock()

    class Late(Recorder):
        def connectionMade(self):
            clock.callLater(5, self.answer)

        def answer(self):
            self.transport.write(b"late")
            self.transport.loseConnection()

    server, client = Late(), Recorder()
    results = fired(loopbackAsync(server, client, reactor=clock))
    assert results == []
    clock.advance(4)
    assert results == [] and client.received == b""
    clock.advance(1)
    assert results == [None]
    assert client.received == b"late"


def test_protocolErrorFailsDeferredAndDropsBoth():
    class Broken(Recorder):
        def dataReceived(self, data):
            raise ZeroDivisionError("boom")

    server, client = Broken(), Recorder()
    client.greeting = b"hi"
    results = fired(loopbackAsync(server, client))
    assert len(results) == 1
    assert results[0].check(ZeroDivisionError)
    assert server.lost == client.lost == [ConnectionLost]


# -- over real sockets ----------------------------------------------------------------------


def test_loopbackTCPExchangesData(reactor):
    class TCPShouter(Shouter):
        def connectionMade(self):
            self.peer = self.transport.getPeer()

    server, client = TCPShouter(), Recorder()
    client.greeting = b"over tcp, bye"
    assert runUntil(reactor, loopbackTCP(server, client, noisy=False, reactor=reactor)) is None
    assert server.received == b"over tcp, bye"
    assert client.received == b"OVER TCP, BYE"
    assert server.lost == client.lost == [ConnectionDone]
    assert server.peer.host == "127.0.0.1"
    # The instance-level watch is gone: the class's connectionLost is back.
    assert "connectionLost" not in vars(server) and "connectionLost" not in vars(client)


def test_loopbackTCPPortInUseRaises(reactor):
    taken = reactor.listenTCP(0, Factory.forProtocol(Shouter), interface="127.0.0.1")
    try:
        with pytest.raises(CannotListenError):
            loopbackTCP(Recorder(), Recorder(), port=taken.getHost().port, reactor=reactor)
    finally:
        runUntil(reactor, taken.stopListening())


def test_loopbackUNIXExchangesDataAndRemovesSocket(reactor):
    class UnixShouter(Shouter):
        def connectionMade(self):
            self.path = self.transport.getHost().name

    server, client = UnixShouter(), Recorder()
    client.greeting = b"over unix, bye"
    assert runUntil(reactor, loopbackUNIX(server, client, noisy=False, reactor=reactor)) is None
    assert client.received == b"OVER UNIX, BYE"
    assert server.lost == client.lost == [ConnectionDone]
    assert os.path.basename(server.path) == "socket"
    assert not os.path.exists(os.path.dirname(server.path))
