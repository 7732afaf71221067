"""
ReactorBase: everything a reactor does apart from waiting for I/O.

A concrete reactor (select, poll, epoll, asyncio) adds the FD-set methods and
``doIteration(timeout)``, which blocks for I/O and dispatches it.  The loop is

    while self._started:
        self.runUntilCurrent()            # thread calls, then timers now due
        self.doIteration(self.timeout())  # block for I/O, then dispatch it

Time is ``time.time()``, as in Twisted: ``reactor.seconds()`` and
``DelayedCall.getTime()`` are comparable with wall-clock timestamps, which
Twisted code relies on.  The price, which Twisted pays too, is that stepping
the system clock moves pending timers; nothing here mixes clocks.

Thread calls go through a deque and a waker.  ``callFromThread`` appends and
wakes the loop only if no wake-up is already pending (``_wakePending``), so a
burst of calls costs one syscall, not one each.  The loop clears the flag
*before* draining the deque: a call appended after the clear wakes the loop
again, one appended before it is drained this turn (test_manyThreadsAllDeliveredEachInOrder).
"""

import threading
import time
from collections import deque

from zope.interface import implementer

from reactor import _logcontext, log
from reactor._events import SystemEvent, SystemEventTrigger
from reactor._timers import ReactorTimerHeap
from reactor._waker import PipeWaker, makeWaker
from reactor.error import (
    CONNECTION_DONE,
    CONNECTION_LOST,
    ConnectionDone,
    ConnectionFdescWentAway,
    ConnectionLost,
    ReactorAlreadyRunning,
    ReactorNotRestartable,
    ReactorNotRunning,
)
from reactor.failure import Failure
from reactor.interfaces import (
    IHalfCloseableDescriptor,
    IReactorCore,
    IReactorThreads,
    IReactorTime,
)
from reactor.stream import sendHeld

__all__ = ["ReactorBase"]

_providesHalfClose = IHalfCloseableDescriptor.providedBy

# Built once, so that a descriptor returning CONNECTION_DONE allocates nothing.
_DONE_FAILURE = Failure(CONNECTION_DONE)
_LOST_FAILURE = Failure(CONNECTION_LOST)


def _failureFor(why):
    if why is CONNECTION_DONE:
        return _DONE_FAILURE
    if why is CONNECTION_LOST:
        return _LOST_FAILURE
    if isinstance(why, Failure):
        return why
    if isinstance(why, BaseException):
        return Failure(why)
    return Failure(ConnectionLost("doRead/doWrite returned %r" % (why,)))


def _halfCloseable(descriptor):
    # Whether descriptor provides IHalfCloseableDescriptor, asked at each
    # end of file: one without the interface's method cannot, and looking
    # for it costs far less than providedBy.
    if getattr(descriptor, "readConnectionLost", None) is None:
        return False
    return _providesHalfClose(descriptor)


def _serial(entry):
    return entry[0]


def _logPrefix(descriptor):
    try:
        return descriptor.logPrefix()
    except Exception:
        return repr(descriptor)


@implementer(IReactorCore, IReactorTime, IReactorThreads)
class ReactorBase:
    """
    Timers, lifecycle, system event triggers, threads and signals.

    :ivar running: True from the startup event until the reactor stops or crashes.
    :ivar waker: the internal descriptor callFromThread uses to wake the loop.
    :ivar threadpool: the ThreadPool of callInThread, or None until one is
        needed (getThreadPool makes it), as in Twisted.
    """

    # Event bits for _doReadOrWrite; each reactor sets its own.
    _POLL_IN = 1
    _POLL_OUT = 4
    _POLL_DISCONNECTED = 0
    _POLL_INVALID = 0

    def __init__(self, *, reads=None, writes=None):
        """
        :param reads: the {fd: reader} table to use, for a reactor whose fd
            bookkeeping keeps its own (reactor._fdset); a new dict by default.
        :param writes: likewise, {fd: writer}.
        """
        # A subclass overriding seconds() gets its own clock used everywhere;
        # otherwise reactor.seconds is time.time itself: no Python frame per
        # reading (the HTTP channel reads it per request).
        if type(self).seconds is ReactorBase.seconds:
            self.seconds = time.time
        clock = self.seconds
        self._timers = self._makeTimers(clock)
        self.callLater = self._timers.callLater
        self.getDelayedCalls = self._timers.getDelayedCalls
        self._reads = {} if reads is None else reads
        self._writes = {} if writes is None else writes
        self._internalReaders = set()
        self._threadCalls = deque()
        # Transports holding bytes written this turn, sent before the loop
        # next waits.  An internal interface: a transport of reactor.stream
        # appends itself when write() holds bytes, and the reactor
        # sends what they hold with reactor.stream.sendHeld
        # (ReactorBase._sendHeld), or has each one's _dropHeld forget it in
        # the child of a fork.
        self.heldWrites = []
        self._wakePending = False
        self._events = {}
        self._triggersAdded = 0
        self._started = False
        self._stopCalled = False
        self._justStopped = False
        self._startedBefore = False
        self._ioThread = None
        self.running = False
        self.threadpool = None
        self._threadpoolTrigger = None
        self._threadpoolMax = 10
        self._savedSignals = None
        self._signalWaker = None
        self.addSystemEventTrigger("during", "startup", self._reallyStartRunning)
        self.addSystemEventTrigger("during", "shutdown", self.crash)
        self._installWaker()

    def _makeTimers(self, clock):
        return ReactorTimerHeap(clock)

    def _installWaker(self):
        self.waker = makeWaker()
        self._wake = self.waker.wake
        self._addInternalReader(self.waker)

    def _addInternalReader(self, descriptor):
        self._internalReaders.add(descriptor)
        self.addReader(descriptor)

    def _removeInternalReader(self, descriptor):
        self._internalReaders.discard(descriptor)
        self.removeReader(descriptor)

    # -- time -----------------------------------------------------------------

    def seconds(self):
        """Return the current time in seconds, as ``time.time()`` does."""
        return time.time()

    def callLater(self, delay, callable, *args, **kw):
        """
        Call callable(*args, **kw) delay seconds from now.

        (Replaced per instance by the timer heap's own callLater, to save a
        call per timer; this method documents it.)

        :return: an IDelayedCall, to cancel or reschedule the call.
        :raises ValueError: if delay is negative.
        """
        return self._timers.callLater(delay, callable, *args, **kw)

    def getDelayedCalls(self):
        """Return the IDelayedCalls still scheduled, in no particular order."""
        return self._timers.getDelayedCalls()

    def timeout(self):
        """Return how long the loop may block: 0 if work is due, None for ever."""
        if self._threadCalls or self._justStopped:
            return 0
        timers = self._timers
        return timers.timeout() if timers.heap else None

    def runUntilCurrent(self):
        """Run the thread calls queued and the timed calls due when this began."""
        if self._threadCalls:
            self._runThreadCalls()
        timers = self._timers
        if timers.heap:  # a busy server's loop mostly turns with no timer due
            timers.runDue(self.seconds(), True, self._timedCallFailed)
        if self._justStopped:
            self._justStopped = False
            self.fireSystemEvent("shutdown")

    @staticmethod
    def _timedCallFailed():
        log.err(None, "Unhandled error in a timed call")

    # -- lifecycle ------------------------------------------------------------

    def run(self, installSignalHandlers=True):
        """
        Start the reactor and run the loop until it is stopped or crashes.

        :param installSignalHandlers: install SIGINT/SIGTERM handlers that
            stop the reactor (main thread only); the previous handlers are
            restored when run() returns.
        :raises ReactorAlreadyRunning: if it is running.
        :raises ReactorNotRestartable: if it was stopped before.
        """
        self.startRunning(installSignalHandlers)
        try:
            self.mainLoop()
        finally:
            self._restoreSignals()

    def startRunning(self, installSignalHandlers=True):
        """Mark the reactor started, install signals, fire the startup event."""
        if self._started:
            raise ReactorAlreadyRunning("the reactor is already running")
        if self._startedBefore:
            raise ReactorNotRestartable("a stopped reactor cannot be run again")
        self._started = True
        self._stopCalled = False
        self._ioThread = threading.get_ident()
        if installSignalHandlers:
            self._handleSignals()
        try:
            self.fireSystemEvent("startup")
        except BaseException:
            # A SystemExit from a startup trigger (react's main) leaves run()
            # before its finally: no handler or wakeup fd of ours may stay.
            self._restoreSignals()
            raise

    def mainLoop(self):
        """Run until crash() (the last step of a stop()) ends the loop."""
        while self._started:
            self.runUntilCurrent()
            if not self._started:
                break
            if self.heldWrites:
                self._sendHeld()
            self.doIteration(self.timeout())
        if self.heldWrites:
            self._sendHeld()

    def doIteration(self, timeout):
        """Block for I/O up to timeout seconds (None: no limit), then dispatch it."""
        raise NotImplementedError(type(self).__name__ + ".doIteration")

    def iterate(self, delay=0):
        """
        Run one turn of the loop: due calls, then wait up to delay for I/O.

        Works on a reactor that was never run, so a test can step it.
        """
        self._ioThread = threading.get_ident()
        self.runUntilCurrent()
        if self.heldWrites:
            self._sendHeld()
        self.doIteration(delay)

    def _sendHeld(self):
        # Each transport holding what was written to it this turn sends it
        # (reactor.stream: one system call each, none of them calling a
        # protocol back).  Called before the loop waits, so that a
        # connection a send failed for ends on the next turn.
        sendHeld(self.heldWrites)

    def _dropHeld(self):
        # In the child of a fork: what the transports held is the parent's
        # to send (its copy of them does), not sent twice (afterFork).
        held = self.heldWrites
        for transport in held:
            transport._dropHeld()
        held.clear()

    def stop(self):
        """
        Stop the reactor through the shutdown event (before, during, after).

        :raises ReactorNotRunning: if it is not running, or already stopping.
        """
        if not self._started or self._stopCalled:
            raise ReactorNotRunning("Can't stop a reactor that isn't running.")
        self._stopCalled = True
        self._justStopped = True
        self._startedBefore = True

    def crash(self):
        """Stop the loop at once, without the shutdown event; run() may follow."""
        self._started = False
        self.running = False
        self.addSystemEventTrigger("during", "startup", self._reallyStartRunning)

    def _reallyStartRunning(self):
        self.running = True

    def callWhenRunning(self, callable, *args, **kw):
        """
        Call callable now if the reactor is running, else once it starts.

        :return: the trigger ID if the call was deferred, else None.
        """
        if self.running:
            callable(*args, **kw)
            return None
        return self.addSystemEventTrigger("after", "startup", callable, *args, **kw)

    def resolve(self, name, timeout=10):
        """
        Return a Deferred firing with the IPv4 address of host name.

        An address is returned as it is; a name is looked up with
        ``socket.gethostbyname`` in the thread pool.  A name that does not
        resolve fails with DNSLookupError, as in Twisted.

        :param timeout: seconds before the Deferred fails with TimeoutError.
        """
        import ipaddress

        from reactor._resolver import getHostByName
        from reactor.defer import succeed
        from reactor.threads import deferToThreadPool

        try:
            ipaddress.IPv4Address(name)
        except ValueError:
            pass
        else:
            return succeed(name)
        d = deferToThreadPool(self, self.getThreadPool(), getHostByName, name)
        return d.addTimeout(timeout, self)

    # -- system event triggers ------------------------------------------------

    def addSystemEventTrigger(self, phase, eventType, callable, *args, **kw):
        """
        Call callable(*args, **kw) when eventType fires, in phase.

        :param phase: 'before', 'during' or 'after'.  A Deferred returned by
            a 'before' trigger holds the 'during' phase until it fires.
        :param eventType: 'startup', 'shutdown', or any name fireSystemEvent uses.
        :return: an ID for removeSystemEventTrigger.
        :raises KeyError: for an unknown phase.
        """
        event = self._events.get(eventType)
        if event is None:
            event = self._events[eventType] = SystemEvent(eventType)
        self._triggersAdded += 1
        return event.addTrigger(phase, (callable, args, kw, self._triggersAdded))

    def removeSystemEventTrigger(self, triggerID):
        """
        Remove a trigger added by addSystemEventTrigger that has not run.

        :raises ValueError: for an unknown or already run trigger.
        """
        try:
            eventType, phase, trigger = triggerID
            event = self._events[eventType]
        except (TypeError, ValueError, KeyError):
            raise ValueError("invalid trigger ID: %r" % (triggerID,)) from None
        event.removeTrigger(phase, trigger)

    def markSystemEventTriggers(self) -> int:
        """
        Return a mark for ``getSystemEventTriggers(since=mark)``: the
        triggers added after this call are those listed since it.  (Not
        in Twisted: loomd's master marks before it loads a .tac, to tell
        the triggers the .tac registered.)
        """
        return self._triggersAdded

    def getSystemEventTriggers(self, since: int = 0) -> list[SystemEventTrigger]:
        """
        Return the triggers not yet run (callWhenRunning's too), in the
        order they were added: each a SystemEventTrigger (``eventType``,
        ``phase``, ``callable``, ``args``, ``kw``, and the ``triggerID`` for
        removeSystemEventTrigger).

        :param since: a mark from markSystemEventTriggers: only the
            triggers added after it; by default every one, the reactor's
            own included.
        """
        found = [entry for event in self._events.values() for entry in event.triggersSince(since)]
        found.sort(key=_serial)
        return [trigger for _, trigger in found]

    def fireSystemEvent(self, eventType):
        """Fire eventType: run its triggers, phase by phase."""
        event = self._events.get(eventType)
        if event is not None:
            event.fire()

    # -- threads --------------------------------------------------------------

    def isInIOThread(self):
        """
        Return True when called in the thread that runs this reactor (or
        last stepped it with iterate()); False before it ever ran.
        """
        return self._ioThread == threading.get_ident()

    def callFromThread(self, callable, *args, **kw):
        """
        Call callable(*args, **kw) in the reactor thread, on its next turn.

        The one thread-safe method; it wakes a sleeping loop at once.  Calls
        from one thread run in the order they were made.
        """
        self._threadCalls.append((callable, args, kw))
        if not self._wakePending:
            self._wakePending = True
            self._wake()

    def _runThreadCalls(self):
        # Clear the flag first (see the module docstring), then run only the
        # calls queued now: one queued meanwhile makes timeout() return 0.
        self._wakePending = False
        calls = self._threadCalls
        popleft = calls.popleft
        for _ in range(len(calls)):
            callable, args, kw = popleft()
            try:
                callable(*args, **kw)
            except Exception:
                log.err(None, "Unhandled error in a thread call")

    def getThreadPool(self):
        """Return the reactor's ThreadPool, starting it on first use."""
        if self.threadpool is None:
            from reactor.threadpool import ThreadPool

            self.threadpool = ThreadPool(0, self._threadpoolMax, "loom.reactor")
            self.threadpool.start()
            self._threadpoolTrigger = self.addSystemEventTrigger(
                "during", "shutdown", self._stopThreadPool
            )
        return self.threadpool

    def callInThread(self, callable, *args, **kwargs):
        """Run callable(*args, **kwargs) in the reactor's thread pool."""
        self.getThreadPool().callInThread(callable, *args, **kwargs)

    def suggestThreadPoolSize(self, size):
        """Set the maximum number of threads of the reactor's pool."""
        self._threadpoolMax = size
        if self.threadpool is not None:
            self.threadpool.adjustPoolsize(maxthreads=size)

    def _stopThreadPool(self):
        # Internal interface, also called by the pytest plugin's checkClean
        # (as Twisted's trial janitor calls it): stop the pool now, waiting
        # for its workers; a later callInThread starts a new one.
        pool, self.threadpool = self.threadpool, None
        if pool is None:
            return
        trigger, self._threadpoolTrigger = self._threadpoolTrigger, None
        try:
            self.removeSystemEventTrigger(trigger)
        except ValueError:
            pass  # It is the trigger running now.
        pool.stop()

    # -- fork -----------------------------------------------------------------

    def afterFork(self):
        """
        Make this (not running) reactor the own of the child of an os.fork();
        call it in the child before the reactor runs there.

        A forked child shares its parent's kernel objects: the wakers' pipes
        (a wake-up written by one process would be read by the other) and,
        for the epoll reactor, the epoll object itself (a descriptor one
        process registers would wake the other).  Each is replaced with a
        new one: what the reactor watches stays watched, under the same
        descriptors, and timers stay scheduled.  The thread pool's threads
        do not exist in the child: the pool is forgotten, and the first
        callInThread starts another.  loomd's workers (--workers) are the
        user: the master binds the ports, each worker serves them on the
        reactor it inherited, made its own here.

        :raises RuntimeError: if the reactor is running.
        """
        if self.running:
            raise RuntimeError("afterFork() on a running reactor")
        self._dropHeld()
        self._afterForkPoller()
        import signal

        for waker in list(self._internalReaders):
            self._removeInternalReader(waker)
            waker.close()
        self._installWaker()
        if self._signalWaker is not None:
            waker = self._signalWaker = PipeWaker()
            self._addInternalReader(waker)
            signal.set_wakeup_fd(waker.writeFD, warn_on_full_buffer=False)
        if self.threadpool is not None:
            self.threadpool = None
            trigger, self._threadpoolTrigger = self._threadpoolTrigger, None
            self.removeSystemEventTrigger(trigger)

    def _afterForkPoller(self):
        # The reactors holding a kernel poller replace it (reactor._fdset).
        pass

    # -- signals --------------------------------------------------------------

    def _handleSignals(self):
        import signal

        if threading.current_thread() is not threading.main_thread():
            return
        # installSignalWakeup() may have been called before run().
        saved = self._savedSignals if self._savedSignals is not None else {}
        if signal.getsignal(signal.SIGINT) is signal.default_int_handler:
            saved[signal.SIGINT] = signal.signal(signal.SIGINT, self.sigInt)
        saved[signal.SIGTERM] = signal.signal(signal.SIGTERM, self.sigTerm)
        # No SIGCHLD handler here: children are watched through pidfds, and
        # reactor._reaper installs one only while children it cannot watch
        # so are running.
        self._savedSignals = saved
        self.installSignalWakeup()

    def installSignalWakeup(self):
        """
        Make every signal wake the loop, so that a Python signal handler runs
        at once (undone when run() returns).

        Python runs signal handlers in the main thread between bytecodes.  A
        signal that arrives just before the loop blocks in select/poll/epoll,
        or that the kernel hands to another thread, would leave its handler
        waiting until something else woke the loop: for ever, on an idle
        daemon.  signal.set_wakeup_fd closes that gap.  run() does this
        itself when it installs its handlers; a program installing its own
        handlers and running with installSignalHandlers=False (loomd) calls
        this first.  Main thread only; a no-op elsewhere or when done already.
        """
        import signal

        if self._signalWaker is not None:
            return
        if threading.current_thread() is not threading.main_thread():
            return
        # set_wakeup_fd writes one byte per signal, which an eventfd refuses:
        # signals get a self-pipe of their own (see reactor._waker).
        waker = self._signalWaker = PipeWaker()
        self._addInternalReader(waker)
        previous = signal.set_wakeup_fd(waker.writeFD, warn_on_full_buffer=False)
        if self._savedSignals is None:
            self._savedSignals = {}
        self._savedSignals["wakeup"] = previous

    def _restoreSignals(self):
        import signal

        saved, self._savedSignals = self._savedSignals, None
        if saved is None:
            return
        signal.set_wakeup_fd(saved.pop("wakeup"))
        for signum, handler in saved.items():
            signal.signal(signum, signal.SIG_DFL if handler is None else handler)
        waker, self._signalWaker = self._signalWaker, None
        self._removeInternalReader(waker)
        waker.close()

    def sigInt(self, signum, frame):
        """SIGINT handler: stop the reactor through the shutdown event."""
        log.msg("Received SIGINT, shutting down.")
        self.callFromThread(self._stopFromSignal)

    def sigTerm(self, signum, frame):
        """SIGTERM handler: stop the reactor through the shutdown event."""
        log.msg("Received SIGTERM, shutting down.")
        self.callFromThread(self._stopFromSignal)

    def _stopFromSignal(self):
        # A second signal while shutting down is not an error.
        if self._started and not self._stopCalled:
            self.stop()

    # -- descriptors ----------------------------------------------------------

    def getReaders(self):
        """Return the descriptors watched for reading (internal ones excluded)."""
        internal = self._internalReaders
        return [reader for reader in self._reads.values() if reader not in internal]

    def getWriters(self):
        """Return the descriptors watched for writing."""
        return list(self._writes.values())

    def removeAll(self):
        """
        Stop watching every descriptor except the reactor's own wakers.

        :return: the descriptors removed (without calling connectionLost).
        """
        internal = self._internalReaders
        removed = []
        for descriptor in list(self._reads.values()) + list(self._writes.values()):
            if descriptor not in internal and descriptor not in removed:
                removed.append(descriptor)
        for descriptor in removed:
            self.removeReader(descriptor)
            self.removeWriter(descriptor)
        return removed

    def _doReadOrWrite(self, descriptor, fd, event):
        """Dispatch one event to descriptor; drop it if it asks or fails."""
        why = None
        inRead = False
        try:
            if event & self._POLL_IN:
                inRead = True
                why = descriptor.doRead()
                if not why and event & self._POLL_OUT and fd in self._writes:
                    inRead = False
                    why = descriptor.doWrite()
            elif event & self._POLL_OUT:
                why = descriptor.doWrite()
            elif event & self._POLL_INVALID:
                why = ConnectionFdescWentAway("file descriptor %d is not open" % (fd,))
            elif event & self._POLL_DISCONNECTED:
                # Hung up or in error with no data to read.  A reader reads,
                # to see the end of file or the error itself: a UDP port gets
                # ECONNREFUSED from recv (an ICMP error), and keeps going.
                inRead = fd in self._reads
                why = descriptor.doRead() if inRead else CONNECTION_LOST
        except Exception:
            why = self._unhandledIn(descriptor)
        if why:
            self._disconnectSelectable(descriptor, why, inRead)

    def _unhandledIn(self, descriptor):
        """Log the exception being handled, raised by descriptor; return its Failure."""
        why = Failure()
        log.err(why, "Unhandled error in %s" % (_logPrefix(descriptor),))
        return why

    def _disconnectSelectable(self, descriptor, why, isRead):
        """Remove descriptor and tell it why: connectionLost(Failure(why))."""
        failure = _DONE_FAILURE if why is CONNECTION_DONE else _failureFor(why)
        self.removeReader(descriptor)
        if isRead and type(failure.value) is ConnectionDone and _halfCloseable(descriptor):
            try:
                descriptor.readConnectionLost(failure)
            except Exception:
                log.err(None, "Error in readConnectionLost of %s" % (_logPrefix(descriptor),))
            return
        self.removeWriter(descriptor)
        try:
            descriptor.connectionLost(failure)
        except Exception:
            log.err(None, "Error in connectionLost of %s" % (_logPrefix(descriptor),))

    def _dropLater(self, descriptor, why=None):
        """
        Drop descriptor on the next turn, with ConnectionFdescWentAway.

        Used when we find out inside the descriptor's own call into us
        (addReader on a closed fd): we never call it back from there.
        """
        if why is None:
            why = ConnectionFdescWentAway("file descriptor lost")
        self.callFromThread(self._disconnectSelectable, descriptor, why, False)

    # -- resources ------------------------------------------------------------

    def close(self):
        """
        Release the reactor's own file descriptors (poller, wakers) and pool.

        For tests and embedders that create many reactors; the reactor cannot
        be used afterwards.  Registered descriptors are left alone.
        """
        self._stopThreadPool()
        for waker in list(self._internalReaders):
            self._removeInternalReader(waker)
            waker.close()


# The functions through which a descriptor is called, for log lines'
# connection (reactor._logcontext); the loop's own are where the search stops.
_logcontext.dispatchesTo(ReactorBase._doReadOrWrite, "descriptor")
_logcontext.dispatchesTo(ReactorBase._disconnectSelectable, "descriptor")
_logcontext.boundary(ReactorBase.mainLoop)
_logcontext.boundary(ReactorBase.runUntilCurrent)
