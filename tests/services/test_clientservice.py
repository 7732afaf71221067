"""
Tests for ClientService and backoffPolicy (services.internet), with a Clock
and a fake endpoint whose connection attempts the test completes or fails
by hand; then once over loopback on every reactor.
"""

import pytest

from protocols.protocol import Factory, Protocol
from protocols.wire import Echo
from reactor.defer import CancelledError, Deferred
from reactor.endpoints import TCP4ClientEndpoint
from reactor.error import ConnectingCancelledError, ConnectionDone, ConnectionRefusedError
from reactor.failure import Failure
from reactor.task import Clock
from reactor.testing import StringTransportWithDisconnection
from services.internet import ClientService, TCPServer, backoffPolicy

# -- helpers --------------------------------------------------------------------


class Attempt:
    """One endpoint.connect() call: the factory it got and its Deferred."""

    def __init__(self, factory):
        self.factory = factory
        self.cancelled = False
        self.deferred = Deferred(self._cancel)

    def _cancel(self, d):
        self.cancelled = True
        d.errback(Failure(ConnectingCancelledError("fake")))

    def succeed(self):
        """Build the protocol, connect it to a StringTransport, fire; return it."""
        protocol = self.factory.buildProtocol(None)
        transport = StringTransportWithDisconnection()
        transport.protocol = protocol
        protocol.makeConnection(transport)
        self.deferred.callback(protocol)
        return protocol

    def fail(self, error=None):
        self.deferred.errback(Failure(error or ConnectionRefusedError("fake")))


class FakeEndpoint:
    def __init__(self):
        self.attempts = []

    def connect(self, factory):
        self.attempts.append(Attempt(factory))
        return self.attempts[-1].deferred


class Greeter(Protocol):
    lostReasons = None

    def connectionLost(self, reason):
        self.lostReasons = (self.lostReasons or []) + [reason]


def result(d):
    results = []
    d.addBoth(results.append)
    assert results, "the Deferred has not fired"
    if isinstance(results[0], Failure):
        results[0].raiseException()
    return results[0]


def noJitter():
    return 0.0


def nextDelay(clock):
    (call,) = clock.getDelayedCalls()
    return call.getTime() - clock.seconds()


@pytest.fixture
def setup():
    clock, endpoint = Clock(), FakeEndpoint()
    svc = ClientService(
        endpoint,
        Factory.forProtocol(Greeter),
        retryPolicy=backoffPolicy(jitter=noJitter),
        clock=clock,
    )
    return clock, endpoint, svc


# -- backoffPolicy -----------------------------------------------------------------


def test_backoffPolicyGrowsByHalfFromOneSecondToAMinute():
    policy = backoffPolicy(jitter=noJitter)
    assert [policy(n) for n in range(1, 6)] == [1.0, 1.5, 2.25, 3.375, 5.0625]
    assert policy(11) == pytest.approx(1.5**10)
    assert policy(12) == 60.0
    assert policy(10**6) == 60.0


def test_backoffPolicyJitterIsAtMostOneSecond():
    policy = backoffPolicy()
    for attempt in (1, 2, 3, 50):
        base = backoffPolicy(jitter=noJitter)(attempt)
        samples = [policy(attempt) for _ in range(200)]
        assert all(base <= s < base + 1 for s in samples)
        assert len(set(samples)) > 1


def test_backoffPolicyTakesItsParameters():
    policy = backoffPolicy(initialDelay=0.5, maxDelay=3, factor=2, jitter=lambda: 0.25)
    assert [policy(n) for n in range(1, 6)] == [0.75, 1.25, 2.25, 3.25, 3.25]


# -- connecting and reconnecting -----------------------------------------------------


def test_reconnectsAfterEachFailureWithTheBackoffSequence(setup):
    clock, endpoint, svc = setup
    svc.startService()
    delays = []
    for n in range(12):
        assert len(endpoint.attempts) == n + 1
        endpoint.attempts[-1].fail()
        delays.append(nextDelay(clock))
        clock.advance(delays[-1] * 0.999)
        assert len(endpoint.attempts) == n + 1
        clock.advance(delays[-1] * 0.002)
    assert delays[:4] == pytest.approx([1.0, 1.5, 2.25, 3.375])
    assert delays[-1] == pytest.approx(60.0)
    assert all(later >= earlier - 1e-9 for earlier, later in zip(delays, delays[1:], strict=False))


def test_theDefaultPolicyHasBoundedJitter():
    clock, endpoint = Clock(), FakeEndpoint()
    svc = ClientService(endpoint, Factory.forProtocol(Greeter), clock=clock)
    svc.startService()
    for base in (1.0, 1.5, 2.25):
        endpoint.attempts[-1].fail()
        assert base <= nextDelay(clock) < base + 1
        clock.advance(nextDelay(clock))
    svc.stopService()


def test_whenConnectedFiresWithTheUsersProtocol(setup):
    clock, endpoint, svc = setup
    waiting = svc.whenConnected()
    svc.startService()
    assert not waiting.called
    protocol = endpoint.attempts[0].succeed()
    assert type(protocol) is Greeter
    assert result(waiting) is protocol
    assert result(svc.whenConnected()) is protocol
    assert protocol.transport.protocol is protocol  # nothing between them


def test_aLostConnectionIsRetriedAfterTheFirstDelay(setup):
    clock, endpoint, svc = setup
    svc.startService()
    endpoint.attempts[0].fail()
    clock.advance(1)
    endpoint.attempts[1].fail()
    clock.advance(1.5)
    protocol = endpoint.attempts[2].succeed()
    protocol.transport.loseConnection()
    assert protocol.lostReasons[0].check(ConnectionDone)
    assert "connectionLost" not in vars(protocol)  # the hook is gone again
    assert nextDelay(clock) == 1.0
    waiting = svc.whenConnected()
    clock.advance(1)
    second = endpoint.attempts[3].succeed()
    assert result(waiting) is second


def test_failAfterFailuresCountsFailedAttemptsFromTheCall(setup):
    clock, endpoint, svc = setup
    svc.startService()
    endpoint.attempts[0].fail()
    afterTwo, patient = svc.whenConnected(failAfterFailures=2), svc.whenConnected()
    clock.advance(nextDelay(clock))
    endpoint.attempts[1].fail()
    assert not afterTwo.called
    clock.advance(nextDelay(clock))
    endpoint.attempts[2].fail(ConnectionRefusedError("third"))
    with pytest.raises(ConnectionRefusedError, match="third"):
        result(afterTwo)
    assert not patient.called
    clock.advance(nextDelay(clock))
    protocol = endpoint.attempts[3].succeed()
    assert result(patient) is protocol


def test_failAfterOneFailsOnTheNextFailure(setup):
    clock, endpoint, svc = setup
    svc.startService()
    d = svc.whenConnected(failAfterFailures=1)
    endpoint.attempts[0].fail()
    with pytest.raises(ConnectionRefusedError):
        result(d)


def test_aCancelledWhenConnectedIsForgotten(setup):
    clock, endpoint, svc = setup
    svc.startService()
    d = svc.whenConnected(failAfterFailures=1)
    d.cancel()
    with pytest.raises(CancelledError):
        result(d)
    endpoint.attempts[0].fail()  # must not fire d a second time
    assert svc._awaiting == []


# -- stopping ----------------------------------------------------------------------------


def test_stopWhileConnectingCancelsTheAttempt(setup):
    clock, endpoint, svc = setup
    svc.startService()
    waiting = svc.whenConnected()
    assert result(svc.stopService()) is None
    assert endpoint.attempts[0].cancelled
    assert clock.getDelayedCalls() == []
    with pytest.raises(CancelledError):
        result(waiting)
    with pytest.raises(CancelledError):
        result(svc.whenConnected())


def test_stopWhileWaitingCancelsTheRetry(setup):
    clock, endpoint, svc = setup
    svc.startService()
    endpoint.attempts[0].fail()
    assert len(clock.getDelayedCalls()) == 1
    assert result(svc.stopService()) is None
    assert clock.getDelayedCalls() == []
    clock.advance(100)
    assert len(endpoint.attempts) == 1


def test_stopWhileConnectedClosesAndWaitsForTheClose(setup):
    clock, endpoint, svc = setup
    svc.startService()
    protocol = endpoint.attempts[0].succeed()
    transport = protocol.transport
    transport.loseConnection = lambda: setattr(transport, "disconnecting", True)
    stopped = svc.stopService()
    assert transport.disconnecting
    assert not stopped.called
    protocol.connectionLost(Failure(ConnectionDone()))
    assert result(stopped) is None
    assert clock.getDelayedCalls() == []
    assert len(endpoint.attempts) == 1
    assert not svc.running


def test_startDuringTheStopReconnectsOnceClosed(setup):
    clock, endpoint, svc = setup
    svc.startService()
    protocol = endpoint.attempts[0].succeed()
    transport = protocol.transport
    transport.loseConnection = lambda: None
    stopped = svc.stopService()
    svc.startService()
    assert len(endpoint.attempts) == 1
    protocol.connectionLost(Failure(ConnectionDone()))
    assert result(stopped) is None
    assert len(endpoint.attempts) == 2


def test_stopBeforeStartIsImmediate(setup):
    clock, endpoint, svc = setup
    assert result(svc.stopService()) is None
    assert endpoint.attempts == []


# -- prepareConnection ---------------------------------------------------------------------


def test_prepareConnectionDelaysWhenConnected():
    clock, endpoint, prepared = Clock(), FakeEndpoint(), []

    def prepare(protocol):
        prepared.append((protocol, Deferred()))
        return prepared[-1][1]

    svc = ClientService(
        endpoint, Factory.forProtocol(Greeter), clock=clock, prepareConnection=prepare
    )
    svc.startService()
    waiting = svc.whenConnected()
    protocol = endpoint.attempts[0].succeed()
    assert prepared[0][0] is protocol
    assert not waiting.called
    prepared[0][1].callback("ignored")
    assert result(waiting) is protocol


def test_aFailedPrepareClosesTheConnectionAndRetries():
    clock, endpoint = Clock(), FakeEndpoint()

    def prepare(protocol):
        raise ValueError("handshake refused")

    svc = ClientService(
        endpoint,
        Factory.forProtocol(Greeter),
        retryPolicy=backoffPolicy(jitter=noJitter),
        clock=clock,
        prepareConnection=prepare,
    )
    svc.startService()
    waiting = svc.whenConnected(failAfterFailures=1)
    protocol = endpoint.attempts[0].succeed()
    assert protocol.lostReasons  # closed
    with pytest.raises(ValueError, match="handshake refused"):
        result(waiting)
    assert nextDelay(clock) == 1.0
    svc.stopService()


def test_slottedProtocolsAreRefusedClearly():
    class Slotted:
        __slots__ = ("transport", "factory")

        def connectionLost(self, reason):
            pass

    clock, endpoint = Clock(), FakeEndpoint()
    svc = ClientService(endpoint, Factory.forProtocol(Slotted), clock=clock)
    svc.startService()
    with pytest.raises(TypeError, match="accept attributes"):
        endpoint.attempts[0].factory.buildProtocol(None)
    svc.stopService()


# -- on every reactor ------------------------------------------------------------------------


class Asker(Protocol):
    answered = None

    def ask(self, data):
        self.answered = Deferred()
        self.transport.write(data)
        return self.answered

    def dataReceived(self, data):
        self.answered.callback(data)


class ClosingEcho(Echo):
    def connectionLost(self, reason):
        self.factory.closed.callback(None)


def test_keepsAConnectionToARealServer(reactor, runUntil):
    serverFactory = Factory.forProtocol(ClosingEcho)
    serverFactory.closed = Deferred()
    server = TCPServer(0, serverFactory, interface="127.0.0.1", reactor=reactor)
    server.startService()
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", server.getHost().port, timeout=5)
    svc = ClientService(endpoint, Factory.forProtocol(Asker), clock=reactor)
    svc.startService()
    protocol = runUntil(reactor, svc.whenConnected())
    assert runUntil(reactor, protocol.ask(b"ping")) == b"ping"
    runUntil(reactor, svc.stopService())
    assert not protocol.transport.connected
    runUntil(reactor, serverFactory.closed)
    runUntil(reactor, server.stopService())


def test_reactorKeywordIsTheClock():
    clock, endpoint = Clock(), FakeEndpoint()
    svc = ClientService(endpoint, Factory.forProtocol(Greeter), reactor=clock)
    assert svc.clock is clock
    svc.startService()
    endpoint.attempts[-1].fail()
    assert 1.0 <= nextDelay(clock) < 2.0
    svc.stopService()
    with pytest.raises(TypeError):
        ClientService(endpoint, Factory.forProtocol(Greeter), clock=clock, reactor=Clock())
