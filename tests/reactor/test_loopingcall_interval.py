"""LoopingCall.withCount when ``interval`` is changed while the loop runs,
from 0 in particular: Twisted's documented count is the number of intervals
that should have elapsed since the last call, measured in the new interval
from the clock time that call was made at.  The expected lists below are
what Twisted 26.10 gives for the same steps."""

from reactor.defer import Deferred
from reactor.task import Clock, LoopingCall


def countingLoop(f):
    clock = Clock()
    loop = LoopingCall.withCount(f)
    loop.clock = clock
    return clock, loop


def test_withCountAfterIntervalZero():
    # Twisted's own scenario: interval 0, the second call returns a Deferred
    # (both calls at t=1: a Clock step runs the calls it makes due); while it
    # waits the interval becomes 2 and time goes on to 7, the Deferred fires,
    # and the clock then jumps to 16.  From the last call (t=1, interval 0
    # of the 2-second grid) to t=16 (interval 8), 8 intervals have elapsed.
    pending = Deferred()
    counts = []

    def f(count):
        counts.append((count, clock.seconds()))
        if len(counts) == 2:
            return pending
        return None

    clock, loop = countingLoop(f)
    loop.start(0, now=False)
    clock.pump([1] * 7)
    assert counts == [(1, 1.0), (1, 1.0)]
    loop.interval = 2
    pending.callback(None)
    clock.advance(9)
    clock.advance(2)
    clock.advance(4)
    assert counts == [(1, 1.0), (1, 1.0), (8, 16.0), (1, 18.0), (2, 22.0)]


def test_withCountWhenTheCallSetsANonZeroInterval():
    counts = []

    def f(count):
        counts.append((count, clock.seconds()))
        if len(counts) == 3:
            loop.interval = 2

    clock, loop = countingLoop(f)
    clock.advance(3)
    loop.start(0)
    clock.advance(0)
    clock.advance(2)
    clock.advance(2)
    clock.advance(5)
    # One call at 12, counting the 2 intervals since 7; not two calls.
    assert counts == [(1, 3.0), (1, 3.0), (1, 3.0), (1, 5.0), (1, 7.0), (2, 12.0)]


def test_withCountThroughSeveralIntervalChanges():
    counts = []

    def f(count):
        counts.append((count, clock.seconds()))
        if len(counts) == 3:
            loop.interval = 3
        elif len(counts) == 6:
            loop.interval = 0
        elif len(counts) == 8:
            loop.interval = 0.5

    clock, loop = countingLoop(f)
    loop.start(1)
    for step in [1, 1, 1, 3, 7, 0, 2.2, 0.5]:
        clock.advance(step)
    assert counts == [
        (1, 0.0),
        (1, 1.0),
        (1, 2.0),
        (1, 3.0),
        (1, 6.0),
        (2, 13.0),
        (1, 13.0),
        (1, 13.0),
        (4, 15.2),
        (1, 15.7),
    ]
