"""
The daemon's logging: one stdlib handler chosen by the options, on the root
logger, with Loom's events (the ``loom`` logger) and everything else going
through it, and the standard streams captured so that what services print
reaches the log too.

The handler is made while still privileged and outside any chroot (the file
is opened, or the syslog socket connected, at once); ``prepareForUser`` gives
the file to the user privileges are dropped to, so that rotation and
``reopen()`` (SIGUSR1, SIGHUP) keep working afterwards.
"""

import logging

from services.loomd.logfile import (
    StdoutLog,
    captureStandardStreams,
    chownLogFiles,
    makeLogHandler,
    makeSyslogHandler,
    rebaseForChroot,
)

__all__ = ["DaemonLogging", "EarlyLog"]

_LEVELS = {
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
    "critical": logging.CRITICAL,
}


class DaemonLogging:
    """
    Logging set up from LoomdOptions.

    :raises OSError: the log file cannot be opened or syslog reached.
    """

    def __init__(self, options):
        if options["syslog"]:
            self.handler = makeSyslogHandler(
                prefix=options["prefix"],
                facility=options["syslog_facility"],
                address=options["syslog_socket"],
            )
        else:
            path = options["logfile"]
            if path is None:
                path = "-" if options["nodaemon"] else "loomd.log"
            self.handler = makeLogHandler(
                path,
                maxBytes=options["log_max_bytes"],
                backups=options["log_backups"],
                rotate=options["log_rotate"],
                logFormat=options["log_format"],
            )
        root = logging.getLogger()
        self._previousLevel = root.level
        root.setLevel(_LEVELS[options["log_level"]])
        root.addHandler(self.handler)
        self._restoreStreams = captureStandardStreams()

    def showsErrorsOnStandardOutput(self):
        """Whether an error logged now is written to standard output (``-l -``, ``-n``)."""
        return isinstance(self.handler, StdoutLog) and logging.getLogger().isEnabledFor(
            logging.ERROR
        )

    def prepareForUser(self, uid, gid):
        """Give the log file to uid/gid (before privileges are dropped)."""
        if uid is not None or gid is not None:
            chownLogFiles(self.handler, uid, gid)

    def enterChroot(self, root):
        """Keep rotation and reopening working after chrooting to root."""
        rebaseForChroot(self.handler, root)

    def reopen(self):
        """Reopen the log file by its path (after logrotate moved it)."""
        self.handler.reopen()

    def close(self):
        """Put the standard streams back, detach and close the handler."""
        self._restoreStreams()
        root = logging.getLogger()
        root.removeHandler(self.handler)
        root.setLevel(self._previousLevel)
        self.handler.close()


class EarlyLog(logging.Handler):
    """
    Keeps what is logged before the daemon's log exists (while the .tac
    loads, in the launcher) so that it can be written to the log once there
    is one.  Warnings and errors also go to stderr at once, as they would
    with no handler at all (the launcher's terminal sees them), unless
    ``echo`` is False (the log will be the terminal: it replays them) or
    the event says it was shown already (an ``echoed`` field).

    :ivar echo: whether warnings are shown on stderr as they are logged.
    """

    def __init__(self, echo=True):
        logging.Handler.__init__(self, logging.DEBUG)
        self.echo = echo
        self.records = []
        root = logging.getLogger()
        self._previousLevel = root.level
        root.setLevel(logging.DEBUG)
        root.addHandler(self)

    def emit(self, record):
        """Keep record; echo it to stderr if it is a warning or worse."""
        self.records.append(record)
        if self.echo and _unshownWarning(record):
            logging.lastResort.handle(record)

    def abandon(self):
        """
        Detach, there being no log to replay into (the start failed):
        warnings not shown yet go to stderr now.
        """
        for record in self.stop():
            if not self.echo and _unshownWarning(record):
                logging.lastResort.handle(record)

    def stop(self):
        """Detach; return the records kept (an empty list the second time)."""
        root = logging.getLogger()
        if self in root.handlers:
            root.removeHandler(self)
            root.setLevel(self._previousLevel)
        records, self.records = self.records, []
        return records


def _unshownWarning(record):
    event = getattr(record, "loomEvent", None) or {}
    return record.levelno >= logging.WARNING and not event.get("echoed")


def replay(records):
    """Log records again, through the handlers set up since (DaemonLogging)."""
    for record in records:
        logger = logging.getLogger(record.name)
        if logger.isEnabledFor(record.levelno):
            logger.handle(record)
