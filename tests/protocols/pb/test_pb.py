"""
protocols.pb.pb over an in-memory connection: calls, references both ways,
copies, caches, views, login through a portal, errors, disconnection, and
peers that break the protocol.
"""

import gc

import pytest
from zope.interface import implementer

from protocols.cred.error import UnhandledCredentials
from protocols.pb import banana, jelly, pb
from reactor import log
from reactor.defer import Deferred, inlineCallbacks
from reactor.failure import Failure
from reactor.testing import EventLoggingObserver

from .pbhelpers import (
    Anonymous,
    Portal,
    Realm,
    UnauthorizedLogin,
    UsernamePassword,
    connect,
    resultOf,
)


class Point(pb.Copyable):
    def __init__(self, x, y):
        self.x = x
        self.y = y


class RemotePoint(pb.RemoteCopy):
    pass


pb.setUnjellyableForClass(Point, RemotePoint)


class Secret(pb.Copyable):
    """A Copyable nobody registered a RemoteCopy for."""

    def __init__(self):
        self.value = 1


class Counter(pb.Cacheable):
    def __init__(self):
        self.value = 0
        self.observers = []
        self.stopped = []

    def getStateToCacheAndObserveFor(self, perspective, observer):
        self.observers.append(observer)
        return {"value": self.value}

    def stoppedObserving(self, perspective, observer):
        self.observers.remove(observer)
        self.stopped.append(observer)

    def increment(self):
        self.value += 1
        return [observer.callRemote("setValue", self.value) for observer in self.observers]


class RemoteCounter(pb.RemoteCache):
    def setCopyableState(self, state):
        pb.RemoteCache.setCopyableState(self, state)
        self.seen = [state["value"]]

    def observe_setValue(self, value):
        self.value = value
        self.seen.append(value)


pb.setUnjellyableForClass(Counter, RemoteCounter)


class Child(pb.Referenceable):
    def __init__(self, name):
        self.name = name

    def remote_name(self):
        return self.name


class Board(pb.Viewable):
    def view_whoIsLooking(self, perspective):
        return perspective.name


class Server(pb.Root):
    def __init__(self):
        self.children = []
        self.counter = Counter()
        self.later = Deferred()

    def remote_echo(self, value):
        return value

    def remote_add(self, a, b=0):
        return a + b

    def remote_fail(self, kind):
        if kind == "key":
            raise KeyError("missing")
        raise pb.Error("refused on purpose")

    def remote_child(self, name):
        child = Child(name)
        self.children.append(child)
        return child

    def remote_callBack(self, ref, text):
        return ref.callRemote("shout", text)

    def remote_isChild(self, thing):
        return thing in self.children

    def remote_point(self, x, y):
        return Point(x, y)

    def remote_movePoint(self, point):
        return Point(point.x + 1, point.y + 1)

    def remote_secret(self):
        return Secret()

    def remote_counter(self):
        return self.counter

    def remote_later(self):
        return self.later

    def remote_typeOf(self, value):
        return type(value).__name__


class Shouter(pb.Referenceable):
    def remote_shout(self, text):
        return text.upper()


class Mind(pb.Referenceable):
    def __init__(self):
        self.notes = []

    def remote_note(self, text):
        self.notes.append(text)
        return len(self.notes)


@pytest.fixture
def logged(request):
    return EventLoggingObserver.createWithCleanup(request, log)


@pytest.fixture
def served():
    """A Server, and a connected client's root reference and pump."""
    root = Server()
    serverFactory = pb.PBServerFactory(root)
    clientFactory = pb.PBClientFactory()
    server, client, pump = connect(serverFactory, clientFactory)
    reference = resultOf(clientFactory.getRootObject(), pump)
    return root, reference, pump, server, client


VALUES = [
    0,
    -7,
    2**31,
    -(2**40),
    2**100,
    2.5,
    -0.0,
    "h\xe9llo",
    "",
    b"\x00\xff",
    b"",
    None,
    True,
    False,
    [1, [2, "x"]],
    (1, (2,), ()),
    {"a": 1, 2: [None], (3, 4): {"nested": b"y"}},
    {1, 2},
]


@pytest.mark.parametrize("value", VALUES, ids=repr)
def test_callRemoteRoundTripsValues(served, value):
    root, reference, pump, server, client = served
    result = resultOf(reference.callRemote("echo", value), pump)
    assert result == value and type(result) is type(value)


def test_keywordArguments(served):
    root, reference, pump, server, client = served
    assert resultOf(reference.callRemote("add", 2, b=3), pump) == 5
    assert resultOf(reference.remoteMethod("add")(4), pump) == 4


def test_boolsStayBools(served):
    root, reference, pump, server, client = served
    assert resultOf(reference.callRemote("typeOf", True), pump) == "bool"


def test_deferredAnswer(served):
    root, reference, pump, server, client = served
    answer = []
    reference.callRemote("later").addCallback(answer.append)
    pump.flush()
    assert answer == []
    root.later.callback({"done": True})
    pump.flush()
    assert answer == [{"done": True}]


def test_remoteExceptionTrapsByClass(served, logged):
    root, reference, pump, server, client = served
    failure = resultOf(reference.callRemote("fail", "key"), pump)
    assert isinstance(failure, pb.CopiedFailure)
    assert failure.trap(KeyError) is KeyError
    assert failure.check(LookupError) is LookupError
    assert failure.check(ValueError) is None
    assert failure.type == "builtins.KeyError"
    assert failure.value == "'missing'"
    with pytest.raises(pb.RemoteError) as raised:
        failure.trap(ValueError)
    assert raised.value.remoteType == "builtins.KeyError"
    # The server logs what it sends; a pb.Error is sent without logging.
    assert any(event.get("failure") and event["failure"].check(KeyError) for event in logged)
    before = len(logged)
    failure = resultOf(reference.callRemote("fail", "pb"), pump)
    assert failure.check(pb.Error)
    assert failure.getErrorMessage() == "refused on purpose"
    assert [event for event in logged[before:] if event.get("isError")] == []


def test_remoteErrorInInlineCallbacks(served):
    root, reference, pump, server, client = served

    @inlineCallbacks
    def call():
        try:
            yield reference.callRemote("fail", "key")
        except pb.RemoteError as error:
            return error.remoteType

    assert resultOf(call(), pump) == "builtins.KeyError"


def test_tracebacksStayHomeUnlessUnsafe():
    for unsafe in (False, True):
        serverFactory = pb.PBServerFactory(Server(), unsafeTracebacks=unsafe)
        clientFactory = pb.PBClientFactory()
        server, client, pump = connect(serverFactory, clientFactory)
        reference = resultOf(clientFactory.getRootObject(), pump)
        failure = resultOf(reference.callRemote("fail", "key"), pump)
        assert ("remote_fail" in failure.getTraceback()) is unsafe


def test_noSuchMethod(served):
    root, reference, pump, server, client = served
    failure = resultOf(reference.callRemote("nothing"), pump)
    assert failure.check(pb.NoSuchMethod)
    assert resultOf(reference.callRemote("add", 1, 2), pump) == 3


def test_referenceablesBothWays(served):
    root, reference, pump, server, client = served
    child = resultOf(reference.callRemote("child", "kid"), pump)
    assert isinstance(child, pb.RemoteReference)
    assert resultOf(child.callRemote("name"), pump) == "kid"
    # Our own Referenceable, called back by the server.
    assert resultOf(reference.callRemote("callBack", Shouter(), "hey"), pump) == "HEY"
    # The server's reference coming home is the server's own object.
    assert resultOf(reference.callRemote("isChild", child), pump) is True


def test_sameObjectSameReference(served):
    root, reference, pump, server, client = served
    first = resultOf(reference.callRemote("echo", root.remote_child("x")), pump)
    second = resultOf(reference.callRemote("echo", root.children[0]), pump)
    assert first == second and hash(first) == hash(second)


def test_droppedReferenceIsForgotten(served):
    root, reference, pump, server, client = served
    child = resultOf(reference.callRemote("child", "kid"), pump)
    luid = child.luid
    assert server.localObjectForID(luid) is root.children[0]
    del child
    gc.collect()
    pump.flush()
    assert server.localObjectForID(luid) is None


def test_copyableRoundTrip(served):
    root, reference, pump, server, client = served
    point = resultOf(reference.callRemote("point", 1, 2), pump)
    assert isinstance(point, RemotePoint) and (point.x, point.y) == (1, 2)
    moved = resultOf(reference.callRemote("movePoint", Point(5, 6)), pump)
    assert (moved.x, moved.y) == (6, 7)


def test_unregisteredCopyableIsRefused(served):
    root, reference, pump, server, client = served
    failure = resultOf(reference.callRemote("secret"), pump)
    assert failure.check(jelly.InsecureJelly)
    # An unregistered class sent as an argument is refused by the server,
    # which answers with an error; the connection goes on.
    jellied = []

    class Unknown(pb.Copyable):
        def __init__(self):
            jellied.append(self)

    failure = resultOf(reference.callRemote("echo", Unknown()), pump)
    assert failure.check(jelly.InsecureJelly)
    assert len(jellied) == 1
    assert resultOf(reference.callRemote("add", 1, 1), pump) == 2


def test_cacheableUpdates(served):
    root, reference, pump, server, client = served
    copy = resultOf(reference.callRemote("counter"), pump)
    assert isinstance(copy, RemoteCounter) and copy.value == 0
    assert len(root.counter.observers) == 1
    for deferred in root.counter.increment():
        resultOf(deferred, pump)
    root.counter.increment()
    pump.flush()
    assert copy.value == 2 and copy.seen == [0, 1, 2]
    again = resultOf(reference.callRemote("counter"), pump)
    assert again is not copy and again == copy and again.value == 2
    assert len(root.counter.observers) == 1
    del copy, again
    gc.collect()
    pump.flush()
    assert root.counter.observers == [] and len(root.counter.stopped) == 1


def test_cacheableStopsObservingOnDisconnect(served):
    root, reference, pump, server, client = served
    copy = resultOf(reference.callRemote("counter"), pump)
    client.transport.loseConnection()
    pump.flush()
    assert root.counter.observers == []
    assert copy.value == 0


def test_notifyOnDisconnectAndPBConnectionLost(served):
    root, reference, pump, server, client = served
    notified = []
    reference.notifyOnDisconnect(notified.append)
    pending = reference.callRemote("later")
    client.transport.loseConnection()
    failure = resultOf(pending, pump)
    assert failure.check(pb.PBConnectionLost)
    assert notified == [reference]
    with pytest.raises(pb.DeadReferenceError):
        reference.callRemote("add", 1, 2)


def test_dontNotifyOnDisconnect(served):
    root, reference, pump, server, client = served
    notified = []
    reference.notifyOnDisconnect(notified.append)
    reference.dontNotifyOnDisconnect(notified.append)
    client.transport.loseConnection()
    pump.flush()
    assert notified == []


def test_noAnswerWanted(served):
    root, reference, pump, server, client = served
    assert reference.callRemote("child", "quiet", pbanswer=False) is None
    pump.flush()
    assert [child.name for child in root.children] == ["quiet"]


def test_clientFactoryDisconnect(served):
    root, reference, pump, server, client = served
    client.factory.disconnect()
    pump.flush()
    assert server.disconnected and client.disconnected


def test_getRootObjectFailsWhenConnectionFails():
    factory = pb.PBClientFactory()
    waiting = factory.getRootObject()
    failures = []
    waiting.addErrback(failures.append)
    factory.clientConnectionFailed(None, Failure(ConnectionRefusedError()))
    assert failures[0].check(ConnectionRefusedError)


# -- Viewable and login --------------------------------------------------


class ViewingUser(pb.Avatar):
    def __init__(self, name):
        self.name = name

    def perspective_board(self):
        return BOARD


BOARD = Board()


def test_viewableSeesTheCallersPerspective():
    class ViewRealm:
        def requestAvatar(self, avatarId, mind, *interfaces):
            return pb.IPerspective, ViewingUser(avatarId), lambda: None

    portal = Portal(ViewRealm(), {b"alice": b"pw", b"bob": b"pw2"})
    boards = []
    for name, password in ((b"alice", b"pw"), (b"bob", b"pw2")):
        clientFactory = pb.PBClientFactory()
        server, client, pump = connect(pb.PBServerFactory(portal), clientFactory)
        avatar = resultOf(clientFactory.login(UsernamePassword(name, password)), pump)
        board = resultOf(avatar.callRemote("board"), pump)
        assert resultOf(board.callRemote("whoIsLooking"), pump) == name
        boards.append(board)


def _login(portal, credentials, mind=None):
    clientFactory = pb.PBClientFactory()
    server, client, pump = connect(pb.PBServerFactory(portal), clientFactory)
    return resultOf(clientFactory.login(credentials, mind), pump), pump, client


def test_loginWithUsernameAndPassword():
    realm = Realm()
    portal = Portal(realm, {b"alice": b"secret"})
    mind = Mind()
    avatar, pump, client = _login(portal, UsernamePassword(b"alice", b"secret"), mind)
    assert isinstance(avatar, pb.RemoteReference)
    assert resultOf(avatar.callRemote("whoami"), pump) == b"alice"
    assert resultOf(avatar.callRemote("tellMind", "hello"), pump) == 1
    assert mind.notes == ["hello"]


def test_loginWithWrongPassword(logged):
    realm = Realm()
    portal = Portal(realm, {b"alice": b"secret"})
    failure, pump, client = _login(portal, UsernamePassword(b"alice", b"guess"))
    assert isinstance(failure, Failure)
    assert failure.check(UnauthorizedLogin)
    assert realm.avatars == []
    failure, pump, client = _login(portal, UsernamePassword(b"mallory", b"secret"))
    assert failure.check(UnauthorizedLogin)


def test_loginAnonymous():
    realm = Realm()
    failure, pump, client = _login(Portal(realm, {}), Anonymous())
    assert failure.check(UnhandledCredentials)  # no checker takes anonymous ones
    avatar, pump, client = _login(Portal(realm, {}, allowAnonymous=True), Anonymous())
    assert resultOf(avatar.callRemote("whoami"), pump) == ()  # cred's ANONYMOUS


def test_logoutOnDisconnectOnce():
    realm = Realm()
    avatar, pump, client = _login(Portal(realm, {b"a": b"p"}), UsernamePassword(b"a", b"p"))
    client.transport.loseConnection()
    pump.flush()
    del avatar
    gc.collect()
    assert [user.loggedOut for user in realm.avatars] == [1]


def test_logoutWhenAvatarDropped():
    realm = Realm()
    avatar, pump, client = _login(Portal(realm, {b"a": b"p"}), UsernamePassword(b"a", b"p"))
    del avatar
    gc.collect()
    pump.flush()
    assert [user.loggedOut for user in realm.avatars] == [1]
    client.transport.loseConnection()
    pump.flush()
    assert [user.loggedOut for user in realm.avatars] == [1]


def test_serverFactoryRefusesOtherRoots():
    with pytest.raises(TypeError):
        pb.PBServerFactory(object())


def test_respondIsTwistedsDoubleMD5():
    import hashlib

    expected = hashlib.md5(hashlib.md5(b"pw").digest() + b"challenge").digest()
    assert pb.respond(b"challenge", b"pw") == expected == pb.respond(b"challenge", "pw")


# -- peers breaking the rules ----------------------------------------------


def _texts(events):
    return [log.textFromEventDict(event) or "" for event in events]


@pytest.mark.parametrize(
    "expression, reason",
    [
        ([b"answer", 999, 1], "bad answer command"),
        ([b"error", 999, [b"None"]], "bad error command"),
        ([b"version", 5], "Version Incompatibility"),
        ([b"message", 1, b"root"], "bad message command"),
        ([b"message", b"id", b"root", b"echo", 1, [b"tuple"], [b"dictionary"]], "not an int"),
        (7, "non-command expression"),
    ],
)
def test_brokenPeerIsDisconnectedOthersGoOn(logged, expression, reason):
    root = Server()
    factory = pb.PBServerFactory(root)
    badFactory, goodFactory = pb.PBClientFactory(), pb.PBClientFactory()
    badServer, badClient, badPump = connect(factory, badFactory)
    goodServer, goodClient, goodPump = connect(factory, goodFactory)
    goodRoot = resultOf(goodFactory.getRootObject(), goodPump)
    badClient.sendEncoded(expression)
    badPump.flush()
    assert badServer.disconnected
    assert any(reason in text and "disconnecting" in text for text in _texts(logged))
    assert resultOf(goodRoot.callRemote("add", 2, 2), goodPump) == 4


def test_unknownCommandIsAnsweredNotFatal(served):
    root, reference, pump, server, client = served
    received = []
    client.proto_didNotUnderstand = received.append
    client.sendCall(b"pipelinedMessage", 1)
    pump.flush()
    assert received == [b"pipelinedMessage"]
    assert not server.disconnected


def test_oversizedArgumentFailsTheCallOnly(served):
    root, reference, pump, server, client = served
    failure = resultOf(reference.callRemote("echo", b"x" * (banana.SIZE_LIMIT + 1)), pump)
    assert failure.check(banana.BananaError)
    assert resultOf(reference.callRemote("add", 1, 2), pump) == 3


def test_oversizedAnswerIsAnError(served):
    root, reference, pump, server, client = served
    root.remote_big = lambda: b"x" * (banana.SIZE_LIMIT + 1)
    failure = resultOf(reference.callRemote("big"), pump)
    assert failure.check(banana.BananaError)
    assert resultOf(reference.callRemote("add", 1, 2), pump) == 3


def test_remoteErrorPassedOnKeepsItsNames(served):
    # A server that relays a call to another server hands the caller the
    # original error, which still traps by its class.
    root, reference, pump, server, client = served

    class Relay(pb.Root):
        def remote_relay(self, kind):
            return reference.callRemote("fail", kind)

    relayFactory = pb.PBClientFactory()
    relayServer, relayClient, relayPump = connect(pb.PBServerFactory(Relay()), relayFactory)
    relayRoot = resultOf(relayFactory.getRootObject(), relayPump)
    relayed = relayRoot.callRemote("relay", "key")
    relayPump.flush()
    pump.flush()
    failure = resultOf(relayed, relayPump)
    assert failure.check(KeyError) is KeyError
    assert failure.getErrorMessage() == "'missing'"


def test_tooManyReferencesFailsThenDisconnects(served, logged):
    root, reference, pump, server, client = served
    for index in range(pb.MAX_BROKER_REFS):  # the root is one more
        server.registerReference(Child(str(index)))
    failures = [resultOf(reference.callRemote("child", "one more"), pump) for _ in range(4)]
    assert [failure.check(pb.Error) for failure in failures[:3]] == [pb.Error] * 3
    assert server.disconnected


def test_perspectiveGetsTheMethodNameAsText():
    seen = []

    @implementer(pb.IPerspective)
    class Raw:
        def perspectiveMessageReceived(self, broker, message, args, kw):
            seen.append(message)
            return broker.serialize(len(broker.unserialize(args)))

    class RawRealm:
        def requestAvatar(self, avatarId, mind, *interfaces):
            return pb.IPerspective, Raw(), lambda: None

    avatar, pump, client = _login(Portal(RawRealm(), {b"a": b"p"}), UsernamePassword(b"a", b"p"))
    assert resultOf(avatar.callRemote("count", 1, 2, 3), pump) == 3
    assert seen == ["count"]


class Plain:
    def __init__(self, value):
        self.value = value


def test_securityOptionsAllowPlainInstances():
    security = jelly.SecurityOptions()
    security.allowInstancesOf(Plain)
    serverFactory = pb.PBServerFactory(Server(), security=security)
    clientFactory = pb.PBClientFactory(security=security)
    server, client, pump = connect(serverFactory, clientFactory)
    reference = resultOf(clientFactory.getRootObject(), pump)
    echoed = resultOf(reference.callRemote("echo", Plain([1])), pump)
    assert isinstance(echoed, Plain) and echoed.value == [1]
    # With the global options, the same instance crosses as unpersistable.
    otherFactory = pb.PBClientFactory()
    server, client, pump = connect(pb.PBServerFactory(Server()), otherFactory)
    reference = resultOf(otherFactory.getRootObject(), pump)
    assert isinstance(resultOf(reference.callRemote("echo", Plain([1])), pump), jelly.Unpersistable)


def test_copiedFailureAsFuture(served):
    # An asyncio Future following a call that failed remotely gets the
    # RemoteError a CopiedFailure raises (its value is only text).
    import asyncio

    root, reference, pump, server, client = served
    loop = asyncio.new_event_loop()
    try:
        future = reference.callRemote("fail", "key").asFuture(loop)
        pump.flush()
        error = future.exception()
        assert isinstance(error, pb.RemoteError) and error.remoteType == "builtins.KeyError"
    finally:
        loop.close()
