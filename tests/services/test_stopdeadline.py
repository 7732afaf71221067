"""
Tests for services.loomd.stopdeadline: the shutdown deadline's thread, with a
stand-in reactor whose loop either answers at once or never does.
"""

import threading

from services.loomd.stopdeadline import ShutdownDeadline, threadStack

WAIT = 5.0  # bound on every wait; the deadlines themselves are milliseconds


class AnsweringReactor:
    """A loop that turns: a queued call runs at once."""

    def callFromThread(self, function, *args):
        function(*args)


class BlockedReactor:
    """A loop that never turns: queued calls are only counted."""

    def __init__(self):
        self.queued = 0

    def callFromThread(self, function, *args):
        self.queued += 1


def deadline(reactor, events, timeout=0.01):
    happened = threading.Event()

    def onDeadline():
        events.append("deadline")
        happened.set()

    def onBlocked(threadId):
        events.append(("blocked", threadId))
        happened.set()

    watch = ShutdownDeadline(
        timeout, reactor, onDeadline=onDeadline, onBlocked=onBlocked, grace=0.01, lastResort=None
    )
    return watch, happened


def test_aTurningLoopEndsTheShutdownItself():
    events = []
    watch, happened = deadline(AnsweringReactor(), events)
    watch.start()
    assert happened.wait(WAIT)
    watch.disarm()
    assert events == ["deadline"]


def test_aBlockedLoopIsReportedWithItsThread():
    events = []
    reactor = BlockedReactor()
    watch, happened = deadline(reactor, events)
    watch.start()
    assert happened.wait(WAIT)
    assert events == [("blocked", threading.get_ident())]
    assert reactor.queued == 1  # the loop was asked first


def test_disarmedInTimeNothingHappens():
    events = []
    reactor = BlockedReactor()
    watch, happened = deadline(reactor, events, timeout=0.2)
    watch.start()
    watch.disarm()
    # Well past the deadline and the grace.
    assert not happened.wait(0.6)
    assert events == [] and reactor.queued == 0


def test_threadStackShowsWhereAThreadWaits():
    release = threading.Event()

    def waitingForRelease():
        release.wait(WAIT)

    thread = threading.Thread(target=waitingForRelease)
    thread.start()
    try:
        stack = ""
        for _ in range(500):  # until the thread is inside its function
            stack = threadStack(thread.ident)
            if "in waitingForRelease" in stack:
                break
            threading.Event().wait(0.01)
        assert "in waitingForRelease\n" in stack, stack
    finally:
        release.set()
        thread.join(WAIT)
    assert threadStack(thread.ident) == ""
