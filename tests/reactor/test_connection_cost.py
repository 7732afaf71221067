"""
What a connection costs beyond its reads and writes (reactor.tcp, reactor.unix,
reactor.stream): accepting, serving and closing one asks the kernel for no
address and leaves nothing for the garbage collector, while getPeer() and
getHost() still answer in connectionLost.  On every reactor.

benchmarks/bench_echo.py (churn) and benchmarks/callgrind_echo.py measure the
cost itself; these tests pin the work that was taken out of it.
"""

import gc
import socket
import weakref

import pytest

from protocols.protocol import Factory, Protocol
from reactor import tcp
from reactor.address import IPv4Address, UNIXAddress
from tests.reactor.transport_helpers import spin


class AddressRecorder(Protocol):
    """Echoes; notes its transport's addresses from inside connectionLost."""

    def __init__(self):
        self.addresses = None

    def dataReceived(self, data):
        self.transport.write(data)

    def connectionLost(self, reason):
        self.addresses = (self.transport.getPeer(), self.transport.getHost())


class KeepingFactory(Factory):
    protocol = AddressRecorder

    def __init__(self):
        self.built = []

    def buildProtocol(self, addr):
        protocol = Factory.buildProtocol(self, addr)
        self.built.append(protocol)
        return protocol


@pytest.fixture
def kernelAsks(monkeypatch):
    """The names of the socket methods the connections ran on their descriptors."""
    asked = []
    real = tcp._withSocket

    def recording(fd, *args):
        asked.append(next(arg for arg in args if isinstance(arg, str)))
        return real(fd, *args)

    monkeypatch.setattr(tcp, "_withSocket", recording)
    return asked


def _serveOne(reactor, port, address, family):
    """Connect, echo one message, close from the client; return the server's protocol."""
    factory = port.factory
    client = socket.socket(family)
    client.settimeout(5)
    echoed = bytearray()

    def readEcho():
        try:
            echoed.extend(client.recv(16))
        except BlockingIOError:
            pass
        return echoed == b"ping"

    try:
        client.connect(address)  # the kernel completes it: the port is listening
        client.sendall(b"ping")
        client.setblocking(False)
        spin(reactor, readEcho, what="the echo")
        clientName = client.getsockname()
    finally:
        client.close()
    spin(reactor, lambda: factory.built and factory.built[-1].addresses, what="close")
    return factory.built[-1], clientName


def test_anAcceptedTCPConnectionAsksTheKernelNoAddress(reactor, kernelAsks):
    # The peer's address is the one buildProtocol was given, ours the
    # listening port's: before, each close made four system calls for them
    # (socket.socket(fileno=fd), twice) and built two address objects.
    port = reactor.listenTCP(0, KeepingFactory(), interface="127.0.0.1")
    try:
        listening = port.getHost()
        protocol, clientName = _serveOne(
            reactor, port, ("127.0.0.1", listening.port), socket.AF_INET
        )
        assert kernelAsks == []
        assert protocol.addresses == (
            IPv4Address("TCP", "127.0.0.1", clientName[1]),
            IPv4Address("TCP", "127.0.0.1", listening.port),
        )
    finally:
        port.stopListening()
        spin(reactor, lambda: port.socket is None, what="the port to close")


def test_onAWildcardPortOurAddressIsAskedOnce(reactor, kernelAsks):
    # Listening on 0.0.0.0, a connection's own address depends on the
    # interface it came in on: asked of the kernel once, as it closes.
    port = reactor.listenTCP(0, KeepingFactory(), interface="0.0.0.0")
    try:
        listening = port.getHost()
        protocol, clientName = _serveOne(
            reactor, port, ("127.0.0.1", listening.port), socket.AF_INET
        )
        assert kernelAsks == ["getsockname"]
        assert protocol.addresses == (
            IPv4Address("TCP", "127.0.0.1", clientName[1]),
            IPv4Address("TCP", "127.0.0.1", listening.port),
        )
    finally:
        port.stopListening()
        spin(reactor, lambda: port.socket is None, what="the port to close")


def test_anAcceptedUNIXConnectionAsksTheKernelNoAddress(reactor, kernelAsks, tmp_path):
    path = str(tmp_path / "cost.sock")
    port = reactor.listenUNIX(path, KeepingFactory())
    try:
        protocol, _ = _serveOne(reactor, port, path, socket.AF_UNIX)
        assert kernelAsks == []
        assert protocol.addresses == (UNIXAddress(None), UNIXAddress(path))
    finally:
        port.stopListening()
        spin(reactor, lambda: port.socket is None, what="the port to close")


class Forgetful(Factory):
    """Keeps weak references only to what it builds."""

    protocol = AddressRecorder

    def __init__(self):
        self.built = []

    def buildProtocol(self, addr):
        protocol = Factory.buildProtocol(self, addr)
        self.built.append(weakref.ref(protocol))
        return protocol


def test_aClosedConnectionIsFreedWithoutTheGarbageCollector(reactor):
    # The transport lets go of its protocol once it has told it, as
    # Twisted's do: no transport <-> protocol cycle is left for the cyclic
    # GC to find, whose passes cost a server that churns connections.
    factory = Forgetful()
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    transports = []
    gc.collect()
    gc.disable()
    try:
        client = socket.create_connection(("127.0.0.1", port.getHost().port), timeout=5)
        spin(reactor, lambda: factory.built, what="accept")
        transports.append(weakref.ref(factory.built[0]().transport))
        client.close()
        spin(reactor, lambda: factory.built[0]() is None, what="the protocol to be freed")
        assert transports[0]() is None
    finally:
        gc.enable()
        port.stopListening()
        spin(reactor, lambda: port.socket is None, what="the port to close")
