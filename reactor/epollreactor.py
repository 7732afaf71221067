"""
The epoll reactor: one epoll object and a dict from fd to descriptor.

Level-triggered on purpose: doRead() takes one chunk per wakeup, so a busy
socket cannot starve the rest; edge-triggered would strand the remainder.

The kernel drops an fd from the interest set when its last reference is
closed, so a descriptor whose fd was closed behind our back produces no
events: it cannot spin the loop.  We find out at the next epoll_ctl on it
(EBADF when the descriptor asks to read or write again, or the fd number
turning up again for a new descriptor); it is then dropped with
ConnectionFdescWentAway (test_closedBehindBackIsDropped).
"""

import errno
import select

from zope.interface import implementer

from reactor.interfaces import IReactorFDSet
from reactor.posixbase import PosixReactorBase

__all__ = ["EPollReactor"]

_IN = select.EPOLLIN
_OUT = select.EPOLLOUT


@implementer(IReactorFDSet)
class EPollReactor(PosixReactorBase):
    """A reactor that waits with epoll_wait(2)."""

    _POLL_IN = _IN | select.EPOLLPRI
    _POLL_OUT = _OUT
    _POLL_DISCONNECTED = select.EPOLLHUP | select.EPOLLERR

    def __init__(self):
        self._poller = select.epoll()
        # Indexed by fd: the descriptor dispatched for it (reader or writer),
        # or None.  A list, not a dict: indexing it by the small int epoll
        # hands back is a few instructions, where a dict lookup of an fd
        # above 256 (not a cached int) hashes and compares.
        self._selectables = []
        super().__init__()

    def addReader(self, reader):
        """Watch reader (an IReadDescriptor) for readability."""
        self._add(reader, self._reads, self._writes, _IN, _OUT)

    def addWriter(self, writer):
        """Watch writer (an IWriteDescriptor) for writability."""
        self._add(writer, self._writes, self._reads, _OUT, _IN)

    def removeReader(self, reader):
        """Stop watching reader for readability; a no-op if not watched."""
        self._remove(reader, self._reads, self._writes, _OUT)

    def removeWriter(self, writer):
        """Stop watching writer for writability; a no-op if not watched."""
        self._remove(writer, self._writes, self._reads, _IN)

    def _add(self, descriptor, primary, other, flag, otherFlag):
        fd = descriptor.fileno()
        if fd == -1:
            self._dropLater(descriptor)
            return
        if primary.get(fd) is descriptor:
            return
        stale = self._staleOwner(fd, descriptor, primary, other)
        if stale is not None:
            self._forget(fd)
            self._dropLater(stale)
        table = self._selectables
        if fd >= len(table):
            # Grown before the fd is registered: every fd epoll reports fits.
            table.extend([None] * (max(fd + 1, 2 * len(table), 64) - len(table)))
        try:
            if fd in other:
                self._ctl(self._poller.modify, fd, flag | otherFlag)
            else:
                self._ctl(self._poller.register, fd, flag)
        except OSError as error:
            if error.errno != errno.EBADF:
                raise
            self._forget(fd)
            self._dropLater(descriptor)
            return
        primary[fd] = descriptor
        table[fd] = descriptor

    def _ctl(self, operation, fd, flags):
        # Our tables and the kernel's interest set disagree only when an fd
        # was closed (the kernel forgot it) and reused: repair and go on.
        try:
            operation(fd, flags)
        except FileNotFoundError:
            self._poller.register(fd, flags)
        except FileExistsError:
            self._poller.modify(fd, flags)

    def _remove(self, descriptor, primary, other, otherFlag):
        fd = descriptor.fileno()
        if fd == -1:
            fd = self._findFD(descriptor, primary)
        if fd is None or primary.get(fd) is not descriptor:
            return
        del primary[fd]
        try:
            if fd in other:
                self._selectables[fd] = other[fd]
                self._poller.modify(fd, otherFlag)
            else:
                self._selectables[fd] = None
                self._poller.unregister(fd)
        except OSError:
            pass  # Closed behind our back: the kernel forgot it already.

    def _forget(self, fd):
        self._reads.pop(fd, None)
        self._writes.pop(fd, None)
        if fd < len(self._selectables):
            self._selectables[fd] = None
        try:
            self._poller.unregister(fd)
        except OSError:
            pass

    def doIteration(self, timeout):
        """Wait up to timeout seconds (None: no limit) and dispatch the events."""
        events = self._poller.poll(-1 if timeout is None else timeout)
        selectables = self._selectables
        dispatch = self._doReadOrWrite
        for fd, event in events:
            descriptor = selectables[fd]
            if descriptor is None:
                continue
            if event == _IN:
                # Readable and nothing else, the common case, dispatched here
                # to save a call per event; _doReadOrWrite does the rest.
                try:
                    why = descriptor.doRead()
                except Exception:
                    why = self._unhandledIn(descriptor)
                if why:
                    self._disconnectSelectable(descriptor, why, True)
            else:
                dispatch(descriptor, fd, event)

    def close(self):
        """Release the epoll fd and the wakers; the reactor is unusable after."""
        super().close()
        self._poller.close()
