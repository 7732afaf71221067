"""
A Twisted PB peer for the interoperability tests (test_pb_twisted.py), run
in a subprocess with Twisted from the test extras.  It imports nothing of
Loom's.

    twistedpeer.py server            listen on 127.0.0.1 port 0 with a Root
                                     and with a Portal; print "PORTS r p";
                                     run until stdin closes
    twistedpeer.py client ROOT PORTAL
                                     call a Loom server with the same API;
                                     print one JSON object of results, exit

The Root and the avatar here have the same methods as the Loom side's in
test_pb_twisted.py, so each side can run the same checks against the other.
"""

import json
import sys

from pbsamples import SAMPLES  # beside this script, on sys.path[0]
from twisted.cred import checkers, portal
from twisted.internet import defer, reactor, stdio
from twisted.internet.protocol import Protocol
from twisted.spread import pb


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


class Build(pb.Referenceable):
    def __init__(self, builder, number):
        self.builder = builder
        self.number = number

    def remote_getResults(self):
        return "%s build %d: success" % (self.builder, self.number)


class Builder(pb.Referenceable):
    def __init__(self, name):
        self.name = name

    def remote_getBuild(self, number):
        return Build(self.name, number)


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

    def remote_getBuilder(self, name):
        return Builder(name)


class User(pb.Avatar):
    def __init__(self, name, mind):
        self.name = name
        self.mind = mind

    def perspective_whoami(self):
        return self.name

    def perspective_tellMind(self, text):
        return self.mind.callRemote("note", text)


class Realm:
    def requestAvatar(self, avatarId, mind, *interfaces):
        return pb.IPerspective, User(avatarId, mind), lambda: None


from zope.interface import implementer  # noqa: E402

Realm = implementer(portal.IRealm)(Realm)


class Shouter(pb.Referenceable):
    def remote_shout(self, text):
        return text.upper()


class Mind(pb.Referenceable):
    def __init__(self):
        self.notes = []

    def remote_note(self, text):
        self.notes.append(text)
        return len(self.notes)


class StopOnEOF(Protocol):
    def connectionLost(self, reason):
        if reactor.running:
            reactor.stop()


def serve():
    from twisted.python import log

    log.startLogging(sys.stderr, setStdout=False)
    checker = checkers.InMemoryUsernamePasswordDatabaseDontUse(alice=b"secret")
    rootPort = reactor.listenTCP(0, pb.PBServerFactory(Server()), interface="127.0.0.1")
    thePortal = portal.Portal(Realm(), [checker, checkers.AllowAnonymousAccess()])
    portalPort = reactor.listenTCP(0, pb.PBServerFactory(thePortal), interface="127.0.0.1")
    stdio.StandardIO(StopOnEOF())
    print("PORTS %d %d" % (rootPort.getHost().port, portalPort.getHost().port), flush=True)
    reactor.run()


def describe(failure):
    return {"type": str(failure.type), "parents": [str(p) for p in failure.parents]}


@defer.inlineCallbacks
def checks(rootPort, portalPort):
    results = {}
    factory = pb.PBClientFactory()
    reactor.connectTCP("127.0.0.1", rootPort, factory)
    root = yield factory.getRootObject()
    echoed = {}
    for name, value in SAMPLES.items():
        result = yield root.callRemote("echo", value)
        echoed[name] = result == value and type(result) is type(value)
    results["echo"] = echoed
    results["typeOfTrue"] = yield root.callRemote("typeOf", True)
    samples = yield root.callRemote("samples")
    results["samples"] = samples == SAMPLES
    try:
        yield root.callRemote("fail", "key")
    except Exception as error:
        results["failKey"] = type(error).__name__
    failures = []
    d = root.callRemote("fail", "key")
    d.addErrback(lambda f: failures.append((f.check(KeyError) is KeyError, f.getErrorMessage())))
    yield d
    d = root.callRemote("fail", "pb")
    d.addErrback(lambda f: failures.append((f.check(pb.Error) is pb.Error, f.getErrorMessage())))
    yield d
    results["failures"] = failures
    child = yield root.callRemote("child", "kid")
    results["childName"] = yield child.callRemote("name")
    results["childIsChild"] = yield root.callRemote("isChild", child)
    results["callBack"] = yield root.callRemote("callBack", Shouter(), "hey")
    point = yield root.callRemote("point", 1, 2)
    results["point"] = [type(point).__name__, point.x, point.y]
    moved = yield root.callRemote("movePoint", Point(5, 6))
    results["movePoint"] = [type(moved).__name__, moved.x, moved.y]
    counter = yield root.callRemote("counter")
    yield root.callRemote("increment")
    yield root.callRemote("increment")
    results["counter"] = [type(counter).__name__, counter.value, counter.seen]
    factory.disconnect()

    loginFactory = pb.PBClientFactory()
    reactor.connectTCP("127.0.0.1", portalPort, loginFactory)
    from twisted.cred.credentials import UsernamePassword

    mind = Mind()
    avatar = yield loginFactory.login(UsernamePassword(b"alice", b"secret"), mind)
    results["whoami"] = repr((yield avatar.callRemote("whoami")))
    results["tellMind"] = yield avatar.callRemote("tellMind", "hello")
    results["notes"] = mind.notes
    loginFactory.disconnect()
    wrongFactory = pb.PBClientFactory()
    reactor.connectTCP("127.0.0.1", portalPort, wrongFactory)
    d = wrongFactory.login(UsernamePassword(b"alice", b"wrong"))
    d.addCallbacks(lambda avatar: {"type": "logged in"}, describe)
    results["wrongPassword"] = yield d
    wrongFactory.disconnect()
    from twisted.cred.credentials import Anonymous

    anonymousFactory = pb.PBClientFactory()
    reactor.connectTCP("127.0.0.1", portalPort, anonymousFactory)
    avatar = yield anonymousFactory.login(Anonymous())
    results["anonymous"] = repr((yield avatar.callRemote("whoami")))
    anonymousFactory.disconnect()
    return results


def runClient(rootPort, portalPort):
    outcome = {}

    def done(result):
        outcome["results"] = result

    def failed(failure):
        outcome["error"] = failure.getTraceback()

    d = checks(rootPort, portalPort)
    d.addCallbacks(done, failed)
    d.addBoth(lambda _: reactor.callLater(0.05, reactor.stop))
    reactor.callLater(20, reactor.stop)
    reactor.run()
    print(json.dumps(outcome, default=repr), flush=True)


if __name__ == "__main__":
    if sys.argv[1] == "server":
        serve()
    else:
        runClient(int(sys.argv[2]), int(sys.argv[3]))
