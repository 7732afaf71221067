"""
Conformance: callFromThread, the reactor's thread pool and reactor.threads,
on every reactor.
"""

import socket
import threading
import time

import pytest

from reactor.defer import Deferred
from reactor.error import DNSLookupError
from reactor.threadpool import ThreadPool
from reactor.threads import (
    blockingCallFromThread,
    callMultipleInThread,
    deferToThread,
    deferToThreadPool,
)


def test_callFromThreadWakesASleepingLoop(reactor):
    calls = []
    timer = threading.Timer(0.05, reactor.callFromThread, (calls.append, "woken"))
    timer.start()
    started = time.monotonic()
    reactor.iterate(30)  # would sleep 30 s if nothing woke it
    elapsed = time.monotonic() - started
    timer.join()
    reactor.iterate(0)
    assert calls == ["woken"]
    # Half the sleep: far from what load can add to a 50 ms wake-up.
    assert elapsed < 15


def test_manyThreadsAllDeliveredEachInOrder(reactor, runUntil):
    threads, perThread = 8, 10_000
    received = {n: [] for n in range(threads)}
    done = Deferred()
    remaining = [threads * perThread]

    def deliver(n, i):
        received[n].append(i)
        remaining[0] -= 1
        if not remaining[0]:
            done.callback(None)

    def send(n):
        callFromThread = reactor.callFromThread
        for i in range(perThread):
            callFromThread(deliver, n, i)

    workers = [threading.Thread(target=send, args=(n,)) for n in range(threads)]
    for worker in workers:
        worker.start()
    runUntil(reactor, done, timeout=30)
    for worker in workers:
        worker.join()
    assert all(received[n] == list(range(perThread)) for n in range(threads))


def test_deferToThreadRunsInAnotherThread(reactor, runUntil):
    result = runUntil(reactor, deferToThread(threading.get_ident, _reactor=reactor))
    assert result != threading.get_ident()


def test_deferToThreadFailureReachesErrback(reactor, runUntil):
    with pytest.raises(ZeroDivisionError):
        runUntil(reactor, deferToThread(lambda: 1 / 0, _reactor=reactor))


def test_deferToThreadPoolUsesGivenPool(reactor, runUntil):
    pool = ThreadPool(1, 1, "given")
    pool.start()
    try:
        name = runUntil(
            reactor, deferToThreadPool(reactor, pool, lambda: threading.current_thread().name)
        )
    finally:
        pool.stop()
    assert name.startswith("given-worker")


def test_callInThreadAndCallMultipleInThread(reactor, runUntil):
    done = Deferred()
    seen = []

    def record(what):
        seen.append((what, threading.get_ident()))
        if len(seen) == 3:
            reactor.callFromThread(done.callback, None)

    reactor.callInThread(record, "one")
    callMultipleInThread([(record, ("two",), {}), (record, ("three",), {})], _reactor=reactor)
    runUntil(reactor, done)
    assert sorted(what for what, _ in seen) == ["one", "three", "two"]
    assert threading.get_ident() not in {ident for _, ident in seen}


def test_blockingCallFromThreadWaitsForDeferred(reactor, runUntil):
    def slowDouble(x):
        d = Deferred()
        reactor.callLater(0.01, d.callback, x * 2)
        return d

    def failing():
        raise ValueError("in reactor")

    done = Deferred()

    def inThread():
        value = blockingCallFromThread(reactor, slowDouble, 21)
        try:
            blockingCallFromThread(reactor, failing)
        except ValueError as error:
            reactor.callFromThread(done.callback, (value, str(error)))

    reactor.callInThread(inThread)
    assert runUntil(reactor, done) == (42, "in reactor")


def test_blockingCallFromThreadRefusesReactorThread(reactor):
    reactor.iterate(0)
    with pytest.raises(RuntimeError):
        blockingCallFromThread(reactor, lambda: None)


def test_isInIOThreadOnlyInTheThreadThatRunsTheReactor(reactor):
    seen = []
    assert not reactor.isInIOThread()  # never ran
    reactor.iterate(0)
    thread = threading.Thread(target=lambda: seen.append(reactor.isInIOThread()))
    thread.start()
    thread.join(10)
    assert (reactor.isInIOThread(), seen) == (True, [False])


def test_threadPoolStopsAtShutdownAfterQueuedWork(reactor):
    release = threading.Event()
    ran = []
    reactor.suggestThreadPoolSize(1)
    pool = reactor.getThreadPool()

    def block():
        release.wait(5)
        ran.append("first")

    def stopWithWorkQueued():
        reactor.callInThread(block)
        reactor.callInThread(ran.append, "queued")
        reactor.stop()
        release.set()

    reactor.callWhenRunning(stopWithWorkQueued)
    reactor.run(installSignalHandlers=False)
    assert ran == ["first", "queued"]
    assert pool.joined and pool.threads == []
    assert reactor.threadpool is None


def test_resolveAddressAndName(reactor, runUntil):
    assert runUntil(reactor, reactor.resolve("127.0.0.1")) == "127.0.0.1"
    assert runUntil(reactor, reactor.resolve("localhost")) == "127.0.0.1"


def test_resolveAnUnknownNameFailsWithDNSLookupError(reactor, runUntil, monkeypatch):
    # The resolver's answer for a name that does not exist, without asking DNS.
    def noSuchHost(name):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "gethostbyname", noSuchHost)
    with pytest.raises(DNSLookupError) as info:
        runUntil(reactor, reactor.resolve("no-such-host.invalid"))
    assert str(info.value) == (
        "DNS lookup failed: no-such-host.invalid: [Errno %d] Name or service not known."
        % (socket.EAI_NONAME,)
    )


def test_suggestThreadPoolSizeResizesAnExistingPool(reactor, runUntil):
    reactor.suggestThreadPoolSize(1)
    pool = reactor.getThreadPool()
    reactor.suggestThreadPoolSize(2)
    # Both calls must run at once to pass the barrier: one thread is not
    # enough.  The timeouts only guard against a hang: a loaded machine may
    # take seconds to schedule the second thread.
    barrier = threading.Barrier(2, timeout=30)
    done = Deferred()
    met = []

    def arrived():
        met.append("met")
        if len(met) == 2:
            done.callback(None)

    def meet():
        barrier.wait()
        reactor.callFromThread(arrived)

    reactor.callInThread(meet)
    reactor.callInThread(meet)
    runUntil(reactor, done, timeout=40)
    assert pool is reactor.getThreadPool()
    assert pool.max == 2
