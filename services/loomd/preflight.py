"""
What a start needs of the file system, judged in one place: the launcher
calls ``examine`` before it forks, and ``loomd --check`` calls it too, so
the two agree on what is fatal and what is only a warning, in the same
words (test_checkAndStartAgree).

    the run and chroot directories exist
    -> the pidfile and the log file: their directory exists, the file is
       not refused (a link, not a regular file, a running daemon's
       pidfile), and the user loomd starts as can open it
    -> the user the daemon runs as (after -u/-g) can write their directory

The first three are errors: the start could not succeed, so it is refused
before anything is forked, logged or bound, with one message naming the
file and the reason ("cannot open pidfile /run/app/app.pid: directory
/run/app does not exist"), and no log file is created.  The last is a
warning: both files are opened before privileges are dropped, so the
daemon runs; what later needs the directory fails (rotating and reopening
the log; removing the pidfile at exit, which empties it instead).  That
user's rights are tested in a child process that really becomes that
user, so groups and ACLs count as the kernel counts them.
"""

import grp
import os
import pwd
import stat
from collections.abc import Callable, Iterable
from typing import Any, NoReturn, Protocol

__all__ = ["Findings", "describeUser", "examine", "logPath", "unwritableDirectories"]

_WARNINGS = {
    "pidfile": "pidfile directory %s is not writable by %s: "
    "the pidfile will be emptied at exit, not removed",
    "log file": "log directory %s is not writable by %s: log rotation and reopening will fail",
}


class _Options(Protocol):
    # What is read of the LoomdOptions (services.loomd.runner).
    def __getitem__(self, key: str) -> Any: ...

    def pidfilePath(self) -> str | None: ...


class Findings:
    """
    What ``examine`` found.

    :ivar errors: messages of what would make the start fail (the start
        prints the first, --check all of them).
    :ivar warnings: messages of what works now but fails later.
    """

    def __init__(self) -> None:
        self.errors: list[str] = []
        self.warnings: list[str] = []


def examine(options: _Options, uid: int | None = None, gid: int | None = None) -> Findings:
    """
    Judge the run directory, the chroot, the pidfile and the log file.

    :param options: the LoomdOptions.
    :param uid: the user id the daemon will run as (None: unchanged).
    :param gid: the group id the daemon will run as (None: unchanged).
    """
    findings = Findings()
    for label, directory in (("run", options["rundir"]), ("chroot", options["chroot"])):
        problem = _directoryProblem(directory) if directory else None
        if problem:
            findings.errors.append("%s %s" % (label, problem))
    files = _files(options)
    for kind, path in files:
        error = _fileError(kind, path)
        if error:
            findings.errors.append(error)
    if not findings.errors and files:
        _runningUserWarnings(files, uid, gid, findings, options["euid"])
    return findings


def logPath(options: _Options) -> str | None:
    """The log file the options ask for, or None (syslog, standard output)."""
    path = options["logfile"]
    if options["syslog"] or path == "-" or (path is None and options["nodaemon"]):
        return None
    return str(path) if path is not None else os.path.join(options["rundir"], "loomd.log")


def _files(options: _Options) -> list[tuple[str, str]]:
    found = [("pidfile", options.pidfilePath()), ("log file", logPath(options))]
    return [(kind, path) for kind, path in found if path]


def _directoryProblem(directory: str) -> str | None:
    """Why directory cannot be used as one ("directory X does not exist"), or None."""
    try:
        info = os.stat(directory)
    except FileNotFoundError:
        return "directory %s does not exist" % (directory,)
    except OSError as error:
        return "directory %s: %s" % (directory, (error.strerror or str(error)).lower())
    if not stat.S_ISDIR(info.st_mode):
        return "directory %s is not a directory" % (directory,)
    return None


def _fileError(kind: str, path: str) -> str | None:
    """Why the start could not open the pidfile or log file at path, or None."""
    directory = os.path.dirname(path)
    problem = _directoryProblem(directory)
    if problem:
        return "cannot open %s %s: %s" % (kind, path, problem)
    if kind == "pidfile":
        # Opened for reading and writing; the log for appending.
        return _pidfileRefusal(path) or _openProblem(kind, path, os.R_OK | os.W_OK)
    return _logRefusal(path) or _openProblem(kind, path, os.W_OK)


def _pidfileRefusal(path: str) -> str | None:
    # The launcher's own words for a link, an unreadable file, a running daemon.
    from services.loomd.pidfile import startObstacle

    obstacle: str | None = startObstacle(path)
    if obstacle is None and os.path.lexists(path) and not os.path.isfile(path):
        obstacle = "pidfile %s is not a regular file" % (path,)
    return obstacle


def _logRefusal(path: str) -> str | None:
    # What the start refuses to open as root (reactor._safeopen).
    from reactor._safeopen import checkPath

    refusal: str | None = checkPath(path, "log file")
    return refusal


def _openProblem(kind: str, path: str, mode: int) -> str | None:
    """Why the user loomd starts as (who opens both files) cannot open path, or None."""
    directory = os.path.dirname(path)
    exists = os.path.lexists(path)
    if exists and os.access(path, mode):
        return None
    if not exists and os.access(directory, os.W_OK | os.X_OK):
        return None
    if os.statvfs(directory).f_flag & os.ST_RDONLY:
        return "cannot open %s %s: read-only file system" % (kind, path)
    where = path if exists else "directory %s" % (directory,)
    return "cannot open %s %s: %s is not writable by %s" % (kind, path, where, _currentUser())


def _runningUserWarnings(
    files: list[tuple[str, str]],
    uid: int | None,
    gid: int | None,
    findings: Findings,
    euid: bool,
) -> None:
    directories = sorted({os.path.dirname(path) for _, path in files})
    try:
        unwritable = unwritableDirectories(directories, uid, gid, euid=euid)
    except OSError as error:
        findings.errors.append(str(error))
        return
    user = describeUser(uid, gid) if uid is not None or gid is not None else _currentUser()
    for kind, path in files:
        directory = os.path.dirname(path)
        if directory in unwritable:
            findings.warnings.append(_WARNINGS[kind] % (directory, user))


def unwritableDirectories(
    directories: Iterable[str],
    uid: int | None = None,
    gid: int | None = None,
    *,
    euid: bool = False,
) -> list[str]:
    """
    Return those of directories in which uid/gid could not create and
    remove files: tested in a child process that has switched to them
    (services.loomd.privileges), or in this one when both are None.

    :raises OSError: the switch itself failed (its message says why).
    """
    if uid is None and gid is None:
        return [d for d in directories if not os.access(d, os.W_OK | os.X_OK)]
    readEnd, writeEnd = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(readEnd)
        _probeAsUser(writeEnd, directories, uid, gid, euid)
    os.close(writeEnd)
    with os.fdopen(readEnd, "rb") as pipe:
        answer = pipe.read().decode("utf-8", "surrogateescape")
    os.waitpid(child, 0)
    if not answer.startswith("ok\0"):
        raise OSError(answer or "the check as the target user failed")
    return [d for d in answer[3:].split("\0") if d]


def _probeAsUser(
    writeEnd: int, directories: Iterable[str], uid: int | None, gid: int | None, euid: bool
) -> NoReturn:
    # In the child: switch, test, answer "ok\0dir\0dir..." or the error; never return.
    from services.loomd.privileges import shedPrivileges

    try:
        shedPrivileges(uid, gid, euid=euid)
        flags = os.W_OK | os.X_OK
        found = [d for d in directories if not os.access(d, flags, effective_ids=True)]
        answer = "ok\0" + "\0".join(found)
    except Exception as error:
        answer = str(error)
    try:
        os.write(writeEnd, answer.encode("utf-8", "surrogateescape"))
    finally:
        os._exit(0)


def _currentUser() -> str:
    return describeUser(os.geteuid(), os.getegid())


def describeUser(uid: int | None, gid: int | None) -> str:
    """ "user:group" the daemon runs as: None keeps ours, a user's group is its primary one."""
    if uid is None:
        uid = os.geteuid()
    elif gid is None:
        gid = _primaryGroup(uid)
    if gid is None:
        gid = os.getegid()
    return "%s:%s" % (_name(pwd.getpwuid, uid, "pw_name"), _name(grp.getgrgid, gid, "gr_name"))


def _primaryGroup(uid: int) -> int | None:
    try:
        return pwd.getpwuid(uid).pw_gid
    except KeyError:
        return None


def _name(lookup: Callable[[int], Any], number: int, field: str) -> str:
    try:
        return str(getattr(lookup(number), field))
    except KeyError:
        return str(number)
