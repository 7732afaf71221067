"""
The poll reactor: one poll object and a list from fd to descriptor, kept by
reactor._fdset (shared with the epoll reactor).

Level-triggered, like every Loom reactor.  poll(2) reports an fd closed
behind our back as POLLNVAL, on every call; such a descriptor is dropped at
once with ConnectionFdescWentAway, so it cannot spin the loop.
"""

import select

from zope.interface import implementer

from reactor._fdset import FDSet
from reactor.interfaces import IReactorFDSet
from reactor.posixbase import PosixReactorBase

__all__ = ["PollReactor"]


@implementer(IReactorFDSet)
class PollReactor(PosixReactorBase):
    """A reactor that waits with poll(2)."""

    _POLL_IN = select.POLLIN | select.POLLPRI
    _POLL_OUT = select.POLLOUT
    _POLL_DISCONNECTED = select.POLLHUP | select.POLLERR | select.POLLNVAL
    _POLL_INVALID = select.POLLNVAL

    def __init__(self):
        fds = self._fds = FDSet(select.poll, self._dropLater, keepsFiles=False)
        fds.bindTo(self, PollReactor)
        super().__init__(reads=fds.reads, writes=fds.writes)

    def addReader(self, reader):
        """Watch reader (an IReadDescriptor) for readability."""
        self._fds.addReader(reader)

    def addWriter(self, writer):
        """Watch writer (an IWriteDescriptor) for writability."""
        self._fds.addWriter(writer)

    def removeReader(self, reader):
        """Stop watching reader for readability; a no-op if not watched."""
        self._fds.removeReader(reader)

    def removeWriter(self, writer):
        """Stop watching writer for writability; a no-op if not watched."""
        self._fds.removeWriter(writer)

    def _afterForkPoller(self):
        self._fds.afterFork()

    def wrapPoll(self, wrap):
        """
        Wait for events through ``wrap(poll)``, a callable with the
        poller's poll's arguments and result, wrapping it (loomd's workers
        say when they are waiting); kept across rebuilds and afterFork.
        """
        self._fds.wrapPoll(wrap)

    def doIteration(self, timeout):
        """Wait up to timeout seconds (None: no limit) and dispatch the events."""
        # poll() takes milliseconds and rounds a fraction up, never to 0.
        events = self._fds.poller.poll(None if timeout is None else timeout * 1000)
        table = self._fds.table
        dispatch = self._doReadOrWrite
        for fd, event in events:
            descriptor = table[fd]
            if descriptor is not None:
                dispatch(descriptor, fd, event)
