"""
The master's table of workers under ``loomd --workers``: ``PIDFILE.workers``,
one line per worker, rewritten by the master at each change and printed by
``loomd --status`` under the master's own line.

    worker 1: pid 4103, generation 2, ready, started 2026-12-06 10:06:13

The file is replaced whole (written beside it, then renamed) so that a
reader never sees it half written; once privileges are dropped in a
directory the daemon's user may not write, it is rewritten in place (the
master created it, as root, owned by that user).
"""

import os
import time

from reactor import log

__all__ = ["workersFile", "describeWorker", "writeTable", "removeTable", "readTable"]


def workersFile(pidfile: str) -> str:
    """The path of the workers' table of the daemon whose pidfile is pidfile."""
    return pidfile + ".workers"


def describeWorker(index: int, pid: int, generation: int, state: str, startedAt: float) -> str:
    """One line of the table (startedAt: seconds since the epoch)."""
    started = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(startedAt))
    return "worker %d: pid %d, generation %d, %s, started %s" % (
        index,
        pid,
        generation,
        state,
        started,
    )


def writeTable(pidfile: str, lines: list[str], uid: int | None, gid: int | None) -> None:
    """Write lines as the table of pidfile's daemon, owned by uid/gid; log a failure."""
    target = workersFile(pidfile)
    data = "".join(line + "\n" for line in lines).encode()
    try:
        _writeFile(target + ".new", data, uid, gid)
        os.replace(target + ".new", target)
    except OSError:
        try:
            _writeFile(target, data, uid, gid)
        except OSError as error:
            log.msg("cannot write %s: %s" % (target, error.strerror), isError=True)


def removeTable(pidfile: str) -> None:
    """Remove the table at exit (empty it where it cannot be removed)."""
    path = workersFile(pidfile)
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
    except OSError:
        os.truncate(path, 0)


def readTable(pidfile: str) -> list[str]:
    """The table's lines, or [] when there is none (no --workers, or stopped)."""
    try:
        with open(workersFile(pidfile)) as table:
            return table.read().splitlines()
    except OSError:
        return []


def _writeFile(path: str, data: bytes, uid: int | None, gid: int | None) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o644)
    try:
        if uid is not None or gid is not None:
            try:
                os.fchown(fd, -1 if uid is None else uid, -1 if gid is None else gid)
            except PermissionError:
                pass  # already not root: the file is ours
        os.write(fd, data)
    finally:
        os.close(fd)
