"""
UDP: a datagram port is both the descriptor the reactor reads and the
transport its DatagramProtocol writes to.

Datagrams are lossy by nature, so a send the kernel refuses for lack of
buffer space (EAGAIN) is dropped rather than queued; everything else that
goes wrong on send raises to the caller.  A connected port (``connect()``)
hears only from its peer, and an ICMP port-unreachable from that peer comes
back as ``protocol.connectionRefused()``.  Destinations must be literal IP
addresses of the port's family (InvalidAddressError otherwise, as in
Twisted): sendto() would resolve a host name inside the loop, blocking it.  An exception in
``datagramReceived`` is logged and the port keeps serving the next datagram.
"""

import errno
import socket
import struct

from zope.interface import implementer

from reactor import _logcontext, log
from reactor.address import IPv4Address, IPv6Address, addressFamily
from reactor.defer import Deferred, succeed
from reactor.error import CannotListenError, InvalidAddressError, MessageLengthError
from reactor.interfaces import IListeningPort, IUDPTransport


def _address(sockaddr):
    if len(sockaddr) == 4:
        return IPv6Address("UDP", sockaddr[0], sockaddr[1], sockaddr[2], sockaddr[3])
    return IPv4Address("UDP", sockaddr[0], sockaddr[1])


@implementer(IListeningPort, IUDPTransport)
class Port:
    """
    A UDP port.

    :ivar maxPacketSize: the largest datagram read.
    :ivar maxReads: the most datagrams read per wakeup.
    """

    maxReads = 256

    def __init__(self, port, protocol, interface="", maxPacketSize=8192, reactor=None):
        self.port = port
        self.protocol = protocol
        self.interface = interface
        self.maxPacketSize = maxPacketSize
        self.reactor = reactor
        self.socket = None
        self.fd = -1
        self.connected = False
        self._connectedAddress = None
        self._stopped = None
        self._listenMultiple = False
        self._checkedHost = None  # the last destination host found literal
        self._portNumber = None  # the port bound, for the log line at close

    def _bindSocket(self):
        family = addressFamily(self.interface)
        if family is None:
            raise CannotListenError(self.interface, self.port, OSError("not a literal IP address"))
        sock = socket.socket(family, socket.SOCK_DGRAM)
        if self._listenMultiple:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            if hasattr(socket, "SO_REUSEPORT"):
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        try:
            sock.bind((self.interface, self.port))
        except OSError as error:
            sock.close()
            raise CannotListenError(self.interface, self.port, error) from None
        sock.setblocking(False)
        return sock

    def adoptSocket(self, sock):
        """Serve sock, an already bound datagram socket (socket activation)."""
        sock.setblocking(False)
        self._start(sock)

    def startListening(self):
        """Bind and start delivering datagrams; :raises CannotListenError:."""
        self._start(self._bindSocket())

    def _start(self, sock):
        self.socket = sock
        self.fd = self.socket.fileno()
        self.connected = True
        self.reactor.openDescriptors.add(self)
        # Twisted's wording, as for TCP ports.
        self._portNumber = sock.getsockname()[1]
        prefix = _logcontext.prefixOf(self.protocol)
        log.msg("%s starting on %s" % (prefix, self._portNumber))
        self.protocol.makeConnection(self)
        self.reactor.addReader(self)

    def fileno(self):
        """Return the socket's descriptor, or -1 once closed."""
        return self.fd

    def doRead(self):
        """Read and deliver the datagrams waiting, up to maxReads."""
        recvfrom = self.socket.recvfrom
        size = self.maxPacketSize
        protocol = self.protocol
        # IPv6 addresses come with flow and scope ids: protocols get (host,
        # port) for both families, as in Twisted, so replies and comparisons
        # work the same.
        ipv6 = self.socket.family == socket.AF_INET6
        for _ in range(self.maxReads):
            try:
                data, sockaddr = recvfrom(size)
            except BlockingIOError:
                return None
            except ConnectionRefusedError:
                if self._connectedAddress is not None:
                    _contained(protocol.connectionRefused)
                continue
            except OSError as error:
                if error.errno in (errno.EINTR, errno.ECONNRESET):
                    continue
                raise
            if ipv6:
                sockaddr = sockaddr[:2]
            try:
                protocol.datagramReceived(data, sockaddr)
            except Exception:
                log.err(None, "Unhandled error in %s.datagramReceived" % (type(protocol).__name__,))
        return None

    def write(self, datagram, addr=None):
        """
        Send one datagram to addr, or to the connected address.

        :raises MessageLengthError: if the datagram is too long.
        :raises InvalidAddressError: for a host name (sendto would resolve it,
            blocking the loop) or an address of the other IP family.
        :raises ValueError: for an address on a connected port, or none on an
            unconnected one.
        """
        try:
            if self._connectedAddress is not None:
                if addr not in (None, self._connectedAddress):
                    raise ValueError(
                        "a connected port writes only to %r" % (self._connectedAddress,)
                    )
                return self.socket.send(datagram)
            if addr is None:
                raise ValueError("write() needs an address on an unconnected UDP port")
            if addr[0] != self._checkedHost:
                self._checkDestination(addr[0])
            return self.socket.sendto(datagram, addr)
        except BlockingIOError:
            return None  # kernel buffer full: the datagram is dropped
        except ConnectionRefusedError:
            if self._connectedAddress is not None:
                self.protocol.connectionRefused()
            return None
        except OSError as error:
            if error.errno == errno.EMSGSIZE:
                raise MessageLengthError("message too long: %d bytes" % (len(datagram),)) from None
            raise

    def _checkDestination(self, host):
        # One host remembered: a port usually answers the peer it last heard.
        family = addressFamily(host)
        ownFamily = self.socket.family
        if family is None and not (host == "<broadcast>" and ownFamily == socket.AF_INET):
            raise InvalidAddressError(host, "write() only accepts IP addresses, not host names")
        if family is not None and family != ownFamily:
            version = "IPv6" if ownFamily == socket.AF_INET6 else "IPv4"
            raise InvalidAddressError(host, "not an address of this %s port" % (version,))
        self._checkedHost = host

    def writeSequence(self, seq, addr=None):
        """Send the concatenation of seq as one datagram."""
        return self.write(b"".join(seq), addr)

    def connect(self, host, port):
        """
        Talk only to (host, port): writes need no address, and only its
        datagrams are received.

        :raises InvalidAddressError: unless host is a literal IP address.
        """
        if addressFamily(host) is None:
            raise InvalidAddressError(host, "not an IPv4 or IPv6 address")
        if self._connectedAddress is not None:
            raise RuntimeError("already connected, reconnecting is not currently supported")
        self.socket.connect((host, port))
        self._connectedAddress = (host, port)

    def getHost(self):
        """Return the local IPv4Address/IPv6Address."""
        return _address(self.socket.getsockname())

    def setBroadcastAllowed(self, enabled):
        """Allow (True) or forbid sending to broadcast addresses."""
        self.socket.setsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST, int(enabled))

    def getBroadcastAllowed(self):
        """Return whether sending to broadcast addresses is allowed."""
        return bool(self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_BROADCAST))

    def stopListening(self):
        """Stop reading and close the socket; return a Deferred fired once closed."""
        if not self.connected:
            return self._stopped if self._stopped is not None else succeed(None)
        self.connected = False
        self.reactor.removeReader(self)
        self._stopped = Deferred()
        self.reactor.callLater(0, self.connectionLost, None)
        return self._stopped

    loseConnection = stopListening

    def connectionLost(self, reason=None):
        """Close the socket and stop the protocol."""
        self.connected = False
        if self.socket is None:
            return
        self.reactor.removeReader(self)
        sock, self.socket = self.socket, None
        self.fd = -1
        sock.close()
        self.reactor.openDescriptors.discard(self)
        log.msg("(UDP Port %s Closed)" % (self._portNumber,))
        stopped, self._stopped = self._stopped, None
        try:
            self.protocol.doStop()
        finally:
            if stopped is not None:
                stopped.callback(None)
            self._stopped = succeed(None)

    def logPrefix(self):
        """Return the protocol's class name, for log lines."""
        return "%s (UDP)" % (type(self.protocol).__name__,)

    def __repr__(self):
        if self.socket is None:
            return "<UDP port of %s (not listening)>" % (type(self.protocol).__name__,)
        host = self.getHost()
        return "<UDP port of %s on %s:%s>" % (type(self.protocol).__name__, host.host, host.port)


class MulticastPort(Port):
    """A UDP port that can join multicast groups."""

    def __init__(
        self, port, protocol, interface="", maxPacketSize=8192, reactor=None, listenMultiple=False
    ):
        Port.__init__(self, port, protocol, interface, maxPacketSize, reactor)
        self._listenMultiple = listenMultiple

    def _isIPv6(self):
        return self.socket.family == socket.AF_INET6

    def joinGroup(self, addr, interface=""):
        """Join the multicast group addr; return a Deferred (fired at once)."""
        return self._membership(addr, interface, True)

    def leaveGroup(self, addr, interface=""):
        """Leave the multicast group addr; return a Deferred (fired at once)."""
        return self._membership(addr, interface, False)

    def _membership(self, addr, interface, join):
        d = Deferred()
        try:
            if self._isIPv6():
                option = socket.IPV6_JOIN_GROUP if join else socket.IPV6_LEAVE_GROUP
                index = socket.if_nametoindex(interface) if interface else 0
                request = socket.inet_pton(socket.AF_INET6, addr) + struct.pack("@I", index)
                self.socket.setsockopt(socket.IPPROTO_IPV6, option, request)
            else:
                option = socket.IP_ADD_MEMBERSHIP if join else socket.IP_DROP_MEMBERSHIP
                request = socket.inet_aton(addr) + socket.inet_aton(interface or "0.0.0.0")
                self.socket.setsockopt(socket.IPPROTO_IP, option, request)
        except OSError:
            d.errback()
        else:
            d.callback(None)
        return d

    def setLoopbackMode(self, mode):
        """Receive (True) or not our own multicast datagrams."""
        if self._isIPv6():
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP, int(mode))
        else:
            self.socket.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP, int(mode))

    def getLoopbackMode(self):
        """Return whether our own multicast datagrams are received."""
        if self._isIPv6():
            return bool(self.socket.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_LOOP))
        return bool(self.socket.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_LOOP))

    def setTTL(self, ttl):
        """Set the time-to-live (hop limit) of multicast datagrams."""
        if self._isIPv6():
            self.socket.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS, ttl)
        else:
            self.socket.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL, ttl)

    def getTTL(self):
        """Return the time-to-live of multicast datagrams."""
        if self._isIPv6():
            return self.socket.getsockopt(socket.IPPROTO_IPV6, socket.IPV6_MULTICAST_HOPS)
        return self.socket.getsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_TTL)

    def setOutgoingInterface(self, addr):
        """Send multicast datagrams through the interface with IPv4 address addr."""
        self.socket.setsockopt(socket.IPPROTO_IP, socket.IP_MULTICAST_IF, socket.inet_aton(addr))
        return succeed(True)


def _contained(function, *args):
    try:
        function(*args)
    except Exception:
        log.err(None, "Unhandled error in %s" % (getattr(function, "__qualname__", function),))
