"""
Conformance: timed calls, on every reactor.
"""

import random
import time

from reactor.defer import Deferred
from tests.reactor.reactorhelpers import LoggedErrors


def test_secondsIsWallClockTime(reactor):
    assert abs(reactor.seconds() - time.time()) < 1


def test_timersFireInTimeOrder(reactor, runUntil):
    rng = random.Random(3)
    fired = []
    done = Deferred()
    calls = [reactor.callLater(rng.uniform(0, 0.02), fired.append, i) for i in range(500)]
    expected = [i for _, i in sorted((call.getTime(), i) for i, call in enumerate(calls))]
    last = max(calls, key=lambda call: call.getTime())
    # Scheduling 500 calls can take longer than 20 ms on a loaded machine:
    # the last may be due already.
    reactor.callLater(max(0.0, last.getTime() - reactor.seconds()) + 0.001, done.callback, None)
    runUntil(reactor, done)
    assert fired == expected


def test_hundredThousandTimersFireInTimeOrder(reactor, runUntil):
    rng = random.Random(5)
    fired = []
    count = 100_000
    done = Deferred()

    def fire(i):
        fired.append(i)
        if len(fired) == count:
            done.callback(None)

    calls = [reactor.callLater(rng.uniform(0, 0.05), fire, i) for i in range(count)]
    runUntil(reactor, done, timeout=30)
    # Ties keep scheduling order, so (time, index) is the exact order.
    expected = [i for _, i in sorted((call.getTime(), i) for i, call in enumerate(calls))]
    assert fired == expected


def test_cancelledAndResetCalls(reactor, runUntil):
    fired = []
    cancelled = reactor.callLater(0, fired.append, "cancelled")
    moved = reactor.callLater(10, fired.append, "moved")
    later = reactor.callLater(0.01, fired.append, "later")
    cancelled.cancel()
    moved.reset(0)
    done = Deferred()
    reactor.callLater(0.02, done.callback, None)
    runUntil(reactor, done)
    assert fired == ["moved", "later"]
    assert not later.active() and later.called
    assert reactor.getDelayedCalls() == []


def test_failingTimedCallIsLoggedAndLoopGoesOn(reactor, runUntil):
    fired = []
    reactor.callLater(0, lambda: 1 / 0)
    reactor.callLater(0, fired.append, "next")
    done = Deferred()
    reactor.callLater(0.005, done.callback, None)
    with LoggedErrors() as logged:
        runUntil(reactor, done)
    assert fired == ["next"]
    assert [f.type for f in logged.failures()] == [ZeroDivisionError]


def test_heapStaysBoundedWhenSchedulingAndCancelling(reactor):
    for _ in range(20_000):
        reactor.callLater(60, lambda: None).cancel()
    keep = reactor.callLater(60, lambda: None)
    for _ in range(20_000):
        reactor.callLater(30, lambda: None).cancel()
        reactor.iterate(0)
        if _ == 100:
            break
    assert len(reactor._timers.heap) < 200
    assert reactor.getDelayedCalls() == [keep]
    keep.cancel()


def test_callLaterZeroInACallbackWaitsForNextTurn(reactor):
    fired = []

    def again():
        fired.append("again")
        reactor.callLater(0, again)

    reactor.callLater(0, again)
    reactor.iterate(0)
    reactor.iterate(0)
    assert fired == ["again", "again"]
    for call in reactor.getDelayedCalls():
        call.cancel()
