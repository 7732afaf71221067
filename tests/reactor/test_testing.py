"""Tests for reactor.testing: StringTransport, MemoryReactor and the in-memory pump."""

import pytest
from zope.interface import implementer
from zope.interface.verify import verifyObject

from reactor import defer, error
from reactor.address import IPv4Address, IPv6Address, UNIXAddress
from reactor.interfaces import (
    IConsumer,
    IHalfCloseableProtocol,
    IListeningPort,
    IProtocol,
    IPushProducer,
    IReactorCore,
    IReactorFDSet,
    IReactorTCP,
    IReactorTime,
    IReactorUDP,
    IReactorUNIX,
    ITCPTransport,
)
from reactor.testing import (
    AccumulatingProtocol,
    MemoryReactor,
    MemoryReactorClock,
    MemoryTransport,
    StringTransport,
    StringTransportWithDisconnection,
    connectedPair,
)

# -- StringTransport -------------------------------------------------------------


def test_stringTransportProvidesItsInterfaces():
    transport = StringTransport()
    for interface in (ITCPTransport, IConsumer, IPushProducer):
        assert verifyObject(interface, transport)


def test_stringTransportRecordsWrites():
    transport = StringTransport()
    transport.write(b"hello ")
    transport.writeSequence([b"wor", b"ld"])
    assert transport.value() == b"hello world"
    assert transport.io.getvalue() == b"hello world"
    transport.clear()
    assert transport.value() == b""


def test_stringTransportRejectsStr():
    transport = StringTransport()
    with pytest.raises(TypeError):
        transport.write("text")
    with pytest.raises(TypeError):
        transport.writeSequence(["text"])
    assert transport.value() == b""


def test_stringTransportCloseAndAbort():
    transport = StringTransport()
    transport.loseConnection()
    assert transport.disconnecting and not transport.aborted
    other = StringTransport()
    other.abortConnection()
    assert other.disconnecting and other.aborted
    other.loseWriteConnection()
    assert other.writeDisconnected


def test_stringTransportAddresses():
    transport = StringTransport()
    assert transport.getPeer() == IPv4Address("TCP", "192.168.1.1", 54321)
    assert transport.getHost() == IPv4Address("TCP", "10.0.0.1", 12345)
    host, peer = UNIXAddress(b"/a"), IPv6Address("TCP", "::1", 2)
    transport = StringTransport(hostAddress=host, peerAddress=peer)
    assert (transport.getHost(), transport.getPeer()) == (host, peer)


def test_stringTransportSocketOptions():
    transport = StringTransport()
    assert not transport.getTcpNoDelay() and not transport.getTcpKeepAlive()
    transport.setTcpNoDelay(1)
    transport.setTcpKeepAlive(True)
    assert transport.getTcpNoDelay() is True and transport.getTcpKeepAlive() is True


def test_stringTransportProducerRegistration():
    transport, producer = StringTransport(), object()
    transport.registerProducer(producer, True)
    assert (transport.producer, transport.streaming) == (producer, True)
    with pytest.raises(RuntimeError):
        transport.registerProducer(object(), False)
    transport.unregisterProducer()
    assert transport.producer is None and transport.streaming is None
    with pytest.raises(RuntimeError):
        transport.unregisterProducer()


def test_stringTransportProducerState():
    transport = StringTransport()
    assert transport.producerState == "producing"
    transport.pauseProducing()
    assert transport.producerState == "paused"
    transport.resumeProducing()
    assert transport.producerState == "producing"
    transport.stopProducing()
    assert transport.producerState == "stopped"
    with pytest.raises(RuntimeError):
        transport.resumeProducing()
    closed = StringTransport()
    closed.loseConnection()
    with pytest.raises(RuntimeError):
        closed.pauseProducing()


def test_stringTransportWithDisconnectionCallsConnectionLostOnce():
    protocol = AccumulatingProtocol()
    transport = StringTransportWithDisconnection()
    transport.protocol = protocol
    protocol.makeConnection(transport)
    transport.loseConnection()
    transport.loseConnection()
    assert protocol.closed and transport.disconnecting
    assert protocol.closedReason.check(error.ConnectionDone)


# -- AccumulatingProtocol ------------------------------------------------------------


def test_accumulatingProtocolRecordsEverything():
    class Factory:
        protocolConnectionMade = None

    factory = Factory()
    factory.protocolConnectionMade = defer.Deferred()
    made = []
    factory.protocolConnectionMade.addCallback(made.append)
    protocol = AccumulatingProtocol()
    protocol.factory = factory
    protocol.closedDeferred = defer.Deferred()
    closed = []
    protocol.closedDeferred.addCallback(closed.append)
    assert verifyObject(IProtocol, protocol)
    protocol.makeConnection(StringTransport())
    protocol.dataReceived(b"ab")
    protocol.dataReceived(b"c")
    protocol.connectionLost(error.ConnectionDone())
    assert made == [protocol] and factory.protocolConnectionMade is None
    assert protocol.made and protocol.closed and protocol.data == b"abc"
    assert closed == [None]


# -- MemoryReactor ----------------------------------------------------------------------


def test_memoryReactorProvidesItsInterfaces():
    reactor = MemoryReactorClock()
    for interface in (
        IReactorCore,
        IReactorFDSet,
        IReactorTCP,
        IReactorUNIX,
        IReactorUDP,
        IReactorTime,
    ):
        assert verifyObject(interface, reactor)


class StartedConnectingFactory:
    """A client factory keeping what startedConnecting was given, and when."""

    def __init__(self, reactor):
        self.reactor = reactor
        self.started = []

    def startedConnecting(self, connector):
        self.started.append((connector, list(self.reactor.connectors)))


def test_memoryReactorRecordsListensAndConnects():
    reactor = MemoryReactor()
    factory = StartedConnectingFactory(reactor)
    port = reactor.listenTCP(8080, factory, backlog=5, interface="127.0.0.1")
    assert verifyObject(IListeningPort, port)
    assert port.getHost() == IPv4Address("TCP", "127.0.0.1", 8080)
    assert reactor.listenTCP(0, factory).getHost() == IPv4Address("TCP", "0.0.0.0", 0)
    assert reactor.listenTCP(1, factory, interface="::").getHost() == IPv6Address("TCP", "::", 1)
    connector = reactor.connectTCP("10.1.1.1", 80, factory, timeout=3)
    assert connector.getDestination() == IPv4Address("TCP", "10.1.1.1", 80)
    assert reactor.tcpServers[0] == (8080, factory, 5, "127.0.0.1")
    assert reactor.tcpClients == [("10.1.1.1", 80, factory, 3, None)]
    reactor.listenUNIX("/s", factory, mode=0o600)
    reactor.connectUNIX("/s", factory, checkPID=True)
    reactor.listenUDP(53, factory, interface="127.0.0.1")
    reactor.listenSSL(443, factory, "ctx")
    reactor.connectSSL("h", 443, factory, "ctx")
    assert reactor.unixServers == [("/s", factory, 50, 0o600, False)]
    assert reactor.unixClients == [("/s", factory, 30, True)]
    assert reactor.udpServers == [(53, factory, "127.0.0.1", 8192)]
    assert reactor.sslServers == [(443, factory, "ctx", 50, "")]
    assert reactor.sslClients == [("h", 443, factory, "ctx", 30, None)]
    assert len(reactor.connectors) == 3


def test_memoryReactorConnectsTellTheFactoryStartedConnecting():
    # As a real connector does and Twisted's MemoryReactor: each connect
    # call reports its connector, before adding it to ``connectors``.
    reactor = MemoryReactor()
    factory = StartedConnectingFactory(reactor)
    tcp = reactor.connectTCP("10.1.1.1", 80, factory)
    unix = reactor.connectUNIX("/s", factory)
    ssl = reactor.connectSSL("h", 443, factory, "ctx")
    assert factory.started == [(tcp, []), (unix, [tcp]), (ssl, [tcp, unix])]
    assert reactor.connectors == [tcp, unix, ssl]


def test_fakePortsAndConnectorsRecordRequests():
    reactor = MemoryReactor()
    port = reactor.listenUNIX("/s", object())
    assert port.getHost() == UNIXAddress("/s")
    port.stopListening()
    assert not port.listening
    port.startListening()
    assert port.listening
    connector = reactor.connectUNIX("/s", StartedConnectingFactory(reactor))
    connector.stopConnecting()
    connector.disconnect()
    connector.connect()
    assert connector.stoppedConnecting and connector._disconnected
    assert connector.connectCalls == 1


def test_memoryReactorLifecycle():
    reactor = MemoryReactor()
    events = []
    reactor.callWhenRunning(events.append, "running")
    reactor.addSystemEventTrigger("after", "startup", events.append, "after startup")
    trigger = reactor.addSystemEventTrigger("before", "shutdown", events.append, "no")
    reactor.removeSystemEventTrigger(trigger)
    reactor.addSystemEventTrigger("during", "shutdown", events.append, "shutdown")
    with pytest.raises(KeyError):
        reactor.addSystemEventTrigger("sometime", "shutdown", events.append)
    with pytest.raises(error.ReactorNotRunning):
        reactor.stop()
    reactor.install()
    reactor.run()
    assert reactor.running and reactor.hasRun and reactor.hasInstalled
    with pytest.raises(error.ReactorAlreadyRunning):
        reactor.run()
    reactor.callWhenRunning(events.append, "at once")
    reactor.iterate()
    reactor.stop()
    assert not reactor.running and reactor.hasStopped
    reactor.crash()
    assert reactor.hasCrashed
    assert events == ["running", "after startup", "at once", "shutdown"]
    with pytest.raises(NotImplementedError):
        reactor.resolve("example.org")


def test_memoryReactorDescriptorSets():
    reactor = MemoryReactor()
    reader, writer = object(), object()
    reactor.addReader(reader)
    reactor.addWriter(writer)
    reactor.addWriter(reader)
    assert reactor.getReaders() == [reader]
    assert set(reactor.getWriters()) == {reader, writer}
    reactor.removeReader(reader)
    reactor.removeReader(reader)
    reactor.removeWriter(writer)
    assert reactor.getReaders() == [] and reactor.getWriters() == [reader]
    assert reactor.removeAll() == [reader]
    assert reactor.getWriters() == []


def test_memoryReactorClockKeepsTime():
    reactor = MemoryReactorClock()
    fired = []
    reactor.callLater(2, fired.append, "late")
    reactor.advance(1)
    assert fired == [] and reactor.seconds() == 1
    reactor.advance(1)
    assert fired == ["late"]


# -- the in-memory pump ----------------------------------------------------------------


class Recorder(AccumulatingProtocol):
    """Records every callback in one list."""

    def __init__(self, greeting=b""):
        AccumulatingProtocol.__init__(self)
        self.events = []
        self.greeting = greeting

    def connectionMade(self):
        AccumulatingProtocol.connectionMade(self)
        if self.greeting:
            self.transport.write(self.greeting)

    def dataReceived(self, data):
        AccumulatingProtocol.dataReceived(self, data)
        self.events.append(("data", data))

    def connectionLost(self, reason):
        AccumulatingProtocol.connectionLost(self, reason)
        self.events.append(("lost", reason.type))


class Echo(Recorder):
    def dataReceived(self, data):
        Recorder.dataReceived(self, data)
        self.transport.write(data)


def test_pairDeliversGreetingsAndEchoes():
    server, client = Echo(), Recorder(greeting=b"hello")
    pump = connectedPair(server, client)
    assert server.data == b"hello" and client.data == b"hello"
    client.transport.write(b"more")
    client.transport.writeSequence([b" and ", b"more"])
    assert pump.flush()
    assert client.data == b"hellomore and more"
    assert not pump.flush()
    assert verifyObject(ITCPTransport, client.transport)


def test_pairAddressesAndOptions():
    server, client = Recorder(), Recorder()
    pump = connectedPair(server, client, greet=False)
    assert client.transport.getPeer() == server.transport.getHost()
    assert server.transport.getPeer() == client.transport.getHost()
    assert pump.clientTransport is client.transport and pump.client is client
    transport = client.transport
    transport.setTcpNoDelay(True)
    transport.setTcpKeepAlive(True)
    assert transport.getTcpNoDelay() and transport.getTcpKeepAlive()
    assert "MemoryTransport" in repr(transport)
    with pytest.raises(TypeError):
        transport.write("text")


@pytest.mark.parametrize("closer", ["server", "client"])
def test_loseConnectionFromEitherSideClosesBothOnce(closer):
    server, client = Recorder(), Recorder()
    pump = connectedPair(server, client)
    side = server if closer == "server" else client
    side.transport.write(b"last words")
    side.transport.loseConnection()
    side.transport.loseConnection()
    pump.flush()
    peer = client if side is server else server
    assert peer.data == b"last words"
    for protocol in (server, client):
        assert [e for e in protocol.events if e[0] == "lost"] == [("lost", error.ConnectionDone)]
        assert protocol.transport.disconnected
    side.transport.write(b"ignored")
    side.transport.loseConnection()
    assert not pump.flush()


def test_bothSidesClosingAtOnceStillLoseOnce():
    server, client = Recorder(), Recorder()
    pump = connectedPair(server, client)
    server.transport.loseConnection()
    client.transport.loseConnection()
    pump.flush()
    assert server.events == [("lost", error.ConnectionDone)]
    assert client.events == [("lost", error.ConnectionDone)]


def test_abortDropsBufferedData():
    server, client = Recorder(), Recorder()
    pump = connectedPair(server, client)
    client.transport.write(b"never sent")
    client.transport.abortConnection()
    client.transport.write(b"nor this")
    pump.flush()
    assert server.data == b""
    assert client.events == [("lost", error.ConnectionAborted)]
    assert server.events == [("lost", error.ConnectionLost)]
    client.transport.abortConnection()
    assert not pump.flush()


def test_pausedReaderHoldsDataBack():
    server, client = Recorder(), Recorder()
    pump = connectedPair(server, client)
    server.transport.pauseProducing()
    client.transport.write(b"waiting")
    client.transport.loseConnection()
    assert not pump.flush()
    assert server.data == b"" and client.events == []
    server.transport.resumeProducing()
    pump.flush()
    assert server.data == b"waiting"
    assert server.closed and client.closed


@implementer(IPushProducer)
class PushProducer:
    """Writes a block whenever told to resume, counting pauses."""

    def __init__(self, transport, blocks):
        self.transport = transport
        self.blocks = blocks
        self.pauses = 0
        self.stopped = False

    def pauseProducing(self):
        self.pauses += 1

    def resumeProducing(self):
        if self.blocks:
            self.transport.write(self.blocks.pop(0))
        else:
            self.transport.unregisterProducer()

    def stopProducing(self):
        self.stopped = True


def test_pushProducerPausedPastHighWaterAndResumedWhenDrained():
    server, client = Recorder(), Recorder()
    pump = connectedPair(server, client)
    server.transport.pauseProducing()  # the server reads nothing for now
    transport = client.transport
    producer = PushProducer(transport, [b"y" * 1000] * 3)
    transport.registerProducer(producer, True)
    for _ in range(70):
        transport.write(b"x" * 1000)
    assert producer.pauses == 1 and transport.producerPaused
    pump.flush()
    assert producer.pauses == 1 and server.data == b""
    server.transport.resumeProducing()
    pump.flush()
    # Drained: resumed once (this fake writes one block per resume).
    assert server.data == b"x" * 70000 + b"y" * 1000
    assert not transport.producerPaused and transport.producer is producer


def test_pullProducerIsAskedWhenTheBufferIsEmpty():
    server, client = Recorder(), Recorder()
    pump = connectedPair(server, client)
    blocks = [b"a", b"b", b"c"]

    class Pull:
        def resumeProducing(self):
            if blocks:
                client.transport.write(blocks.pop(0))
            else:
                client.transport.unregisterProducer()
                client.transport.loseConnection()

        def stopProducing(self):
            pass

    client.transport.registerProducer(Pull(), False)
    with pytest.raises(RuntimeError):
        client.transport.registerProducer(Pull(), False)
    pump.flush()
    assert server.data == b"abc"
    assert server.closed and client.closed


def test_loseConnectionWaitsForTheProducerThenStopsIt():
    server, client = Recorder(), Recorder()
    pump = connectedPair(server, client)
    producer = PushProducer(client.transport, [])
    client.transport.registerProducer(producer, True)
    client.transport.loseConnection()
    pump.flush()
    # resumeProducing is not called on an unpaused push producer, so it
    # stays registered and the close waits for it.
    assert not client.closed
    server.transport.loseConnection()
    pump.flush()
    assert client.closed and producer.stopped
    late = PushProducer(client.transport, [])
    client.transport.registerProducer(late, True)
    assert late.stopped


def test_transportStopProducingLosesTheConnection():
    server, client = Recorder(), Recorder()
    pump = connectedPair(server, client)
    server.transport.stopProducing()
    pump.flush()
    assert server.closed and client.closed


@implementer(IHalfCloseableProtocol)
class HalfCloser(Recorder):
    def readConnectionLost(self):
        self.events.append("read lost")
        self.transport.write(b"bye")
        self.transport.loseConnection()

    def writeConnectionLost(self):
        self.events.append("write lost")


def test_halfCloseReachesAHalfCloseablePeer():
    server, client = HalfCloser(), HalfCloser()
    pump = connectedPair(server, client)
    client.transport.write(b"request")
    client.transport.loseWriteConnection()
    client.transport.write(b"dropped")
    pump.flush()
    assert server.data == b"request" and client.data == b"bye"
    assert server.events[:2] == [("data", b"request"), "read lost"]
    assert client.events[0] == "write lost"
    assert server.closed and client.closed


def test_halfCloseEndsAPlainPeer():
    server, client = Recorder(), Recorder()
    pump = connectedPair(server, client)
    client.transport.loseWriteConnection()
    pump.flush()
    assert server.events == [("lost", error.ConnectionDone)]
    assert client.closed


def test_pumpAdvancesTheClock():
    reactor = MemoryReactorClock()
    server, client = Recorder(), Recorder()
    pump = connectedPair(server, client, clock=reactor)
    reactor.callLater(0, client.transport.write, b"later")
    pump.flush()
    assert server.data == b"later"


def test_flushGivesUpOnAProducerThatNeverStops():
    server, client = Recorder(), Recorder()
    pump = connectedPair(server, client)

    class Endless:
        def resumeProducing(self):
            client.transport.write(b"x")

        def stopProducing(self):
            pass

    client.transport.registerProducer(Endless(), False)
    with pytest.raises(RuntimeError, match="still busy"):
        pump.flush(maxRounds=50)


def test_memoryTransportIsExported():
    assert issubclass(MemoryTransport, object)
    assert verifyObject(IPushProducer, connectedPair(Recorder(), Recorder()).serverTransport)


def test_serverStopsReadingWhileItsBufferIsFull():
    # As on a real accepted connection: a client that does not read makes an
    # echo server stop reading once more than highWater bytes wait for it;
    # the server reads again once its buffer has been delivered.
    server, client = Echo(), Recorder()
    pump = connectedPair(server, client)
    client.transport.pauseProducing()
    for _ in range(8):
        client.transport.write(b"z" * 40000)
        pump.flush()
    assert server.transport.autoPaused
    assert len(server.data) == 80000  # the write that passed highWater, no more
    client.transport.resumeProducing()
    pump.flush()
    assert server.data == client.data == b"z" * 320000
    assert not server.transport.autoPaused


def test_clientKeepsReadingUnlessItsProtocolSaysSo():
    server, client = Recorder(), Echo()
    pump = connectedPair(server, client)
    server.transport.pauseProducing()
    for _ in range(3):
        server.transport.write(b"c" * 40000)
        pump.flush()
    assert client.data == b"c" * 120000 and not client.transport.autoPaused
    client.autoPauseReading = True
    server.transport.write(b"d" * 40000)
    pump.flush()
    assert client.transport.autoPaused
