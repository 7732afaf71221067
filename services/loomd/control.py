"""
``loomd --status``, ``--stop``, ``--reload`` and ``--log-status``: acting on
a running daemon through its pidfile, with LSB init-script exit codes.

The pidfile's lock, not its content, says whether the daemon runs (see
services.loomd.pidfile): a pid read from an unlocked file may already belong to
another process, so it is never signalled.

Without ``--pidfile`` the commands look at the default, ``loomd.pid`` in the
run directory, and every answer names it: a daemon started with another
pidfile is not found there, and "not running" would be a guess.  When no
file exists there they say exactly that (test_controlWithoutPidfileNamesTheDefault).
"""

import os
import signal
import sys
import time

from services.loomd.pidfile import PidFileError, lockHolder

__all__ = ["status", "stop", "reload", "logStatus"]

# LSB exit codes for "status".
RUNNING = 0
DEAD_WITH_PIDFILE = 1
NOT_RUNNING = 3
UNKNOWN = 4
# LSB exit code for actions on a program that is not running.
PROGRAM_NOT_RUNNING = 7


def _say(text):
    sys.stdout.write("loomd: %s\n" % (text,))
    sys.stdout.flush()


def _holder(pidfile):
    if not pidfile:
        raise PidFileError("no pidfile: --pidfile is empty")
    return lockHolder(pidfile)


def _pid(pid, pidfile, explicit):
    # "pid N", and the default pidfile's path: an answer from it is a guess.
    return "pid %s" % (pid,) if explicit else "pid %s, pidfile %s" % (pid, pidfile)


def _notRunning(pidfile, explicit):
    """What to say when the pidfile's lock is free: why, naming the file."""
    if os.path.lexists(pidfile) and _emptied(pidfile):
        return "not running (the pidfile %s is empty: the daemon stopped)" % (pidfile,)
    if os.path.lexists(pidfile):
        return "not running" if explicit else "not running (pidfile %s)" % (pidfile,)
    if explicit:
        return "not running (no pidfile at %s)" % (pidfile,)
    return "no pidfile at %s (the default; give the daemon's with --pidfile)" % (pidfile,)


def status(pidfile, explicit=True):
    """
    Print and return the LSB status: 0 running, 1 dead with pidfile, 3
    stopped, 4 unknown.

    :param explicit: False when pidfile is the default, not given on the
        command line: the answers then name it.
    """
    try:
        locked, pid = _holder(pidfile)
    except PidFileError as error:
        _say("status unknown: %s" % (error,))
        return UNKNOWN
    if locked:
        _say("running (%s)" % (_pid(pid, pidfile, explicit),))
        _sayWorkers(pidfile)
        return RUNNING
    if os.path.lexists(pidfile) and not _emptied(pidfile):
        _say("not running, but the pidfile %s remains" % (pidfile,))
        return DEAD_WITH_PIDFILE
    _say(_notRunning(pidfile, explicit))
    return NOT_RUNNING


def _sayWorkers(pidfile):
    # Under --workers the master keeps its table of workers beside the
    # pidfile (services.loomd.workertable): one line each.
    from services.loomd.workertable import readTable

    for line in readTable(pidfile):
        sys.stdout.write("  %s\n" % (line,))
    sys.stdout.flush()


def _emptied(pidfile):
    # A daemon that could not remove its pidfile (privileges dropped, the
    # directory root's) empties it at exit: a clean stop, not a dead daemon
    # (test_emptiedPidfileIsNotRunning).
    return os.stat(pidfile, follow_symlinks=False).st_size == 0


def stop(pidfile, timeout=10.0, explicit=True):
    """
    Send SIGTERM to the daemon and wait up to timeout seconds for it to exit.

    :param explicit: as for ``status``.
    :return: 0 once it has stopped (or was not running), 1 otherwise.
    """
    try:
        locked, pid = _holder(pidfile)
    except PidFileError as error:
        _say("cannot stop: %s" % (error,))
        return 1
    if not locked:
        _say(_notRunning(pidfile, explicit))
        return 0
    if not pid:
        _say("cannot stop: the pidfile %s is locked but names no process" % (pidfile,))
        return 1
    try:
        os.kill(pid, signal.SIGTERM)
    except ProcessLookupError:
        return 0
    except PermissionError:
        _say("cannot stop pid %d: permission denied" % (pid,))
        return 1
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not lockHolder(pidfile)[0]:
            _say("stopped (%s)" % (_pid(pid, pidfile, explicit),))
            return 0
        time.sleep(0.05)
    _say("pid %d still running after %ss" % (pid, timeout))
    return 1


def reload(pidfile, explicit=True):
    """
    Send SIGHUP to the daemon: 0 if sent, 7 (LSB: not running) otherwise.

    :param explicit: as for ``status``.
    """
    return _signalDaemon(pidfile, signal.SIGHUP, "reload", explicit)


def logStatus(pidfile, explicit=True):
    """
    Send SIGUSR2 to the daemon, which logs the state of its services (each
    process of a process monitor: state, pid, uptime, restarts): 0 if
    sent, 7 (LSB: not running) otherwise.

    :param explicit: as for ``status``.
    """
    return _signalDaemon(pidfile, signal.SIGUSR2, "log-status", explicit)


def _signalDaemon(pidfile, signum, action, explicit):
    try:
        locked, pid = _holder(pidfile)
    except PidFileError as error:
        _say("cannot %s: %s" % (action, error))
        return 1
    if not locked or not pid:
        _say(_notRunning(pidfile, explicit))
        return PROGRAM_NOT_RUNNING
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        _say(_notRunning(pidfile, explicit))
        return PROGRAM_NOT_RUNNING
    _say("%s requested (%s)" % (action, _pid(pid, pidfile, explicit)))
    return 0
