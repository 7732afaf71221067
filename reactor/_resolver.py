"""
GAIResolver: the default IHostnameResolver, getaddrinfo in the thread pool.

getaddrinfo blocks for as long as DNS takes (seconds, when a server does not
answer), so it runs in the reactor's thread pool and its answer comes back
through callFromThread: the loop never waits for a name.  A lookup that finds
nothing (gaierror, an OSError) completes with no addresses, as Twisted's
does; the caller decides what an empty answer means.  Unlike Twisted's, a
resolution can be cancelled: the lookup still runs to its end in its thread,
but its answer is dropped.

getHostByName is reactor.resolve()'s lookup: gethostbyname, failing with
DNSLookupError as Twisted's resolve() does.
"""

import socket

from zope.interface import implementer

from reactor import log
from reactor.address import IPv4Address, IPv6Address
from reactor.error import DNSLookupError
from reactor.interfaces import IHostnameResolver, IHostResolution
from reactor.threads import deferToThreadPool

__all__ = ["GAIResolver", "HostResolution", "getHostByName"]

_FAMILIES = {
    frozenset([IPv4Address]): socket.AF_INET,
    frozenset([IPv6Address]): socket.AF_INET6,
}
_SOCKET_TYPES = {"TCP": socket.SOCK_STREAM, "UDP": socket.SOCK_DGRAM}


@implementer(IHostResolution)
class HostResolution:
    """
    One resolution under way.

    :ivar name: the name being resolved.
    :ivar cancelled: True once cancel() was called.
    """

    def __init__(self, name):
        self.name = name
        self.cancelled = False

    def cancel(self):
        """Drop the answer when it comes: the receiver hears nothing more."""
        self.cancelled = True

    def __repr__(self):
        return "<HostResolution %r%s>" % (self.name, " cancelled" if self.cancelled else "")


@implementer(IHostnameResolver)
class GAIResolver:
    """
    Resolve names with socket.getaddrinfo in a thread pool.

    :param reactor: the reactor whose thread answers the receiver.
    :param getThreadPool: returns the ThreadPool to run getaddrinfo in;
        the reactor's getThreadPool by default.
    :param getaddrinfo: the lookup function (a test may give its own).
    """

    def __init__(self, reactor, getThreadPool=None, getaddrinfo=None):
        self._reactor = reactor
        self._getThreadPool = getThreadPool
        self._getaddrinfo = getaddrinfo or socket.getaddrinfo

    def resolveHostName(
        self,
        resolutionReceiver,
        hostName,
        portNumber=0,
        addressTypes=None,
        transportSemantics="TCP",
    ):
        """
        Look hostName up in a worker thread; see IHostnameResolver.

        :return: the HostResolution, already given to resolutionBegan.
        """
        family = _FAMILIES.get(frozenset(addressTypes or ()), socket.AF_UNSPEC)
        socketType = _SOCKET_TYPES[transportSemantics]
        # Looked up here, not in __init__: a reactor without a thread pool
        # (a MemoryReactor) fails the resolution, not the endpoint's creation.
        pool = (self._getThreadPool or self._reactor.getThreadPool)()
        resolution = HostResolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)
        d = deferToThreadPool(
            self._reactor,
            pool,
            self._lookUp,
            hostName,
            portNumber,
            family,
            socketType,
        )
        d.addCallback(self._deliver, resolution, resolutionReceiver, transportSemantics)
        d.addErrback(log.err, "Unhandled error resolving %r" % (hostName,))
        return resolution

    def _lookUp(self, hostName, portNumber, family, socketType):
        # In a worker thread.
        try:
            return self._getaddrinfo(hostName, portNumber, family, socketType)
        except OSError:  # gaierror: no such name, no answer, ...
            return []

    def _deliver(self, infos, resolution, receiver, transportSemantics):
        # In the reactor thread.
        if resolution.cancelled:
            return
        for family, _, _, _, sockaddr in infos:
            if family == socket.AF_INET6:
                receiver.addressResolved(IPv6Address(transportSemantics, *sockaddr))
            elif family == socket.AF_INET:
                receiver.addressResolved(IPv4Address(transportSemantics, *sockaddr))
        receiver.resolutionComplete()


def getHostByName(name):
    """
    Return name's IPv4 address (socket.gethostbyname): reactor.resolve()'s
    lookup, run in a worker thread.

    :raises DNSLookupError: when the name does not resolve, as Twisted's
        resolve() fails; the message keeps the resolver's reason ("Name or
        service not known", "Temporary failure in name resolution", ...).
    """
    try:
        return socket.gethostbyname(name)
    except OSError as error:  # gaierror: no such name, no answer from the server, ...
        raise DNSLookupError("%s: %s" % (name, error)) from error
