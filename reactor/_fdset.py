"""
The fd bookkeeping of the poll and epoll reactors: the kernel's poller
(select.poll or select.epoll), the tables of readers and writers by fd, and
the list from fd to the descriptor dispatched for it, kept in agreement.

An FDSet's addReader, addWriter, removeReader and removeWriter are the
reactor's own (see bindTo).  They take the common case in
line: a descriptor whose fd nobody holds (``table[fd]`` is None: in neither
table) is registered with one system call and two table updates, and a
watched one is looked up by its fd to be removed.  Everything else (fd -1, a
number held by another descriptor, a table to grow, stray events to forget)
goes through _add and _remove.

An fd closed behind our back is the one way our tables and the kernel's
can disagree, and it comes in two kinds:

- the fd's file is closed for good.  poll reports the number as POLLNVAL on
  every call, and the reactor's dispatch drops its descriptor.  epoll drops
  the file from its interest set by itself, so it produces no events; we
  find out at the next epoll_ctl on it (EBADF when the descriptor asks to
  read or write again, or the fd number turning up again for a new
  descriptor), and drop the descriptor with ConnectionFdescWentAway.
- the file lives on through another fd (dup, fork, SCM_RIGHTS).  poll
  watches numbers, so only the first kind exists for it; but epoll watches
  the *file*, registered under the old number, and closing that number does
  not remove it; no epoll_ctl can, since the number no longer names that
  file.  Level-triggered events keep arriving for a number we no longer
  know, or now know as someone else's, and the loop would spin.

The second kind is repaired by rebuilding the interest set (``keepsFiles``,
for epoll): a new epoll object holding exactly what our tables watch.  We
rebuild when the kernel refuses to forget an fd we remove (it was closed
behind our back), when a new descriptor takes over an fd number still held by
an old one, and when events keep arriving for an fd that nobody watches
(three in a row: one such event is normal, for a descriptor removed earlier
in the same batch).  test_closedFdWithLiveDupDoesNotSpin counts the loop's turns
in that state.
"""

import errno
import select

__all__ = ["FDSet", "findFD"]

# Linux gives poll and epoll the same event bits, so one pair serves both.
_IN = select.POLLIN
_OUT = select.POLLOUT
if hasattr(select, "epoll") and (select.EPOLLIN, select.EPOLLOUT) != (_IN, _OUT):
    raise ImportError("reactor._fdset assumes epoll's event bits are poll's")


class FDSet:
    """
    The descriptors a poll or epoll reactor watches, and the kernel's copy.

    :ivar poller: the select.poll or select.epoll object (replaced when the
        interest set is rebuilt: read it anew each time).
    :ivar reads: {fd: reader}, the reactor's readers.
    :ivar writes: {fd: writer}, the reactor's writers.
    :ivar table: indexed by fd, the descriptor dispatched for it (its reader,
        else its writer), or None.  A list, not a dict: indexing it by the
        small int the kernel hands back is a few instructions, where a dict
        lookup of an fd above 256 (not a cached int) hashes and compares.
        It is never replaced, so the loop may hold on to it.
    :ivar rebuilds: how many times the interest set was rebuilt.
    """

    def __init__(self, makePoller, dropLater, *, keepsFiles):
        """
        :param makePoller: select.poll or select.epoll.
        :param dropLater: called with a descriptor found to have lost its fd,
            to drop it on the reactor's next turn (never from inside its own
            call into us).
        :param keepsFiles: True if the poller watches files rather than fd
            numbers (epoll), so that a file closed behind our back can linger
            in it: it is then rebuilt (see the module docstring).
        """
        self._makePoller = makePoller
        self.poller = makePoller()
        self._dropLater = dropLater
        self._keepsFiles = keepsFiles
        self.reads = {}
        self.writes = {}
        self.table = []
        # fd -> how many events came for it while nobody watched it.
        self._strays = {}
        self.rebuilds = 0
        self._pollWrap = None

    def bindTo(self, reactor, reactorClass):
        """
        Make this set's addReader, addWriter, removeReader and removeWriter
        reactor's own, as ReactorBase binds its timer heap's callLater.

        reactorClass's methods of those names only pass the call on to these;
        bound on the instance, these are called directly, which saves a
        Python call per add and per remove (3% of the instructions an
        accepted, echoed and closed connection costs).  A method that a
        subclass of reactorClass overrides is left alone.
        """
        for name in ("addReader", "addWriter", "removeReader", "removeWriter"):
            if getattr(type(reactor), name) is getattr(reactorClass, name):
                setattr(reactor, name, getattr(self, name))

    def addReader(self, reader):
        """Watch reader (an IReadDescriptor) for readability."""
        fd = reader.fileno()
        table = self.table
        if 0 <= fd < len(table) and table[fd] is None and not self._strays:
            try:
                self.poller.register(fd, _IN)
            except OSError:
                pass  # the kernel still holds the number: _add repairs
            else:
                self.reads[fd] = reader
                table[fd] = reader
                return
        self._add(reader, self.reads, self.writes, _IN, _OUT)

    def addWriter(self, writer):
        """Watch writer (an IWriteDescriptor) for writability."""
        fd = writer.fileno()
        table = self.table
        if 0 <= fd < len(table) and table[fd] is None and not self._strays:
            try:
                self.poller.register(fd, _OUT)
            except OSError:
                pass  # the kernel still holds the number: _add repairs
            else:
                self.writes[fd] = writer
                table[fd] = writer
                return
        self._add(writer, self.writes, self.reads, _OUT, _IN)

    def removeReader(self, reader):
        """Stop watching reader for readability; a no-op if not watched."""
        fd = reader.fileno()
        if self.reads.get(fd) is reader:
            self._remove(fd, self.reads, self.writes, _OUT)
        elif fd == -1:
            self._removeLost(reader, self.reads, self.writes, _OUT)

    def removeWriter(self, writer):
        """Stop watching writer for writability; a no-op if not watched."""
        fd = writer.fileno()
        if self.writes.get(fd) is writer:
            self._remove(fd, self.writes, self.reads, _IN)
        elif fd == -1:
            self._removeLost(writer, self.writes, self.reads, _IN)

    def strayEvent(self, fd):
        """
        An event came for fd, which nobody watches.

        Once is normal (a descriptor removed earlier in this batch); the same
        fd again, turn after turn, is a file left in the interest set under a
        dead number.
        """
        if not self._keepsFiles:
            return  # poll watches numbers: a dead one is reported as POLLNVAL
        count = self._strays.get(fd, 0) + 1
        if count < 3:
            self._strays[fd] = count
        else:
            self._rebuild()

    # -- the uncommon cases ---------------------------------------------------

    def _add(self, descriptor, primary, other, flag, otherFlag):
        fd = descriptor.fileno()
        if fd == -1:
            self._dropLater(descriptor)
            return
        if primary.get(fd) is descriptor:
            return
        if self._strays:
            self._strays.pop(fd, None)
        stale = _staleOwner(fd, descriptor, primary, other)
        if stale is not None:
            # Its fd was closed behind our back: its file may still be in
            # the interest set under this number (see the module docstring).
            self._forget(fd)
            self._dropLater(stale)
            if self._keepsFiles:
                self._rebuild()
        table = self.table
        if fd >= len(table):
            # Grown before the fd is registered: every fd the kernel reports fits.
            table.extend([None] * (max(fd + 1, 2 * len(table), 64) - len(table)))
        try:
            if fd in other:
                self._ctl(self.poller.modify, fd, flag | otherFlag)
            else:
                self._ctl(self.poller.register, fd, flag)
        except OSError as error:
            if error.errno != errno.EBADF:
                raise
            self._forget(fd)
            self._dropLater(descriptor)
            if fd in other and self._keepsFiles:
                self._rebuild()
            return
        primary[fd] = descriptor
        table[fd] = descriptor

    def _ctl(self, operation, fd, flags):
        # Our tables and the kernel's interest set disagree only when an fd
        # was closed (the kernel forgot it) and reused: repair and go on.
        try:
            operation(fd, flags)
        except FileNotFoundError:
            self.poller.register(fd, flags)
        except FileExistsError:
            self.poller.modify(fd, flags)

    def _removeLost(self, descriptor, primary, other, otherFlag):
        # fileno() is -1: the descriptor closed its fd; find it by identity.
        fd = findFD(descriptor, primary)
        if fd is not None:
            self._remove(fd, primary, other, otherFlag)

    def _remove(self, fd, primary, other, otherFlag):
        del primary[fd]
        try:
            if fd in other:
                self.table[fd] = other[fd]
                self.poller.modify(fd, otherFlag)
            else:
                self.table[fd] = None
                self.poller.unregister(fd)
        except OSError:
            # Closed behind our back (epoll only: poll checks nothing with
            # the kernel): the kernel forgot the file if that was its last
            # fd, but not if it lives on elsewhere.
            self._rebuild()

    def _forget(self, fd):
        self.reads.pop(fd, None)
        self.writes.pop(fd, None)
        if fd < len(self.table):
            self.table[fd] = None
        try:
            self.poller.unregister(fd)
        except (OSError, KeyError):  # epoll's ENOENT or EBADF; poll's KeyError
            pass

    def wrapPoll(self, wrap):
        """
        Make the poller's poll ``wrap(poll)``: a callable taking poll's
        arguments and returning its events, for a process that tells others
        when it waits in the kernel (services.loomd.balance).  It stays
        wrapped when the interest set is rebuilt.  Nothing else changes.
        """
        self._pollWrap = wrap
        self.poller = _WrappedPoller(self.poller, wrap)

    def afterFork(self):
        """
        Give the forked child a poller of its own, watching what this set
        watches: after fork(2) an epoll object is shared by parent and
        child, and a registration made by one would be the other's too.
        (A poll object is the process's own memory: kept.)  Not counted as
        a rebuild.
        """
        if self._keepsFiles:
            self._replacePoller()

    def _rebuild(self):
        # Replace the interest set with one holding exactly what we watch.
        # The old epoll object may hold files registered under numbers that
        # no longer name them; closing it is the only way to drop those.
        # Done at once: it is our own bookkeeping, it calls no user code, and
        # an fd that cannot be registered again is dropped on the next turn.
        self.rebuilds += 1
        self._replacePoller()

    def _replacePoller(self):
        self._strays.clear()
        old, self.poller = self.poller, self._makePoller()
        old.close()
        for fd in set(self.reads) | set(self.writes):
            flags = (_IN if fd in self.reads else 0) | (_OUT if fd in self.writes else 0)
            try:
                self.poller.register(fd, flags)
            except OSError:
                lost = self.reads.get(fd) or self.writes.get(fd)
                self._forget(fd)
                self._dropLater(lost)
        if self._pollWrap is not None:
            self.poller = _WrappedPoller(self.poller, self._pollWrap)


class _WrappedPoller:
    # A poller whose poll goes through a wrapper (FDSet.wrapPoll); the
    # rest is the poller's own.
    def __init__(self, poller, wrap):
        self.poller = poller
        self.poll = wrap(poller.poll)
        self.register = poller.register
        self.modify = poller.modify
        self.unregister = poller.unregister

    def __getattr__(self, name):
        return getattr(self.poller, name)


def _staleOwner(fd, descriptor, primary, other):
    """
    Return the descriptor that must have lost fd, now being added, or None.

    A second reader (or writer) for one fd means the fd was closed behind
    our back and its number reused.  A different object registered in the
    other role that still claims fd is sharing it: allowed, and as in
    Twisted the last one added is dispatched for both.
    """
    previous = primary.get(fd)
    if previous is not None and previous is not descriptor:
        return previous
    previous = other.get(fd)
    if previous is not None and previous is not descriptor and previous.fileno() != fd:
        return previous
    return None


def findFD(descriptor, table):
    """Return the fd under which table ({fd: descriptor}) holds descriptor, or None."""
    # For a descriptor whose fileno() is -1 once it closed its socket.
    for fd, known in table.items():
        if known is descriptor:
            return fd
    return None
