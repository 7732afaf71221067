"""
The file a UNIX socket puts in the file system: bound with its mode from the
first instant, replaced only when stale, removed only while it is still ours.

The one idea: a name in a directory is not something we hold.  Between two
system calls anyone who may write the directory can put something else under
it, so nothing here follows a symlink, changes a mode or an owner by path, or
unlinks anything but a socket it has just identified with lstat.

- Mode.  bind() creates the file with ``0777 & ~umask``; a chmod afterwards
  (Twisted's way) leaves a moment in which the socket is wider than asked,
  and follows a symlink swapped in meanwhile.  So bind() runs under a
  temporary umask that yields exactly the mode asked, and nothing is chmodded
  (systemd binds under ``RUN_WITH_UMASK(~SocketMode)``, OpenSSH under
  ``umask(0177)`` for its agent and multiplexing sockets).  Without a mode the
  process umask applies unchanged, as for any other file.  The umask is
  process-wide: a thread creating a file during that one bind() gets it too,
  which is why servers listen before they start threads (loomd does).
- Stale sockets.  A listener that exits without removing its file (killed,
  or one that gave up root and may no longer write the directory) leaves it
  behind, and bind() then fails with EADDRINUSE.  A socket nobody listens on
  refuses connect() with ECONNREFUSED: that one is removed and bind() tried
  again.  One that accepts, or whose backlog is full, is in use: refused.
  Anything that is not a socket (a file, a directory, a symlink) is refused
  and left untouched (OpenSSH's StreamLocalBindUnlink also unlinks only
  S_ISSOCK).
- Removal at stop.  unlink() needs write and search permission on the
  directory, checked against the caller's credentials at the moment of the
  call: no descriptor kept from before privileges were dropped grants it (a
  directory opened as root, even O_PATH, gives EACCES to unlinkat as nobody).
  So the file is removed when the directory allows, and otherwise left for
  the next listener, which finds it stale.  It is removed only if the path
  still names the inode we bound (a newer listener may have replaced it).
- The ``.lock`` file of wantPID is opened without following symlinks and
  must be a regular file with one link: a symlink planted there would make a
  listener started as root truncate the file it points to.
"""

import errno
import fcntl
import os
import socket
import stat

from reactor._safeopen import openFile

ABSENT, STALE, LIVE, UNKNOWN, NOT_SOCKET = "absent", "stale", "live", "unknown", "not a socket"

# connect() errors that show a listener is there (a full backlog; a socket of
# another type, which only a live socket can tell).
_IN_USE = frozenset([errno.EAGAIN, errno.EPROTOTYPE])

_KINDS = [
    (stat.S_ISREG, "a regular file"),
    (stat.S_ISDIR, "a directory"),
    (stat.S_ISLNK, "a symbolic link"),
    (stat.S_ISFIFO, "a FIFO"),
    (stat.S_ISCHR, "a character device"),
    (stat.S_ISBLK, "a block device"),
]


def _kind(mode):
    for test, name in _KINDS:
        if test(mode):
            return name
    return "not a socket"


def identity(info):
    """What tells one file from another, from an os.stat_result: device, inode and type."""
    return (info.st_dev, info.st_ino, stat.S_IFMT(info.st_mode))


def inspect(path):
    """
    Say what is at path, as a listener about to bind it sees it.

    :return: (state, detail): ABSENT; STALE (a socket refusing connections)
        with its lstat result; LIVE (a socket accepting them); UNKNOWN with
        the OSError connect() gave; NOT_SOCKET with the lstat result.
    """
    try:
        info = os.lstat(path)
    except FileNotFoundError:
        return ABSENT, None
    if not stat.S_ISSOCK(info.st_mode):
        return NOT_SOCKET, info
    probe = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM | socket.SOCK_NONBLOCK)
    try:
        probe.connect(path)
    except ConnectionRefusedError:
        return STALE, info
    except FileNotFoundError:
        return ABSENT, None
    except OSError as error:
        return (LIVE, info) if error.errno in _IN_USE else (UNKNOWN, error)
    finally:
        probe.close()
    return LIVE, info


def refusal(state, detail):
    """
    The OSError that says why a listener does not take a path that inspect()
    found in this state, or None when it may (ABSENT, STALE).
    """
    if state == LIVE:
        return OSError(
            errno.EADDRINUSE, "Address already in use: another process is listening on it"
        )
    if state == NOT_SOCKET:
        return OSError(
            errno.EEXIST,
            "The path holds %s, not a socket: left untouched" % (_kind(detail.st_mode),),
        )
    if state == UNKNOWN:
        return OSError(
            errno.EADDRINUSE,
            "Address already in use: cannot tell whether a process listens on it (%s); "
            "left untouched" % (detail.strerror or detail,),
        )
    return None


def obstacle(path):
    """Why binding path would be refused (an OSError), or None if it would not."""
    return refusal(*inspect(path))


def bindPath(sock, path, mode):
    """
    Bind sock to path, creating the socket file with exactly mode (the
    process umask's choice when mode is None); replace a stale socket found
    there.

    :return: the identity() of the file bound, or None if the file at path
        right after bind() is not a socket of ours.
    :raises OSError: EADDRINUSE or EEXIST with a message saying what is in
        the way (a live listener, a file that is not a socket), or bind()'s own.
    """
    try:
        _bindWithMode(sock, path, mode)
    except OSError as error:
        if error.errno != errno.EADDRINUSE:
            raise
        _clearStale(path)
        _bindWithMode(sock, path, mode)
    return _ours(path)


def _bindWithMode(sock, path, mode):
    if mode is None:
        sock.bind(path)
        return
    previous = os.umask(~mode & 0o777)
    try:
        sock.bind(path)
    finally:
        os.umask(previous)


def _clearStale(path):
    # Remove a stale socket at path, only if path still names the very socket
    # found stale (a symlink swapped in between has another inode).
    state, detail = inspect(path)
    problem = refusal(state, detail)
    if problem is not None:
        raise problem
    if state == STALE:
        try:
            if identity(os.lstat(path)) == identity(detail):
                os.unlink(path)
        except FileNotFoundError:
            pass


def _ours(path):
    try:
        info = os.lstat(path)
    except OSError:
        return None
    if stat.S_ISSOCK(info.st_mode) and info.st_uid == os.geteuid():
        return identity(info)
    return None


def unlinkIfSame(path, bound):
    """
    Unlink path if it still names the file bound (its identity), a socket
    or a lock file; leave anything else alone.

    :return: None, or the OSError unlink() gave (EACCES once privileges
        were dropped in a directory the process may no longer write).
    """
    if bound is None:
        return None
    try:
        if identity(os.lstat(path)) != bound:
            return None
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError as error:
        return error
    return None


class LockFile:
    """
    An flock'ed ``<socket>.lock`` file holding the listener's pid (wantPID).

    :ivar path: the lock file's path.
    """

    def __init__(self, path):
        self.path = path
        self.fd = None
        self._identity = None

    def acquire(self):
        """
        Take the lock and write our pid into the file.

        :return: False if another process holds the lock.
        :raises OSError: if the path is not a plain lock file (a symlink, a
            file that is not regular or has other hard links).
        """
        for _ in range(3):
            fd = self._open()
            try:
                taken = self._lock(fd)
            except BaseException:
                os.close(fd)
                raise
            if taken is None:
                os.close(fd)
                continue  # its last holder removed it as we opened it: again
            if not taken:
                os.close(fd)
                return False
            os.ftruncate(fd, 0)
            os.write(fd, b"%d\n" % os.getpid())
            self.fd = fd
            return True
        raise OSError(errno.EAGAIN, "lock file %s keeps being replaced" % (self.path,))

    def _open(self):
        # Opened as root: never through a link others could plant, never a
        # FIFO or a hard link to someone else's file (reactor._safeopen).
        dirFd, fd = openFile(self.path, "lock file", os.O_RDWR | os.O_CREAT)
        os.close(dirFd)
        return fd

    def _lock(self, fd):
        # True: locked, and the path still names this file.  False: held by
        # another process.  None: locked an inode its holder unlinked meanwhile.
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return False
        self._identity = identity(os.fstat(fd))
        try:
            return True if identity(os.lstat(self.path)) == self._identity else None
        except FileNotFoundError:
            return None

    def release(self):
        """
        Remove the lock file if the directory allows it, else empty it so
        that it names no process; then let go of the lock.
        """
        if self.fd is None:
            return
        fd, self.fd = self.fd, None
        try:
            if unlinkIfSame(self.path, self._identity) is not None:
                os.ftruncate(fd, 0)
        finally:
            os.close(fd)
