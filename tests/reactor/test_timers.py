"""
Tests for reactor._timers: DelayedCall and the TimerHeap shared by every
reactor and by task.Clock.  Time is a plain attribute moved by hand.
"""

import gc
import random
import sys
import weakref

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from zope.interface.verify import verifyObject

from reactor._timers import DelayedCall, TimerHeap
from reactor.error import AlreadyCalled, AlreadyCancelled
from reactor.interfaces import IDelayedCall


class FakeTime:
    """A hand-moved clock for a TimerHeap."""

    def __init__(self, now=0.0):
        self.now = now

    def __call__(self):
        return self.now


def makeTimers(now=0.0):
    clock = FakeTime(now)
    return clock, TimerHeap(clock)


def advance(clock, timers, amount, **kwargs):
    clock.now += amount
    timers.runDue(clock.now, **kwargs)


# -- scheduling and running --------------------------------------------------


def test_callLaterReturnsActiveDelayedCall():
    clock, timers = makeTimers(10.0)
    call = timers.callLater(1.5, print, 1, 2, sep="-")
    assert isinstance(call, DelayedCall)
    assert verifyObject(IDelayedCall, call)
    assert call.getTime() == 11.5
    assert call.time == 11.5
    assert (call.func, call.args, call.kw) == (print, (1, 2), {"sep": "-"})
    assert call.active()
    assert not call.called and not call.cancelled
    assert len(timers) == 1


@pytest.mark.parametrize("delay", [-1, -0.001, float("nan")])
def test_negativeOrNanDelayRaises(delay):
    clock, timers = makeTimers()
    with pytest.raises(ValueError, match="delay"):
        timers.callLater(delay, print)
    assert len(timers) == 0


def test_zeroDelayIsAllowedAndDueNow():
    clock, timers = makeTimers(5.0)
    events = []
    timers.callLater(0, events.append, "now")
    assert timers.timeout() == 0
    timers.runDue(5.0)
    assert events == ["now"]


def test_runDueRunsOnlyDueCallsWithArguments():
    clock, timers = makeTimers()
    events = []
    timers.callLater(1, lambda *a, **kw: events.append((a, kw)), 1, x=2)
    late = timers.callLater(3, events.append, "late")
    advance(clock, timers, 2)
    assert events == [((1,), {"x": 2})]
    assert late.active()
    assert timers.getDelayedCalls() == [late]
    advance(clock, timers, 1)
    assert events == [((1,), {"x": 2}), "late"]
    assert late.called and not late.active()
    assert len(timers) == 0


def test_tiesRunInSchedulingOrder():
    clock, timers = makeTimers()
    events = []
    for name in "abcdef":
        timers.callLater(1, events.append, name)
    advance(clock, timers, 1)
    assert events == list("abcdef")


def test_manyRandomTimersFireInTimeOrder():
    clock, timers = makeTimers()
    rng = random.Random(1234)
    fired = []
    expected = []
    for index in range(100_000):
        # Coarse delays so that many calls tie.
        delay = rng.randrange(1000) / 10
        expected.append((delay, index))
        timers.callLater(delay, fired.append, (delay, index))
    assert len(timers) == 100_000
    advance(clock, timers, 100)
    assert fired == sorted(expected)
    assert len(timers) == 0
    assert timers.timeout() is None


def test_callRunsWithCalledSetAndCannotCancelItself():
    clock, timers = makeTimers()
    seen = []

    def selfCancel():
        seen.append((call.called, call.active()))
        with pytest.raises(AlreadyCalled):
            call.cancel()
        with pytest.raises(AlreadyCalled):
            call.reset(1)

    call = timers.callLater(1, selfCancel)
    advance(clock, timers, 1)
    assert seen == [(True, False)]


# -- cancel ------------------------------------------------------------------


def test_cancelPreventsCall():
    clock, timers = makeTimers()
    events = []
    call = timers.callLater(1, events.append, "x")
    call.cancel()
    assert call.cancelled and not call.active()
    assert timers.getDelayedCalls() == []
    assert len(timers) == 0
    advance(clock, timers, 5)
    assert events == []


def test_cancelTwiceRaisesAlreadyCancelled():
    clock, timers = makeTimers()
    call = timers.callLater(1, print)
    call.cancel()
    with pytest.raises(AlreadyCancelled):
        call.cancel()
    with pytest.raises(AlreadyCancelled):
        call.reset(2)
    with pytest.raises(AlreadyCancelled):
        call.delay(2)


def test_cancelAfterCallRaisesAlreadyCalled():
    clock, timers = makeTimers()
    call = timers.callLater(1, lambda: None)
    advance(clock, timers, 1)
    with pytest.raises(AlreadyCalled):
        call.cancel()
    with pytest.raises(AlreadyCalled):
        call.delay(1)


def test_cancelDropsReferencesToArguments():
    class Payload:
        pass

    clock, timers = makeTimers()
    payload = Payload()
    ref = weakref.ref(payload)
    call = timers.callLater(1, print, payload, key=payload)
    del payload
    call.cancel()
    gc.collect()
    assert ref() is None
    assert (call.func, call.args, call.kw) == (None, (), {})


def test_cancelledCallIsFreedWhileItsEntryWaits():
    # The heap holds (time, seq) entries, not calls: a cancelled call nobody
    # else holds is freed at once, long before its entry reaches the top.
    clock, timers = makeTimers()
    timers.callLater(1, print)
    call = timers.callLater(100, print)
    ref = weakref.ref(call)
    call.cancel()
    del call
    assert ref() is None
    assert len(timers.heap) == 2 and len(timers) == 1


def test_heapEntriesAreNotCollectorTracked():
    # A burst of timers must not double the objects the collector scans:
    # entries hold only atoms, so a collection untracks them.
    clock, timers = makeTimers()
    for i in range(100):
        timers.callLater(i, print)
    gc.collect()
    assert not any(gc.is_tracked(entry) for entry in timers.heap)


def test_timeoutSkipsCancelledCalls():
    clock, timers = makeTimers()
    first = timers.callLater(1, print)
    timers.callLater(4, print)
    first.cancel()
    assert timers.timeout() == 4
    assert len(timers.heap) == 1


def test_scheduleCancelLoopKeepsHeapBounded():
    clock, timers = makeTimers()
    keeper = timers.callLater(10**9, print)
    sizes = []
    callLater = timers.callLater
    for _ in range(10_000):
        for _ in range(100):
            callLater(30, print).cancel()
        sizes.append(len(timers.heap))
    # Stale entries are compacted once they pass half the heap (and 64).
    assert max(sizes) < 200
    assert timers.getDelayedCalls() == [keeper]
    assert len(timers) == 1


def test_compactionDuringRunDueKeepsOrder():
    clock, timers = makeTimers()
    events = []
    victims = [timers.callLater(5, events.append, "victim") for _ in range(500)]
    late = [timers.callLater(2 + i / 100, events.append, i) for i in range(50)]

    def cancelAll():
        events.append("cancel")
        for victim in victims:
            victim.cancel()

    timers.callLater(1, cancelAll)
    heapBefore = len(timers.heap)
    advance(clock, timers, 10)
    assert events == ["cancel"] + list(range(50))
    assert len(timers.heap) == 0
    assert heapBefore == 551
    assert all(not call.active() for call in late)


# -- reset and delay ---------------------------------------------------------


def test_resetLaterKeepsOrder():
    clock, timers = makeTimers()
    events = []
    moved = timers.callLater(1, events.append, "moved")
    timers.callLater(2, events.append, "two")
    timers.callLater(4, events.append, "four")
    moved.reset(3)
    assert moved.getTime() == 3
    assert timers.timeout() == 2
    advance(clock, timers, 1)
    assert events == []
    advance(clock, timers, 1)
    assert events == ["two"]
    advance(clock, timers, 1)
    assert events == ["two", "moved"]
    advance(clock, timers, 1)
    assert events == ["two", "moved", "four"]


def test_resetEarlierRunsSooner():
    clock, timers = makeTimers()
    events = []
    timers.callLater(2, events.append, "two")
    moved = timers.callLater(10, events.append, "moved")
    moved.reset(1)
    assert moved.getTime() == 1
    assert timers.timeout() == 1
    advance(clock, timers, 1)
    assert events == ["moved"]
    advance(clock, timers, 20)
    assert events == ["moved", "two"]
    assert len(timers.heap) == 0


def test_resetDoesNotDrift():
    clock, timers = makeTimers()
    call = timers.callLater(30, print)
    for step in range(1, 1001):
        clock.now = step * 0.1
        call.reset(30)
        assert call.getTime() == clock.now + 30
    assert timers.timeout() == 30


def test_resetLaterDoesNotGrowHeap():
    clock, timers = makeTimers()
    events = []
    call = timers.callLater(30, events.append, "timeout")
    for step in range(10_000):
        clock.now = step * 0.01
        call.reset(30)
    assert len(timers.heap) == 1
    assert timers.timeout() == pytest.approx(30)
    clock.now = call.getTime() - 0.001
    timers.runDue(clock.now)
    assert events == []
    advance(clock, timers, 0.001)
    assert events == ["timeout"]


def test_resetEarlierRepeatedlyKeepsHeapBounded():
    clock, timers = makeTimers()
    call = timers.callLater(10**6, print)
    for step in range(100_000):
        call.reset(10**6 - step)
    assert len(timers.heap) < 200
    assert call.getTime() == 10**6 - 99_999
    assert timers.getDelayedCalls() == [call]


def test_resetToTieRunsAfterPeers():
    # A reset is a new schedule: among calls at the same time it goes last.
    clock, timers = makeTimers()
    events = []
    first = timers.callLater(5, events.append, "first")
    timers.callLater(5, events.append, "second")
    first.reset(5)
    advance(clock, timers, 5)
    assert events == ["second", "first"]


def test_resetAfterEarlierResetLaterStillMovesEarlier():
    clock, timers = makeTimers()
    events = []
    call = timers.callLater(5, events.append, "call")
    call.reset(20)
    call.reset(10)
    timers.callLater(15, events.append, "fifteen")
    advance(clock, timers, 9)
    assert events == []
    advance(clock, timers, 1)
    assert events == ["call"]
    advance(clock, timers, 10)
    assert events == ["call", "fifteen"]


def test_delayMovesLaterAndEarlier():
    clock, timers = makeTimers()
    events = []
    call = timers.callLater(2, events.append, "call")
    call.delay(3)
    assert call.getTime() == 5
    call.delay(-4)
    assert call.getTime() == 1
    advance(clock, timers, 1)
    assert events == ["call"]


def test_timeoutReportsMovedCall():
    clock, timers = makeTimers()
    call = timers.callLater(1, print)
    call.delay(9)
    assert timers.timeout() == 10
    assert timers.getDelayedCalls() == [call]
    clock.now = 4
    assert timers.timeout() == 6


def test_timeoutIsNoneWhenEmptyAndZeroWhenOverdue():
    clock, timers = makeTimers()
    assert timers.timeout() is None
    timers.callLater(1, print)
    clock.now = 3
    assert timers.timeout() == 0


# -- runDue modes and errors -------------------------------------------------


def test_runDueOnlyPreviousDefersCallsScheduledDuringRun():
    clock, timers = makeTimers()
    events = []

    def spawn(n):
        events.append(n)
        timers.callLater(0, spawn, n + 1)

    timers.callLater(0, spawn, 0)
    timers.runDue(0)
    assert events == [0]
    timers.runDue(0)
    assert events == [0, 1]
    assert len(timers) == 1


def test_runDueOnlyPreviousDefersCallsResetDuringRun():
    clock, timers = makeTimers()
    events = []
    other = timers.callLater(1, events.append, "other")

    def moveOther():
        events.append("move")
        other.reset(0)

    timers.callLater(0, moveOther)
    timers.runDue(0)
    assert events == ["move"]
    timers.runDue(0)
    assert events == ["move", "other"]


def test_runDueCallMovedIntoThePastWaitsForTheNextRun():
    # A call moved during the run, even into the past, is new to this run:
    # it ends the run (older due calls behind it wait one run, no more).
    clock, timers = makeTimers()
    events = []
    victim = timers.callLater(50, events.append, "victim")

    def rewind():
        events.append("rewind")
        victim.reset(-10)

    timers.callLater(1, rewind)
    timers.callLater(2, events.append, "two")
    clock.now = 5
    timers.runDue(5)
    assert events == ["rewind"]
    assert timers.timeout() == 0
    timers.runDue(5)
    assert events == ["rewind", "victim", "two"]


def test_runDueAllKeepsGoingWhileDue():
    clock, timers = makeTimers()
    events = []

    def spawn(n):
        events.append(n)
        if n < 4:
            timers.callLater(0, spawn, n + 1)

    timers.callLater(0, spawn, 0)
    timers.runDue(0, onlyPrevious=False)
    assert events == [0, 1, 2, 3, 4]


def test_runDueErrorPropagatesAndKeepsTheRest():
    clock, timers = makeTimers()
    events = []

    def boom():
        raise ZeroDivisionError("boom")

    timers.callLater(1, events.append, "before")
    timers.callLater(2, boom)
    timers.callLater(3, events.append, "after")
    clock.now = 5
    with pytest.raises(ZeroDivisionError):
        timers.runDue(5)
    assert events == ["before"]
    assert len(timers) == 1
    timers.runDue(5)
    assert events == ["before", "after"]


def test_runDueOnErrorIsCalledInsideExceptAndLoopContinues():
    clock, timers = makeTimers()
    events = []

    def boom():
        raise ZeroDivisionError("boom")

    def onError():
        events.append(sys.exc_info()[0])

    timers.callLater(1, boom)
    timers.callLater(2, events.append, "after")
    clock.now = 5
    timers.runDue(5, onError=onError)
    assert events == [ZeroDivisionError, "after"]


def test_runDueLetsKeyboardInterruptThrough():
    clock, timers = makeTimers()
    errors = []

    def interrupt():
        raise KeyboardInterrupt()

    timers.callLater(0, interrupt)
    with pytest.raises(KeyboardInterrupt):
        timers.runDue(0, onError=lambda: errors.append(1))
    assert errors == []


def test_getDelayedCallsListsLiveCallsOnly():
    clock, timers = makeTimers()
    live = timers.callLater(1, print)
    moved = timers.callLater(5, print)
    moved.reset(2)
    timers.callLater(3, print).cancel()
    assert sorted(timers.getDelayedCalls()) == [live, moved]
    assert len(timers) == 2


def test_delayedCallsSortByTime():
    clock, timers = makeTimers()
    late = timers.callLater(5, print)
    early = timers.callLater(1, print)
    assert sorted([late, early]) == [early, late]
    assert early <= late and not late <= early


# -- repr ----------------------------------------------------------------------


def test_reprShowsTimeStateAndCall():
    clock, timers = makeTimers()

    def greet(*args, **kw):
        pass

    call = timers.callLater(1.5, greet, 1, "two", three=3)
    text = repr(call)
    assert text.startswith("<DelayedCall 0x")
    assert "[1.5s] called=False cancelled=False" in text
    assert "greet(1, 'two', three=3)>" in text
    call.cancel()
    assert repr(call).endswith("called=False cancelled=True>")


def test_reprSurvivesBrokenReprs():
    class Broken:
        def __repr__(self):
            raise RuntimeError("nope")

    clock, timers = makeTimers()
    call = timers.callLater(1, Broken(), Broken())
    text = repr(call)
    assert "Broken instance with broken repr" in text

    def badClock():
        raise RuntimeError("no time")

    timers.seconds = badClock
    assert "[?]" in repr(call)


# -- a model check ---------------------------------------------------------------

operations = st.lists(
    st.one_of(
        st.tuples(st.just("schedule"), st.integers(0, 20)),
        st.tuples(st.just("cancel"), st.integers(0, 50)),
        st.tuples(st.just("reset"), st.integers(0, 50), st.integers(0, 20)),
        st.tuples(st.just("delay"), st.integers(0, 50), st.integers(-10, 20)),
        st.tuples(st.just("advance"), st.integers(0, 10)),
    ),
    max_size=80,
)


@settings(max_examples=300, deadline=None)
@given(operations)
def test_heapMatchesASimpleModel(ops):
    # The model: a dict of live calls -> (time, order); run by sorting.
    clock, timers = makeTimers()
    fired = []
    calls = []
    model = {}
    order = 0
    for op in ops:
        kind = op[0]
        if kind == "schedule":
            name = len(calls)
            calls.append(timers.callLater(op[1], fired.append, name))
            model[name] = (clock.now + op[1], order)
            order += 1
        elif kind == "advance":
            clock.now += op[1]
            timers.runDue(clock.now, onlyPrevious=False)
            due = sorted((entry, name) for name, entry in model.items() if entry[0] <= clock.now)
            for _, name in due:
                del model[name]
            expectedFired = [name for _, name in due]
            assert fired[len(fired) - len(expectedFired) :] == expectedFired
        elif op[1] < len(calls) and op[1] in model:
            name = op[1]
            if kind == "cancel":
                calls[name].cancel()
                del model[name]
            elif kind == "reset":
                calls[name].reset(op[2])
                model[name] = (clock.now + op[2], order)
                order += 1
            else:
                calls[name].delay(op[2])
                model[name] = (model[name][0] + op[2], order)
                order += 1
        assert len(timers) == len(model)
        assert {c.args[0] for c in timers.getDelayedCalls()} == set(model)
        expectedTimeout = None
        if model:
            expectedTimeout = max(0, min(t for t, _ in model.values()) - clock.now)
        assert timers.timeout() == expectedTimeout
