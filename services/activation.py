"""
Socket activation: the ``systemd:`` endpoint, serving sockets that systemd
(or anything speaking its LISTEN_FDS protocol) bound and passed to us.

    systemd:domain=INET:index=0        the first passed descriptor, IPv4
    systemd:domain=INET6:name=web      the descriptor named "web" (LISTEN_FDNAMES)
    systemd:domain=UNIX:index=1        a UNIX stream socket

The passed descriptors are read once, on first use, and cached: reading them
unsets LISTEN_PID/LISTEN_FDS so that children never see them.  Importing the
``services`` package registers the parser with reactor.endpoints.
"""

import socket

from zope.interface import implementer

from reactor import getReactor
from reactor.defer import execute
from reactor.endpoints import registerServerParser
from reactor.interfaces import IStreamServerEndpoint

__all__ = ["SystemdEndpoint", "passedDescriptors", "listenPassedDatagram"]

_DOMAINS = {"INET": socket.AF_INET, "INET6": socket.AF_INET6, "UNIX": socket.AF_UNIX}
_passed = None


def passedDescriptors():
    """Return the ListenFd(fd, name) list passed to this process (cached)."""
    global _passed
    if _passed is None:
        from services.systemd import listenFds

        _passed = listenFds()
    return _passed


@implementer(IStreamServerEndpoint)
class SystemdEndpoint:
    """Listen on a socket passed by systemd, chosen by index or by name."""

    def __init__(self, reactor, domain, index=None, name=None):
        self._reactor = reactor
        self._family = _DOMAINS[domain]
        self._index = index
        self._name = name

    def _descriptor(self):
        passed = passedDescriptors()
        if self._name is not None:
            for listenFd in passed:
                if listenFd.name == self._name:
                    return listenFd.fd
            raise ValueError("systemd passed no socket named %r" % (self._name,))
        if not 0 <= self._index < len(passed):
            raise ValueError(
                "systemd passed %d socket(s); there is no index %d" % (len(passed), self._index)
            )
        return passed[self._index].fd

    def listen(self, protocolFactory):
        """Return a Deferred firing with the port serving the passed socket."""
        return execute(
            lambda: self._reactor.adoptStreamPort(self._descriptor(), self._family, protocolFactory)
        )

    def __repr__(self):
        which = "name=%s" % (self._name,) if self._name is not None else "index=%s" % (self._index,)
        return "<SystemdEndpoint %s>" % (which,)


def _findDescriptor(index, name):
    # The descriptor chosen by index or by name, with the endpoint's errors.
    return SystemdEndpoint(None, "INET", index=index, name=name)._descriptor()


def listenPassedDatagram(
    protocol, domain="INET", index=None, name=None, maxPacketSize=8192, reactor=None
):
    """
    Serve a datagram socket systemd passed (ListenDatagram=) with protocol.

    Stream sockets go through the ``systemd:`` endpoint; endpoints are for
    streams only, so a datagram socket is adopted with this call, typically
    from a service's privilegedStartService or startService.

    :param protocol: a DatagramProtocol.
    :param domain: ``INET``, ``INET6`` or ``UNIX``.
    :param index: the socket's position among the passed ones; or
    :param name: its FileDescriptorName= (exactly one of index and name).
    :param reactor: the reactor (the global one by default).
    :return: the IListeningPort.
    :raises ValueError: no such passed socket, or a bad domain/selector.
    """
    if domain not in _DOMAINS:
        raise ValueError("domain must be INET, INET6 or UNIX, not %r" % (domain,))
    if (index is None) == (name is None):
        raise ValueError("give exactly one of index= and name=")
    reactor = getReactor(reactor)
    fd = _findDescriptor(index, name)
    return reactor.adoptDatagramPort(fd, _DOMAINS[domain], protocol, maxPacketSize)


def _parseSystemd(reactor, description, args, kwargs):
    domain = kwargs.pop("domain", None)
    if domain not in _DOMAINS:
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


registerServerParser("systemd", _parseSystemd)
