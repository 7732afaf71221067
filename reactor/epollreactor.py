"""
The epoll reactor: one epoll object and a list from fd to descriptor, kept by
reactor._fdset (shared with the poll reactor).

Level-triggered on purpose: doRead() takes one chunk per wakeup, so a busy
socket cannot starve the rest; edge-triggered would strand the remainder.

epoll watches files, not fd numbers: a file closed behind our back under one
number but open under another stays in the interest set, and its events keep
coming for a number nobody watches.  The fd set rebuilds the interest set
when that happens (its module docstring tells how it finds out).
"""

import select

from zope.interface import implementer

from reactor import _logcontext
from reactor.interfaces import IReactorFDSet
from reactor.posixbase import FDSetReactorBase

__all__ = ["EPollReactor"]

_IN = select.EPOLLIN


@implementer(IReactorFDSet)
class EPollReactor(FDSetReactorBase):
    """A reactor that waits with epoll_wait(2)."""

    _POLL_IN = _IN | select.EPOLLPRI
    _POLL_OUT = select.EPOLLOUT
    _POLL_DISCONNECTED = select.EPOLLHUP | select.EPOLLERR

    def __init__(self):
        super().__init__(select.epoll, keepsFiles=True)

    @property
    def interestSetRebuilds(self):
        """How many times the interest set was rebuilt (for tests and logs)."""
        return self._fds.rebuilds

    def doIteration(self, timeout):
        """Wait up to timeout seconds (None: no limit) and dispatch the events."""
        fds = self._fds
        events = fds.poller.poll(-1 if timeout is None else timeout)
        table = fds.table
        dispatch = self._doReadOrWrite
        for fd, event in events:
            descriptor = table[fd]
            if descriptor is None:
                fds.strayEvent(fd)
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
        self._fds.poller.close()


# Log lines name the descriptor being dispatched to (reactor._logcontext).
_logcontext.dispatchesTo(EPollReactor.doIteration, "descriptor")
