"""
Starting a child: fork and exec in C, with the exec's errno read back.

One idea: Loom starts children with the engine the stdlib's subprocess uses,
``_posixsubprocess.fork_exec``, and not with a fork and an exec in Python.
It is C from the fork to the exec: it uses vfork where that is safe (no user
switch, no Python in the child), so the parent's memory is not copied; it
closes every descriptor the child was not given (close_range where the
kernel has it), whatever its close-on-exec flag says; it resets the signals
Python ignores (SIGPIPE) to their defaults; and when chdir, the user switch
or exec fails in the child, it writes the errno to a close-on-exec pipe, so
the parent learns why, synchronously, before anything is connected.  EOF on
that pipe with nothing read means the exec happened.

The one thing it cannot do by itself is put a descriptor at an arbitrary
number in the child: it wires only 0, 1 and 2.  A childFDs map with other
numbers (or without one of the three) takes a Python function run in the
child between fork and exec, which moves every descriptor into place.  That
costs a real fork and a little Python in the child, so only those spawns pay
it; so does a PTY child, which needs the ioctl that makes the terminal its
controlling one.

This module's names are the package's internal interface to reactor.process.
"""

import _posixsubprocess
import fcntl
import os
import pwd
import signal
import sys
import termios
from collections.abc import Callable, Mapping, Sequence
from typing import Any, cast

from reactor.error import ProcessExecError

__all__ = ["childEnvironment", "forkExec", "userSwitch"]

# Python 3.14 dropped fork_exec's last argument (allow_vfork): it uses vfork
# whenever it is safe.
_VFORK_ARGUMENT = (True,) if sys.version_info < (3, 14) else ()
# typeshed's signature is narrower than the C function (cwd and preexec_fn
# may be None): called through Any.
_forkExec: Any = _posixsubprocess.fork_exec
_STANDARD = frozenset((0, 1, 2))
PathArgument = str | bytes | os.PathLike[str] | os.PathLike[bytes]


def childEnvironment(env: Mapping[str | bytes, str | bytes] | None) -> list[bytes] | None:
    """
    Return env as fork_exec takes it: a list of b'NAME=value', or None to
    pass this process's own environment on.

    :raises ValueError: for a name containing '=' or a NUL byte anywhere.
    :raises TypeError: for a name or value that is not str or bytes.
    """
    if env is None:
        return None
    entries = []
    for name, value in env.items():
        encodedName, encodedValue = os.fsencode(name), os.fsencode(value)
        if b"=" in encodedName or not encodedName:
            raise ValueError("illegal environment variable name %r" % (name,))
        if b"\0" in encodedName or b"\0" in encodedValue:
            raise ValueError("embedded null byte in environment variable %r" % (name,))
        entries.append(encodedName + b"=" + encodedValue)
    return entries


def userSwitch(uid: int | None, gid: int | None) -> tuple[int | None, int | None, list[int] | None]:
    """
    Return (uid, gid, supplementary groups) for fork_exec, None where
    nothing is to change.

    With a uid and no gid, the gid is the user's own group (where the
    password database knows the user); the supplementary groups are the
    user's, as initgroups gives them.  A switch to the user and group we
    run as already changes nothing (so it needs no privilege).
    """
    if uid is None and gid is None:
        return None, None, None
    try:
        entry = pwd.getpwuid(os.geteuid() if uid is None else uid)
    except KeyError:
        entry = None
    if gid is None:
        gid = entry.pw_gid if entry is not None else os.getegid()
    if uid in (None, os.geteuid()) and gid == os.getegid() and os.geteuid() != 0:
        return None, None, None
    groups = os.getgrouplist(entry.pw_name, gid) if entry is not None else [gid]
    return uid, gid, groups


def _executableList(
    executable: PathArgument, env: Mapping[str | bytes, str | bytes] | None
) -> tuple[bytes, ...]:
    # As os.execvpe and subprocess search: a bare name through the child's
    # PATH (the default path if it has none); a path as it is.
    name = os.fsencode(executable)
    if os.path.dirname(name):
        return (name,)
    directories = os.get_exec_path(cast(Any, env))
    return tuple(os.path.join(os.fsencode(directory), name) for directory in directories)


# Signals a child must not inherit as ignored.  An ignored disposition
# survives exec, so under `nohup` (SIGHUP ignored) every child would ignore
# SIGHUP too: a PTY child would outlive its hang-up.  Twisted resets them as
# well.  fork_exec's restore_signals already resets SIGPIPE and SIGXFSZ,
# which Python itself ignores; the others are rare, so the reset (a Python
# step in the child, hence a full fork) is paid only when one is ignored
# (test_ignoredSignalsAreNotInherited).
_RESETTABLE = tuple(
    sorted(
        signal.valid_signals() - {signal.SIGKILL, signal.SIGSTOP, signal.SIGPIPE, signal.SIGXFSZ}
    )
)


def _ignoredSignals() -> tuple[int, ...]:
    getsignal, ignored = signal.getsignal, signal.SIG_IGN
    return tuple(number for number in _RESETTABLE if getsignal(number) is ignored)


def _resettingSignals(
    signals: tuple[int, ...], arrange: Callable[[], None] | None
) -> Callable[[], None]:
    setSignal, default = signal.signal, signal.SIG_DFL

    def resetThenArrange() -> None:
        for number in signals:
            setSignal(number, default)
        if arrange is not None:
            arrange()

    return resetThenArrange


def _controllingTerminal() -> None:
    # Run in a PTY child, a new session leader: the terminal on 0 becomes
    # its controlling terminal (which opening it would not do, as it is
    # already open).
    fcntl.ioctl(0, termios.TIOCSCTTY, 0)


def _arranger(fdmap: Mapping[int, int], controllingTerminal: bool) -> Callable[[], None]:
    # The function run in the child, between fork and exec: every descriptor
    # of fdmap ({child number: our descriptor}) to its number, each of 0, 1
    # and 2 the map does not name closed (as Twisted does), and the terminal
    # on 0 made the controlling one.  Each source is first copied above every
    # number in play, so that no dup2 overwrites a source still needed.
    floor = max(*fdmap, *fdmap.values(), 2) + 1
    dupAbove, dup2, close, ioctl = fcntl.fcntl, os.dup2, os.close, fcntl.ioctl
    F_DUPFD, TIOCSCTTY = fcntl.F_DUPFD, termios.TIOCSCTTY
    items = sorted(fdmap.items())
    unnamed = sorted(_STANDARD.difference(fdmap))

    def arrange() -> None:
        moved = [(child, dupAbove(parent, F_DUPFD, floor)) for child, parent in items]
        for child, copy in moved:
            dup2(copy, child)  # inheritable: dup2 clears close-on-exec
        for child in unnamed:
            try:
                close(child)
            except OSError:
                pass
        # The copies are closed with every other descriptor the child was
        # not given, after this returns (fork_exec's close_fds).
        if controllingTerminal:
            ioctl(0, TIOCSCTTY, 0)

    return arrange


def forkExec(
    executable: PathArgument,
    args: Sequence[PathArgument],
    env: Mapping[str | bytes, str | bytes] | None,
    path: PathArgument | None,
    fdmap: Mapping[int, int],
    *,
    uid: int | None = None,
    gid: int | None = None,
    newSession: bool = False,
    controllingTerminal: bool = False,
) -> int:
    """
    Start executable with args in a child whose descriptors are fdmap, and
    return its pid.

    :param env: the child's environment (None: ours).
    :param path: the directory to run it in (None: ours).
    :param fdmap: {child descriptor number: our descriptor}; the child gets
        exactly these, every other descriptor of ours is closed in it.
    :param uid, gid: the user and group to run it as (see userSwitch).
    :param newSession: make the child a session leader (setsid).
    :param controllingTerminal: make the terminal on the child's descriptor
        0 its controlling terminal (with newSession).
    :raises ProcessExecError: when the child could not run the program; the
        child has been reaped.
    :raises OSError: when the child could not be made (fork, pipe: EAGAIN,
        EMFILE, ENOMEM).
    """
    envList = childEnvironment(env)
    executables = _executableList(executable, env)
    uidToSet, gidToSet, groups = userSwitch(uid, gid)
    arrange = None
    if fdmap.keys() == _STANDARD:
        # fork_exec wires 0, 1 and 2 itself.
        stdin, stdout, stderr = fdmap[0], fdmap[1], fdmap[2]
        if controllingTerminal:
            arrange = _controllingTerminal
    else:
        stdin = stdout = stderr = -1
        arrange = _arranger(fdmap, controllingTerminal)
    ignored = _ignoredSignals()
    if ignored:
        arrange = _resettingSignals(ignored, arrange)
    # The child's end of the error pipe must survive the arranging: it goes
    # above every number the child is given.
    errorRead, errorWrite = os.pipe()
    floor = max(*fdmap, 2) + 1
    if errorWrite < floor:
        moved = fcntl.fcntl(errorWrite, fcntl.F_DUPFD_CLOEXEC, floor)
        os.close(errorWrite)
        errorWrite = moved
    keep = tuple(sorted({errorWrite, *(fd for fd in fdmap if fd > 2)}))
    try:
        try:
            pid: int = _forkExec(
                list(args) or [executable],
                executables,
                True,  # close_fds: the child gets fdmap's descriptors, no more
                keep,
                path,
                envList,
                stdin,
                -1,
                -1,
                stdout,
                -1,
                stderr,
                errorRead,
                errorWrite,
                True,  # restore_signals: SIGPIPE and friends back to SIG_DFL
                newSession,
                -1,  # process group: unchanged
                gidToSet,
                groups,
                uidToSet,
                -1,  # umask: unchanged
                arrange,
                *_VFORK_ARGUMENT,
            )
        finally:
            os.close(errorWrite)
        report = _readAll(errorRead)
    finally:
        os.close(errorRead)
    if report:
        switching = uidToSet is not None or gidToSet is not None
        raise _execError(report, pid, executable, path, switching)
    return pid


def _readAll(fd: int) -> bytes:
    # The child writes at most a line, then execs or exits: EOF comes at
    # once with vfork, after the exec (or the failure) otherwise.
    data = b""
    while len(data) < 50000:
        chunk = os.read(fd, 50000)
        if not chunk:
            break
        data += chunk
    return data


def _execError(
    report: bytes, pid: int, executable: PathArgument, path: PathArgument | None, switching: bool
) -> ProcessExecError:
    # The child reported a failure and exited: reap it, and say what failed.
    # The report is fork_exec's: b'OSError:<hex errno>:' plus b'noexec' when
    # the failure came before the exec (chdir, the user switch), or
    # b'SubprocessError:0:<message>' when the function run in the child raised.
    try:
        _, status = os.waitpid(pid, 0)
    except ChildProcessError:
        status = None
    kind, _, rest = report.partition(b":")
    number, _, detail = rest.partition(b":")
    if kind == b"OSError":
        code = int(number, 16)
        if detail.startswith(b"noexec"):
            # Before the exec: chdir or the user switch, whichever was asked.
            if path is None:
                step = "user" if switching else "setup"
                return ProcessExecError(code, os.strerror(code), executable, step, status)
            step = "setup" if switching else "chdir"
            return ProcessExecError(code, os.strerror(code), path, step, status)
        return ProcessExecError(code, os.strerror(code), executable, "exec", status)
    message = detail.decode("utf-8", "replace") or "the child failed before exec"
    step = "preexec" if message.startswith("Exception occurred in preexec_fn") else "exec"
    return ProcessExecError(None, message, executable, step, status)
