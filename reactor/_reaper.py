"""
Knowing when a child of Loom's exits, so that it is reaped: a pidfd per
child where the kernel has them, SIGCHLD where it has not.

The one rule: Loom waits only for its own children, by pid, never with
``waitpid(-1)``.  A library's own subprocess.Popen child is its owner's to
wait for; reaping it from under them would hand their wait() an ECHILD and a
made-up status (test_popenChildIsLeftToItsOwner).

With pidfds (Linux 5.3 and later): each child gets ``os.pidfd_open(pid)``,
registered with its reactor as a reader.  A pidfd becomes readable when its
process exits, so the reactor calls ``reapProcess()`` on the child's
transport at once, which waits for that pid alone.  No signal handler, no
scan of the other children: cost per child, one descriptor while it runs.

Without them: a SIGCHLD handler, installed while Loom has children to watch
this way (and the previous handler put back after), asks each reactor with
such children to look at them all (``reapAllProcesses``), with a
non-blocking waitpid each, on its next turn.  SIGCHLD carries no pid, and
several exits can make one signal, hence the look at all of them.  The
handler only queues (``callFromThread``): it runs between two bytecodes of
the main thread, maybe in the middle of the reactor's own bookkeeping.  A
signal can land in another thread while the main thread sleeps in the
poller (with nothing making it wake), or no handler can be installed at all
(a reactor run outside the main thread): a slow poll of the same children,
every POLL_INTERVAL seconds, covers those.  A previous handler (loomd's
orphan reaper, under PID 1) is called after ours.

As PID 1 (loomd in a container), every orphan of the system becomes our
child, and must be reaped too: ``reapOrphans`` reaps every child that has
exited, looking with WNOWAIT first so that a child of Loom's is reaped for
its own transport (its status reaches its protocol), and any other reaped
and its status dropped.

The transports this module watches provide ``pid``, ``reactor`` and
``reapProcess()``.  Its names are the package's internal interface to
reactor.process and reactor.pytestplugin.
"""

import os
import signal
import threading
import weakref
from typing import Any

from zope.interface import implementer

from reactor.interfaces import IReadDescriptor

__all__ = [
    "POLL_INTERVAL",
    "children",
    "forget",
    "kill",
    "pidfdsUsable",
    "reapAllProcesses",
    "reapOrphans",
    "prepare",
    "unprepare",
    "watch",
]

# Every child of Loom's not yet reaped: pid -> its transport.
children: dict[int, Any] = {}
# Seconds between two looks at the children watched without pidfds (the
# SIGCHLD handler makes most of them unnecessary).
POLL_INTERVAL = 0.5

_watchers: dict[int, "PidfdWatcher"] = {}
# The pids of the children watched through SIGCHLD.
_bySignal: set[int] = set()
# Whether pidfd_open worked, once tried (None: not tried yet).
_pidfdsWork: bool | None = None
# The reactors with children watched through SIGCHLD -> how many, and the
# slow poll each has scheduled.
_signalled: "weakref.WeakKeyDictionary[Any, int]" = weakref.WeakKeyDictionary()
_polls: "weakref.WeakKeyDictionary[Any, Any]" = weakref.WeakKeyDictionary()
_previousHandler: Any = None
_handlerInstalled = False


def pidfdsUsable() -> bool:
    """Whether children are watched through pidfds (else through SIGCHLD)."""
    return hasattr(os, "pidfd_open") and _pidfdsWork is not False


@implementer(IReadDescriptor)
class PidfdWatcher:
    """A pidfd, registered with the reactor: readable once the process exited."""

    def __init__(self, process: Any, fd: int) -> None:
        self.process = process
        self.fd = fd

    def fileno(self) -> int:
        """Return the pidfd (-1 once closed)."""
        return self.fd

    def doRead(self) -> None:
        """The process exited: reap it (which forgets, and so closes, this watcher)."""
        self.process.reapProcess()

    def connectionLost(self, reason: Any) -> None:
        """Dropped by the reactor (at its shutdown): close the pidfd."""
        self.close()

    def close(self) -> None:
        """Close the pidfd; idempotent."""
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1

    def logPrefix(self) -> str:
        """Name this descriptor in log lines."""
        return "PidfdWatcher"

    def __repr__(self) -> str:
        return "<PidfdWatcher pid=%s>" % (self.process.pid,)


def prepare(reactor: Any) -> bool:
    """
    Get ready to watch a child of reactor that is about to be started;
    return whether it is to be watched through SIGCHLD.

    Without pidfds, the SIGCHLD handler must be in place before the fork, or
    a child exiting at once could make its signal before anyone listens;
    counting the reactor in now also covers a signal that comes before the
    child is registered (the reactor looks on its next turn, by then the
    child is known).  When it returns True, pair it with watch(process,
    True), or with unprepare(reactor) if no child was started.
    """
    if pidfdsUsable():
        return False
    _signalled[reactor] = _signalled.get(reactor, 0) + 1
    _installHandler()
    return True


def unprepare(reactor: Any) -> None:
    """Undo one prepare(reactor) that returned True."""
    count = _signalled.get(reactor, 0) - 1
    if count > 0:
        _signalled[reactor] = count
        return
    _signalled.pop(reactor, None)
    poll = _polls.pop(reactor, None)
    if poll is not None and poll.active():
        poll.cancel()
    if not _signalled:
        _restoreHandler()


def watch(process: Any, bySignal: bool) -> None:
    """
    Watch process, just started: its reapProcess() is called once it may
    have exited.

    :param bySignal: what prepare() returned before it was started.
    """
    global _pidfdsWork
    children[process.pid] = process
    reactor = process.reactor
    if not bySignal:
        try:
            fd = os.pidfd_open(process.pid)
        except ProcessLookupError:
            # Reaped already, by a waitpid(-1) that is not ours: reapProcess
            # finds out, on the next turn.
            reactor.callLater(0, process.reapProcess)
            return
        except OSError:
            # ENOSYS: a kernel older than its Python.  From now on, SIGCHLD.
            _pidfdsWork = False
            bySignal = prepare(reactor)
            reactor.callLater(0, process.reapProcess)
        else:
            _pidfdsWork = True
            watcher = _watchers[process.pid] = PidfdWatcher(process, fd)
            reactor.addReader(watcher)
            return
    _bySignal.add(process.pid)
    _schedulePoll(reactor)


def forget(process: Any) -> None:
    """Stop watching process: it has been reaped (process.pid is still its pid)."""
    pid = process.pid
    children.pop(pid, None)
    watcher = _watchers.pop(pid, None)
    if watcher is not None:
        process.reactor.removeReader(watcher)
        watcher.close()
    if pid in _bySignal:
        _bySignal.discard(pid)
        unprepare(process.reactor)


def kill(process: Any, number: int) -> None:
    """
    Send signal number to process: through its pidfd when it has one, which
    names this process and no other even if a waitpid that is not ours
    reaped it and its pid went to a newcomer.

    :raises ProcessLookupError: if it is gone.
    """
    watcher = _watchers.get(process.pid)
    if watcher is not None and watcher.fd >= 0:
        signal.pidfd_send_signal(watcher.fd, number)
    else:
        os.kill(process.pid, number)


def reapAllProcesses(reactor: Any = None) -> None:
    """
    Reap every child of Loom's that has exited (only reactor's, if given),
    with a non-blocking waitpid for each; never a child that is not Loom's.
    """
    for process in list(children.values()):
        if reactor is None or process.reactor is reactor:
            process.reapProcess()


def reapOrphans() -> None:
    """
    Reap every child that has exited, Loom's or not: for a process that
    inherits orphans (PID 1, or a subreaper).  A child of Loom's is reaped
    through its transport, so that its protocol hears its status; any other
    child is reaped and its status dropped.  Call it in the reactor's
    thread (from a SIGCHLD handler, through callFromThread).
    """
    flags = os.WEXITED | os.WNOHANG | os.WNOWAIT
    while True:
        try:
            found = os.waitid(os.P_ALL, 0, flags)
        except ChildProcessError:
            return
        if found is None:
            return
        process = children.get(found.si_pid)
        if process is not None:
            process.reapProcess()
        else:
            try:
                os.waitpid(found.si_pid, os.WNOHANG)
            except ChildProcessError:
                pass


def _installHandler() -> None:
    global _handlerInstalled, _previousHandler
    if _handlerInstalled or threading.current_thread() is not threading.main_thread():
        return
    _previousHandler = signal.signal(signal.SIGCHLD, _onChildSignal)
    _handlerInstalled = True


def _restoreHandler() -> None:
    global _handlerInstalled, _previousHandler
    if not _handlerInstalled or threading.current_thread() is not threading.main_thread():
        return
    # Only if ours is still the one: a handler installed after ours stays.
    if signal.getsignal(signal.SIGCHLD) is _onChildSignal:
        previous = _previousHandler
        signal.signal(signal.SIGCHLD, signal.SIG_DFL if previous is None else previous)
    _handlerInstalled = False
    _previousHandler = None


def _onChildSignal(signum: int, frame: Any) -> None:
    # In the main thread, between two bytecodes: only queue.
    for reactor in list(_signalled.keys()):
        reactor.callFromThread(reapAllProcesses, reactor)
    previous = _previousHandler
    if callable(previous):
        previous(signum, frame)


def _schedulePoll(reactor: Any) -> None:
    poll = _polls.get(reactor)
    if poll is None or not poll.active():
        _polls[reactor] = reactor.callLater(POLL_INTERVAL, _poll, reactor)


def _poll(reactor: Any) -> None:
    _polls.pop(reactor, None)
    reapAllProcesses(reactor)
    if reactor in _signalled:
        _schedulePoll(reactor)
