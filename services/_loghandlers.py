"""
The file and syslog handlers of services.logfile, kept apart so that
``logging.handlers`` is imported only when a daemon logs to a file or to
syslog (services.logfile explains what they add to the stdlib's).
"""

import logging
import logging.handlers
import os

from services.logfile import SyslogFormatter

__all__ = ["RotatingLogFile", "DailyLogFile", "PlainLogFile", "SyslogHandler"]


def _reopen(handler):
    """
    Give handler a new stream on its path; the old one is closed only once
    the new one is open, so a failure (a directory the daemon may no longer
    write to) keeps the log going to the file already open.
    """
    handler.acquire()
    try:
        try:
            stream = handler._open()
        except OSError as error:
            _warn(
                handler,
                "cannot reopen log file %s: %s; still writing to the file "
                "already open" % (handler.baseFilename, error.strerror),
            )
            return False
        old, handler.stream = handler.stream, stream
        if old is not None:
            try:
                old.flush()
            finally:
                old.close()
        return True
    finally:
        handler.release()


def _warn(handler, message):
    # One line written straight to handler's stream (not through emit,
    # which could try to rotate again), formatted like every other line.
    record = logging.LogRecord("loomd", logging.WARNING, __file__, 0, message, None, None)
    try:
        handler.stream.write(handler.format(record) + handler.terminator)
        handler.stream.flush()
    except (AttributeError, OSError, ValueError):
        pass


def _rotate(handler, rollover, disable):
    """
    Run the stdlib's rollover; if it fails (the directory is not writable
    after a privilege drop, say), keep logging to the current file in
    append mode, call disable() so that no later record tries again, and
    say so once in the log.  No record is lost either way.
    """
    try:
        rollover()
    except OSError as error:
        disable()
        if handler.stream is None:
            try:
                handler.stream = handler._open()
            except OSError:
                return
        _warn(
            handler,
            "cannot rotate log file %s: %s; log rotation is disabled "
            "(the directory must be writable by the daemon's user)"
            % (handler.baseFilename, error.strerror),
        )


class _SafeRotation:
    """
    What both rotating handlers add to the stdlib's: a rotation that fails
    disables rotation instead of losing records (``_disableRotation`` says
    how for each), and ``reopen`` keeps the old file when the path cannot be
    opened again.
    """

    def doRollover(self):
        """Rotate, or on failure keep the current file and stop rotating."""
        _rotate(self, super().doRollover, self._disableRotation)

    def reopen(self):
        """Open the path again (after logrotate moved it); keep the old file on failure."""
        _reopen(self)


class RotatingLogFile(_SafeRotation, logging.handlers.RotatingFileHandler):
    """A size-rotated log file (path, path.1, ... path.N) that can be reopened."""

    def _disableRotation(self):
        self.maxBytes = 0


class DailyLogFile(_SafeRotation, logging.handlers.TimedRotatingFileHandler):
    """A log file rotated at midnight (path.YYYY-MM-DD) that can be reopened."""

    def _disableRotation(self):
        self.rolloverAt = float("inf")


class PlainLogFile(logging.handlers.WatchedFileHandler):
    """
    A log file never rotated by us.

    It also notices by itself when the file was moved or removed (the stdlib
    WatchedFileHandler checks before each write); ``reopen`` forces it.
    When the path cannot be opened again, it keeps the file already open.
    """

    _watching = True

    def reopenIfNeeded(self):
        """Reopen the path if the file there is no longer ours (and can be opened)."""
        if not self._watching:
            return
        try:
            info = os.stat(self.baseFilename)
        except FileNotFoundError:
            info = None
        if info is None or (info.st_dev, info.st_ino) != (self.dev, self.ino):
            self.reopen()

    def reopen(self):
        """Open the path again; on failure keep the old file and stop watching the path."""
        self._watching = _reopen(self)
        if self._watching:
            self._statstream()


class SyslogHandler(logging.handlers.SysLogHandler):
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
