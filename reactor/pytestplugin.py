"""
Loom's pytest plugin: a fresh reactor per test, and a check that it is left clean.

Installed with the package (entry point ``pytest11 = loom``), it gives:

- the ``reactor`` fixture: a new reactor for each test, parametrised over
  every reactor (ids select, poll, epoll, asyncio), so one test is a
  conformance test of all four;
- ``defaultReactor``: one new reactor of the platform's default kind;
- ``runUntil(reactor, deferredOrCoroutine, timeout=5)``: step the reactor
  until the Deferred (or coroutine) is done, return its result or raise its
  error, and fail the test if it takes longer than timeout seconds (also a
  fixture of the same name);
- the dirty-reactor check: a test that leaves readers, writers, pending
  delayed calls, busy pool threads or running child processes behind
  fails, naming them.  They are cleaned up first (a child is killed and
  reaped), so the next test starts clean.
"""

import inspect
import os
import threading
import time

import pytest

import reactor as _loom
from reactor.defer import Deferred, ensureDeferred
from reactor.failure import Failure

__all__ = ["REACTOR_NAMES", "runUntil", "DirtyReactorError", "checkClean"]

REACTOR_NAMES = ("select", "poll", "epoll", "asyncio")


class DirtyReactorError(AssertionError):
    """A test left descriptors, delayed calls or threads in its reactor."""


def runUntil(reactor, deferredOrCoroutine, timeout=5):
    """
    Iterate reactor until deferredOrCoroutine has a result; return it.

    :param deferredOrCoroutine: a Deferred, or a coroutine (run with
        ensureDeferred).
    :param timeout: seconds before the test fails.
    :raises: the Deferred's error, if it fails.
    """
    if inspect.iscoroutine(deferredOrCoroutine):
        deferredOrCoroutine = ensureDeferred(deferredOrCoroutine)
    if not isinstance(deferredOrCoroutine, Deferred):
        raise TypeError("runUntil needs a Deferred or a coroutine")
    results = []
    deferredOrCoroutine.addBoth(results.append)
    deadline = time.monotonic() + timeout
    while not results:
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            deferredOrCoroutine.cancel()
            # The cancellation's Failure must not be logged as unhandled.
            deferredOrCoroutine.addErrback(lambda failure: None)
            pytest.fail("runUntil: %r still waiting after %ss" % (deferredOrCoroutine, timeout))
        due = reactor.timeout()
        reactor.iterate(remaining if due is None else min(due, remaining))
    result = results[0]
    if isinstance(result, Failure):
        result.raiseException()
    return result


def checkClean(reactor, threadsBefore=()):
    """
    Clean reactor up, and raise DirtyReactorError naming what was left in it.

    :param threadsBefore: threads alive before the test; any other thread
        still alive a moment later counts as left behind.
    """
    problems = []
    children = _killChildren(reactor)
    if children:
        problems.append("child processes: %s" % (", ".join(children),))
    removed = reactor.removeAll()
    if removed:
        problems.append("descriptors: %s" % (", ".join(map(repr, removed)),))
    calls = [call for call in reactor.getDelayedCalls() if call.active()]
    if calls:
        # Described before cancelling: a cancelled call forgets its function.
        problems.append("delayed calls: %s" % (", ".join(map(repr, calls)),))
    for call in calls:
        call.cancel()
    pool = reactor.threadpool
    # A call that just handed its result to the reactor may still be
    # returning in its worker: allow it a moment, bounded.
    deadline = time.monotonic() + 1
    while pool is not None and (pool.working or pool.queued):
        if time.monotonic() > deadline:
            break
        time.sleep(0.001)
    if pool is not None and (pool.working or pool.queued):
        problems.append(
            "thread pool busy: %d running, %d queued" % (len(pool.working), pool.queued)
        )
    reactor._stopThreadPool()
    stray = _strayThreads(threadsBefore)
    if stray:
        problems.append("threads: %s" % (", ".join(thread.name for thread in stray),))
    if problems:
        raise DirtyReactorError("reactor left dirty; " + "; ".join(problems))


def _killChildren(reactor):
    # The children of reactor's spawnProcess not yet reaped: killed and
    # reaped here (waitpid blocks only until the SIGKILL lands), described.
    from reactor import _reaper

    described = []
    for pid, process in list(_reaper.children.items()):
        if process.reactor is not reactor:
            continue
        described.append(repr(process))
        try:
            process.signalProcess("KILL")
        except Exception:
            pass
        try:
            os.waitpid(pid, 0)
        except ChildProcessError:
            pass
        _reaper.forget(process)
    return described


def _strayThreads(threadsBefore, grace=1.0):
    deadline = time.monotonic() + grace
    stray = []
    for thread in threading.enumerate():
        if thread in threadsBefore or thread is threading.current_thread():
            continue
        thread.join(max(0, deadline - time.monotonic()))
        if thread.is_alive():
            stray.append(thread)
    return stray


def _freshReactor(name):
    reactor = _loom.getReactorClass(name)()
    threadsBefore = set(threading.enumerate())
    try:
        yield reactor
        checkClean(reactor, threadsBefore)
    finally:
        reactor.close()


@pytest.fixture(name="reactor", params=REACTOR_NAMES)
def reactorFixture(request):
    """A fresh reactor of each kind in turn; the test fails if it is left dirty."""
    yield from _freshReactor(request.param)


@pytest.fixture
def defaultReactor():
    """A fresh reactor of the platform's default kind, checked for dirt after the test."""
    yield from _freshReactor(_loom.defaultReactorName())


@pytest.fixture(name="runUntil")
def runUntilFixture():
    """The runUntil(reactor, deferredOrCoroutine, timeout=5) helper."""
    return runUntil
