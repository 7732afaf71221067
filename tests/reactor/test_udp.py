"""
UDP conformance tests, on every reactor.
"""

import random
import socket

import pytest
from zope.interface.verify import verifyObject

from protocols.protocol import DatagramProtocol
from reactor.address import IPv4Address, IPv6Address
from reactor.error import CannotListenError, InvalidAddressError, MessageLengthError
from reactor.failure import Failure
from reactor.interfaces import IUDPTransport
from tests.reactor.transport_helpers import freePort, ipv6Available, spin, wait


class Recorder(DatagramProtocol):
    def __init__(self, echo=False):
        self.echo = echo
        self.datagrams = []
        self.refused = 0
        self.started = 0
        self.stopped = 0

    def startProtocol(self):
        self.started += 1

    def stopProtocol(self):
        self.stopped += 1

    def datagramReceived(self, datagram, addr):
        self.datagrams.append((datagram, addr))
        if self.echo:
            self.transport.write(datagram, addr)

    def connectionRefused(self):
        self.refused += 1


def test_udpRoundTrip(reactor):
    server, client = Recorder(echo=True), Recorder()
    serverPort = reactor.listenUDP(0, server, interface="127.0.0.1")
    clientPort = reactor.listenUDP(0, client, interface="127.0.0.1")
    try:
        host = serverPort.getHost()
        assert isinstance(host, IPv4Address) and host.type == "UDP" and host.port > 0
        for index in range(5):
            clientPort.write(b"datagram %d" % index, ("127.0.0.1", host.port))
        spin(reactor, lambda: len(client.datagrams) == 5, what="echoes")
        assert sorted(d for d, _ in client.datagrams) == [b"datagram %d" % i for i in range(5)]
        assert client.datagrams[0][1] == ("127.0.0.1", host.port)
        assert server.started == 1
    finally:
        wait(reactor, serverPort.stopListening())
        wait(reactor, clientPort.stopListening())
    assert server.stopped == 1 and client.stopped == 1


def test_connectedPortAndRefusal(reactor):
    probe = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    probe.bind(("127.0.0.1", 0))
    closedPort = probe.getsockname()[1]
    probe.close()
    client = Recorder()
    port = reactor.listenUDP(0, client, interface="127.0.0.1")
    try:
        port.connect("127.0.0.1", closedPort)
        with pytest.raises(ValueError):
            port.write(b"x", ("127.0.0.1", closedPort + 1))
        port.write(b"anyone there?")
        spin(reactor, lambda: client.refused, what="ICMP port unreachable")
        with pytest.raises(ValueError):
            port.connect("localhost", 1)
    finally:
        wait(reactor, port.stopListening())


def test_exceptionInDatagramReceivedKeepsServing(reactor):
    class Fragile(Recorder):
        def datagramReceived(self, datagram, addr):
            Recorder.datagramReceived(self, datagram, addr)
            if datagram == b"bad":
                raise RuntimeError("bad datagram")

    server = Fragile()
    port = reactor.listenUDP(0, server, interface="127.0.0.1")
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        sender.sendto(b"bad", ("127.0.0.1", port.getHost().port))
        sender.sendto(b"good", ("127.0.0.1", port.getHost().port))
        spin(reactor, lambda: len(server.datagrams) == 2, what="both datagrams")
    finally:
        sender.close()
        wait(reactor, port.stopListening())


def test_portInUseAndTooLong(reactor):
    port = reactor.listenUDP(0, Recorder(), interface="127.0.0.1")
    try:
        with pytest.raises(CannotListenError):
            reactor.listenUDP(port.getHost().port, Recorder(), interface="127.0.0.1")
        with pytest.raises(MessageLengthError):
            port.write(b"x" * 70000, ("127.0.0.1", port.getHost().port))
    finally:
        wait(reactor, port.stopListening())


def test_multicastJoinAndLeave(reactor):
    receiver = Recorder()
    port = reactor.listenMulticast(0, receiver, listenMultiple=True)
    try:
        port.setLoopbackMode(True)
        assert port.getLoopbackMode() is True
        port.setTTL(1)
        assert port.getTTL() == 1
        joined = []
        port.joinGroup("239.255.42.99").addBoth(joined.append)
        if joined and hasattr(joined[0], "trap"):
            pytest.skip("no multicast route on this machine: %s" % joined[0].getErrorMessage())
        port.write(b"to the group", ("239.255.42.99", port.getHost().port))
        spin(reactor, lambda: receiver.datagrams, timeout=5, what="multicast datagram")
        assert receiver.datagrams[0][0] == b"to the group"
        left = []
        port.leaveGroup("239.255.42.99").addBoth(left.append)
        assert left == [None]
    finally:
        wait(reactor, port.stopListening())


@pytest.mark.skipif(not ipv6Available(), reason="::1 is not available on this machine")
def test_udpRoundTripOverIPv6(reactor):
    server, client = Recorder(echo=True), Recorder()
    serverPort = reactor.listenUDP(0, server, interface="::1")
    clientPort = reactor.listenUDP(0, client, interface="::1")
    try:
        host = serverPort.getHost()
        assert host == IPv6Address("UDP", "::1", host.port)
        clientPort.write(b"over six", ("::1", host.port))
        spin(reactor, lambda: client.datagrams, what="echo")
        datagram, addr = client.datagrams[0]
        assert datagram == b"over six"
        assert addr == ("::1", host.port)  # (host, port), as in Twisted
        assert server.datagrams[0][1] == ("::1", clientPort.getHost().port)
    finally:
        wait(reactor, serverPort.stopListening())
        wait(reactor, clientPort.stopListening())


@pytest.mark.skipif(not ipv6Available(), reason="::1 is not available on this machine")
def test_connectedPortAndRefusalOverIPv6(reactor):
    closedPort = freePort(socket.AF_INET6, socket.SOCK_DGRAM, "::1")
    client = Recorder()
    port = reactor.listenUDP(0, client, interface="::1")
    try:
        port.connect("::1", closedPort)
        port.write(b"anyone there?")
        spin(reactor, lambda: client.refused, what="ICMPv6 port unreachable")
        assert client.datagrams == []
    finally:
        wait(reactor, port.stopListening())


def test_maxPacketSizeTruncatesLongerDatagrams(reactor):
    server = Recorder()
    port = reactor.listenUDP(0, server, interface="127.0.0.1", maxPacketSize=100)
    sender = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    try:
        address = ("127.0.0.1", port.getHost().port)
        sender.sendto(bytes(range(250)), address)
        sender.sendto(b"short", address)
        spin(reactor, lambda: len(server.datagrams) == 2, what="two datagrams")
        assert [datagram for datagram, _ in server.datagrams] == [bytes(range(100)), b"short"]
    finally:
        sender.close()
        wait(reactor, port.stopListening())


def _privateGroup():
    # A group of our own: while any socket on this machine (another test
    # run) is a member of a group, the kernel delivers that group's
    # datagrams for our port to us even after we left (IP_MULTICAST_ALL).
    return "239.255.%d.%d" % (random.randrange(256), random.randrange(1, 255))


def test_multicastLeaveGroupStopsDelivery(reactor):
    group = _privateGroup()
    receiver = Recorder()
    port = reactor.listenMulticast(0, receiver, listenMultiple=True)
    try:
        address = (group, port.getHost().port)
        port.setLoopbackMode(True)
        joined = []
        port.joinGroup(group, interface="127.0.0.1").addBoth(joined.append)
        if isinstance(joined[0], Failure):
            pytest.skip("no multicast on the loopback interface: %s" % joined[0].getErrorMessage())
        try:
            port.setOutgoingInterface("127.0.0.1")
            port.write(b"member", address)
        except OSError as error:
            pytest.skip("cannot send multicast through the loopback interface: %s" % (error,))
        spin(reactor, lambda: receiver.datagrams, timeout=5, what="multicast datagram")
        left = []
        port.leaveGroup(group, interface="127.0.0.1").addBoth(left.append)
        assert left == [None]
        port.write(b"left", address)
        # Sent after it from the same socket: once the marker is in, the
        # group datagram would have been too.
        port.write(b"marker", ("127.0.0.1", port.getHost().port))
        spin(reactor, lambda: receiver.datagrams[-1][0] == b"marker", timeout=5, what="marker")
        assert [datagram for datagram, _ in receiver.datagrams] == [b"member", b"marker"]
    finally:
        wait(reactor, port.stopListening())


def test_invalidAddressErrorIsAValueErrorThatNamesTheAddress():
    error = InvalidAddressError("example.org", "not an IPv4 or IPv6 address")
    assert isinstance(error, ValueError)
    assert (error.address, error.message) == ("example.org", "not an IPv4 or IPv6 address")
    assert str(error) == "'example.org': not an IPv4 or IPv6 address"


def test_hostNamesAreRefusedWithInvalidAddressError(reactor, monkeypatch):
    # sendto() with a name would resolve it inside the loop, blocking it.
    port = reactor.listenUDP(0, Recorder(), interface="127.0.0.1")
    try:
        lookups = []
        monkeypatch.setattr(socket, "getaddrinfo", lambda *args: lookups.append(args))
        with pytest.raises(InvalidAddressError) as info:
            port.write(b"x", ("localhost", 9))
        assert info.value.address == "localhost" and lookups == []
        with pytest.raises(InvalidAddressError):
            port.connect("localhost", 9)
    finally:
        wait(reactor, port.stopListening())


def test_addressOfTheOtherFamilyIsRefused(reactor):
    port = reactor.listenUDP(0, Recorder(), interface="127.0.0.1")
    try:
        port.write(b"x", ("127.0.0.1", freePort(kind=socket.SOCK_DGRAM)))
        with pytest.raises(InvalidAddressError, match="IPv4"):
            port.write(b"x", ("::1", 9))
    finally:
        wait(reactor, port.stopListening())


def test_thePortProvidesIUDPTransportWithBroadcast(reactor):
    # The interface names the broadcast switch the port has (Twisted's does).
    assert {"setBroadcastAllowed", "getBroadcastAllowed"} <= set(IUDPTransport.names())
    port = reactor.listenUDP(0, Recorder(), interface="127.0.0.1")
    try:
        assert verifyObject(IUDPTransport, port)
        port.setBroadcastAllowed(True)
        assert port.getBroadcastAllowed() is True
        port.setBroadcastAllowed(False)
        assert port.getBroadcastAllowed() is False
    finally:
        wait(reactor, port.stopListening())
