"""
Tests for the smaller test doubles reactor.testing gained from Twisted's
testing module: each behaves as Twisted's does (twisted.internet.testing).
"""

import pytest
from zope.interface.verify import verifyObject

from reactor import log
from reactor.address import IPv4Address
from reactor.endpoints import HostnameEndpoint
from reactor.error import CannotListenError, ConnectionRefusedError
from reactor.interfaces import (
    IHostnameResolver,
    IProtocol,
    IPullProducer,
    IReactorPluggableNameResolver,
    IReactorTCP,
    IReactorUNIX,
)
from reactor.task import Clock
from reactor.testing import (
    EventLoggingObserver,
    FakeDatagramTransport,
    LineSendingProtocol,
    NonStreamingProducer,
    RaisingMemoryReactor,
    StringIOWithoutClosing,
    StringTransport,
    SynchronousResolver,
    connectedPair,
    waitUntilAllDisconnected,
)


def fired(d):
    results = []
    d.addBoth(results.append)
    return results


def test_stringIOWithoutClosingStaysReadableAfterClose():
    stream = StringIOWithoutClosing()
    stream.write(b"kept")
    stream.close()
    assert not stream.closed
    assert stream.getvalue() == b"kept"


# -- NonStreamingProducer --------------------------------------------------------------


def test_nonStreamingProducerWritesTenNumbersThenUnregisters():
    transport = StringTransport()
    producer = NonStreamingProducer(transport)
    assert verifyObject(IPullProducer, producer)
    transport.registerProducer(producer, False)
    done = fired(producer.result)
    for _ in range(10):
        assert done == []
        producer.resumeProducing()
    assert transport.value() == b"0123456789"
    assert transport.producer is None  # it unregistered itself
    assert done == [None]
    with pytest.raises(RuntimeError):
        producer.resumeProducing()


def test_nonStreamingProducerStopsAndRefusesPause():
    producer = NonStreamingProducer(StringTransport())
    with pytest.raises(RuntimeError):
        producer.pauseProducing()
    done = fired(producer.result)
    producer.stopProducing()
    assert producer.stopped and done == [None]
    with pytest.raises(RuntimeError):
        producer.resumeProducing()


# -- RaisingMemoryReactor -----------------------------------------------------------------


def test_raisingMemoryReactorRaisesTheGivenExceptions():
    listenError = CannotListenError("", 80, OSError("in use"))
    connectError = ConnectionRefusedError()
    reactor = RaisingMemoryReactor(listenError, connectError)
    for interface in (IReactorTCP, IReactorUNIX, IReactorPluggableNameResolver):
        assert verifyObject(interface, reactor)
    for call in (
        lambda: reactor.listenTCP(80, None),
        lambda: reactor.listenUNIX("/x", None),
        lambda: reactor.adoptStreamPort(3, 2, None),
    ):
        with pytest.raises(CannotListenError) as info:
            call()
        assert info.value is listenError
    for call in (
        lambda: reactor.connectTCP("h", 1, None),
        lambda: reactor.connectSSL("h", 1, None, None),
        lambda: reactor.connectUNIX("/x", None),
        lambda: reactor.adoptStreamConnection(3, 2, None),
    ):
        with pytest.raises(ConnectionRefusedError):
            call()


def test_raisingMemoryReactorResolvesSynchronouslyToLoopback():
    reactor = RaisingMemoryReactor(connectException=ConnectionRefusedError())
    assert verifyObject(IHostnameResolver, reactor.nameResolver)
    d = HostnameEndpoint(reactor, "example.org", 8080).connect(None)
    assert fired(d)[0].check(ConnectionRefusedError)  # it got as far as connectTCP
    replacement = SynchronousResolver()
    previous = reactor.installNameResolver(replacement)
    assert isinstance(previous, SynchronousResolver) and reactor.nameResolver is replacement


def test_synchronousResolverAnswersBeforeReturning():
    events = []

    class Receiver:
        def resolutionBegan(self, resolution):
            events.append(("began", resolution.name))

        def addressResolved(self, address):
            events.append(address)

        def resolutionComplete(self):
            events.append("complete")

    SynchronousResolver().resolveHostName(Receiver(), "example.org", 25)
    assert events == [("began", "example.org"), IPv4Address("TCP", "127.0.0.1", 25), "complete"]


# -- EventLoggingObserver ---------------------------------------------------------------


def test_eventLoggingObserverKeepsEventsInOrder():
    observer = EventLoggingObserver()
    log.addObserver(observer)
    try:
        log.msg("first")
        log.msg("second", user="ada")
    finally:
        log.removeObserver(observer)
    log.msg("unseen")
    assert len(observer) == 2
    assert [event["message"] for event in observer] == [("first",), ("second",)]
    assert observer[1]["user"] == "ada"
    assert observer[-1] is observer[1]


def test_eventLoggingObserverRemovesItselfAtCleanup():
    cleanups = []

    class Test:
        addCleanup = cleanups.append

    observer = EventLoggingObserver.createWithCleanup(Test(), log)
    log.msg("seen")
    (cleanUp,) = cleanups
    cleanUp()
    log.msg("unseen")
    assert [event["message"] for event in observer] == [("seen",)]


def test_eventLoggingObserverAcceptsPytestsRequest(request):
    observer = EventLoggingObserver.createWithCleanup(request, log)
    log.msg("through request")
    assert observer[0]["message"] == ("through request",)


# -- FakeDatagramTransport and LineSendingProtocol ------------------------------------------


def test_fakeDatagramTransportRecordsWrites():
    transport = FakeDatagramTransport()
    transport.write(b"to", ("192.0.2.1", 53))
    transport.write(b"connected")
    assert transport.written == [
        (b"to", ("192.0.2.1", 53)),
        (b"connected", FakeDatagramTransport.noAddr),
    ]


def test_lineSendingProtocolSendsOnConnectAndCollectsLines():
    protocol = LineSendingProtocol([b"HELO", b"QUIT"])
    assert verifyObject(IProtocol, protocol)
    transport = StringTransport()
    protocol.makeConnection(transport)
    assert transport.value() == b"HELO\r\nQUIT\r\n"
    protocol.dataReceived(b"250 ok\r\n221 b")
    protocol.dataReceived(b"ye\r\n")
    assert protocol.response == [b"250 ok", b"221 bye"]
    protocol.connectionLost(None)
    assert protocol.lostConn


def test_lineSendingProtocolWithoutStartAnswersTheFirstLine():
    server = LineSendingProtocol([b"220 welcome"], start=False)
    client = LineSendingProtocol([b"hello"])
    pump = connectedPair(server, client)
    pump.flush()
    assert server.response == [b"hello"]
    assert client.response == [b"220 welcome"]
    client.dataReceived(b"x" * (LineSendingProtocol.MAX_LENGTH + 1))
    assert client.transport.disconnecting  # an over-long line ends it


# -- waitUntilAllDisconnected --------------------------------------------------------------


def test_waitUntilAllDisconnectedFiresOnceEveryTransportIsClosed():
    clock = Clock()
    protocols = [LineSendingProtocol([]), LineSendingProtocol([])]
    for protocol in protocols:
        protocol.makeConnection(StringTransport())
    done = fired(waitUntilAllDisconnected(clock, protocols))
    protocols[0].transport.connected = False
    clock.advance(0.01)
    assert done == []
    protocols[1].transport.connected = False
    clock.advance(0.01)
    assert len(done) == 1 and not done[0].running  # the stopped LoopingCall
    assert clock.getDelayedCalls() == []


def test_waitUntilAllDisconnectedFiresAtOnceWhenNothingIsConnected():
    assert len(fired(waitUntilAllDisconnected(Clock(), []))) == 1
