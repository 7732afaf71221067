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

from services.logfile import (
    captureStandardStreams,
    chownLogFiles,
    makeLogHandler,
    makeSyslogHandler,
    rebaseForChroot,
)

__all__ = ["DaemonLogging"]

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
