"""
Promise pipelining over PB, in memory: ``send(ref).foo()`` on a
RemoteReference, messages pipelined to answers not known yet, what the far
side keeps and releases, the errors, the limits, and the sequential
fallback when the peer does not speak the pipelining dialect.

Time is a Clock: LaggedPair delivers each write 50 ms after it was made,
so "three dependent calls take one round trip" is asserted on Clock time;
the pump tests count pump rounds, each of which carries one request and
its answer.
"""

import gc

import pytest

from protocols.pb import _keptanswers, pb
from reactor import log
from reactor.address import IPv4Address
from reactor.defer import Deferred
from reactor.eventual import send, sendOnly, when
from reactor.failure import Failure
from reactor.task import Clock
from reactor.testing import EventLoggingObserver, connectedPair

from . import pbhelpers
from .pbhelpers import Portal, Realm

LATENCY = 0.05  # one way
ROUND_TRIP = 2 * LATENCY


class Builder(pbhelpers.Builder):
    """pbhelpers' Builder that records calls and can answer with itself."""

    def __init__(self, name, calls=None):
        pbhelpers.Builder.__init__(self, name)
        self.calls = calls

    def remote_record(self, n):
        self.calls.append(("record", n))
        return self

    def remote_me(self):
        return self


class Status(pb.Root):
    def __init__(self):
        self.calls = []
        self.later = None

    def remote_getBuilder(self, name):
        self.calls.append(("getBuilder", name))
        return Builder(name)

    def remote_slowBuilder(self, name):
        self.later = Deferred()
        return self.later.addCallback(lambda _: Builder(name, self.calls))

    def remote_number(self):
        return 7

    def remote_fail(self):
        raise KeyError("no such builder")

    def remote_note(self, text):
        self.calls.append(("note", text))


def _brokers(clock, serverDialects=None):
    server = pb.PBServerFactory(Status()).buildProtocol(None)
    client = pb.PBClientFactory().buildProtocol(None)
    if serverDialects is not None:
        server.knownDialects = serverDialects  # a peer without the dialect, as Twisted
    server.reactor = client.reactor = clock
    return server, client


def _pumped(clock=None, serverDialects=None):
    clock = clock or Clock()
    server, client = _brokers(clock, serverDialects)
    pump = connectedPair(server, client, clock=clock)
    return server, client, pump, client.remoteForName("root")


def _result(promise, pump):
    results = []
    when(promise).addBoth(results.append)
    pump.flush()
    assert results, "the promise did not resolve"
    return results[0]


def _chain(root):
    return send(send(send(root).getBuilder("linux")).getBuild(-1)).getResults()


# -- a connection with latency, on a Clock ---------------------------------


class LaggedTransport:
    """One end of an in-memory connection whose writes arrive LATENCY later on a Clock."""

    disconnecting = False

    def __init__(self, clock, protocol, host, peer):
        self.clock = clock
        self.protocol = protocol
        self.host = host
        self.peerAddress = peer
        self.other = None
        self.writes = 0

    def write(self, data):
        self.writes += 1
        self.clock.callLater(LATENCY, self.other.protocol.dataReceived, data)

    def writeSequence(self, data):
        self.write(b"".join(data))

    def loseConnection(self):
        self.disconnecting = True

    abortConnection = loseConnection

    def getHost(self):
        return self.host

    def getPeer(self):
        return self.peerAddress


def _lagged(serverDialects=None):
    clock = Clock()
    server, client = _brokers(clock, serverDialects)
    serverAddress = IPv4Address("TCP", "127.0.0.1", 80)
    clientAddress = IPv4Address("TCP", "127.0.0.1", 54321)
    serverTransport = LaggedTransport(clock, server, serverAddress, clientAddress)
    clientTransport = LaggedTransport(clock, client, clientAddress, serverAddress)
    serverTransport.other, clientTransport.other = clientTransport, serverTransport
    server.makeConnection(serverTransport)
    client.makeConnection(clientTransport)
    _advance(clock, 1.0)  # the dialect and versions
    return clock, server, client, client.remoteForName("root")


def _advance(clock, seconds):
    for _ in range(round(seconds / 0.005)):
        clock.advance(0.005)


def _timeChain(clock, root):
    finished = []
    start = clock.seconds()
    when(_chain(root)).addBoth(lambda result: finished.append((result, clock.seconds() - start)))
    _advance(clock, 1.0)
    assert finished, "the chain did not finish"
    return finished[0]


def test_pipelinedChainTakesOneRoundTrip():
    clock, server, client, root = _lagged()
    assert client.pipelining and server.pipelining
    result, elapsed = _timeChain(clock, root)
    assert result == "linux build -1: success"
    # One round trip (plus the eventual turn when() fires on), not three.
    assert ROUND_TRIP <= elapsed < 2 * ROUND_TRIP


def test_sequentialFallbackTakesThreeRoundTrips():
    clock, server, client, root = _lagged(serverDialects=[b"pb", b"none"])
    assert not client.pipelining and not server.pipelining
    result, elapsed = _timeChain(clock, root)
    assert result == "linux build -1: success"
    assert elapsed >= 3 * ROUND_TRIP


# -- pipelining, message by message -----------------------------------------


def test_sendToRemoteReference():
    server, client, pump, root = _pumped()
    assert _result(send(root).getBuilder("arm"), pump).__class__ is pb.RemoteReference
    assert _result(send(root).number(), pump) == 7


def test_chainInOnePumpRound():
    server, client, pump, root = _pumped()
    results = []
    when(_chain(root)).addBoth(results.append)
    pump.pump()  # the three requests out, the three answers back
    pump.pump()  # the eventual turn on which when() fires
    assert results == ["linux build -1: success"]


def test_fallbackChainTakesThreePumpRounds():
    server, client, pump, root = _pumped(serverDialects=[b"pb", b"none"])
    results = []
    when(_chain(root)).addBoth(results.append)
    rounds = 0
    while not results and rounds < 10:
        pump.pump()
        rounds += 1
    assert results == ["linux build -1: success"]
    assert rounds >= 3


def test_answersReleased():
    server, client, pump, root = _pumped()
    assert _result(_chain(root), pump) == "linux build -1: success"
    assert server.keptAnswers == {}
    assert client.keptRequests == set()


def test_pipelinedWhileAnswerPending():
    # The far side's answer is a Deferred: pipelined messages wait there.
    server, client, pump, root = _pumped()
    status = server.localObjectForID(b"root")
    builder = send(root).slowBuilder("mips")
    results = []
    when(send(send(builder).getBuild(3)).getResults()).addBoth(results.append)
    pump.flush()
    assert results == [] and len(server.keptAnswers) == 3
    status.later.callback(None)
    pump.flush()
    assert results == ["mips build 3: success"]
    assert server.keptAnswers == {} and client.keptRequests == set()


def test_longPipelinedChain(monkeypatch):
    # Settling one answer delivers the next message, whose answer settles...
    # 3000 deep without recursion.
    monkeypatch.setattr(_keptanswers, "MAX_KEPT_ANSWERS", 5000)
    server, client, pump, root = _pumped()
    status = server.localObjectForID(b"root")
    promise = send(root).slowBuilder("deep")
    for _ in range(3000):
        promise = send(promise).me()
    pump.flush()
    status.later.callback(None)
    result = _result(send(promise).getBuild(1), pump)
    assert isinstance(result, pb.RemoteReference)
    assert server.keptAnswers == {}


def test_pipelinedToFailedAnswer():
    server, client, pump, root = _pumped()
    failed = send(root).fail()
    build = send(failed).getBuild(1)
    result = _result(build, pump)
    assert isinstance(result, Failure)
    assert result.check(KeyError) is KeyError
    assert result.getErrorMessage() == "'no such builder'"
    assert isinstance(_result(failed, pump), Failure)
    assert server.keptAnswers == {}


def test_pipelinedToNonReferenceable():
    # The far side refuses what was pipelined to an int; this side delivers
    # it to the int instead, as the sequential path would.
    server, client, pump, root = _pumped()
    assert _result(send(send(root).number()).bit_length(), pump) == 3
    result = _result(send(send(root).number()).getBuild(1), pump)
    assert isinstance(result, Failure)
    assert result.check(AttributeError) is AttributeError
    assert result.getErrorMessage() == "'int' object has no attribute 'getBuild'"
    assert server.keptAnswers == {} and client.keptRequests == set()


def test_unknownAnswerAddressed():
    server, client, pump, root = _pumped()
    requestID, answer = client.sendRequest(b"answermessage", None, 999, b"getBuild", (1,), {})
    result = resultOf(answer, pump)
    assert result.check(pb.PipelineError) is pb.PipelineError
    assert "no answer to request 999 is kept" in result.getErrorMessage()
    client.releaseAnswer(requestID)
    pump.flush()
    assert server.keptAnswers == {} and not client.disconnected


def test_releasedAnswerAddressed():
    server, client, pump, root = _pumped()
    requestID, answer = client.sendRequest(b"keptmessage", None, b"root", b"number", (), {})
    assert resultOf(answer, pump) == 7
    client.releaseAnswer(requestID)
    late, answer = client.sendRequest(b"answermessage", None, requestID, b"getBuild", (1,), {})
    client.releaseAnswer(late)
    result = resultOf(answer, pump)
    assert result.check(pb.PipelineError) is pb.PipelineError
    assert server.keptAnswers == {}


def resultOf(deferred, pump):
    results = []
    deferred.addBoth(results.append)
    pump.flush()
    assert results
    return results[0]


def test_sendOnlyPipelined():
    server, client, pump, root = _pumped()
    status = server.localObjectForID(b"root")
    builder = send(root).getBuilder("x")
    sendOnly(root).note("first")
    sendOnly(builder).getBuild(1)
    pump.flush()
    assert status.calls == [("getBuilder", "x"), ("note", "first")]
    assert server.keptAnswers == {}


def test_orderKeptAcrossResolution():
    # Messages pipelined before the answer and sent after it reach the far
    # object in the order they were sent.
    server, client, pump, root = _pumped()
    seen = []

    class Recorder(pb.Referenceable):
        def remote_record(self, n):
            seen.append(n)

    status = server.localObjectForID(b"root")
    status.remote_recorder = Recorder
    recorder = send(root).recorder()
    for n in range(3):
        sendOnly(recorder).record(n)
    pump.pump()
    for n in range(3, 6):
        sendOnly(recorder).record(n)
    pump.flush()
    assert seen == [0, 1, 2, 3, 4, 5]


def test_pipelineLimitKeepsOrder(monkeypatch):
    # A message held in a promise because the limit was reached is not
    # overtaken by a later one pipelined once the limit frees up.
    monkeypatch.setattr(_keptanswers, "MAX_KEPT_ANSWERS", 2)
    server, client, pump, root = _pumped()
    status = server.localObjectForID(b"root")
    builder = send(root).slowBuilder("x")  # kept, answered later
    number = send(root).number()  # kept: the limit is reached
    sendOnly(builder).record(0)  # held in the promise
    pump.flush()  # number answered and released
    assert client.keptRequests and len(client.keptRequests) == 1
    last = send(send(builder).record(1)).record(2)
    pump.flush()
    status.later.callback(None)
    assert isinstance(_result(last, pump), pb.RemoteReference)
    assert _result(number, pump) == 7
    assert status.calls == [("record", 0), ("record", 1), ("record", 2)]
    assert server.keptAnswers == {} and client.keptRequests == set()


def _noArguments(broker):
    return broker.serialize(()), broker.serialize({})


def test_peerKeepingTooManyDisconnected(monkeypatch):
    monkeypatch.setattr(_keptanswers, "MAX_KEPT_ANSWERS", 3)
    server, client, pump, root = _pumped()
    observer = EventLoggingObserver()
    log.addObserver(observer)
    try:
        for _ in range(4):
            requestID = client.newRequestID()
            client.sendCall(b"keptmessage", requestID, b"root", b"number", 1, *_noArguments(client))
        pump.flush()
    finally:
        log.removeObserver(observer)
    assert server.disconnected
    assert any("more than 3 answers to keep" in str(event) for event in observer)


def test_requestIdReusedDisconnected():
    server, client, pump, root = _pumped()
    for _ in range(2):
        client.sendCall(b"keptmessage", 5, b"root", b"number", 1, *_noArguments(client))
    pump.flush()
    assert server.disconnected


def test_connectionLostBreaksPromises():
    server, client, pump, root = _pumped()
    status = server.localObjectForID(b"root")
    builder = send(root).slowBuilder("gone")
    build = send(builder).getBuild(1)
    pump.flush()
    assert len(server.keptAnswers) == 2
    client.transport.loseConnection()
    pump.flush()
    result = _result(build, pump)
    assert isinstance(result, Failure) and result.check(pb.PBConnectionLost)
    assert server.keptAnswers == {} and client.keptRequests == set()
    status.later.callback(None)  # answering a lost connection sends nothing
    assert server.keptAnswers == {}
    with pytest.raises(pb.DeadReferenceError):
        root.callRemote("number")
    assert isinstance(_result(send(root).number(), pump).value, pb.DeadReferenceError)


class Window(pb.Viewable):
    def view_whoSees(self, perspective):
        return repr(perspective)


def test_pipelinedToViewable():
    # A Viewable answer crosses as a ViewPoint: a message pipelined to it
    # reaches view_ with the caller's perspective (none, through the root).
    server, client, pump, root = _pumped()
    server.localObjectForID(b"root").remote_window = Window
    assert _result(send(send(root).window()).whoSees(), pump) == "None"


def test_pipelinedToAvatar():
    # An avatar from an anonymous login takes pipelined perspective_ calls,
    # and dropping it still logs out.
    realm = Realm()
    portal = Portal(realm, {}, allowAnonymous=True)
    clock = Clock()
    server = pb.PBServerFactory(portal).buildProtocol(None)
    client = pb.PBClientFactory().buildProtocol(None)
    server.reactor = client.reactor = clock
    pump = connectedPair(server, client, clock=clock)
    root = client.remoteForName("root")
    avatar = send(root).loginAnonymous(None)
    assert _result(send(avatar).whoami(), pump) == ()
    assert server.keptAnswers == {}
    [user] = realm.avatars
    del avatar
    gc.collect()
    pump.flush()
    assert user.loggedOut == 1
