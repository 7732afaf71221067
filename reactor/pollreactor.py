"""
The poll reactor: one poll object and a dict from fd to descriptor.

Level-triggered, like every Loom reactor.  poll(2) reports an fd closed
behind our back as POLLNVAL, on every call; such a descriptor is dropped at
once with ConnectionFdescWentAway, so it cannot spin the loop.
"""

import select

from zope.interface import implementer

from reactor.interfaces import IReactorFDSet
from reactor.posixbase import PosixReactorBase

__all__ = ["PollReactor"]

_IN = select.POLLIN
_OUT = select.POLLOUT


@implementer(IReactorFDSet)
class PollReactor(PosixReactorBase):
    """A reactor that waits with poll(2)."""

    _POLL_IN = _IN | select.POLLPRI
    _POLL_OUT = _OUT
    _POLL_DISCONNECTED = select.POLLHUP | select.POLLERR | select.POLLNVAL
    _POLL_INVALID = select.POLLNVAL

    def __init__(self):
        self._poller = select.poll()
        # fd -> the descriptor dispatched for it (reader or writer).
        self._selectables = {}
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
            self._reads.pop(fd, None)
            self._writes.pop(fd, None)
            self._dropLater(stale)
        # poll's register() also modifies; it checks nothing with the kernel.
        self._poller.register(fd, flag | (otherFlag if fd in other else 0))
        primary[fd] = descriptor
        self._selectables[fd] = descriptor

    def _remove(self, descriptor, primary, other, otherFlag):
        fd = descriptor.fileno()
        if fd == -1:
            fd = self._findFD(descriptor, primary)
        if fd is None or primary.get(fd) is not descriptor:
            return
        del primary[fd]
        if fd in other:
            self._selectables[fd] = other[fd]
            self._poller.register(fd, otherFlag)
        else:
            del self._selectables[fd]
            self._poller.unregister(fd)

    def doIteration(self, timeout):
        """Wait up to timeout seconds (None: no limit) and dispatch the events."""
        # poll() takes milliseconds and rounds a fraction up, never to 0.
        events = self._poller.poll(None if timeout is None else timeout * 1000)
        selectables = self._selectables
        dispatch = self._doReadOrWrite
        for fd, event in events:
            descriptor = selectables.get(fd)
            if descriptor is not None:
                dispatch(descriptor, fd, event)
