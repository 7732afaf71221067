"""
Tests for protocols.portforward: the relay and its backpressure in memory
(two IOPumps around a MemoryReactor), then 64 MiB through a real forwarder
to a slow reader, with the forwarder's buffers sampled on every write.
"""

import hashlib
import random

from zope.interface import implementer

from protocols.portforward import ProxyClient, ProxyClientFactory, ProxyFactory, ProxyServer
from protocols.protocol import ClientFactory, Factory, Protocol
from reactor import defer
from reactor.error import ConnectionDone, ConnectionRefusedError
from reactor.failure import Failure
from reactor.interfaces import IPullProducer
from reactor.pytestplugin import runUntil
from reactor.testing import MemoryReactor, StringTransport, connectedPair

CHUNK = 1 << 16


class Recorder(Protocol):
    """Keeps what it receives and how its connection ended."""

    def __init__(self):
        self.received = []
        self.reason = None

    def dataReceived(self, data):
        self.received.append(data)

    def connectionLost(self, reason):
        self.reason = reason

    @property
    def data(self):
        return b"".join(self.received)


@implementer(IPullProducer)
class ChunkWriter:
    """A pull producer writing chunks to a transport, then closing it."""

    def __init__(self, transport, chunks):
        self.transport = transport
        self.chunks = iter(chunks)
        transport.registerProducer(self, False)

    def resumeProducing(self):
        chunk = next(self.chunks, None)
        if chunk is None:
            self.transport.unregisterProducer()
            self.transport.loseConnection()
        else:
            self.transport.write(chunk)

    def stopProducing(self):
        pass


class Forwarding:
    """A user connected to a forwarder, and (once asked) the forwarder to a backend."""

    def __init__(self):
        self.reactor = MemoryReactor()
        self.factory = ProxyFactory("backend.example", 7, reactor=self.reactor)
        self.user = Recorder()
        self.server = self.factory.buildProtocol(None)
        self.front = connectedPair(self.server, self.user)
        self.backend = None
        self.back = None

    def connectBackend(self):
        host, port, clientFactory, timeout, bindAddress = self.reactor.tcpClients[0]
        assert (host, port) == ("backend.example", 7)
        self.client = clientFactory.buildProtocol(None)
        self.backend = Recorder()
        self.back = connectedPair(self.backend, self.client)

    def flush(self):
        pumps = [pump for pump in (self.front, self.back) if pump is not None]
        for _ in range(10000):
            if not any([pump.flush() for pump in pumps]):
                return
        raise AssertionError("forwarding still busy")


def test_serverConnectsToDestinationAndWaitsUnread():
    forwarding = Forwarding()
    assert len(forwarding.reactor.tcpClients) == 1
    forwarding.user.transport.write(b"early bytes")
    forwarding.flush()
    # Not read until the destination is connected.
    assert forwarding.server.transport.readPaused
    forwarding.connectBackend()
    forwarding.flush()
    assert forwarding.backend.data == b"early bytes"
    assert not forwarding.server.transport.readPaused


def test_bytesAreRelayedBothWays():
    forwarding = Forwarding()
    forwarding.connectBackend()
    forwarding.user.transport.write(b"request")
    forwarding.flush()
    forwarding.backend.transport.write(b"response")
    forwarding.flush()
    assert forwarding.backend.data == b"request"
    assert forwarding.user.data == b"response"
    assert forwarding.server.transport.producer is forwarding.client.transport
    assert forwarding.client.transport.producer is forwarding.server.transport


def test_userCloseClosesBackendAfterFlushing():
    forwarding = Forwarding()
    forwarding.connectBackend()
    forwarding.backend.transport.pauseProducing()
    ChunkWriter(forwarding.user.transport, [bytes([n]) * CHUNK for n in range(8)])
    forwarding.flush()
    assert forwarding.backend.reason is None
    forwarding.backend.transport.resumeProducing()
    forwarding.flush()
    assert forwarding.backend.data == b"".join(bytes([n]) * CHUNK for n in range(8))
    assert forwarding.backend.reason.check(ConnectionDone)
    assert forwarding.user.reason.check(ConnectionDone)


def test_backendCloseClosesUserAfterFlushing():
    forwarding = Forwarding()
    forwarding.connectBackend()
    forwarding.backend.transport.write(b"last words")
    forwarding.backend.transport.loseConnection()
    forwarding.flush()
    assert forwarding.user.data == b"last words"
    assert forwarding.user.reason.check(ConnectionDone)
    assert forwarding.server.peer is None and forwarding.client.peer is None


def test_slowBackendPausesReadingFromUser():
    forwarding = Forwarding()
    forwarding.connectBackend()
    forwarding.backend.transport.pauseProducing()
    chunks = [random.Random(n).randbytes(CHUNK) for n in range(32)]
    ChunkWriter(forwarding.user.transport, chunks)
    forwarding.flush()
    clientTransport = forwarding.client.transport
    assert forwarding.server.transport.readPaused  # paused by the backpressure
    assert clientTransport._bufferSize <= clientTransport.highWater + CHUNK
    forwarding.backend.transport.resumeProducing()
    forwarding.flush()
    assert forwarding.backend.data == b"".join(chunks)


def test_destinationUnreachableClosesUser():
    forwarding = Forwarding()
    clientFactory = forwarding.reactor.tcpClients[0][2]
    connector = forwarding.reactor.connectors[0]
    clientFactory.clientConnectionFailed(connector, Failure(ConnectionRefusedError()))
    forwarding.flush()
    assert forwarding.user.reason.check(ConnectionDone)


def test_userLeavingWhileConnectingStopsTheAttempt():
    forwarding = Forwarding()
    forwarding.user.transport.loseConnection()
    forwarding.flush()
    assert forwarding.server.lost
    assert forwarding.server.connector.stoppedConnecting
    # A connection completing anyway is closed at once.
    forwarding.connectBackend()
    forwarding.flush()
    assert forwarding.backend.reason.check(ConnectionDone)
    assert forwarding.backend.data == b""


def test_bytesBeforeConnectingAreBounded():
    reactor = MemoryReactor()
    server = ProxyFactory("backend.example", 7, reactor=reactor).buildProtocol(None)
    transport = StringTransport()
    server.makeConnection(transport)
    assert transport.producerState == "paused"
    server.dataReceived(b"x" * server.maxPending)
    assert not transport.aborted
    server.dataReceived(b"x")
    assert transport.aborted


# -- real sockets: a slow reader behind the forwarder ----------------------------------------

TOTAL = 64 << 20
PAUSE_EVERY = 256 << 10


class Peaks:
    """The largest write buffers seen on the forwarder's two transports."""

    def __init__(self):
        self.peak = 0
        self.samples = 0
        self.highWater = None

    def sample(self, *transports):
        self.samples += 1
        for transport in transports:
            self.peak = max(self.peak, transport.getBufferSize())
            self.highWater = transport.highWater


def measuringFactory(host, port, reactor, peaks):
    """A ProxyFactory whose two ends sample their buffers after every relayed write."""

    class MeasuringClient(ProxyClient):
        def dataReceived(self, data):
            ProxyClient.dataReceived(self, data)
            if self.peer is not None:
                peaks.sample(self.transport, self.peer.transport)

    class MeasuringClientFactory(ProxyClientFactory):
        protocol = MeasuringClient

    class MeasuringServer(ProxyServer):
        clientProtocolFactory = MeasuringClientFactory

        def dataReceived(self, data):
            ProxyServer.dataReceived(self, data)
            if self.peer is not None:
                peaks.sample(self.transport, self.peer.transport)

    factory = ProxyFactory(host, port, reactor)
    factory.protocol = MeasuringServer
    return factory


def pattern(total):
    """Yield total bytes in 64 KiB chunks, no two alike (so reordering shows)."""
    block = random.Random(1).randbytes(1 << 20)
    for index in range(total // CHUNK):
        offset = (index * 7919) % (len(block) - CHUNK)
        yield block[offset : offset + CHUNK]


class SlowSink(Protocol):
    """Hashes what it reads, pausing its reading briefly every PAUSE_EVERY bytes."""

    def __init__(self, reactor, done):
        self.reactor = reactor
        self.done = done
        self.digest = hashlib.sha256()
        self.count = 0
        self.sincePause = 0
        self.resume = None

    def dataReceived(self, data):
        self.digest.update(data)
        self.count += len(data)
        self.sincePause += len(data)
        if self.sincePause >= PAUSE_EVERY:
            self.sincePause = 0
            self.transport.pauseProducing()
            self.resume = self.reactor.callLater(0.002, self.transport.resumeProducing)

    def connectionLost(self, reason):
        if self.resume is not None and self.resume.active():
            self.resume.cancel()
        self.done.callback((self.count, self.digest.hexdigest()))


class Source(Protocol):
    def connectionMade(self):
        ChunkWriter(self.transport, self.factory.chunks)


def test_slowReaderKeepsForwarderBuffersBounded(reactor):
    done = defer.Deferred()
    sinkFactory = Factory()
    sinkFactory.protocol = lambda: SlowSink(reactor, done)
    sinkPort = reactor.listenTCP(0, sinkFactory, interface="127.0.0.1")
    peaks = Peaks()
    proxyFactory = measuringFactory("127.0.0.1", sinkPort.getHost().port, reactor, peaks)
    proxyPort = reactor.listenTCP(0, proxyFactory, interface="127.0.0.1")
    expected = hashlib.sha256()
    sourceFactory = ClientFactory.forProtocol(Source)
    sourceFactory.noisy = False
    sourceFactory.chunks = (expected.update(chunk) or chunk for chunk in pattern(TOTAL))
    try:
        reactor.connectTCP("127.0.0.1", proxyPort.getHost().port, sourceFactory)
        count, digest = runUntil(reactor, done, timeout=40)
    finally:
        runUntil(reactor, defer.maybeDeferred(sinkPort.stopListening))
        runUntil(reactor, defer.maybeDeferred(proxyPort.stopListening))
    assert count == TOTAL
    assert digest == expected.hexdigest()
    assert peaks.samples >= TOTAL // (1 << 16)
    assert 0 < peaks.peak < 4 * peaks.highWater


class SourceOnAccept(Protocol):
    """The backend: writes its chunks to whoever connects."""

    def connectionMade(self):
        ChunkWriter(self.transport, self.factory.chunks)


def test_slowUserKeepsForwarderBuffersBoundedTheOtherWay(reactor):
    # The backend writes as fast as it can; the user reads slowly: the
    # forwarder must pause reading from the backend, not buffer it all.
    total = TOTAL // 4
    done = defer.Deferred()
    expected = hashlib.sha256()
    backendFactory = Factory.forProtocol(SourceOnAccept)
    backendFactory.chunks = (expected.update(chunk) or chunk for chunk in pattern(total))
    backendPort = reactor.listenTCP(0, backendFactory, interface="127.0.0.1")
    peaks = Peaks()
    proxyFactory = measuringFactory("127.0.0.1", backendPort.getHost().port, reactor, peaks)
    proxyPort = reactor.listenTCP(0, proxyFactory, interface="127.0.0.1")
    userFactory = ClientFactory()
    userFactory.protocol = lambda: SlowSink(reactor, done)
    userFactory.noisy = False
    try:
        reactor.connectTCP("127.0.0.1", proxyPort.getHost().port, userFactory)
        count, digest = runUntil(reactor, done, timeout=40)
    finally:
        runUntil(reactor, defer.maybeDeferred(backendPort.stopListening))
        runUntil(reactor, defer.maybeDeferred(proxyPort.stopListening))
    assert count == total
    assert digest == expected.hexdigest()
    assert 0 < peaks.peak < 4 * peaks.highWater
