"""
Helpers of the PB tests: an in-memory connection between two factories, a
cred Portal with passwords in memory, a realm of avatars that count
their logouts, a client Broker that counts round trips, a TCP
forwarder that adds latency, and a loopback connection between Loom peers
with or without pipelining.
"""

from protocols.cred import portal
from protocols.cred.checkers import AllowAnonymousAccess, InMemoryUsernamePasswordDatabaseDontUse
from protocols.cred.credentials import Anonymous, UsernamePassword
from protocols.cred.error import UnauthorizedLogin
from protocols.pb import pb
from protocols.portforward import ProxyClient, ProxyClientFactory, ProxyFactory, ProxyServer
from reactor.defer import Deferred, succeed
from reactor.eventual import when
from reactor.testing import connectedPair

__all__ = ["Anonymous", "Portal", "UnauthorizedLogin", "UsernamePassword", "connect", "resultOf"]


def connect(serverFactory, clientFactory):
    """Connect the factories' brokers in memory; return (server, client, pump)."""
    server = serverFactory.buildProtocol(None)
    client = clientFactory.buildProtocol(None)
    pump = connectedPair(server, client)
    return server, client, pump


def resultOf(deferred, pump):
    """Flush pump and return deferred's result (a Failure if it failed)."""
    results = []
    deferred.addBoth(results.append)
    pump.flush()
    assert results, "the Deferred did not fire"
    return results[0]


def Portal(realm, passwords, allowAnonymous=False, failureDelay=0, reactor=None):
    """
    A cred Portal for realm: passwords ({username: password}, bytes) in
    memory, anonymous access if allowed, refusals reported after
    failureDelay (none by default, so in-memory tests need no reactor).
    """
    checker = InMemoryUsernamePasswordDatabaseDontUse()
    for username, password in passwords.items():
        checker.addUser(username, password)
    checkers = [checker, AllowAnonymousAccess()] if allowAnonymous else [checker]
    return portal.Portal(realm, checkers, failureDelay=failureDelay, reactor=reactor)


class User(pb.Avatar):
    """An avatar that knows its name, its mind, and counts its logouts."""

    def __init__(self, name, mind):
        self.name = name
        self.mind = mind
        self.loggedOut = 0

    def perspective_whoami(self):
        return self.name

    def perspective_tellMind(self, text):
        return self.mind.callRemote("note", text)

    def logout(self):
        self.loggedOut += 1


class Realm:
    def __init__(self):
        self.avatars = []

    def requestAvatar(self, avatarId, mind, *interfaces):
        assert pb.IPerspective in interfaces
        avatar = User(avatarId, mind)
        self.avatars.append(avatar)
        return pb.IPerspective, avatar, avatar.logout


class CountingBroker(pb.Broker):
    """
    A client Broker that counts round trips: each request it sends records
    how many answers had come by then.  Requests sent before any of the
    answers to the others came share one round trip; a request that had to
    wait for an answer starts a new one.
    """

    def __init__(self, *args, **kwargs):
        pb.Broker.__init__(self, *args, **kwargs)
        self.answersSeen = 0
        self.requests = []

    def sendCall(self, *expression):
        if expression[0] in (b"message", b"keptmessage", b"answermessage"):
            self.requests.append(self.answersSeen)
        pb.Broker.sendCall(self, *expression)

    def expressionReceived(self, expression):
        if type(expression) is list and expression and expression[0] in (b"answer", b"error"):
            self.answersSeen += 1
        pb.Broker.expressionReceived(self, expression)

    def roundTrips(self):
        """Round trips since the last reset: distinct answer counts at sending."""
        return len(set(self.requests))

    def reset(self):
        """Forget the requests counted so far."""
        self.requests = []


class CountingClientFactory(pb.PBClientFactory):
    protocol = CountingBroker


class _SlowProxyClient(ProxyClient):
    def connectionMade(self):
        self.factory.server.factory.opened()
        ProxyClient.connectionMade(self)

    def dataReceived(self, data):
        self.factory.server.factory.relayLater(self.peer, data)

    def connectionLost(self, reason):
        ProxyClient.connectionLost(self, reason)
        self.factory.server.factory.closed()


class _SlowProxyClientFactory(ProxyClientFactory):
    protocol = _SlowProxyClient


class _SlowProxyServer(ProxyServer):
    clientProtocolFactory = _SlowProxyClientFactory

    def connectionMade(self):
        self.factory.opened()
        ProxyServer.connectionMade(self)

    def dataReceived(self, data):
        if self.peer is None:
            ProxyServer.dataReceived(self, data)
        else:
            self.factory.relayLater(self.peer, data)

    def connectionLost(self, reason):
        ProxyServer.connectionLost(self, reason)
        self.factory.closed()


class LatencyProxyFactory(ProxyFactory):
    """
    A TCP forwarder (protocols.portforward) that delivers each chunk
    `latency` seconds after it arrived, each way, on the reactor's timers.
    ``whenIdle()`` gives a Deferred fired once no chunk is in flight and
    no connection open, for the end of a test.
    """

    protocol = _SlowProxyServer

    def __init__(self, host, port, reactor, latency):
        ProxyFactory.__init__(self, host, port, reactor)
        self.latency = latency
        self.busy = 0
        self.idleWaiters = []

    def opened(self):
        self.busy += 1

    def closed(self):
        self.busy -= 1
        self._checkIdle()

    def relayLater(self, peer, data):
        self.busy += 1
        self.reactor.callLater(self.latency, self._relay, peer, data)

    def _relay(self, peer, data):
        if peer.transport is not None and not peer.transport.disconnected:
            peer.transport.write(data)
        self.closed()

    def _checkIdle(self):
        if not self.busy:
            waiters, self.idleWaiters = self.idleWaiters, []
            for waiter in waiters:
                waiter.callback(None)

    def whenIdle(self):
        """A Deferred fired once nothing is in flight and no connection is open."""
        if not self.busy:
            return succeed(None)
        waiter = Deferred()
        self.idleWaiters.append(waiter)
        return waiter


class Build(pb.Referenceable):
    """The last step of the chains the pipelining tests send (Buildbot's shape)."""

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


class PlainBroker(pb.Broker):
    """A Loom server Broker that offers only Twisted's dialects: no pipelining."""

    knownDialects = [b"pb", b"none"]


class Connection:
    """
    A Loom server of root (pipelining or not) and a round-counting Loom
    client, over TCP on 127.0.0.1: ``root`` is the client's reference to
    it, ``serverRoot`` the object itself, ``broker`` the client's Broker,
    ``serverBrokers`` the server's.
    """

    def __init__(self, reactor, runUntil, root, pipelining):
        self.reactor = reactor
        self.runUntil = runUntil
        self.serverRoot = root
        self.closed = False
        serverFactory = pb.PBServerFactory(root)
        if not pipelining:
            serverFactory.protocol = PlainBroker
        self.serverBrokers = []
        build = serverFactory.buildProtocol
        serverFactory.buildProtocol = lambda addr: self._built(build(addr))
        self.port = reactor.listenTCP(0, serverFactory, interface="127.0.0.1")
        self.factory = CountingClientFactory()
        reactor.connectTCP("127.0.0.1", self.port.getHost().port, self.factory)
        self.root = runUntil(reactor, self.factory.getRootObject())
        self.broker = self.factory._broker
        assert self.broker.pipelining is pipelining
        self.broker.reset()

    def _built(self, broker):
        self.serverBrokers.append(broker)
        return broker

    def outcome(self, promise):
        """What promise resolves to: its value, or its Failure."""
        results = []
        self.runUntil(self.reactor, when(promise).addBoth(results.append))
        return results[0]

    def close(self):
        """Check the server kept no answer and the client owes no release; disconnect."""
        if self.closed:
            return
        self.closed = True
        assert [broker.keptAnswers for broker in self.serverBrokers] == [{}]
        assert self.broker.keptRequests == set()
        lost = []
        for broker in [self.broker] + self.serverBrokers:
            done = Deferred()
            broker.notifyOnDisconnect(lambda done=done: done.callback(None))
            lost.append(done)
        self.factory.disconnect()
        for done in lost:
            self.runUntil(self.reactor, done)
        stopped = self.port.stopListening()
        if stopped is not None:
            self.runUntil(self.reactor, stopped)
