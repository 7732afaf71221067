"""
Wakers: a file descriptor that another thread (or a signal) makes readable so
that a reactor asleep in select/poll/epoll returns at once.

Two kinds, because the kernel gives two tools:

- EventFDWaker wraps an eventfd: one fd, and a wake-up is one 8-byte write
  that folds into a counter, so it can never fill up.  It serves
  callFromThread.
- PipeWaker is the classic self-pipe.  It serves ``signal.set_wakeup_fd``,
  which writes exactly one byte per signal; an eventfd rejects one-byte
  writes with EINVAL, so signals need a pipe even where eventfd exists.

Both are IReadDescriptors the reactor registers as internal readers: they are
not reported by getReaders() and survive removeAll().
"""

import os

from zope.interface import implementer

from reactor.interfaces import IReadDescriptor

__all__ = ["EventFDWaker", "PipeWaker", "makeWaker"]


@implementer(IReadDescriptor)
class PipeWaker:
    """
    A self-pipe: wake() writes a byte, doRead() drains whatever is there.

    :ivar writeFD: the write end, for ``signal.set_wakeup_fd``.
    """

    def __init__(self):
        self._readFD, self.writeFD = os.pipe2(os.O_NONBLOCK | os.O_CLOEXEC)

    def fileno(self):
        """Return the read end, which the reactor watches."""
        return self._readFD

    def wake(self):
        """Make the read end readable; a full pipe is already readable."""
        try:
            os.write(self.writeFD, b"x")
        except BlockingIOError:
            pass

    def doRead(self):
        """Drain the pipe, so the next poll blocks again."""
        try:
            while os.read(self._readFD, 4096):
                pass
        except BlockingIOError:
            pass

    def connectionLost(self, reason):
        """Close both ends (the reactor only drops a waker when closing)."""
        self.close()

    def logPrefix(self):
        """Name this descriptor in log messages."""
        return "PipeWaker"

    def close(self):
        """Close both ends of the pipe; idempotent."""
        for fd in (self._readFD, self.writeFD):
            if fd >= 0:
                os.close(fd)
        self._readFD = self.writeFD = -1

    def __del__(self):
        if getattr(self, "_readFD", -1) >= 0:
            self.close()


@implementer(IReadDescriptor)
class EventFDWaker:
    """An eventfd: wake() adds one to its counter, doRead() resets it."""

    def __init__(self):
        self._fd = os.eventfd(0, os.EFD_NONBLOCK | os.EFD_CLOEXEC)

    def fileno(self):
        """Return the eventfd, which the reactor watches."""
        return self._fd

    def wake(self):
        """Make the eventfd readable."""
        try:
            os.eventfd_write(self._fd, 1)
        except BlockingIOError:
            # The counter is at its maximum: it is readable already.
            pass

    def doRead(self):
        """Reset the counter, so the next poll blocks again."""
        try:
            os.eventfd_read(self._fd)
        except BlockingIOError:
            pass

    def connectionLost(self, reason):
        """Close the eventfd (the reactor only drops a waker when closing)."""
        self.close()

    def logPrefix(self):
        """Name this descriptor in log messages."""
        return "EventFDWaker"

    def close(self):
        """Close the eventfd; idempotent."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1

    def __del__(self):
        if getattr(self, "_fd", -1) >= 0:
            self.close()


def makeWaker():
    """Return an EventFDWaker where the platform has eventfd, else a PipeWaker."""
    if hasattr(os, "eventfd"):
        return EventFDWaker()
    return PipeWaker()
