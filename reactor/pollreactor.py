"""
The poll reactor: one poll object and a list from fd to descriptor, kept by
reactor._fdset (shared with the epoll reactor).

Level-triggered, like every Loom reactor.  poll(2) reports an fd closed
behind our back as POLLNVAL, on every call; such a descriptor is dropped at
once with ConnectionFdescWentAway, so it cannot spin the loop.
"""

import select

from zope.interface import implementer

from reactor.interfaces import IReactorFDSet
from reactor.posixbase import FDSetReactorBase

__all__ = ["PollReactor"]


@implementer(IReactorFDSet)
class PollReactor(FDSetReactorBase):
    """A reactor that waits with poll(2)."""

    _POLL_IN = select.POLLIN | select.POLLPRI
    _POLL_OUT = select.POLLOUT
    _POLL_DISCONNECTED = select.POLLHUP | select.POLLERR | select.POLLNVAL
    _POLL_INVALID = select.POLLNVAL

    def __init__(self):
        super().__init__(select.poll, keepsFiles=False)

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
