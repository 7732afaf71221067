"""
TCP: connections, listening ports and outgoing connectors, IPv4 and IPv6.

A connection is a StreamTransport (reactor.stream) plus addresses and TCP
socket options.  A listening Port accepts up to ``numberAccepts`` connections
per wakeup: on Linux as many as the kernel says wait in its accept queue, so
that no accept() is made only to fail with EAGAIN (see Port.doRead).  When
accept() fails for lack of descriptors or memory (EMFILE,
ENFILE, ENOBUFS, ENOMEM) the port logs it once per burst and stops accepting
for ``acceptPause`` seconds instead of spinning on a readable socket it cannot
serve (see test_emfileDoesNotSpin).

A Connector is the reusable handle of an outgoing connection: each connect()
starts an _Attempt (resolve the name in the thread pool unless it is a
literal address, connect without blocking, wait for writability or the
timeout) that either hands a connected descriptor to a new Connection or
reports the failure to the factory.
"""

import _socket
import errno
import ipaddress
import os
import socket
import struct
import sys

from zope.interface import implementer

from reactor import _logcontext, log
from reactor.address import IPv4Address, IPv6Address, addressFamily
from reactor.defer import Deferred, succeed
from reactor.error import (
    CannotListenError,
    ConnectBindError,
    DNSLookupError,
    NotConnectingError,
    TimeoutError,
    UserError,
    getConnectError,
)
from reactor.failure import Failure
from reactor.interfaces import IConnector, IListeningPort, ITCPTransport, ITLSTransport
from reactor.stream import StreamTransport, startConnection

_ACCEPT_EXHAUSTED = frozenset([errno.EMFILE, errno.ENFILE, errno.ENOBUFS, errno.ENOMEM])
# accept() errors that concern only the one connection being accepted.
_ACCEPT_SKIP = frozenset([errno.ECONNABORTED, errno.EPROTO, errno.EPERM, errno.EINTR])

# For a listening socket, Linux's struct tcp_info has the length of the
# accept queue in tcpi_unacked (tcp_get_info: sk_ack_backlog, the count
# that makes the socket readable), a u32 24 bytes in.
_TCP_INFO = getattr(socket, "TCP_INFO", None) if sys.platform.startswith("linux") else None
_QUEUE_LENGTH = struct.Struct("=I").unpack_from
_QUEUE_OFFSET = 24
_QUEUE_INFO_SIZE = _QUEUE_OFFSET + 4


def _withSocket(fd, family, method, *args):
    # Run one socket method on a descriptor we own, without taking it over.
    # The C socket type with the family given: no Python-level __init__,
    # and one getsockname() where socket.socket(fileno=fd) makes four
    # system calls to learn what we know.  (AF_INET6 serves IPv4 sockets
    # too: it only sizes the buffer getpeername fills.)
    sock = _socket.socket(family, _STREAM, 0, fd)
    try:
        return getattr(sock, method)(*args)
    finally:
        sock.detach()


_STREAM = _socket.SOCK_STREAM


def _address(sockaddr, kind="TCP"):
    if len(sockaddr) == 4:
        return IPv6Address(kind, sockaddr[0], sockaddr[1], sockaddr[2], sockaddr[3])
    return IPv4Address(kind, sockaddr[0], sockaddr[1])


class AddressedTransport(StreamTransport):
    """
    A stream transport that knows its addresses: the base of tcp's and
    unix's connections (not one of Twisted's names).

    The peer's address is the one its factory was given (kept, as Twisted
    keeps it).  Ours is the listening port's when that says it all (a
    specific interface, a UNIX path); otherwise it is asked of the kernel
    when first wanted, or as the connection closes, so that connectionLost
    can still call getHost().  So an accepted connection costs no system
    call for its addresses (benchmarks/bench_echo.py, churn).
    """

    __slots__ = ()
    _family = socket.AF_INET6  # the socket object's family (see _withSocket)
    # startTLS(normal=True) makes us the TLS client of a connection we made,
    # the TLS server of one a port accepted (Server sets False).
    _tlsClientDefault = True

    def _makeAddress(self, sockaddr):
        return _address(sockaddr)

    def _kernelAddress(self, method):
        if self.disconnected:
            raise OSError("the connection is closed and its address was never known")
        return self._makeAddress(_withSocket(self.fd, self._family, method))

    def getPeer(self):
        """Return the address of the other side (still known after the connection closed)."""
        peer = self._peer
        if peer is None:
            peer = self._peer = self._kernelAddress("getpeername")
        return peer

    def getHost(self):
        """Return the address of this side (still known after the connection closed)."""
        host = self._host
        if host is None:
            host = self._host = self._kernelAddress("getsockname")
        return host

    def startTLS(self, contextFactory, normal=True, *, received=b""):
        """
        Start TLS on this live connection (STARTTLS): what was written
        before goes out in clear, everything written from now on encrypted,
        and everything read from now on is decrypted.  The connection stays
        the same object, and becomes an ISSLTransport (getPeerCertificate,
        negotiatedProtocol); a registered producer stays registered.

        :param contextFactory: an object with ``getContext()``, or a
            connection creator (see reactor.tls).
        :param normal: True (the default) makes this side the TLS client
            if it made the connection, the server if a port accepted it;
            False swaps the roles.
        :param received: bytes the protocol already read that belong after
            the switch (what ``clearLineBuffer()`` returns when the peer sent
            its first TLS bytes right behind its last line): they are
            decrypted first.  Loom's addition to Twisted's signature.
        :raises RuntimeError: if TLS is started already.
        """
        from reactor import _starttls

        isClient = self._tlsClientDefault if normal else not self._tlsClientDefault
        producer, streaming = self._producer, self._streaming
        if producer is not None:
            self.unregisterProducer()
        tls = _starttls.startTLS(self, contextFactory, isClient)
        if producer is not None:
            tls.registerProducer(producer, streaming)
        if received:
            tls.dataReceived(received)

    def _learnAddresses(self):
        # The descriptor is about to close: ask for what is still unknown.
        try:
            self.getHost()
        except OSError:
            pass
        try:
            self.getPeer()
        except OSError:
            pass


@implementer(ITCPTransport, ITLSTransport)
class Connection(AddressedTransport):
    """A TCP connection (log lines name it ``Protocol,client``)."""

    __slots__ = ()
    logPrefix = _logcontext.clientLogPrefix

    def getTcpNoDelay(self):
        """Return True when Nagle's algorithm is off."""
        return bool(
            _withSocket(self.fd, self._family, "getsockopt", socket.IPPROTO_TCP, socket.TCP_NODELAY)
        )

    def setTcpNoDelay(self, enabled):
        """Turn Nagle's algorithm off (True) or on (False)."""
        _withSocket(
            self.fd,
            self._family,
            "setsockopt",
            socket.IPPROTO_TCP,
            socket.TCP_NODELAY,
            int(enabled),
        )

    def getTcpKeepAlive(self):
        """Return True when SO_KEEPALIVE is set."""
        return bool(
            _withSocket(self.fd, self._family, "getsockopt", socket.SOL_SOCKET, socket.SO_KEEPALIVE)
        )

    def setTcpKeepAlive(self, enabled):
        """Set (True) or clear (False) SO_KEEPALIVE."""
        _withSocket(
            self.fd,
            self._family,
            "setsockopt",
            socket.SOL_SOCKET,
            socket.SO_KEEPALIVE,
            int(enabled),
        )

    def getTcpNotSentLowat(self):
        """Return TCP_NOTSENT_LOWAT: the most unsent bytes the kernel queues."""
        return _withSocket(self.fd, self._family, "getsockopt", socket.IPPROTO_TCP, _notSentLowat())

    def setTcpNotSentLowat(self, limit):
        """
        Let the kernel queue at most limit bytes not yet sent (TCP_NOTSENT_LOWAT):
        the socket is writable again only once fewer wait.  (Beyond Twisted.)

        :raises OSError: where the system has no such option.
        """
        _withSocket(self.fd, self._family, "setsockopt", socket.IPPROTO_TCP, _notSentLowat(), limit)

    def __repr__(self):
        return "<%s fd=%d protocol=%s>" % (type(self).__name__, self.fd, self.logPrefix())


def _notSentLowat():
    # The option's number (Linux, macOS), or ENOPROTOOPT where there is none.
    option = getattr(socket, "TCP_NOTSENT_LOWAT", None)
    if option is None:
        raise OSError(errno.ENOPROTOOPT, "TCP_NOTSENT_LOWAT is not available here")
    return option


class Server(Connection):
    """
    A TCP connection accepted by a listening Port.

    Reading pauses while more than ``highWater`` bytes wait to be sent (see
    reactor.stream), so a client that sends without reading cannot make the
    server buffer without limit.

    Log lines name it ``Protocol,sessionno,peer host``, as Twisted does.
    """

    __slots__ = ("_session",)  # see _logcontext.serverLogPrefix
    autoPauseReading = True
    _tlsClientDefault = False
    logPrefix = _logcontext.serverLogPrefix
    sessionno = property(
        _logcontext.sessionOf,
        doc="Its number among the connections its port accepted, from 0 (Twisted's).",
    )


@implementer(IListeningPort)
class Port:
    """
    A listening TCP socket.

    :ivar numberAccepts: the most connections accepted per wakeup.
    :ivar acceptPause: seconds to stop accepting after EMFILE and friends.
    :ivar sessionno: how many connections were accepted (and given a protocol).
    """

    transport: type[AddressedTransport] = Server
    socketType = socket.SOCK_STREAM
    numberAccepts = 128
    acceptPause = 0.1
    sessionno = 0
    _kind = "TCP"

    def __init__(self, port, factory, backlog=50, interface="", reactor=None):
        self.port = port
        self.factory = factory
        self.backlog = backlog
        self.interface = interface
        self.reactor = reactor
        self.socket = None
        self.fd = -1
        self.connected = False
        self._getsockopt = None
        self._exhaustedLogged = False
        self._resumeCall = None
        self._stopped = None
        self._host = None
        self._connectionHost = None

    def _makeSocket(self):
        family = addressFamily(self.interface)
        if family is None:
            raise CannotListenError(self.interface, self.port, OSError("not a literal IP address"))
        sock = socket.socket(family, self.socketType)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        return sock, (self.interface, self.port)

    def adoptSocket(self, sock):
        """
        Start accepting on sock, an already bound and listening socket (an
        inherited one: systemd socket activation).  The port owns sock.
        """
        sock.setblocking(False)
        self._startAccepting(sock)

    def _startAccepting(self, sock):
        self.socket = sock
        self.fd = sock.fileno()
        self._accept = sock._accept
        tcp = _TCP_INFO is not None and sock.family in (socket.AF_INET, socket.AF_INET6)
        self._getsockopt = sock.getsockopt if tcp else None
        self._host = self._hostAddress()
        self._connectionHost = self._acceptedHost()
        self.connected = True
        self._logStarting()
        self.factory.doStart()
        self.reactor.openDescriptors.add(self)
        self.reactor.addReader(self)

    def startListening(self):
        """
        Bind, listen and start accepting.

        :raises CannotListenError: naming the address, if it cannot bind.
        """
        sock, address = self._makeSocket()
        try:
            sock.bind(address)
            sock.listen(self.backlog)
        except OSError as error:
            sock.close()
            raise CannotListenError(self.interface, self.port, error) from None
        sock.setblocking(False)
        self._startAccepting(sock)

    def fileno(self):
        """Return the listening descriptor, or -1 when not listening."""
        return self.fd

    def queuedConnections(self):
        """
        Return how many connections wait in the kernel's accept queue, or
        None where the kernel does not say (not Linux, or not TCP: a UNIX
        port).  Loom's addition: doRead takes what it says, and loomd's
        workers take their share of it (services.loomd.balance).
        """
        getsockopt = self._getsockopt
        if getsockopt is None:
            return None
        try:
            info = getsockopt(socket.IPPROTO_TCP, _TCP_INFO, _QUEUE_INFO_SIZE)
        except OSError:
            return None
        if len(info) < _QUEUE_INFO_SIZE:
            return None
        return _QUEUE_LENGTH(info, _QUEUE_OFFSET)[0]

    def doRead(self):
        """
        Accept the connections waiting, up to numberAccepts.

        When the kernel says how many wait (queuedConnections), that many
        are accepted and no more: an accept() that finds the queue empty
        is dear on Linux, which allocates the new socket and its file
        before it looks (4 us of kernel time measured here, 5 us in all
        with the exception), where asking for the queue's length costs
        about 1 us
        (test_acceptTakesWhatIsQueuedWithoutAFailingAccept).  When it says
        none, or nothing, accept() is called until it finds the queue empty.
        """
        count = self.numberAccepts
        if count > 1:
            queued = self.queuedConnections()
            if queued:
                count = min(queued, count)
        accept = self._accept
        for _ in range(count):
            try:
                fd, sockaddr = accept()
            except BlockingIOError:
                return None
            except OSError as error:
                if error.errno in _ACCEPT_EXHAUSTED:
                    self._pauseAccepting(error)
                    return None
                if error.errno in _ACCEPT_SKIP:
                    continue
                raise
            self._exhaustedLogged = False
            self._serve(fd, sockaddr)
        return None

    def _serve(self, fd, sockaddr):
        os.set_blocking(fd, False)
        peer = self._peerAddress(sockaddr)
        try:
            protocol = self.factory.buildProtocol(peer)
        except Exception:
            log.err(None, "Unhandled error in %s.buildProtocol" % (type(self.factory).__name__,))
            protocol = None
        if protocol is None:
            os.close(fd)
            return
        transport = self.transport(fd, protocol, self.reactor, None, peer, self._connectionHost)
        transport._session, self.sessionno = self.sessionno, self.sessionno + 1
        startConnection(transport, protocol)

    def _peerAddress(self, sockaddr):
        if len(sockaddr) == 2:
            return IPv4Address(self._kind, sockaddr[0], sockaddr[1])
        return _address(sockaddr, self._kind)

    def _acceptedHost(self):
        # The local address of every connection we accept, when bound to one
        # interface; on a wildcard (0.0.0.0, ::) it depends on the connection.
        sockaddr = self.socket.getsockname()
        if ipaddress.ip_address(sockaddr[0].split("%", 1)[0]).is_unspecified:
            return None
        return _address(sockaddr)

    def _pauseAccepting(self, error):
        # Out of descriptors: accepting again at once would find the same
        # error, and a level-triggered reactor would call us in a busy loop.
        if not self._exhaustedLogged:
            self._exhaustedLogged = True
            log.msg(
                "accept() on %s failed (%s); pausing accepts for %ss"
                % (self._describe(), os.strerror(error.errno), self.acceptPause),
                isError=False,
            )
        self.reactor.removeReader(self)
        self._resumeCall = self.reactor.callLater(self.acceptPause, self._resumeAccepting)

    def _resumeAccepting(self):
        self._resumeCall = None
        if self.connected:
            self.reactor.addReader(self)

    def stopListening(self):
        """
        Stop accepting and close the socket.

        :return: a Deferred that fires once the port is closed and the factory
            has been told (doStop).
        """
        if not self.connected:
            return self._stopped if self._stopped is not None else succeed(None)
        self.connected = False
        self.reactor.removeReader(self)
        if self._resumeCall is not None and self._resumeCall.active():
            self._resumeCall.cancel()
        self._stopped = Deferred()
        self.reactor.callLater(0, self.connectionLost, None)
        return self._stopped

    loseConnection = stopListening

    def connectionLost(self, reason):
        """Close the socket and tell the factory; fire stopListening's Deferred."""
        self.connected = False
        if self.socket is None:
            return
        self.reactor.removeReader(self)
        if self._resumeCall is not None and self._resumeCall.active():
            self._resumeCall.cancel()
        sock, self.socket = self.socket, None
        self.fd = -1
        self._getsockopt = None
        sock.close()
        self.reactor.openDescriptors.discard(self)
        self._logClosed()
        stopped, self._stopped = self._stopped, None
        try:
            self.factory.doStop()
        finally:
            if stopped is not None:
                stopped.callback(None)
            self._stopped = succeed(None)

    def getHost(self):
        """Return the address this port listens on (the real port if 0 was asked)."""
        return self._host

    def _hostAddress(self):
        return _address(self.socket.getsockname(), self._kind)

    def _describe(self):
        host = self.getHost()
        return "%s:%s" % (host.host, host.port)

    # Twisted's wording, which people and scripts look for in logs.
    def _logStarting(self):
        log.msg("%s starting on %s" % (_logcontext.prefixOf(self.factory), self._host.port))

    def _logClosed(self):
        log.msg("(%s Port %s Closed)" % (self._kind, self._host.port))

    def logPrefix(self):
        """Return the factory's class name, for log lines."""
        return "%s (%s)" % (type(self.factory).__name__, self._kind)

    def __repr__(self):
        if self.socket is None:
            return "<%s of %s (not listening)>" % (self._kind, type(self.factory).__name__)
        return "<%s of %s on %s>" % (self._kind, type(self.factory).__name__, self._describe())


@implementer(IConnector)
class Connector:
    """
    An outgoing connection to (host, port) for a ClientFactory, which can be
    stopped and started again (ReconnectingClientFactory calls connect()).

    Beyond Twisted's ClientFactory methods, a factory may have
    ``clientConnectionMade(protocol)``: it is called once the protocol's
    connectionMade has run, if the connection is still open.  Client
    endpoints use it to fire their Deferred with a connected protocol.

    :ivar state: 'disconnected', 'connecting' or 'connected'.
    """

    def __init__(self, host, port, factory, timeout=30, bindAddress=None, reactor=None):
        self.host = host
        self.port = port
        self.factory = factory
        self.timeout = timeout
        self.bindAddress = bindAddress
        self.reactor = reactor
        self.state = "disconnected"
        self.transport = None
        self._attempt = None
        self._factoryStarted = False

    def connect(self):
        """Start connecting (again)."""
        if self.state != "disconnected":
            raise RuntimeError("can't connect in state %r" % (self.state,))
        self.state = "connecting"
        if not self._factoryStarted:
            self.factory.doStart()
            self._factoryStarted = True
        self._attempt = _Attempt(self)
        self.factory.startedConnecting(self)
        if self._attempt is not None and self.state == "connecting":
            self._attempt.start()

    def stopConnecting(self):
        """
        Abandon the connection attempt in progress (the factory's
        clientConnectionFailed gets a UserError).

        :raises NotConnectingError: if not connecting.
        """
        if self.state != "connecting":
            raise NotConnectingError("we're not trying to connect")
        self._attempt.fail(Failure(UserError(string="connection attempt stopped")))

    def disconnect(self):
        """Stop connecting, or close the connection."""
        if self.state == "connecting":
            self.stopConnecting()
        elif self.state == "connected":
            self.transport.loseConnection()

    def getDestination(self):
        """Return the address being connected to."""
        family = addressFamily(self.host)
        if family == socket.AF_INET6:
            return IPv6Address("TCP", self.host, self.port)
        return IPv4Address("TCP", self.host, self.port)

    def _makeTransport(self, fd, protocol, peer):
        return Connection(fd, protocol, self.reactor, self, peer)

    def _peerAddress(self, sockaddr):
        return _address(sockaddr)

    def _connected(self, fd, sockaddr):
        self._attempt = None
        peer = self._peerAddress(sockaddr)
        try:
            protocol = self.factory.buildProtocol(peer)
        except Exception:
            log.err(None, "Unhandled error in %s.buildProtocol" % (type(self.factory).__name__,))
            protocol = None
        if protocol is None:
            os.close(fd)
            self._connectionFailed(Failure(UserError(string="the factory built no protocol")))
            return
        self.state = "connected"
        transport = self.transport = self._makeTransport(fd, protocol, peer)
        startConnection(transport, protocol)
        # Endpoints fire their Deferred once connectionMade has run.
        notify = getattr(self.factory, "clientConnectionMade", None)
        if notify is not None and not transport.disconnected:
            notify(protocol)

    def _connectionFailed(self, reason):
        self._attempt = None
        self.state = "disconnected"
        self.factory.clientConnectionFailed(self, reason)
        self._maybeStopFactory()

    def transportLost(self, transport, reason):
        """
        Our connection's transport was lost, after its protocol was told
        (called by reactor.stream): tell the factory, which may reconnect.
        """
        self.transport = None
        self.state = "disconnected"
        self.factory.clientConnectionLost(self, reason)
        self._maybeStopFactory()

    def _maybeStopFactory(self):
        # The factory may have called connect() again (reconnecting).
        if self.state == "disconnected" and self._factoryStarted:
            self._factoryStarted = False
            self.factory.doStop()

    def _resolveAddress(self):
        """Return (family, sockaddr) for a literal host, or None to resolve it."""
        family = addressFamily(self.host)
        if family is None:
            return None
        if family == socket.AF_INET6:
            info = socket.getaddrinfo(
                self.host, self.port, family, socket.SOCK_STREAM, 0, socket.AI_NUMERICHOST
            )
            return family, info[0][4]
        return family, (self.host or "127.0.0.1", self.port)

    def __repr__(self):
        return "<%s to %s:%s %s>" % (type(self).__name__, self.host, self.port, self.state)


class _Attempt:
    """One try of a Connector: resolve, connect without blocking, wait."""

    def __init__(self, connector):
        self.connector = connector
        self.reactor = connector.reactor
        self.socket = None
        self.done = False
        self.timeoutCall = None

    def start(self):
        connector = self.connector
        if connector.timeout:
            self.timeoutCall = self.reactor.callLater(connector.timeout, self._timedOut)
        try:
            literal = connector._resolveAddress()
        except socket.gaierror as error:
            self.fail(Failure(DNSLookupError("%s: %s" % (connector.host, error))))
            return
        except OSError as error:
            self.fail(Failure(getConnectError((error.errno, error.strerror))))
            return
        if literal is not None:
            self._connectTo(*literal)
        else:
            self.reactor.callInThread(self._resolveInThread, connector.host, connector.port)

    def _resolveInThread(self, host, port):
        # Runs in the thread pool: getaddrinfo can block for seconds.
        try:
            info = socket.getaddrinfo(host, port, 0, socket.SOCK_STREAM)
        except OSError as error:
            self.reactor.callFromThread(
                self.fail, Failure(DNSLookupError("%s: %s" % (host, error)))
            )
            return
        family, _, _, _, sockaddr = info[0]
        self.reactor.callFromThread(self._connectTo, family, sockaddr)

    def _connectTo(self, family, sockaddr):
        if self.done:
            return
        sock = self.socket = self._newSocket(family)
        bindAddress = self.connector.bindAddress
        if bindAddress is not None:
            try:
                sock.bind(bindAddress)
            except OSError as error:
                self.fail(Failure(ConnectBindError(error.errno, error.strerror)))
                return
        code = sock.connect_ex(sockaddr)
        if code not in (0, errno.EINPROGRESS, errno.EWOULDBLOCK, errno.EALREADY):
            self.fail(Failure(getConnectError((code, os.strerror(code)))))
            return
        self.reactor.addWriter(self)

    def _newSocket(self, family):
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setblocking(False)
        return sock

    def fileno(self):
        return self.socket.fileno() if self.socket is not None else -1

    def doWrite(self):
        # Writable: the connect() finished, one way or the other.
        code = self.socket.getsockopt(socket.SOL_SOCKET, socket.SO_ERROR)
        if code:
            self.fail(Failure(getConnectError((code, os.strerror(code)))))
            return None
        self._finish()
        sock, self.socket = self.socket, None
        try:
            sockaddr = sock.getpeername()
        except OSError as error:
            sock.close()
            self.connector._connectionFailed(Failure(getConnectError(error)))
            return None
        self.connector._connected(sock.detach(), sockaddr)
        return None

    def doRead(self):
        return None

    def _timedOut(self):
        self.timeoutCall = None
        self.fail(Failure(TimeoutError(string="connection attempt timed out")))

    def _finish(self):
        self.done = True
        if self.socket is not None:
            self.reactor.removeWriter(self)
        if self.timeoutCall is not None and self.timeoutCall.active():
            self.timeoutCall.cancel()
        self.timeoutCall = None

    def fail(self, reason):
        """End the attempt and report reason to the connector's factory."""
        if self.done:
            return
        self._finish()
        if self.socket is not None:
            self.socket.close()
            self.socket = None
        self.connector._connectionFailed(reason)

    def connectionLost(self, reason):
        # The reactor dropped us (shutdown): the attempt failed.
        self.fail(reason)

    def logPrefix(self):
        return "Connecting(%s)" % (type(self.connector.factory).__name__,)
