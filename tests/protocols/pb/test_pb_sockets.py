"""
PB between Loom peers over real sockets on every reactor: endpoints for TCP,
UNIX and TLS (``serverFromString``/``clientFromString`` descriptions), and a
peer breaking banana's limits dropped while another connection goes on.
"""

import pytest

from protocols.pb import banana, pb
from reactor import log
from reactor.defer import Deferred
from reactor.endpoints import clientFromString, quoteStringArgument, serverFromString
from reactor.testing import EventLoggingObserver

from .pbhelpers import Portal, Realm, UsernamePassword

pytestmark = pytest.mark.timeout(30)


class Echo(pb.Root):
    def remote_echo(self, value):
        return value

    def remote_child(self):
        return Child()


class Child(pb.Referenceable):
    def remote_double(self, value):
        return value * 2


def _lost(broker):
    lost = Deferred()
    broker.notifyOnDisconnect(lambda: lost.callback(None))
    return lost


def _serve(reactor, runUntil, description, root):
    factory = pb.PBServerFactory(root)
    brokers = []
    build = factory.buildProtocol

    def buildProtocol(addr):
        broker = build(addr)
        brokers.append(broker)
        return broker

    factory.buildProtocol = buildProtocol
    port = runUntil(reactor, serverFromString(reactor, description).listen(factory))
    return port, brokers


def _connect(reactor, runUntil, description):
    factory = pb.PBClientFactory()
    broker = runUntil(reactor, clientFromString(reactor, description).connect(factory))
    root = runUntil(reactor, factory.getRootObject())
    return factory, broker, root


def _finish(reactor, runUntil, port, clientBrokers, serverBrokers):
    for broker in clientBrokers:
        if not broker.disconnected:
            lost = _lost(broker)
            broker.transport.loseConnection()
            runUntil(reactor, lost)
    for broker in serverBrokers:
        if not broker.disconnected:
            runUntil(reactor, _lost(broker))
    stopped = port.stopListening()
    if stopped is not None:
        runUntil(reactor, stopped)


def _exercise(reactor, runUntil, root):
    value = {"list": [1, 2.5, None, True], "bytes": b"x" * 100000, "text": "\xe9"}
    assert runUntil(reactor, root.callRemote("echo", value)) == value
    child = runUntil(reactor, root.callRemote("child"))
    assert runUntil(reactor, child.callRemote("double", 21)) == 42


def test_tcp(reactor, runUntil):
    port, serverBrokers = _serve(reactor, runUntil, "tcp:0:interface=127.0.0.1", Echo())
    address = "tcp:127.0.0.1:%d" % (port.getHost().port,)
    factory, broker, root = _connect(reactor, runUntil, address)
    _exercise(reactor, runUntil, root)
    _finish(reactor, runUntil, port, [broker], serverBrokers)


def test_unix(reactor, runUntil, tmp_path):
    path = str(tmp_path / "pb.sock")
    port, serverBrokers = _serve(reactor, runUntil, "unix:%s" % (path,), Echo())
    factory, broker, root = _connect(reactor, runUntil, "unix:%s" % (path,))
    _exercise(reactor, runUntil, root)
    _finish(reactor, runUntil, port, [broker], serverBrokers)


def test_tlsLogin(reactor, runUntil, tlsCertificates, tmp_path):
    key, certificate = tlsCertificates.writeFiles(tlsCertificates.server, tmp_path)
    caDir = tlsCertificates.writeCA(tmp_path / "cas")
    description = "ssl:0:interface=127.0.0.1:privateKey=%s:certKey=%s" % (
        quoteStringArgument(str(key)),
        quoteStringArgument(str(certificate)),
    )
    realm = Realm()
    port, serverBrokers = _serve(
        reactor, runUntil, description, Portal(realm, {b"alice": b"secret"})
    )
    address = "tls:host=localhost:port=%d:trustRoots=%s" % (
        port.getHost().port,
        quoteStringArgument(str(caDir)),
    )
    factory = pb.PBClientFactory()
    broker = runUntil(reactor, clientFromString(reactor, address).connect(factory))
    avatar = runUntil(reactor, factory.login(UsernamePassword(b"alice", b"secret")))
    assert runUntil(reactor, avatar.callRemote("whoami")) == b"alice"
    _finish(reactor, runUntil, port, [broker], serverBrokers)
    assert [user.loggedOut for user in realm.avatars] == [1]


def test_limitBreakerDroppedOthersGoOn(reactor, runUntil, request):
    logged = EventLoggingObserver.createWithCleanup(request, log)
    port, serverBrokers = _serve(reactor, runUntil, "tcp:0:interface=127.0.0.1", Echo())
    address = "tcp:127.0.0.1:%d" % (port.getHost().port,)
    goodFactory, goodBroker, goodRoot = _connect(reactor, runUntil, address)
    badFactory, badBroker, badRoot = _connect(reactor, runUntil, address)
    lost = _lost(badBroker)
    # A string longer than the limit: refused on its prefix, before any of
    # its bytes need to arrive.
    badBroker.transport.write(banana._b128(banana.SIZE_LIMIT + 1) + b"\x82")
    runUntil(reactor, lost)
    texts = [log.textFromEventDict(event) or "" for event in logged]
    assert any("too long" in text and "disconnecting" in text for text in texts)
    assert runUntil(reactor, goodRoot.callRemote("echo", "still here")) == "still here"
    _finish(reactor, runUntil, port, [goodBroker, badBroker], serverBrokers)
