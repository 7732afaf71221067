"""
The shutdown deadline (--shutdown-timeout), kept by a thread of its own.

A reactor.callLater cannot bound a shutdown alone: a stopService that blocks
the reactor thread (time.sleep, a lock, a blocking socket call) stops the
loop, and every timer with it.  So the deadline runs in a daemon thread.
When it passes, the thread first asks the loop (callFromThread) to end the
shutdown the ordinary way: the owner logs what is still stopping, ends the
loop, cleans up and exits 1.  When the loop does not answer within a short
grace, the reactor thread is blocked: the deadline's thread hands over to
the owner, which says where (the service whose stopService call has not
returned; the reactor thread's stack, which ``threadStack`` reads from
sys._current_frames) and must end the process (os._exit: the reactor
thread cannot be unwound).  Should that exit itself hang (a log on a hung
disk), os._exit(1) follows LAST_RESORT seconds later.

A Python thread needs the GIL: a C call that blocks while holding it (rare:
sleeps, locks and blocking I/O release it) stops this thread too.  The
service manager's own stop timeout (systemd's TimeoutStopSec, the init
script's kill) is the backstop then.
"""

import os
import sys
import threading
import traceback
from typing import Any, Callable, Optional

__all__ = ["ShutdownDeadline", "LOOP_GRACE", "threadStack"]

LOOP_GRACE = 1.0
"""Seconds the loop gets to answer once the deadline has passed."""

LAST_RESORT = 5.0
"""Seconds the owner's exit may take (logging to a hung disk) before os._exit(1)."""


class ShutdownDeadline:
    """
    A deadline for a shutdown under way, armed by ``start``.

    :param timeout: seconds from ``start`` to the deadline.
    :param reactor: the reactor whose thread runs the shutdown.
    :param onDeadline: called in the reactor thread when the deadline passes
        while the loop still turns; it ends the shutdown.
    :param onBlocked: called in the deadline's thread with the reactor
        thread's id when the loop did not answer within grace; it must end
        the process.  ``disarm`` waits until it has.
    :param grace: seconds the loop gets to answer.
    :param lastResort: seconds onBlocked gets before os._exit(1) (None: no
        limit, for tests).
    """

    def __init__(
        self,
        timeout: float,
        reactor: Any,
        *,
        onDeadline: Callable[[], None],
        onBlocked: Callable[[int], None],
        grace: float = LOOP_GRACE,
        lastResort: Optional[float] = LAST_RESORT,
    ) -> None:
        self.timeout = timeout
        self.grace = grace
        self.lastResort = lastResort
        self._reactor = reactor
        self._onDeadline = onDeadline
        self._onBlocked = onBlocked
        self._reactorThread: Optional[int] = None
        self._done = threading.Event()
        self._answered = threading.Event()
        # Held while the process is being taken down from the deadline's
        # thread: the reactor thread's own clean-up must not run meanwhile.
        self._exiting = threading.Lock()
        self._disarmed = False

    def start(self) -> None:
        """Arm the deadline; call it in the reactor thread."""
        self._reactorThread = threading.get_ident()
        thread = threading.Thread(target=self._watch, name="loomd shutdown deadline", daemon=True)
        thread.start()

    def disarm(self) -> None:
        """
        The shutdown is over: the deadline does nothing from now on.

        If the deadline's thread is already ending the process, this waits
        (for ever: the process ends under it) rather than let two threads
        release the pidfile at once.
        """
        with self._exiting:
            self._disarmed = True
        self._done.set()

    def _watch(self):
        if self._done.wait(self.timeout):
            return
        self._reactor.callFromThread(self._answer)
        if self._answered.wait(self.grace) or self._done.is_set():
            return
        with self._exiting:
            if self._disarmed:
                return
            if self.lastResort is not None:
                _exitAfter(self.lastResort)
            self._onBlocked(self._reactorThread)

    def _answer(self):
        # In the reactor thread: the loop turns, the ordinary path will do.
        self._answered.set()
        if not self._disarmed:
            self._onDeadline()


def threadStack(threadId: int) -> str:
    """
    The stack of the thread threadId as text, most recent call last (as a
    traceback shows it); "" when that thread is gone.
    """
    frame = sys._current_frames().get(threadId)
    if frame is None:
        return ""
    return "".join(traceback.format_stack(frame))


def _exitAfter(seconds):
    # The owner's exit logs and flushes; should that block too, still exit.
    timer = threading.Timer(seconds, os._exit, (1,))
    timer.daemon = True
    timer.start()
