"""
The file and syslog handlers of services.loomd.logfile, kept apart so that
``logging.handlers`` is imported only when a daemon logs to a file or to
syslog (services.loomd.logfile explains what they add to the stdlib's).

The three file handlers share one base, LogFile, which replaces the
stdlib's file handling where a daemon started as root cannot afford it:

- Every open goes through ``openLogFile``: the log's directory is opened
  once at start-up (as root, walking it safely: reactor._safeopen) and its
  descriptor kept; the file is opened in it with O_NOFOLLOW and must be a
  regular file with a single link.  Refused at start-up, it is a start-up
  error; refused on reopen (SIGUSR1, SIGHUP) or rotation, it is one warning
  and the log goes on in the file already open.
- Rotation renames relative to that directory descriptor and opens the new
  file before letting go of the old one.
- The stream is unbuffered bytes, one os.write per line, so a write that
  fails leaves nothing half-buffered to come out later; a failure is
  counted by a WriteFailures (services.loomd._logfailures), never answered with a
  traceback per line, which the captured stderr would feed back into the log.
"""

import errno
import logging
import logging.handlers
import os
import sys
import time

from reactor._safeopen import RefusedFile, openDirectory, openIn
from services.loomd._logfailures import CountsLostLines, WriteFailures, warningRecord
from services.loomd.logformat import SyslogFormatter

__all__ = ["RotatingLogFile", "DailyLogFile", "PlainLogFile", "SyslogHandler", "openLogFile"]

_LOG_FLAGS = os.O_WRONLY | os.O_APPEND | os.O_CREAT


def openLogFile(dirFd, name, path):
    """
    Open (creating it if needed) the log file name in the directory dirFd
    for appending: an unbuffered binary stream.

    :param path: its full path, for messages.
    :raises RefusedFile: a symbolic link, a hard link, not a regular file.
    :raises OSError: it cannot be opened.
    """
    # 0o666: the umask decides the mode, as it does for open().
    fd = openIn(dirFd, name, "log file", path, _LOG_FLAGS, 0o666)
    return open(fd, "ab", buffering=0)


def _describe(error, verb, path):
    # A refusal says it all; anything else gets "cannot <verb> log file X".
    if isinstance(error, RefusedFile):
        return str(error)
    return "cannot %s log file %s: %s" % (verb, path, error.strerror or error)


class LogFile:
    """
    What the three file handlers share (see the module docstring); a base
    placed before the stdlib handler class.

    :ivar directoryFd: the descriptor of the log's directory, kept open for
        reopening and rotation; None once it is out of reach (a chroot).
    """

    def __init__(self, filename, **kwargs):
        path = os.path.abspath(filename)
        self.directoryFd = openDirectory(os.path.dirname(path), "log file", path)
        self._fileName = os.path.basename(path)
        self._failures = WriteFailures("log file %s" % (path,))
        self._torn = False  # a line was cut short by a failed write
        try:
            super().__init__(path, **kwargs)
        except BaseException:
            self._closeDirectory()
            raise

    def _open(self):
        if self.directoryFd is None:
            raise OSError(errno.ENOENT, "it is out of reach after the chroot", self.baseFilename)
        return openLogFile(self.directoryFd, self._fileName, self.baseFilename)

    # -- writing ---------------------------------------------------------------

    def emit(self, record):
        """Write record as one line; while the file cannot be written, count it lost."""
        failures = self._failures
        if failures.failing and failures.skip():
            return
        try:
            data = self._encode(self.format(record))
        except Exception:
            self.handleError(record)  # a record that cannot be formatted
            return
        self._write(data)

    def handleError(self, record):
        """A write that failed is counted (no traceback); anything else is the stdlib's."""
        error = sys.exc_info()[1]
        if isinstance(error, OSError):
            self._failures.failed(error)
        else:
            super().handleError(record)

    def _encode(self, text):
        return (text + self.terminator).encode(self.encoding or "utf-8", "backslashreplace")

    def _write(self, data, maintain=True):
        # maintain: rotate or reopen first if due (not for our own warnings,
        # which may be written from inside a rotation).
        stream = self.stream
        if stream is None:
            return  # closed
        failures = self._failures
        try:
            if maintain:
                self._maintain(len(data))
            if failures.failing:
                data = self._encode(self._warningLine(failures.report())) + data
                if self._torn:
                    data = b"\n" + data
            self._writeAll(self.stream.fileno(), data)
        except OSError as error:
            failures.failed(error)
            return
        if failures.failing:
            failures.recovered()

    def _writeAll(self, fd, data):
        written = os.write(fd, data)
        if written < len(data):
            # A short write: the disk filled up in the middle of the line.
            self._torn = True
            view = memoryview(data)
            while written < len(data):
                written += os.write(fd, view[written:])
        self._torn = False

    def _warningLine(self, message):
        return self.format(warningRecord(message))

    def _warn(self, message):
        # One line, formatted like every other, written without rotating.
        self._write(self._encode(self._warningLine(message)), maintain=False)

    def _maintain(self, size):
        """Rotate or reopen before writing size bytes, if due (per class)."""

    # -- reopening and rotation ------------------------------------------------

    def reopen(self):
        """
        Open the path again (after logrotate moved the file); the old file is
        closed only once the new one is open, so a refusal or a failure keeps
        the log going to the file already open (with one warning line).

        :return: True if reopened.
        """
        self.acquire()
        try:
            try:
                stream = self._open()
            except OSError as error:
                self._warn(
                    "%s; still writing to the file already open"
                    % (_describe(error, "reopen", self.baseFilename),)
                )
                return False
            self._replaceStream(stream)
            return True
        finally:
            self.release()

    def _replaceStream(self, stream):
        old, self.stream = self.stream, stream
        if old is not None:
            old.close()

    def _rotate(self):
        """
        Rename the file (and its backups) in the kept directory and open a
        new one.  A failure disables rotation with one warning, and no line
        is lost: the log goes on in the file already open.
        """
        if self.directoryFd is None:
            self._disableRotation()  # out of reach after a chroot
            return
        try:
            current = self._renameForRotation()
        except OSError as error:
            self._stopRotating(
                "cannot rotate log file %s: %s; log rotation is disabled (the directory "
                "must be writable by the daemon's user)" % (self.baseFilename, error.strerror)
            )
            return
        try:
            stream = self._open()
        except OSError as error:
            self._stopRotating(
                "%s; log rotation is disabled and the log goes on in %s"
                % (
                    _describe(error, "open", self.baseFilename),
                    os.path.join(os.path.dirname(self.baseFilename), current),
                )
            )
            return
        self._replaceStream(stream)
        self._afterRotation()

    def _stopRotating(self, message):
        self._disableRotation()
        self._warn(message)

    def _renameForRotation(self):
        """Rename the current file away; return its new name (per class)."""
        raise NotImplementedError

    def _afterRotation(self):
        """Anything left to do once the new file is open (per class)."""

    def _disableRotation(self):
        """Make sure no later line tries to rotate again (per class)."""

    def doRollover(self):
        """Rotate now (the stdlib's name; rotation goes through the kept directory)."""
        self.acquire()
        try:
            self._rotate()
        finally:
            self.release()

    def _rename(self, source, destination):
        os.rename(source, destination, src_dir_fd=self.directoryFd, dst_dir_fd=self.directoryFd)

    # -- life ------------------------------------------------------------------

    def leaveDirectory(self):
        """
        Close the directory descriptor (it would be a way out of a chroot);
        the log goes on in the open file, but can no longer be rotated or
        reopened.
        """
        self._closeDirectory()
        self._disableRotation()

    def _closeDirectory(self):
        if getattr(self, "directoryFd", None) is not None:
            os.close(self.directoryFd)
            self.directoryFd = None

    def close(self):
        """Close the file and the directory descriptor."""
        try:
            super().close()
        finally:
            self._closeDirectory()


class RotatingLogFile(LogFile, logging.handlers.RotatingFileHandler):
    """
    A size-rotated log file (path, path.1, ... path.N) that can be reopened.
    With no backups, reaching the size empties the file instead.
    """

    def _maintain(self, size):
        if self.maxBytes > 0:
            end = os.lseek(self.stream.fileno(), 0, os.SEEK_END)
            if end and end + size >= self.maxBytes:
                self._rotate()

    def _rotate(self):
        if self.backupCount > 0:
            LogFile._rotate(self)
        else:
            os.ftruncate(self.stream.fileno(), 0)

    def _renameForRotation(self):
        name = self._fileName
        for number in range(self.backupCount - 1, 0, -1):
            try:
                self._rename("%s.%d" % (name, number), "%s.%d" % (name, number + 1))
            except FileNotFoundError:
                pass
        backup = name + ".1"
        self._rename(name, backup)
        return backup

    def _disableRotation(self):
        self.maxBytes = 0


class DailyLogFile(LogFile, logging.handlers.TimedRotatingFileHandler):
    """A log file rotated at midnight (path.YYYY-MM-DD) that can be reopened."""

    def __init__(self, filename, **kwargs):
        LogFile.__init__(self, filename, **kwargs)
        # The stdlib dated the first rotation by a stat of the path: use
        # the file actually open.
        self.rolloverAt = self.computeRollover(int(os.fstat(self.stream.fileno()).st_mtime))

    def _maintain(self, size):
        if time.time() >= self.rolloverAt:
            self._rotate()

    def _renameForRotation(self):
        backup = "%s.%s" % (self._fileName, time.strftime(self.suffix, self._periodStart()))
        self._rename(self._fileName, backup)
        return backup

    def _periodStart(self):
        # The stdlib's naming: a backup is named for the start of the period
        # it covers, corrected when a DST change lies in between.
        start = self.rolloverAt - self.interval
        if self.utc:
            return time.gmtime(start)
        when, dstNow = time.localtime(start), time.localtime().tm_isdst
        if when.tm_isdst != dstNow:
            when = time.localtime(start + (3600 if dstNow else -3600))
        return when

    def _afterRotation(self):
        # Old backups that cannot be listed or removed stay: not worth a line.
        try:
            expired = self._expiredBackups() if self.backupCount > 0 else []
        except OSError:
            expired = []
        for name in expired:
            try:
                os.unlink(name, dir_fd=self.directoryFd)
            except OSError:
                pass
        now = int(time.time())
        rolloverAt = self.computeRollover(now)
        while rolloverAt <= now:
            rolloverAt += self.interval
        self.rolloverAt = rolloverAt

    def _expiredBackups(self):
        prefix = self._fileName + "."
        backups = sorted(
            name
            for name in os.listdir(self.directoryFd)
            if name.startswith(prefix) and self.extMatch.match(name[len(prefix) :])
        )
        return backups[: max(0, len(backups) - self.backupCount)]

    def _disableRotation(self):
        self.rolloverAt = float("inf")


class PlainLogFile(LogFile, logging.handlers.WatchedFileHandler):
    """
    A log file never rotated by us.

    It also notices by itself when the file was moved or removed (checked
    before each write, as the stdlib's WatchedFileHandler does, but in the
    kept directory and without following a link); ``reopen`` forces it.
    When the path cannot be opened again, it keeps the file already open
    and stops watching.
    """

    _watching = True

    def _maintain(self, size):
        if self._watching:
            self.reopenIfNeeded()

    def reopenIfNeeded(self):
        """Reopen the path if the file there is no longer ours (and can be opened)."""
        if not self._watching:
            return
        try:
            info = os.stat(self._fileName, dir_fd=self.directoryFd, follow_symlinks=False)
        except FileNotFoundError:
            info = None
        if info is None or (info.st_dev, info.st_ino) != (self.dev, self.ino):
            self.reopen()

    def reopen(self):
        """Open the path again; on failure keep the old file and stop watching the path."""
        self._watching = LogFile.reopen(self)
        if self._watching:
            self._statstream()
        return self._watching

    def _disableRotation(self):
        self._watching = False


class SyslogHandler(CountsLostLines, logging.handlers.SysLogHandler):
    """
    A SysLogHandler sending ``<PRI>prefix[pid]: [system] message``.

    Priorities follow levels: CRITICAL -> LOG_CRIT, ERROR -> LOG_ERR,
    WARNING -> LOG_WARNING, INFO -> LOG_INFO, below -> LOG_DEBUG (levels
    between those round down).  The pid is taken at each message, so it is
    the daemon's even when the handler was made before forking.
    """

    def __init__(self, address="/dev/log", facility="daemon", prefix="loomd"):
        if isinstance(facility, str):
            try:
                facility = self.facility_names[facility]
            except KeyError:
                raise ValueError("unknown syslog facility %r" % (facility,)) from None
        self.prefix = prefix
        self._failures = WriteFailures("syslog at %s" % (address,))
        logging.handlers.SysLogHandler.__init__(self, address=address, facility=facility)
        self.setFormatter(SyslogFormatter())

    @property
    def ident(self):
        """The tag before each message: ``prefix[pid]: ``."""
        return "%s[%d]: " % (self.prefix, os.getpid())

    def mapPriority(self, levelName):
        """Return the syslog priority name for a level name (custom levels round down)."""
        level = logging.getLevelName(levelName)
        if not isinstance(level, int):
            # An unnamed level's record says "Level 25".
            number = levelName[len("Level ") :]
            if not (levelName.startswith("Level ") and number.isdigit()):
                return "warning"
            level = int(number)
        for threshold, name in _SYSLOG_LEVELS:
            if level >= threshold:
                return name
        return "debug"

    def reopen(self):
        """Reconnect to the syslog socket (syslogd may have been restarted)."""
        self.acquire()
        try:
            if self.socket is not None:
                self.socket.close()
            self.socket = None
            self.createSocket()
        finally:
            self.release()


_SYSLOG_LEVELS = (
    (logging.CRITICAL, "critical"),
    (logging.ERROR, "err"),
    (logging.WARNING, "warning"),
    (logging.INFO, "info"),
)
