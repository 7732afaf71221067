"""
The daemon's log destinations, built from stdlib ``logging`` handlers.

Loom's events reach the stdlib logger ``loom`` as LogRecords carrying the
event dict as ``record.loomEvent`` (see reactor.log); the handlers made here
are attached there by the runner.  Rotation follows the stdlib's
(RotatingFileHandler, TimedRotatingFileHandler); this module and
services.loomd._loghandlers add what a daemon started as root needs on top:

- Safe files: the log's directory is opened once, at start-up, without
  following a symbolic link others could have planted, and kept open; the
  file is opened in it with O_NOFOLLOW and must be a regular file with a
  single link (reactor._safeopen).  So a user who may write to the log's
  directory cannot make root append to, or hand over, another file.
- ``reopen()`` on every handler: open the *path* again and only then close
  the old stream.  That is what SIGUSR1 (and SIGHUP) do, so logrotate's
  move-then-signal works: the daemon stops writing to the moved file and
  starts a new one at the original path.  (twistd renames the file on
  SIGUSR1 instead, which after logrotate's move leaves it writing to the
  moved file.)  When the path cannot be opened (or is refused), the log
  goes on in the old file, with one warning.  Likewise a rotation that
  fails keeps the current file and disables rotation with one warning
  line, where the stdlib would lose every later record.
- A log that cannot be written (a full disk) costs no more than one that
  can: lines are counted and dropped, one warning goes to stderr and
  syslog, one line with the count goes to the log when it works again
  (services.loomd._logfailures), never a traceback per line.
- ``chownLogFiles``: after a privilege drop the daemon still writes through
  the descriptor opened as root, but rotation renames and creates files, so
  the file is handed to the target user (fchown on the open descriptor,
  never by path); the directory must be writable by the target user, or
  rotation and reopening will fail (services.loomd.preflight warns of it
  before the start, as ``--check`` does).
- ``rebaseForChroot``: rotation and reopening go through the kept
  directory descriptor, which keeps working inside a chroot when the log
  is inside the jail; for a log outside the jail the descriptor would be a
  way out, so it is closed: the file keeps being written through its open
  descriptor, but can no longer rotate or reopen (a warning says so).
- A syslog handler whose priorities follow the levels (twistd sends
  everything at ALERT), and ``captureStandardStreams`` so what services
  print reaches the log.  The lines' format is services.loomd.logformat.

The file and syslog handler classes are in services.loomd._loghandlers,
imported by makeLogHandler and makeSyslogHandler when first needed: they
subclass ``logging.handlers``, a tenth of loomd's start-up, which a
foreground run logging to stdout never needs.  The dependency goes one way:
this module imports _loghandlers, never the reverse.
"""

import io
import logging
import os
import sys
import threading

from reactor import log
from services.loomd._logfailures import CountsLostLines, WriteFailures
from services.loomd.logformat import FORMATTERS

__all__ = [
    "makeLogHandler",
    "makeSyslogHandler",
    "StdoutLog",
    "chownLogFiles",
    "rebaseForChroot",
    "captureStandardStreams",
    "LogStream",
]


class StdoutLog(CountsLostLines, logging.StreamHandler):
    """
    Log lines to standard output (``-l -``, and the default with -n).

    When stdout cannot be written (a full disk, a closed pipe) lines are
    counted and dropped as for a file (services.loomd._logfailures).
    """

    def __init__(self, stream=None):
        logging.StreamHandler.__init__(self, stream)
        self._failures = WriteFailures("standard output")

    def reopen(self):
        """Nothing to reopen; flushes the stream (a failure is no news: ignored)."""
        try:
            self.flush()
        except OSError:
            pass


def makeLogHandler(path, maxBytes=10_000_000, backups=10, rotate="size", logFormat="text"):
    """
    Build the handler for ``--logfile`` and its rotation options.

    :param path: the log file, or ``-`` for standard output (the stream is
        taken now: make the handler before ``captureStandardStreams``).
    :param maxBytes: size rotation threshold; 0 disables size rotation.
    :param backups: how many rotated files to keep.
    :param rotate: ``size``, ``daily`` (at midnight) or ``never``.
    :param logFormat: ``text`` or ``json``.
    :return: a logging.Handler with a ``reopen()`` method and its formatter set.
    :raises ValueError: an unknown rotate or logFormat.
    :raises OSError: the file cannot be opened (it is opened at once, while
        still privileged and outside any chroot).
    """
    formatter = FORMATTERS.get(logFormat)
    if formatter is None:
        raise ValueError("unknown log format %r (use text or json)" % (logFormat,))
    if path == "-":
        handler = StdoutLog(sys.stdout)
        handler.setFormatter(formatter())
        return handler
    from services.loomd._loghandlers import DailyLogFile, PlainLogFile, RotatingLogFile

    if rotate == "size":
        handler = RotatingLogFile(path, maxBytes=maxBytes, backupCount=backups, encoding="utf-8")
    elif rotate == "daily":
        handler = DailyLogFile(path, when="midnight", backupCount=backups, encoding="utf-8")
    elif rotate == "never":
        handler = PlainLogFile(path, encoding="utf-8")
    else:
        raise ValueError("unknown log rotation %r (use size, daily or never)" % (rotate,))
    handler.setFormatter(formatter())
    return handler


# -- syslog -------------------------------------------------------------------


def makeSyslogHandler(prefix="loomd", facility="daemon", address="/dev/log"):
    """
    Build the ``--syslog`` handler.

    :param prefix: the ident (``--prefix``).
    :param facility: a facility name (``daemon``, ``local0``...) or number.
    :param address: the syslog socket path.  It is connected now: inside a
        chroot the path would no longer be reachable.
    :raises OSError: the socket cannot be reached.
    :raises ValueError: an unknown facility.
    """
    from services.loomd._loghandlers import SyslogHandler

    return SyslogHandler(address=address, facility=facility, prefix=prefix)


# -- ownership after a privilege drop -------------------------------------------


def chownLogFiles(handler, uid, gid):
    """
    Give handler's log file to uid/gid before privileges are dropped.

    Rotation renames the file and creates a new one, and reopening after
    logrotate creates one too: both act as the target user.  Whether it may
    write the log's directory is judged before the start, by
    services.loomd.preflight, which warns (as ``--check`` does) when it may
    not.  A failed chown is logged as a warning (system ``loomd``) and
    returned; the log itself keeps working through the open descriptor.

    :param uid: the target uid, or None to keep the owner.
    :param gid: the target gid, or None to keep the group.
    :return: the list of warnings (empty when all is well, or when the
        handler has no file).
    """
    path = getattr(handler, "baseFilename", None)
    if path is None or (uid is None and gid is None):
        return []
    try:
        # Through the descriptor: a path could by now name another file.
        os.fchown(handler.stream.fileno(), -1 if uid is None else uid, -1 if gid is None else gid)
    except OSError as error:
        warning = "cannot give log file %s to the new user: %s" % (path, error.strerror)
        log.msg(warning, system="loomd", logLevel=logging.WARNING)
        return [warning]
    return []


def rebaseForChroot(handler, root):
    """
    Make handler's file path valid inside a chroot jail at root; call it
    right after chrooting.

    A file under root gets its path as seen from inside the jail
    (``/srv/jail/var/log/x.log`` becomes ``/var/log/x.log``), and rotation
    and reopening keep working through the directory descriptor the handler
    keeps.  For a file outside the jail that descriptor would be a way out
    of it, so it is closed: the file keeps being written through its open
    descriptor, but can no longer be rotated or reopened; a warning is
    logged and returned.

    :return: the list of warnings (empty when all is well or there is no file).
    """
    path = getattr(handler, "baseFilename", None)
    if path is None:
        return []
    root = os.path.realpath(root)
    real = os.path.realpath(path)
    inside = os.path.commonpath([root, real]) == root
    directoryFd = getattr(handler, "directoryFd", None)
    if directoryFd is not None and inside:
        # What was opened decides, not what the path names now.
        inside = _underRoot(directoryFd)
    if not inside:
        leave = getattr(handler, "leaveDirectory", None)
        if leave is not None:
            leave()
        warning = (
            "log file %s is outside the chroot %s: it cannot be rotated or reopened "
            "from inside" % (path, root)
        )
        log.msg(warning, system="loomd", logLevel=logging.WARNING)
        return [warning]
    handler.baseFilename = os.path.join("/", os.path.relpath(real, root))
    return []


def _underRoot(directoryFd):
    """
    Whether the directory directoryFd lies under this process's root (the
    jail, after chroot): climb with ".." until the root is met, or the top
    of the file system, whose ".." is itself.
    """
    root = os.stat("/")
    flags = os.O_DIRECTORY | os.O_CLOEXEC | getattr(os, "O_PATH", os.O_RDONLY)
    fd = os.open(".", flags, dir_fd=directoryFd)
    try:
        while True:
            info = os.fstat(fd)
            if (info.st_dev, info.st_ino) == (root.st_dev, root.st_ino):
                return True
            parent = os.open("..", flags, dir_fd=fd)
            above = os.fstat(parent)
            os.close(fd)
            fd = parent
            if (above.st_dev, above.st_ino) == (info.st_dev, info.st_ino):
                return False
    finally:
        os.close(fd)


# -- standard streams ----------------------------------------------------------


class LogStream(io.TextIOBase):
    """
    A text stream that logs each complete line through reactor.log.

    A partial line waits for its newline (or ``close``).  A write made
    while logging a line of this stream (a handler that prints, or reports
    its own failure to sys.stderr) goes to the fallback stream instead of
    looping back into the log.
    """

    def __init__(self, system, isError=False, fallback=None):
        self.system = system
        self.isError = isError
        self.fallback = fallback
        self._pending = ""
        self._lock = threading.RLock()
        self._local = threading.local()

    encoding = "utf-8"
    errors = "replace"

    def writable(self):
        """True."""
        return True

    def isatty(self):
        """False: nobody is reading this on a terminal."""
        return False

    def write(self, text):
        """Log each complete line of text; return len(text)."""
        if getattr(self._local, "busy", False):
            if self.fallback is not None:
                self.fallback.write(text)
            return len(text)
        with self._lock:
            self._pending += text
            if "\n" not in self._pending:
                return len(text)
            *lines, self._pending = self._pending.split("\n")
        for line in lines:
            self._log(line)
        return len(text)

    def _log(self, line):
        self._local.busy = True
        try:
            if self.isError:
                log.msg(line, system=self.system, isError=True)
            else:
                log.msg(line, system=self.system)
        finally:
            self._local.busy = False

    def close(self):
        """Log any partial line, then close."""
        with self._lock:
            pending, self._pending = self._pending, ""
        if pending:
            self._log(pending)
        io.TextIOBase.close(self)


def captureStandardStreams():
    """
    Replace sys.stdout and sys.stderr with LogStreams (systems ``stdout``
    and ``stderr``, the latter logged as errors), so that what services
    print reaches the log.

    Make any ``-`` (stdout) log handler before calling this: a handler
    writing to the replaced sys.stdout would log into itself.

    :return: a function that puts the previous streams back.
    """
    previous = sys.stdout, sys.stderr
    sys.stdout = LogStream("stdout", fallback=previous[1])
    sys.stderr = LogStream("stderr", isError=True, fallback=previous[1])

    def restore():
        capturedOut, capturedErr = sys.stdout, sys.stderr
        sys.stdout, sys.stderr = previous
        for stream in (capturedOut, capturedErr):
            if isinstance(stream, LogStream):
                stream.close()

    return restore
