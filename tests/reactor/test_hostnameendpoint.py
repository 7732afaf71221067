"""
HostnameEndpoint (happy eyeballs), its resolvers, and quoteStringArgument.

First in memory: a MemoryReactorClock whose ``nameResolver`` is a fake the
test answers by hand, and connection attempts completed or failed through
the factories MemoryReactor records.  Then on every real reactor with real
sockets on 127.0.0.1 and ::1, the fake resolver giving both, and a ::1
listener whose full backlog leaves a connect unanswered.
"""

import select
import socket
import threading
import time

import pytest
from zope.interface import implementer
from zope.interface.verify import verifyObject

from reactor._happyeyeballs import interleave
from reactor._resolver import GAIResolver, HostResolution
from reactor.address import HostnameAddress, IPv4Address, IPv6Address
from reactor.endpoints import (
    HostnameEndpoint,
    TCP4ClientEndpoint,
    clientFromString,
    connectProtocol,
    parseDescription,
    quoteStringArgument,
)
from reactor.error import (
    ConnectingCancelledError,
    ConnectionRefusedError,
    DNSLookupError,
    TimeoutError,
)
from reactor.failure import Failure
from reactor.interfaces import IHostnameResolver, IHostResolution, IStreamClientEndpoint
from reactor.testing import MemoryReactorClock, StringTransport
from tests.reactor.transport_helpers import (
    Recorder,
    RecordingServerFactory,
    freePort,
    ipv6Available,
    spin,
    wait,
)

V6A, V6B = IPv6Address("TCP", "2001:db8::a", 80), IPv6Address("TCP", "2001:db8::b", 80)
V4A, V4B = IPv4Address("TCP", "192.0.2.1", 80), IPv4Address("TCP", "192.0.2.2", 80)


@implementer(IHostnameResolver)
class FakeResolver:
    """Records each resolution; the test answers it with answer()."""

    def __init__(self, addresses=None):
        self.addresses = addresses  # answer at once when set
        self.requests = []

    def resolveHostName(
        self, receiver, hostName, portNumber=0, addressTypes=None, transportSemantics="TCP"
    ):
        resolution = HostResolution(hostName)
        receiver.resolutionBegan(resolution)
        self.requests.append((receiver, hostName, portNumber, resolution))
        if self.addresses is not None:
            self.answer(self.addresses)
        return resolution

    def answer(self, addresses, index=-1):
        receiver = self.requests[index][0]
        for address in addresses:
            receiver.addressResolved(address)
        receiver.resolutionComplete()


def memoryEndpoint(addresses=None, host="example.org", **kwargs):
    reactor = MemoryReactorClock()
    reactor.nameResolver = FakeResolver(addresses)
    return reactor, HostnameEndpoint(reactor, host, 80, **kwargs)


def outcome(d):
    results = []
    d.addBoth(results.append)
    return results


def attemptedHosts(reactor):
    return [host for host, port, factory, timeout, bindAddress in reactor.tcpClients]


def connectAttempt(reactor, index):
    """Complete the index-th connection attempt as a connector would."""
    host, port, factory, timeout, bindAddress = reactor.tcpClients[index]
    protocol = factory.buildProtocol(IPv4Address("TCP", host, port))
    protocol.makeConnection(StringTransport())
    factory.clientConnectionMade(protocol)
    return protocol


def failAttempt(reactor, index, error=None):
    factory = reactor.tcpClients[index][2]
    factory.clientConnectionFailed(reactor.connectors[index], Failure(error or TimeoutError()))


# -- ordering and staggering ------------------------------------------------------


def test_addressesAreInterleavedStartingWithTheFirstFamily():
    assert interleave([V6A, V6B, V4A, V4B]) == [V6A, V4A, V6B, V4B]
    assert interleave([V4A, V6A, V4B, V4A]) == [V4A, V6A, V4B]
    assert interleave([V4A, HostnameAddress(b"x", 1)]) == [V4A]
    assert interleave([]) == []


def test_attemptsStartAttemptDelayApart():
    reactor, endpoint = memoryEndpoint([V6A, V6B, V4A, V4B], attemptDelay=0.25)
    d = endpoint.connect(RecordingServerFactory())
    assert attemptedHosts(reactor) == ["2001:db8::a"]
    reactor.advance(0.24)
    assert len(reactor.tcpClients) == 1
    reactor.advance(0.01)
    assert attemptedHosts(reactor) == ["2001:db8::a", "192.0.2.1"]
    reactor.advance(0.25)
    reactor.advance(0.25)
    assert attemptedHosts(reactor) == ["2001:db8::a", "192.0.2.1", "2001:db8::b", "192.0.2.2"]
    assert reactor.getDelayedCalls() == []
    d.cancel()
    assert outcome(d)[0].check(ConnectingCancelledError)


def test_aFailedAttemptStartsTheNextAtOnce():
    reactor, endpoint = memoryEndpoint([V6A, V4A, V6B])
    endpoint.connect(RecordingServerFactory()).addErrback(lambda f: None)
    failAttempt(reactor, 0, ConnectionRefusedError())
    assert attemptedHosts(reactor) == ["2001:db8::a", "192.0.2.1"]  # at t=0
    reactor.advance(0.1)
    failAttempt(reactor, 1)
    assert attemptedHosts(reactor)[2:] == ["2001:db8::b"]  # at t=0.1
    failAttempt(reactor, 2)
    assert reactor.getDelayedCalls() == []


def test_firstToConnectWinsAndTheOthersAreCancelled():
    reactor, endpoint = memoryEndpoint([V6A, V4A, V6B])
    factory = RecordingServerFactory()
    d = endpoint.connect(factory)
    reactor.advance(0.3)
    winner = connectAttempt(reactor, 1)
    assert outcome(d) == [winner]
    assert factory.built == [winner]
    assert reactor.connectors[0].stoppedConnecting  # the loser's attempt stopped
    assert reactor.getDelayedCalls() == []  # and the third never starts
    reactor.advance(10)
    assert len(reactor.tcpClients) == 2


def test_whenEveryAttemptFailsTheLastFailureIsTheAnswer():
    reactor, endpoint = memoryEndpoint([V6A, V4A])
    results = outcome(endpoint.connect(RecordingServerFactory()))
    failAttempt(reactor, 0, TimeoutError())
    assert results == []
    failAttempt(reactor, 1, ConnectionRefusedError())
    assert results[0].check(ConnectionRefusedError)


def test_aNameWithoutAddressesIsADNSLookupError():
    reactor, endpoint = memoryEndpoint([])
    failure = outcome(endpoint.connect(RecordingServerFactory()))[0]
    assert failure.check(DNSLookupError)
    assert "example.org" in str(failure.value)
    assert reactor.tcpClients == []


def test_aReactorThatCannotResolveFailsTheConnect():
    # No nameResolver and no thread pool for the default resolver.
    from reactor.testing import MemoryReactor

    endpoint = HostnameEndpoint(MemoryReactor(), "example.org", 80)
    failure = outcome(endpoint.connect(RecordingServerFactory()))[0]
    assert failure.check(DNSLookupError) and "example.org" in str(failure.value)


def test_eachAttemptGetsTheTimeoutAndBindAddress():
    reactor, endpoint = memoryEndpoint([V4A], timeout=7, bindAddress="192.0.2.9")
    endpoint.connect(RecordingServerFactory())
    assert reactor.tcpClients[0][3:] == (7, ("192.0.2.9", 0))
    assert reactor.nameResolver.requests[0][1:3] == ("example.org", 80)
    connectAttempt(reactor, 0)


def test_aLiteralAddressIsNotResolved():
    reactor, endpoint = memoryEndpoint(host="::1")
    endpoint.connect(RecordingServerFactory())
    assert reactor.nameResolver.requests == []
    assert reactor.tcpClients[0][:2] == ("::1", 80)
    connectAttempt(reactor, 0)


# -- cancelling ---------------------------------------------------------------------


def test_cancelWhileResolvingDropsTheAnswer():
    reactor, endpoint = memoryEndpoint()
    d = endpoint.connect(RecordingServerFactory())
    d.cancel()
    (failure,) = outcome(d)
    assert failure.check(ConnectingCancelledError)
    assert failure.value.address == HostnameAddress(b"example.org", 80)
    assert reactor.nameResolver.requests[0][3].cancelled
    reactor.nameResolver.answer([V4A])
    assert reactor.tcpClients == []


def test_cancelWhileConnectingStopsEveryAttempt():
    reactor, endpoint = memoryEndpoint([V6A, V4A, V6B])
    d = endpoint.connect(RecordingServerFactory())
    reactor.advance(0.3)
    d.cancel()
    assert outcome(d)[0].check(ConnectingCancelledError)
    assert [c.stoppedConnecting for c in reactor.connectors] == [True, True]
    assert reactor.getDelayedCalls() == []


# -- names and descriptions ------------------------------------------------------------


def test_hostnameEndpointProvidesIStreamClientEndpoint():
    assert verifyObject(IStreamClientEndpoint, memoryEndpoint()[1])


def test_internationalNamesAreResolvedAndShownAsPunycode():
    reactor, endpoint = memoryEndpoint(host="bücher.example")
    assert repr(endpoint) == "<HostnameEndpoint xn--bcher-kva.example:80>"
    d = endpoint.connect(RecordingServerFactory())
    assert reactor.nameResolver.requests[0][1] == "bücher.example"
    d.cancel()
    assert outcome(d)[0].value.address == HostnameAddress(b"xn--bcher-kva.example", 80)
    assert repr(HostnameEndpoint(reactor, "::1", 8)) == "<HostnameEndpoint [::1]:8>"


def test_anInvalidNameFailsTheConnect():
    reactor, endpoint = memoryEndpoint(host="a" * 64 + ".example")
    failure = outcome(endpoint.connect(RecordingServerFactory()))[0]
    assert failure.check(ValueError) and "invalid hostname" in str(failure.value)
    bad = HostnameEndpoint(reactor, b"\xff.example", 80)
    assert repr(bad) == "<HostnameEndpoint \\xff.example:80>"
    assert outcome(bad.connect(RecordingServerFactory()))[0].check(ValueError)


def test_tcpDescriptionsStayTCP4ClientEndpoints():
    # As in Twisted: only its tls: descriptions (TLS, not in Loom) use HostnameEndpoint.
    endpoint = clientFromString(MemoryReactorClock(), "tcp:host=example.org:port=80")
    assert type(endpoint) is TCP4ClientEndpoint


def test_quoteStringArgumentRoundTrips():
    awkward = r"/run/a:b\c=d.sock"
    quoted = quoteStringArgument(awkward)
    assert quoted == r"/run/a\:b\\c\=d.sock"
    assert parseDescription("unix:%s:mode=660" % (quoted,)) == (
        "unix",
        [awkward],
        {"mode": "660"},
    )


# -- GAIResolver ----------------------------------------------------------------------


class Receiver:
    def __init__(self):
        self.events = []

    def resolutionBegan(self, resolution):
        self.events.append(("began", resolution.name))

    def addressResolved(self, address):
        self.events.append(("address", address))

    def resolutionComplete(self):
        self.events.append(("complete",))


def test_gaiResolverLooksUpInAThreadAndAnswersInTheLoop(reactor):
    threads = []

    def getaddrinfo(host, port, family, socketType):
        threads.append(threading.get_ident())
        assert (host, port, family, socketType) == (
            "example.org",
            80,
            socket.AF_UNSPEC,
            socket.SOCK_STREAM,
        )
        return [
            (socket.AF_INET6, socket.SOCK_STREAM, 6, "", ("2001:db8::a", 80, 0, 0)),
            (socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.1", 80)),
        ]

    receiver = Receiver()
    resolver = GAIResolver(reactor, getaddrinfo=getaddrinfo)
    assert verifyObject(IHostnameResolver, resolver)
    resolution = resolver.resolveHostName(receiver, "example.org", 80)
    assert verifyObject(IHostResolution, resolution)
    assert receiver.events == [("began", "example.org")]
    spin(reactor, lambda: receiver.events[-1] == ("complete",), what="the answer")
    assert receiver.events[1:] == [("address", V6A), ("address", V4A), ("complete",)]
    assert threads and threads[0] != threading.get_ident()


def test_gaiResolverAnswersNothingForAnUnknownName(reactor):
    def getaddrinfo(*args):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    receiver = Receiver()
    GAIResolver(reactor, getaddrinfo=getaddrinfo).resolveHostName(receiver, "nowhere.invalid")
    spin(reactor, lambda: receiver.events[-1] == ("complete",), what="the answer")
    assert receiver.events == [("began", "nowhere.invalid"), ("complete",)]


def test_cancelledGaiResolutionIsNotDelivered(reactor):
    receiver, answers = Receiver(), []
    answer = [(socket.AF_INET, socket.SOCK_STREAM, 6, "", ("192.0.2.1", 80))]
    resolver = GAIResolver(reactor, getaddrinfo=lambda *args: answer)
    deliver = resolver._deliver
    resolver._deliver = lambda *args: (answers.append(args[0]), deliver(*args))
    resolver.resolveHostName(receiver, "example.org").cancel()
    spin(reactor, lambda: answers, what="the answer to come back")
    assert answers == [answer]
    assert receiver.events == [("began", "example.org")]


# -- real sockets -----------------------------------------------------------------------


needIPv6 = pytest.mark.skipif(not ipv6Available(), reason="no IPv6 loopback on this machine")


class Unanswering:
    """
    A ::1 port whose connects get no answer: it listens with a backlog of
    one, already filled by a connection nobody accepts, so the kernel drops
    later SYNs and a connect hangs until its timeout.
    """

    def __enter__(self):
        self.server = socket.socket(socket.AF_INET6)
        self.server.bind(("::1", 0))
        self.server.listen(0)
        self.port = self.server.getsockname()[1]
        self.filler = socket.create_connection(("::1", self.port), timeout=5)
        probe = socket.socket(socket.AF_INET6)
        probe.setblocking(False)
        try:
            probe.connect_ex(("::1", self.port))
            # The trick these tests rely on: the kernel must leave it hanging.
            answered = select.select([], [probe], [], 0.2)[1]
            assert not answered, "the full-backlog listener answered a connect"
        finally:
            probe.close()
        return self

    def __exit__(self, *exc):
        self.filler.close()
        self.server.close()


def listening(reactor, host):
    server = RecordingServerFactory()
    return server, reactor.listenTCP(0, server, interface=host)


@needIPv6
def test_anUnansweringFirstAddressCostsOnlyTheAttemptDelay(reactor):
    server, port = listening(reactor, "127.0.0.1")
    try:
        with Unanswering() as hanging:
            reactor.nameResolver = FakeResolver(
                [
                    IPv6Address("TCP", "::1", hanging.port),
                    IPv4Address("TCP", "127.0.0.1", port.getHost().port),
                ]
            )
            # Each attempt may take 30 s: tried one after the other, the
            # connect would take that long; raced, it takes attemptDelay.
            endpoint = HostnameEndpoint(reactor, "dual.test", 0, timeout=30, attemptDelay=0.2)
            started = time.monotonic()
            protocol = wait(reactor, connectProtocol(endpoint, Recorder()), timeout=10)
            elapsed = time.monotonic() - started
            assert elapsed >= 0.2  # the IPv4 attempt waited its turn
            assert protocol.transport.getPeer() == IPv4Address(
                "TCP", "127.0.0.1", port.getHost().port
            )
            assert protocol.events == ["made"]
            protocol.transport.loseConnection()
            spin(reactor, lambda: protocol.lost, what="close")
        spin(reactor, lambda: server.built and server.built[0].lost, what="server close")
        assert len(server.built) == 1
    finally:
        wait(reactor, port.stopListening())


@needIPv6
def test_bothFamiliesAnsweringGivesTheFirstAddress(reactor):
    server6, port6 = listening(reactor, "::1")
    server4, port4 = listening(reactor, "127.0.0.1")
    try:
        reactor.nameResolver = FakeResolver(
            [
                IPv6Address("TCP", "::1", port6.getHost().port),
                IPv4Address("TCP", "127.0.0.1", port4.getHost().port),
            ]
        )
        endpoint = HostnameEndpoint(reactor, "dual.test", 0, attemptDelay=5)
        protocol = wait(reactor, connectProtocol(endpoint, Recorder()))
        peer = protocol.transport.getPeer()
        assert (type(peer), peer.host, peer.port) == (IPv6Address, "::1", port6.getHost().port)
        protocol.transport.loseConnection()
        spin(reactor, lambda: protocol.lost, what="close")
        spin(reactor, lambda: server6.built and server6.built[0].lost, what="server close")
        assert server4.built == []
    finally:
        wait(reactor, port6.stopListening())
        wait(reactor, port4.stopListening())


@needIPv6
def test_everyAddressRefusingFailsWithTheLastRefusal(reactor):
    reactor.nameResolver = FakeResolver(
        [
            IPv6Address("TCP", "::1", freePort(socket.AF_INET6, host="::1")),
            IPv4Address("TCP", "127.0.0.1", freePort()),
        ]
    )
    endpoint = HostnameEndpoint(reactor, "dual.test", 0, attemptDelay=30)
    started = time.monotonic()
    with pytest.raises(ConnectionRefusedError):
        wait(reactor, endpoint.connect(RecordingServerFactory()), timeout=40)
    # The refusal started the next attempt at once, not after attemptDelay.
    assert time.monotonic() - started < 15


@needIPv6
def test_cancellingRealAttemptsLeavesNothingBehind(reactor):
    with Unanswering() as first, Unanswering() as second:
        reactor.nameResolver = FakeResolver(
            [IPv6Address("TCP", "::1", first.port), IPv6Address("TCP", "::1", second.port)]
        )
        endpoint = HostnameEndpoint(reactor, "hang.test", 0, attemptDelay=0.05)
        d = endpoint.connect(RecordingServerFactory())
        spin(reactor, lambda: len(reactor.getWriters()) == 2, what="two attempts under way")
        d.cancel()
        assert outcome(d)[0].check(ConnectingCancelledError)
        assert reactor.getWriters() == []
        assert [c for c in reactor.getDelayedCalls() if c.active()] == []


def test_theDefaultResolverFindsLocalhost(reactor):
    server, port = listening(reactor, "127.0.0.1")
    try:
        endpoint = HostnameEndpoint(reactor, "localhost", port.getHost().port)
        protocol = wait(reactor, connectProtocol(endpoint, Recorder()))
        assert protocol.transport.getPeer().host == "127.0.0.1"
        protocol.transport.loseConnection()
        spin(reactor, lambda: protocol.lost, what="close")
        spin(reactor, lambda: server.built and server.built[0].lost, what="server close")
    finally:
        wait(reactor, port.stopListening())
