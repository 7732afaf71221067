"""
ThreadPool: worker threads taking calls from one queue.

Threads are started on demand, up to ``max``, when work arrives and no worker
is idle; ``min`` are started by start().  stop() queues one stop marker per
worker behind the work already queued, so queued work runs before the
workers exit, and joins them: no call is silently lost
(test_workQueuedBehindBusyWorkerRunsAtStop).
Calls made after stop() raise, rather than vanish.
"""

import queue
import threading

from reactor import log
from reactor.failure import Failure

__all__ = ["ThreadPool"]

_STOP = object()


class ThreadPool:
    """
    A pool of threads running calls in the order they were queued.

    :ivar min: the number of threads start() starts.
    :ivar max: the most threads that run at once.
    :ivar name: names the threads (``name-worker-N``) and log messages.
    :ivar started: True between start() and stop().
    :ivar joined: True once stop() was called.
    :ivar threads: the live worker threads.
    :ivar working: the calls running now, one entry per busy worker (as in
        Twisted, whose entries are None, ``len(pool.working)`` counts them).
    """

    def __init__(self, minthreads=5, maxthreads=20, name=None):
        """
        :param minthreads: threads to start at once (>= 0).
        :param maxthreads: most threads at once (>= minthreads, >= 1).
        :param name: a name for the threads and log messages.
        """
        if minthreads < 0 or maxthreads < max(minthreads, 1):
            raise ValueError("need 0 <= minthreads <= maxthreads, maxthreads >= 1")
        self.min = minthreads
        self.max = maxthreads
        self.name = name or "ThreadPool-0x%x" % (id(self),)
        self.started = False
        self.joined = False
        self.threads = []
        self.working = []
        self._queue = queue.SimpleQueue()
        self._lock = threading.Lock()
        # Both under the lock, so that _adjust compares a consistent pair.
        self._waiting = []  # the workers waiting for work, or just handed some
        self._unclaimed = 0  # calls queued that no worker has yet counted as taken
        self._counter = 0

    @property
    def workers(self):
        """The number of worker threads alive."""
        return len(self.threads)

    @property
    def queued(self):
        """The number of calls queued that no worker has started yet."""
        return self._queue.qsize()

    @property
    def waiters(self):
        """The idle workers: a list of the threads waiting for work."""
        with self._lock:
            return list(self._waiting)

    def start(self):
        """Start min threads, and whatever the work queued so far needs."""
        self.started = True
        self.joined = False
        with self._lock:
            while len(self.threads) < self.min:
                self._startThread()
        self._adjust()

    def callInThread(self, func, *args, **kw):
        """
        Run func(*args, **kw) in a worker thread; its exception is logged.

        :raises RuntimeError: if the pool was stopped.
        """
        self.callInThreadWithCallback(None, func, *args, **kw)

    def callInThreadWithCallback(self, onResult, func, *args, **kw):
        """
        Run func(*args, **kw) in a worker, then onResult(success, result).

        onResult runs in the worker thread, with True and the return value,
        or False and a Failure.  An exception from onResult is logged.

        :raises RuntimeError: if the pool was stopped.
        """
        if self.joined:
            raise RuntimeError("ThreadPool %s is stopped: cannot run %r" % (self.name, func))
        with self._lock:
            self._unclaimed += 1
            self._queue.put((func, args, kw, onResult))
        if self.started:
            self._adjust()

    def _adjust(self):
        # Not the queue's size: a worker whose get() has just returned a
        # call still counts as waiting until it takes the lock, and against
        # the shrunken queue it would be counted as free for the next call,
        # which then waited for a thread (test_callTakenButNotYetCountedGetsItsOwnThread).
        with self._lock:
            need = self._unclaimed - len(self._waiting)
            while need > 0 and len(self.threads) < self.max:
                self._startThread()
                need -= 1

    def _startThread(self):
        # Called with the lock held.
        self._counter += 1
        thread = threading.Thread(
            target=self._worker, name="%s-worker-%d" % (self.name, self._counter)
        )
        thread.daemon = True
        self.threads.append(thread)
        thread.start()

    def _worker(self):
        get = self._queue.get
        lock = self._lock
        waiting = self._waiting
        thread = threading.current_thread()
        while True:
            with lock:
                waiting.append(thread)
            item = get()
            with lock:
                waiting.remove(thread)
                if item is not _STOP:
                    self._unclaimed -= 1
            if item is _STOP:
                break
            self.working.append(item)
            func, args, kw, onResult = item
            try:
                success, result = self._call(func, args, kw, onResult is None)
            finally:
                # No longer working once func returned: whoever onResult
                # wakes (a reactor, a test's dirty check) sees the pool idle.
                self.working.remove(item)
            del item, func, args, kw
            if onResult is not None:
                try:
                    onResult(success, result)
                except Exception:
                    log.err(None, "Unhandled error in result callback of %s" % (self.name,))
            del onResult, result
        with lock:
            self.threads.remove(thread)

    def _call(self, func, args, kw, logErrors):
        try:
            return True, func(*args, **kw)
        except BaseException:
            failure = Failure()
            if logErrors:
                log.err(failure, "Unhandled error in thread pool %s" % (self.name,))
            return False, failure

    def stop(self):
        """
        Stop the pool: run the work already queued, then join every worker.

        Blocks until the running and queued calls are done.
        """
        self.joined = True
        self.started = False
        with self._lock:
            if self._unclaimed and not self.threads:
                # Work queued before start(): give it a thread to run in.
                self._startThread()
            threads = list(self.threads)
        for _ in threads:
            self._queue.put(_STOP)
        for thread in threads:
            thread.join()

    def adjustPoolsize(self, minthreads=None, maxthreads=None):
        """Change min and max; more threads start if the new min asks for it."""
        self.min = self.min if minthreads is None else minthreads
        self.max = self.max if maxthreads is None else maxthreads
        if self.started:
            self.start()

    def dumpStats(self):
        """Log how many threads there are, and the calls running and queued."""
        log.msg(
            "ThreadPool %s: %d threads, %d working, %d waiting, %d queued"
            % (
                self.name,
                len(self.threads),
                len(self.working),
                len(self.waiters),
                self._queue.qsize(),
            )
        )
