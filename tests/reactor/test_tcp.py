"""
TCP conformance tests, run on every reactor through the `reactor` fixture.
"""

import os
import resource
import select
import socket
import sys
import threading
import time

import pytest

from reactor import log, stream
from reactor.address import IPv4Address, IPv6Address
from reactor.error import (
    CannotListenError,
    ConnectionAborted,
    ConnectionDone,
    ConnectionLost,
    ConnectionRefusedError,
    DNSLookupError,
    TimeoutError,
    UnknownHostError,
    UserError,
)
from tests.reactor.transport_helpers import (
    EchoRecorder,
    HoldingRecorder,
    Recorder,
    RecordingClientFactory,
    RecordingServerFactory,
    freePort,
    ipv6Available,
    spin,
    wait,
)


@pytest.fixture
def net(reactor):
    """Track ports and connections, and close them all after the test."""

    class Net:
        def __init__(self):
            self.ports = []
            self.connectors = []

        def listen(self, factory, **kw):
            kw.setdefault("interface", "127.0.0.1")
            port = reactor.listenTCP(0, factory, **kw)
            self.ports.append(port)
            return port

        def connect(self, port, factory, host="127.0.0.1", **kw):
            connector = reactor.connectTCP(host, port.getHost().port, factory, **kw)
            self.connectors.append(connector)
            return connector

    net = Net()
    yield net
    for connector in net.connectors:
        if connector.state == "connecting":
            connector.stopConnecting()
        elif connector.state == "connected":
            connector.transport.abortConnection()
    for port in net.ports:
        wait(reactor, port.stopListening())
    spin(reactor, lambda: not reactor.getWriters() and not _userReaders(reactor), 5, "cleanup")
    # Connections made, served and closed every way never leave the epoll
    # set out of step with the reactor's tables (reactor.epollreactor).
    assert getattr(reactor, "interestSetRebuilds", 0) == 0


def _userReaders(reactor):
    return [r for r in reactor.getReaders() if not type(r).__name__.startswith("_")]


@pytest.fixture
def errors():
    """Collect logged errors during the test."""
    collected = []

    def observer(event):
        if event.get("isError"):
            collected.append(event)

    log.addObserver(observer)
    yield collected
    log.removeObserver(observer)


def test_listenOnPortZeroGivesEphemeralPort(reactor, net):
    port = net.listen(RecordingServerFactory())
    host = port.getHost()
    assert isinstance(host, IPv4Address)
    assert host.type == "TCP" and host.host == "127.0.0.1" and host.port > 0


def test_portInUseRaisesCannotListenNamingAddress(reactor, net):
    port = net.listen(RecordingServerFactory())
    with pytest.raises(CannotListenError) as info:
        reactor.listenTCP(port.getHost().port, RecordingServerFactory(), interface="127.0.0.1")
    assert "127.0.0.1:%d" % port.getHost().port in str(info.value)
    assert "address already in use" in str(info.value)


def test_echoRoundTrip(reactor, net):
    server = RecordingServerFactory(EchoRecorder)
    port = net.listen(server)
    client = RecordingClientFactory()
    net.connect(port, client)
    spin(reactor, lambda: client.built and "made" in client.built[0].events, what="connect")
    client.built[0].transport.write(b"hello, ")
    client.built[0].transport.writeSequence([b"wor", b"ld"])
    spin(reactor, lambda: bytes(client.built[0].received) == b"hello, world", what="echo")
    server_protocol = server.built[0]
    assert server_protocol.peerAddress == client.built[0].transport.getHost()
    assert server_protocol.transport.getPeer() == client.built[0].transport.getHost()
    assert client.built[0].transport.getPeer() == port.getHost()


def _connectedPair(reactor, net, clientProtocol=HoldingRecorder):
    server = RecordingServerFactory()
    port = net.listen(server)
    client = RecordingClientFactory(clientProtocol)
    net.connect(port, client)
    spin(reactor, lambda: server.built and client.built, what="connect")
    return client.built[0], server.built[0]


def test_writeGoesOutAtOnce(reactor, net):
    # Nothing buffered: write() hands the bytes to the kernel immediately and
    # never registers the transport for writability.
    client, server = _connectedPair(reactor, net, Recorder)
    transport = client.transport
    transport.write(b"x" * 1000)
    assert transport.getBufferSize() == 0
    assert transport not in reactor.getWriters()
    spin(reactor, lambda: len(server.received) == 1000, what="data")


def test_writeGoesOutAtTheEndOfTheTurn(reactor, net):
    # A protocol's holdWrites: write() holds the bytes until the end of the
    # turn, when they go to the kernel; the transport is never registered
    # for writability.
    client, server = _connectedPair(reactor, net)
    transport = client.transport
    transport.write(b"x" * 1000)
    assert transport.getBufferSize() == 1000
    assert transport not in reactor.getWriters()
    reactor.iterate(0)
    assert transport.getBufferSize() == 0
    assert transport not in reactor.getWriters()
    spin(reactor, lambda: len(server.received) == 1000, what="data")


def test_writesOfOneTurnLeaveInOneSystemCall(reactor, net, monkeypatch):
    client, server = _connectedPair(reactor, net)
    calls = []

    def counting(real):
        def send(fd, data):
            calls.append(data)
            return real(fd, data)

        return send

    monkeypatch.setattr(stream, "_write", counting(stream._write))
    monkeypatch.setattr(stream, "_writev", counting(stream._writev))
    for piece in (b"one ", b"two ", b"three"):
        client.transport.write(piece)
    assert calls == []
    reactor.iterate(0)
    assert calls == [[b"one ", b"two ", b"three"]]
    spin(reactor, lambda: bytes(server.received) == b"one two three", what="data")


def test_largeWriteGoesOutAtOnce(reactor, net):
    # Past 64 KiB there is nothing to gain by waiting: the kernel takes what
    # it can at once.
    client, server = _connectedPair(reactor, net)
    transport = client.transport
    payload = os.urandom(stream._HOLD_MAX + 1)
    transport.write(payload)
    assert transport.getBufferSize() < len(payload)
    spin(reactor, lambda: bytes(server.received) == payload, what="data")


def test_heldWritesKeepTheirOrderWithLargeOnes(reactor, net):
    client, server = _connectedPair(reactor, net)
    large = os.urandom(stream._HOLD_MAX * 2)
    client.transport.write(b"first")
    client.transport.write(large)
    client.transport.write(b"last")
    spin(reactor, lambda: len(server.received) == len(large) + 9, what="data")
    assert bytes(server.received) == b"first" + large + b"last"


def test_writeThenLoseConnectionSendsAtOnce(reactor, net):
    # A close sends what was held first, as the peer may close in the same
    # turn: the bytes must not find its socket gone.
    client, server = _connectedPair(reactor, net)
    client.transport.write(b"goodbye")
    client.transport.loseConnection()
    assert client.transport.getBufferSize() == 0
    spin(reactor, lambda: server.lost and client.lost, what="close")
    assert bytes(server.received) == b"goodbye"
    assert client.lost[0].check(ConnectionDone)


def test_writeThenAbortConnectionOffersTheBytes(reactor, net):
    client, server = _connectedPair(reactor, net)
    client.transport.write(b"last words")
    client.transport.abortConnection()
    spin(reactor, lambda: server.lost and client.lost, what="abort")
    assert bytes(server.received) == b"last words"


class _WriteThenStop(HoldingRecorder):
    """Writes when connected; stops the reactor once its echo is back."""

    def connectionMade(self):
        Recorder.connectionMade(self)
        self.transport.write(b"ping")

    def dataReceived(self, data):
        Recorder.dataReceived(self, data)
        if bytes(self.received) == b"ping":
            self.transport.reactor.stop()


def test_heldWritesGoOutWhileTheReactorRuns(reactor, net):
    # reactor.run()'s loop sends what each turn held (on the asyncio
    # reactor, a callback the loop runs once it has run what is ready).
    server = RecordingServerFactory(EchoRecorder)
    port = net.listen(server)
    client = RecordingClientFactory(_WriteThenStop)
    net.connect(port, client)
    guard = reactor.callLater(10, reactor.stop)
    reactor.run(installSignalHandlers=False)
    assert guard.active(), "the echo never came"
    guard.cancel()
    assert bytes(client.built[0].received) == b"ping"


def test_writeStrRaisesTypeError(reactor, net):
    port = net.listen(RecordingServerFactory())
    client = RecordingClientFactory()
    net.connect(port, client)
    spin(reactor, lambda: client.built, what="connect")
    with pytest.raises(TypeError):
        client.built[0].transport.write("text")


def test_loseConnectionFlushesThenClosesBothSides(reactor, net):
    server = RecordingServerFactory()
    port = net.listen(server)
    client = RecordingClientFactory()
    net.connect(port, client)
    spin(reactor, lambda: client.built and server.built, what="connect")
    payload = os.urandom(3 * 1024 * 1024)
    client.built[0].transport.write(payload)
    client.built[0].transport.loseConnection()
    spin(reactor, lambda: server.built[0].lost and client.built[0].lost, what="close")
    # Addresses are still known once closed (connectionLost handlers log them).
    assert server.built[0].transport.getPeer() == client.built[0].transport.getHost()
    assert bytes(server.built[0].received) == payload
    assert server.built[0].lost[0].check(ConnectionDone)
    assert client.built[0].lost[0].check(ConnectionDone)
    assert client.lostReasons and client.lostReasons[0].check(ConnectionDone)
    assert server.built[0].events == ["made", "lost"]


def test_cleanCloseReasonReadsAsASentence(reactor, net):
    # What connectionLost gets when the peer closes cleanly, and what
    # programs print: one sentence, not "...cleanly: Connection done."
    server = RecordingServerFactory()
    port = net.listen(server)
    client = RecordingClientFactory()
    net.connect(port, client)
    spin(reactor, lambda: client.built and server.built, what="connect")
    client.built[0].transport.loseConnection()
    spin(reactor, lambda: server.built[0].lost and client.built[0].lost, what="close")
    for reason in (server.built[0].lost[0], client.built[0].lost[0]):
        assert reason.getErrorMessage() == "Connection was closed cleanly."


def test_abortDropsUnsentDataAndResetsPeer(reactor, net):
    server = RecordingServerFactory()
    port = net.listen(server)
    client = RecordingClientFactory()
    net.connect(port, client)
    spin(reactor, lambda: client.built and server.built, what="connect")
    server.built[0].transport.pauseProducing()  # the server stops reading
    transport = client.built[0].transport
    transport.write(b"z" * (8 * 1024 * 1024))
    assert transport.getBufferSize() > 0
    transport.abortConnection()
    transport.abortConnection()  # a second abort is harmless
    spin(reactor, lambda: client.built[0].lost, what="local connectionLost")
    assert client.built[0].lost[0].check(ConnectionAborted)
    server.built[0].transport.resumeProducing()
    spin(reactor, lambda: server.built[0].lost, what="peer reset")
    assert server.built[0].lost[0].check(ConnectionLost)
    assert len(server.built[0].received) < 8 * 1024 * 1024
    assert client.built[0].events == ["made", "lost"]


def test_halfClose(reactor, net):
    from zope.interface import implementer

    from reactor.interfaces import IHalfCloseableProtocol

    @implementer(IHalfCloseableProtocol)
    class HalfCloser(Recorder):
        def readConnectionLost(self):
            self.events.append("readLost")
            self.transport.write(b"bye")
            self.transport.loseConnection()

        def writeConnectionLost(self):
            self.events.append("writeLost")

    server = RecordingServerFactory(HalfCloser)
    port = net.listen(server)
    client = RecordingClientFactory(HalfCloser)
    net.connect(port, client)
    spin(reactor, lambda: client.built and server.built, what="connect")
    client.built[0].transport.write(b"request")
    client.built[0].transport.loseWriteConnection()
    spin(reactor, lambda: server.built[0].lost and client.built[0].lost, what="half close")
    assert bytes(server.built[0].received) == b"request"
    assert bytes(client.built[0].received) == b"bye"
    assert server.built[0].events == ["made", "readLost", "lost"]
    assert client.built[0].events == ["made", "writeLost", "lost"]


def test_connectionRefused(reactor, net):
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    free = probe.getsockname()[1]
    probe.close()
    client = RecordingClientFactory()
    connector = reactor.connectTCP("127.0.0.1", free, client, timeout=5)
    spin(reactor, lambda: client.failed, what="refusal")
    assert client.failed[0].check(ConnectionRefusedError)
    assert connector.state == "disconnected"
    assert client.built == []


def test_connectTimeoutAgainstFullBacklog(reactor, net):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = []
    try:
        # Fill the accept queue so that further SYNs are dropped.
        for _ in range(8):
            filler = socket.socket()
            filler.setblocking(False)
            filler.connect_ex(listener.getsockname())
            fillers.append(filler)
        client = RecordingClientFactory()
        reactor.connectTCP("127.0.0.1", listener.getsockname()[1], client, timeout=0.3)
        spin(reactor, lambda: client.failed, timeout=10, what="timeout")
        assert client.failed[0].check(TimeoutError)
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_stopConnectingReportsUserError(reactor, net):
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    fillers = [socket.socket() for _ in range(8)]
    try:
        for filler in fillers:
            filler.setblocking(False)
            filler.connect_ex(listener.getsockname())
        client = RecordingClientFactory()
        connector = reactor.connectTCP("127.0.0.1", listener.getsockname()[1], client)
        reactor.iterate(0)
        connector.stopConnecting()
        assert client.failed[0].check(UserError)
        assert connector.state == "disconnected"
    finally:
        for filler in fillers:
            filler.close()
        listener.close()


def test_connectorReconnects(reactor, net):
    server = RecordingServerFactory()
    port = net.listen(server)
    client = RecordingClientFactory()
    connector = net.connect(port, client)
    spin(reactor, lambda: server.built, what="first connect")
    assert connector.getDestination() == IPv4Address("TCP", "127.0.0.1", port.getHost().port)
    connector.disconnect()
    spin(reactor, lambda: client.lostReasons, what="disconnect")
    connector.connect()
    spin(reactor, lambda: len(server.built) == 2, what="second connect")
    assert connector.state == "connected"


def test_hostNameResolvedInThreadPool(reactor, net):
    server = RecordingServerFactory()
    port = net.listen(server)
    client = RecordingClientFactory()
    reactor.connectTCP("localhost", port.getHost().port, client, timeout=5)
    spin(reactor, lambda: client.built or client.failed, what="resolution")
    if client.failed and not server.built:
        # "localhost" may resolve to ::1 first, where nothing listens.
        assert client.failed[0].check(ConnectionRefusedError)
    else:
        spin(reactor, lambda: server.built, what="accept")
        client.built[0].transport.loseConnection()
        spin(reactor, lambda: client.lostReasons, what="close")
    # The resolving worker hands its answer over just before it goes idle.
    spin(reactor, lambda: not reactor.getThreadPool().working, what="idle thread pool")


def test_hostNameResolvedOffTheReactorThread(reactor, net, monkeypatch):
    # getaddrinfo can block for seconds: it must run in the thread pool.
    # The stand-in answers "localhost" with 127.0.0.1, where the server is.
    realGetaddrinfo = socket.getaddrinfo
    lookups = []

    def recordingGetaddrinfo(host, port, *args):
        lookups.append((host, threading.current_thread()))
        return realGetaddrinfo("127.0.0.1" if host == "localhost" else host, port, *args)

    monkeypatch.setattr(socket, "getaddrinfo", recordingGetaddrinfo)
    server = RecordingServerFactory()
    port = net.listen(server)
    client = RecordingClientFactory()
    net.connect(port, client, host="localhost", timeout=5)
    spin(reactor, lambda: client.built or client.failed, what="connect")
    assert client.failed == []
    spin(reactor, lambda: server.built, what="accept")
    assert [host for host, _ in lookups] == ["localhost"]
    assert lookups[0][1] is not threading.current_thread()
    spin(reactor, lambda: not reactor.getThreadPool().working, what="idle thread pool")


def test_unknownHostFailsWithDNSLookupError(reactor, monkeypatch):
    # The resolver's answer for a name that does not exist, without asking DNS.
    def noSuchHost(host, port, *args):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", noSuchHost)
    client = RecordingClientFactory()
    connector = reactor.connectTCP("no-such-host.invalid", 80, client, timeout=5)
    spin(reactor, lambda: client.failed, what="failure")
    # Twisted's error; still an UnknownHostError, which Loom reported before.
    assert client.failed[0].check(DNSLookupError)
    assert client.failed[0].check(UnknownHostError)
    assert client.failed[0].getErrorMessage() == (
        "DNS lookup failed: no-such-host.invalid: [Errno %d] Name or service not known."
        % (socket.EAI_NONAME,)
    )
    assert connector.state == "disconnected"
    assert client.built == []
    spin(reactor, lambda: not reactor.getThreadPool().working, what="idle thread pool")


def test_exceptionInDataReceivedDropsOnlyThatConnection(reactor, net, errors):
    class Exploding(Recorder):
        def dataReceived(self, data):
            Recorder.dataReceived(self, data)
            if b"boom" in data:
                raise RuntimeError("boom")

    server = RecordingServerFactory(Exploding)
    port = net.listen(server)
    clients = [RecordingClientFactory(), RecordingClientFactory()]
    for client in clients:
        net.connect(port, client)
    spin(reactor, lambda: len(server.built) == 2 and all(c.built for c in clients), what="connect")
    clients[0].built[0].transport.write(b"boom")
    spin(reactor, lambda: clients[0].lostReasons, what="drop")
    clients[1].built[0].transport.write(b"still fine")
    exploded = [p for p in server.built if b"boom" in p.received][0]
    other = [p for p in server.built if p is not exploded][0]
    spin(reactor, lambda: bytes(other.received) == b"still fine", what="other connection")
    assert exploded.events == ["made", "lost"]
    assert exploded.lost[0].check(RuntimeError)
    assert other.lost == []
    assert any("boom" in log.textFromEventDict(e) for e in errors)


def test_exceptionInConnectionMadeDropsConnection(reactor, net, errors):
    class BadStart(Recorder):
        def connectionMade(self):
            Recorder.connectionMade(self)
            raise ValueError("bad start")

    server = RecordingServerFactory(BadStart)
    port = net.listen(server)
    client = RecordingClientFactory()
    net.connect(port, client)
    spin(reactor, lambda: client.lostReasons, what="drop")
    assert server.built[0].events == ["made", "lost"]
    assert any("bad start" in log.textFromEventDict(e) for e in errors)


def test_factoryStartedAndStoppedWithPort(reactor, net):
    server = RecordingServerFactory()
    calls = []
    server.startFactory = lambda: calls.append("start")
    server.stopFactory = lambda: calls.append("stop")
    port = reactor.listenTCP(0, server, interface="127.0.0.1")
    assert calls == ["start"]
    wait(reactor, port.stopListening())
    assert calls == ["start", "stop"]
    # The port is released: the same port can be bound again.
    again = reactor.listenTCP(port.getHost().port, server, interface="127.0.0.1")
    wait(reactor, again.stopListening())


def test_pushProducerBackpressureKeepsBufferBounded(reactor, net):
    total = 64 * 1024 * 1024
    chunk = b"p" * 16384

    class Producer:
        def __init__(self, transport):
            self.transport = transport
            self.sent = 0
            self.paused = False
            self.peak = 0

        def resumeProducing(self):
            self.paused = False
            while not self.paused and self.sent < total:
                self.transport.write(chunk)
                self.sent += len(chunk)
                self.peak = max(self.peak, self.transport.getBufferSize())
            if self.sent >= total:
                self.transport.unregisterProducer()
                self.transport.loseConnection()

        def pauseProducing(self):
            self.paused = True

        def stopProducing(self):
            self.paused = True

    class SlowReader(Recorder):
        count = 0

        def dataReceived(self, data):
            self.count += len(data)
            # Read slowly: pause after every chunk, resume a moment later.
            self.transport.pauseProducing()
            self.factory.reactorForTest.callLater(0, self.transport.resumeProducing)

        def connectionLost(self, reason):
            Recorder.connectionLost(self, reason)

    server = RecordingServerFactory(SlowReader)
    server.reactorForTest = reactor
    port = net.listen(server)
    client = RecordingClientFactory()
    net.connect(port, client)
    spin(reactor, lambda: client.built, what="connect")
    transport = client.built[0].transport
    producer = Producer(transport)
    transport.registerProducer(producer, True)
    producer.resumeProducing()
    spin(reactor, lambda: server.built and server.built[0].lost, timeout=120, what="64 MiB")
    assert server.built[0].count == total
    assert producer.peak <= 2 * transport.highWater


def test_thousandConcurrentConnections(reactor, net):
    if type(reactor).__name__ == "SelectReactor":
        pytest.skip("select() cannot watch descriptors above FD_SETSIZE (1024)")
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY and hard < 2500:
        pytest.skip("RLIMIT_NOFILE hard limit %d is too low for 2,000 sockets" % hard)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, 4096), hard))
    try:
        server = RecordingServerFactory(EchoRecorder)
        port = net.listen(server, backlog=1024)
        clients = []
        for _ in range(1000):
            client = RecordingClientFactory()
            clients.append(client)
            net.connect(port, client)
        spin(reactor, lambda: all(c.built for c in clients), timeout=60, what="1000 connects")
        for index, client in enumerate(clients):
            client.built[0].transport.write(b"%d;" % index)
        spin(
            reactor,
            lambda: all(bytes(c.built[0].received) == b"%d;" % i for i, c in enumerate(clients)),
            timeout=60,
            what="1000 echoes",
        )
        assert len(server.built) == 1000
        for client in clients:
            client.built[0].transport.loseConnection()
        spin(reactor, lambda: all(p.lost for p in server.built), timeout=60, what="1000 closes")
    finally:
        resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))


@pytest.mark.skipif(not ipv6Available(), reason="::1 is not available on this machine")
def test_ipv6Loopback(reactor, net):
    server = RecordingServerFactory(EchoRecorder)
    port = net.listen(server, interface="::1")
    assert isinstance(port.getHost(), IPv6Address)
    client = RecordingClientFactory()
    net.connect(port, client, host="::1")
    spin(reactor, lambda: client.built, what="connect")
    client.built[0].transport.write(b"six")
    spin(reactor, lambda: bytes(client.built[0].received) == b"six", what="echo")
    assert isinstance(client.built[0].transport.getPeer(), IPv6Address)
    assert client.built[0].transport.getPeer().host == "::1"


@pytest.mark.skipif(not ipv6Available(), reason="::1 is not available on this machine")
def test_listenOnIPv6AnyAcceptsIPv6(reactor, net):
    server = RecordingServerFactory()
    port = net.listen(server, interface="::")
    portNumber = port.getHost().port
    assert port.getHost() == IPv6Address("TCP", "::", portNumber)
    client = RecordingClientFactory()
    connector = net.connect(port, client, host="::1")
    assert connector.getDestination() == IPv6Address("TCP", "::1", portNumber)
    spin(reactor, lambda: client.built and server.built, what="connect")
    peer = server.built[0].transport.getPeer()
    assert isinstance(peer, IPv6Address) and peer.host == "::1"
    assert peer == client.built[0].transport.getHost()


def _systemIsDualStack():
    probe = socket.socket(socket.AF_INET6)
    try:
        return not probe.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY)
    finally:
        probe.close()


@pytest.mark.skipif(not ipv6Available(), reason="::1 is not available on this machine")
def test_listenOnIPv6AnyAcceptsMappedIPv4WhereDualStack(reactor, net):
    # Like Twisted, Loom leaves IPV6_V6ONLY at the system's default.
    if not _systemIsDualStack():
        pytest.skip("this system makes IPv6 sockets IPv6-only (net.ipv6.bindv6only)")
    server = RecordingServerFactory()
    port = net.listen(server, interface="::")
    client = RecordingClientFactory()
    net.connect(port, client, host="127.0.0.1")
    spin(reactor, lambda: client.built or client.failed, what="connect")
    assert client.failed == []
    spin(reactor, lambda: server.built, what="accept")
    peer = server.built[0].transport.getPeer()
    assert isinstance(peer, IPv6Address) and peer.host == "::ffff:127.0.0.1"
    assert peer.port == client.built[0].transport.getHost().port


def test_connectFromBindAddress(reactor, net):
    server = RecordingServerFactory()
    port = net.listen(server)
    local = IPv4Address("TCP", "127.0.0.1", freePort())
    client = RecordingClientFactory()
    net.connect(port, client, bindAddress=(local.host, local.port), timeout=5)
    spin(reactor, lambda: client.built and server.built, what="connect")
    assert client.built[0].transport.getHost() == local
    assert server.built[0].transport.getPeer() == local


def test_acceptLoopTakesSeveralConnectionsPerWakeup(reactor, net):
    server = RecordingServerFactory()
    port = net.listen(server)
    accepted = []
    doRead = port.doRead

    def countingDoRead():
        before = len(server.built)
        try:
            return doRead()
        finally:
            accepted.append(len(server.built) - before)

    port.doRead = countingDoRead
    # Blocking connects complete in the kernel, so all five wait in the
    # accept queue before the reactor first sees the port readable.
    clients = [
        socket.create_connection(("127.0.0.1", port.getHost().port), timeout=5) for _ in range(5)
    ]
    try:
        spin(reactor, lambda: sum(accepted) == 5, what="five accepts")
        assert accepted[0] > 1, accepted
    finally:
        for sock in clients:
            sock.close()
    spin(reactor, lambda: all(protocol.lost for protocol in server.built), what="closes")


def _queueOf(port, count):
    # Wait (bounded) until count connections, connected already, are in
    # the port's accept queue: the kernel may finish a loopback handshake
    # just after connect() returns.
    deadline = time.monotonic() + 5
    while port.queuedConnections() != count:
        assert time.monotonic() < deadline, port.queuedConnections()
        select.select([port.socket], [], [], 0.01)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="Linux's tcp_info")
@pytest.mark.timeout(30)
def test_acceptTakesWhatIsQueuedWithoutAFailingAccept(reactor, net):
    # The port asks the kernel how many connections wait and accepts that
    # many, without the accept() that would find the queue empty.
    server = RecordingServerFactory()
    port = net.listen(server)
    assert port.queuedConnections() == 0
    calls = []
    accept = port._accept

    def recordingAccept():
        try:
            accepted = accept()
        except BlockingIOError:
            calls.append("empty")
            raise
        calls.append("accepted")
        return accepted

    port._accept = recordingAccept
    clients = [
        socket.create_connection(("127.0.0.1", port.getHost().port), timeout=5) for _ in range(3)
    ]
    try:
        _queueOf(port, 3)
        port.doRead()
        assert calls == ["accepted"] * 3
        assert len(server.built) == 3 and port.queuedConnections() == 0
    finally:
        for sock in clients:
            sock.close()
    spin(reactor, lambda: all(protocol.lost for protocol in server.built), what="closes")


@pytest.mark.timeout(30)
def test_acceptWithoutAQueueLengthTakesUntilTheQueueIsEmpty(reactor, net, monkeypatch):
    # Where the kernel does not say (not Linux): accept() until it finds none.
    server = RecordingServerFactory()
    port = net.listen(server)
    monkeypatch.setattr(port, "queuedConnections", lambda: None)
    clients = [
        socket.create_connection(("127.0.0.1", port.getHost().port), timeout=5) for _ in range(3)
    ]
    try:
        select.select([port.socket], [], [], 5)
        spin(reactor, lambda: len(server.built) == 3, what="three accepts")
    finally:
        for sock in clients:
            sock.close()
    spin(reactor, lambda: all(protocol.lost for protocol in server.built), what="closes")


def test_tcpOptions(reactor, net):
    port = net.listen(RecordingServerFactory())
    client = RecordingClientFactory()
    net.connect(port, client)
    spin(reactor, lambda: client.built, what="connect")
    transport = client.built[0].transport
    transport.setTcpNoDelay(True)
    assert transport.getTcpNoDelay() is True
    transport.setTcpNoDelay(False)
    assert transport.getTcpNoDelay() is False
    transport.setTcpKeepAlive(True)
    assert transport.getTcpKeepAlive() is True
    if hasattr(socket, "TCP_NOTSENT_LOWAT"):
        transport.setTcpNotSentLowat(128 * 1024)
        assert transport.getTcpNotSentLowat() == 128 * 1024
    else:
        with pytest.raises(OSError):
            transport.setTcpNotSentLowat(128 * 1024)


def test_pullProducerIsPulledUntilDone(reactor, net):
    server = RecordingServerFactory()
    port = net.listen(server)
    client = RecordingClientFactory()
    net.connect(port, client)
    spin(reactor, lambda: client.built and server.built, what="connect")
    transport = client.built[0].transport

    class Pull:
        pulls = 0

        def resumeProducing(self):
            self.pulls += 1
            transport.write(b"%05d" % self.pulls)
            if self.pulls == 50:
                transport.unregisterProducer()
                transport.loseConnection()

        def stopProducing(self):
            pass

    producer = Pull()
    transport.registerProducer(producer, False)
    spin(reactor, lambda: server.built[0].lost, what="pull transfer")
    assert bytes(server.built[0].received) == b"".join(b"%05d" % i for i in range(1, 51))


def test_connectionLostOnceAtReactorShutdown(reactor, net):
    server = RecordingServerFactory()
    port = net.listen(server)
    client = RecordingClientFactory()
    net.connect(port, client)
    spin(reactor, lambda: client.built and server.built, what="connect")
    reactor.callWhenRunning(reactor.stop)
    reactor.run(installSignalHandlers=False)
    assert server.built[0].events == ["made", "lost"]
    assert client.built[0].events == ["made", "lost"]
    net.ports.clear()
    net.connectors.clear()


def test_emfileDoesNotSpin(tmp_path):
    # In a child process with a low descriptor limit: connections beyond it
    # make accept() fail with EMFILE; the port must pause, log once per burst
    # and serve again when descriptors come back, without a busy loop.
    import subprocess
    import sys

    script = os.path.join(os.path.dirname(__file__), "emfile_child.py")
    result = subprocess.run(
        [sys.executable, script],
        capture_output=True,
        text=True,
        timeout=60,
        cwd=os.getcwd(),
        env=dict(os.environ, PYTHONPATH=os.getcwd()),
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "OK" in result.stdout, result.stdout + result.stderr
