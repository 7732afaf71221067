"""
TLS conformance tests over real sockets, on every reactor: listenSSL and
connectSSL, TLS over UNIX sockets, startTLS on a live connection, truncation,
a large transfer with backpressure, ALPN, and interoperation with OpenSSL's
own tools and Python's ssl module.

The contexts come from tests/reactor/tlscontexts.py (trustme and pyOpenSSL,
not reactor.ssl).
"""

import fcntl
import os
import shutil
import socket
import ssl
import struct
import subprocess
import termios
import threading

import pytest
from cryptography.hazmat.primitives.serialization import Encoding
from OpenSSL import SSL
from zope.interface import implementer

from protocols.basic import LineReceiver
from protocols.protocol import ClientCreator, ClientFactory
from reactor.address import UNIXAddress
from reactor.error import ConnectionAborted, ConnectionDone, ConnectionLost, SSLError
from reactor.interfaces import (
    IHalfCloseableProtocol,
    IHandshakeListener,
    ISSLTransport,
    ITLSTransport,
)
from reactor.tls import TLSMemoryBIOFactory
from tests.reactor import tlscontexts as tlscerts
from tests.reactor.transport_helpers import (
    EchoRecorder,
    HalfCloseRecorder,
    Recorder,
    RecordingClientFactory,
    RecordingServerFactory,
    freePort,
    spin,
    wait,
)

# Every test runs over both of reactor.tls's ways into OpenSSL (conftest's tlsPath).
pytestmark = [pytest.mark.timeout(60), pytest.mark.usefixtures("tlsPath")]


@pytest.fixture
def net(reactor):
    """TLS ports and connections of the test, closed after it."""

    class Net:
        def __init__(self):
            self.ports = []
            self.connectors = []

        def listen(self, factory, options=None, **kw):
            kw.setdefault("interface", "127.0.0.1")
            options = options or tlscerts.serverOptions()
            port = reactor.listenSSL(0, factory, options, **kw)
            self.ports.append(port)
            return port

        def connect(self, port, factory, options=None, **kw):
            options = options or tlscerts.clientOptions()
            connector = reactor.connectSSL(
                "127.0.0.1", port.getHost().port, factory, options, timeout=10, **kw
            )
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
    spin(
        reactor,
        lambda: (
            not reactor.getWriters()
            and not _userReaders(reactor)
            and all(connector.state == "disconnected" for connector in net.connectors)
            and not [call for call in reactor.getDelayedCalls() if call.active()]
        ),
        5,
        "cleanup",
    )


def _userReaders(reactor):
    return [r for r in reactor.getReaders() if not type(r).__name__.startswith("_")]


def _pem(certificate):
    return certificate.to_cryptography().public_bytes(Encoding.PEM)


def _connected(reactor, server, client):
    spin(reactor, lambda: client.built and server.built, what="connect")
    return server.built[0], client.built[0]


@implementer(IHandshakeListener)
class HandshakeRecorder(Recorder):
    def handshakeCompleted(self):
        self.events.append("handshake")


def test_handshakeAndEchoBothWays(reactor, net):
    server = RecordingServerFactory(EchoRecorder)
    port = net.listen(server)
    client = RecordingClientFactory(HandshakeRecorder)
    net.connect(port, client)
    serverProtocol, clientProtocol = _connected(reactor, server, client)
    clientProtocol.transport.write(b"hello, ")
    clientProtocol.transport.writeSequence([b"wor", b"ld"])
    spin(reactor, lambda: bytes(clientProtocol.received) == b"hello, world", what="echo")
    serverProtocol.transport.write(b"!")
    spin(reactor, lambda: bytes(clientProtocol.received) == b"hello, world!", what="push")
    assert clientProtocol.events == ["made", "handshake"]
    assert ISSLTransport.providedBy(clientProtocol.transport)
    # Addresses are the TCP connection's, seen from both ends.
    assert serverProtocol.transport.getPeer() == clientProtocol.transport.getHost()
    assert clientProtocol.transport.getPeer() == port.getHost()
    assert clientProtocol.transport.getPeer().type == "TCP"
    peerCertificate = clientProtocol.transport.getPeerCertificate()
    assert _pem(peerCertificate) == tlscerts.SERVER.cert_chain_pems[0].bytes()
    assert serverProtocol.transport.getPeerCertificate() is None  # no client certificate
    clientProtocol.transport.loseConnection()
    spin(reactor, lambda: serverProtocol.lost and clientProtocol.lost, what="close")
    assert serverProtocol.lost[0].check(ConnectionDone)
    assert clientProtocol.lost[0].check(ConnectionDone)


def test_tlsTurnsNagleOff(reactor, net):
    server = RecordingServerFactory(EchoRecorder)
    port = net.listen(server)
    client = RecordingClientFactory()
    net.connect(port, client)
    serverProtocol, clientProtocol = _connected(reactor, server, client)
    assert serverProtocol.transport.getTcpNoDelay()
    assert clientProtocol.transport.getTcpNoDelay()


def test_echoOverUnixSockets(reactor, tmp_path):
    path = str(tmp_path / "tls.sock")
    server = RecordingServerFactory(EchoRecorder)
    port = reactor.listenUNIX(path, TLSMemoryBIOFactory(tlscerts.serverOptions(), False, server))
    client = RecordingClientFactory()
    reactor.connectUNIX(path, TLSMemoryBIOFactory(tlscerts.clientOptions(), True, client))
    serverProtocol, clientProtocol = _connected(reactor, server, client)
    clientProtocol.transport.write(b"over unix and tls")
    spin(reactor, lambda: bytes(clientProtocol.received) == b"over unix and tls", what="echo")
    assert clientProtocol.transport.getPeer() == UNIXAddress(path)
    assert _pem(clientProtocol.transport.getPeerCertificate()) == _serverPem()
    serverProtocol.transport.loseConnection()
    spin(reactor, lambda: serverProtocol.lost and clientProtocol.lost, what="close")
    assert clientProtocol.lost[0].check(ConnectionDone)
    assert serverProtocol.lost[0].check(ConnectionDone)
    wait(reactor, port.stopListening())


def _serverPem():
    return tlscerts.SERVER.cert_chain_pems[0].bytes()


def test_clientCreatorConnectsOverTLS(reactor, net):
    server = RecordingServerFactory(EchoRecorder)
    port = net.listen(server)
    creator = ClientCreator(reactor, Recorder)
    protocol = wait(
        reactor, creator.connectSSL("127.0.0.1", port.getHost().port, tlscerts.clientOptions())
    )
    protocol.transport.write(b"created")
    spin(reactor, lambda: protocol.received == b"created", what="echo")
    assert ISSLTransport.providedBy(protocol.transport)
    protocol.transport.loseConnection()
    spin(reactor, lambda: protocol.lost and server.built[0].lost, what="close")


def test_clientCertificateSeenByServer(reactor, net):
    server = RecordingServerFactory(EchoRecorder)
    port = net.listen(server, tlscerts.serverOptions(verifyClients=True))
    client = RecordingClientFactory()
    net.connect(port, client, tlscerts.clientOptions(cert=tlscerts.CLIENT))
    serverProtocol, clientProtocol = _connected(reactor, server, client)
    clientProtocol.transport.write(b"it is me")
    spin(reactor, lambda: clientProtocol.received == b"it is me", what="echo")
    peer = serverProtocol.transport.getPeerCertificate()
    assert _pem(peer) == tlscerts.CLIENT.cert_chain_pems[0].bytes()


def test_unknownAuthorityFailsBothSidesWithOpenSSLReason(reactor, net):
    server = RecordingServerFactory(EchoRecorder)
    port = net.listen(server, tlscerts.serverOptions(cert=tlscerts.STRANGER))
    client = RecordingClientFactory()
    net.connect(port, client)
    serverProtocol, clientProtocol = _connected(reactor, server, client)
    clientProtocol.transport.write(b"never sent")
    spin(reactor, lambda: serverProtocol.lost and clientProtocol.lost, what="the failure")
    assert clientProtocol.lost[0].check(SSL.Error)
    assert "certificate verify failed" in clientProtocol.lost[0].getErrorMessage()
    assert serverProtocol.lost[0].check(SSL.Error)
    assert "unknown ca" in serverProtocol.lost[0].getErrorMessage()
    assert serverProtocol.received == b""


def test_loseConnectionSendsEverythingWrittenFirst(reactor, net):
    # Written before the handshake, then closed at once: all of it arrives,
    # then close_notify (ConnectionDone, not a truncation).
    payload = os.urandom(8 * 2**20)

    class WriteAndClose(Recorder):
        def connectionMade(self):
            self.transport.write(payload)
            self.transport.loseConnection()

    server = RecordingServerFactory(WriteAndClose)
    port = net.listen(server)
    client = RecordingClientFactory()
    net.connect(port, client)
    _, clientProtocol = _connected(reactor, server, client)
    spin(reactor, lambda: clientProtocol.lost, what="the close")
    assert clientProtocol.received == payload
    assert clientProtocol.lost[0].check(ConnectionDone)


def test_truncationIsConnectionLost(reactor, net):
    # The server's TCP connection closes under its TLS layer: no close_notify.
    server = RecordingServerFactory(Recorder)
    port = net.listen(server)
    client = RecordingClientFactory(HalfCloseRecorder)
    net.connect(port, client)
    serverProtocol, clientProtocol = _connected(reactor, server, client)
    serverProtocol.transport.write(b"partial answer")
    spin(reactor, lambda: clientProtocol.received, what="data")
    serverProtocol.transport.transport.loseConnection()
    spin(reactor, lambda: clientProtocol.lost, what="the end")
    assert clientProtocol.lost[0].check(ConnectionLost)
    assert "truncation" in clientProtocol.lost[0].getErrorMessage()
    # Half-closeable or not, an end without close_notify is no half-close.
    assert "readLost" not in clientProtocol.events


def test_halfCloseSendsCloseNotifyAndKeepsReading(reactor, net):
    @implementer(IHalfCloseableProtocol)
    class AnswerAtEnd(Recorder):
        def readConnectionLost(self):
            self.events.append("readLost")
            self.transport.write(b"answer to " + bytes(self.received))
            self.transport.loseConnection()

    server = RecordingServerFactory(AnswerAtEnd)
    port = net.listen(server)
    client = RecordingClientFactory(HalfCloseRecorder)
    net.connect(port, client)
    serverProtocol, clientProtocol = _connected(reactor, server, client)
    clientProtocol.transport.write(b"question")
    clientProtocol.transport.loseWriteConnection()
    spin(reactor, lambda: clientProtocol.lost and serverProtocol.lost, what="the end")
    assert clientProtocol.received == b"answer to question"
    assert serverProtocol.events == ["made", "readLost", "lost"]
    assert clientProtocol.events == ["made", "writeLost", "lost"]
    assert clientProtocol.lost[0].check(ConnectionDone)
    assert serverProtocol.lost[0].check(ConnectionDone)


def test_abortConnectionEndsBothSides(reactor, net):
    server = RecordingServerFactory(Recorder)
    port = net.listen(server)
    client = RecordingClientFactory()
    net.connect(port, client)
    serverProtocol, clientProtocol = _connected(reactor, server, client)
    clientProtocol.transport.write(b"x")
    spin(reactor, lambda: serverProtocol.received, what="data")
    clientProtocol.transport.abortConnection()
    spin(reactor, lambda: clientProtocol.lost and serverProtocol.lost, what="the end")
    assert clientProtocol.lost[0].check(ConnectionAborted)
    assert serverProtocol.lost[0].check(ConnectionLost)


def test_abortBeforeTheHandshakeDropsWhatWasWritten(reactor, net):
    class WriteAndAbort(Recorder):
        def connectionMade(self):
            Recorder.connectionMade(self)
            self.transport.write(b"never sent")
            self.transport.abortConnection()

    server = RecordingServerFactory(Recorder)
    port = net.listen(server)
    client = RecordingClientFactory(WriteAndAbort)
    net.connect(port, client)
    serverProtocol, clientProtocol = _connected(reactor, server, client)
    spin(reactor, lambda: clientProtocol.lost and serverProtocol.lost, what="the end")
    assert clientProtocol.lost[0].check(ConnectionAborted)
    assert serverProtocol.received == b""


def test_alpnNegotiatedProtocolOnBothSides(reactor, net):
    server = RecordingServerFactory(HandshakeRecorder)
    port = net.listen(server, tlscerts.serverOptions(alpn=[b"h2", b"http/1.1"]))
    client = RecordingClientFactory(HandshakeRecorder)
    net.connect(port, client, tlscerts.clientOptions(alpn=[b"http/1.1", b"h2"]))
    serverProtocol, clientProtocol = _connected(reactor, server, client)
    assert clientProtocol.transport.negotiatedProtocol is None  # not before the handshake
    spin(
        reactor,
        lambda: "handshake" in clientProtocol.events and "handshake" in serverProtocol.events,
        what="the handshake",
    )
    assert clientProtocol.transport.negotiatedProtocol == b"h2"
    assert serverProtocol.transport.negotiatedProtocol == b"h2"


# -- startTLS on a live connection --------------------------------------------------


class Requester(LineReceiver):
    """Asks for TLS with a STARTTLS line; switches on GO (or at once, pipelining)."""

    def __init__(self, options, normal=True, pipeline=False):
        self.options = options
        self.normal = normal
        self.pipeline = pipeline
        self.lines = []
        self.received = bytearray()
        self.lost = []

    def connectionMade(self):
        self.sendLine(b"STARTTLS")
        if self.pipeline:
            self.switch()

    def lineReceived(self, line):
        self.lines.append(line)
        if line == b"GO":
            self.switch()

    def switch(self):
        self.setRawMode()
        self.transport.startTLS(self.options, normal=self.normal)
        self.transport.write(b"secret from the requester")

    def rawDataReceived(self, data):
        self.received += data

    def connectionLost(self, reason):
        self.lost.append(reason)


class Accepter(LineReceiver):
    """Answers STARTTLS with GO in clear (unless the requester pipelines), then switches."""

    def __init__(self, options, normal=True, answer=True, holdReading=False):
        self.options = options
        self.normal = normal
        self.answer = answer
        self.holdReading = holdReading
        self.lines = []
        self.received = bytearray()
        self.lost = []

    def connectionMade(self):
        if self.holdReading:
            self.transport.pauseProducing()

    def lineReceived(self, line):
        self.lines.append(line)
        if line == b"STARTTLS":
            rest = self.clearLineBuffer()  # the peer's first TLS bytes, if pipelined
            self.setRawMode()
            if self.answer:
                self.transport.write(b"GO\r\n")
            self.transport.startTLS(self.options, normal=self.normal, received=rest)
            self.transport.write(b"secret from the accepter")

    def rawDataReceived(self, data):
        self.received += data

    def connectionLost(self, reason):
        self.lost.append(reason)


def _startTLSSession(reactor, serverProtocol, clientProtocol):
    port = reactor.listenTCP(0, _OneProtocol(serverProtocol), interface="127.0.0.1")
    reactor.connectTCP("127.0.0.1", port.getHost().port, _OneProtocol(clientProtocol), timeout=10)
    return port


class _OneProtocol(ClientFactory):
    def __init__(self, protocol):
        self.theProtocol = protocol

    def buildProtocol(self, addr):
        return self.theProtocol


def _checkStartTLSSession(reactor, port, requester, accepter, tlsClient):
    spin(
        reactor,
        lambda: (
            requester.received == b"secret from the accepter"
            and accepter.received == b"secret from the requester"
        ),
        what="secrets both ways",
    )
    for protocol in (requester, accepter):
        assert ISSLTransport.providedBy(protocol.transport)
        if not isinstance(protocol.transport.getHost(), UNIXAddress):
            assert ITLSTransport.providedBy(protocol.transport)
            assert protocol.transport.getTcpNoDelay()
    assert _pem(tlsClient.transport.getPeerCertificate()) == _serverPem()
    assert requester.transport.getPeer() == accepter.transport.getHost()
    assert requester.transport.getHost() == accepter.transport.getPeer()
    requester.transport.loseConnection()
    spin(reactor, lambda: requester.lost and accepter.lost, what="close")
    assert requester.lost[0].check(ConnectionDone)
    assert accepter.lost[0].check(ConnectionDone)
    wait(reactor, port.stopListening())


def test_startTLSAskedByTheClient(reactor):
    requester = Requester(tlscerts.clientOptions())
    accepter = Accepter(tlscerts.serverOptions())
    port = _startTLSSession(reactor, accepter, requester)
    _checkStartTLSSession(reactor, port, requester, accepter, tlsClient=requester)
    assert requester.lines == [b"GO"]  # read in clear, before the switch
    assert accepter.lines == [b"STARTTLS"]


def test_startTLSOverUnixSockets(reactor, tmp_path):
    path = str(tmp_path / "starttls.sock")
    requester = Requester(tlscerts.clientOptions())
    accepter = Accepter(tlscerts.serverOptions())
    port = reactor.listenUNIX(path, _OneProtocol(accepter))
    reactor.connectUNIX(path, _OneProtocol(requester), timeout=10)
    _checkStartTLSSession(reactor, port, requester, accepter, tlsClient=requester)


def test_startTLSAskedByTheServerWithRolesSwapped(reactor):
    # The server asks and becomes the TLS client: normal=False on both sides.
    requester = Requester(tlscerts.clientOptions(), normal=False)
    accepter = Accepter(tlscerts.serverOptions(), normal=False)
    port = _startTLSSession(reactor, requester, accepter)
    _checkStartTLSSession(reactor, port, requester, accepter, tlsClient=requester)


def test_bytesReadPastTheSwitchAreHandedOver(reactor):
    # The client sends STARTTLS and its ClientHello without waiting; the
    # server reads only once both are there, so one read holds the line and
    # the start of TLS, which the server hands to startTLS.
    requester = Requester(tlscerts.clientOptions(), pipeline=True)
    accepter = Accepter(tlscerts.serverOptions(), answer=False, holdReading=True)
    port = _startTLSSession(reactor, accepter, requester)
    spin(reactor, lambda: accepter.transport is not None, what="connect")
    spin(reactor, lambda: _readable(accepter.transport.fd) > 20, what="both writes to arrive")
    accepter.transport.resumeProducing()
    _checkStartTLSSession(reactor, port, requester, accepter, tlsClient=requester)


def _readable(fd):
    return struct.unpack("i", fcntl.ioctl(fd, termios.FIONREAD, b"\0\0\0\0"))[0]


def test_startTLSKeepsTheRegisteredProducer(reactor):
    producers = []

    class ProducingAccepter(Accepter):
        def connectionMade(self):
            producer = ChunkProducer(self.transport)
            producers.append(producer)
            self.transport.registerProducer(producer, True)

    accepter = ProducingAccepter(tlscerts.serverOptions())
    requester = Requester(tlscerts.clientOptions())
    port = _startTLSSession(reactor, accepter, requester)
    spin(reactor, lambda: accepter.received == b"secret from the requester", what="the switch")
    assert accepter.transport.producer is producers[0]
    accepter.transport.unregisterProducer()
    assert accepter.transport.producer is None
    requester.transport.loseConnection()
    spin(reactor, lambda: requester.lost and accepter.lost, what="close")
    wait(reactor, port.stopListening())


def test_startTLSTwiceIsRefused(reactor):
    requester = Requester(tlscerts.clientOptions())
    accepter = Accepter(tlscerts.serverOptions())
    port = _startTLSSession(reactor, accepter, requester)
    spin(reactor, lambda: accepter.received, what="the switch")
    with pytest.raises(RuntimeError, match="already started"):
        accepter.transport.startTLS(tlscerts.serverOptions())
    requester.transport.abortConnection()
    spin(reactor, lambda: requester.lost and accepter.lost, what="close")
    wait(reactor, port.stopListening())


# -- a large transfer, a slow reader ------------------------------------------------

TOTAL = 64 * 2**20
CHUNK = 2**16


class ChunkProducer:
    """A push producer writing CHUNK-byte pieces until TOTAL bytes are out."""

    def __init__(self, transport):
        self.transport = transport
        self.sent = 0
        self.paused = False
        self.pauses = 0
        self.mostBuffered = 0

    def start(self):
        self.transport.registerProducer(self, True)
        self.produce()

    def produce(self):
        chunk = b"x" * CHUNK
        while not self.paused and self.sent < TOTAL:
            self.transport.write(chunk)
            self.sent += CHUNK
            self.mostBuffered = max(self.mostBuffered, self.transport.getBufferSize())
        if self.sent >= TOTAL and self.transport is not None:
            transport, self.transport = self.transport, None
            transport.unregisterProducer()
            transport.loseConnection()

    def pauseProducing(self):
        self.paused = True
        self.pauses += 1

    def resumeProducing(self):
        self.paused = False
        self.produce()

    def stopProducing(self):
        self.paused = True


@pytest.mark.timeout(120)
@pytest.mark.parametrize("serverSends", [True, False], ids=["toClient", "toServer"])
def test_largeTransferToSlowReaderStaysBounded(reactor, net, serverSends):
    producers = []

    class Streamer(Recorder):
        def connectionMade(self):
            # Registered before the handshake: paused by TLS until it is done.
            producer = ChunkProducer(self.transport)
            producers.append(producer)
            producer.start()

    class SlowReader(Recorder):
        count = 0
        pausedAt = 0
        whilePaused = 0
        isPaused = False

        def dataReceived(self, data):
            if self.isPaused:
                self.whilePaused += len(data)
            self.count += len(data)
            if self.count - self.pausedAt >= 4 * 2**20:
                self.pausedAt = self.count
                self.isPaused = True
                self.transport.pauseProducing()
                reactor.callLater(0.005, self.resume)

        def resume(self):
            self.isPaused = False
            self.transport.resumeProducing()

    server = RecordingServerFactory(Streamer if serverSends else SlowReader)
    port = net.listen(server)
    client = RecordingClientFactory(SlowReader if serverSends else Streamer)
    net.connect(port, client)
    serverProtocol, clientProtocol = _connected(reactor, server, client)
    reader = clientProtocol if serverSends else serverProtocol
    spin(reactor, lambda: reader.lost, timeout=100, what="64 MiB")
    producer = producers[0]
    assert reader.count == TOTAL
    assert reader.lost[0].check(ConnectionDone)
    assert reader.whilePaused == 0  # nothing is delivered to a paused reader
    assert producer.pauses > 1  # the handshake's, and the slow reader's
    # The sender never buffers much more than the transport's high-water
    # mark and one chunk (with its records' overhead).
    assert producer.mostBuffered <= 65536 + 2 * CHUNK


# -- real peers: OpenSSL's tools and Python's ssl module ---------------------------

OPENSSL = shutil.which("openssl")
needsOpenSSL = pytest.mark.skipif(OPENSSL is None, reason="no openssl command on this machine")


@pytest.fixture
def caFile(tmp_path):
    path = tmp_path / "ca.pem"
    tlscerts.CA.cert_pem.write_to_path(str(path))
    return str(path)


class Tool:
    """An openssl s_client or s_server child, its output read without blocking."""

    def __init__(self, reactor, arguments):
        self.reactor = reactor
        self.process = subprocess.Popen(
            [OPENSSL, *arguments],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        os.set_blocking(self.process.stdout.fileno(), False)
        self.output = b""

    def read(self):
        try:
            chunk = os.read(self.process.stdout.fileno(), 65536)
        except BlockingIOError:
            return self.output
        self.output += chunk
        return self.output

    def send(self, data):
        self.process.stdin.write(data)
        self.process.stdin.flush()

    def waitFor(self, text, what):
        spin(self.reactor, lambda: text in self.read(), what=what)

    def finish(self):
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(10)
        self.process.stdin.close()
        self.process.stdout.close()


@pytest.fixture
def tools(reactor):
    started = []

    def start(*arguments):
        tool = Tool(reactor, arguments)
        started.append(tool)
        return tool

    yield start
    for tool in started:
        tool.finish()


@needsOpenSSL
def test_opensslClientTalksToLoomServer(reactor, net, tools, caFile):
    server = RecordingServerFactory(EchoRecorder)
    port = net.listen(server, tlscerts.serverOptions(alpn=[b"loom/1"]))
    client = tools(
        "s_client",
        "-connect",
        "127.0.0.1:%d" % (port.getHost().port,),
        "-CAfile",
        caFile,
        "-verify_return_error",
        "-servername",
        "localhost",
        "-alpn",
        "loom/1",
        "-no_ign_eof",
    )
    client.send(b"ping from openssl\n")
    spin(reactor, lambda: server.built and b"ping" in server.built[0].received, what="ping")
    client.waitFor(b"ping from openssl\n", "the echo")
    assert b"Verify return code: 0 (ok)" in client.output
    assert b"ALPN protocol: loom/1" in client.output
    assert server.built[0].transport.negotiatedProtocol == b"loom/1"
    client.process.stdin.close()  # s_client sends close_notify and exits
    spin(reactor, lambda: server.built[0].lost, what="close")
    assert server.built[0].lost[0].check(ConnectionDone)


@needsOpenSSL
def test_answersReachAClientThatAskedForSmallRecords(reactor, net, tools, caFile):
    # s_client asks for 512-byte records (max_fragment_length): one send()
    # then encrypts only 512 bytes of an answer, and the rest must follow.
    answer = b"a" * 3000 + b"\n"

    class Answerer(Recorder):
        def dataReceived(self, data):
            Recorder.dataReceived(self, data)
            self.transport.write(answer)

    server = RecordingServerFactory(Answerer)
    port = net.listen(server)
    client = tools(
        "s_client",
        "-connect",
        "127.0.0.1:%d" % (port.getHost().port,),
        "-CAfile",
        caFile,
        "-maxfraglen",
        "512",
        "-no_ign_eof",
    )
    client.send(b"question\n")
    client.waitFor(answer, "the whole answer")
    client.process.stdin.close()
    spin(reactor, lambda: server.built[0].lost, what="close")
    assert server.built[0].lost[0].check(ConnectionDone)


@needsOpenSSL
def test_peerRenegotiationIsRefused(reactor, net, tools, caFile):
    server = RecordingServerFactory(EchoRecorder)
    port = net.listen(server)
    client = tools(
        "s_client",
        "-connect",
        "127.0.0.1:%d" % (port.getHost().port,),
        "-CAfile",
        caFile,
        "-tls1_2",
        "-no_ign_eof",
    )
    client.send(b"before\n")
    client.waitFor(b"before\n", "the echo")
    client.send(b"R\n")  # s_client's command: renegotiate
    spin(reactor, lambda: server.built[0].lost, what="the refusal")
    reason = server.built[0].lost[0]
    assert reason.check(SSLError)
    assert "renegotiate" in reason.getErrorMessage()
    assert b"RENEGOTIATING" in client.read()
    assert bytes(server.built[0].received) == b"before\n"


@needsOpenSSL
def test_loomClientTalksToOpensslServer(reactor, net, tools, tmp_path):
    keyAndChain = str(tmp_path / "server.pem")
    tlscerts.SERVER.private_key_and_cert_chain_pem.write_to_path(keyAndChain)
    portNumber = freePort()
    server = tools(
        "s_server",
        "-accept",
        "127.0.0.1:%d" % (portNumber,),
        "-cert",
        keyAndChain,
        "-key",
        keyAndChain,
        "-alpn",
        "loom/1",
        "-rev",
        "-naccept",
        "1",
    )
    server.waitFor(b"ACCEPT", "s_server to listen")
    client = RecordingClientFactory()
    options = tlscerts.clientOptions(alpn=[b"loom/1"])
    connector = reactor.connectSSL("127.0.0.1", portNumber, client, options, timeout=10)
    spin(reactor, lambda: client.built, what="connect")
    protocol = client.built[0]
    protocol.transport.write(b"hello from loom\n")
    spin(reactor, lambda: b"mool morf olleh" in protocol.received, what="the reversed line")
    assert protocol.transport.negotiatedProtocol == b"loom/1"
    assert (
        _pem(protocol.transport.getPeerCertificate()) == tlscerts.SERVER.cert_chain_pems[0].bytes()
    )
    protocol.transport.loseConnection()
    spin(reactor, lambda: protocol.lost and connector.state == "disconnected", what="close")
    assert protocol.lost[0].check(ConnectionDone)


def test_pythonSslClientTalksToLoomServer(reactor, net):
    server = RecordingServerFactory(EchoRecorder)
    port = net.listen(server, tlscerts.serverOptions(alpn=[b"loom/1"]))
    context = ssl.create_default_context()
    tlscerts.CA.configure_trust(context)
    context.set_alpn_protocols(["loom/1"])
    outcome = {}

    def talk():
        try:
            with socket.create_connection(("127.0.0.1", port.getHost().port), timeout=10) as raw:
                with context.wrap_socket(raw, server_hostname="localhost") as conn:
                    conn.sendall(b"ping from python")
                    received = b""
                    while len(received) < 16:
                        received += conn.recv(100)
                    outcome["alpn"] = conn.selected_alpn_protocol()
                    outcome["received"] = received
                    conn.unwrap()  # close_notify, and the server's in return
        except Exception as error:
            outcome["error"] = error

    thread = threading.Thread(target=talk)
    thread.start()
    try:
        spin(reactor, lambda: server.built and server.built[0].lost, what="the session")
    finally:
        thread.join(10)
    assert outcome == {"alpn": "loom/1", "received": b"ping from python"}
    assert server.built[0].lost[0].check(ConnectionDone)
