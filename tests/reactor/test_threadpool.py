"""
Unit tests of reactor.threadpool.ThreadPool.
"""

import queue
import threading
import time

import pytest

from reactor.threadpool import ThreadPool
from tests.reactor.reactorhelpers import LoggedErrors


def test_workQueuedBeforeStartRunsAtStop():
    pool = ThreadPool(0, 2, "unstarted")
    ran = []
    for i in range(3):
        pool.callInThread(ran.append, i)
    pool.stop()
    assert ran == [0, 1, 2]
    assert pool.threads == []


def test_queuedCountsTheCallsNoWorkerHasStarted():
    # Public, for the pytest plugin's busy-pool check (not the queue itself).
    pool = ThreadPool(0, 2, "unstarted")
    assert pool.queued == 0
    ran = []
    for i in range(3):
        pool.callInThread(ran.append, i)
    assert pool.queued == 3
    pool.stop()
    assert (pool.queued, ran) == (0, [0, 1, 2])


def test_workQueuedBehindBusyWorkerRunsAtStop():
    pool = ThreadPool(0, 1, "busy")
    pool.start()
    release = threading.Event()
    ran = []
    pool.callInThread(lambda: (release.wait(5), ran.append("first")))
    for i in range(3):
        pool.callInThread(ran.append, i)
    threading.Timer(0.01, release.set).start()
    pool.stop()
    assert ran == ["first", 0, 1, 2]


def test_callAfterStopRaises():
    pool = ThreadPool(0, 1)
    pool.start()
    pool.stop()
    with pytest.raises(RuntimeError):
        pool.callInThread(print)


def test_callInThreadWithCallbackReportsSuccessAndFailure():
    pool = ThreadPool(0, 1, "callback")
    pool.start()
    results = []
    pool.callInThreadWithCallback(lambda ok, r: results.append((ok, r)), lambda: 5)
    pool.callInThreadWithCallback(lambda ok, r: results.append((ok, r.type)), lambda: 1 / 0)
    pool.stop()
    assert results == [(True, 5), (False, ZeroDivisionError)]


def test_errorsAreLogged():
    pool = ThreadPool(0, 1, "errors")
    pool.start()
    with LoggedErrors() as logged:
        pool.callInThread(lambda: 1 / 0)
        pool.callInThreadWithCallback(lambda ok, r: {}["missing"], lambda: None)
        pool.stop()
    assert [f.type for f in logged.failures()] == [ZeroDivisionError, KeyError]


def test_neverMoreThanMaxThreads():
    pool = ThreadPool(0, 3, "max")
    pool.start()
    release = threading.Event()
    for _ in range(10):
        pool.callInThread(release.wait, 5)
    assert pool.workers <= 3
    release.set()
    pool.stop()
    assert pool.workers == 0


def test_minThreadsStartAtOnce():
    pool = ThreadPool(2, 4, "min")
    pool.start()
    assert pool.workers == 2
    pool.stop()
    assert pool.workers == 0


def test_badSizesAreRefused():
    with pytest.raises(ValueError):
        ThreadPool(3, 2)


def _waitFor(predicate, what):
    # Workers change state in their own threads: a bounded wait, not a sleep.
    deadline = time.monotonic() + 10
    while not predicate():
        assert time.monotonic() < deadline, "timed out waiting for " + what
        time.sleep(0.001)


def test_waitersAndWorkingListTheIdleAndBusyWorkers():
    pool = ThreadPool(2, 4, "lists")
    started, release = threading.Event(), threading.Event()
    pool.start()
    try:
        _waitFor(lambda: len(pool.waiters) == 2, "two idle workers")
        assert set(pool.waiters) == set(pool.threads) and pool.working == []
        pool.callInThread(lambda: (started.set(), release.wait(10)))
        assert started.wait(10)
        _waitFor(lambda: len(pool.waiters) == 1, "one idle worker")
        assert len(pool.working) == 1
        release.set()
        _waitFor(lambda: len(pool.waiters) == 2, "both idle again")
        assert pool.working == []
    finally:
        release.set()
        pool.stop()
    assert pool.waiters == [] and pool.working == []


class GatedQueue:
    """A queue whose get() can be held after it has taken an item."""

    def __init__(self):
        self._queue = queue.SimpleQueue()
        self.taken = threading.Event()
        self.release = threading.Event()
        self.hold = True

    def put(self, item):
        self._queue.put(item)

    def qsize(self):
        return self._queue.qsize()

    def get(self):
        item = self._queue.get()
        if self.hold:
            self.hold = False
            self.taken.set()
            self.release.wait(10)
        return item


def test_callTakenButNotYetCountedGetsItsOwnThread():
    # A worker that has just taken a call from the queue is, for a moment,
    # still counted as waiting; a call queued then must still get a thread
    # of its own, not wait behind the first (the cause of a flaky test with
    # a two-thread barrier).
    pool = ThreadPool(0, 2, "window")
    gate = pool._queue = GatedQueue()
    pool.start()
    try:
        pool.callInThread(lambda: None)
        assert gate.taken.wait(10)  # held between get() and the bookkeeping
        pool.callInThread(lambda: None)
        assert len(pool.threads) == 2
    finally:
        gate.release.set()
        pool.stop()
