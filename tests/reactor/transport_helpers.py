"""
Small helpers for the transport conformance tests: bounded spinning of a
reactor, and protocols that record what happens to them.
"""

import socket
import time

from zope.interface import implementer

from protocols.protocol import ClientFactory, Factory, Protocol
from reactor.interfaces import IHalfCloseableProtocol


def spin(reactor, predicate, timeout=10.0, what="condition"):
    """Iterate reactor until predicate() is true; fail after timeout seconds."""
    deadline = time.monotonic() + timeout
    while not predicate():
        if time.monotonic() > deadline:
            raise AssertionError("timed out after %ss waiting for %s" % (timeout, what))
        reactor.iterate(0.01)


def wait(reactor, deferred, timeout=10.0):
    """Iterate reactor until deferred fires; return its result or raise its error."""
    results = []
    deferred.addBoth(results.append)
    spin(reactor, lambda: results, timeout, "a Deferred")
    result = results[0]
    if hasattr(result, "raiseException") and hasattr(result, "trap"):
        result.raiseException()
    return result


def ipv6Available():
    """Return True if a socket can be bound to the IPv6 loopback address ::1."""
    try:
        probe = socket.socket(socket.AF_INET6)
    except OSError:
        return False
    try:
        probe.bind(("::1", 0))
        return True
    except OSError:
        return False
    finally:
        probe.close()


def freePort(family=socket.AF_INET, kind=socket.SOCK_STREAM, host="127.0.0.1"):
    """Return a port number that was free a moment ago (nothing listens on it)."""
    probe = socket.socket(family, kind)
    try:
        probe.bind((host, 0))
        return probe.getsockname()[1]
    finally:
        probe.close()


class Recorder(Protocol):
    """Records events; echoes if echo is set; closes after `closeAfter` bytes."""

    echo = False
    closeAfter = None

    def __init__(self):
        self.events = []
        self.received = bytearray()
        self.lost = []

    def connectionMade(self):
        self.events.append("made")

    def dataReceived(self, data):
        self.received += data
        if self.echo:
            self.transport.write(data)
        if self.closeAfter is not None and len(self.received) >= self.closeAfter:
            self.transport.loseConnection()

    def connectionLost(self, reason):
        self.events.append("lost")
        self.lost.append(reason)


class EchoRecorder(Recorder):
    echo = True


class HoldingRecorder(Recorder):
    """A Recorder whose writes are held for the end of the turn (holdWrites)."""

    holdWrites = True


class HoldingEchoRecorder(EchoRecorder):
    """An EchoRecorder whose writes are held for the end of the turn."""

    holdWrites = True


@implementer(IHalfCloseableProtocol)
class HalfCloseRecorder(Recorder):
    """A Recorder that stays connected when either direction is shut."""

    def readConnectionLost(self):
        self.events.append("readLost")

    def writeConnectionLost(self):
        self.events.append("writeLost")


class RecordingServerFactory(Factory):
    """A Factory that keeps every protocol it builds."""

    def __init__(self, protocol=Recorder):
        self.protocol = protocol
        self.built = []

    def buildProtocol(self, addr):
        protocol = Factory.buildProtocol(self, addr)
        protocol.peerAddress = addr
        self.built.append(protocol)
        return protocol


class RecordingClientFactory(ClientFactory):
    """A ClientFactory that records failures and losses."""

    def __init__(self, protocol=Recorder):
        self.protocol = protocol
        self.built = []
        self.failed = []
        self.lostReasons = []
        self.started = []

    def startedConnecting(self, connector):
        self.started.append(connector)

    def buildProtocol(self, addr):
        protocol = ClientFactory.buildProtocol(self, addr)
        self.built.append(protocol)
        return protocol

    def clientConnectionFailed(self, connector, reason):
        self.failed.append(reason)

    def clientConnectionLost(self, connector, reason):
        self.lostReasons.append(reason)
