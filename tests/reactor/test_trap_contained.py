"""
Failure.trap re-raises the original exception (as Twisted 26 does).  Raised
outside a Deferred chain (in a connectionLost, a timed call, a thread call, a
maybeDeferred function, a LoopingCall), it must be contained and logged like
any other error: the loop goes on and nothing else notices.
"""

import os

from reactor import log
from reactor.defer import maybeDeferred
from reactor.failure import Failure
from reactor.task import LoopingCall
from tests.reactor.transport_helpers import spin


def trapOnly(reason=None):
    Failure(ValueError("boom")).trap(KeyError)


class Logged:
    def __init__(self):
        self.events = []

    def __enter__(self):
        log.addObserver(self.events.append)
        return self

    def __exit__(self, *exc):
        log.removeObserver(self.events.append)

    def failures(self):
        return [e["failure"] for e in self.events if e.get("failure") is not None]


class TrappingReader:
    """A readable pipe end whose doRead ends the descriptor, and whose
    connectionLost traps what it does not expect."""

    def __init__(self):
        self.readFD, self.writeFD = os.pipe()
        os.write(self.writeFD, b"x")

    def fileno(self):
        return self.readFD

    def doRead(self):
        return ValueError("done reading")

    def connectionLost(self, reason):
        os.close(self.readFD)
        os.close(self.writeFD)
        trapOnly(reason)

    def logPrefix(self):
        return "TrappingReader"


def test_trapInConnectionLostIsLogged(reactor):
    fired = []
    with Logged() as logged:
        reactor.addReader(TrappingReader())
        reactor.callLater(0.05, fired.append, True)
        spin(reactor, lambda: fired, what="the loop to go on")
    # The reason doRead returned is expected and not logged; the trap is.
    assert [f.type for f in logged.failures()] == [ValueError]


def test_trapInTimedCallIsLogged(reactor):
    fired = []
    with Logged() as logged:
        reactor.callLater(0, trapOnly)
        reactor.callLater(0.01, fired.append, True)
        spin(reactor, lambda: fired, what="the next timed call")
    assert [f.type for f in logged.failures()] == [ValueError]


def test_trapInThreadCallIsLogged(reactor):
    fired = []
    with Logged() as logged:
        reactor.callFromThread(trapOnly)
        reactor.callFromThread(fired.append, True)
        spin(reactor, lambda: fired, what="the next thread call")
    assert [f.type for f in logged.failures()] == [ValueError]


def test_maybeDeferredTurnsATrapIntoAFailedDeferred():
    d = maybeDeferred(trapOnly)
    failures = []
    d.addErrback(failures.append)
    assert [f.type for f in failures] == [ValueError]


def test_loopingCallStopsWithTheTrappedFailure():
    from reactor.task import Clock

    clock = Clock()
    loop = LoopingCall(trapOnly)
    loop.clock = clock
    failures = []
    loop.start(1).addErrback(failures.append)
    assert [f.type for f in failures] == [ValueError] and not loop.running
