"""
Promise pipelining between Loom peers over real loopback sockets, on every
reactor, through a forwarder that adds 50 ms each way: the three dependent
calls of a chain go out in one round trip, counted by the client Broker
(which answers had come when each request left), not by the clock.  Against
a server without the pipelining dialect the same chain takes three.
"""

import pytest

from protocols.pb import pb
from reactor.defer import Deferred
from reactor.eventual import send, when

from .pbhelpers import Builder, CountingClientFactory, LatencyProxyFactory, PlainBroker

pytestmark = pytest.mark.timeout(30)

LATENCY = 0.05


class Status(pb.Root):
    def remote_getBuilder(self, name):
        return Builder(name)


class _ServerFactory(pb.PBServerFactory):
    def __init__(self, root):
        pb.PBServerFactory.__init__(self, root)
        self.lost = []
        self.brokers = []

    def buildProtocol(self, addr):
        broker = pb.PBServerFactory.buildProtocol(self, addr)
        self.brokers.append(broker)
        lost = Deferred()
        broker.notifyOnDisconnect(lambda: lost.callback(None))
        self.lost.append(lost)
        return broker


def _chainRoundTrips(reactor, runUntil, brokerClass):
    serverFactory = _ServerFactory(Status())
    serverFactory.protocol = brokerClass
    serverPort = reactor.listenTCP(0, serverFactory, interface="127.0.0.1")
    proxy = LatencyProxyFactory("127.0.0.1", serverPort.getHost().port, reactor, LATENCY)
    proxyPort = reactor.listenTCP(0, proxy, interface="127.0.0.1")
    factory = CountingClientFactory()
    reactor.connectTCP("127.0.0.1", proxyPort.getHost().port, factory)
    try:
        root = runUntil(reactor, factory.getRootObject())
        broker = factory._broker
        broker.reset()
        chain = send(send(send(root).getBuilder("linux")).getBuild(-1)).getResults()
        result = runUntil(reactor, when(chain))
        # Nagle's algorithm is off on both ends, or the second and third
        # requests would wait for a delayed ACK (see Broker.connectionMade).
        assert broker.transport.getTcpNoDelay()
        assert serverFactory.brokers[0].transport.getTcpNoDelay()
        return result, broker.roundTrips(), broker.pipelining
    finally:
        factory.disconnect()
        runUntil(reactor, proxy.whenIdle())
        for lost in serverFactory.lost:
            runUntil(reactor, lost)
        for port in (proxyPort, serverPort):
            stopped = port.stopListening()
            if stopped is not None:
                runUntil(reactor, stopped)


def test_pipelinedChainOneRoundTrip(reactor, runUntil):
    result, roundTrips, pipelining = _chainRoundTrips(reactor, runUntil, pb.Broker)
    assert (result, roundTrips, pipelining) == ("linux build -1: success", 1, True)


def test_chainWithoutPipeliningThreeRoundTrips(reactor, runUntil):
    result, roundTrips, pipelining = _chainRoundTrips(reactor, runUntil, PlainBroker)
    assert (result, roundTrips, pipelining) == ("linux build -1: success", 3, False)
