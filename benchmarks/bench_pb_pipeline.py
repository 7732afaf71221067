"""
Promise pipelining over Perspective Broker: a chain of three dependent
calls, pipelined, against the same three calls made one after another, on
a connection with added latency.

    root.getBuilder(name) -> builder.getBuild(-1) -> build.getResults()

Sequential: ``callRemote`` each, waiting for each answer before the next
call (what a Twisted PB client does).  Pipelined:
``send(send(send(root).getBuilder(name)).getBuild(-1)).getResults()``,
which sends all three at once.  The Loom server and client run in this
process, on one reactor, talking through a TCP forwarder on 127.0.0.1
that holds each chunk for --latency seconds (50 ms by default) in each
direction.  Rounds alternate the two ways; the table shows the median
time of a chain for each and the ratio, judged against issue 21's target
(the pipelined chain at least 2.5 times faster): PASS or MISS.

    python benchmarks/bench_pb_pipeline.py [--rounds N] [--latency S] [--quick]
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

from protocols.pb import pb  # noqa: E402
from protocols.portforward import (  # noqa: E402
    ProxyClient,
    ProxyClientFactory,
    ProxyFactory,
    ProxyServer,
)
from reactor import getReactorClass  # noqa: E402
from reactor.defer import inlineCallbacks  # noqa: E402
from reactor.eventual import send, when  # noqa: E402
from reactor.failure import Failure  # noqa: E402

TARGET = 2.5
EXPECTED = "linux build -1: success"


class Build(pb.Referenceable):
    def __init__(self, builder, number):
        self.builder = builder
        self.number = number

    def remote_getResults(self):
        return "%s build %d: success" % (self.builder, self.number)


class Builder(pb.Referenceable):
    def __init__(self, name):
        self.name = name

    def remote_getBuild(self, number):
        return Build(self.name, number)


class Status(pb.Root):
    def remote_getBuilder(self, name):
        return Builder(name)


# -- a forwarder that adds latency -------------------------------------------


class _SlowProxyClient(ProxyClient):
    def dataReceived(self, data):
        self.factory.server.factory.relayLater(self.peer, data)


class _SlowProxyClientFactory(ProxyClientFactory):
    protocol = _SlowProxyClient


class _SlowProxyServer(ProxyServer):
    clientProtocolFactory = _SlowProxyClientFactory

    def dataReceived(self, data):
        if self.peer is None:
            ProxyServer.dataReceived(self, data)
        else:
            self.factory.relayLater(self.peer, data)


class LatencyProxyFactory(ProxyFactory):
    """protocols.portforward, delivering each chunk `latency` seconds late, each way."""

    protocol = _SlowProxyServer

    def __init__(self, host, port, reactor, latency):
        ProxyFactory.__init__(self, host, port, reactor)
        self.latency = latency

    def relayLater(self, peer, data):
        self.reactor.callLater(self.latency, _relay, peer, data)


def _relay(peer, data):
    if peer.transport is not None and not peer.transport.disconnected:
        peer.transport.write(data)


# -- the two ways -----------------------------------------------------------


@inlineCallbacks
def sequential(root):
    """Three callRemote calls, each waiting for the answer before it."""
    builder = yield root.callRemote("getBuilder", "linux")
    build = yield builder.callRemote("getBuild", -1)
    results = yield build.callRemote("getResults")
    return results


def pipelined(root):
    """The same three calls as one pipelined chain."""
    return when(send(send(send(root).getBuilder("linux")).getBuild(-1)).getResults())


@inlineCallbacks
def measure(reactor, root, rounds):
    """Alternate the two ways rounds times; return {way: [seconds per chain]}."""
    times = {"sequential": [], "pipelined": []}
    for _ in range(rounds):
        for name, way in (("sequential", sequential), ("pipelined", pipelined)):
            start = time.perf_counter()
            result = yield way(root)
            times[name].append(time.perf_counter() - start)
            if result != EXPECTED:
                raise AssertionError("%s chain gave %r" % (name, result))
    return times


def run(rounds, latency, reactorName="epoll"):
    """Serve, forward with latency, connect, measure; return the times."""
    reactor = getReactorClass(reactorName)()
    serverPort = reactor.listenTCP(0, pb.PBServerFactory(Status()), interface="127.0.0.1")
    proxy = LatencyProxyFactory("127.0.0.1", serverPort.getHost().port, reactor, latency)
    proxyPort = reactor.listenTCP(0, proxy, interface="127.0.0.1")
    factory = pb.PBClientFactory()
    reactor.connectTCP("127.0.0.1", proxyPort.getHost().port, factory)
    outcome = {}

    @inlineCallbacks
    def main():
        root = yield factory.getRootObject()
        outcome["pipelining"] = factory._broker.pipelining
        yield measure(reactor, root, 1)  # warm up: connection, vocabulary
        outcome["times"] = yield measure(reactor, root, rounds)

    def finish(result):
        if isinstance(result, Failure):
            outcome["error"] = result
        reactor.stop()

    reactor.callWhenRunning(lambda: main().addBoth(finish))
    reactor.callLater(60 + rounds * 10 * latency, reactor.stop)
    reactor.run(installSignalHandlers=False)
    if "error" in outcome:
        outcome["error"].raiseException()
    if "times" not in outcome:
        raise SystemExit("the benchmark did not finish")
    return outcome


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--rounds", type=int, default=10)
    parser.add_argument("--latency", type=float, default=0.05, help="seconds added each way")
    parser.add_argument("--quick", action="store_true", help="tiny run, for smoke tests")
    args = parser.parse_args(argv)
    rounds = 2 if args.quick else args.rounds
    outcome = run(rounds, args.latency)
    times = outcome["times"]
    sequentialTime = statistics.median(times["sequential"])
    pipelinedTime = statistics.median(times["pipelined"])
    ratio = sequentialTime / pipelinedTime
    print(
        "PB chain of three dependent calls, %d ms added each way, %d rounds"
        % (args.latency * 1000, rounds)
    )
    print("  pipelining negotiated: %s" % (outcome["pipelining"],))
    print("  %-28s %8.1f ms" % ("three sequential callRemote", sequentialTime * 1000))
    print("  %-28s %8.1f ms" % ("pipelined send() chain", pipelinedTime * 1000))
    verdict = "PASS" if ratio >= TARGET else "MISS"
    print("  pipelined is %.2fx faster (target >= %.1fx): %s" % (ratio, TARGET, verdict))
    return 0


if __name__ == "__main__":
    sys.exit(main())
