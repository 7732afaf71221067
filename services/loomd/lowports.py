"""
Ports below 1024: who may bind them, and the one sentence loomd says when
it may not.

``loomd --check`` asks ``lowPortProblem`` before anything is bound; the
real start, whose bind failed with EACCES, asks ``listenFailure`` for the
message: both say "cannot listen on 127.0.0.1:80: binding a port below
1024 needs root", where the kernel's own word would be "permission denied"
(test_lowPortWithoutRootSaysItNeedsRoot).

The limit is the kernel's (``net.ipv4.ip_unprivileged_port_start``, 1024
unless changed), and root is any process with CAP_NET_BIND_SERVICE, which
is how systemd's ``AmbientCapabilities=`` lets a plain user bind port 80.
"""

import errno
import os

from reactor.error import CannotListenError

__all__ = ["privilegedPortLimit", "mayBindPrivilegedPorts", "lowPortProblem", "listenFailure"]

_CAP_NET_BIND_SERVICE = 10


def privilegedPortLimit() -> int:
    """The lowest port any user may bind (1024 where the kernel does not say)."""
    try:
        with open("/proc/sys/net/ipv4/ip_unprivileged_port_start") as limit:
            return int(limit.read())
    except (OSError, ValueError):
        return 1024


def mayBindPrivilegedPorts() -> bool:
    """Whether this process may bind ports below the limit: root, or CAP_NET_BIND_SERVICE."""
    if os.geteuid() == 0:
        return True
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("CapEff:"):
                    return bool(int(line.split()[1], 16) >> _CAP_NET_BIND_SERVICE & 1)
    except (OSError, ValueError, IndexError):
        pass
    return False


def _needsRoot(port: object) -> str | None:
    # The reason, if port is below the limit; None otherwise.
    limit = privilegedPortLimit()
    if isinstance(port, int) and 0 < port < limit:
        return "binding a port below %d needs root" % (limit,)
    return None


def lowPortProblem(interface: str, port: int) -> str | None:
    """
    What binding interface:port would fail with in this process, for a
    port below the limit and a process that may not bind one; else None.
    """
    reason = _needsRoot(port)
    if reason is None or mayBindPrivilegedPorts():
        return None
    return str(CannotListenError(interface, port, reason))


def listenFailure(error: CannotListenError) -> str:
    """
    The message for a failed listen: str(error), except that EACCES on a
    port below the limit says that binding it needs root.
    """
    reason = _needsRoot(error.port)
    if reason is None or getattr(error.socketError, "errno", None) != errno.EACCES:
        return str(error)
    return str(CannotListenError(error.interface, error.port, reason))
