"""
Tests for services.internet: the servers, clients, TimerService and
StreamServerEndpointService, first in memory (MemoryReactor, Clock, fake
endpoints), then on every real reactor over loopback.  ClientService has
its own file, test_clientservice.py.
"""

import errno
import os
import socket

import pytest

import reactor as loom
from protocols.protocol import (
    ClientFactory,
    DatagramProtocol,
    Factory,
    Protocol,
    ReconnectingClientFactory,
)
from protocols.wire import Echo
from reactor import log
from reactor.address import IPv4Address
from reactor.defer import CancelledError, Deferred
from reactor.endpoints import TCP4ClientEndpoint, connectProtocol
from reactor.error import CannotListenError, DNSLookupError
from reactor.failure import Failure
from reactor.task import Clock
from reactor.testing import MemoryReactor, MemoryReactorClock
from services.internet import (
    StreamServerEndpointService,
    TCPClient,
    TCPServer,
    TimerService,
    UDPServer,
    UNIXClient,
    UNIXServer,
    service,
)
from services.service import MultiService

# -- helpers --------------------------------------------------------------------


def result(d):
    """The result of an already-fired Deferred (raising its error)."""
    results = []
    d.addBoth(results.append)
    assert results, "the Deferred has not fired"
    if isinstance(results[0], Failure):
        results[0].raiseException()
    return results[0]


class StubPort:
    """A listening port whose stopListening returns a Deferred the test fires."""

    def __init__(self, address=None):
        self.address = address
        self.stopped = Deferred()
        self.stopCalls = 0

    def stopListening(self):
        self.stopCalls += 1
        return self.stopped

    def getHost(self):
        return self.address


class StubReactor:
    """listenTCP returns a StubPort, or raises the error it was given."""

    def __init__(self, error=None):
        self.error = error
        self.ports = []

    def listenTCP(self, port, factory, backlog=50, interface=""):
        if self.error is not None:
            raise self.error
        self.ports.append(StubPort(IPv4Address("TCP", interface or "0.0.0.0", port)))
        return self.ports[-1]


class FakeServerEndpoint:
    """A server endpoint whose listen Deferreds the test controls."""

    def __init__(self, outcome=None):
        # outcome: None (pending), a port, or an exception
        self.outcome = outcome
        self.listens = []
        self.cancelled = []

    def listen(self, factory):
        d = Deferred(lambda d: self.cancelled.append(d))
        self.listens.append((factory, d))
        if isinstance(self.outcome, Exception):
            d.errback(Failure(self.outcome))
        elif self.outcome is not None:
            d.callback(self.outcome)
        return d


def inUse():
    return CannotListenError("127.0.0.1", 80, OSError(errno.EADDRINUSE, "Address in use"))


@pytest.fixture
def logged():
    events = []
    log.addObserver(events.append)
    yield events
    log.removeObserver(events.append)


# -- servers in memory -------------------------------------------------------------


def test_privilegedStartServiceBindsAndStartServiceDoesNotBindAgain():
    reactor, factory = MemoryReactor(), Factory()
    svc = TCPServer(1023, factory, backlog=7, interface="127.0.0.1", reactor=reactor)
    svc.privilegedStartService()
    assert reactor.tcpServers == [(1023, factory, 7, "127.0.0.1")]
    assert not svc.running
    svc.startService()
    assert len(reactor.tcpServers) == 1
    assert svc.running
    assert svc.getHost() == IPv4Address("TCP", "127.0.0.1", 1023)


def test_startServiceBindsWhenPrivilegedStartWasNotCalled():
    reactor, factory = MemoryReactor(), Factory()
    svc = TCPServer(8080, factory, reactor=reactor)
    svc.startService()
    assert reactor.tcpServers == [(8080, factory, 50, "")]
    assert svc._port is not None


def test_stopServiceReturnsThePortsDeferred():
    reactor = StubReactor()
    svc = TCPServer(0, Factory(), reactor=reactor)
    svc.startService()
    d = svc.stopService()
    assert d is reactor.ports[0].stopped
    assert not svc.running
    assert svc._port is None
    with pytest.raises(RuntimeError):
        svc.getHost()


def test_stopServiceGivesADeferredWhenThePortGivesNone():
    svc = TCPServer(0, Factory(), reactor=MemoryReactor())
    svc.startService()
    assert result(svc.stopService()) is None


def test_restartAfterStopBindsAgain():
    reactor = MemoryReactor()
    svc = TCPServer(0, Factory(), reactor=reactor)
    svc.privilegedStartService()
    svc.startService()
    svc.stopService()
    svc.startService()
    assert len(reactor.tcpServers) == 2


def test_aFailedBindLeavesTheServiceStopped():
    svc = TCPServer(80, Factory(), reactor=StubReactor(error=inUse()))
    with pytest.raises(CannotListenError):
        svc.startService()
    assert not svc.running
    with pytest.raises(CannotListenError):
        svc.privilegedStartService()


def test_aBindFailureStopsAMultiServiceStart():
    parent = MultiService()
    TCPServer(80, Factory(), reactor=StubReactor(error=inUse())).setServiceParent(parent)
    with pytest.raises(CannotListenError):
        result(parent.startService())
    assert not parent.running


def test_unixServerPassesItsArguments():
    reactor, factory = MemoryReactor(), Factory()
    svc = UNIXServer("/tmp/s.sock", factory, backlog=3, mode=0o600, wantPID=True, reactor=reactor)
    svc.privilegedStartService()
    svc.startService()
    assert reactor.unixServers == [("/tmp/s.sock", factory, 3, 0o600, True)]
    assert svc.getHost().name == "/tmp/s.sock"
    UNIXServer("/tmp/t.sock", factory, reactor=reactor).privilegedStartService()
    assert reactor.unixServers[1] == ("/tmp/t.sock", factory, 50, None, False)


def test_udpServerPassesItsArguments():
    reactor, protocol = MemoryReactor(), DatagramProtocol()
    svc = UDPServer(5353, protocol, interface="127.0.0.1", maxPacketSize=512, reactor=reactor)
    svc.startService()
    assert reactor.udpServers == [(5353, protocol, "127.0.0.1", 512)]
    assert result(svc.stopService()) is None


def test_theGlobalReactorIsNotNeededToBuildServices():
    before = loom._installed
    TCPServer(80, Factory())
    UDPServer(53, DatagramProtocol())
    TimerService(1, lambda: None)
    service("tcp:80", Factory())
    assert loom._installed is before


# -- clients in memory ---------------------------------------------------------------


class CountingClientFactory(ClientFactory):
    protocol = Protocol

    def __init__(self):
        self.events = []

    def clientConnectionLost(self, connector, reason):
        self.events.append(("lost", reason))

    def clientConnectionFailed(self, connector, reason):
        self.events.append(("failed", reason))


def test_tcpClientHandsTheCallersFactoryItselfToConnectTCP():
    reactor, factory = MemoryReactor(), CountingClientFactory()
    svc = TCPClient(
        "example.org", 79, factory, timeout=5, bindAddress=("127.0.0.1", 0), reactor=reactor
    )
    svc.startService()
    assert reactor.tcpClients == [("example.org", 79, factory, 5, ("127.0.0.1", 0))]
    assert reactor.tcpClients[0][2] is factory
    assert result(svc.stopService()) is None  # a connector without a state
    assert reactor.connectors[0]._disconnected


def test_tcpClientStopWaitsUntilTheConnectorIsDisconnected():
    reactor, factory = MemoryReactorClock(), CountingClientFactory()
    svc = TCPClient("127.0.0.1", 79, factory, reactor=reactor)
    svc.startService()
    connector = reactor.connectors[0]
    connector.state = "connected"  # as a real connector's, while connected
    d = svc.stopService()
    assert connector._disconnected
    reactor.advance(1)
    assert not d.called  # the connection is still closing
    connector.state = "disconnected"
    reactor.advance(TCPClient.POLL_INTERVAL)
    assert result(d) is None
    assert reactor.getDelayedCalls() == []


def test_tcpClientStopsAConnectionAttemptStartedWhileStopping():
    reactor = MemoryReactorClock()
    svc = TCPClient("127.0.0.1", 79, CountingClientFactory(), reactor=reactor)
    svc.startService()
    connector = reactor.connectors[0]
    connector.state = "connecting"  # the factory called connect() again
    d = svc.stopService()
    reactor.advance(TCPClient.POLL_INTERVAL)
    assert connector.stoppedConnecting and not d.called
    connector.state = "disconnected"
    reactor.advance(TCPClient.POLL_INTERVAL)
    assert result(d) is None


def test_tcpClientStopIsImmediateOnceDisconnected():
    reactor = MemoryReactorClock()
    svc = TCPClient("127.0.0.1", 1, CountingClientFactory(), reactor=reactor)
    svc.startService()
    reactor.connectors[0].state = "disconnected"
    assert result(svc.stopService()) is None
    assert reactor.getDelayedCalls() == []


def test_stoppingAClientStopsAReconnectingFactoryTrying():
    reactor, factory = MemoryReactor(), ReconnectingClientFactory()
    factory.clock = Clock()
    svc = TCPClient("127.0.0.1", 1, factory, reactor=reactor)
    svc.startService()
    svc.stopService()
    assert not factory.continueTrying


def test_unixClientHandsTheCallersFactoryItselfToConnectUNIX():
    reactor, factory = MemoryReactor(), CountingClientFactory()
    svc = UNIXClient("/tmp/s.sock", factory, timeout=3, checkPID=True, reactor=reactor)
    svc.startService()
    assert reactor.unixClients == [("/tmp/s.sock", factory, 3, True)]
    assert result(svc.stopService()) is None


# -- TimerService ---------------------------------------------------------------------


def test_timerServiceCallsAtStartAndEveryStep():
    clock, calls = Clock(), []
    svc = TimerService(5, calls.append, "tick")
    svc.clock = clock
    svc.startService()
    assert calls == ["tick"]
    clock.advance(4.9)
    assert calls == ["tick"]
    clock.advance(0.1)
    clock.advance(5)
    assert calls == ["tick"] * 3
    assert result(svc.stopService()) is None
    assert not svc.running
    clock.advance(50)
    assert len(calls) == 3
    assert clock.getDelayedCalls() == []


def test_timerServicePassesKeywordArguments():
    clock, calls = Clock(), []
    svc = TimerService(1, lambda *a, **kw: calls.append((a, kw)), 1, 2, key="value")
    svc.clock = clock
    svc.startService()
    svc.stopService()
    assert calls == [((1, 2), {"key": "value"})]


def test_timerServiceStopWaitsForACallInProgress():
    clock, pending = Clock(), []

    def slow():
        pending.append(Deferred())
        return pending[-1]

    svc = TimerService(1, slow)
    svc.clock = clock
    svc.startService()
    d = svc.stopService()
    assert not d.called
    assert svc.running
    pending[0].callback(None)
    assert result(d) is None
    assert not svc.running
    clock.advance(10)
    assert len(pending) == 1


def test_timerServiceLogsAFailureAndStopsCalling(logged):
    clock, calls = Clock(), []

    def failing():
        calls.append(1)
        if len(calls) == 2:
            raise ZeroDivisionError("second call")

    svc = TimerService(1, failing)
    svc.clock = clock
    svc.startService()
    clock.advance(1)
    clock.advance(5)
    assert len(calls) == 2
    errors = [e for e in logged if e["isError"]]
    assert len(errors) == 1 and errors[0]["failure"].check(ZeroDivisionError)
    assert result(svc.stopService()) is None
    assert not svc.running


def test_timerServiceStopBeforeStartIsHarmless():
    assert result(TimerService(1, lambda: None).stopService()) is None


# -- StreamServerEndpointService --------------------------------------------------------


def test_endpointServiceListensInPrivilegedStartOnly():
    port = StubPort()
    endpoint, factory = FakeServerEndpoint(port), Factory()
    svc = StreamServerEndpointService(endpoint, factory)
    svc.privilegedStartService()
    assert [f for f, d in endpoint.listens] == [factory]
    assert result(svc.startService()) is None
    assert len(endpoint.listens) == 1
    assert svc._port is port
    assert svc.stopService() is port.stopped
    assert not svc.running


def test_endpointServiceListensInStartService():
    endpoint = FakeServerEndpoint(StubPort())
    svc = StreamServerEndpointService(endpoint, Factory())
    assert result(svc.startService()) is None
    assert len(endpoint.listens) == 1
    assert svc.running


def test_endpointListenFailureRaisesFromPrivilegedStart():
    svc = StreamServerEndpointService(FakeServerEndpoint(inUse()), Factory())
    with pytest.raises(CannotListenError):
        svc.privilegedStartService()


def test_endpointListenFailureFailsStartService():
    svc = StreamServerEndpointService(FakeServerEndpoint(inUse()), Factory())
    with pytest.raises(CannotListenError):
        result(svc.startService())
    assert not svc.running


def test_endpointListenFailureReachesTheApplicationsStart():
    parent = MultiService()
    StreamServerEndpointService(FakeServerEndpoint(inUse()), Factory()).setServiceParent(parent)
    with pytest.raises(CannotListenError):
        result(parent.startService())
    assert not parent.running


def test_endpointServiceStartWaitsForAPendingListen():
    endpoint, port = FakeServerEndpoint(), StubPort()
    svc = StreamServerEndpointService(endpoint, Factory())
    svc.privilegedStartService()
    d = svc.startService()
    assert not d.called
    endpoint.listens[0][1].callback(port)
    assert result(d) is None
    assert svc._port is port


def test_endpointServicePendingListenThatFailsFailsTheStart():
    endpoint = FakeServerEndpoint()
    svc = StreamServerEndpointService(endpoint, Factory())
    d = svc.startService()
    endpoint.listens[0][1].errback(Failure(inUse()))
    with pytest.raises(CannotListenError):
        result(d)
    assert not svc.running


def test_endpointServiceStopCancelsAPendingListen():
    endpoint = FakeServerEndpoint()
    svc = StreamServerEndpointService(endpoint, Factory())
    started = svc.startService()
    assert result(svc.stopService()) is None
    assert len(endpoint.cancelled) == 1
    with pytest.raises(CancelledError):
        result(started)


def test_serviceBuildsAnEndpointServiceFromADescription():
    reactor, factory = MemoryReactor(), Factory()
    svc = service("tcp:8123:interface=127.0.0.1:backlog=9", factory, reactor=reactor)
    assert isinstance(svc, StreamServerEndpointService)
    svc.privilegedStartService()
    assert reactor.tcpServers == [(8123, factory, 9, "127.0.0.1")]
    assert svc.getHost().port == 8123


def test_serviceRejectsAMalformedDescription():
    with pytest.raises(ValueError, match="unknown server endpoint type"):
        service("bogus:80", Factory(), reactor=MemoryReactor())


# -- on every real reactor ------------------------------------------------------------------


class Client(Protocol):
    """Sends a message, collects the answer, fires `done` once `expected` bytes came."""

    def __init__(self, message):
        self.message = message
        self.received = b""
        self.answered = Deferred()
        self.closed = Deferred()

    def connectionMade(self):
        self.transport.write(self.message)

    def dataReceived(self, data):
        self.received += data
        if len(self.received) >= len(self.message) and not self.answered.called:
            self.answered.callback(self.received)

    def connectionLost(self, reason):
        self.closed.callback(None)


class TrackingEcho(Echo):
    def connectionMade(self):
        self.factory.closed.append(Deferred())

    def connectionLost(self, reason):
        self.factory.closed[-1].callback(None)


def echoFactory():
    factory = Factory.forProtocol(TrackingEcho)
    factory.closed = []
    return factory


def roundTrip(reactor, runUntil, port, factory, message=b"hello, loom"):
    """Connect to 127.0.0.1:port, check the echo, then close both ends."""
    client = Client(message)
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port, timeout=5)
    runUntil(reactor, connectProtocol(endpoint, client))
    assert runUntil(reactor, client.answered) == message
    client.transport.loseConnection()
    runUntil(reactor, client.closed)
    runUntil(reactor, factory.closed[-1])


def assertPortFree(port):
    probe = socket.socket()
    try:
        probe.bind(("127.0.0.1", port))
    finally:
        probe.close()


def test_tcpServerServesAndReleasesItsPort(reactor, runUntil):
    factory = echoFactory()
    svc = TCPServer(0, factory, interface="127.0.0.1", reactor=reactor)
    svc.startService()
    port = svc.getHost().port
    roundTrip(reactor, runUntil, port, factory)
    runUntil(reactor, svc.stopService())
    assertPortFree(port)


def test_endpointServiceServesAndReleasesItsPort(reactor, runUntil):
    factory = echoFactory()
    svc = service("tcp:0:interface=127.0.0.1", factory, reactor=reactor)
    svc.privilegedStartService()
    runUntil(reactor, svc.startService())
    port = svc.getHost().port
    roundTrip(reactor, runUntil, port, factory)
    runUntil(reactor, svc.stopService())
    assertPortFree(port)


@pytest.fixture
def busyPort():
    holder = socket.socket()
    holder.bind(("127.0.0.1", 0))
    holder.listen(1)
    yield holder.getsockname()[1]
    holder.close()


def test_aPortInUseFailsTheStart(reactor, runUntil, busyPort):
    with pytest.raises(CannotListenError):
        TCPServer(busyPort, Factory(), interface="127.0.0.1", reactor=reactor).startService()
    svc = service("tcp:%d:interface=127.0.0.1" % (busyPort,), Factory(), reactor=reactor)
    with pytest.raises(CannotListenError) as info:
        runUntil(reactor, svc.startService())
    assert "127.0.0.1:%d" % (busyPort,) in str(info.value)
    with pytest.raises(CannotListenError):
        svc.privilegedStartService()


def test_unixServerServesAndRemovesItsSocket(defaultReactor, runUntil, tmp_path):
    reactor, path = defaultReactor, str(tmp_path / "echo.sock")
    factory = echoFactory()
    svc = UNIXServer(path, factory, reactor=reactor)
    svc.privilegedStartService()
    svc.startService()
    client = Client(b"over unix")
    clientService = UNIXClient(path, ClientFactory.forProtocol(lambda: client), reactor=reactor)
    clientService.startService()
    assert runUntil(reactor, client.answered) == b"over unix"
    runUntil(reactor, clientService.stopService())
    runUntil(reactor, factory.closed[-1])
    runUntil(reactor, svc.stopService())
    assert not os.path.exists(path)


def test_tcpClientServiceConnectsAndDisconnects(defaultReactor, runUntil):
    reactor, factory = defaultReactor, echoFactory()
    server = TCPServer(0, factory, interface="127.0.0.1", reactor=reactor)
    server.startService()
    client = Client(b"from a TCPClient")
    clientFactory = ClientFactory.forProtocol(lambda: client)
    clientService = TCPClient("127.0.0.1", server.getHost().port, clientFactory, reactor=reactor)
    clientService.startService()
    assert clientService._connection.factory is clientFactory
    assert runUntil(reactor, client.answered) == b"from a TCPClient"
    assert client.factory is clientFactory
    runUntil(reactor, clientService.stopService())
    assert client.closed.called
    runUntil(reactor, factory.closed[-1])
    runUntil(reactor, server.stopService())


def test_tcpClientToAnUnknownHostFailsWithDNSLookupError(defaultReactor, runUntil, monkeypatch):
    # The resolver's answer for a name that does not exist, without asking DNS.
    def noSuchHost(host, port, *args):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", noSuchHost)
    failed, reasons = Deferred(), []

    class Reporting(ClientFactory):
        def clientConnectionFailed(self, connector, reason):
            reasons.append(reason)
            failed.callback(None)

    clientService = TCPClient("no-such-host.invalid", 79, Reporting(), reactor=defaultReactor)
    clientService.startService()
    runUntil(defaultReactor, failed)
    assert reasons[0].check(DNSLookupError)
    runUntil(defaultReactor, clientService.stopService())


def test_udpServerReceivesAndReleasesItsPort(defaultReactor, runUntil):
    arrived = Deferred()

    class Recorder(DatagramProtocol):
        def datagramReceived(self, data, addr):
            arrived.callback(data)

    svc = UDPServer(0, Recorder(), interface="127.0.0.1", reactor=defaultReactor)
    svc.startService()
    port = svc.getHost().port
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sender.sendto(b"datagram", ("127.0.0.1", port))
    finally:
        sender.close()
    assert runUntil(defaultReactor, arrived) == b"datagram"
    runUntil(defaultReactor, svc.stopService())
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        probe.bind(("127.0.0.1", port))
    finally:
        probe.close()


def _freeLowPort():
    for candidate in range(1023, 900, -1):
        probe = socket.socket()
        try:
            probe.bind(("127.0.0.1", candidate))
        except OSError:
            continue
        finally:
            probe.close()
        return candidate
    pytest.skip("no free port between 901 and 1023 on 127.0.0.1")


@pytest.mark.skipif(os.geteuid() != 0, reason="binding a port below 1024 needs root")
def test_privilegedStartServiceBindsALowPortAsRoot(defaultReactor, runUntil):
    reactor, factory, port = defaultReactor, echoFactory(), _freeLowPort()
    svc = TCPServer(port, factory, interface="127.0.0.1", reactor=reactor)
    svc.privilegedStartService()
    bound = svc._port
    assert svc.getHost().port == port
    svc.startService()
    assert svc._port is bound
    roundTrip(reactor, runUntil, port, factory)
    runUntil(reactor, svc.stopService())
    assertPortFree(port)


def test_timerServiceTakesReactorKeyword():
    # reactor= is TimerService's own (the other keywords go to the callable).
    clock, calls = Clock(), []
    svc = TimerService(2, lambda *a, **kw: calls.append((a, kw)), "x", reactor=clock, key=1)
    svc.startService()
    clock.advance(2)
    assert calls == [(("x",), {"key": 1})] * 2
    assert result(svc.stopService()) is None
    assert clock.getDelayedCalls() == []


def test_failedStartReleasesPortsBoundInPrivilegedStart():
    # The tree bound both ports as root; the first child's start fails, so
    # the server after it never starts: its port must not stay open.
    from services.service import MultiService, Service

    class Failing(Service):
        def startService(self):
            raise RuntimeError("cannot start")

    reactor, factory = MemoryReactor(), Factory()
    tree = MultiService()
    first = TCPServer(1023, factory, interface="127.0.0.1", reactor=reactor)
    first.setServiceParent(tree)
    Failing().setServiceParent(tree)
    last = TCPServer(1022, factory, interface="127.0.0.1", reactor=reactor)
    last.setServiceParent(tree)
    tree.privilegedStartService()
    ports = [first._port, last._port]
    failures = []
    tree.startService().addErrback(failures.append)
    assert [f.type for f in failures] == [RuntimeError]
    assert not any(port.listening for port in ports)
    assert first._port is None and last._port is None
