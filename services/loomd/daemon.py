"""
Becoming a daemon without ever leaving the launcher hanging.

``daemonize(statusPipe)`` double-forks: the launcher (the process the user
or the init script started) waits on the read end of a StatusPipe, and the
final daemon process reports through the write end once start-up is done:
``ok`` or ``error: <text>``.  The launcher exits 0 only on ``ok``.

The one idea: the launcher's copy of the write end is closed at once, so
the daemon holds the only writer.  Whatever happens to the daemon, the
launcher wakes up: a status line, or end-of-file when the daemon dies (or
closes the pipe) without reporting, or the start-up deadline.  Every path
ends with the daemon gone unless it reported ``ok``: after an error, a
silent exit or a timeout, the launcher waits a moment for it to exit and
otherwise kills its process group.  (twistd's launcher waits forever when
the daemon never reports.)

On Linux the launcher also makes itself a "child subreaper" before
forking, so that the daemon, orphaned when the intermediate process exits,
is re-parented to the launcher for as long as it waits: the launcher can
then tell *how* a daemon died during start-up ("status 3", "signal 9").

Signals the daemon will handle are blocked before the first fork
(``blockSignals``): the mask is inherited, so a signal sent to the daemon
before it has installed its handlers waits instead of killing it.

Changing directory and umask, and pointing the standard streams at
/dev/null (``redirectStandardStreams``, once logging is set up), are left
to the caller, in the daemon.
"""

import contextlib
import os
import select
import signal
import stat
import sys
import time

__all__ = [
    "StatusPipe",
    "StartupFailed",
    "DaemonError",
    "daemonize",
    "redirectStandardStreams",
    "describeExit",
    "describeStartupError",
]

# Longest status text sent through the pipe; well under a pipe's capacity,
# so the daemon never blocks writing to a launcher that stopped reading.
_MAX_STATUS = 16000


class StartupFailed(Exception):
    """The daemon did not start; str(exception) is the message for the user."""


class DaemonError(Exception):
    """A daemonizing step failed in the daemon (its text is reported as is)."""


def _escape(text):
    return text.replace("\\", "\\\\").replace("\n", "\\n")


def _unescape(text):
    out, chars = [], iter(text)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            out.append("\n" if following == "n" else following)
        else:
            out.append(char)
    return "".join(out)


def describeExit(status):
    """Describe a waitpid() status: 'exited with status 3', 'was killed by signal 9 (SIGKILL)'."""
    if os.WIFSIGNALED(status):
        number = os.WTERMSIG(status)
        try:
            name = signal.Signals(number).name
        except ValueError:
            name = "unknown"
        return "was killed by signal %d (%s)" % (number, name)
    return "exited with status %d" % (os.waitstatus_to_exitcode(status),)


class StatusPipe:
    """
    The launcher's line to the daemon during start-up.

    Create it before ``daemonize``.  The launcher then calls
    ``waitForReady``; the daemon calls ``reportReady`` or ``reportError``
    (or runs its start-up inside ``reportingErrors()``).

    :ivar daemonPid: the daemon's pid once the launcher has heard of it.
    :ivar sessionId: the first child's pid: the daemon's session and process
        group id (the group killed after a timeout).
    """

    def __init__(self):
        self.readFd, self.writeFd = os.pipe()
        self.daemonPid = None
        self.sessionId = None
        self._subreaper = False

    # -- daemon side ----------------------------------------------------------

    def _send(self, line):
        # Returns False when the pipe was already closed or the launcher is gone.
        if self.writeFd is None:
            return False
        data = line.encode("utf-8", "replace")
        try:
            while data:
                data = data[os.write(self.writeFd, data) :]
        except OSError:
            return False
        return True

    def _closeWriteEnd(self):
        if self.writeFd is not None:
            os.close(self.writeFd)
            self.writeFd = None

    def reportReady(self):
        """
        Tell the launcher start-up succeeded, and close the pipe.

        :return: False if nothing could be reported (already reported, or
            the launcher is gone).
        """
        sent = self._send("ok\n")
        self._closeWriteEnd()
        return sent

    def reportError(self, text):
        """
        Tell the launcher start-up failed with text (may span lines), and
        close the pipe.

        :return: False if nothing could be reported.
        """
        text = text[:_MAX_STATUS]
        sent = self._send("error: %s\n" % (_escape(text),))
        self._closeWriteEnd()
        return sent

    @contextlib.contextmanager
    def reportingErrors(self):
        """
        A context for the daemon's start-up: any exception escaping it,
        SystemExit and KeyboardInterrupt included, is reported with
        ``reportError`` and then propagates.
        """
        try:
            yield self
        except BaseException as error:
            self.reportError(describeStartupError(error))
            raise

    # -- launcher side --------------------------------------------------------

    def waitForReady(self, timeout, grace=5.0):
        """
        Wait for the daemon's report; return the daemon's pid on ``ok``.

        :param timeout: seconds to wait for the report (--start-timeout).
        :param grace: seconds a failed daemon gets to exit by itself before
            its process group is killed.
        :raises StartupFailed: with the daemon's error text; or when it
            exited (or closed the pipe) without reporting; or when nothing
            came within timeout.  In each case the daemon is gone when this
            returns.
        """
        deadline = time.monotonic() + timeout
        pending = b""
        try:
            while True:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    self._stop(grace)
                    raise StartupFailed(
                        "no answer from the daemon within %g seconds; stopped it" % (timeout,)
                    )
                readable, _, _ = select.select([self.readFd], [], [], remaining)
                if not readable:
                    continue
                chunk = os.read(self.readFd, 65536)
                if not chunk:
                    raise StartupFailed(self._silentExit(grace))
                pending += chunk
                while b"\n" in pending:
                    line, pending = pending.split(b"\n", 1)
                    result = self._handleLine(line.decode("utf-8", "replace"), grace)
                    if result is not None:
                        return result
        finally:
            os.close(self.readFd)
            self.readFd = None

    def _handleLine(self, line, grace):
        if line.startswith("pid "):
            self.daemonPid = int(line[4:])
            return None
        if line == "ok":
            return self.daemonPid
        if line.startswith("error: "):
            self._awaitExit(grace)
            raise StartupFailed(_unescape(line[len("error: ") :]))
        raise StartupFailed("unexpected status from the daemon: %r" % (line,))

    def _silentExit(self, grace):
        # End of file with no status: the daemon died, or closed the pipe.
        who = "the daemon" if self.daemonPid is None else "the daemon (pid %d)" % (self.daemonPid,)
        status = self._awaitExit(grace)
        if status is True:
            return "%s exited during start-up without reporting" % (who,)
        if status is not None:
            return "%s %s during start-up" % (who, describeExit(status))
        return "%s closed its status pipe without reporting; stopped it" % (who,)

    def _awaitExit(self, grace):
        """
        Wait up to grace seconds for the daemon to exit, kill its process
        group if it does not.  Returns its waitpid status when it was our
        child (subreaper), True when it exited otherwise, None when killed.
        """
        if self.daemonPid is None:
            return True
        status = _waitForExit(self.daemonPid, grace, reap=self._subreaper)
        if status is None:
            self._kill(signal.SIGKILL)
            _waitForExit(self.daemonPid, grace, reap=self._subreaper)
        return status

    def _stop(self, grace):
        # After a timeout: ask the whole group to go, then insist.
        self._kill(signal.SIGTERM)
        if self.daemonPid is None or _waitForExit(self.daemonPid, grace, self._subreaper) is None:
            self._kill(signal.SIGKILL)
            if self.daemonPid is not None:
                _waitForExit(self.daemonPid, grace, reap=self._subreaper)

    def _kill(self, signalNumber):
        for kill, target in ((os.killpg, self.sessionId), (os.kill, self.daemonPid)):
            if target is not None:
                try:
                    kill(target, signalNumber)
                except ProcessLookupError:
                    pass


def _waitForExit(pid, timeout, reap):
    """
    Wait up to timeout seconds for pid to exit.

    Returns its waitpid status when reap is set and it is our child, True
    when it is gone otherwise, None if it still runs.
    """
    try:
        handle = os.pidfd_open(pid)
    except ProcessLookupError:
        return True
    except (AttributeError, OSError):
        return _pollForExit(pid, timeout, reap)
    try:
        # A pidfd becomes readable when the process exits (zombie or not).
        readable, _, _ = select.select([handle], [], [], timeout)
    finally:
        os.close(handle)
    if not readable:
        return None
    if reap:
        try:
            return os.waitpid(pid, 0)[1]  # already exited: does not block
        except ChildProcessError:
            pass
    return True


def _pollForExit(pid, timeout, reap):
    # Fallback without pidfds: waitpid for our child, else signal 0 probes
    # (which a zombie would pass, hence waitpid first).
    deadline = time.monotonic() + timeout
    while True:
        if reap:
            try:
                reaped, status = os.waitpid(pid, os.WNOHANG)
                if reaped:
                    return status
            except ChildProcessError:
                reap = False
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            return True
        if time.monotonic() >= deadline:
            return None
        time.sleep(0.01)


def describeStartupError(error):
    """Return the one-paragraph description of an exception raised during start-up."""
    if isinstance(error, SystemExit):
        return "sys.exit(%r) was called during start-up" % (error.code,)
    if isinstance(error, KeyboardInterrupt):
        return "interrupted during start-up"
    if isinstance(error, DaemonError):
        return str(error)
    text = str(error)
    return "%s: %s" % (type(error).__name__, text) if text else type(error).__name__


def _becomeSubreaper():
    # PR_SET_CHILD_SUBREAPER (Linux >= 3.4): orphaned descendants are
    # re-parented to us, so the launcher can reap the daemon if it dies.
    if not sys.platform.startswith("linux"):
        return False
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        return libc.prctl(36, 1, 0, 0, 0) == 0
    except (OSError, AttributeError):
        return False


def _flushStandardStreams():
    # Buffered output must not be written twice, once by each process.
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass


def daemonize(statusPipe, blockSignals=()):
    """
    Double-fork into a daemon.

    In the launcher, returns the first child's pid (the daemon's session
    id), after reaping that child; the launcher then calls
    ``statusPipe.waitForReady``.  In the daemon (the grandchild: not a
    session leader, so it can never acquire a controlling terminal),
    returns None; it must end with ``reportReady`` or ``reportError``.

    :param blockSignals: signals the daemon starts with blocked, so that
        none of them acts (a default action kills) before the daemon has
        installed its handlers; the daemon unblocks them then, and those
        sent meanwhile are delivered.  They are blocked before the first
        fork, as the mask is inherited: there is no moment at which a
        process of the daemon's exists without it.  The launcher's own
        mask is restored after the fork.
    """
    _flushStandardStreams()
    statusPipe._subreaper = _becomeSubreaper()
    previousMask = signal.pthread_sigmask(signal.SIG_BLOCK, blockSignals)
    try:
        child = os.fork()
    except BaseException:
        signal.pthread_sigmask(signal.SIG_SETMASK, previousMask)
        raise
    if child > 0:
        signal.pthread_sigmask(signal.SIG_SETMASK, previousMask)
        os.close(statusPipe.writeFd)
        statusPipe.writeFd = None
        statusPipe.sessionId = child
        os.waitpid(child, 0)  # the intermediate process exits at once
        return child
    _intermediate(statusPipe)
    statusPipe.readFd = None
    statusPipe.daemonPid = os.getpid()
    statusPipe._send("pid %d\n" % (os.getpid(),))
    return None


def _intermediate(statusPipe):
    # The first child: new session, fork again, exit.  Returns only in the
    # grandchild; nothing else may escape from here into the caller's code.
    try:
        os.close(statusPipe.readFd)
        os.setsid()
        if os.fork() > 0:
            os._exit(0)
    except BaseException as error:
        statusPipe.reportError("cannot daemonize: %s" % (describeStartupError(error),))
        os._exit(1)


def redirectStandardStreams(devnull=os.devnull):
    """
    Point file descriptors 0, 1 and 2 at devnull (default /dev/null).

    :raises DaemonError: devnull cannot be opened (a chroot without
        /dev/null, say); report it through the status pipe rather than
        carrying on with the launcher's terminal.
    """
    _flushStandardStreams()
    try:
        fd = os.open(devnull, os.O_RDWR | os.O_NOCTTY)
    except OSError as error:
        raise DaemonError(
            "cannot open %s for the standard streams: %s" % (devnull, error.strerror)
        ) from None
    if not stat.S_ISCHR(os.fstat(fd).st_mode):
        # Inside a chroot /dev/null is whatever the jail holds: a regular
        # file (or a link to one) would collect what the daemon prints, as root.
        os.close(fd)
        raise DaemonError(
            "%s is not a character device; refusing it for the standard streams" % (devnull,)
        )
    for target in (0, 1, 2):
        if fd != target:
            os.dup2(fd, target)
    if fd > 2:
        os.close(fd)
