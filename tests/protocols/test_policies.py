"""
Tests for protocols.policies, all deterministic: task.Clock for time,
StringTransport or the in-memory pump for connections.
"""

import gc
import io
import weakref

import pytest
from zope.interface import implementer

from protocols.policies import (
    LimitConnectionsByPeer,
    LimitTotalConnectionsFactory,
    ProtocolWrapper,
    ThrottlingFactory,
    TimeoutFactory,
    TimeoutMixin,
    TrafficLoggingFactory,
    WrappingFactory,
)
from protocols.protocol import Factory, Protocol
from reactor import ratelimit
from reactor.address import IPv4Address, UNIXAddress
from reactor.error import ConnectionDone
from reactor.failure import Failure
from reactor.interfaces import IHalfCloseableProtocol, IPushProducer, ITCPTransport
from reactor.task import Clock
from reactor.testing import StringTransport, StringTransportWithDisconnection, connectedPair

PEER = IPv4Address("TCP", "192.0.2.7", 4000)


class Recorder(Protocol):
    """Records what happens to it as a list of events."""

    def __init__(self):
        self.events = []

    def connectionMade(self):
        self.events.append("made")

    def dataReceived(self, data):
        self.events.append(data)

    def connectionLost(self, reason):
        self.events.append(("lost", reason.type))


def connect(factory, addr=PEER):
    """Build a protocol from factory and connect it to a disconnecting StringTransport."""
    protocol = factory.buildProtocol(addr)
    transport = StringTransportWithDisconnection(peerAddress=addr)
    transport.protocol = protocol
    protocol.makeConnection(transport)
    return protocol, transport


# -- ProtocolWrapper and WrappingFactory ----------------------------------------------


def test_wrappedProtocolSeesWrapperAsTransport():
    factory = WrappingFactory(Factory.forProtocol(Recorder))
    wrapper, transport = connect(factory)
    inner = wrapper.wrappedProtocol
    assert inner.transport is wrapper
    assert inner.factory is factory.wrappedFactory
    assert ITCPTransport.providedBy(wrapper)
    wrapper.dataReceived(b"hello")
    assert inner.events == ["made", b"hello"]


def test_wrapperPassesTransportCallsThrough():
    wrapper, transport = connect(WrappingFactory(Factory.forProtocol(Recorder)))
    inner = wrapper.wrappedProtocol
    inner.transport.write(b"a")
    inner.transport.writeSequence([b"b", b"c"])
    assert transport.value() == b"abc"
    assert inner.transport.getPeer() == PEER
    assert inner.transport.getHost() == transport.getHost()
    producer = object()
    inner.transport.registerProducer(producer, True)
    assert transport.producer is producer and transport.streaming is True
    inner.transport.unregisterProducer()
    assert transport.producer is None
    inner.transport.pauseProducing()
    assert transport.producerState == "paused"
    inner.transport.resumeProducing()
    assert transport.producerState == "producing"
    # Attributes the wrapper does not define come from the transport.
    inner.transport.setTcpNoDelay(True)
    assert transport.noDelay is True
    assert inner.transport.getTcpNoDelay() is True
    inner.transport.loseConnection()
    assert inner.transport.disconnecting
    assert inner.events[-1] == ("lost", ConnectionDone)


def test_factoryTracksLiveWrappers():
    factory = WrappingFactory(Factory.forProtocol(Recorder))
    first, firstTransport = connect(factory)
    second, _ = connect(factory)
    assert set(factory.protocols) == {first, second}
    firstTransport.loseConnection()
    assert set(factory.protocols) == {second}


def test_wrappingFactoryPassesRefusalAndEventsOn():
    events = []

    class Refusing(Factory):
        def buildProtocol(self, addr):
            return None

        def startFactory(self):
            events.append("start")

        def stopFactory(self):
            events.append("stop")

        def clientConnectionFailed(self, connector, reason):
            events.append(("failed", connector, reason))

    factory = WrappingFactory(Refusing())
    factory.noisy = factory.wrappedFactory.noisy = False
    assert factory.buildProtocol(PEER) is None
    factory.doStart()
    factory.clientConnectionFailed("connector", "reason")
    factory.clientConnectionLost("connector", "reason")
    factory.doStop()
    assert events == ["start", ("failed", "connector", "reason"), "stop"]
    assert factory.logPrefix() == "Refusing (WrappingFactory)"


def test_wrapperOffersHalfCloseOnlyWhenWrappedTakesIt():
    @implementer(IHalfCloseableProtocol)
    class HalfCloser(Recorder):
        def readConnectionLost(self):
            self.events.append("readLost")

        def writeConnectionLost(self):
            self.events.append("writeLost")

    plain, _ = connect(WrappingFactory(Factory.forProtocol(Recorder)))
    assert not IHalfCloseableProtocol.providedBy(plain)
    wrapper, _ = connect(WrappingFactory(Factory.forProtocol(HalfCloser)))
    assert IHalfCloseableProtocol.providedBy(wrapper)
    wrapper.readConnectionLost()
    wrapper.writeConnectionLost()
    assert wrapper.wrappedProtocol.events == ["made", "readLost", "writeLost"]


def test_wrapperWorksThroughInMemoryPair():
    class Greeter(Protocol):
        def connectionMade(self):
            self.transport.write(b"hi")

        def dataReceived(self, data):
            self.transport.loseConnection()

    factory = WrappingFactory(Factory.forProtocol(Greeter))
    client = Recorder()
    pump = connectedPair(factory.buildProtocol(PEER), client)
    client.transport.write(b"bye")
    pump.flush()
    assert client.events == ["made", b"hi", ("lost", ConnectionDone)]
    assert factory.protocols == {}


def _policyFactories(wrappedFactory, clock):
    return {
        "WrappingFactory": WrappingFactory(wrappedFactory),
        "TimeoutFactory": TimeoutFactory(wrappedFactory, lifetime=60, reactor=clock),
        "ThrottlingFactory": ThrottlingFactory(wrappedFactory, writeLimit=10, reactor=clock),
        "LimitConnectionsByPeer": LimitConnectionsByPeer(wrappedFactory),
        "TrafficLoggingFactory": TrafficLoggingFactory(wrappedFactory, "t", logfile=io.StringIO()),
    }


@implementer(IPushProducer)
class SelfProducing(Recorder):
    """Registers itself as its transport's producer, as Chargen does."""

    def connectionMade(self):
        Recorder.connectionMade(self)
        self.transport.registerProducer(self, True)

    def pauseProducing(self):
        self.events.append("pause")

    def resumeProducing(self):
        self.events.append("resume")

    def stopProducing(self):
        self.events.append("stop")


@pytest.mark.parametrize("kind", sorted(_policyFactories(Factory(), Clock())))
def test_wrapperLetsGoOfItsProtocolOnceLost(kind):
    clock = Clock()
    factory = _policyFactories(Factory.forProtocol(SelfProducing), clock)[kind]
    wrapper, transport = connect(factory)
    inner = weakref.ref(wrapper.wrappedProtocol)
    # While connected, the transport asks the wrapper what the protocol wants.
    inner().autoPauseReading = False
    assert wrapper.autoPauseReading is False
    wrapper.dataReceived(b"hi")
    transport.unregisterProducer()
    transport.loseConnection()
    assert wrapper.wrappedProtocol is None
    gc.collect()
    assert inner() is None, gc.get_referrers(inner())
    # What the reactor may still ask of a closed connection's wrapper.
    assert wrapper.logPrefix() == "SelfProducing (%s)" % (type(wrapper).__name__,)
    assert wrapper.autoPauseReading is None and wrapper.disconnecting
    assert factory.protocols == {}
    clock.advance(100)


def test_wrapperLogPrefixNamesBoth():
    wrapper = ProtocolWrapper(None, Recorder())
    assert wrapper.logPrefix() == "Recorder (ProtocolWrapper)"


def test_wrapperWithoutTransportHasNoTransportAttributes():
    wrapper = ProtocolWrapper(None, Recorder())
    with pytest.raises(AttributeError):
        _ = wrapper.getTcpNoDelay


# -- TimeoutMixin ----------------------------------------------------------------------


class Idle(Protocol, TimeoutMixin):
    def __init__(self, clock):
        self.clock = clock
        self.timedOut = False

    def connectionMade(self):
        self.setTimeout(10)

    def dataReceived(self, data):
        self.resetTimeout()


def test_timeoutMixinClosesIdleConnection():
    clock = Clock()
    protocol = Idle(clock)
    transport = StringTransport()
    protocol.makeConnection(transport)
    clock.advance(9)
    assert not transport.disconnecting
    clock.advance(1)
    assert transport.disconnecting


def test_timeoutMixinResetPostponesTimeout():
    clock = Clock()
    protocol = Idle(clock)
    transport = StringTransport()
    protocol.makeConnection(transport)
    clock.advance(8)
    protocol.dataReceived(b"x")
    clock.advance(8)
    assert not transport.disconnecting
    clock.advance(2)
    assert transport.disconnecting


def test_setTimeoutReturnsPreviousAndNoneDisarms():
    clock = Clock()
    protocol = Idle(clock)
    protocol.makeConnection(StringTransport())
    assert protocol.setTimeout(5) == 10
    assert protocol.timeOut == 5
    assert [call.getTime() for call in clock.getDelayedCalls()] == [5]
    assert protocol.setTimeout(None) == 5
    assert clock.getDelayedCalls() == []
    clock.advance(100)
    assert not protocol.transport.disconnecting
    assert protocol.setTimeout(3) is None
    clock.advance(3)
    assert protocol.transport.disconnecting


def test_timeoutConnectionCanBeOverridden():
    class Custom(Idle):
        def timeoutConnection(self):
            self.timedOut = True

    clock = Clock()
    protocol = Custom(clock)
    protocol.makeConnection(StringTransport())
    clock.advance(10)
    assert protocol.timedOut and not protocol.transport.disconnecting
    # Once fired, a reset does nothing until the timeout is set again.
    protocol.resetTimeout()
    assert clock.getDelayedCalls() == []


def test_timeoutMixinCallLaterCanBeReplaced():
    clock = Clock()
    protocol = Idle(None)
    protocol.callLater = clock.callLater
    protocol.makeConnection(StringTransport())
    clock.advance(10)
    assert protocol.transport.disconnecting


def test_timeoutCallIsPublic():
    clock = Clock()
    protocol = Idle(clock)
    protocol.makeConnection(StringTransport())
    call = protocol.timeoutCall
    assert call.active() and call.getTime() == 10
    clock.advance(4)
    protocol.dataReceived(b"x")
    assert protocol.timeoutCall is call and call.getTime() == 14
    # Cancelled from outside: the mixin takes it as no call, without error.
    call.cancel()
    protocol.resetTimeout()
    assert protocol.setTimeout(None) == 10 and protocol.timeoutCall is None
    # A call put there (a test's, say) is the one reset and cancelled.
    fired = []
    protocol.timeOut = 5
    protocol.timeoutCall = clock.callLater(5, fired.append, "mine")
    protocol.resetTimeout()
    assert protocol.timeoutCall.getTime() == 4 + 5
    protocol.setTimeout(None)
    clock.advance(10)
    assert fired == [] and clock.getDelayedCalls() == []
    protocol.setTimeout(1)
    clock.advance(1)
    assert protocol.timeoutCall is None and protocol.transport.disconnecting


def test_timeoutProtocolCallsTwistedsTimeoutFunc():
    class Custom(TimeoutFactory.protocol):
        def timeoutFunc(self):
            self.transport.write(b"timed out")

    clock = Clock()
    factory = TimeoutFactory(Factory.forProtocol(Recorder), timeoutPeriod=30, reactor=clock)
    factory.protocol = Custom
    wrapper, transport = connect(factory)
    assert wrapper.timeoutCall.getTime() == 30
    clock.advance(30)
    assert transport.value() == b"timed out" and not transport.disconnecting
    assert wrapper.timeoutCall is None


def test_timeoutProtocolSetTimeoutTakesTwistedsArguments():
    clock = Clock()
    factory = TimeoutFactory(Factory.forProtocol(Recorder), timeoutPeriod=30, reactor=clock)
    wrapper, transport = connect(factory)
    assert wrapper.setTimeout(timeoutPeriod=5) == 30
    assert wrapper.timeoutPeriod == 5 and wrapper.timeoutCall.getTime() == 5
    wrapper.setTimeout()  # None, the default, disarms
    assert wrapper.timeoutCall is None and wrapper.timeoutPeriod is None
    clock.advance(100)
    assert not transport.disconnecting


def test_spewingFactoryLogsTraffic(monkeypatch):
    from protocols import policies

    lines = []
    monkeypatch.setattr(policies.log, "msg", lambda message, **kw: lines.append(message))
    wrapper, transport = connect(policies.SpewingFactory(Factory.forProtocol(Echo)))
    wrapper.dataReceived(b"hi")
    assert lines == ["Received: b'hi'", "Sending: b'hi'"]
    assert transport.value() == b"hi<>"


# -- TimeoutFactory ----------------------------------------------------------------------


def test_timeoutFactoryDropsClientThatNeverSpeaks():
    clock = Clock()
    factory = TimeoutFactory(Factory.forProtocol(Recorder), timeoutPeriod=30, reactor=clock)
    wrapper, transport = connect(factory)
    inner = wrapper.wrappedProtocol
    clock.advance(29)
    assert inner.events == ["made"]
    clock.advance(1)
    assert inner.events == ["made", ("lost", ConnectionDone)]
    assert clock.getDelayedCalls() == []
    assert factory.protocols == {}


def test_timeoutFactoryActivityKeepsConnection():
    clock = Clock()
    factory = TimeoutFactory(Factory.forProtocol(Recorder), timeoutPeriod=30, reactor=clock)
    wrapper, transport = connect(factory)
    for _ in range(5):
        clock.advance(20)
        wrapper.dataReceived(b"ping")
        clock.advance(20)
        wrapper.wrappedProtocol.transport.write(b"pong")
    assert not transport.disconnecting
    transport.loseConnection()
    assert clock.getDelayedCalls() == []


def test_timeoutFactoryAbortsWhenCleanCloseStalls():
    # A StringTransport's loseConnection never completes: like a peer that
    # reads nothing, so the buffer never drains.
    clock = Clock()
    factory = TimeoutFactory(Factory.forProtocol(Recorder), timeoutPeriod=30, reactor=clock)
    wrapper = factory.buildProtocol(PEER)
    transport = StringTransport()
    wrapper.makeConnection(transport)
    clock.advance(30)
    assert transport.disconnecting and not transport.aborted
    clock.advance(wrapper.abortTimeout)
    assert transport.aborted


def test_lifetimeClosesAConnectionHoweverActive(monkeypatch):
    # One byte every 2 s keeps a 30 s idle timeout happy for ever; the
    # lifetime ends it all the same.
    lines = []
    monkeypatch.setattr(
        ratelimit, "peerLog", ratelimit.RateLimitedLog(clock=Clock(), emit=lines.append)
    )
    clock = Clock()
    factory = TimeoutFactory(
        Factory.forProtocol(Recorder), timeoutPeriod=30, lifetime=60, reactor=clock
    )
    wrapper, transport = connect(factory)
    inner = wrapper.wrappedProtocol
    for _ in range(29):
        clock.advance(2)
        wrapper.dataReceived(b"x")
        inner.transport.write(b"y")
    clock.advance(1.9)
    assert not transport.disconnecting
    clock.advance(0.1)
    assert inner.events[-1] == ("lost", ConnectionDone)
    assert clock.getDelayedCalls() == [] and factory.protocols == {}
    assert lines == [
        "Closing Recorder (TimeoutProtocol) from 192.0.2.7:4000:"
        " connection older than its lifetime of 60 s"
    ]


def test_lifetimeAbortsWhenCleanCloseStallsAndIsOffByDefault():
    clock = Clock()
    factory = TimeoutFactory(
        Factory.forProtocol(Recorder), timeoutPeriod=None, lifetime=10, reactor=clock
    )
    wrapper = factory.buildProtocol(PEER)
    transport = StringTransport()
    wrapper.makeConnection(transport)
    clock.advance(10)
    assert transport.disconnecting and not transport.aborted
    clock.advance(wrapper.abortTimeout)
    assert transport.aborted
    factory = TimeoutFactory(Factory.forProtocol(Recorder), timeoutPeriod=30, reactor=clock)
    assert factory.lifetime is None
    wrapper, transport = connect(factory)
    for _ in range(1000):
        clock.advance(20)
        wrapper.dataReceived(b"ping")
    assert not transport.disconnecting


class RefusingFactory(Factory):
    def buildProtocol(self, addr):
        return None


def test_policyFactoriesPassRefusalOn():
    clock = Clock()
    for factory in [
        TimeoutFactory(RefusingFactory(), reactor=clock),
        ThrottlingFactory(RefusingFactory(), reactor=clock),
        LimitConnectionsByPeer(RefusingFactory()),
        TrafficLoggingFactory(RefusingFactory(), "x", logfile=io.StringIO()),
    ]:
        assert factory.buildProtocol(PEER) is None
    assert clock.getDelayedCalls() == []


# -- ThrottlingFactory -------------------------------------------------------------------


def test_throttlingPausesReadsOverLimitAndResumesNextSecond():
    clock = Clock()
    factory = ThrottlingFactory(Factory.forProtocol(Recorder), readLimit=100, reactor=clock)
    wrapper, transport = connect(factory)
    wrapper.dataReceived(b"x" * 60)
    assert transport.producerState == "producing"
    wrapper.dataReceived(b"x" * 60)
    assert transport.producerState == "paused"
    assert factory.readsThrottled
    clock.advance(1)
    assert transport.producerState == "producing"
    assert factory.readThisSecond == 20


def test_throttlingCarriesOvershootIntoLaterSeconds():
    clock = Clock()
    factory = ThrottlingFactory(Factory.forProtocol(Recorder), readLimit=100, reactor=clock)
    wrapper, transport = connect(factory)
    wrapper.dataReceived(b"x" * 250)
    states = []
    for _ in range(3):
        clock.advance(1)
        states.append(transport.producerState)
    assert states == ["paused", "producing", "producing"]


def test_throttledReadsWaitInPairUntilRateAllows():
    clock = Clock()
    factory = ThrottlingFactory(Factory.forProtocol(Recorder), readLimit=100, reactor=clock)
    server = factory.buildProtocol(PEER)
    client = Recorder()
    pump = connectedPair(server, client)
    client.transport.write(b"a" * 350)
    pump.flush()
    client.transport.write(b"b" * 50)
    pump.flush()
    received = []
    for _ in range(3):
        received.append(server.wrappedProtocol.events[1:])
        clock.advance(1)
        pump.flush()
    received.append(server.wrappedProtocol.events[1:])
    assert received == [[b"a" * 350]] * 3 + [[b"a" * 350, b"b" * 50]]


def test_throttlingCountsAllConnectionsTogether():
    clock = Clock()
    factory = ThrottlingFactory(Factory.forProtocol(Recorder), readLimit=100, reactor=clock)
    first, firstTransport = connect(factory)
    second, secondTransport = connect(factory)
    first.dataReceived(b"x" * 50)
    second.dataReceived(b"x" * 50)
    assert firstTransport.producerState == secondTransport.producerState == "paused"
    third, thirdTransport = connect(factory)
    assert thirdTransport.producerState == "paused"
    clock.advance(1)
    assert {t.producerState for t in (firstTransport, secondTransport, thirdTransport)} == {
        "producing"
    }


def test_throttlingKeepsProtocolsOwnReadPause():
    clock = Clock()
    factory = ThrottlingFactory(Factory.forProtocol(Recorder), readLimit=100, reactor=clock)
    wrapper, transport = connect(factory)
    wrapper.wrappedProtocol.transport.pauseProducing()
    wrapper.dataReceived(b"x" * 100)
    clock.advance(1)
    assert transport.producerState == "paused"
    wrapper.wrappedProtocol.transport.resumeProducing()
    assert transport.producerState == "producing"


@implementer(IPushProducer)
class CountingProducer:
    def __init__(self):
        self.events = []

    def pauseProducing(self):
        self.events.append("pause")

    def resumeProducing(self):
        self.events.append("resume")

    def stopProducing(self):
        self.events.append("stop")


def test_throttlingHoldsProducerOverWriteLimit():
    clock = Clock()
    factory = ThrottlingFactory(Factory.forProtocol(Recorder), writeLimit=100, reactor=clock)
    wrapper, transport = connect(factory)
    producer = CountingProducer()
    inner = wrapper.wrappedProtocol
    inner.transport.registerProducer(producer, True)
    assert inner.transport.producer is producer
    inner.transport.write(b"y" * 70)
    inner.transport.writeSequence([b"y" * 20, b"y" * 20])
    assert transport.value() == b"y" * 110
    assert producer.events == ["pause"]
    assert factory.writtenThisSecond == 110
    clock.advance(1)
    assert producer.events == ["pause", "resume"]


def test_throttleDoesNotResumeWhatTransportPaused():
    clock = Clock()
    factory = ThrottlingFactory(Factory.forProtocol(Recorder), writeLimit=100, reactor=clock)
    wrapper, transport = connect(factory)
    producer = CountingProducer()
    wrapper.wrappedProtocol.transport.registerProducer(producer, True)
    gate = transport.producer
    gate.pauseProducing()  # the transport's buffer is full
    wrapper.wrappedProtocol.transport.write(b"z" * 100)
    clock.advance(1)
    assert producer.events == ["pause"]
    gate.resumeProducing()  # the buffer drained
    assert producer.events == ["pause", "resume"]


def test_throttlingHoldsPullProducerRequests():
    clock = Clock()
    factory = ThrottlingFactory(Factory.forProtocol(Recorder), writeLimit=10, reactor=clock)
    wrapper, transport = connect(factory)
    producer = CountingProducer()
    wrapper.wrappedProtocol.transport.registerProducer(producer, False)
    gate = transport.producer
    assert transport.streaming is False
    gate.resumeProducing()
    wrapper.wrappedProtocol.transport.write(b"z" * 10)
    gate.resumeProducing()
    assert producer.events == ["resume"]
    clock.advance(1)
    assert producer.events == ["resume", "resume"]


def test_throttlingRefusesPastMaxConnectionCount():
    clock = Clock()
    factory = ThrottlingFactory(Factory.forProtocol(Recorder), maxConnectionCount=2, reactor=clock)
    first, firstTransport = connect(factory)
    connect(factory)
    assert factory.buildProtocol(PEER) is None
    firstTransport.loseConnection()
    assert factory.connectionCount == 1
    assert factory.buildProtocol(PEER) is not None


def test_throttlingChecksStopOnceTheLastConnectionsBytesArePaidOff():
    clock = Clock()
    factory = ThrottlingFactory(Factory.forProtocol(Recorder), readLimit=10, reactor=clock)
    assert clock.getDelayedCalls() == []
    wrapper, transport = connect(factory)
    wrapper.dataReceived(b"x" * 35)
    assert len(clock.getDelayedCalls()) == 1
    transport.loseConnection()
    # Not forgotten: 35 bytes at 10/s take until the fourth check.
    assert factory.readsThrottled and factory.readThisSecond == 35
    clock.pump([1, 1, 1])
    assert factory.readThisSecond == 5 and len(clock.getDelayedCalls()) == 1
    clock.advance(1)
    assert not factory.readsThrottled and factory.readThisSecond == 0
    assert clock.getDelayedCalls() == []


def test_plainWritesOverTheWriteLimitWaitTheirTurn():
    # No producer: what is written past the limit is kept, in order, and
    # sent as the seconds pay the count off; a close waits for it.
    clock = Clock()
    factory = ThrottlingFactory(Factory.forProtocol(Recorder), writeLimit=100, reactor=clock)
    wrapper, transport = connect(factory)
    protocol = wrapper.wrappedProtocol
    for index in range(5):
        protocol.transport.write(b"%d" % index * 50)
    protocol.transport.loseConnection()
    assert transport.value() == b"0" * 50 + b"1" * 50
    assert not transport.disconnecting and protocol.transport.disconnecting
    clock.advance(1)
    assert transport.value() == b"".join(b"%d" % i * 50 for i in range(4))
    assert not transport.disconnecting
    clock.advance(1)
    assert transport.value() == b"".join(b"%d" % i * 50 for i in range(5))
    assert transport.disconnecting


def test_writesKeptByTheThrottleAreDroppedWithTheConnection():
    clock = Clock()
    factory = ThrottlingFactory(Factory.forProtocol(Recorder), writeLimit=10, reactor=clock)
    wrapper, transport = connect(factory)
    wrapper.wrappedProtocol.transport.writeSequence([b"x" * 10, b"y" * 10])
    wrapper.wrappedProtocol.transport.write(b"z")
    assert transport.value() == b"x" * 10 + b"y" * 10
    transport.loseConnection()
    clock.pump([1] * 5)
    assert transport.value() == b"x" * 10 + b"y" * 10
    assert clock.getDelayedCalls() == []


def test_throttlingProducerIsSettableAsInTwisted():
    # Twisted's own test sets the producer instead of registering it.
    clock = Clock()
    factory = ThrottlingFactory(Factory.forProtocol(Recorder), writeLimit=10, reactor=clock)
    wrapper, transport = connect(factory)
    producer = CountingProducer()
    wrapper.producer = producer
    assert wrapper.producer is producer and transport.producer is None
    wrapper.write(b"0123456789")
    assert producer.events == ["pause"]
    clock.advance(1)
    assert producer.events == ["pause", "resume"]
    del wrapper.producer
    wrapper.write(b"0123456789")
    clock.advance(1)
    assert wrapper.producer is None and producer.events == ["pause", "resume"]


def test_settingTheProducerReplacesTheRegisteredOneInItsState():
    clock = Clock()
    factory = ThrottlingFactory(Factory.forProtocol(Recorder), writeLimit=10, reactor=clock)
    wrapper, transport = connect(factory)
    first, second = CountingProducer(), CountingProducer()
    wrapper.wrappedProtocol.transport.registerProducer(first, True)
    wrapper.write(b"x" * 10)
    wrapper.producer = second  # replaced while throttled: starts paused
    assert (first.events, second.events) == (["pause"], ["pause"])
    transport.producer.pauseProducing()  # the transport's buffer fills
    clock.advance(1)
    assert second.events == ["pause"]
    transport.producer.resumeProducing()
    assert (first.events, second.events) == (["pause"], ["pause", "resume"])
    transport.loseConnection()
    assert wrapper.producer is None


def test_throttlingCountsConnectionsAsTwistedDoes():
    # Counted when the protocol is built, uncounted once when it is lost.
    clock = Clock()
    factory = ThrottlingFactory(Factory.forProtocol(Recorder), maxConnectionCount=2, reactor=clock)
    first = factory.buildProtocol(PEER)
    second = factory.buildProtocol(PEER)
    assert factory.connectionCount == 2 and factory.protocols == {}
    assert factory.buildProtocol(PEER) is None
    first.connectionLost(Failure(ConnectionDone()))
    first.connectionLost(Failure(ConnectionDone()))
    assert factory.connectionCount == 1
    assert factory.buildProtocol(PEER) is not None
    second.makeConnection(StringTransport())
    assert factory.connectionCount == 2 and list(factory.protocols) == [second]


def test_reconnectingBuysNoFreshReadBudget():
    clock = Clock()
    factory = ThrottlingFactory(Factory.forProtocol(Recorder), readLimit=100, reactor=clock)
    for _ in range(3):
        wrapper, transport = connect(factory)
        assert wrapper.transport is not None
        wrapper.dataReceived(b"x" * 100)
        transport.loseConnection()
    wrapper, transport = connect(factory)
    assert factory.readsThrottled and transport.producerState == "paused"
    clock.pump([1, 1])
    assert factory.readsThrottled
    clock.advance(1)
    assert not factory.readsThrottled and transport.producerState == "producing"
    transport.loseConnection()


# -- connection limits --------------------------------------------------------------------


class Busy(Protocol):
    def connectionMade(self):
        self.transport.write(b"busy\r\n")
        self.transport.loseConnection()


def test_limitTotalConnectionsRefusesPastLimit():
    factory = LimitTotalConnectionsFactory()
    factory.protocol = Recorder
    factory.connectionLimit = 2
    first, firstTransport = connect(factory)
    assert first.wrappedProtocol.factory is factory
    connect(factory)
    assert factory.connectionCount == 2
    assert factory.buildProtocol(PEER) is None
    firstTransport.loseConnection()
    assert factory.connectionCount == 1
    assert factory.buildProtocol(PEER) is not None


def test_limitTotalConnectionsUsesOverflowProtocol():
    factory = LimitTotalConnectionsFactory()
    factory.protocol = Recorder
    factory.connectionLimit = 1
    factory.overflowProtocol = Busy
    connect(factory)
    overflow = factory.buildProtocol(PEER)
    assert isinstance(overflow.wrappedProtocol, Busy)
    assert factory.connectionCount == 2  # overflow connections count too
    transport = StringTransportWithDisconnection(peerAddress=PEER)
    transport.protocol = overflow
    overflow.makeConnection(transport)
    assert transport.value() == b"busy\r\n"
    assert factory.connectionCount == 1


def test_limitTotalConnectionsWithoutLimitAcceptsAll():
    factory = LimitTotalConnectionsFactory()
    factory.protocol = Recorder
    for _ in range(50):
        connect(factory)
    assert factory.connectionCount == 50


def test_limitConnectionsByPeer():
    factory = LimitConnectionsByPeer(Factory.forProtocol(Recorder))
    factory.maxConnectionsPerPeer = 2
    other = IPv4Address("TCP", "198.51.100.1", 5000)
    first, firstTransport = connect(factory, PEER)
    connect(factory, IPv4Address("TCP", PEER.host, 4001))
    assert factory.buildProtocol(PEER) is None
    assert factory.buildProtocol(other) is not None
    firstTransport.loseConnection()
    assert factory.peerConnections == {PEER.host: 1, other.host: 1}
    assert factory.buildProtocol(PEER) is not None


def test_limitConnectionsByPeerForgetsIdlePeersAndKeysUnixByPath():
    factory = LimitConnectionsByPeer(Factory.forProtocol(Recorder))
    factory.maxConnectionsPerPeer = 1
    path = UNIXAddress("/tmp/peer.sock")
    wrapper, transport = connect(factory, path)
    assert factory.peerConnections == {"/tmp/peer.sock": 1}
    assert factory.buildProtocol(path) is None
    transport.loseConnection()
    assert factory.peerConnections == {}


def test_limitTotalConnectionsCountsWhenBuiltAsTwistedDoes():
    factory = LimitTotalConnectionsFactory()
    factory.protocol = Protocol
    factory.connectionLimit = 1
    first = factory.buildProtocol(None)
    assert factory.connectionCount == 1
    assert factory.buildProtocol(None) is None
    first.connectionLost(Failure(ConnectionDone()))
    first.connectionLost(Failure(ConnectionDone()))
    assert factory.connectionCount == 0


def test_limitConnectionsByPeerCountsWhenBuiltAsTwistedDoes():
    factory = LimitConnectionsByPeer(Factory.forProtocol(Recorder))
    factory.maxConnectionsPerPeer = 2
    first = factory.buildProtocol(PEER)
    factory.buildProtocol(IPv4Address("TCP", PEER.host, 4001))
    assert factory.peerConnections == {PEER.host: 2}
    assert factory.buildProtocol(PEER) is None
    first.connectionLost(Failure(ConnectionDone()))
    first.connectionLost(Failure(ConnectionDone()))
    assert factory.peerConnections == {PEER.host: 1}


# -- TrafficLoggingFactory ----------------------------------------------------------------


class Echo(Protocol):
    def dataReceived(self, data):
        self.transport.write(data)
        self.transport.writeSequence([b"<", b">"])
        if data == b"quit":
            self.transport.loseConnection()


def test_trafficLoggingToSharedFile():
    logfile = io.StringIO()
    factory = TrafficLoggingFactory(Factory.forProtocol(Echo), "echo", logfile=logfile)
    client = Recorder()
    pump = connectedPair(factory.buildProtocol(PEER), client)
    client.transport.write(b"hi")
    pump.flush()
    client.transport.write(b"quit")
    pump.flush()
    assert logfile.getvalue().splitlines() == [
        "echo-1 made",
        "echo-1 C b'hi'",
        "echo-1 S b'hi'",
        "echo-1 SV [b'<', b'>']",
        "echo-1 C b'quit'",
        "echo-1 S b'quit'",
        "echo-1 SV [b'<', b'>']",
        "echo-1 lose",
        "echo-1 lost ConnectionDone",
    ]
    assert client.events[-1] == ("lost", ConnectionDone)


def test_trafficLoggingOpensOneFilePerConnectionAndCutsLongData():
    opened = {}

    class Recording(TrafficLoggingFactory):
        def open(self, name):
            opened[name] = logfile = io.StringIO()
            logfile.close = lambda: opened.setdefault("closed", []).append(name)
            return logfile

    factory = Recording(Factory.forProtocol(Recorder), "log", lengthLimit=4)
    first, firstTransport = connect(factory)
    second, _ = connect(factory)
    first.dataReceived(b"0123456789")
    firstTransport.loseConnection()
    assert opened["log-1"].getvalue().splitlines() == [
        "log-1 made",
        "log-1 C b'0123'... (10 bytes)",
        "log-1 lost ConnectionDone",
    ]
    assert opened["closed"] == ["log-1"]
    assert opened["log-2"].getvalue() == "log-2 made\n"
    factory.resetCounter()
    connect(factory)
    assert opened["log-1"].getvalue() == "log-1 made\n"
