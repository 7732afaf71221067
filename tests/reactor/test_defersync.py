"""Tests for DeferredLock, DeferredSemaphore and DeferredQueue."""

import pytest

from reactor.defer import (
    CancelledError,
    Deferred,
    DeferredLock,
    DeferredQueue,
    DeferredSemaphore,
    QueueOverflow,
    QueueUnderflow,
    ensureDeferred,
)


class MyError(Exception):
    """The error these tests raise."""


def resultOf(d):
    results = []
    d.addBoth(results.append)
    assert results, "the Deferred has not fired"
    return results[0]


def test_lockIsTakenInOrder():
    lock = DeferredLock()
    order = []
    first = lock.acquire()
    assert lock.locked
    assert resultOf(first) is lock
    second, third = lock.acquire(), lock.acquire()
    second.addCallback(lambda lock: order.append("second"))
    third.addCallback(lambda lock: order.append("third"))
    assert order == []
    lock.release()
    assert order == ["second"]
    lock.release()
    assert order == ["second", "third"]
    lock.release()
    assert not lock.locked


def test_releasingUnlockedLockFails():
    with pytest.raises(AssertionError):
        DeferredLock().release()


def test_cancelWaitingAcquire():
    lock = DeferredLock()
    lock.acquire()
    waiting = lock.acquire()
    waiting.cancel()
    assert resultOf(waiting).type is CancelledError
    assert lock.waiting == []
    lock.release()
    assert not lock.locked


def test_lockRunReleasesAfterResult():
    lock = DeferredLock()
    inner = Deferred()
    d = lock.run(lambda a, b: inner.addCallback(lambda r: r + a + b), 1, b=2)
    assert lock.locked
    inner.callback(10)
    assert resultOf(d) == 13
    assert not lock.locked


def test_lockRunReleasesAfterError():
    lock = DeferredLock()

    def broken():
        raise MyError()

    assert resultOf(lock.run(broken)).type is MyError
    assert not lock.locked


def test_lockAsyncWith():
    lock = DeferredLock()
    inside = []

    async def holder():
        async with lock as held:
            inside.append(held.locked)
        return lock.locked

    assert resultOf(ensureDeferred(holder())) is False
    assert inside == [True]


def test_semaphoreAllowsTokensHolders():
    sem = DeferredSemaphore(2)
    a, b, c = sem.acquire(), sem.acquire(), sem.acquire()
    assert a.called and b.called and not c.called
    assert sem.tokens == 0
    sem.release()
    assert resultOf(c) is sem
    sem.release()
    sem.release()
    assert sem.tokens == 2 == sem.limit
    with pytest.raises(AssertionError):
        sem.release()


def test_semaphoreNeedsATokenAtLeast():
    with pytest.raises(ValueError):
        DeferredSemaphore(0)


def test_semaphoreRunLimitsConcurrency():
    sem = DeferredSemaphore(2)
    pending = [Deferred() for _ in range(3)]
    started = []

    def work(i):
        started.append(i)
        return pending[i]

    results = [sem.run(work, i) for i in range(3)]
    assert started == [0, 1]
    pending[1].callback("one")
    assert started == [0, 1, 2]
    pending[0].callback("zero")
    pending[2].callback("two")
    assert [resultOf(d) for d in results] == ["zero", "one", "two"]
    assert sem.tokens == 2


def test_semaphoreCancelWaitingAcquire():
    sem = DeferredSemaphore(1)
    sem.acquire()
    waiting = sem.acquire()
    waiting.cancel()
    assert sem.waiting == []
    assert resultOf(waiting).type is CancelledError


def test_queuePutThenGet():
    queue = DeferredQueue()
    queue.put(1)
    queue.put(2)
    assert resultOf(queue.get()) == 1
    assert resultOf(queue.get()) == 2


def test_queueGetThenPut():
    queue = DeferredQueue()
    first, second = queue.get(), queue.get()
    queue.put("a")
    queue.put("b")
    assert (resultOf(first), resultOf(second)) == ("a", "b")


def test_queueOverflow():
    queue = DeferredQueue(size=1)
    queue.put(1)
    with pytest.raises(QueueOverflow):
        queue.put(2)
    assert queue.pending == [1]


def test_queueUnderflow():
    queue = DeferredQueue(backlog=1)
    queue.get()
    with pytest.raises(QueueUnderflow):
        queue.get()


def test_cancelPendingGet():
    queue = DeferredQueue()
    cancelled, waiting = queue.get(), queue.get()
    cancelled.cancel()
    assert resultOf(cancelled).type is CancelledError
    queue.put("for the next")
    assert resultOf(waiting) == "for the next"
    assert queue.waiting == []


def test_sizeZeroQueuePassesOnlyToWaiters():
    queue = DeferredQueue(size=0)
    d = queue.get()
    queue.put("direct")
    assert resultOf(d) == "direct"
    with pytest.raises(QueueOverflow):
        queue.put("nobody waits")
