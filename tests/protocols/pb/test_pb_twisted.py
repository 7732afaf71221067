"""
Wire compatibility with Twisted 26's Perspective Broker, both ways, over
real sockets on every reactor: a Loom client calls a Twisted PB server, and
a Twisted client calls a Loom server.  Twisted runs in a subprocess
(tests/protocols/pb/twistedpeer.py) with the test extras' Twisted.

Both servers have the same API (the Loom one is below, the Twisted one in
twistedpeer.py), so each side runs the same checks: values of every plain
type, nested Referenceables both ways, Copyable round trips, remote
exceptions, login with username and password (and anonymously),
Cacheable updates.

The Loom server logs in through protocols.cred's Portal; a refusal is
trapped on each side under that side's name for UnauthorizedLogin.
"""

import json
import os
import select
import subprocess
import sys

import pytest

from protocols.pb import pb
from protocols.protocol import ProcessProtocol
from reactor.defer import Deferred, DeferredList
from reactor.eventual import send, when

from .pbhelpers import (
    Anonymous,
    CountingClientFactory,
    Portal,
    Realm,
    UnauthorizedLogin,
    UsernamePassword,
)
from .pbsamples import SAMPLES

# Twisted is a test dependency (setup.cfg's test extras), so these run
# wherever `make test` does: a missing Twisted fails them, it never skips.
pytestmark = pytest.mark.timeout(60)

PEER = os.path.join(os.path.dirname(os.path.abspath(__file__)), "twistedpeer.py")


class Point(pb.Copyable):
    def __init__(self, x, y):
        self.x = x
        self.y = y

    def getTypeToCopy(self):
        return b"interop.Point"


class RemotePoint(pb.RemoteCopy):
    pass


pb.setUnjellyableForClass("interop.Point", RemotePoint)


class Counter(pb.Cacheable):
    def __init__(self):
        self.value = 0
        self.observers = []

    def getTypeToCopy(self):
        return b"interop.Counter"

    def getStateToCacheAndObserveFor(self, perspective, observer):
        self.observers.append(observer)
        return {"value": self.value}

    def stoppedObserving(self, perspective, observer):
        self.observers.remove(observer)

    def increment(self):
        self.value += 1
        for observer in self.observers:
            observer.callRemote("setValue", self.value)
        return self.value


class RemoteCounter(pb.RemoteCache):
    def setCopyableState(self, state):
        pb.RemoteCache.setCopyableState(self, state)
        self.seen = [self.value]

    def observe_setValue(self, value):
        self.value = value
        self.seen.append(value)


pb.setUnjellyableForClass("interop.Counter", RemoteCounter)


class Child(pb.Referenceable):
    def __init__(self, name):
        self.name = name

    def remote_name(self):
        return self.name


class Server(pb.Root):
    def __init__(self):
        self.children = []
        self.counter = Counter()

    def remote_echo(self, value):
        return value

    def remote_typeOf(self, value):
        return type(value).__name__

    def remote_samples(self):
        return SAMPLES

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

    def remote_counter(self):
        return self.counter

    def remote_increment(self):
        return self.counter.increment()


class Shouter(pb.Referenceable):
    def remote_shout(self, text):
        return text.upper()


class Mind(pb.Referenceable):
    def __init__(self):
        self.notes = []

    def remote_note(self, text):
        self.notes.append(text)
        return len(self.notes)


@pytest.fixture(scope="module")
def twistedServer():
    """A Twisted PB server in a subprocess: (root port, portal port)."""
    process = subprocess.Popen(
        [sys.executable, PEER, "server"],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
    )
    try:
        ready, _, _ = select.select([process.stdout], [], [], 30)
        line = process.stdout.readline().decode() if ready else ""
        assert line.startswith("PORTS "), "the Twisted server did not start: %r" % (line,)
        rootPort, portalPort = map(int, line.split()[1:])
        yield rootPort, portalPort
    finally:
        process.stdin.close()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        process.stdout.close()


def _connect(reactor, runUntil, port, factoryClass=pb.PBClientFactory):
    factory = factoryClass()
    reactor.connectTCP("127.0.0.1", port, factory)
    root = runUntil(reactor, factory.getRootObject())
    return factory, root


def _disconnect(reactor, runUntil, factory):
    lost = Deferred()
    factory._broker.notifyOnDisconnect(lambda: lost.callback(None))
    factory.disconnect()
    runUntil(reactor, lost)


# -- a Loom client, a Twisted server ---------------------------------------


def test_loomClientValues(reactor, runUntil, twistedServer):
    factory, root = _connect(reactor, runUntil, twistedServer[0])
    for name, value in SAMPLES.items():
        result = runUntil(reactor, root.callRemote("echo", value))
        assert (name, result, type(result)) == (name, value, type(value))
    assert runUntil(reactor, root.callRemote("samples")) == SAMPLES
    assert runUntil(reactor, root.callRemote("typeOf", True)) == "bool"
    assert runUntil(reactor, root.callRemote("typeOf", b"x")) == "bytes"
    assert runUntil(reactor, root.callRemote("typeOf", "x")) == "str"
    _disconnect(reactor, runUntil, factory)


def test_loomClientReferencesAndCopies(reactor, runUntil, twistedServer):
    factory, root = _connect(reactor, runUntil, twistedServer[0])
    child = runUntil(reactor, root.callRemote("child", "kid"))
    assert runUntil(reactor, child.callRemote("name")) == "kid"
    assert runUntil(reactor, root.callRemote("isChild", child)) is True
    assert runUntil(reactor, root.callRemote("callBack", Shouter(), "hey")) == "HEY"
    point = runUntil(reactor, root.callRemote("point", 1, 2))
    assert isinstance(point, RemotePoint) and (point.x, point.y) == (1, 2)
    moved = runUntil(reactor, root.callRemote("movePoint", Point(5, 6)))
    assert isinstance(moved, RemotePoint) and (moved.x, moved.y) == (6, 7)
    _disconnect(reactor, runUntil, factory)


def test_loomClientCacheable(reactor, runUntil, twistedServer):
    factory, root = _connect(reactor, runUntil, twistedServer[0])
    counter = runUntil(reactor, root.callRemote("counter"))
    assert isinstance(counter, RemoteCounter)
    start = counter.value
    assert runUntil(reactor, root.callRemote("increment")) == start + 1
    assert runUntil(reactor, root.callRemote("increment")) == start + 2
    assert counter.seen == [start, start + 1, start + 2]
    _disconnect(reactor, runUntil, factory)


def test_loomClientRemoteErrors(reactor, runUntil, twistedServer):
    factory, root = _connect(reactor, runUntil, twistedServer[0])
    failures = []
    root.callRemote("fail", "key").addErrback(failures.append)
    root.callRemote("fail", "pb").addErrback(failures.append)
    root.callRemote("noSuchThing").addErrback(failures.append)
    runUntil(reactor, root.callRemote("echo", 0))
    assert [failure.check(KeyError, pb.Error, pb.NoSuchMethod) for failure in failures] == [
        KeyError,
        pb.Error,
        pb.NoSuchMethod,
    ]
    assert failures[0].getErrorMessage() == "'missing'"
    assert failures[1].getErrorMessage() == "refused on purpose"
    with pytest.raises(pb.RemoteError):
        failures[0].raiseException()
    _disconnect(reactor, runUntil, factory)


def test_loomClientLogin(reactor, runUntil, twistedServer):
    factory = pb.PBClientFactory()
    reactor.connectTCP("127.0.0.1", twistedServer[1], factory)
    mind = Mind()
    avatar = runUntil(reactor, factory.login(UsernamePassword(b"alice", b"secret"), mind))
    assert runUntil(reactor, avatar.callRemote("whoami")) == b"alice"
    assert runUntil(reactor, avatar.callRemote("tellMind", "hello")) == 1
    assert mind.notes == ["hello"]
    _disconnect(reactor, runUntil, factory)
    factory = pb.PBClientFactory()
    reactor.connectTCP("127.0.0.1", twistedServer[1], factory)
    failures = []
    login = factory.login(UsernamePassword(b"alice", b"wrong"))
    login.addErrback(failures.append)
    runUntil(reactor, login)
    # Twisted's cred error, trapped by Loom's class of the same name.
    assert failures[0].trap(UnauthorizedLogin) is UnauthorizedLogin
    _disconnect(reactor, runUntil, factory)
    factory = pb.PBClientFactory()
    reactor.connectTCP("127.0.0.1", twistedServer[1], factory)
    avatar = runUntil(reactor, factory.login(Anonymous()))
    assert runUntil(reactor, avatar.callRemote("whoami")) == ()  # Twisted's ANONYMOUS
    _disconnect(reactor, runUntil, factory)


def test_loomClientPromisesFallBack(reactor, runUntil, twistedServer):
    # A Twisted server never offers the pipelining dialect: the chain waits
    # for each answer before sending the next message, and gets it right.
    factory, root = _connect(reactor, runUntil, twistedServer[0], CountingClientFactory)
    broker = factory._broker
    assert broker.currentDialect == b"pb" and not broker.pipelining
    broker.reset()
    chain = send(send(send(root).getBuilder("linux")).getBuild(-1)).getResults()
    assert runUntil(reactor, when(chain)) == "linux build -1: success"
    assert broker.roundTrips() == 3
    failed = send(send(root).fail("key")).getBuild(1)
    failures = []
    runUntil(reactor, when(failed).addErrback(failures.append))
    assert failures[0].check(KeyError) is KeyError
    assert runUntil(reactor, when(send(root).echo(5))) == 5
    _disconnect(reactor, runUntil, factory)


# -- a Twisted client, a Loom server ---------------------------------------


class _Collector(ProcessProtocol):
    def __init__(self):
        self.out = []
        self.err = []
        self.ended = Deferred()

    def outReceived(self, data):
        self.out.append(data)

    def errReceived(self, data):
        self.err.append(data)

    def processEnded(self, reason):
        self.ended.callback(None)


class _TrackingFactory(pb.PBServerFactory):
    def __init__(self, root):
        pb.PBServerFactory.__init__(self, root)
        self.gone = []

    def buildProtocol(self, addr):
        broker = pb.PBServerFactory.buildProtocol(self, addr)
        gone = Deferred()
        broker.notifyOnDisconnect(lambda: gone.callback(None))
        self.gone.append(gone)
        return broker


@pytest.fixture
def twistedClientResults(reactor, runUntil):
    """Run twistedpeer.py's client checks against Loom servers; return its results."""
    realm = Realm()
    rootFactory = _TrackingFactory(Server())
    portal = Portal(
        realm, {b"alice": b"secret"}, allowAnonymous=True, failureDelay=0.01, reactor=reactor
    )
    portalFactory = _TrackingFactory(portal)
    rootPort = reactor.listenTCP(0, rootFactory, interface="127.0.0.1")
    portalPort = reactor.listenTCP(0, portalFactory, interface="127.0.0.1")
    collector = _Collector()
    arguments = [sys.executable, PEER, "client"]
    arguments += [str(rootPort.getHost().port), str(portalPort.getHost().port)]
    reactor.spawnProcess(collector, sys.executable, arguments, env=dict(os.environ))
    runUntil(reactor, collector.ended, timeout=40)
    runUntil(reactor, DeferredList(rootFactory.gone + portalFactory.gone))
    for port in (rootPort, portalPort):
        stopped = port.stopListening()
        if stopped is not None:
            runUntil(reactor, stopped)
    output = b"".join(collector.out).decode()
    assert output, b"".join(collector.err).decode()
    outcome = json.loads(output.splitlines()[-1])
    assert "error" not in outcome, outcome["error"]
    return outcome["results"], realm


def test_twistedClient(twistedClientResults):
    results, realm = twistedClientResults
    assert results["echo"] == dict.fromkeys(SAMPLES, True)
    assert results["samples"] is True
    assert results["typeOfTrue"] == "bool"
    assert results["failKey"] == "RemoteError"  # what inlineCallbacks raises in Twisted
    assert results["failures"] == [[True, "'missing'"], [True, "refused on purpose"]]
    assert results["childName"] == "kid"
    assert results["childIsChild"] is True
    assert results["callBack"] == "HEY"
    assert results["point"] == ["RemotePoint", 1, 2]
    assert results["movePoint"] == ["RemotePoint", 6, 7]
    assert results["counter"] == ["RemoteCounter", 2, [0, 1, 2]]
    assert results["whoami"] == "b'alice'"
    assert results["tellMind"] == 1
    assert results["notes"] == ["hello"]
    # Loom's cred error, trapped by a Twisted client under Twisted's name.
    assert "twisted.cred.error.UnauthorizedLogin" in results["wrongPassword"]["parents"]
    assert results["anonymous"] == "()"  # cred's ANONYMOUS avatar ID
