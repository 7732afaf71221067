"""
The epoll reactor: one epoll object and a list from fd to descriptor.

Level-triggered on purpose: doRead() takes one chunk per wakeup, so a busy
socket cannot starve the rest; edge-triggered would strand the remainder.

An fd closed behind our back is the one way our tables and the kernel's
interest set can disagree, and it comes in two kinds:

- the fd's file is closed for good: the kernel drops it from the interest
  set by itself, so it produces no events.  We find out at the next
  epoll_ctl on it (EBADF when the descriptor asks to read or write again,
  or the fd number turning up again for a new descriptor), and drop the
  descriptor with ConnectionFdescWentAway.
- the file lives on through another fd (dup, fork, SCM_RIGHTS): epoll
  watches the *file*, registered under the old number, and closing that
  number does not remove it; no epoll_ctl can, since the number no longer
  names that file.  Level-triggered events keep arriving for a number we no
  longer know, or now know as someone else's, and the loop would spin.

The second kind is repaired by rebuilding the interest set: a new epoll
object holding exactly what our tables watch.  We rebuild when the kernel
refuses to forget an fd we remove (it was closed behind our back), when a
new descriptor takes over an fd number still held by an old one, and when
events keep arriving for an fd that nobody watches (three in a row: one
such event is normal, for a descriptor removed earlier in the same batch).
test_staleEpollEntryDoesNotSpin counts the loop's turns in that state.
"""

import errno
import select

from zope.interface import implementer

from reactor import _logcontext
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
        # fd -> how many events came for it while nobody watched it.
        self._strays = {}
        # How many times the interest set was rebuilt (for tests and logs).
        self.interestSetRebuilds = 0
        super().__init__()

    # The four FD-set methods take the common case in line: a descriptor
    # whose fd nobody holds (_selectables[fd] is None: in neither table) is
    # registered with one epoll_ctl and two table updates, and a watched one
    # is looked up by its fd to be removed.  Everything else (fd -1, a
    # number held by another descriptor, a table to grow, stray events to
    # forget) goes through _add and _remove.

    def addReader(self, reader):
        """Watch reader (an IReadDescriptor) for readability."""
        fd = reader.fileno()
        selectables = self._selectables
        if 0 <= fd < len(selectables) and selectables[fd] is None and not self._strays:
            try:
                self._poller.register(fd, _IN)
            except OSError:
                pass  # the kernel still holds the number: _add repairs
            else:
                self._reads[fd] = reader
                selectables[fd] = reader
                return
        self._add(reader, self._reads, self._writes, _IN, _OUT)

    def addWriter(self, writer):
        """Watch writer (an IWriteDescriptor) for writability."""
        fd = writer.fileno()
        selectables = self._selectables
        if 0 <= fd < len(selectables) and selectables[fd] is None and not self._strays:
            try:
                self._poller.register(fd, _OUT)
            except OSError:
                pass  # the kernel still holds the number: _add repairs
            else:
                self._writes[fd] = writer
                selectables[fd] = writer
                return
        self._add(writer, self._writes, self._reads, _OUT, _IN)

    def removeReader(self, reader):
        """Stop watching reader for readability; a no-op if not watched."""
        fd = reader.fileno()
        if self._reads.get(fd) is reader:
            self._remove(fd, self._reads, self._writes, _OUT)
        elif fd == -1:
            self._removeLost(reader, self._reads, self._writes, _OUT)

    def removeWriter(self, writer):
        """Stop watching writer for writability; a no-op if not watched."""
        fd = writer.fileno()
        if self._writes.get(fd) is writer:
            self._remove(fd, self._writes, self._reads, _IN)
        elif fd == -1:
            self._removeLost(writer, self._writes, self._reads, _IN)

    def _add(self, descriptor, primary, other, flag, otherFlag):
        fd = descriptor.fileno()
        if fd == -1:
            self._dropLater(descriptor)
            return
        if primary.get(fd) is descriptor:
            return
        if self._strays:
            self._strays.pop(fd, None)
        stale = self._staleOwner(fd, descriptor, primary, other)
        if stale is not None:
            # Its fd was closed behind our back: its file may still be in
            # the interest set under this number (see the module docstring).
            self._forget(fd)
            self._dropLater(stale)
            self._rebuildInterestSet()
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
            if fd in other:
                self._rebuildInterestSet()
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

    def _removeLost(self, descriptor, primary, other, otherFlag):
        # fileno() is -1: the descriptor closed its fd; find it by identity.
        fd = self._findFD(descriptor, primary)
        if fd is not None:
            self._remove(fd, primary, other, otherFlag)

    def _remove(self, fd, primary, other, otherFlag):
        del primary[fd]
        try:
            if fd in other:
                self._selectables[fd] = other[fd]
                self._poller.modify(fd, otherFlag)
            else:
                self._selectables[fd] = None
                self._poller.unregister(fd)
        except OSError:
            # Closed behind our back: the kernel forgot the file if that
            # was its last fd, but not if it lives on elsewhere.
            self._rebuildInterestSet()

    def _forget(self, fd):
        self._reads.pop(fd, None)
        self._writes.pop(fd, None)
        if fd < len(self._selectables):
            self._selectables[fd] = None
        try:
            self._poller.unregister(fd)
        except OSError:
            pass

    def _rebuildInterestSet(self):
        """
        Replace the interest set with one holding exactly what we watch.

        The old epoll object may hold files registered under numbers that
        no longer name them; closing it is the only way to drop those.
        Done at once: it is our own bookkeeping, it calls no user code, and
        an fd that cannot be registered again is dropped on the next turn.
        """
        self.interestSetRebuilds += 1
        self._strays.clear()
        old, self._poller = self._poller, select.epoll()
        old.close()
        for fd in set(self._reads) | set(self._writes):
            flags = (_IN if fd in self._reads else 0) | (_OUT if fd in self._writes else 0)
            try:
                self._poller.register(fd, flags)
            except OSError:
                lost = self._reads.get(fd) or self._writes.get(fd)
                self._forget(fd)
                self._dropLater(lost)

    def _strayEvent(self, fd):
        # An event for an fd nobody watches.  Once is normal (a descriptor
        # removed earlier in this batch); the same fd again, turn after
        # turn, is a file left in the interest set under a dead number.
        count = self._strays.get(fd, 0) + 1
        if count < 3:
            self._strays[fd] = count
        else:
            self._rebuildInterestSet()

    def doIteration(self, timeout):
        """Wait up to timeout seconds (None: no limit) and dispatch the events."""
        events = self._poller.poll(-1 if timeout is None else timeout)
        selectables = self._selectables
        dispatch = self._doReadOrWrite
        for fd, event in events:
            descriptor = selectables[fd]
            if descriptor is None:
                self._strayEvent(fd)
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


# Log lines name the descriptor being dispatched to (reactor._logcontext).
_logcontext.dispatchesTo(EPollReactor.doIteration, "descriptor")
