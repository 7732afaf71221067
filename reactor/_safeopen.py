"""
Opening a file that a process running as root was told to write (loomd's
log and pidfile) so that whoever may write to its directory cannot redirect
the write.

The one idea: resolve an untrusted path once, by hand, and keep what was
resolved.  The directory is reached one component at a time from ``/`` with
O_NOFOLLOW; a symbolic link on the way is followed only where nobody but
root (or this process's own user) could have put it: in a directory they
own that nobody else may write to, or in a sticky directory when the link is
theirs (OpenSSH's StrictModes and the kernel's fs.protected_symlinks draw the
same line).  The file is then opened relative to that directory's descriptor:

- O_NOFOLLOW: a symbolic link at the name fails (ELOOP), also with O_CREAT,
  so a dangling link cannot make root create the file it points at;
- O_NONBLOCK: opening a FIFO must not hang the daemon (with no reader it
  fails with ENXIO instead); it is cleared again once the file is known to
  be a regular one;
- fstat on the descriptor, not stat on the path: a regular file with a
  single link, or refused.  A hard link to /etc/shadow is a regular file too;
  its link count gives it away.

The caller keeps the directory descriptor and renames, unlinks and reopens
relative to it, so a directory swapped after start-up cannot redirect those
either.  Ownership is changed with fchown on the open descriptor, never by
path.  Refusals raise RefusedFile, whose message names the path and the
reason: ``refusing to open log file /x/app.log: it is a symbolic link``.
"""

import errno
import os
import stat

__all__ = ["RefusedFile", "openDirectory", "openIn", "openFile", "checkPath"]

# O_PATH needs no read permission on the directories walked through (a
# non-root daemon may only search a 0711 home directory); it is Linux's.
_WALK_FLAGS = os.O_DIRECTORY | os.O_CLOEXEC | getattr(os, "O_PATH", os.O_RDONLY)
_FILE_FLAGS = os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC
_MAX_LINKS = 40  # the kernel's own limit (MAXSYMLINKS)

_KINDS = (
    (stat.S_ISDIR, "directory"),
    (stat.S_ISFIFO, "FIFO"),
    (stat.S_ISSOCK, "socket"),
    (stat.S_ISCHR, "character device"),
    (stat.S_ISBLK, "block device"),
)


class RefusedFile(OSError):
    """
    A file that must not be opened (a symbolic link, a hard link, not a
    regular file, or reached through a symbolic link others could change).

    ``str()`` is the whole message: ``refusing to open WHAT PATH: REASON``.

    :ivar what: what the file is for (``log file``, ``pidfile``...).
    :ivar path: the path asked for.
    :ivar reason: why it is refused (``it is a symbolic link``...).
    """

    def __init__(self, what: str, path: str, reason: str) -> None:
        # strerror is the whole message too, for code that reports an
        # OSError by its strerror.
        message = "refusing to open %s %s: %s" % (what, path, reason)
        OSError.__init__(self, errno.EPERM, message, path)
        self.what, self.path, self.reason = what, path, reason

    def __str__(self) -> str:
        return self.strerror or ""


def refusal(info: os.stat_result) -> str | None:
    """Why a file with this (l)stat must not be opened, or None when it may."""
    mode = info.st_mode
    if stat.S_ISLNK(mode):
        return "it is a symbolic link"
    if not stat.S_ISREG(mode):
        kind = next((name for test, name in _KINDS if test(mode)), "unknown type")
        return "it is not a regular file (%s)" % (kind,)
    if info.st_nlink > 1:
        return "it has %d hard links" % (info.st_nlink,)
    return None


def _trustedLink(directory: os.stat_result, link: os.stat_result) -> bool:
    # Could anyone but root or us have put this link here, or replace it?
    me = os.geteuid()
    if directory.st_uid not in (0, me):
        return False
    if not directory.st_mode & 0o022:
        return True
    # Group- or world-writable: only the sticky bit stops others from
    # replacing a link they do not own.
    return bool(directory.st_mode & stat.S_ISVTX) and link.st_uid in (0, me)


def openDirectory(directory: str, what: str, path: str) -> int:
    """
    Open the directory at the absolute path ``directory`` without following
    a symbolic link that someone else could have planted on the way.

    :param what: what the file in it is for, for messages.
    :param path: the file's path, for messages.
    :return: a descriptor of the directory (read-only where permitted),
        for ``dir_fd=``; the caller closes it.
    :raises RefusedFile: a component is an untrusted symbolic link or not a
        directory.
    :raises OSError: a component is missing or cannot be searched
        (``filename`` is path).
    """
    fd = os.open("/", _WALK_FLAGS)
    here, pending, links = "/", directory.split("/")[::-1], 0
    try:
        while pending:
            name = pending.pop()
            if name in ("", "."):
                continue
            try:
                child = os.open(name, _WALK_FLAGS | os.O_NOFOLLOW, dir_fd=fd)
            except OSError as error:
                if error.errno not in (errno.ENOTDIR, errno.ELOOP):
                    raise OSError(error.errno, error.strerror, path) from None
                links += 1
                target = _trustedTarget(fd, here, name, what, path, links)
                if target.startswith("/"):
                    os.close(fd)
                    fd, here = os.open("/", _WALK_FLAGS), "/"
                pending.extend(target.split("/")[::-1])
                continue
            os.close(fd)
            fd, here = child, os.path.normpath(os.path.join(here, name))
        return _readable(fd)
    except BaseException:
        os.close(fd)
        raise


def _trustedTarget(fd: int, here: str, name: str, what: str, path: str, links: int) -> str:
    # name in the directory fd (at here) is not a directory: a symbolic link
    # we may follow (return its target), or a refusal.
    where = os.path.join(here, name)
    info = os.stat(name, dir_fd=fd, follow_symlinks=False)
    if not stat.S_ISLNK(info.st_mode):
        raise RefusedFile(what, path, "%s is not a directory" % (where,))
    if not _trustedLink(os.fstat(fd), info):
        raise RefusedFile(
            what,
            path,
            "%s is a symbolic link in %s, which other users can write to" % (where, here),
        )
    if links > _MAX_LINKS:
        raise OSError(errno.ELOOP, os.strerror(errno.ELOOP), path)
    return os.readlink(name, dir_fd=fd)


def _readable(fd: int) -> int:
    # An O_PATH descriptor cannot be listed (os.listdir); trade it for a
    # read-only one where we may read the directory.
    try:
        readable = os.open(".", os.O_RDONLY | os.O_DIRECTORY | os.O_CLOEXEC, dir_fd=fd)
    except OSError:
        return fd
    os.close(fd)
    return readable


def openIn(dirFd: int, name: str, what: str, path: str, flags: int, mode: int = 0o644) -> int:
    """
    Open name in the directory dirFd: never through a symbolic link, never
    blocking on a FIFO, and only if it is a regular file with one link.

    :param what: what the file is for, for messages (``log file``...).
    :param path: its full path, for messages.
    :param flags: os.O_* access and creation flags (O_NOFOLLOW, O_NONBLOCK,
        O_NOCTTY and O_CLOEXEC are added).
    :return: the descriptor, in blocking mode.
    :raises RefusedFile: it is not a regular file with a single link.
    :raises OSError: it cannot be opened (``filename`` is path).
    """
    # Checked before opening too, so that a FIFO or a device is not even
    # opened; the fstat below is what closes the race.
    _refuseExisting(dirFd, name, what, path)
    try:
        fd = os.open(name, flags | _FILE_FLAGS, mode, dir_fd=dirFd)
    except OSError as error:
        if error.errno == errno.ELOOP:
            raise RefusedFile(what, path, "it is a symbolic link") from None
        _refuseExisting(dirFd, name, what, path)
        raise OSError(error.errno, error.strerror, path) from None
    try:
        reason = refusal(os.fstat(fd))
        if reason is not None:
            raise RefusedFile(what, path, reason)
        os.set_blocking(fd, True)
    except BaseException:
        os.close(fd)
        raise
    return fd


def _refuseExisting(dirFd: int, name: str, what: str, path: str) -> None:
    try:
        info = os.stat(name, dir_fd=dirFd, follow_symlinks=False)
    except FileNotFoundError:
        return
    reason = refusal(info)
    if reason is not None:
        raise RefusedFile(what, path, reason)


def openFile(path: str, what: str, flags: int, mode: int = 0o644) -> tuple[int, int]:
    """
    Open path safely (see the module's docstring): walk to its directory,
    open it there.

    :return: (directory descriptor, file descriptor); the caller closes both.
    :raises RefusedFile: see openDirectory and openIn.
    :raises OSError: it cannot be opened (``filename`` is path).
    """
    path = os.path.abspath(path)
    directory, name = os.path.split(path)
    dirFd = openDirectory(directory, what, path)
    try:
        return dirFd, openIn(dirFd, name, what, path, flags, mode)
    except BaseException:
        os.close(dirFd)
        raise


def checkPath(path: str, what: str) -> str | None:
    """
    Say why opening path with openFile would be refused, opening nothing
    but its directory (for ``loomd --check``); None when it would not be
    (a missing file or directory is not a refusal).
    """
    path = os.path.abspath(path)
    directory, name = os.path.split(path)
    try:
        dirFd = openDirectory(directory, what, path)
    except RefusedFile as error:
        return str(error)
    except OSError:
        return None
    try:
        _refuseExisting(dirFd, name, what, path)
    except RefusedFile as error:
        return str(error)
    finally:
        os.close(dirFd)
    return None
