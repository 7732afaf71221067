"""
A pidfile that cannot lie: created by the daemon's final process and held
under an exclusive fcntl lock for the daemon's whole life.

The lock, not the file's content, says whether the daemon runs.  A locked
pidfile means "running" (``acquire`` raises AlreadyRunning); an unlocked one
is stale whatever it holds (a dead pid, nothing, garbage, or our own pid
after a container restart) and is simply overwritten.  Two simultaneous
starts cannot both win: the kernel gives the lock to exactly one of them.

Which lock, and why
-------------------
POSIX record locks (``fcntl.lockf``, i.e. ``F_SETLK``), not ``flock``:

- They belong to a *process* and are not inherited across ``fork``.  So a
  worker the daemon forks cannot keep the pidfile locked after the daemon
  died: the lock lives and dies with exactly the pid written in the file.
  The flip side: the lock must be taken by the final daemon process, after
  daemonizing (a lock taken before the double fork would vanish with the
  launcher).  The runner acquires it there.
- Another process (``loomd --status`` / ``--stop``) sees the lock correctly
  through ``F_GETLK`` on its own descriptor, which also names the holder's
  pid even in the instant between the winner's lock and its write.
- Their trap: closing *any* descriptor of the file releases all of the
  process's locks on it, and a process never conflicts with itself.  So the
  holder must never open the pidfile again; ``readPid`` and ``isLocked``
  check a registry of the pidfiles this process holds (by device and inode,
  found with stat, which opens nothing) and answer without opening them.

Atomic content, same inode
--------------------------
The pid is written with ftruncate + pwrite("PID\\n") + fsync on the locked
descriptor: a reader sees either an empty file or the whole line.  The usual
write-a-temporary-then-rename trick is *not* used, because the lock belongs
to the inode: a rename would put a new, unlocked inode at the path and a
second start would lock that one and run too.  For the same reason
``acquire`` re-checks after locking that the path still names the inode it
locked (a previous daemon may have unlinked it meanwhile) and retries if not.

Paths
-----
The path is made absolute when the PidFile is created (at option-parsing
time), so it names the same file before and after ``--rundir`` changes the
working directory.  It is opened as root, so it is opened safely
(reactor._safeopen): the directory is walked without following a symbolic
link others could have planted, the file is opened in it with O_NOFOLLOW
and O_NONBLOCK, and it must be a regular file with a single link; the
launcher's checks (``lockHolder``, ``readPid``, ``removeStale``) open it the
same way, so a FIFO cannot hang ``--status`` either.  The descriptor of the
pidfile's directory is kept open, so ``release`` can unlink the file
relative to it even after a ``--chroot`` has hidden the original path.  (A
directory descriptor from outside the jail lets the process reach, with its
own permissions, files outside the jail through ``..``: it is the price of
removing the pidfile after chrooting.)
"""

import errno
import fcntl
import os
import struct
import sys

from reactor import log
from reactor._safeopen import RefusedFile, openDirectory, openFile, openIn

__all__ = [
    "PidFile",
    "AlreadyRunning",
    "PidFileError",
    "readPid",
    "isLocked",
    "lockHolder",
    "removeStale",
    "startObstacle",
]


class PidFileError(Exception):
    """
    The pidfile cannot be used (a symlink, a hard link, not a regular file,
    no permission...); the message names the path and the reason.
    """


class AlreadyRunning(PidFileError):
    """
    Another process holds the pidfile's lock.

    :ivar pid: the holder's pid, or None when it cannot be told.
    """

    def __init__(self, pid, path):
        self.pid = pid
        self.path = path
        which = "pid %d" % (pid,) if pid else "pid unknown"
        PidFileError.__init__(self, "already running (%s)" % (which,))


# (st_dev, st_ino) -> PidFile, for the pidfiles this process holds locked.
_held: dict[tuple[int, int], "PidFile"] = {}


class PidFile:
    """
    The daemon's pidfile.

    :ivar path: the absolute path.
    :ivar pid: the pid written by ``acquire``, or None.
    """

    def __init__(self, path):
        self.path = os.path.abspath(path)
        self.pid = None
        self._fd = None
        self._dirFd = None
        self._key = None
        self._owner = None

    def __repr__(self):
        return "<PidFile %s%s>" % (self.path, " held" if self._fd is not None else "")

    @property
    def held(self):
        """True between a successful ``acquire`` and ``release``."""
        return self._fd is not None

    def acquire(self, pid=None):
        """
        Lock the pidfile and write pid (default: this process's pid) into it.

        Call it in the final daemon process.  Keeps the file open and locked
        until ``release`` (or the process's exit, when the kernel drops it).

        :raises AlreadyRunning: another process holds the lock.
        :raises PidFileError: the path is a symlink, a hard link or not a
            regular file, or cannot be opened.
        """
        if self._fd is not None:
            raise PidFileError("pidfile %s is already held by this PidFile" % (self.path,))
        pid = os.getpid() if pid is None else pid
        for _attempt in range(10):
            if _heldHere(self.path) is not None:
                # Checked before opening: closing a second descriptor of a
                # file we hold would drop our own lock.
                raise AlreadyRunning(os.getpid(), self.path)
            dirFd, fd, existed = self._open()
            try:
                stale = self._lock(fd)
            except BaseException:
                os.close(fd)
                os.close(dirFd)
                raise
            if self._stillNamesInode(dirFd, fd):
                break
            # A previous holder unlinked the file between our open and our
            # lock: the lock is on an orphan inode.  Start again.
            os.close(fd)
            os.close(dirFd)
        else:
            raise PidFileError("pidfile %s keeps being replaced; giving up" % (self.path,))
        if existed:
            log.msg("Replacing stale pidfile %s (it held %r)" % (self.path, stale), system="loomd")
        self._write(fd, pid)
        self._fd, self.pid, self._owner = fd, pid, os.getpid()
        self._dirFd = dirFd
        info = os.fstat(fd)
        self._key = (info.st_dev, info.st_ino)
        _held[self._key] = self

    def _open(self):
        # Returns (directory fd, file fd, whether the file existed): the
        # directory is walked safely and the file opened in it without
        # following a link, never blocking on a FIFO (reactor._safeopen).
        try:
            dirFd = openDirectory(os.path.dirname(self.path), "pidfile", self.path)
        except OSError as error:
            raise _pidFileError(error, self.path) from None
        try:
            existed = _exists(dirFd, os.path.basename(self.path))
            flags = os.O_RDWR | os.O_CREAT
            fd = openIn(dirFd, os.path.basename(self.path), "pidfile", self.path, flags, 0o644)
        except OSError as error:
            os.close(dirFd)
            raise _pidFileError(error, self.path) from None
        return dirFd, fd, existed

    def _lock(self, fd):
        # Returns the stale content ("" when the file was empty).
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as error:
            if error.errno not in (errno.EACCES, errno.EAGAIN):
                raise PidFileError(
                    "cannot lock pidfile %s: %s" % (self.path, error.strerror)
                ) from None
            raise AlreadyRunning(_holderOf(fd), self.path) from None
        return os.pread(fd, 64, 0).decode("ascii", "replace").strip()

    def _stillNamesInode(self, dirFd, fd):
        try:
            current = os.stat(os.path.basename(self.path), dir_fd=dirFd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino)

    @staticmethod
    def _write(fd, pid):
        # Truncate first: a reader then sees "" or "PID\n", never a mix of
        # the old and the new number.
        os.ftruncate(fd, 0)
        os.pwrite(fd, b"%d\n" % (pid,), 0)
        os.fsync(fd)

    def release(self):
        """
        Remove the pidfile and drop the lock; a no-op when not held, and
        in a process forked from the holder it only closes the descriptors.

        Unlinks first and unlocks after (so no other start can lock the
        inode we are about to unlink).  When unlinking is not permitted
        (privileges were dropped: EACCES/EPERM, or a read-only file system),
        empties the file through the still-open descriptor instead, so it
        reads as stale.
        """
        if self._fd is None:
            return
        fd, self._fd = self._fd, None
        _held.pop(self._key, None)
        if os.getpid() != self._owner:
            # A forked child (an atexit handler, say) must not remove the
            # daemon's pidfile; it never held the lock anyway.
            os.close(fd)
            self._closeDirectory()
            return
        try:
            if self._stillNamesInodeFrom(fd):
                self._unlink()
        except OSError as error:
            if error.errno not in (errno.EACCES, errno.EPERM, errno.EROFS):
                raise
            os.ftruncate(fd, 0)
            log.msg(
                "Could not remove pidfile %s (%s); emptied it instead"
                % (self.path, error.strerror),
                system="loomd",
            )
        finally:
            os.close(fd)
            self._closeDirectory()

    def _closeDirectory(self):
        if self._dirFd is not None:
            os.close(self._dirFd)
            self._dirFd = None

    def _stillNamesInodeFrom(self, fd):
        # Never unlink a file that someone else put at our path.
        name = os.path.basename(self.path)
        try:
            if self._dirFd is not None:
                current = os.stat(name, dir_fd=self._dirFd, follow_symlinks=False)
            else:
                current = os.stat(self.path, follow_symlinks=False)
        except FileNotFoundError:
            return False
        mine = os.fstat(fd)
        return (current.st_dev, current.st_ino) == (mine.st_dev, mine.st_ino)

    def _unlink(self):
        if self._dirFd is not None:
            os.unlink(os.path.basename(self.path), dir_fd=self._dirFd)
        else:
            os.unlink(self.path)


def _pidFileError(error, path):
    # A refusal names the pidfile and the reason; other errors get a prefix.
    if isinstance(error, RefusedFile):
        return PidFileError(str(error))
    return PidFileError("cannot open pidfile %s: %s" % (path, error.strerror))


def _exists(dirFd, name):
    try:
        os.stat(name, dir_fd=dirFd, follow_symlinks=False)
    except FileNotFoundError:
        return False
    return True


def _openForReading(path, flags=os.O_RDONLY):
    """
    Open an existing pidfile as the daemon would (no link followed, no FIFO
    waited on); return (directory fd, fd), or None when it is missing.

    :raises PidFileError: it is refused or cannot be opened.
    """
    try:
        return openFile(path, "pidfile", flags)
    except FileNotFoundError:
        return None
    except OSError as error:
        raise _pidFileError(error, os.path.abspath(path)) from None


# struct flock on 64-bit Linux: short l_type, short l_whence, off_t l_start,
# off_t l_len, pid_t l_pid (native alignment, 32 bytes with tail padding).
_FLOCK = "hhqqi"
_FLOCK_SIZE = 32


def _getLock(fd):
    """
    Ask the kernel (F_GETLK) who holds a lock conflicting with a write lock
    on fd's file.  Returns (locked, pid or None), or None where the layout
    of struct flock is not known here (then callers fall back).
    """
    if not sys.platform.startswith("linux") or struct.calcsize("P") != 8:
        return None
    request = struct.pack(_FLOCK, fcntl.F_WRLCK, os.SEEK_SET, 0, 0, 0)
    answer = fcntl.fcntl(fd, fcntl.F_GETLK, request.ljust(_FLOCK_SIZE, b"\0"))
    lockType, _, _, _, pid = struct.unpack(_FLOCK, answer[: struct.calcsize(_FLOCK)])
    if lockType == fcntl.F_UNLCK:
        return False, None
    # 0: the holder is in another pid namespace; -1: an OFD lock.
    return True, (pid if pid > 0 else _pidFromFd(fd))


def _holderOf(fd):
    """Return the pid holding a conflicting lock on fd's file, or None."""
    answer = _getLock(fd)
    return _pidFromFd(fd) if answer is None else answer[1]


def _pidFromFd(fd):
    return _parsePid(os.pread(fd, 64, 0))


def _parsePid(content):
    try:
        pid = int(content.strip())
    except ValueError:
        return None
    return pid if pid > 0 else None


def _heldHere(path):
    try:
        info = os.stat(path)
    except OSError:
        return None
    return _held.get((info.st_dev, info.st_ino))


def readPid(path):
    """
    Return the pid written in the pidfile at path, or None when the file is
    missing, empty or does not hold a positive number.

    Safe to call in the process holding it (answers from memory: opening
    and closing the file would drop our own lock).
    """
    holder = _heldHere(path)
    if holder is not None:
        return holder.pid
    try:
        opened = _openForReading(path)
    except PidFileError:
        return None  # a link, a FIFO...: it names no daemon
    if opened is None:
        return None
    dirFd, fd = opened
    try:
        return _pidFromFd(fd)
    finally:
        os.close(fd)
        os.close(dirFd)


def lockHolder(path):
    """
    Return (locked, pid) for the pidfile at path: whether some process holds
    its lock and, if so, that process's pid (None if it cannot be told).

    Opens the file read-only and asks with F_GETLK, taking no lock itself.
    A missing file is (False, None).

    :raises PidFileError: the file exists but cannot be read.
    """
    holder = _heldHere(path)
    if holder is not None:
        return True, holder.pid
    opened = _openForReading(path)
    if opened is None:
        return False, None
    dirFd, fd = opened
    try:
        answer = _getLock(fd)
        if answer is None:
            return _lockedByAttempt(path), _pidFromFd(fd)
        return answer
    finally:
        os.close(fd)
        os.close(dirFd)


def _lockedByAttempt(path):
    # Portable fallback: try the lock on a separate read-write descriptor.
    try:
        opened = _openForReading(path, os.O_RDWR)
    except PidFileError:
        return False
    if opened is None:
        return False
    dirFd, fd = opened
    try:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError:
        return True
    finally:
        os.close(fd)
        os.close(dirFd)
    return False


def isLocked(path):
    """Return True when some process holds the lock of the pidfile at path."""
    return lockHolder(path)[0]


def startObstacle(path: str) -> str | None:
    """
    Return why a daemon could not start with the pidfile at path, or None.

    What the launcher checks before it forks, and ``loomd --check``
    reports, in the same words: a pidfile that cannot be read safely (its
    PidFileError), or one locked by a running daemon ("already running
    (pid N)").  It takes no lock: the daemon's ``acquire`` decides.
    """
    try:
        locked, pid = lockHolder(path)
    except PidFileError as error:
        return str(error)
    if locked:
        return "already running (pid %s)" % (pid,)
    return None


def removeStale(path, pid=None):
    """
    Remove the pidfile at path if no process holds its lock (and, when pid
    is given, only if the file holds that pid).

    For the launcher after a failed start: a daemon killed during start-up
    could not remove its pidfile.  The file is locked while it is checked
    and unlinked, so a daemon starting at the same moment is not robbed of
    its pidfile (its ``acquire`` notices the unlinked inode and retries).

    :return: True if the file was removed.
    """
    if _heldHere(path) is not None:
        return False
    try:
        opened = _openForReading(path, os.O_RDWR)
    except PidFileError:
        return False
    if opened is None:
        return False
    dirFd, fd = opened
    name = os.path.basename(os.path.abspath(path))
    try:
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return False
        if pid is not None and _pidFromFd(fd) != pid:
            return False
        mine = os.fstat(fd)
        try:
            current = os.stat(name, dir_fd=dirFd, follow_symlinks=False)
        except FileNotFoundError:
            return False
        if (current.st_dev, current.st_ino) != (mine.st_dev, mine.st_ino):
            return False
        os.unlink(name, dir_fd=dirFd)
        return True
    finally:
        os.close(fd)
        os.close(dirFd)
