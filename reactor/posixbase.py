"""
PosixReactorBase: the glue between a POSIX reactor and its transports.

The select, poll, epoll and asyncio reactors all inherit from it.  It is
where listenTCP/connectTCP, listenUNIX and friends live (reactor.tcp,
reactor.unix and reactor.udp build on the FD-set API: addReader, addWriter,
removeReader, removeWriter), so the reactors themselves hold only their loop.

At shutdown ('during' phase) every descriptor still registered is removed and
told connectionLost(ConnectionLost), so each connection's protocol hears
about the end exactly once, however the reactor stops.
"""

import os

from zope.interface import implementer

from reactor import _logcontext, log
from reactor._fdset import FDSet
from reactor.base import ReactorBase
from reactor.error import CONNECTION_LOST
from reactor.failure import Failure
from reactor.interfaces import IReactorProcess, IReactorSSL, IReactorTCP, IReactorUDP, IReactorUNIX

__all__ = ["FDSetReactorBase", "PosixReactorBase"]

_LOST_FAILURE = Failure(CONNECTION_LOST)


@implementer(IReactorTCP, IReactorUNIX, IReactorUDP, IReactorSSL, IReactorProcess)
class PosixReactorBase(ReactorBase):
    """A ReactorBase for POSIX systems: the home of transport methods."""

    def __init__(self, *, reads=None, writes=None):
        """:param reads, writes: as for ReactorBase."""
        super().__init__(reads=reads, writes=writes)
        # Every connection and port of this reactor not yet closed, watched
        # or not: one whose reading is paused (pauseProducing, a half-close,
        # accepts paused by EMFILE) is in no read or write set, but must
        # still be closed at shutdown.
        # An internal interface: each transport and port of reactor.stream,
        # tcp, unix and udp adds itself when it opens and discards itself
        # when it closes (test_shutdown_connections).
        self.openDescriptors = set()
        self.addSystemEventTrigger("during", "shutdown", self.disconnectAll)

    def disconnectAll(self):
        """
        Remove every descriptor and tell each connectionLost(ConnectionLost),
        including the connections and ports that were not being watched.
        """
        if self.heldWrites:
            self._sendHeld()  # what was written this turn goes out first
        removed = self.removeAll()
        unwatched = self.openDescriptors.difference(removed)
        for descriptor in removed + list(unwatched):
            try:
                descriptor.connectionLost(_LOST_FAILURE)
            except Exception:
                log.err(None, "Error in connectionLost during shutdown")

    # -- TCP --------------------------------------------------------------------

    def listenTCP(self, port, factory, backlog=50, interface=""):
        """
        Listen for TCP connections; interface '::' or an IPv6 address means IPv6.

        :return: the listening reactor.tcp.Port.
        :raises CannotListenError: naming the address, if it cannot be bound.
        """
        from reactor import tcp

        listening = tcp.Port(port, factory, backlog, interface, reactor=self)
        listening.startListening()
        return listening

    def connectTCP(self, host, port, factory, timeout=30, bindAddress=None):
        """
        Connect to host:port (a name is resolved in the thread pool).

        :return: the reactor.tcp.Connector, already connecting.
        """
        from reactor import tcp

        connector = tcp.Connector(host, port, factory, timeout, bindAddress, reactor=self)
        connector.connect()
        return connector

    # -- TLS over TCP -------------------------------------------------------------

    def listenSSL(self, port, factory, contextFactory, backlog=50, interface=""):
        """
        Listen for TLS connections: listenTCP with each connection's protocol
        carried over TLS (reactor.tls).

        :param contextFactory: an object with ``getContext()`` returning an
            OpenSSL.SSL.Context, or a server connection creator.
        :return: the listening reactor.tcp.Port (its factory is the
            TLSMemoryBIOFactory around factory).
        :raises CannotListenError: naming the address, if it cannot be bound.
        """
        from reactor.tls import TLSMemoryBIOFactory

        return self.listenTCP(
            port, TLSMemoryBIOFactory(contextFactory, False, factory), backlog, interface
        )

    def connectSSL(self, host, port, factory, contextFactory, timeout=30, bindAddress=None):
        """
        Connect to host:port and speak TLS over the connection as its client.

        :param contextFactory: an object with ``getContext()``, or a client
            connection creator (reactor.ssl.optionsForClientTLS gives one
            that checks the server's name).
        :return: the reactor.tcp.Connector, already connecting.
        """
        from reactor.tls import TLSMemoryBIOFactory

        return self.connectTCP(
            host, port, TLSMemoryBIOFactory(contextFactory, True, factory), timeout, bindAddress
        )

    # -- UNIX -------------------------------------------------------------------

    def listenUNIX(self, address, factory, backlog=50, mode=None, wantPID=False):
        """
        Listen on a UNIX socket path (or an abstract '\\0name'); return the port.

        The socket file is created with ``mode`` (the umask decides when it
        is None); a stale socket at the path is replaced, a live one or
        anything else is refused (CannotListenError).  See reactor.unix.
        """
        from reactor import unix

        listening = unix.Port(address, factory, backlog, mode, wantPID, reactor=self)
        listening.startListening()
        return listening

    def connectUNIX(self, address, factory, timeout=30, checkPID=False):
        """Connect to a UNIX socket path; return the connector."""
        from reactor import unix

        connector = unix.Connector(address, factory, timeout, checkPID, reactor=self)
        connector.connect()
        return connector

    # -- inherited sockets (systemd socket activation) ---------------------------

    def adoptStreamPort(self, fileDescriptor, addressFamily, factory):
        """
        Accept connections on an inherited listening socket.

        The descriptor is duplicated: the caller keeps (and may close) its own.

        :param addressFamily: socket.AF_INET, AF_INET6 or AF_UNIX.
        :return: the listening port.
        """
        import socket

        from reactor import tcp, unix

        sock = socket.socket(addressFamily, socket.SOCK_STREAM, fileno=os.dup(fileDescriptor))
        if addressFamily == socket.AF_UNIX:
            port = unix.Port(sock.getsockname(), factory, reactor=self)
        else:
            port = tcp.Port(sock.getsockname()[1], factory, reactor=self)
        port.adoptSocket(sock)
        return port

    def adoptDatagramPort(self, fileDescriptor, addressFamily, protocol, maxPacketSize=8192):
        """Serve datagrams on an inherited bound socket (duplicated, as above)."""
        import socket

        from reactor import udp

        sock = socket.socket(addressFamily, socket.SOCK_DGRAM, fileno=os.dup(fileDescriptor))
        port = udp.Port(sock.getsockname()[1], protocol, maxPacketSize=maxPacketSize, reactor=self)
        port.adoptSocket(sock)
        return port

    # -- UDP --------------------------------------------------------------------

    def listenUDP(self, port, protocol, interface="", maxPacketSize=8192):
        """Bind a UDP port for a DatagramProtocol; return the port."""
        from reactor import udp

        listening = udp.Port(port, protocol, interface, maxPacketSize, reactor=self)
        listening.startListening()
        return listening

    def listenMulticast(
        self, port, protocol, interface="", maxPacketSize=8192, listenMultiple=False
    ):
        """Bind a UDP port that can join multicast groups; return the port."""
        from reactor import udp

        listening = udp.MulticastPort(
            port,
            protocol,
            interface,
            maxPacketSize,
            reactor=self,
            listenMultiple=listenMultiple,
        )
        listening.startListening()
        return listening

    # -- processes --------------------------------------------------------------

    def spawnProcess(
        self,
        processProtocol,
        executable,
        args=(),
        env=None,
        path=None,
        uid=None,
        gid=None,
        usePTY=False,
        childFDs=None,
    ):
        """
        Start executable in a child process connected to processProtocol.

        env None passes this process's environment on, ``{}`` gives an
        empty one; childFDs defaults to {0: 'w', 1: 'r', 2: 'r'}.  The
        child gets no descriptor of ours beyond those; a program that cannot
        be run ends in processEnded with a ProcessExecError.  See
        reactor.process.spawnProcess for every argument.

        :return: the IProcessTransport.
        """
        from reactor import process

        return process.spawnProcess(
            self, processProtocol, executable, args, env, path, uid, gid, usePTY, childFDs
        )


_logcontext.dispatchesTo(PosixReactorBase.disconnectAll, "descriptor")


class FDSetReactorBase(PosixReactorBase):
    """
    The poll and epoll reactors' common part: the descriptors they watch
    are kept by a reactor._fdset.FDSet around the kernel's poller, whose
    add and remove methods become the reactor's own (FDSet.bindTo).
    Subclasses give the poller and read its events in doIteration.
    """

    def __init__(self, makePoller, keepsFiles):
        fds = self._fds = FDSet(makePoller, self._dropLater, keepsFiles=keepsFiles)
        fds.bindTo(self, FDSetReactorBase)
        super().__init__(reads=fds.reads, writes=fds.writes)

    def addReader(self, reader):
        """Watch reader (an IReadDescriptor) for readability."""
        self._fds.addReader(reader)

    def addWriter(self, writer):
        """Watch writer (an IWriteDescriptor) for writability."""
        self._fds.addWriter(writer)

    def removeReader(self, reader):
        """Stop watching reader for readability; a no-op if not watched."""
        self._fds.removeReader(reader)

    def removeWriter(self, writer):
        """Stop watching writer for writability; a no-op if not watched."""
        self._fds.removeWriter(writer)

    def _afterForkPoller(self):
        self._fds.afterFork()

    def wrapPoll(self, wrap):
        """
        Wait for events through ``wrap(poll)``, a callable with the
        poller's poll's arguments and result, wrapping it (loomd's workers
        say when they are waiting); kept across rebuilds and afterFork.
        """
        self._fds.wrapPoll(wrap)
