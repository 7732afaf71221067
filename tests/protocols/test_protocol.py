"""Tests for protocols.protocol: protocols, factories, reconnecting, ClientCreator."""

import pytest
from zope.interface.verify import verifyClass, verifyObject

from protocols.protocol import (
    BaseProtocol,
    ClientCreator,
    ClientFactory,
    ConnectedDatagramProtocol,
    DatagramProtocol,
    Factory,
    ProcessProtocol,
    Protocol,
    ReconnectingClientFactory,
    ServerFactory,
    connectionDone,
)
from reactor import defer, error
from reactor.address import IPv4Address
from reactor.failure import Failure
from reactor.interfaces import (
    ILoggingContext,
    IProcessProtocol,
    IProtocol,
    IProtocolFactory,
)
from reactor.task import Clock
from reactor.testing import MemoryReactorClock, StringTransport


class Recorder(Protocol):
    """Records its callbacks in order."""

    def __init__(self, label="p"):
        self.events = []
        self.label = label

    def connectionMade(self):
        self.events.append("made")

    def dataReceived(self, data):
        self.events.append(("data", data))

    def connectionLost(self, reason=connectionDone):
        self.events.append(("lost", reason.type))


def test_protocolsProvideTheirInterfaces():
    assert verifyClass(IProtocol, Protocol)
    assert verifyObject(ILoggingContext, Protocol())
    assert verifyClass(IProtocolFactory, Factory)
    assert verifyClass(IProcessProtocol, ProcessProtocol)


def test_makeConnectionSetsTransportThenCallsConnectionMade():
    seen = []

    class Spy(BaseProtocol):
        def connectionMade(self):
            seen.append((self.connected, self.transport))

    protocol, transport = Spy(), StringTransport()
    assert not protocol.connected
    protocol.makeConnection(transport)
    assert seen == [(True, transport)]


def test_baseProtocolDefaultsDoNothing():
    protocol = Protocol()
    protocol.makeConnection(StringTransport())
    assert protocol.dataReceived(b"x") is None
    assert protocol.connectionLost() is None
    assert protocol.logPrefix() == "Protocol"


def test_connectionDoneIsOneCleanFailure():
    assert isinstance(connectionDone, Failure)
    assert connectionDone.check(error.ConnectionDone)
    from protocols import protocol as module

    assert module.connectionDone is connectionDone


def test_buildProtocolSetsFactory():
    factory = Factory.forProtocol(Recorder)
    protocol = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 1))
    assert isinstance(protocol, Recorder)
    assert protocol.factory is factory


def test_forProtocolPassesArgumentsToTheFactory():
    class Configured(ServerFactory):
        def __init__(self, greeting, *, loud=False):
            self.greeting = greeting
            self.loud = loud

    factory = Configured.forProtocol(Recorder, "hi", loud=True)
    assert (factory.protocol, factory.greeting, factory.loud) == (Recorder, "hi", True)
    assert factory.logPrefix() == "Configured"


def test_doStartAndDoStopCountPorts():
    events = []

    class Counting(Factory):
        noisy = False

        def startFactory(self):
            events.append("start")

        def stopFactory(self):
            events.append("stop")

    factory = Counting()
    factory.doStart()
    factory.doStart()
    assert factory.numPorts == 2
    factory.doStop()
    assert events == ["start"]
    factory.doStop()
    factory.doStop()  # unbalanced: ignored
    assert events == ["start", "stop"]
    assert factory.numPorts == 0


def test_noisyFactoryLogsStartAndStop():
    from reactor import log

    messages = []
    log.addObserver(messages.append)
    try:
        factory = Factory()
        factory.doStart()
        factory.doStop()
    finally:
        log.removeObserver(messages.append)
    # Twisted 26's lines: a Logger event at info in the factory's namespace.
    starting, stopping = messages
    assert log.textFromEventDict(starting) == "Starting factory %r" % (factory,)
    assert log.textFromEventDict(stopping) == "Stopping factory %r" % (factory,)
    assert starting["system"] == "protocols.protocol.Factory#info"
    assert starting["factory"] is factory


def test_clientFactoryCallbacksAreNoOps():
    factory = ClientFactory()
    assert factory.startedConnecting(object()) is None
    assert factory.clientConnectionFailed(object(), connectionDone) is None
    assert factory.clientConnectionLost(object(), connectionDone) is None


# -- ReconnectingClientFactory -------------------------------------------------


class FakeConnector:
    """Counts connect() calls; can refuse stopConnecting."""

    def __init__(self, connecting=True):
        self.connects = 0
        self.stops = 0
        self.connecting = connecting

    def connect(self):
        self.connects += 1

    def stopConnecting(self):
        if not self.connecting:
            raise error.NotConnectingError()
        self.stops += 1


def reconnecting(**attributes):
    factory = ReconnectingClientFactory()
    factory.noisy = False
    factory.clock = Clock()
    factory.jitter = 0
    for name, value in attributes.items():
        setattr(factory, name, value)
    return factory


def failures(factory, connector, count):
    delays = []
    for _ in range(count):
        factory.clientConnectionFailed(connector, Failure(error.ConnectionRefusedError()))
        calls = factory.clock.getDelayedCalls()
        if not calls:
            delays.append(None)
            continue
        (call,) = calls
        delay = call.getTime() - factory.clock.seconds()
        delays.append(round(delay, 9))  # clock arithmetic is floating point
        factory.clock.advance(delay)
    return delays


def test_reconnectDelaysGrowByFactorUpToMaxDelay():
    factory = reconnecting(initialDelay=1.0, factor=2.0, maxDelay=10)
    connector = FakeConnector()
    delays = failures(factory, connector, 6)
    assert delays == [1.0, 2.0, 4.0, 8.0, 10, 10]
    assert connector.connects == 6
    assert factory.retries == 6


def test_reconnectLostConnectionRetriesToo():
    factory = reconnecting(factor=3.0)
    connector = FakeConnector()
    factory.clientConnectionLost(connector, connectionDone)
    factory.clock.advance(3.0)
    assert connector.connects == 1


def test_maxRetriesStopsRetrying():
    factory = reconnecting(maxRetries=2)
    connector = FakeConnector()
    delays = failures(factory, connector, 4)
    assert delays[2:] == [None, None]
    assert connector.connects == 2


def test_resetDelayStartsOver():
    factory = reconnecting(factor=2.0)
    connector = FakeConnector()
    failures(factory, connector, 3)
    factory.resetDelay()
    assert (factory.delay, factory.retries) == (1.0, 0)
    assert failures(factory, connector, 1) == [1.0]


def test_firstRetryWaitsInitialDelay():
    # Twisted's schedule: the first retry after a failure waits initialDelay
    # itself; only later ones are multiplied by factor.
    factory = reconnecting(initialDelay=5.0, factor=3.0)
    connector = FakeConnector()
    factory.clientConnectionFailed(connector, Failure(error.ConnectionRefusedError()))
    factory.clock.advance(4.9)
    assert connector.connects == 0
    factory.clock.advance(0.1)
    assert connector.connects == 1
    assert factory.delay == 15.0  # what the next retry will wait


def test_instanceInitialDelayIsTheFirstDelay():
    factory = reconnecting(initialDelay=0.5)
    assert failures(factory, FakeConnector(), 1) == [0.5]


def test_stopTryingCancelsThePendingRetry():
    factory = reconnecting()
    connector = FakeConnector()
    factory.clientConnectionFailed(connector, connectionDone)
    assert len(factory.clock.getDelayedCalls()) == 1
    factory.stopTrying()
    assert factory.clock.getDelayedCalls() == []
    assert connector.stops == 1
    factory.clock.advance(100000)
    assert connector.connects == 0
    factory.clientConnectionLost(connector, connectionDone)
    assert factory.clock.getDelayedCalls() == []
    factory.retry(connector)
    assert factory.clock.getDelayedCalls() == []


def test_stopTryingIgnoresConnectorNotConnecting():
    factory = reconnecting()
    factory.connector = FakeConnector(connecting=False)
    factory.stopTrying()
    assert not factory.continueTrying


def test_retryWithoutConnectorIsAnError():
    with pytest.raises(ValueError):
        reconnecting().retry()


def test_jitterSpreadsDelaysButNeverPastMaxDelay():
    factory = reconnecting(jitter=0.5, factor=2.0, maxDelay=5.0)
    delays = failures(factory, FakeConnector(), 30)
    assert all(0 <= delay <= 5.0 for delay in delays)
    assert len(set(delays)) > 1


def test_wildJitterNeverPinsTheDelayAtZero():
    factory = reconnecting(jitter=3.0, factor=2.0, maxDelay=5.0)
    delays = failures(factory, FakeConnector(), 200)
    assert all(0 <= delay <= 5.0 for delay in delays)
    # With delays clamped to 0 feeding back, the tail would be all zeros.
    assert any(delay > 0 for delay in delays[-20:])


def test_clockDefaultsToTheGlobalReactor(monkeypatch):
    import reactor

    clock = Clock()
    monkeypatch.setattr(reactor, "_installed", clock)
    factory = ReconnectingClientFactory()
    factory.noisy = False
    factory.retry(FakeConnector())
    assert factory.clock is clock
    assert len(clock.getDelayedCalls()) == 1


def test_noisyReconnectingFactoryLogsAbandoning():
    from reactor import log

    messages = []
    log.addObserver(messages.append)
    try:
        factory = reconnecting(noisy=True, maxRetries=0)
        factory.retry(FakeConnector())
        factory.stopTrying()
        factory.retry(FakeConnector())
    finally:
        log.removeObserver(messages.append)
    text = [" ".join(map(str, event["message"])) for event in messages]
    assert any("after 1 retries" in line for line in text)
    assert any("explicit request" in line for line in text)


# -- ProcessProtocol and DatagramProtocol ------------------------------------------


def test_processProtocolDispatchesByDescriptor():
    events = []

    class Child(ProcessProtocol):
        def outReceived(self, data):
            events.append(("out", data))

        def errReceived(self, data):
            events.append(("err", data))

        def inConnectionLost(self):
            events.append("in lost")

        def outConnectionLost(self):
            events.append("out lost")

        def errConnectionLost(self):
            events.append("err lost")

    child = Child()
    for fd in (1, 2, 3):
        child.childDataReceived(fd, b"x%d" % fd)
    for fd in (0, 1, 2, 3):
        child.childConnectionLost(fd)
    assert events == [("out", b"x1"), ("err", b"x2"), "in lost", "out lost", "err lost"]


def test_processProtocolDefaultsDoNothing():
    child = ProcessProtocol()
    child.childDataReceived(1, b"x")
    child.childDataReceived(2, b"x")
    for fd in (0, 1, 2):
        child.childConnectionLost(fd)
    assert child.processExited(connectionDone) is None
    assert child.processEnded(connectionDone) is None


def test_datagramProtocolStartsOnceAndStopsOnce():
    events = []

    class Udp(DatagramProtocol):
        noisy = False

        def startProtocol(self):
            events.append("start")

        def stopProtocol(self):
            events.append("stop")

    protocol, port = Udp(), object()
    protocol.makeConnection(port)
    assert protocol.transport is port
    with pytest.raises(RuntimeError):
        protocol.makeConnection(object())
    protocol.doStart()
    protocol.doStop()
    assert events == ["start"]
    protocol.doStop()
    protocol.doStop()
    assert events == ["start", "stop"]
    assert protocol.transport is None


def test_datagramProtocolDefaults():
    from reactor import log

    messages = []
    log.addObserver(messages.append)
    try:
        protocol = DatagramProtocol()
        protocol.makeConnection(object())
        protocol.doStop()
    finally:
        log.removeObserver(messages.append)
    assert protocol.datagramReceived(b"x", ("127.0.0.1", 1)) is None
    assert protocol.connectionRefused() is None
    assert protocol.logPrefix() == "DatagramProtocol"
    assert len(messages) == 2
    connected = ConnectedDatagramProtocol()
    assert connected.datagramReceived(b"x") is None
    assert connected.connectionFailed(connectionDone) is None


# -- ClientCreator ------------------------------------------------------------------


def creatorAndReactor():
    reactor = MemoryReactorClock()
    return reactor, ClientCreator(reactor, Recorder, "label")


def test_clientCreatorFiresWithTheConnectedProtocol():
    reactor, creator = creatorAndReactor()
    results = []
    d = creator.connectTCP("example.org", 80, timeout=5)
    d.addCallback(results.append)
    ((host, port, factory, timeout, bindAddress),) = reactor.tcpClients
    assert (host, port, timeout, bindAddress) == ("example.org", 80, 5, None)
    protocol = factory.buildProtocol(IPv4Address("TCP", "1.2.3.4", 80))
    protocol.makeConnection(StringTransport())
    assert results == []  # fires one turn later, after connectionMade
    reactor.advance(0)
    assert results == [protocol]
    assert protocol.label == "label" and protocol.events == ["made"]
    assert "ClientCreator" in repr(factory)


def test_clientCreatorFailsWithTheConnectionError():
    reactor, creator = creatorAndReactor()
    d = creator.connectUNIX("/tmp/socket", checkPID=True)
    ((address, factory, timeout, checkPID),) = reactor.unixClients
    assert (address, checkPID) == ("/tmp/socket", True)
    factory.clientConnectionFailed(None, Failure(error.ConnectionRefusedError()))
    reactor.advance(0)
    failures = []
    d.addErrback(failures.append)
    assert failures[0].check(error.ConnectionRefusedError)


def test_cancellingClientCreatorDisconnects():
    reactor, creator = creatorAndReactor()
    d = creator.connectTCP("127.0.0.1", 1)
    (connector,) = reactor.connectors
    factory = reactor.tcpClients[0][2]
    d.cancel()
    assert connector._disconnected
    failures = []
    d.addErrback(failures.append)
    assert failures[0].check(defer.CancelledError)
    # The connector's own late failure does not fire the Deferred again.
    factory.clientConnectionFailed(connector, Failure(error.UserError()))
    reactor.advance(0)


def test_cancellingAfterConnectStopsTheDelayedResult():
    reactor, creator = creatorAndReactor()
    d = creator.connectSSL("127.0.0.1", 443, contextFactory="ctx")
    assert reactor.sslClients[0][3] == "ctx"
    factory = reactor.sslClients[0][2]
    factory.buildProtocol(None)
    d.cancel()
    reactor.advance(0)
    failures = []
    d.addErrback(failures.append)
    assert failures[0].check(defer.CancelledError)
    assert reactor.getDelayedCalls() == []
