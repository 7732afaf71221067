"""
Socket activation for applications: the ``systemd:`` endpoint for stream
sockets and ``listenPassedDatagram`` for datagram sockets that systemd (or
anything speaking its LISTEN_FDS protocol) bound and passed to us.

    service("systemd:domain=INET:index=0", factory)    # a stream socket
    listenPassedDatagram(DNSProtocol(), index=1)        # a datagram socket

The endpoint and the passed descriptors live in the reactor
(reactor._activation, registered by reactor.endpoints, so ``systemd:``
descriptions work without this module); this module re-exports them for
``.tac`` files and adds the datagram call, which endpoints cannot express.
"""

from reactor import getReactor
from reactor._activation import DOMAINS, SystemdEndpoint, passedDescriptor, passedDescriptors

__all__ = ["SystemdEndpoint", "passedDescriptors", "listenPassedDatagram"]


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
    if domain not in DOMAINS:
        raise ValueError("domain must be INET, INET6 or UNIX, not %r" % (domain,))
    if (index is None) == (name is None):
        raise ValueError("give exactly one of index= and name=")
    reactor = getReactor(reactor)
    fd = passedDescriptor(index, name)
    return reactor.adoptDatagramPort(fd, DOMAINS[domain], protocol, maxPacketSize)
