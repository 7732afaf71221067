"""
A rate-limited log: at most one line per kind of event per interval, and a
count of the lines held back.

The one idea: what a peer can make the server log, it can make the server
log a million times.  A thousand clients sending bad netstrings must cost a
few lines, not a thousand tracebacks (disk, CPU, and the one real error
drowned among them).  So each kind of event (a fixed, short string such as
``"malformed netstring"``) gets a window of ``interval`` seconds: the first
event of a window is logged in full at once, the others only counted, and
the count is logged in one summary line when the window ends, as the
kernel's printk_ratelimit and journald's rate limiting do.

The summary is written by a timer on the ``clock`` given, else on the global
reactor if one is installed (never installing one: importing or using this
module must not choose the reactor).  With neither, the count is written
with the next line of its kind instead.

``peerLog`` is the instance shared by the protocols: the log of what
misbehaving peers make them do (protocols.basic, protocols.policies), and
``describePeer(transport)`` names the peer in such a line.
"""

import time

from reactor import installedReactor, log

__all__ = ["RateLimitedLog", "describePeer", "peerLog"]


class _Window:
    __slots__ = ("end", "suppressed", "call")

    def __init__(self, end):
        self.end = end
        self.suppressed = 0
        self.call = None


class RateLimitedLog:
    """
    Log at most one line per kind per ``interval`` seconds; count the rest.

    :param interval: the window, in seconds.
    :param clock: an IReactorTime (a task.Clock in tests) for the time and
        the summary timer; None uses ``time.monotonic`` and the installed
        global reactor, if any.
    :param emit: called with each line's text; ``reactor.log.msg`` by default.
    """

    def __init__(self, interval=1.0, *, clock=None, emit=None):
        self.interval = interval
        self.clock = clock
        self._emit = emit or log.msg
        self._windows = {}

    def msg(self, kind, format, *args):
        """
        Log ``format % args``, unless a line of this kind went out less than
        ``interval`` seconds ago: then only count it.

        :param kind: what happened, from a fixed set of short strings (one
            window is kept per kind, for ever).
        :return: True if the line was logged, False if it was counted.
        """
        now = self._now()
        window = self._windows.get(kind)
        if window is not None and now < window.end:
            window.suppressed += 1
            if window.call is None:
                window.call = self._callLater(window.end - now, self._flush, kind, window)
            return False
        if window is not None:
            # The summary timer did not run (no reactor): say it now.
            self._flush(kind, window)
        self._windows[kind] = _Window(now + self.interval)
        self._emit(format % args if args else format)
        return True

    def suppressed(self, kind):
        """Return how many lines of kind are counted and not yet summarised."""
        window = self._windows.get(kind)
        return 0 if window is None else window.suppressed

    def _flush(self, kind, window):
        call, window.call = window.call, None
        if call is not None and call.active():
            call.cancel()
        count, window.suppressed = window.suppressed, 0
        if count:
            self._emit(
                "%s: %d more like this not logged (at most one line per %g s)"
                % (kind, count, self.interval)
            )

    def _now(self):
        clock = self.clock
        return time.monotonic() if clock is None else clock.seconds()

    def _callLater(self, delay, function, *args):
        clock = self.clock
        if clock is None:
            clock = installedReactor()
            if clock is None:
                return None
        return clock.callLater(delay, function, *args)


peerLog = RateLimitedLog()


def describePeer(transport):
    """Return " from HOST:PORT" for transport's peer, or "" if it has none."""
    try:
        peer = transport.getPeer()
    except Exception:
        return ""
    host = getattr(peer, "host", None)
    if host is None:
        name = getattr(peer, "name", None)
        return " from %s" % (name,) if name else ""
    return (" from [%s]:%s" if ":" in host else " from %s:%s") % (host, peer.port)
