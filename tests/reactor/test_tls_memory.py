"""
reactor.tls in memory: two TLS layers joined by reactor.testing's pump, or
one driven by hand against a raw pyOpenSSL connection.  No sockets, no
clock: what a turn costs in OpenSSL calls, how records split anywhere are
counted, writes before the handshake, how connections end, failures and
their reasons, renegotiation, producers, the factory.
"""

import itertools

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from OpenSSL import SSL
from zope.interface import implementer

from protocols.protocol import ClientFactory, Factory, Protocol
from reactor.error import ConnectionDone, ConnectionLost, SSLError, VerifyError
from reactor.failure import Failure
from reactor.interfaces import IHalfCloseableProtocol, IHandshakeListener, IPushProducer
from reactor.testing import StringTransport, connectedPair
from reactor.tls import TLSMemoryBIOFactory, TLSMemoryBIOProtocol
from tests.reactor import tlscontexts as tlscerts

# Every test runs over both of reactor.tls's ways into OpenSSL (conftest's tlsPath).
pytestmark = pytest.mark.usefixtures("tlsPath")


class Recorder(Protocol):
    def __init__(self):
        self.events = []
        self.received = b""
        self.lost = []

    def connectionMade(self):
        self.events.append("made")

    def dataReceived(self, data):
        self.events.append("data")
        self.received += data

    def connectionLost(self, reason):
        self.events.append("lost")
        self.lost.append(reason)


class Echo(Recorder):
    def dataReceived(self, data):
        Recorder.dataReceived(self, data)
        self.transport.write(data)


@implementer(IHalfCloseableProtocol)
class HalfCloser(Recorder):
    def readConnectionLost(self):
        self.events.append("readLost")

    def writeConnectionLost(self):
        self.events.append("writeLost")


def tlsPair(
    serverProtocol=None,
    clientProtocol=None,
    serverOptions=None,
    clientOptions=None,
    greet=True,
):
    """Two TLS layers over the in-memory pair: (server layer, client layer, pump)."""
    server = TLSMemoryBIOFactory(
        serverOptions or tlscerts.serverOptions(), False, Factory()
    ).protocol
    serverFactory = TLSMemoryBIOFactory(serverOptions or tlscerts.serverOptions(), False, None)
    clientFactory = TLSMemoryBIOFactory(clientOptions or tlscerts.clientOptions(), True, None)
    server = TLSMemoryBIOProtocol(serverFactory, serverProtocol or Recorder())
    client = TLSMemoryBIOProtocol(clientFactory, clientProtocol or Recorder())
    pump = connectedPair(server, client, greet=greet)
    return server, client, pump


class Counting:
    """A pyOpenSSL Connection that counts the calls the TLS layer makes."""

    def __init__(self, connection):
        self.connection = connection
        self.calls = []

    def __getattr__(self, name):
        method = getattr(self.connection, name)

        def counted(*args):
            try:
                result = method(*args)
            except SSL.WantReadError:
                self.calls.append((name, "want read"))
                raise
            self.calls.append(name)
            return result

        return counted


def _records(data):
    # (content type, length) of each whole TLS record in data.
    records = []
    while len(data) >= 5:
        length = int.from_bytes(data[3:5], "big")
        records.append((data[0], length))
        data = data[5 + length :]
    assert data == b"", "a partial record"
    return records


# -- what a turn costs ------------------------------------------------------------


def test_answerIsOneRecordAndOneWrite():
    class Answer(Recorder):
        def dataReceived(self, data):
            self.transport.write(b"one, ")
            self.transport.write(b"two, ")
            self.transport.writeSequence([b"three"])

    server, client, pump = tlsPair(Answer())
    pump.flush()  # the handshake, and the session tickets after it
    writes = []
    below = pump.serverTransport
    below.write = lambda data, write=below.write: (writes.append(data), write(data))
    server._io = counting = Counting(server._io)
    client.wrappedProtocol.transport.write(b"go")
    pump.flush()
    assert client.wrappedProtocol.received == b"one, two, three"
    assert len(writes) == 1
    assert _records(writes[0]) == [(23, len(writes[0]) - 5)]  # one application data record
    assert counting.calls == ["bio_write", "recv", "send", "bio_read"]


def test_aPartialSendIsFinished():
    # A peer that asked for small records (max_fragment_length) makes send()
    # take only the first of them: the rest follows (over real sockets:
    # test_answersReachAClientThatAskedForSmallRecords).
    class Partial:
        def __init__(self, calls):
            self.calls = calls

        def send(self, data):
            return self.calls.send(data[:512])

        def __getattr__(self, name):
            return getattr(self.calls, name)

    server, client, pump = tlsPair(Echo())
    pump.flush()
    server._io = Partial(server._io)
    client.wrappedProtocol.transport.write(b"x" * 3000)
    pump.flush()
    assert client.wrappedProtocol.received == b"x" * 3000


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.integers(1, 5000), min_size=1, max_size=12),
    st.lists(st.integers(1, 40000), min_size=1, max_size=6),
)
def test_recordsSplitAnywhere(cuts, sizes):
    # Every byte stream cut at random points, the handshake's included:
    # everything arrives, and once the handshake is done the server calls
    # recv exactly once per record, never to hear "want read".
    pieces = itertools.cycle(cuts)

    def splitting(queue, protocol):
        stream = b"".join(iter(queue.get, None))
        while stream:
            size = next(pieces)
            protocol.dataReceived(stream[:size])
            stream = stream[size:]

    server, client, pump = tlsPair(Echo(), greet=False)
    pump.pumpPolicy = splitting
    pump.flush()
    server._io = counting = Counting(server._io)
    messages = [bytes([index % 251]) * size for index, size in enumerate(sizes)]
    for message in messages:
        client.wrappedProtocol.transport.write(message)
    pump.flush()
    assert client.wrappedProtocol.received == b"".join(messages)
    recvs = [call for call in counting.calls if call in ("recv", ("recv", "want read"))]
    assert ("recv", "want read") not in recvs
    # One record per 16 KiB of each write.
    assert len(recvs) == sum(-(-len(message) // 16384) for message in messages)


def test_writesBeforeTheHandshakeAreSentAfterIt():
    class Greeter(Recorder):
        def connectionMade(self):
            Recorder.connectionMade(self)
            self.transport.write(b"hello ")
            self.transport.writeSequence([b"before ", b"the handshake"])

    server, client, pump = tlsPair(clientProtocol=Greeter(), greet=False)
    # Only the ClientHello is out: one handshake record.
    assert [kind for kind, _ in _records(b"".join(pump.clientTransport._buffer))] == [22]
    assert client.getBufferSize() == len(b"hello before the handshake")
    pump.flush()
    assert server.wrappedProtocol.received == b"hello before the handshake"


def test_handshakeCompletedIsCalledOnce():
    @implementer(IHandshakeListener)
    class Listener(Recorder):
        def handshakeCompleted(self):
            self.events.append("handshake")

    server, client, pump = tlsPair(Listener(), Listener())
    client.wrappedProtocol.transport.write(b"x")
    pump.flush()
    assert client.wrappedProtocol.events == ["made", "handshake"]
    assert server.wrappedProtocol.events == ["made", "handshake", "data"]


def test_emptyWritesAreIgnored():
    class Empty(Recorder):
        def dataReceived(self, data):
            self.transport.write(b"")
            self.transport.writeSequence([])

    server, client, pump = tlsPair(Empty())
    client.write(b"")
    client.write(b"x")
    server.write(b"")
    pump.flush()
    client.write(b"y")
    pump.flush()
    assert client.wrappedProtocol.lost == server.wrappedProtocol.lost == []


def test_emptyReadIsIgnored():
    server, client, pump = tlsPair()
    server.dataReceived(b"")
    client.write(b"still fine")
    pump.flush()
    assert server.wrappedProtocol.received == b"still fine"


def test_writeOfStrIsRefused():
    server, client, pump = tlsPair()
    with pytest.raises(TypeError, match="bytes"):
        client.write("text")


# -- how connections end -------------------------------------------------------------


def test_closeNotifyIsConnectionDone():
    server, client, pump = tlsPair()
    client.write(b"last words")
    client.loseConnection()
    client.write(b"ignored")
    pump.flush()
    assert server.wrappedProtocol.received == b"last words"
    assert server.wrappedProtocol.lost[0].check(ConnectionDone)
    assert client.wrappedProtocol.lost[0].check(ConnectionDone)


def test_closeWithoutCloseNotifyIsTruncation():
    server, client, pump = tlsPair()
    client.write(b"partial")
    pump.flush()
    pump.clientTransport.loseConnection()  # below TLS: no close_notify
    pump.flush()
    reason = server.wrappedProtocol.lost[0]
    assert reason.check(ConnectionLost)
    assert "truncation" in reason.getErrorMessage()


def test_endOfFileDuringTheHandshakeIsConnectionLost():
    server, client, pump = tlsPair(greet=False)
    pump.clientTransport.loseConnection()
    pump.flush()
    assert server.wrappedProtocol.lost[0].check(ConnectionLost)


def test_loseConnectionBeforeTheHandshakeWithNothingWritten():
    class Quitter(Recorder):
        def connectionMade(self):
            self.transport.loseConnection()

    server, client, pump = tlsPair(clientProtocol=Quitter(), greet=False)
    assert pump.clientTransport._buffer == []  # not even a ClientHello
    pump.flush()
    assert client.wrappedProtocol.lost[0].check(ConnectionDone)


def test_loseConnectionWithAProducerWaitsForIt():
    server, client, pump = tlsPair()
    producer = PushProducer()
    client.registerProducer(producer, True)
    client.write(b"first")
    client.loseConnection()
    client.write(b" and more")  # allowed while the producer is registered
    pump.flush()
    assert not client.wrappedProtocol.lost
    client.unregisterProducer()
    pump.flush()
    assert server.wrappedProtocol.received == b"first and more"
    assert server.wrappedProtocol.lost[0].check(ConnectionDone)


def test_halfCloseInMemory():
    class Answerer(HalfCloser):
        def readConnectionLost(self):
            HalfCloser.readConnectionLost(self)
            self.transport.write(b"answer")
            self.transport.loseConnection()

    server, client, pump = tlsPair(Answerer(), HalfCloser())
    client.write(b"question")
    client.loseWriteConnection()
    client.write(b"not sent")
    pump.flush()
    assert server.wrappedProtocol.received == b"question"
    assert client.wrappedProtocol.received == b"answer"
    assert server.wrappedProtocol.events == ["made", "data", "readLost", "lost"]
    assert client.wrappedProtocol.lost[0].check(ConnectionDone)


def test_closeNotifyEndsAProtocolThatCannotHalfClose():
    server, client, pump = tlsPair(Recorder(), HalfCloser())
    client.loseWriteConnection()
    pump.flush()
    assert server.wrappedProtocol.lost[0].check(ConnectionDone)
    assert client.wrappedProtocol.lost[0].check(ConnectionDone)


def test_abortInsideDataReceivedDropsWhatItWrote():
    class Aborter(Recorder):
        def dataReceived(self, data):
            self.transport.write(b"dropped")
            self.transport.abortConnection()

    server, client, pump = tlsPair(Aborter())
    client.write(b"x")
    pump.flush()
    assert client.wrappedProtocol.received == b""
    assert client.wrappedProtocol.lost[0].check(ConnectionLost)


def test_loseConnectionInsideDataReceivedSendsWhatItWrote():
    class Closer(Recorder):
        def dataReceived(self, data):
            self.transport.write(b"bye")
            self.transport.loseConnection()
            self.transport.write(b"ignored")

    server, client, pump = tlsPair(Closer())
    client.write(b"x")
    pump.flush()
    assert client.wrappedProtocol.received == b"bye"
    assert client.wrappedProtocol.lost[0].check(ConnectionDone)


# -- failures and their reasons ------------------------------------------------------


def _failedPair(**kw):
    server, client, pump = tlsPair(**kw)
    pump.flush()
    return server.wrappedProtocol.lost[0], client.wrappedProtocol.lost[0]


def test_garbageAfterTheHandshakeFailsTheConnection():
    # Not a record header: framing is no longer trusted, OpenSSL reads what
    # there is and says what is wrong (where a length taken from garbage
    # would have waited for 64 KiB that never come).
    server, client, pump = tlsPair()
    server.dataReceived(b"\x80\x00\x00\xff\xff" + b"garbage")
    pump.flush()
    reason = server.wrappedProtocol.lost[0]
    assert reason.check(SSL.Error)
    assert client.wrappedProtocol.lost


def test_expiredCertificate():
    serverReason, clientReason = _failedPair(
        serverOptions=tlscerts.serverOptions(cert=tlscerts.EXPIRED)
    )
    assert clientReason.check(SSL.Error)
    assert "certificate verify failed" in clientReason.getErrorMessage()
    assert "certificate expired" in serverReason.getErrorMessage()


def test_noSharedCipher():
    serverReason, clientReason = _failedPair(
        serverOptions=tlscerts.serverOptions(
            maxVersion=SSL.TLS1_2_VERSION, ciphers="ECDHE-ECDSA-AES128-GCM-SHA256"
        ),
        clientOptions=tlscerts.clientOptions(
            maxVersion=SSL.TLS1_2_VERSION, ciphers="ECDHE-ECDSA-CHACHA20-POLY1305"
        ),
    )
    assert "no shared cipher" in serverReason.getErrorMessage()
    assert "handshake failure" in clientReason.getErrorMessage()


def test_failVerificationAbortsAfterOpenSSLReturns():
    # A check outside OpenSSL (as reactor.ssl's host name check) fails
    # from inside a verify callback: the protocol hears of it only later.
    order = []
    reason = Failure(VerifyError("hostname mismatch: expected example.com"))
    context = tlscerts.clientContext()

    def verify(connection, certificate, errno, depth, ok):
        if depth == 0:
            connection.get_app_data().failVerification(reason)
            order.append(("callback", list(clientProtocol.events)))
        return ok

    context.set_verify(SSL.VERIFY_PEER, verify)

    class Creator:
        def getContext(self):
            raise AssertionError("the connection creator is preferred")

        def clientConnectionForTLS(self, protocol):
            return SSL.Connection(context, None)

    clientProtocol = Recorder()
    server, client, pump = tlsPair(clientProtocol=clientProtocol, clientOptions=Creator())
    assert order == [("callback", ["made"])]
    assert clientProtocol.lost == [reason]
    assert server.wrappedProtocol.lost[0].check(ConnectionLost)


def test_verifyCallbackErrorBecomesTheReason():
    context = tlscerts.clientContext()

    def verify(*args):
        raise ValueError("broken check")

    context.set_verify(SSL.VERIFY_PEER, verify)
    server, client, pump = tlsPair(clientOptions=tlscerts.ContextFactory(context))
    assert client.wrappedProtocol.lost[0].check(ValueError)


# -- renegotiation ---------------------------------------------------------------------


def _rawPeer(context, layer, isClient):
    # A pyOpenSSL connection of the test's, joined to layer by hand; it may
    # renegotiate (no OP_NO_RENEGOTIATION on it).
    raw = SSL.Connection(context, None)
    if isClient:
        raw.set_connect_state()
    else:
        raw.set_accept_state()
    below = StringTransport()
    layer.makeConnection(below)
    peerErrors = []

    def shuttle():
        for _ in range(20):
            try:
                raw.do_handshake()
            except SSL.WantReadError:
                pass
            except SSL.Error as error:
                peerErrors.append(error)  # our refusal, as the peer sees it
            try:
                out = raw.bio_read(65536)
            except SSL.WantReadError:
                out = b""
            if out:
                layer.dataReceived(out)
            back = below.value()
            below.clear()
            if back:
                raw.bio_write(back)
            if not out and not back:
                return

    return raw, below, shuttle, peerErrors


@pytest.mark.parametrize("loomIsClient", [False, True])
def test_peerRenegotiationIsRefusedInMemory(loomIsClient):
    version = SSL.TLS1_2_VERSION
    if loomIsClient:
        peerContext = tlscerts.serverContext(maxVersion=version)
        options = tlscerts.clientOptions(maxVersion=version)
    else:
        peerContext = tlscerts.clientContext(maxVersion=version)
        options = tlscerts.serverOptions(maxVersion=version)
    layer = TLSMemoryBIOProtocol(TLSMemoryBIOFactory(options, loomIsClient, None), Recorder())
    raw, below, shuttle, peerErrors = _rawPeer(peerContext, layer, not loomIsClient)
    shuttle()
    raw.send(b"before")
    layer.dataReceived(raw.bio_read(65536))
    assert layer.wrappedProtocol.received == b"before"
    assert raw.renegotiate()
    shuttle()
    assert below.disconnecting
    layer.connectionLost(Failure(ConnectionDone()))
    reason = layer.wrappedProtocol.lost[0]
    assert reason.check(SSLError)
    assert "renegotiate" in reason.getErrorMessage()
    assert raw.total_renegotiations() == 1  # asked for, never done
    if not loomIsClient:
        assert "no renegotiation" in str(peerErrors[0])


# -- producers --------------------------------------------------------------------------


@implementer(IPushProducer)
class PushProducer:
    def __init__(self):
        self.events = []

    def pauseProducing(self):
        self.events.append("pause")

    def resumeProducing(self):
        self.events.append("resume")

    def stopProducing(self):
        self.events.append("stop")


class PullProducer:
    def __init__(self, transport, chunks):
        self.transport = transport
        self.chunks = list(chunks)
        self.asked = 0

    def resumeProducing(self):
        self.asked += 1
        if self.chunks:
            self.transport.write(self.chunks.pop(0))
        else:
            self.transport.unregisterProducer()
            self.transport.loseConnection()

    def stopProducing(self):
        pass


def test_pushProducerWritingBeforeTheHandshakeIsPausedUntilIt():
    class Streaming(Recorder):
        def connectionMade(self):
            self.producer = PushProducer()
            self.transport.registerProducer(self.producer, True)
            self.transport.write(b"early")

    server, client, pump = tlsPair(clientProtocol=Streaming(), greet=False)
    producer = client.wrappedProtocol.producer
    assert producer.events == ["pause"]
    pump.flush()
    assert producer.events == ["pause", "resume"]
    assert server.wrappedProtocol.received == b"early"


def test_pullProducerIsAskedOnlyAfterTheHandshake():
    class Pulling(Recorder):
        def connectionMade(self):
            self.producer = PullProducer(self.transport, [b"a" * 50000, b"b" * 50000])
            self.transport.registerProducer(self.producer, False)

    server, client, pump = tlsPair(clientProtocol=Pulling(), greet=False)
    assert client.wrappedProtocol.producer.asked == 0
    pump.flush()
    assert server.wrappedProtocol.received == b"a" * 50000 + b"b" * 50000
    assert server.wrappedProtocol.lost[0].check(ConnectionDone)


def test_producerRegisteredOnALostConnectionIsStopped():
    server, client, pump = tlsPair()
    client.abortConnection()
    pump.flush()
    producer = PushProducer()
    client.registerProducer(producer, True)
    assert producer.events == ["stop"]


def test_twoProducersAreRefused():
    server, client, pump = tlsPair()
    client.registerProducer(PushProducer(), True)
    with pytest.raises(RuntimeError):
        client.registerProducer(PushProducer(), True)


def test_pauseProducingPausesTheTransportBelow():
    server, client, pump = tlsPair()
    client.pauseProducing()
    server.write(b"held")
    pump.flush()
    assert client.wrappedProtocol.received == b""
    client.resumeProducing()
    pump.flush()
    assert client.wrappedProtocol.received == b"held"


# -- the factory --------------------------------------------------------------------------


class RecordingClientFactory(ClientFactory):
    protocol = Recorder

    def __init__(self):
        self.events = []

    def doStart(self):
        self.events.append("start")

    def doStop(self):
        self.events.append("stop")

    def startedConnecting(self, connector):
        self.events.append(("connecting", connector))

    def clientConnectionFailed(self, connector, reason):
        self.events.append(("failed", connector, reason))

    def clientConnectionLost(self, connector, reason):
        self.events.append(("lost", connector, reason))

    def clientConnectionMade(self, protocol):
        self.events.append(("made", protocol))


def test_factoryPassesEverythingToTheWrappedFactory():
    wrapped = RecordingClientFactory()
    factory = TLSMemoryBIOFactory(tlscerts.clientOptions(), True, wrapped)
    reason = Failure(ConnectionLost())
    factory.doStart()
    factory.startedConnecting("connector")
    protocol = factory.buildProtocol(None)
    factory.clientConnectionMade(protocol)
    factory.clientConnectionLost("connector", reason)
    factory.clientConnectionFailed("connector", reason)
    factory.doStop()
    assert isinstance(protocol, TLSMemoryBIOProtocol)
    assert wrapped.events == [
        "start",
        ("connecting", "connector"),
        ("made", protocol.wrappedProtocol),
        ("lost", "connector", reason),
        ("failed", "connector", reason),
        "stop",
    ]
    assert factory.logPrefix() == "RecordingClientFactory (TLS)"


def test_factoryRefusingAConnectionBuildsNoTLS():
    class Refusing(Factory):
        def buildProtocol(self, addr):
            return None

    assert (
        TLSMemoryBIOFactory(tlscerts.serverOptions(), False, Refusing()).buildProtocol(None) is None
    )


def test_transportAttributesComeFromBelow():
    server, client, pump = tlsPair()
    client.setTcpNoDelay(True)
    assert pump.clientTransport.getTcpNoDelay()
    assert client.getPeer() == pump.clientTransport.getPeer()
    assert client.logPrefix() == "Recorder (TLSMemoryBIOProtocol)"
    assert client.getHandle().get_app_data() is client
