"""
The asyncio reactor: Loom's reactor API on top of an asyncio event loop.

Descriptors are registered with the loop's add_reader/add_writer, and the
loop does the waiting, so asyncio code (``await`` on Futures, asyncio
libraries) runs beside Loom code in one thread.  Loom's timers stay in
Loom's own heap: one asyncio timer handle is armed for the earliest of them
and re-armed whenever an earlier one appears (callLater, reset, delay), so
timers behave exactly as on the other reactors.  callFromThread wakes the
loop with call_soon_threadsafe, once per burst.

``run()`` runs the loop for ever (until the reactor stops); ``iterate(delay)``
runs it for one step, stopping at the first event or after delay.

A loop made here (no ``eventloop`` given) waits with a _RepairingSelector:
the stdlib's epoll selector, plus the repair the epoll reactor makes when a
file outlives the fd number it was registered under (see
reactor.epollreactor): without it the loop spins on that file's events.
A loop passed in keeps its own selector, and that risk.
"""

import asyncio
import select
import selectors

from zope.interface import implementer

from reactor._fdset import findFD
from reactor._timers import ReactorTimerHeap
from reactor.interfaces import IReactorFDSet
from reactor.posixbase import PosixReactorBase

__all__ = ["AsyncioReactor"]

_INF = float("inf")


class _ArmedTimerHeap(ReactorTimerHeap):
    # A TimerHeap that reports a call scheduled earlier than the armed timer.
    def __init__(self, seconds, rearm):
        ReactorTimerHeap.__init__(self, seconds)
        self.armedAt = _INF
        self._rearm = rearm

    def callLater(self, delay, f, *args, **kw):
        call = ReactorTimerHeap.callLater(self, delay, f, *args, **kw)
        if call.time < self.armedAt:
            self._rearm()
        return call

    def _reschedule(self, call, time):
        ReactorTimerHeap._reschedule(self, call, time)
        if time < self.armedAt:
            self._rearm()


@implementer(IReactorFDSet)
class AsyncioReactor(PosixReactorBase):
    """
    A reactor whose loop is an asyncio event loop.

    :param eventloop: the asyncio loop to use; by default a new one, which
        close() closes.  Pass ``asyncio.get_event_loop()`` (or your own) to
        share a loop with asyncio code.
    """

    _POLL_IN = 1
    _POLL_OUT = 4

    def __init__(self, eventloop=None):
        self._ownLoop = eventloop is None
        if eventloop is None:
            eventloop = asyncio.SelectorEventLoop(_makeSelector())
        self._asyncioEventloop = eventloop
        self._timerHandle = None
        self._iterating = False
        super().__init__()
        self.heldWrites = _HeldWrites(eventloop, self._sendHeld)

    @property
    def interestSetRebuilds(self):
        """How many times the loop's epoll set was rebuilt (reactor.epollreactor)."""
        return getattr(self._asyncioEventloop._selector, "rebuilds", 0)

    @property
    def eventloop(self):
        """The asyncio event loop this reactor runs on."""
        return self._asyncioEventloop

    def afterFork(self):
        """
        Not supported: an asyncio event loop cannot be carried into the
        child of a fork (its selector, self-pipe and handles are the
        parent's).  Use the epoll, poll or select reactor under fork.

        :raises NotImplementedError: always.
        """
        raise NotImplementedError("the asyncio reactor cannot be carried across a fork")

    def _makeTimers(self, clock):
        return _ArmedTimerHeap(clock, self._armTimer)

    def _installWaker(self):
        # The loop has a self-pipe of its own.
        self.waker = None
        loop = self._asyncioEventloop
        tick = self._tick
        self._wake = lambda: loop.call_soon_threadsafe(tick)

    def _armTimer(self):
        if self._timerHandle is not None:
            self._timerHandle.cancel()
            self._timerHandle = None
        timers = self._timers
        delay = timers.timeout()
        if delay is None:
            timers.armedAt = _INF
        else:
            timers.armedAt = self.seconds() + delay
            self._timerHandle = self._asyncioEventloop.call_later(delay, self._tick)

    def _tick(self):
        # Thread calls, due timers, a pending shutdown: then re-arm.  Inside
        # iterate() the work waits for the next runUntilCurrent(), as on the
        # other reactors: doIteration only waits and dispatches I/O.
        if self._iterating:
            self._asyncioEventloop.stop()
            return
        self.runUntilCurrent()
        self._armTimer()

    # -- FD set ---------------------------------------------------------------

    def addReader(self, reader):
        """Watch reader (an IReadDescriptor) for readability."""
        self._add(reader, self._reads, self._asyncioEventloop.add_reader, 1)

    def addWriter(self, writer):
        """Watch writer (an IWriteDescriptor) for writability."""
        self._add(writer, self._writes, self._asyncioEventloop.add_writer, 4)

    def removeReader(self, reader):
        """Stop watching reader for readability; a no-op if not watched."""
        self._remove(reader, self._reads, self._asyncioEventloop.remove_reader)

    def removeWriter(self, writer):
        """Stop watching writer for writability; a no-op if not watched."""
        self._remove(writer, self._writes, self._asyncioEventloop.remove_writer)

    def _add(self, descriptor, table, register, event):
        fd = descriptor.fileno()
        if fd == -1:
            self._dropLater(descriptor)
            return
        previous = table.get(fd)
        if previous is descriptor:
            return
        if previous is not None:
            # The fd was closed behind our back and its number reused: the
            # selector must forget the old registration, or it would only
            # swap its callback and never tell the kernel about the new file.
            del table[fd]
            loop = self._asyncioEventloop
            (loop.remove_reader if table is self._reads else loop.remove_writer)(fd)
            self._dropLater(previous)
        try:
            register(fd, self._onEvent, descriptor, fd, event)
        except OSError:
            # EBADF: the fd was closed behind our back.
            self._dropLater(descriptor)
            return
        table[fd] = descriptor

    def _remove(self, descriptor, table, unregister):
        fd = descriptor.fileno()
        if fd == -1:
            fd = findFD(descriptor, table)
        if fd is None or table.get(fd) is not descriptor:
            return
        del table[fd]
        unregister(fd)

    def _onEvent(self, descriptor, fd, event):
        self._doReadOrWrite(descriptor, fd, event)
        if self._iterating:
            self._asyncioEventloop.stop()

    # -- the loop -------------------------------------------------------------

    def mainLoop(self):
        """Run the asyncio loop until crash() (the last step of stop())."""
        loop = self._asyncioEventloop
        self._tick()
        while self._started:
            loop.run_forever()

    def doIteration(self, timeout):
        """Run one step of the asyncio loop, waiting up to timeout for an event."""
        loop = self._asyncioEventloop
        self._iterating = True
        if timeout is None:
            handle = None
        elif timeout <= 0:
            handle = loop.call_soon(loop.stop)
        else:
            handle = loop.call_later(timeout, loop.stop)
        try:
            loop.run_forever()
        finally:
            self._iterating = False
            if handle is not None:
                handle.cancel()
            self._armTimer()

    def stop(self):
        """Stop the reactor through the shutdown event (see ReactorBase.stop)."""
        super().stop()
        self._asyncioEventloop.call_soon(self._tick)

    def crash(self):
        """Stop the loop at once, without the shutdown event."""
        super().crash()
        self._asyncioEventloop.stop()

    def close(self):
        """Release the wakers and pool, and close the loop if it is our own."""
        super().close()
        if self._timerHandle is not None:
            self._timerHandle.cancel()
        if self._ownLoop and not self._asyncioEventloop.is_closed():
            self._asyncioEventloop.close()


class _HeldWrites(list):
    """
    The transports holding what was written to them in this turn of the
    loop (ReactorBase.heldWrites): the first one added asks the asyncio loop to
    send them all once it has run what is ready now.
    """

    def __init__(self, loop, send):
        super().__init__()
        self._loop = loop
        self._send = send

    def append(self, transport):
        if not self:
            self._loop.call_soon(self._send)
        list.append(self, transport)


class _RepairingSelector(selectors.EpollSelector):
    """
    The stdlib's epoll selector, with its interest set rebuilt when it holds
    a file under a number that no longer names it: after a registered fd was
    closed behind our back while the file lived on elsewhere (dup, fork,
    SCM_RIGHTS).  We rebuild when the kernel cannot forget an fd being
    unregistered, and when events keep coming for an fd nobody registered.
    """

    def __init__(self):
        super().__init__()
        self._strays = {}
        self.rebuilds = 0

    def unregister(self, fileobj):
        """Unregister fileobj; rebuild if the kernel no longer knows its fd."""
        key = selectors._BaseSelectorImpl.unregister(self, fileobj)
        try:
            self._selector.unregister(key.fd)
        except OSError:
            self._rebuild()
        return key

    def select(self, timeout=None):
        """Wait for events, as the stdlib's; rebuild after repeated strays."""
        ready = super().select(timeout)
        if self._strays and max(self._strays.values()) >= 3:
            self._rebuild()
        return ready

    def _key_from_fd(self, fd):
        key = self._fd_to_key.get(fd)
        if key is None:
            # Once is normal (unregistered earlier in this batch); again and
            # again is a file left in the interest set under a dead number.
            self._strays[fd] = self._strays.get(fd, 0) + 1
        return key

    def register(self, fileobj, events, data=None):
        """Register fileobj, as the stdlib's."""
        key = super().register(fileobj, events, data)
        self._strays.pop(key.fd, None)
        return key

    def _rebuild(self):
        self.rebuilds += 1
        self._strays.clear()
        old, self._selector = self._selector, select.epoll()
        old.close()
        for key in list(self._fd_to_key.values()):
            flags = (self._EVENT_READ if key.events & selectors.EVENT_READ else 0) | (
                self._EVENT_WRITE if key.events & selectors.EVENT_WRITE else 0
            )
            try:
                self._selector.register(key.fd, flags)
            except OSError:
                # Closed behind our back for good: the reactor finds out at
                # its next call for it, as with epoll.
                pass


def _makeSelector():
    if hasattr(select, "epoll"):
        return _RepairingSelector()
    return selectors.DefaultSelector()
