"""
Scheduling helpers: Clock, LoopingCall, deferLater, and the Cooperator.

Everything here schedules through an IReactorTime it is given (``clock=``,
``scheduler=``), so a test passes a Clock and steps time by hand.  Clock runs
on the very TimerHeap the reactors use (reactor/_timers.py): what a test sees
is what production does.  The global reactor is only fetched, lazily, when no
clock was given.

``react(main, argv)`` lives in reactor._react (it needs a real reactor) and
is re-exported here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from types import CoroutineType
from typing import Any, Generic, ParamSpec, TypeVar, overload

from zope.interface import implementer

from reactor import getReactor, log
from reactor._react import react
from reactor._timers import DelayedCall, TimerHeap, _safeRepr
from reactor.defer import Deferred
from reactor.failure import Failure
from reactor.interfaces import IDelayedCall, IReactorTime

__all__ = [
    "react",
    "Clock",
    "LoopingCall",
    "deferLater",
    "Cooperator",
    "CooperativeTask",
    "cooperate",
    "coiterate",
    "SchedulerError",
    "SchedulerStopped",
    "TaskFinished",
    "TaskDone",
    "TaskStopped",
    "TaskFailed",
    "NotPaused",
]


# What deferLater's callable returns, and its arguments.
_T = TypeVar("_T")
_P = ParamSpec("_P")


# -- Clock --------------------------------------------------------------------


@implementer(IReactorTime)
class Clock:
    """
    A deterministic IReactorTime for tests: time moves only in advance().

    :ivar rightNow: the current time, starting at 0.0.
    """

    def __init__(self) -> None:
        self.rightNow = 0.0
        self._timers = TimerHeap(self.seconds)

    def seconds(self) -> float:
        """Return the current time, as set by advance()."""
        return self.rightNow

    def callLater(
        self, delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> DelayedCall:
        """
        Call callable(*args, **kw) when the clock has advanced by delay.

        :return: the DelayedCall (the reactors' own class).
        :raises ValueError: if delay is negative.
        """
        return self._timers.callLater(delay, callable, *args, **kw)

    def getDelayedCalls(self) -> list[DelayedCall]:
        """Return the calls still scheduled."""
        return self._timers.getDelayedCalls()

    @property
    def calls(self) -> list[DelayedCall]:
        """The calls still scheduled, in the order they will run (Twisted's list)."""
        return self._timers.getDelayedCallsInOrder()

    def advance(self, amount: float) -> None:
        """
        Move time forward by amount and run every call that becomes due.

        Calls scheduled by those calls run too if they are due by the new
        time (as in Twisted).  An exception from a call propagates to the
        caller; the calls not yet run stay scheduled.

        :raises ValueError: if amount is negative (time never goes back).
        """
        if amount < 0:
            raise ValueError("Clock.advance() amount must be >= 0, not %r" % (amount,))
        self.rightNow += amount
        self._timers.runDue(self.rightNow, onlyPrevious=False)

    def pump(self, timings: Iterable[float]) -> None:
        """Advance the clock by each amount of timings in turn."""
        for amount in timings:
            self.advance(amount)


# -- LoopingCall --------------------------------------------------------------


class LoopingCall:
    """
    Call a function every interval seconds, until stopped or it fails.

    The calls keep to the grid ``starttime + k * interval``: if a call (or the
    Deferred it returned) overruns, the intervals missed are skipped, not
    bunched up, and the next call is on the next grid point in the future.

    Float rounding: while no interval is missed, the next grid point is the
    previous one plus interval (not starttime + k * interval), which is the
    very sum a Clock advanced by interval reaches, so advancing a Clock by
    0.1 always makes exactly one call (test_loopingCallKeepsFloatGrid).

    ``interval`` may be changed while running (as in Twisted); the grid
    then continues from the clock time of the last call, counted in the new
    interval (see _regrid).

    :ivar f: the function; a, kw: its arguments.
    :ivar running: True between start() and stop() (or a failure).
    :ivar interval: seconds between calls, set by start().
    :ivar call: the DelayedCall of the next call, or None while f runs.
    :ivar starttime: the clock's time when start() (or reset()) was called.
    :ivar clock: the IReactorTime used; the global reactor unless set.
    """

    call: IDelayedCall | None = None
    running = False
    interval: float | None = None
    starttime: float | None = None
    _deferred: Deferred[LoopingCall] | None = None
    _clock: IReactorTime | None = None

    def __init__(self, f: Callable[..., object], *a: object, **kw: object) -> None:
        self.f = f
        self.a = a
        self.kw = kw
        self._withCount = False
        # Grid index and grid time of the previous call and of the next one,
        # on the grid of _gridInterval (unused while it is 0).
        self._lastIndex = 0
        self._lastTime = 0.0
        self._nextIndex = 0
        self._nextTime = 0.0
        self._gridInterval: float | None = None
        # The clock's time at the last call; None before the first (and
        # after reset(), whose time is the grid's new index 0).
        self._lastCalledAt: float | None = None

    @property
    def clock(self) -> IReactorTime:
        """The IReactorTime scheduling the calls (the global reactor by default)."""
        if self._clock is None:
            self._clock = getReactor()
        return self._clock

    @clock.setter
    def clock(self, clock: IReactorTime) -> None:
        self._clock = clock

    @property
    def deferred(self) -> Deferred[LoopingCall] | None:
        """The Deferred returned by start(), until it has fired."""
        return self._deferred

    @classmethod
    def withCount(cls, countCallable: Callable[[int], object]) -> LoopingCall:
        """
        Make a LoopingCall that calls countCallable(count).

        count is how many intervals have elapsed since the previous call: 1
        normally, 3 if the clock jumped (or the process stalled) so that two
        calls were skipped.  With interval 0 it is always 1; when interval
        is changed (from 0 too), the next count is the number of new
        intervals, counted from starttime, between the last call and now, as
        in Twisted.
        """
        loop = cls(countCallable)
        loop._withCount = True
        return loop

    def start(self, interval: float, now: bool = True) -> Deferred[LoopingCall]:
        """
        Start calling f every interval seconds.

        :param interval: seconds between calls; 0 calls again on every
            reactor turn.
        :param now: call f at once (True) or first after one interval.
        :return: a Deferred firing with this LoopingCall when stop() is
            called, or failing with the error if f raises or returns a
            failing Deferred (which also stops the loop).
        :raises AssertionError: if already running (as in Twisted).
        :raises ValueError: if interval is negative.
        """
        if self.running:
            raise AssertionError("Tried to start an already running LoopingCall.")
        if interval < 0:
            raise ValueError("LoopingCall interval must be >= 0, not %r" % (interval,))
        self.running = True
        deferred = self._deferred = Deferred()
        self.starttime = self.clock.seconds()
        self.interval = self._gridInterval = interval
        self._lastCalledAt = None
        if now:
            self._lastIndex = -1
            self._nextIndex = 0
            self._nextTime = self.starttime
            self()
        else:
            self._lastIndex = 0
            self._lastTime = self.starttime
            self._scheduleFrom(self.starttime)
        return deferred

    def stop(self) -> None:
        """
        Stop calling f, and fire the Deferred start() returned.

        If f's Deferred is still pending, the start() Deferred fires when it
        does.

        :raises AssertionError: if not running.
        """
        if not self.running:
            raise AssertionError("Tried to stop a LoopingCall that was not running.")
        self.running = False
        if self.call is not None:
            self.call.cancel()
            self.call = None
            deferred, self._deferred = self._deferred, None
            deferred.callback(self)  # type: ignore[union-attr]  # set while running

    def reset(self) -> None:
        """
        Restart the interval from now: the next call is interval seconds away.

        Does nothing while f's Deferred is pending.

        :raises AssertionError: if not running.
        """
        if not self.running:
            raise AssertionError("Tried to reset a LoopingCall that was not running.")
        if self.call is not None:
            self.call.cancel()
            self.call = None
            self.starttime = self._lastTime = self.clock.seconds()
            self._lastIndex = 0
            self._lastCalledAt = None
            self._gridInterval = self.interval
            self._scheduleFrom(self.starttime)

    def __call__(self) -> None:
        self.call = None
        now = self.clock.seconds()
        # Both set by start(), before any call (None only until then).
        interval: float
        starttime: float
        interval, starttime = self.interval, self.starttime  # type: ignore[assignment]
        if interval != self._gridInterval:
            self._regrid(interval)
        if interval:
            index = self._nextIndex
            gridTime = self._nextTime
            # Late (a stalled process, a big Clock.advance): count the
            # intervals that really elapsed.  Never less than the scheduled
            # index, so float rounding cannot make count 0.
            elapsed = int((now - starttime) // interval)
            if elapsed > index:
                index = elapsed
                gridTime = starttime + elapsed * interval
            count = index - self._lastIndex
            self._lastIndex = index
            self._lastTime = gridTime
        else:
            count = 1
        self._lastCalledAt = now
        try:
            if self._withCount:
                result = self.f(count, *self.a, **self.kw)
            else:
                result = self.f(*self.a, **self.kw)
        except Exception:
            # Handled below, outside this block: the start() Deferred's
            # errbacks must not run with this error as the one being handled
            # (test_loopingCallFailureFiresOutsideItsExceptBlock).
            result = Failure()
        if isinstance(result, CoroutineType):
            result = Deferred.fromCoroutine(result)
        if isinstance(result, Deferred):
            result.addCallbacks(self._cbCalled, self._ebCalled)
        elif isinstance(result, Failure):
            self._ebCalled(result)
        else:
            self._cbCalled(result)

    def _cbCalled(self, result: object) -> None:
        if self.running:
            self._scheduleFrom(self.clock.seconds())
        else:
            # stop() was called while f (or its Deferred) was running.
            deferred, self._deferred = self._deferred, None
            deferred.callback(self)  # type: ignore[union-attr]  # set while running

    def _ebCalled(self, failure: Failure) -> None:
        self.running = False
        deferred, self._deferred = self._deferred, None
        deferred.errback(failure)  # type: ignore[union-attr]  # set while running

    def _regrid(self, interval: float) -> None:
        # interval was changed since the grid was laid out: put the last
        # call on the new grid by the clock time it was made at (Twisted's
        # count: whole intervals since starttime), so that the next count is
        # the new intervals elapsed since then.  Interval 0 keeps no grid;
        # only the time of each call (test_withCountAfterIntervalZero).
        self._gridInterval = interval
        if not interval:
            return
        starttime: float = self.starttime  # type: ignore[assignment]  # set by start()
        if self._lastCalledAt is None:
            index = 0
        else:
            index = int((self._lastCalledAt - starttime) // interval)
        self._lastIndex = index
        self._lastTime = starttime + index * interval
        self._nextIndex = index + 1
        self._nextTime = self._lastTime + interval

    def _scheduleFrom(self, when: float) -> None:
        # Both set by start(), before anything is scheduled.
        interval: float
        starttime: float
        interval, starttime = self.interval, self.starttime  # type: ignore[assignment]
        if interval != self._gridInterval:
            self._regrid(interval)
        if interval == 0:
            self.call = self.clock.callLater(0, self)
            return
        index = int((when - starttime) // interval) + 1
        if index <= self._lastIndex + 1:
            # Nothing missed: step from the last grid point by addition.
            index = self._lastIndex + 1
            target = self._lastTime + interval
        else:
            target = starttime + index * interval
        self._nextIndex = index
        self._nextTime = target
        delay = target - when
        # The call must not land a rounding error after target, or a Clock
        # advanced exactly to target would not run it.
        while delay > 0 and when + delay > target:
            delay = math.nextafter(delay, 0.0)
        self.call = self.clock.callLater(delay if delay > 0 else 0.0, self)

    def __repr__(self) -> str:
        func = getattr(self.f, "__qualname__", None)
        if not isinstance(func, str):
            func = _safeRepr(self.f)
        return "LoopingCall<%r>(%s, *%s, **%s)" % (
            self.interval,
            func,
            _safeRepr(self.a),
            _safeRepr(self.kw),
        )


# -- deferLater ---------------------------------------------------------------


@overload
def deferLater(clock: IReactorTime, delay: float) -> Deferred[None]: ...


@overload
def deferLater(
    clock: IReactorTime,
    delay: float,
    callable: Callable[_P, Deferred[_T] | _T],
    *args: _P.args,
    **kw: _P.kwargs,
) -> Deferred[_T]: ...


def deferLater(
    clock: IReactorTime,
    delay: float,
    callable: Callable[..., Any] | None = None,
    *args: Any,
    **kw: Any,
) -> Deferred[Any]:
    """
    Return a Deferred firing with callable(*args, **kw) after delay seconds.

    :param clock: the IReactorTime to schedule on (a reactor, or a Clock).
    :param delay: seconds to wait.
    :param callable: what to call; None to fire with None.
    :return: a Deferred with callable's result (or its error).  Cancelling it
        before the delay has passed cancels the call and fails the Deferred
        with CancelledError.
    """

    def cancelCall(deferred: Deferred[Any]) -> None:
        delayedCall.cancel()

    deferred: Deferred[Any] = Deferred(cancelCall)
    if callable is not None:
        deferred.addCallback(lambda ignored: callable(*args, **kw))
    delayedCall = clock.callLater(delay, deferred.callback, None)
    return deferred


# -- Cooperator ---------------------------------------------------------------


class SchedulerError(Exception):
    """A CooperativeTask was used in a way its state does not allow."""


class SchedulerStopped(SchedulerError):
    """The Cooperator running the task was stopped."""


class TaskFinished(SchedulerError):
    """The task has already finished; it cannot be paused or stopped."""


class TaskDone(TaskFinished):
    """The task's iterator is exhausted."""


class TaskStopped(TaskFinished):
    """The task was stopped with stop()."""


class TaskFailed(TaskFinished):
    """The task's iterator raised an exception (or yielded a failing Deferred)."""


class NotPaused(SchedulerError):
    """resume() was called on a task that was not paused."""


class _Timer:
    # The default termination predicate: a tick ends after MAX_SLICE seconds.
    MAX_SLICE = 0.01

    def __init__(self) -> None:
        self.end = time.monotonic() + self.MAX_SLICE

    def __call__(self) -> bool:
        return time.monotonic() >= self.end


_EPSILON = 0.00000001


def _defaultScheduler(tick: Callable[[], object]) -> IDelayedCall:
    clock: IReactorTime = getReactor()
    return clock.callLater(_EPSILON, tick)


# The iterator a CooperativeTask runs.
_IteratorT = TypeVar("_IteratorT", bound=Iterator[Any])


class CooperativeTask(Generic[_IteratorT]):
    """
    One iterator run a step at a time by a Cooperator (made by cooperate()).

    ``CooperativeTask[I]`` (at run time too) runs an iterator of type I.

    Each step is one next() on the iterator.  A step that yields a Deferred
    pauses the task until the Deferred fires; if it fails, so does the task.
    """

    def __init__(self, iterator: _IteratorT, cooperator: Cooperator) -> None:
        self._iterator = iterator
        self._cooperator = cooperator
        self._deferreds: list[Deferred[_IteratorT]] = []
        self._pauseCount = 0
        self._completionState: SchedulerError | None = None
        self._completionResult: _IteratorT | Failure | None = None
        cooperator._addTask(self)

    def whenDone(self) -> Deferred[_IteratorT]:
        """
        Return a Deferred for the end of the task.

        It fires with the iterator once it is exhausted, or fails with
        TaskStopped (stop()), SchedulerStopped (Cooperator.stop()) or the
        iterator's own error.
        """
        deferred: Deferred[_IteratorT] = Deferred()
        if self._completionState is None:
            self._deferreds.append(deferred)
        else:
            deferred.callback(self._completionResult)  # type: ignore[arg-type]  # completed
        return deferred

    def pause(self) -> None:
        """
        Stop running steps until resume() is called as many times.

        :raises TaskFinished: (TaskDone, TaskStopped, TaskFailed) if the task
            is over.
        """
        self._checkFinish()
        self._pauseCount += 1
        if self._pauseCount == 1:
            self._cooperator._removeTask(self)

    def resume(self) -> None:
        """
        Undo one pause().

        :raises NotPaused: if the task is not paused.
        """
        if self._pauseCount == 0:
            raise NotPaused()
        self._pauseCount -= 1
        if self._pauseCount == 0 and self._completionState is None:
            self._cooperator._addTask(self)

    def stop(self) -> None:
        """
        Stop the task for good; whenDone() Deferreds fail with TaskStopped.

        :raises TaskFinished: if the task is already over.
        """
        self._checkFinish()
        self._completeWith(TaskStopped(), Failure(TaskStopped()))

    def _checkFinish(self) -> None:
        if self._completionState is not None:
            raise self._completionState

    def _completeWith(
        self, completionState: SchedulerError, deferredResult: _IteratorT | Failure
    ) -> None:
        self._completionState = completionState
        self._completionResult = deferredResult
        if not self._pauseCount:
            self._cooperator._removeTask(self)
        if (
            not self._deferreds
            and isinstance(deferredResult, Failure)
            and isinstance(completionState, TaskFailed)
        ):
            # Twisted drops this error when nobody called whenDone(); a
            # cooperate()d iterator that crashes deserves a log line.
            log.err(deferredResult, "Unhandled error in cooperative task")
        # Fire after the task has left the Cooperator, so that a callback may
        # stop the Cooperator without finding this task in it.
        deferreds, self._deferreds = self._deferreds, []
        for deferred in deferreds:
            deferred.callback(deferredResult)

    def _oneWorkUnit(self) -> None:
        completion: tuple[SchedulerError, _IteratorT | Failure]
        try:
            result = next(self._iterator)
        except StopIteration:
            completion = TaskDone(), self._iterator
        except Exception:
            completion = TaskFailed(), Failure()
        else:
            if isinstance(result, Deferred):
                self.pause()
                result.addCallbacks(self._cbStepDone, self._ebStepFailed)
            return
        # Completed after the except block, not inside it: the whenDone
        # callbacks resume code waiting on the task, and an exception it
        # raises would carry the StopIteration as its __context__
        # (test_coiterateLeavesNoStopIterationContext).
        self._completeWith(*completion)

    def _cbStepDone(self, result: object) -> None:
        self.resume()

    def _ebStepFailed(self, failure: Failure) -> None:
        if self._completionState is None:
            self._completeWith(TaskFailed(), failure)
        else:
            # The task was stopped while it waited; nobody listens any more.
            log.err(failure, "Error in the Deferred of a stopped cooperative task")


class Cooperator:
    """
    Run many iterators side by side, a step of each in turn, in time slices.

    Each tick runs steps round-robin until the termination predicate says
    the slice is over (10 ms by default), then asks the scheduler for the
    next tick, so long-running work shares the loop with I/O.
    """

    def __init__(
        self,
        terminationPredicateFactory: Callable[[], Callable[[], bool]] = _Timer,
        scheduler: Callable[[Callable[[], object]], IDelayedCall] = _defaultScheduler,
        started: bool = True,
    ) -> None:
        """
        :param terminationPredicateFactory: called at the start of each tick;
            returns a callable that returns True when the tick should end.
        :param scheduler: called with the tick function to run it later;
            returns something with cancel() (an IDelayedCall).  The default
            uses the global reactor's callLater.
        :param started: False to hold every task until start() is called.
        """
        self._tasks: list[CooperativeTask[Any]] = []
        self._metarator: Iterator[CooperativeTask[Any]] = iter(())
        self._terminationPredicateFactory = terminationPredicateFactory
        self._scheduler = scheduler
        self._delayedCall: IDelayedCall | None = None
        self._stopped = False
        self._started = started
        self._mustScheduleOnStart = False

    def coiterate(
        self, iterator: _IteratorT, doneDeferred: Deferred[_IteratorT] | None = None
    ) -> Deferred[_IteratorT]:
        """
        Run iterator to its end and return a Deferred firing with it then.

        :param doneDeferred: the Deferred to fire (a new one if None).
        """
        if doneDeferred is None:
            doneDeferred = Deferred()
        CooperativeTask(iterator, self).whenDone().chainDeferred(doneDeferred)
        return doneDeferred

    def cooperate(self, iterator: _IteratorT) -> CooperativeTask[_IteratorT]:
        """Start running iterator and return its CooperativeTask."""
        return CooperativeTask(iterator, self)

    def start(self) -> None:
        """Begin running tasks (for a Cooperator made with started=False)."""
        self._stopped = False
        self._started = True
        if self._mustScheduleOnStart:
            self._mustScheduleOnStart = False
            self._reschedule()

    def stop(self) -> None:
        """Stop every running task (SchedulerStopped) and refuse new ones."""
        self._stopped = True
        if self._delayedCall is not None:
            self._delayedCall.cancel()
            self._delayedCall = None
        tasks, self._tasks = self._tasks, []
        for task in tasks:
            task._completeWith(SchedulerStopped(), Failure(SchedulerStopped()))

    @property
    def running(self) -> bool:
        """True once started and until stopped."""
        return self._started and not self._stopped

    def _addTask(self, task: CooperativeTask[Any]) -> None:
        self._tasks.append(task)
        if self._stopped:
            task._completeWith(SchedulerStopped(), Failure(SchedulerStopped()))
        else:
            self._reschedule()

    def _removeTask(self, task: CooperativeTask[Any]) -> None:
        if task in self._tasks:
            self._tasks.remove(task)
        if not self._tasks and self._delayedCall is not None:
            self._delayedCall.cancel()
            self._delayedCall = None

    def _tasksWhileNotStopped(self) -> Iterator[CooperativeTask[Any]]:
        terminator = self._terminationPredicateFactory()
        while self._tasks:
            for task in self._metarator:
                yield task
                if terminator():
                    return
            self._metarator = iter(self._tasks)

    def _tick(self) -> None:
        self._delayedCall = None
        for task in self._tasksWhileNotStopped():
            task._oneWorkUnit()
        self._reschedule()

    def _reschedule(self) -> None:
        if not self._started:
            self._mustScheduleOnStart = True
            return
        if self._delayedCall is None and self._tasks:
            self._delayedCall = self._scheduler(self._tick)


_theCooperator = Cooperator()


def coiterate(iterator: _IteratorT) -> Deferred[_IteratorT]:
    """Run iterator on the global Cooperator; see Cooperator.coiterate."""
    return _theCooperator.coiterate(iterator)


def cooperate(iterator: _IteratorT) -> CooperativeTask[_IteratorT]:
    """Run iterator on the global Cooperator; see Cooperator.cooperate."""
    return _theCooperator.cooperate(iterator)
