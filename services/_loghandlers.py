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
    # Shared by the file handlers: a new stream on the same path.
    handler.acquire()
    try:
        if handler.stream is not None:
            try:
                handler.stream.flush()
            finally:
                handler.stream.close()
        handler.stream = handler._open()
    finally:
        handler.release()


class RotatingLogFile(logging.handlers.RotatingFileHandler):
    """A size-rotated log file (path, path.1, ... path.N) that can be reopened."""

    def reopen(self):
        """Close the file and open the path again (after logrotate moved it)."""
        _reopen(self)


class DailyLogFile(logging.handlers.TimedRotatingFileHandler):
    """A log file rotated at midnight (path.YYYY-MM-DD) that can be reopened."""

    def reopen(self):
        """Close the file and open the path again (after logrotate moved it)."""
        _reopen(self)


class PlainLogFile(logging.handlers.WatchedFileHandler):
    """
    A log file never rotated by us.

    It also notices by itself when the file was moved or removed (the stdlib
    WatchedFileHandler checks before each write); ``reopen`` forces it.
    """

    def reopen(self):
        """Close the file and open the path again."""
        _reopen(self)
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
