"""
``loomd --shell unix:PATH``: a Python console (protocols.manhole) into the
running daemon, on a UNIX socket only its user and root may use.

Two locks, both the kernel's:

- the socket file is created mode 0600 (from the first instant: bound under
  a umask, reactor._socketfile) and belongs to the user the daemon runs as,
  so connect(), which needs write permission on it, is refused to anyone
  else but root;
- each connection's SO_PEERCRED uid, which the peer cannot forge, must be
  the daemon's effective uid or root (protocols.manhole.sameUserOrRoot);
  anyone else reads the refusal, is disconnected, and the log says so.

The daemon opens it with its other ports, as root (so ``/run`` will do),
before privileges are shed, then gives the file to the user it is about to
become (``-u``/``-g``).  That hand-over is by name, so the directory must
not let others swap the name meanwhile: one writable by group or others
(and not sticky), or owned by anyone but root, the daemon's user or the
user it becomes, is refused.  ``openShell`` is the one entry point: any
process can open a shell on its own reactor (a worker of ``--workers``
would call it with ``PATH.N`` after its own privileges are shed).
"""

from __future__ import annotations

import os
import stat
from typing import Any

from protocols.manhole import ManholeFactory
from reactor.error import CannotListenError
from services.loomd.startup import StartupError
from services.service import IServiceCollection

__all__ = ["openShell", "openFromOptions", "shellNamespace", "directoryProblem", "ServiceTree"]

SHELL_MODE = 0o600


def openShell(
    path: str,
    namespace: dict[str, Any],
    reactor: Any,
    *,
    blockingLimit: float | None = 5.0,
    uid: int | None = None,
    gid: int | None = None,
) -> Any:
    """
    Listen on the UNIX socket path (mode 0600) for console connections
    evaluating in namespace, in reactor's thread.

    :param uid: the user to give the socket file to (the daemon's, about
        to be taken); None keeps this process's.
    :param gid: likewise its group.
    :param blockingLimit: seconds a line may hold the reactor before it is
        reported; None for no watchdog.
    :return: the listening port (stopListening closes the shell).
    :raises CannotListenError: if the path is in use, refused (see
        reactor._socketfile), or its directory is writable by others.
    """
    _checkDirectory(path, uid)
    factory = ManholeFactory(namespace, blockingLimit=blockingLimit, reactor=reactor)
    port = reactor.listenUNIX(path, factory, mode=SHELL_MODE)
    if (uid is not None or gid is not None) and os.geteuid() == 0:
        try:
            _handOver(path, uid, gid)
        except OSError as error:
            port.stopListening()
            raise CannotListenError(None, path, error) from None
    return port


def _checkDirectory(path: str, uid: int | None) -> None:
    problem = directoryProblem(path, uid)
    if problem is not None:
        raise CannotListenError(None, path, OSError(problem))


def directoryProblem(path: str, uid: int | None = None) -> str | None:
    """
    Why the shell's socket may not live where path says (its directory is
    missing, others may write to it, or it belongs to someone other than
    root, this process's user or uid, the user the daemon becomes), or
    None; ``--check`` says the same.
    """
    directory = os.path.dirname(os.path.abspath(path))
    try:
        info = os.stat(directory)
    except OSError as error:
        return "directory %s: %s" % (directory, (error.strerror or str(error)).lower())
    if info.st_mode & 0o022 and not info.st_mode & stat.S_ISVTX:
        return (
            "its directory %s is writable by group or others: the socket could be "
            "swapped for another file; use a directory only root and the daemon's "
            "user may write" % (directory,)
        )
    if info.st_uid not in (0, os.geteuid(), uid):
        return (
            "its directory %s belongs to uid %d, who could swap the socket for another "
            "file; use a directory of root's or the daemon's user" % (directory, info.st_uid)
        )
    return None


def _handOver(path: str, uid: int | None, gid: int | None) -> None:
    # By name, without following a link, and only the socket we just bound
    # (a socket of ours: nobody else may write the directory, checked above).
    info = os.lstat(path)
    if not stat.S_ISSOCK(info.st_mode) or info.st_uid != os.geteuid():
        raise OSError("the socket file was replaced before it could be handed over")
    os.chown(path, -1 if uid is None else uid, -1 if gid is None else gid, follow_symlinks=False)


def shellNamespace(application: Any, reactor: Any) -> dict[str, Any]:
    """The names a console starts with: ``application``, ``reactor``, ``services``."""
    return {
        "__name__": "__console__",
        "__doc__": None,
        "application": application,
        "reactor": reactor,
        "services": ServiceTree(application),
    }


def openFromOptions(options: Any, reactor: Any, application: Any, uid: Any, gid: Any) -> Any:
    """
    Open ``--shell`` for the daemon, if asked (as root, before privileges
    are shed to uid/gid); return the port or None.

    :raises StartupError: when the socket cannot be opened, saying why.
    """
    description = options["shell"]
    if not description:
        return None
    path = description.partition(":")[2]  # unix:PATH, checked by the options
    try:
        port = openShell(
            path,
            shellNamespace(application, reactor),
            reactor,
            blockingLimit=options["shell_blocking_limit"] or None,
            uid=uid,
            gid=gid,
        )
    except CannotListenError as error:
        raise StartupError("cannot open the shell: %s" % (error,)) from None
    return port


class ServiceTree:
    """
    The service tree, live, by path: ``services["web"]``,
    ``services["group/worker"]``, or a name unique in the tree; ``list()``
    gives every path, and the repr shows the tree.
    """

    def __init__(self, root: Any) -> None:
        self.root = root

    def _paths(self) -> list[tuple[str, Any]]:
        found: list[tuple[str, Any]] = []

        def visit(service: Any, prefix: str) -> None:
            if not IServiceCollection.providedBy(service):
                return
            for index, child in enumerate(service):
                name = child.name if child.name is not None else "#%d" % (index,)
                path = prefix + name
                found.append((path, child))
                visit(child, path + "/")

        visit(self.root, "")
        return found

    def __iter__(self) -> Any:
        return iter([path for path, _ in self._paths()])

    def __len__(self) -> int:
        return len(self._paths())

    def __getitem__(self, name: str) -> Any:
        paths = self._paths()
        for path, service in paths:
            if path == name:
                return service
        matches = [service for path, service in paths if path.rsplit("/", 1)[-1] == name]
        if len(matches) == 1:
            return matches[0]
        if matches:
            raise KeyError("%r names %d services: give its path" % (name, len(matches)))
        raise KeyError(name)

    def __repr__(self) -> str:
        lines = ["<services of %r>" % (getattr(self.root, "name", self.root),)]
        for path, service in self._paths():
            running = "running" if getattr(service, "running", False) else "stopped"
            lines.append("  %s: %s (%s)" % (path, type(service).__name__, running))
        return "\n".join(lines)
