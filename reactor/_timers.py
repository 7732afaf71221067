"""
The timer heap: DelayedCall, and the TimerHeap every reactor and task.Clock share
(the reactors' ReactorTimerHeap adds a bulk path for bursts, at the end).

One idea: a heapq of ``(time, seq)`` tuples, and a dict from each entry's
``seq`` to the live call it stands for.  The tuples compare in C (``seq`` is
unique) and ties run in scheduling order; holding only a float and an int,
they are untracked by the garbage collector, so a burst of timers adds one
tracked object per call (the DelayedCall), not two.  Cancelling a call
removes it from the dict; its entry, now stale, is dropped when it reaches the
top of the heap, or when stale entries outnumber live ones and the heap is
rebuilt (``_compact``), so scheduling and cancelling in a loop keeps memory
bounded.

Rescheduling is where Loom does better than re-sorting.  Each call remembers
the ``seq`` of the one heap entry that stands for it (``_entrySeq``, its key
in the dict) and the ``seq`` of its latest schedule (``_seq``):

- ``reset()`` or ``delay()`` to a *later* time only records the new time and a
  new ``seq``.  The old entry, which is earlier, stays put; when it reaches the
  top it is moved to the new time.  An idle timeout reset on every received
  chunk therefore costs two attribute stores, not a heap push (see
  test_resetLaterDoesNotGrowHeap).
- Rescheduling *earlier* pushes a new entry at once and leaves the old one
  behind as stale.

The new time is always computed from ``seconds()`` at the moment of the reset,
so repeated resets never drift.
"""

from __future__ import annotations

from collections.abc import Callable
from heapq import heapify, heappop, heappush, heapreplace
from itertools import count
from typing import Any

from zope.interface import implementer

from reactor.error import AlreadyCalled, AlreadyCancelled
from reactor.interfaces import IDelayedCall

__all__ = ["DelayedCall", "TimerHeap", "ReactorTimerHeap"]

# Compact only past this many stale entries: rebuilding a tiny heap often
# would cost more than the memory it saves.
_COMPACT_MINIMUM = 64

# runDue(onlyPrevious=False) compares every seq against this: nothing is newer.
_NO_LIMIT = float("inf")

# The kw of every call made without keyword arguments: one shared dict
# rather than a new one per call (never mutated).
_NO_KW: dict[str, Any] = {}


@implementer(IDelayedCall)
class DelayedCall:
    """
    A call scheduled with callLater: cancel it, move it, or ask when it runs.

    DelayedCalls are made by TimerHeap.callLater (the reactor's and Clock's
    callLater), never directly.

    :ivar time: when the call runs, in the scheduler's seconds.
    :ivar func: what is called; None once the call is cancelled.
    :ivar args: the positional arguments ( () once cancelled).
    :ivar kw: the keyword arguments ({} once cancelled).
    :ivar called: True from the moment the call starts running.
    :ivar cancelled: True once cancel() has been called.
    """

    __slots__ = (
        "time",
        "func",
        "args",
        "kw",
        "called",
        "cancelled",
        "_timers",
        "_seq",
        "_entrySeq",
        "__weakref__",
    )

    def __init__(self, time, func, args, kw, timers, seq):
        self.time = time
        self.func = func
        self.args = args
        self.kw = kw
        self.called = False
        self.cancelled = False
        self._timers = timers
        self._seq = seq
        self._entrySeq = seq

    def getTime(self) -> float:
        """Return the time at which the call runs, in the scheduler's seconds."""
        return self.time

    def active(self) -> bool:
        """Return True while the call has neither started nor been cancelled."""
        return not (self.called or self.cancelled)

    def cancel(self) -> None:
        """
        Cancel the call, and drop its references to func, args and kw.

        :raises AlreadyCancelled: if the call was already cancelled.
        :raises AlreadyCalled: if the call has already run (or is running).
        """
        self._checkActive()
        self.cancelled = True
        # A cancelled call may be held for a long time (a protocol's timeout
        # attribute); it must not keep its arguments alive with it.
        self.func = None
        self.args = ()
        self.kw = _NO_KW
        self._timers._cancel(self)

    def reset(self, secondsFromNow: float) -> None:
        """
        Reschedule the call to run secondsFromNow after now.

        The new time is exactly ``seconds() + secondsFromNow``, however often
        the call is reset.

        :raises AlreadyCancelled: if the call was cancelled.
        :raises AlreadyCalled: if the call has already run.
        """
        self._checkActive()
        timers = self._timers
        timers._reschedule(self, timers.seconds() + secondsFromNow)

    def delay(self, secondsLater: float) -> None:
        """
        Move the call secondsLater seconds later (earlier, if negative).

        :raises AlreadyCancelled: if the call was cancelled.
        :raises AlreadyCalled: if the call has already run.
        """
        self._checkActive()
        self._timers._reschedule(self, self.time + secondsLater)

    def _checkActive(self):
        if self.cancelled:
            raise AlreadyCancelled(self)
        if self.called:
            raise AlreadyCalled(self)

    def __lt__(self, other):
        return self.time < other.time

    def __le__(self, other):
        return self.time <= other.time

    def __repr__(self):
        try:
            inSeconds = "%ss" % (self.time - self._timers.seconds(),)
        except Exception:
            inSeconds = "?"
        if self.cancelled:
            what = ""
        else:
            what = " %s(%s)" % (_describe(self.func), _describeArgs(self.args, self.kw))
        return "<DelayedCall 0x%x [%s] called=%s cancelled=%s%s>" % (
            id(self),
            inSeconds,
            self.called,
            self.cancelled,
            what,
        )


def _describe(func):
    name = getattr(func, "__qualname__", None)
    if isinstance(name, str):
        return name
    return _safeRepr(func)


def _describeArgs(args, kw):
    parts = [_safeRepr(arg) for arg in args]
    parts.extend("%s=%s" % (key, _safeRepr(value)) for key, value in kw.items())
    return ", ".join(parts)


def _safeRepr(value: object) -> str:
    # A repr is for debugging: a broken __repr__ must not hide the call.
    try:
        return repr(value)
    except Exception as error:
        return "<%s instance with broken repr: %r>" % (
            type(value).__name__,
            error,
        )


class TimerHeap:
    """
    The timed calls of one reactor (or Clock): schedule them and run those due.

    :ivar seconds: the zero-argument callable giving the current time.
    :ivar heap: the heapq of (time, seq) entries, stale ones included: empty
        when nothing is scheduled, which the reactor's loop tests on every
        turn without a call (read it; only this class changes it).
    """

    def __init__(self, seconds: Callable[[], float]) -> None:
        """
        :param seconds: a zero-argument callable returning the current time
            (the reactor's clock, or Clock.seconds).
        """
        self.seconds = seconds
        # (time, seq) entries, and the live call each seq stands for.  An
        # entry whose seq is not in _calls is stale (its call was cancelled,
        # or moved earlier to an entry of its own).
        self.heap: list[tuple[float, int]] = []
        self._calls: dict[int, DelayedCall] = {}
        self._counter = count()

    def __len__(self) -> int:
        """Return how many calls are scheduled and live."""
        return len(self._calls)

    def callLater(
        self, delay: float, f: Callable[..., object], *args: object, **kw: object
    ) -> DelayedCall:
        """
        Call f(*args, **kw) delay seconds from now.

        :return: the DelayedCall, to cancel or reschedule it.
        :raises ValueError: if delay is negative (or NaN).
        """
        if not delay >= 0:
            raise ValueError("callLater() delay must be >= 0, not %r" % (delay,))
        time = self.seconds() + delay
        seq = next(self._counter)
        call = DelayedCall(time, f, args, kw or _NO_KW, self, seq)
        heappush(self.heap, (time, seq))
        self._calls[seq] = call
        return call

    def getDelayedCalls(self) -> list[DelayedCall]:
        """Return a list of the calls still scheduled (in no particular order)."""
        return list(self._calls.values())

    def getDelayedCallsInOrder(self) -> list[DelayedCall]:
        """Return the calls still scheduled, in the order they will run."""
        return sorted(self._calls.values(), key=_runOrder)

    def timeout(self) -> float | None:
        """
        Return how many seconds remain until the next call is due.

        :return: 0 if a call is overdue, None if no call is scheduled.
        """
        heap = self.heap
        calls = self._calls
        while heap:
            time, seq = heap[0]
            call = calls.get(seq)
            if call is None:
                heappop(heap)
            elif seq != call._seq:
                # Moved later by reset() or delay(): move its entry now.
                del calls[seq]
                heapreplace(heap, self._newEntry(call))
            else:
                delay = time - self.seconds()
                return delay if delay > 0 else 0
        return None

    def runDue(
        self,
        now: float,
        onlyPrevious: bool = True,
        onError: Callable[[], object] | None = None,
    ) -> None:
        """
        Run, in time order, every live call whose time is <= now.

        :param now: the current time (the caller reads its clock once).
        :param onlyPrevious: if True (reactors), calls scheduled or moved while
            this runs wait for the next run even if already due, so a callback
            that keeps calling callLater(0, ...) cannot starve I/O.  If False
            (Clock.advance, like Twisted's), run until nothing is due.
        :param onError: None to let an exception from a call propagate (the
            calls not yet run stay scheduled); otherwise called with no
            arguments inside the ``except`` block (to log the error) before
            going on with the next call.
        """
        heap = self.heap
        pop = heappop
        takeCall = self._calls.pop
        # Every seq handed out from here on is newer than limit.
        limit = next(self._counter) if onlyPrevious else _NO_LIMIT
        while heap:
            time, seq = heap[0]
            if time > now or seq > limit:
                # Ordered by (time, seq): a new entry can only be on top once
                # everything older that is due has run
                # (test_runDueOnlyPreviousDefersCallsScheduledDuringRun).
                break
            call = takeCall(seq, None)
            if call is None:
                pop(heap)
                continue
            if seq != call._seq:
                heapreplace(heap, self._newEntry(call))
                continue
            pop(heap)
            call.called = True
            try:
                call.func(*call.args, **call.kw)
            except Exception:
                if onError is None:
                    raise
                onError()

    # -- bookkeeping for DelayedCall ------------------------------------------

    def _newEntry(self, call):
        # call was moved later, and its old entry (already out of _calls) is
        # leaving the heap: return the entry that stands for it from now on.
        seq = call._seq
        self._calls[seq] = call
        call._entrySeq = seq
        return (call.time, seq)

    def _cancel(self, call):
        # Its entry goes stale: found and dropped when it reaches the top.
        calls = self._calls
        del calls[call._entrySeq]
        self._maybeCompact(calls)

    def _reschedule(self, call, time):
        seq = next(self._counter)
        call._seq = seq
        if time < call.time:
            # Earlier than its entry may be: it needs an entry of its own now.
            calls = self._calls
            del calls[call._entrySeq]
            calls[seq] = call
            call._entrySeq = seq
            call.time = time
            heappush(self.heap, (time, seq))
            self._maybeCompact(calls)
        else:
            call.time = time

    def _maybeCompact(self, calls):
        stale = len(self.heap) - len(calls)
        if stale > _COMPACT_MINIMUM and stale > len(calls):
            self._compact()

    def _compact(self):
        # Rebuild in place: runDue may be iterating over this very list.
        heap = self.heap
        calls = self._calls
        heap[:] = [entry for entry in heap if entry[1] in calls]
        heapify(heap)


def _runOrder(call: DelayedCall) -> tuple[float, int]:
    # (time, seq): ties run in scheduling order.
    return (call.time, call._seq)


# -- bursts ---------------------------------------------------------------------
#
# When a large part of the heap is due at once (a burst of timeouts, a loop
# that was busy for a while), popping the calls one by one costs a sift-down
# each, O(log n) tuple comparisons.  Instead, take every due entry out in one
# C-speed pass, sort those (timsort, in C), rebuild the rest with heapify, and
# run the sorted list.  Order is identical: (time, seq), so ties still run in
# scheduling order.  The cheap trigger (one of two leaves of the heap is due)
# keeps the usual case, a few due calls at the top, on the plain path.
# Cancelled, moved-later and moved-earlier calls are handled as TimerHeap
# handles them (test_hundredThousandTimersFireInTimeOrder,
# test_bulkRunHonoursCancelAndResetDuringTheRun).  It is a subclass because
# only reactors take bursts this way (they run with onlyPrevious and an error
# handler); task.Clock keeps the plain heap, whose runDue lets an error
# propagate with the rest scheduled.

# Below this size the plain path is as fast.
_BULK_MINIMUM = 512


class ReactorTimerHeap(TimerHeap):
    """
    A TimerHeap whose runDue takes a burst of due calls in one pass: the
    reactors' (see "Bursts" above).
    """

    def runDue(self, now, onlyPrevious=True, onError=None):
        """Run every live call due by now (see TimerHeap.runDue)."""
        heap = self.heap
        size = len(heap)
        if (
            size < _BULK_MINIMUM
            or onError is None
            or not onlyPrevious
            # Two leaves, away from the end where the latest pushes sit.
            or (heap[size // 2][0] > now and heap[(3 * size) // 4][0] > now)
        ):
            return TimerHeap.runDue(self, now, onlyPrevious, onError)
        # Stale entries are dropped here, not sorted.
        calls = self._calls
        due = [entry for entry in heap if entry[0] <= now and entry[1] in calls]
        heap[:] = [entry for entry in heap if entry[0] > now]
        heapify(heap)
        due.sort()
        takeCall = calls.pop
        remaining = iter(due)
        try:
            for _, seq in remaining:
                # None: cancelled or moved earlier, before or during this run.
                call = takeCall(seq, None)
                if call is None:
                    continue
                if seq != call._seq:
                    # Moved later (before or during this run): back in the heap.
                    heappush(heap, self._newEntry(call))
                    continue
                call.called = True
                try:
                    call.func(*call.args, **call.kw)
                except Exception:
                    onError()
        finally:
            # Only if onError itself failed: keep what did not run.
            for entry in remaining:
                heappush(heap, entry)
