"""
Tests for protocols.finger: the protocol on StringTransport, the user sources
with task.Clock, the setter, the service, and the client against a real
server on every reactor.
"""

import sys

import pytest

from protocols.finger import (
    INTERNAL_ERROR,
    NO_SUCH_USER,
    CommandUserSource,
    DictUserSource,
    FileUserSource,
    FingerFactory,
    FingerService,
    parseQuery,
    parseUserFile,
    query,
)
from protocols.protocol import ClientFactory, Factory, Protocol
from reactor import defer, log
from reactor.error import ConnectionRefusedError, TimeoutError
from reactor.pytestplugin import runUntil
from reactor.task import Clock
from reactor.testing import StringTransport, connectedPair
from services.service import Application, IService, MultiService, Service


@pytest.fixture
def errors():
    """Collect the error events logged during the test."""
    collected = []

    def observer(event):
        if event.get("isError"):
            collected.append(event)

    log.addObserver(observer)
    yield collected
    log.removeObserver(observer)


def ask(factory, line):
    """Run one query through a protocol from factory; return the transport."""
    protocol = factory.buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    protocol.dataReceived(line)
    return transport


# -- parsing and the protocol --------------------------------------------------


def test_parseQuerySplitsVerbosePrefix():
    assert parseQuery(b"alice") == (b"alice", False)
    assert parseQuery(b"/W alice") == (b"alice", True)
    assert parseQuery(b"/wbob ") == (b"bob", True)
    assert parseQuery(b"") == (b"", False)
    assert parseQuery(b"/W") == (b"", True)


def test_knownUserGetsAnswerThenClose():
    transport = ask(FingerFactory({"alice": "Happy and well"}), b"alice\r\n")
    assert transport.value() == b"Happy and well\r\n"
    assert transport.disconnecting


def test_unknownUserGetsNoSuchUser():
    transport = ask(FingerFactory({"alice": "Happy"}), b"mallory\r\n")
    assert transport.value() == NO_SUCH_USER + b"\r\n"
    assert transport.disconnecting


def test_verboseQueryIsAnsweredLikePlainOne():
    transport = ask(FingerFactory({b"alice": b"Happy"}), b"/W alice\r\n")
    assert transport.value() == b"Happy\r\n"


def test_multiLineAnswerUsesCRLF():
    transport = ask(FingerFactory({"alice": "line one\nline two\n"}), b"alice\r\n")
    assert transport.value() == b"line one\r\nline two\r\n"


def test_emptyQueryListsUsers():
    transport = ask(FingerFactory({"bob": "x", "alice": "y"}), b"\r\n")
    assert transport.value() == b"alice\r\nbob\r\n"
    assert transport.disconnecting


def test_emptyQueryWithoutUserListIsPolite():
    class Source:
        def getUser(self, user):
            return b"whatever"

    transport = ask(FingerFactory(Source()), b"\r\n")
    assert b"ask for one by name" in transport.value()
    assert transport.disconnecting


def test_forwardingQueryIsRefused():
    asked = []

    class Source:
        def getUser(self, user):
            asked.append(user)
            return b"x"

    transport = ask(FingerFactory(Source()), b"alice@elsewhere.example\r\n")
    assert b"does not forward" in transport.value()
    assert asked == []


def test_answerWaitsForDeferred():
    d = defer.Deferred()

    class Source:
        def getUser(self, user):
            return d

    transport = ask(FingerFactory(Source()), b"alice\r\n")
    assert transport.value() == b"" and not transport.disconnecting
    d.callback("later")
    assert transport.value() == b"later\r\n"
    assert transport.disconnecting


def test_getUserRaisingGivesInternalError(errors):
    class Source:
        def getUser(self, user):
            raise RuntimeError("database on fire")

    transport = ask(FingerFactory(Source()), b"alice\r\n")
    assert transport.value() == INTERNAL_ERROR + b"\r\n"
    assert transport.disconnecting
    assert [e["failure"].type for e in errors] == [RuntimeError]


def test_getUserFailingDeferredGivesInternalError(errors):
    class Source:
        def getUser(self, user):
            return defer.fail(KeyError(user))

    transport = ask(FingerFactory(Source()), b"alice\r\n")
    assert transport.value() == INTERNAL_ERROR + b"\r\n"
    assert [e["failure"].type for e in errors] == [KeyError]


def test_answerOfWrongTypeGivesInternalError(errors):
    class Source:
        def getUser(self, user):
            return 42

    transport = ask(FingerFactory(Source()), b"alice\r\n")
    assert transport.value() == INTERNAL_ERROR + b"\r\n"
    assert [e["failure"].type for e in errors] == [TypeError]


def test_onlyFirstLineIsAnswered():
    asked = []

    class Source:
        def getUser(self, user):
            asked.append(user)
            return defer.Deferred()

    ask(FingerFactory(Source()), b"alice\r\nbob\r\n")
    assert asked == [b"alice"]


# -- user sources ------------------------------------------------------------------


def test_parseUserFileSkipsCommentsAndJunk():
    data = b"# users\nalice: Happy : really\n\nnocolon\n :no user\nbob:\r\n"
    assert parseUserFile(data) == {b"alice": b"Happy : really", b"bob": b""}


def test_dictSourceAnswersAndLists():
    source = DictUserSource({"alice": "Happy"})
    assert source.getUser("alice").result == b"Happy"
    assert source.getUser(b"zed").result == NO_SUCH_USER
    assert source.getUsers().result == [b"alice"]


def test_fileSourceReloadsAfterFileChanges(tmp_path):
    path = tmp_path / "users"
    path.write_bytes(b"alice:Happy\n")
    clock = Clock()
    source = FileUserSource(str(path), interval=10, reactor=clock)
    source.start()
    assert source.getUser(b"alice").result == b"Happy"
    path.write_bytes(b"alice:Sad\nbob:New here\n")
    clock.advance(9)
    assert source.getUser(b"alice").result == b"Happy"
    clock.advance(1)
    assert source.getUser(b"alice").result == b"Sad"
    assert source.getUser(b"bob").result == b"New here"
    source.stop()
    assert clock.getDelayedCalls() == []


def test_fileSourceKeepsUsersWhenFileVanishes(tmp_path):
    path = tmp_path / "users"
    path.write_bytes(b"alice:Happy\n")
    clock = Clock()
    source = FileUserSource(str(path), interval=5, reactor=clock)
    source.start()
    path.unlink()
    clock.advance(5)
    assert source.getUser(b"alice").result == b"Happy"
    assert clock.getDelayedCalls() != []  # still reloading
    source.stop()


def test_fingerServiceStartsAndStopsFileReloads(tmp_path):
    path = tmp_path / "users"
    path.write_bytes(b"alice:Happy\n")
    clock = Clock()
    service = FingerService(FileUserSource(str(path), interval=1, reactor=clock))
    parent = MultiService()
    service.setServiceParent(parent)
    parent.startService()
    assert service.running
    transport = ask(service.getFingerFactory(), b"alice\r\n")
    assert transport.value() == b"Happy\r\n"
    path.write_bytes(b"alice:Busy\n")
    clock.advance(1)
    assert ask(service.getFingerFactory(), b"alice\r\n").value() == b"Busy\r\n"
    parent.stopService()
    assert not service.running
    assert clock.getDelayedCalls() == []


def test_fingerServiceIsAServiceNotACopyOfOne():
    # One Service class, below protocols/ (protocols._servicebase), that
    # services.service re-exports: so FingerService gets everything Service
    # does, such as joining an Application, which adapts to its collection.
    service = FingerService({"alice": "Happy"})
    assert isinstance(service, Service) and IService.providedBy(service)
    application = Application("finger")
    service.setName("finger")
    service.setServiceParent(application)
    assert list(application) == [service]
    assert repr(service) == "<FingerService finger>"


def test_commandSourceAnswersWithCommandOutput(defaultReactor):
    source = CommandUserSource(
        sys.executable, ["-c", "import sys; print('info for', sys.argv[1])"], reactor=defaultReactor
    )
    assert runUntil(defaultReactor, source.getUser(b"alice"), timeout=20) == b"info for alice\n"


def test_commandSourceRefusesOddNames(defaultReactor):
    source = CommandUserSource("/nonexistent/never-run", reactor=defaultReactor)
    for name in (b"-l", b"../etc", b"a b", b"x;rm", b""):
        assert source.getUser(name).result == NO_SUCH_USER


def test_commandSourceFailureGivesInternalError(defaultReactor, errors):
    source = CommandUserSource("/nonexistent/program", reactor=defaultReactor)
    factory = FingerService(source).getFingerFactory()
    protocol = factory.buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    protocol.dataReceived(b"alice\r\n")
    d = defer.Deferred()
    defaultReactor.callLater(0, _pollUntil, defaultReactor, lambda: transport.disconnecting, d)
    runUntil(defaultReactor, d, timeout=20)
    assert transport.value() == INTERNAL_ERROR + b"\r\n"
    assert [e["failure"].type for e in errors] == [FileNotFoundError]


def _pollUntil(reactor, condition, d):
    if condition():
        d.callback(None)
    else:
        reactor.callLater(0.01, _pollUntil, reactor, condition, d)


# -- the service and the setter ----------------------------------------------------


def test_serviceAnswersSetStatusBeforeSource():
    service = FingerService({"alice": "from source", "bob": "bob's"})
    service.setUser("alice", "set by hand")
    assert service.getUser(b"alice").result == b"set by hand"
    assert service.getUser(b"bob").result == b"bob's"
    assert service.getUsers().result == [b"alice", b"bob"]
    service.setUser(b"alice", None)
    assert service.getUser(b"alice").result == b"from source"


def test_serviceWithoutSourceAnswersSetStatuses():
    service = FingerService(users={"carol": "Away"})
    assert service.getUser(b"carol").result == b"Away"
    assert service.getUser(b"dave").result == NO_SUCH_USER
    assert service.getUsers().result == [b"carol"]


def setStatus(service, payload):
    """Send payload through a setter connection in memory, then close it."""
    setter = service.getFingerSetterFactory().buildProtocol(None)
    client = Protocol()
    pump = connectedPair(setter, client)
    client.transport.write(payload)
    pump.flush()
    client.transport.loseConnection()
    pump.flush()


def test_setterUpdatesServiceOnClose():
    service = FingerService()
    setter = service.getFingerSetterFactory().buildProtocol(None)
    client = Protocol()
    pump = connectedPair(setter, client)
    client.transport.write(b"alice\r\nOn holiday\r\nBack Monday\r\n")
    pump.flush()
    assert service.getUser(b"alice").result == NO_SUCH_USER  # not before the close
    client.transport.loseConnection()
    pump.flush()
    assert service.users == {b"alice": b"On holiday\nBack Monday"}
    answer = ask(service.getFingerFactory(), b"alice\r\n").value()
    assert answer == b"On holiday\r\nBack Monday\r\n"


def test_setterWithUserAloneClearsStatus():
    service = FingerService(users={"alice": "Busy"})
    setStatus(service, b"alice\r\n")
    assert service.users == {}


def test_setterWithTooManyLinesChangesNothing():
    service = FingerService()
    setter = service.getFingerSetterFactory().buildProtocol(None)
    client = Protocol()
    pump = connectedPair(setter, client)
    client.transport.write(b"alice\r\n" + b"status\r\n" * 200)
    pump.flush()
    assert setter.transport.disconnected
    assert service.users == {}


# -- real sockets ------------------------------------------------------------------------


def listen(reactor, factory):
    return reactor.listenTCP(0, factory, interface="127.0.0.1")


def stop(reactor, port):
    runUntil(reactor, defer.maybeDeferred(port.stopListening))


def test_queryGetsAnswerFromRunningServer(reactor):
    service = FingerService({"alice": "Happy\nand well"})
    port = listen(reactor, service.getFingerFactory())
    try:
        d = query("127.0.0.1", port.getHost().port, "alice", reactor)
        assert runUntil(reactor, d) == b"Happy\r\nand well\r\n"
        d = query("127.0.0.1", port.getHost().port, b"nobody", reactor, verbose=True)
        assert runUntil(reactor, d) == NO_SUCH_USER + b"\r\n"
    finally:
        stop(reactor, port)


def test_setterOverSocketThenQuery(reactor):
    service = FingerService()
    fingerPort = listen(reactor, service.getFingerFactory())
    setterPort = listen(reactor, service.getFingerSetterFactory())
    try:
        done = defer.Deferred()

        class Setter(Protocol):
            def connectionMade(self):
                self.transport.write(b"alice\r\nWriting tests\r\n")
                self.transport.loseConnection()

        class SetterFactory(ClientFactory):
            protocol = Setter

            def clientConnectionLost(self, connector, reason):
                reactor.callLater(0, done.callback, None)

        reactor.connectTCP("127.0.0.1", setterPort.getHost().port, SetterFactory())
        runUntil(reactor, done)
        # The server side may see the close a turn after the client does.
        polled = defer.Deferred()
        _pollUntil(reactor, lambda: b"alice" in service.users, polled)
        runUntil(reactor, polled)
        d = query("127.0.0.1", fingerPort.getHost().port, "alice", reactor)
        assert runUntil(reactor, d) == b"Writing tests\r\n"
    finally:
        stop(reactor, fingerPort)
        stop(reactor, setterPort)


def test_queryFailsWhenRefused(reactor):
    port = listen(reactor, FingerFactory())
    number = port.getHost().port
    stop(reactor, port)
    with pytest.raises(ConnectionRefusedError):
        runUntil(reactor, query("127.0.0.1", number, "alice", reactor))


def test_queryTimesOutOnSilentServer(reactor):
    class Silent(Protocol):
        pass

    port = listen(reactor, Factory.forProtocol(Silent))
    try:
        d = query("127.0.0.1", port.getHost().port, "alice", reactor, timeout=0.2)
        with pytest.raises(TimeoutError):
            runUntil(reactor, d)
    finally:
        stop(reactor, port)
