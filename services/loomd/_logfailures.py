"""
What a log destination does while it cannot be written (a full disk, a
quota, an I/O error): drop lines cheaply, count them, and say so twice.

The stdlib answers each failed write with a traceback printed to
sys.stderr, and in a daemon sys.stderr is captured into the log: every line
that could not be written became a dozen more that could not be written
either, and the server spent its time formatting tracebacks nobody would
read (issue 14: CPU from 2% to 52%, a good client's median latency from
0.16 ms to 37 ms).  Instead, a WriteFailures kept by each handler:

- on the first failure, writes one warning where it can still be read: the
  process's original standard error (the terminal or the journal under
  ``-n``; /dev/null for a daemon) and syslog;
- while failing, counts a line as lost and drops it before it is even
  formatted; once a second (``retryInterval``) one line is tried for real,
  which is the cheap probe for whether there is room again;
- when a line goes through again, has the handler write one line before it
  saying how long writing failed and how many lines were lost.
"""

import logging
import os
import socket
import sys
import time
from collections.abc import Callable

__all__ = ["WriteFailures", "CountsLostLines", "warnElsewhere", "warningRecord"]


class WriteFailures:
    """
    The failure state of one log destination.

    :ivar failing: True from a failed write until one succeeds.
    :ivar lost: lines lost since writing started failing.
    """

    retryInterval = 1.0
    syslogAddress = "/dev/log"

    def __init__(self, destination: str, clock: Callable[[], float] = time.monotonic) -> None:
        """
        :param destination: what is written, for messages (``log file /x/app.log``).
        :param clock: a monotonic clock (tests pass a Clock's seconds).
        """
        self.destination = destination
        self.failing = False
        self.lost = 0
        self._clock = clock
        self._since = 0.0
        self._retryAt = 0.0
        self._reason = ""

    def skip(self) -> bool:
        """
        While failing: True, counting the line as lost, unless a retry is
        due.  Call it only when ``failing``: it is the whole cost of a line
        that cannot be written.
        """
        if self._clock() < self._retryAt:
            self.lost += 1
            return True
        return False

    def failed(self, error: OSError) -> None:
        """A line could not be written (it is lost); warn if it is the first."""
        self.lost += 1
        now = self._clock()
        self._retryAt = now + self.retryInterval
        if not self.failing:
            self.failing, self._since = True, now
            self._reason = error.strerror or str(error)
            warnElsewhere(
                "cannot write to %s: %s; its lines are dropped and counted until it can be "
                "written again (tried once a second)" % (self.destination, self._reason),
                self.syslogAddress,
            )

    def report(self) -> str:
        """The line to write just before the first line that goes through again."""
        return "%s could not be written for %.1f s (%s): %d lines lost" % (
            self.destination,
            self._clock() - self._since,
            self._reason,
            self.lost,
        )

    def recovered(self) -> None:
        """The report and a line were written: back to normal."""
        self.failing, self.lost, self._retryAt = False, 0, 0.0


def warnElsewhere(message: str, syslogAddress: str = "/dev/log") -> None:
    """
    Write one warning to file descriptor 2 (never through sys.stderr, which
    may be captured into the very log that fails) and to syslog, without
    blocking on syslog and ignoring any error.
    """
    line = "loomd: %s\n" % (message,)
    try:
        os.write(2, line.encode("utf-8", "backslashreplace"))
    except OSError:
        pass
    # <28>: facility daemon (3 * 8) + severity warning (4).
    datagram = ("<28>loomd[%d]: %s" % (os.getpid(), message)).encode("utf-8", "backslashreplace")
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as syslog:
            syslog.connect(syslogAddress)
            syslog.send(datagram, socket.MSG_DONTWAIT)
    except OSError:
        pass


class CountsLostLines:
    """
    For a stdlib handler whose own emit reports a failed write through
    handleError (StreamHandler, SysLogHandler): placed before it, it gives
    it the same behaviour as the file handlers.  The class sets
    ``self._failures`` (a WriteFailures) in its ``__init__``.
    """

    _failures: WriteFailures

    def emit(self, record):
        """Emit record, or count it as lost while writing fails."""
        failures = self._failures
        if failures.failing:
            if failures.skip():
                return
            lost = failures.lost
            super().emit(warningRecord(failures.report()))
            if failures.lost != lost:
                return  # still failing: that counted this line as lost
            failures.recovered()
        super().emit(record)

    def handleError(self, record):
        """A write that failed is counted (no traceback); anything else is the stdlib's."""
        if isinstance(sys.exc_info()[1], OSError):
            self._failures.failed(sys.exc_info()[1])
        else:
            super().handleError(record)


def warningRecord(message: str) -> logging.LogRecord:
    """A WARNING record of system ``loomd``, for lines the log writes about itself."""
    return logging.LogRecord("loomd", logging.WARNING, __file__, 0, message, None, None)
