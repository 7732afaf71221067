"""
Tests for reactor.task: Clock, LoopingCall, deferLater and the Cooperator.

Everything is driven by a Clock; the global reactor is never touched, except
where a test swaps a Clock in for it to check that the default is fetched
lazily.
"""

import pytest
from zope.interface.verify import verifyObject

import reactor
from reactor import log, task
from reactor._timers import DelayedCall
from reactor.defer import CancelledError, Deferred, fail, succeed
from reactor.failure import Failure
from reactor.interfaces import IReactorTime
from reactor.task import (
    Clock,
    Cooperator,
    LoopingCall,
    NotPaused,
    SchedulerStopped,
    TaskDone,
    TaskFailed,
    TaskStopped,
    deferLater,
)

# -- helpers -----------------------------------------------------------------


def _watch(deferred):
    # A pass-through callback: the chain goes on as if it were not there.
    results = []

    def seen(result):
        results.append(result)
        return result

    deferred.addBoth(seen)
    return results


def resultOf(deferred):
    """Return the result deferred has fired with (it must have succeeded)."""
    results = _watch(deferred)
    assert results, "the Deferred has not fired"
    assert not isinstance(results[0], Failure), results[0].getTraceback()
    return results[0]


def failureOf(deferred, *errorTypes):
    """Return the Failure deferred has failed with, and handle it."""
    results = []
    deferred.addBoth(results.append)
    assert results, "the Deferred has not fired"
    assert isinstance(results[0], Failure), results[0]
    assert results[0].check(*errorTypes), results[0]
    return results[0]


def assertNoResult(deferred):
    assert _watch(deferred) == []


@pytest.fixture
def errors():
    """Collect error events logged through reactor.log."""
    events = []

    def observer(event):
        if event.get("isError"):
            events.append(event)

    log.addObserver(observer)
    yield events
    log.removeObserver(observer)


@pytest.fixture
def globalClock(monkeypatch):
    """Install a Clock as the global reactor for one test."""
    clock = Clock()
    monkeypatch.setattr(reactor, "_installed", clock)
    return clock


# -- Clock -------------------------------------------------------------------


def test_clockProvidesIReactorTimeAndStartsAtZero():
    clock = Clock()
    assert verifyObject(IReactorTime, clock)
    assert clock.seconds() == 0.0
    assert clock.rightNow == 0.0


def test_clockUsesTheReactorsDelayedCall():
    clock = Clock()
    call = clock.callLater(2, print)
    assert type(call) is DelayedCall
    assert call.getTime() == 2
    assert clock.getDelayedCalls() == [call]


def test_clockAdvanceRunsDueCallsInOrder():
    clock = Clock()
    events = []
    clock.callLater(2, events.append, "two")
    clock.callLater(1, events.append, "one")
    clock.callLater(3, events.append, "three")
    clock.advance(2)
    assert events == ["one", "two"]
    assert clock.seconds() == 2
    clock.advance(1)
    assert events == ["one", "two", "three"]


def test_clockAdvanceRunsCallsScheduledByDueCalls():
    # As in Twisted: advance() keeps going while anything is due.
    clock = Clock()
    events = []

    def first():
        events.append("first")
        clock.callLater(0, events.append, "chained")
        clock.callLater(0.5, events.append, "half")

    clock.callLater(1, first)
    clock.advance(2)
    # The clock reads 2 while first() runs (as in Twisted): "half" is at 2.5.
    assert events == ["first", "chained"]
    assert [call.getTime() for call in clock.calls] == [2.5]


def test_clockAdvanceErrorsReachTheCaller():
    clock = Clock()
    events = []

    def boom():
        raise ZeroDivisionError()

    clock.callLater(1, boom)
    clock.callLater(1, events.append, "next")
    with pytest.raises(ZeroDivisionError):
        clock.advance(1)
    assert events == []
    clock.advance(0)
    assert events == ["next"]


def test_clockRejectsNegativeDelayAndAdvance():
    clock = Clock()
    with pytest.raises(ValueError):
        clock.callLater(-1, print)
    with pytest.raises(ValueError):
        clock.advance(-1)
    assert clock.seconds() == 0


def test_clockPumpAdvancesStepByStep():
    clock = Clock()
    seen = []
    for delay in (1, 2, 3):
        clock.callLater(delay, lambda: seen.append(clock.seconds()))
    clock.pump([1.5, 1, 1])
    assert seen == [1.5, 2.5, 3.5]
    assert clock.seconds() == 3.5


def test_clockCallsListsPendingCallsInRunOrder():
    clock = Clock()
    late = clock.callLater(5, print)
    early = clock.callLater(1, print)
    tie = clock.callLater(1, print)
    clock.callLater(3, print).cancel()
    assert clock.calls == [early, tie, late]


# -- LoopingCall ---------------------------------------------------------------


def makeLoop(f, *a, **kw):
    clock = Clock()
    loop = LoopingCall(f, *a, **kw)
    loop.clock = clock
    return clock, loop


def test_loopingCallStartNowCallsAtOnceThenEveryInterval():
    events = []
    clock, loop = makeLoop(lambda *a, **kw: events.append((clock.seconds(), a, kw)), 1, x=2)
    loop.start(2)
    assert events == [(0, (1,), {"x": 2})]
    assert loop.running and loop.interval == 2 and loop.starttime == 0
    clock.pump([1, 1, 1, 1])
    assert [when for when, _, _ in events] == [0, 2, 4]


def test_loopingCallStartNotNowWaitsOneInterval():
    events = []
    clock, loop = makeLoop(lambda: events.append(clock.seconds()))
    loop.start(3, now=False)
    assert events == []
    clock.pump([3, 3])
    assert events == [3, 6]


def test_loopingCallStopFiresDeferredWithTheLoop():
    events = []
    clock, loop = makeLoop(events.append, "tick")
    deferred = loop.start(1)
    assert loop.deferred is deferred
    clock.advance(1)
    loop.stop()
    assert resultOf(deferred) is loop
    assert not loop.running and loop.call is None and loop.deferred is None
    clock.advance(10)
    assert events == ["tick", "tick"]
    assert clock.getDelayedCalls() == []


def test_loopingCallStoppedFromInsideItsFunction():
    calls = []

    def countToThree():
        calls.append(clock.seconds())
        if len(calls) == 3:
            loop.stop()

    clock, loop = makeLoop(countToThree)
    deferred = loop.start(1)
    clock.pump([1] * 5)
    assert calls == [0, 1, 2]
    assert resultOf(deferred) is loop
    assert clock.getDelayedCalls() == []


def test_loopingCallExceptionStopsLoopAndFailsDeferred():
    calls = []

    def failOnSecond():
        calls.append(clock.seconds())
        if len(calls) == 2:
            raise ZeroDivisionError("second")

    clock, loop = makeLoop(failOnSecond)
    deferred = loop.start(1)
    clock.pump([1, 1, 1])
    assert calls == [0, 1]
    failureOf(deferred, ZeroDivisionError)
    assert not loop.running
    assert clock.getDelayedCalls() == []


def test_loopingCallFailedDeferredStopsLoop():
    clock, loop = makeLoop(lambda: fail(KeyError("gone")))
    deferred = loop.start(1)
    assert failureOf(deferred, KeyError).getErrorMessage() == "'gone'"
    assert not loop.running


def test_loopingCallReturnedFailureStopsLoop():
    clock, loop = makeLoop(lambda: Failure(ValueError("bad")))
    deferred = loop.start(1)
    failureOf(deferred, ValueError)
    assert not loop.running


def test_loopingCallWaitsForReturnedDeferred():
    pending = []
    calls = []

    def slow():
        calls.append(clock.seconds())
        pending.append(Deferred())
        return pending[-1]

    clock, loop = makeLoop(slow)
    loop.start(1)
    clock.advance(5)
    assert calls == [0]
    assert loop.call is None
    clock.advance(0.5)
    pending[0].callback(None)
    # Finished at 5.5: the next call is on the grid, at 6, not 6.5.
    assert loop.call.getTime() == 6
    clock.advance(0.5)
    assert calls == [0, 6]


def test_loopingCallStopWhileDeferredPendingFiresWhenItDoes():
    pending = Deferred()
    clock, loop = makeLoop(lambda: pending)
    deferred = loop.start(1)
    loop.stop()
    assertNoResult(deferred)
    pending.callback("ignored")
    assert resultOf(deferred) is loop
    assert clock.getDelayedCalls() == []


def test_loopingCallAcceptsCoroutines():
    calls = []

    async def tick():
        calls.append(clock.seconds())
        await succeed(None)

    clock, loop = makeLoop(tick)
    loop.start(1)
    clock.pump([1, 1])
    assert calls == [0, 1, 2]
    loop.stop()


def test_loopingCallSkipsMissedIntervals():
    calls = []
    clock, loop = makeLoop(lambda: calls.append(clock.seconds()))
    loop.start(1)
    clock.advance(3.5)
    assert calls == [0, 3.5]
    assert loop.call.getTime() == 4
    clock.advance(0.5)
    assert calls == [0, 3.5, 4]


def test_loopingCallWithCountReportsSkippedIntervals():
    counts = []
    clock = Clock()
    loop = LoopingCall.withCount(counts.append)
    loop.clock = clock
    loop.start(1)
    clock.advance(1)
    clock.advance(3)
    clock.advance(1)
    clock.advance(2.5)
    assert counts == [1, 1, 3, 1, 2]
    assert loop.call.getTime() == 8


def test_loopingCallWithCountNotNowStartsAtOne():
    counts = []
    clock = Clock()
    loop = LoopingCall.withCount(lambda count, tag: counts.append((count, tag)))
    loop.a = ("tag",)
    loop.clock = clock
    loop.start(2, now=False)
    clock.pump([2, 2, 6])
    assert counts == [(1, "tag"), (1, "tag"), (3, "tag")]


@pytest.mark.parametrize("interval", [0.1, 0.3, 1 / 3, 0.7, 2.5])
@pytest.mark.parametrize("startAt", [0, 0.05, 12.345, 1e6 + 0.1])
def test_loopingCallKeepsFloatGrid(interval, startAt):
    # Most intervals are not exact in binary: advancing a Clock by the
    # interval must still make exactly one call each time, counting 1.
    counts = []
    clock = Clock()
    clock.advance(startAt)
    loop = LoopingCall.withCount(counts.append)
    loop.clock = clock
    loop.start(interval)
    for _ in range(1000):
        clock.advance(interval)
    assert counts == [1] * 1001
    clock.advance(interval * 2.5)
    assert counts[-1] == 2
    assert sum(counts) == 1003


def test_loopingCallNeverSchedulesPastItsGridPoint():
    # In floats 0.06 + (0.9 - 0.06) is 0.9000000000000001: a call scheduled
    # from 0.06 with the plain difference would miss a clock reading 0.9.
    pending = Deferred()
    calls = []

    def firstWaits():
        calls.append(clock.seconds())
        return pending if len(calls) == 1 else None

    clock, loop = makeLoop(firstWaits)
    loop.start(0.9)
    clock.advance(0.06)
    pending.callback(None)
    assert 0.9 - 1e-12 < loop.call.getTime() <= 0.9
    clock.advance(0.84)
    assert clock.seconds() <= 0.9
    assert len(calls) == 2
    loop.stop()


def test_loopingCallIntervalZeroCallsEveryTick():
    counts = []

    def countCalls(count):
        counts.append(count)
        if len(counts) == 5:
            loop.stop()

    clock = Clock()
    loop = LoopingCall.withCount(countCalls)
    loop.clock = clock
    deferred = loop.start(0, now=False)
    assert counts == []
    clock.advance(0)
    assert counts == [1] * 5
    assert resultOf(deferred) is loop


def test_loopingCallIntervalZeroYieldsToTheReactorBetweenCalls():
    # In a reactor (runDue with onlyPrevious), interval 0 means once per turn.
    from reactor._timers import TimerHeap

    calls = []
    timers = TimerHeap(lambda: 0.0)
    loop = LoopingCall(calls.append, "tick")
    loop.clock = timers
    loop.start(0)
    timers.runDue(0.0)
    timers.runDue(0.0)
    assert calls == ["tick"] * 3
    loop.stop()


def test_loopingCallRejectsBadUse():
    clock, loop = makeLoop(print)
    with pytest.raises(ValueError):
        loop.start(-1)
    assert not loop.running
    with pytest.raises(AssertionError):
        loop.stop()
    with pytest.raises(AssertionError):
        loop.reset()
    loop.start(1, now=False)
    with pytest.raises(AssertionError):
        loop.start(1)
    loop.stop()


def test_loopingCallResetRestartsTheInterval():
    calls = []
    clock, loop = makeLoop(lambda: calls.append(clock.seconds()))
    loop.start(2)
    clock.advance(1.5)
    loop.reset()
    assert loop.starttime == 1.5
    clock.advance(1.5)
    assert calls == [0]
    clock.advance(0.5)
    assert calls == [0, 3.5]
    clock.advance(2)
    assert calls == [0, 3.5, 5.5]


def test_loopingCallResetWhileDeferredPendingDoesNothing():
    pending = Deferred()
    clock, loop = makeLoop(lambda: pending)
    loop.start(1)
    clock.advance(0.5)
    loop.reset()
    assert loop.starttime == 0 and loop.call is None
    pending.callback(None)
    assert loop.call.getTime() == 1
    loop.stop()


def test_loopingCallRepr():
    def beat(*a, **kw):
        pass

    clock, loop = makeLoop(beat, 1, key="v")
    assert (
        repr(loop) == "LoopingCall<None>(test_loopingCallRepr.<locals>.beat, *(1,), **{'key': 'v'})"
    )
    loop.start(5, now=False)
    assert repr(loop).startswith("LoopingCall<5>(")
    loop.stop()

    class Callable:
        def __call__(self):
            pass

        def __repr__(self):
            return "<a callable>"

    assert repr(LoopingCall(Callable())) == "LoopingCall<None>(<a callable>, *(), **{})"


def test_loopingCallClockDefaultsToGlobalReactorLazily(globalClock, monkeypatch):
    monkeypatch.setattr(reactor, "_installed", None)
    loop = LoopingCall(print)
    # Nothing is fetched (or installed) until the clock is needed.
    assert loop._clock is None
    monkeypatch.setattr(reactor, "_installed", globalClock)
    calls = []
    loop.f = lambda: calls.append(globalClock.seconds())
    loop.start(1)
    assert loop.clock is globalClock
    globalClock.advance(1)
    assert calls == [0, 1]
    loop.stop()


# -- deferLater ------------------------------------------------------------------


def test_deferLaterFiresWithTheResultAfterTheDelay():
    clock = Clock()
    deferred = deferLater(clock, 3, lambda a, b: a + b, 1, b=2)
    clock.advance(2.9)
    assertNoResult(deferred)
    clock.advance(0.1)
    assert resultOf(deferred) == 3


def test_deferLaterWithoutCallableFiresWithNone():
    clock = Clock()
    deferred = deferLater(clock, 1)
    clock.advance(1)
    assert resultOf(deferred) is None


def test_deferLaterErrorFailsTheDeferred():
    clock = Clock()
    deferred = deferLater(clock, 1, lambda: 1 / 0)
    clock.advance(1)
    failureOf(deferred, ZeroDivisionError)


def test_deferLaterCancelRemovesTheCall():
    clock = Clock()
    calls = []
    deferred = deferLater(clock, 1, calls.append, "x")
    deferred.cancel()
    failureOf(deferred, CancelledError)
    assert clock.getDelayedCalls() == []
    clock.advance(2)
    assert calls == []


# -- Cooperator ------------------------------------------------------------------


class Steps:
    """A termination predicate factory: each tick runs at most `steps` steps."""

    def __init__(self, steps):
        self.steps = steps
        self.ticks = 0

    def __call__(self):
        self.ticks += 1
        remaining = [self.steps]

        def predicate():
            remaining[0] -= 1
            return remaining[0] <= 0

        return predicate


def makeCooperator(steps=3, started=True):
    clock = Clock()
    predicates = Steps(steps)
    cooperator = Cooperator(
        terminationPredicateFactory=predicates,
        scheduler=lambda tick: clock.callLater(0.01, tick),
        started=started,
    )
    return clock, cooperator, predicates


def recorder(events, name, count):
    for index in range(count):
        events.append((name, index))
        yield None


def test_coiterateFiresWithTheIteratorWhenExhausted():
    clock, cooperator, predicates = makeCooperator()
    events = []
    iterator = recorder(events, "a", 5)
    deferred = cooperator.coiterate(iterator)
    assert events == []
    clock.advance(0.01)
    assert len(events) == 3
    assertNoResult(deferred)
    clock.advance(0.01)
    assert resultOf(deferred) is iterator
    assert events == [("a", i) for i in range(5)]
    assert clock.getDelayedCalls() == []


def test_coiterateFiresAGivenDeferred():
    clock, cooperator, _ = makeCooperator()
    done = Deferred()
    iterator = iter([1, 2])
    assert cooperator.coiterate(iterator, done) is done
    clock.advance(0.01)
    assert resultOf(done) is iterator


def test_tasksRunRoundRobinInTimeSlices():
    clock, cooperator, predicates = makeCooperator(steps=4)
    events = []
    cooperator.cooperate(recorder(events, "a", 3))
    cooperator.cooperate(recorder(events, "b", 3))
    clock.advance(0.01)
    assert events == [("a", 0), ("b", 0), ("a", 1), ("b", 1)]
    clock.advance(0.01)
    # a2, b2, then each iterator's StopIteration: four steps, both done.
    assert events[4:] == [("a", 2), ("b", 2)]
    assert predicates.ticks == 2
    assert clock.getDelayedCalls() == []


def test_yieldedDeferredPausesTaskUntilItFires():
    clock, cooperator, _ = makeCooperator(steps=10)
    events = []
    waiting = Deferred()

    def work():
        events.append("before")
        yield waiting
        events.append("after")

    task = cooperator.cooperate(work())
    done = task.whenDone()
    clock.advance(0.01)
    assert events == ["before"]
    assert clock.getDelayedCalls() == []
    waiting.callback("result")
    clock.advance(0.01)
    assert events == ["before", "after"]
    clock.advance(0.01)
    resultOf(done)


def test_yieldedFailingDeferredFailsTask():
    clock, cooperator, _ = makeCooperator()
    waiting = Deferred()
    task = cooperator.cooperate(iter([waiting, None]))
    done = task.whenDone()
    clock.advance(0.01)
    waiting.errback(KeyError("lost"))
    failureOf(done, KeyError)
    with pytest.raises(TaskFailed):
        task.pause()


def test_iteratorErrorFailsWhenDone():
    clock, cooperator, _ = makeCooperator()

    def broken():
        yield None
        raise ZeroDivisionError("broken")

    task = cooperator.cooperate(broken())
    done = task.whenDone()
    clock.advance(0.01)
    failureOf(done, ZeroDivisionError)
    failureOf(task.whenDone(), ZeroDivisionError)


def test_unwatchedIteratorErrorIsLogged(errors):
    clock, cooperator, _ = makeCooperator()

    def broken():
        raise ZeroDivisionError("nobody listens")
        yield None

    cooperator.cooperate(broken())
    clock.advance(0.01)
    assert len(errors) == 1
    assert errors[0]["failure"].check(ZeroDivisionError)
    assert errors[0]["why"] == "Unhandled error in cooperative task"


def test_stoppedTaskWhoseDeferredFailsLogsTheError(errors):
    clock, cooperator, _ = makeCooperator()
    waiting = Deferred()
    task = cooperator.cooperate(iter([waiting]))
    done = task.whenDone()
    clock.advance(0.01)
    task.stop()
    failureOf(done, TaskStopped)
    waiting.errback(KeyError("late"))
    assert [event["failure"].type for event in errors] == [KeyError]


def test_stoppedTaskWhoseDeferredSucceedsStaysStopped():
    clock, cooperator, _ = makeCooperator()
    waiting = Deferred()
    events = []

    def work():
        events.append("before")
        yield waiting
        events.append("after")

    task = cooperator.cooperate(work())
    clock.advance(0.01)
    task.stop()
    waiting.callback(None)
    clock.advance(1)
    assert events == ["before"]
    assert clock.getDelayedCalls() == []


def test_stopTaskFailsWhenDoneWithTaskStopped():
    clock, cooperator, _ = makeCooperator()
    events = []
    task = cooperator.cooperate(recorder(events, "a", 10))
    done = task.whenDone()
    task.stop()
    failureOf(done, TaskStopped)
    failureOf(task.whenDone(), TaskStopped)
    clock.advance(1)
    assert events == []
    with pytest.raises(TaskStopped):
        task.stop()


def test_finishedTaskCannotBePausedOrStopped():
    clock, cooperator, _ = makeCooperator()
    task = cooperator.cooperate(iter([]))
    clock.advance(0.01)
    with pytest.raises(TaskDone):
        task.pause()
    with pytest.raises(TaskDone):
        task.stop()


def test_pauseAndResumeNest():
    clock, cooperator, _ = makeCooperator()
    events = []
    task = cooperator.cooperate(recorder(events, "a", 3))
    task.pause()
    task.pause()
    clock.advance(0.01)
    task.resume()
    clock.advance(0.01)
    assert events == []
    task.resume()
    clock.advance(0.01)
    assert events == [("a", 0), ("a", 1), ("a", 2)]
    with pytest.raises(NotPaused):
        task.resume()


def test_stopWhilePausedThenResumeDoesNotRun():
    clock, cooperator, _ = makeCooperator()
    events = []
    task = cooperator.cooperate(recorder(events, "a", 3))
    task.pause()
    task.stop()
    task.resume()
    clock.advance(1)
    assert events == []


def test_cooperatorStopStopsEveryTaskAndRefusesNewOnes():
    clock, cooperator, _ = makeCooperator()
    first = cooperator.cooperate(iter(range(10))).whenDone()
    second = cooperator.cooperate(iter(range(10))).whenDone()
    third = cooperator.cooperate(iter(range(10))).whenDone()
    assert cooperator.running
    cooperator.stop()
    assert not cooperator.running
    for done in (first, second, third):
        failureOf(done, SchedulerStopped)
    assert clock.getDelayedCalls() == []
    failureOf(cooperator.coiterate(iter([1])), SchedulerStopped)


def test_stoppingCooperatorFromWhenDoneCallback():
    clock, cooperator, _ = makeCooperator()
    stopped = cooperator.cooperate(iter(range(100))).whenDone()
    finished = cooperator.coiterate(iter([]))
    finished.addCallback(lambda ignored: cooperator.stop())
    clock.advance(0.01)
    resultOf(finished)
    failureOf(stopped, SchedulerStopped)


def test_startedFalseHoldsTasksUntilStart():
    clock, cooperator, _ = makeCooperator(started=False)
    events = []
    done = cooperator.coiterate(recorder(events, "a", 2))
    assert not cooperator.running
    clock.advance(1)
    assert events == [] and clock.getDelayedCalls() == []
    cooperator.start()
    assert cooperator.running
    clock.advance(0.01)
    resultOf(done)
    assert events == [("a", 0), ("a", 1)]


def test_startWithoutPendingTasksSchedulesNothing():
    clock, cooperator, _ = makeCooperator(started=False)
    cooperator.start()
    assert clock.getDelayedCalls() == []


def test_defaultTimerEndsTheSliceAfterMaxSlice(monkeypatch):
    monkeypatch.setattr(task._Timer, "MAX_SLICE", 3600)
    assert task._Timer()() is False
    monkeypatch.setattr(task._Timer, "MAX_SLICE", -1)
    assert task._Timer()() is True


def test_globalCooperateAndCoiterateUseTheGlobalReactor(globalClock):
    events = []
    done = task.coiterate(recorder(events, "a", 2))
    cooperated = task.cooperate(recorder(events, "b", 1)).whenDone()
    (call,) = globalClock.getDelayedCalls()
    assert call.getTime() == task._EPSILON
    globalClock.advance(1)
    resultOf(done)
    resultOf(cooperated)
    assert sorted(events) == [("a", 0), ("a", 1), ("b", 0)]
