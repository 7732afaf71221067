"""
The select reactor: select(2) over the keys of two dicts, fd -> descriptor.

The most portable and the slowest: select copies every watched fd into the
kernel on each call and cannot watch an fd of FD_SETSIZE (1024) or more.
When select fails with EBADF (an fd closed behind our back) or ValueError
(an fd out of range), each descriptor is checked on its own and the bad
ones are dropped with ConnectionFdescWentAway, so one bad fd neither
crashes nor spins the loop.
"""

import errno
import select

from zope.interface import implementer

from reactor._fdset import findFD
from reactor.error import ConnectionFdescWentAway
from reactor.interfaces import IReactorFDSet
from reactor.posixbase import PosixReactorBase

__all__ = ["SelectReactor"]


@implementer(IReactorFDSet)
class SelectReactor(PosixReactorBase):
    """A reactor that waits with select(2)."""

    _POLL_IN = 1
    _POLL_OUT = 4

    def addReader(self, reader):
        """Watch reader (an IReadDescriptor) for readability."""
        self._add(reader, self._reads)

    def addWriter(self, writer):
        """Watch writer (an IWriteDescriptor) for writability."""
        self._add(writer, self._writes)

    def removeReader(self, reader):
        """Stop watching reader for readability; a no-op if not watched."""
        self._remove(reader, self._reads)

    def removeWriter(self, writer):
        """Stop watching writer for writability; a no-op if not watched."""
        self._remove(writer, self._writes)

    def _add(self, descriptor, table):
        fd = descriptor.fileno()
        if fd == -1:
            self._dropLater(descriptor)
            return
        previous = table.get(fd)
        if previous is not None and previous is not descriptor:
            # The fd number was closed behind our back and reused.
            self._remove(previous, self._reads)
            self._remove(previous, self._writes)
            self._dropLater(previous)
        table[fd] = descriptor

    def _remove(self, descriptor, table):
        fd = descriptor.fileno()
        if fd == -1:
            fd = findFD(descriptor, table)
        if fd is not None and table.get(fd) is descriptor:
            del table[fd]

    def doIteration(self, timeout):
        """Wait up to timeout seconds (None: no limit) and dispatch the events."""
        reads, writes = self._reads, self._writes
        try:
            readable, writable, _ = select.select(reads, writes, (), timeout)
        except ValueError:
            return self._preenDescriptors()
        except OSError as error:
            if error.errno != errno.EBADF:
                raise
            return self._preenDescriptors()
        dispatch = self._doReadOrWrite
        for fd in readable:
            descriptor = reads.get(fd)
            if descriptor is not None:
                dispatch(descriptor, fd, 1)
        for fd in writable:
            descriptor = writes.get(fd)
            if descriptor is not None:
                dispatch(descriptor, fd, 4)

    def _preenDescriptors(self):
        # Try each fd alone; drop those select refuses.
        for table in (self._reads, self._writes):
            for fd, descriptor in list(table.items()):
                try:
                    select.select([fd], [fd], [fd], 0)
                except (OSError, ValueError) as error:
                    why = ConnectionFdescWentAway("fd %d: %s" % (fd, error))
                    table.pop(fd, None)
                    self._disconnectSelectable(descriptor, why, False)
