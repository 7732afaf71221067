"""
The reactor's timer heap: reactor._timers.TimerHeap, plus a bulk path for bursts.

One idea: when a large part of the heap is due at once (a burst of
timeouts, a loop that was busy for a while), popping the calls one by one
costs a sift-down each, O(log n) tuple comparisons.  Instead, take every due
entry out in one C-speed pass, sort those (timsort, in C), rebuild the rest
with heapify, and run the sorted list.  Order is identical: (time, seq), so
ties still run in scheduling order.  The cheap trigger (one of two leaves
of the heap is due) keeps the usual case, a few due calls at the top, on the
plain path.

Cancelled, moved-later and moved-earlier calls are handled as TimerHeap
handles them.
test_hundredThousandTimersFireInTimeOrder and test_bulkRunHonoursCancelAndReset
cover this path.  It is a subclass because only reactors take bursts this
way (they run with onlyPrevious and an error handler); task.Clock keeps the
plain heap, whose runDue lets an error propagate with the rest scheduled.
"""

from heapq import heapify, heappush

from reactor._timers import TimerHeap

__all__ = ["ReactorTimerHeap"]

# Below this size the plain path is as fast.
_BULK_MINIMUM = 512


class ReactorTimerHeap(TimerHeap):
    """A TimerHeap whose runDue takes a burst of due calls in one pass."""

    def runDue(self, now, onlyPrevious=True, onError=None):
        """Run every live call due by now (see TimerHeap.runDue)."""
        heap = self._heap
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
