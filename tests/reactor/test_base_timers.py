"""
Unit tests of the reactor's timer heap bulk path (reactor._timers.ReactorTimerHeap).
"""

import pytest

from reactor._timers import ReactorTimerHeap, TimerHeap


class FakeClock:
    def __init__(self):
        self.now = 0.0

    def __call__(self):
        return self.now


def errorsInto(errors):
    def onError():
        import sys

        errors.append(sys.exc_info()[0])

    return onError


def scheduleBurst(heap, fired, count=2000):
    return [heap.callLater(i / 1000, fired.append, i) for i in range(count)]


@pytest.mark.parametrize("now", [0.3, 0.6, 1.0])
def test_bulkRunMatchesPlainHeapOrder(now):
    results = []
    for heapClass in (TimerHeap, ReactorTimerHeap):
        clock, fired = FakeClock(), []
        heap = heapClass(clock)
        calls = [heap.callLater((i * 7919) % 1000 / 1000, fired.append, i) for i in range(3000)]
        for call in calls[::3]:
            call.cancel()
        calls[1].reset(0.5)
        calls[2].reset(0)  # earlier than before
        clock.now = now
        heap.runDue(clock.now, True, errorsInto([]))
        results.append((fired, sorted(c.args[0] for c in heap.getDelayedCalls()), len(heap)))
    assert results[0] == results[1]
    assert len(results[1][0]) + results[1][2] == 2000


def test_bulkRunHonoursCancelAndResetDuringTheRun():
    clock, fired, errors = FakeClock(), [], []
    heap = ReactorTimerHeap(clock)
    calls = scheduleBurst(heap, fired)

    def meddle():
        calls[1500].cancel()
        calls[1600].reset(5)  # later than now: waits
        calls[1700].delay(-1)  # moved during the run: waits for the next run
        raise ZeroDivisionError()

    heap.callLater(0.0005, meddle)
    clock.now = 2.0
    heap.runDue(clock.now, True, errorsInto(errors))
    assert errors == [ZeroDivisionError]
    assert 1500 not in fired and 1600 not in fired and 1700 not in fired
    assert len(fired) == 1997
    assert len(heap) == 2
    assert set(heap.getDelayedCalls()) == {calls[1600], calls[1700]}
    clock.now = 10.0
    heap.runDue(clock.now, True, errorsInto(errors))
    assert fired[-2:] == [1700, 1600]
    assert len(heap) == 0 and heap.heap == []


def test_callsScheduledDuringABulkRunWaitForTheNextRun():
    clock, fired = FakeClock(), []
    heap = ReactorTimerHeap(clock)
    scheduleBurst(heap, fired, 1000)
    heap.callLater(0, lambda: heap.callLater(0, fired.append, "new"))
    clock.now = 5.0
    heap.runDue(clock.now, True, errorsInto([]))
    assert "new" not in fired and len(heap) == 1
    heap.runDue(clock.now, True, errorsInto([]))
    assert fired[-1] == "new"
