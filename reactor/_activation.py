"""
Socket activation: the listening sockets systemd passed to this process, and
the ``systemd:`` server endpoint that serves them.

    systemd:domain=INET:index=0        the first passed descriptor, IPv4
    systemd:domain=INET6:name=web      the descriptor named "web" (LISTEN_FDNAMES)
    systemd:domain=UNIX:index=1        a UNIX stream socket

systemd (or anything speaking its sd_listen_fds protocol) passes listening
sockets as descriptors 3, 4, ... and says so with ``LISTEN_FDS`` (how many),
``LISTEN_PID`` (for which process: the variables are inherited by children
that must *not* adopt the descriptors) and ``LISTEN_FDNAMES``
(colon-separated names, from FileDescriptorName=).

The one idea: the passed descriptors are read once, on first use, and
cached (``passedDescriptors``); reading them unsets the variables so that
children never see them.  reactor.endpoints registers the parser itself, as
Twisted's endpoints module does, so ``serverFromString(reactor,
"systemd:...")`` works in any program, with or without ``services``.
"""

import collections
import fcntl
import os
import socket

from zope.interface import implementer

from reactor.defer import execute
from reactor.interfaces import IStreamServerEndpoint

__all__ = [
    "LISTEN_FDS_START",
    "ListenFd",
    "listenFds",
    "passedDescriptors",
    "passedDescriptor",
    "SystemdEndpoint",
    "DOMAINS",
    "parseServer",
]

LISTEN_FDS_START = 3

DOMAINS = {"INET": socket.AF_INET, "INET6": socket.AF_INET6, "UNIX": socket.AF_UNIX}
"""The domain= of a systemd: description, and the address family it names."""

ListenFd = collections.namedtuple("ListenFd", "fd name")
ListenFd.__doc__ = "A descriptor passed by systemd: its number and its name ('unknown' if unnamed)."

_passed = None


def listenFds(environ=None, unsetEnvironment=True):
    """
    Return the descriptors systemd passed to this process, as ListenFd(fd, name).

    Only when LISTEN_PID names this process; otherwise (or when the variables
    are missing or malformed) returns []. The descriptors are marked
    close-on-exec, so they do not leak into programs the process starts.

    :param environ: the environment to read (default os.environ).
    :param unsetEnvironment: remove LISTEN_PID, LISTEN_FDS and
        LISTEN_FDNAMES, so that children do not see them (they would not
        adopt them, LISTEN_PID being ours, but a grandchild reusing our pid
        number would).
    """
    environ = os.environ if environ is None else environ
    try:
        forUs = int(environ.get("LISTEN_PID", "")) == os.getpid()
        count = int(environ.get("LISTEN_FDS", ""))
    except ValueError:
        forUs, count = False, 0
    names = environ.get("LISTEN_FDNAMES", "")
    if unsetEnvironment:
        for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
            environ.pop(name, None)
    if not forUs or count <= 0:
        return []
    names = names.split(":") if names else []
    passed = []
    for index in range(count):
        fd = LISTEN_FDS_START + index
        flags = fcntl.fcntl(fd, fcntl.F_GETFD)
        fcntl.fcntl(fd, fcntl.F_SETFD, flags | fcntl.FD_CLOEXEC)
        name = names[index] if index < len(names) and names[index] else "unknown"
        passed.append(ListenFd(fd, name))
    return passed


def passedDescriptors():
    """Return the ListenFd(fd, name) list passed to this process (read once, cached)."""
    global _passed
    if _passed is None:
        _passed = listenFds()
    return _passed


def passedDescriptor(index=None, name=None):
    """
    Return the passed descriptor at index, or the one named name.

    :raises ValueError: no such descriptor was passed (the message says how
        many were, or which name is missing).
    """
    passed = passedDescriptors()
    if name is not None:
        for listenFd in passed:
            if listenFd.name == name:
                return listenFd.fd
        raise ValueError("systemd passed no socket named %r" % (name,))
    if not 0 <= index < len(passed):
        raise ValueError("systemd passed %d socket(s); there is no index %d" % (len(passed), index))
    return passed[index].fd


@implementer(IStreamServerEndpoint)
class SystemdEndpoint:
    """
    Listen on a socket passed by systemd, chosen by index or by name.

    :ivar domain: ``INET``, ``INET6`` or ``UNIX``.
    :ivar index: the socket's position among the passed ones, or None.
    :ivar name: its FileDescriptorName=, or None (one of index and name is set).
    """

    def __init__(self, reactor, domain, index=None, name=None):
        self._reactor = reactor
        self.domain = domain
        self.index = index
        self.name = name

    def listen(self, protocolFactory):
        """Return a Deferred firing with the port serving the passed socket."""
        return execute(
            lambda: self._reactor.adoptStreamPort(
                passedDescriptor(self.index, self.name), DOMAINS[self.domain], protocolFactory
            )
        )

    def __repr__(self):
        which = "name=%s" % (self.name,) if self.name is not None else "index=%s" % (self.index,)
        return "<SystemdEndpoint %s>" % (which,)


def parseServer(reactor, description, args, kwargs):
    """The ``systemd:`` parser of reactor.endpoints: a SystemdEndpoint."""
    domain = kwargs.pop("domain", None)
    if domain not in DOMAINS:
        raise ValueError("systemd endpoints need domain=INET, INET6 or UNIX: %r" % (description,))
    index, name = kwargs.pop("index", None), kwargs.pop("name", None)
    if (index is None) == (name is None):
        raise ValueError(
            "systemd endpoints need exactly one of index= or name=: %r" % (description,)
        )
    if index is not None:
        try:
            index = int(index)
        except ValueError:
            raise ValueError("index must be an integer in %r" % (description,)) from None
    return SystemdEndpoint(reactor, domain, index=index, name=name)
