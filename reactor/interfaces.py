"""
The interfaces of Loom's reactor, transports and protocols, with Twisted's names.

Code written against Twisted's interfaces reads the same here; each interface
states the contract a provider must keep, and the reactor and transports check
nothing more than these methods at run time.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from zope.interface import Attribute, Interface

if TYPE_CHECKING:
    from reactor.defer import Deferred
    from reactor.failure import Failure
    from reactor.threadpool import ThreadPool


class IAddress(Interface):
    """An address of an endpoint of a connection (IPv4Address, UNIXAddress, ...)."""


class IDelayedCall(Interface):
    """A call scheduled with callLater."""

    def getTime() -> float:
        """Return the time, in the scheduler's seconds, at which the call runs."""

    def cancel() -> None:
        """Cancel the call; AlreadyCalled/AlreadyCancelled if it is not active."""

    def delay(secondsLater: float) -> None:
        """Move the call later by secondsLater."""

    def reset(secondsFromNow: float) -> None:
        """Reschedule the call to run secondsFromNow after now."""

    def active() -> bool:
        """Return True while the call has neither run nor been cancelled."""


class IReactorTime(Interface):
    """Time and timed calls."""

    def seconds() -> float:
        """Return the current time in seconds (a float)."""

    def callLater(
        delay: float, callable: Callable[..., object], *args: object, **kw: object
    ) -> IDelayedCall:
        """Call callable(*args, **kw) after delay seconds; return an IDelayedCall."""

    def getDelayedCalls() -> Sequence[IDelayedCall]:
        """Return every IDelayedCall that is still scheduled."""


class IReactorCore(Interface):
    """Running and stopping the loop, and its system events."""

    running = Attribute("True from startup until shutdown has begun.")

    def resolve(name: str, timeout: Sequence[int] | int = 10) -> Deferred[str]:
        """Return a Deferred firing with the IPv4 address of a host name."""

    def run() -> None:
        """Run the loop until stop() is called."""

    def stop() -> None:
        """Stop the loop after the current iteration, running shutdown triggers."""

    def crash() -> None:
        """Stop the loop at once, without running shutdown triggers."""

    def iterate(delay: float = 0) -> None:
        """Run one iteration of the loop, waiting up to delay for I/O."""

    def fireSystemEvent(eventType: str) -> None:
        """Fire the triggers of a system event ('startup', 'shutdown', ...)."""

    def addSystemEventTrigger(
        phase: str, eventType: str, callable: Callable[..., Any], *args: object, **kw: object
    ) -> Any:
        """Call callable in phase ('before', 'during', 'after') of eventType."""

    def removeSystemEventTrigger(triggerID: Any) -> None:
        """Remove a trigger added with addSystemEventTrigger."""

    def callWhenRunning(callable: Callable[..., Any], *args: object, **kw: object) -> Any:
        """Call callable once the reactor runs (now, if it already does)."""


class IReactorFDSet(Interface):
    """Registering descriptors for readability and writability."""

    def addReader(reader: IReadDescriptor) -> None:
        """Call reader.doRead() whenever its file descriptor is readable."""

    def addWriter(writer: IWriteDescriptor) -> None:
        """Call writer.doWrite() whenever its file descriptor is writable."""

    def removeReader(reader: IReadDescriptor) -> None:
        """Stop watching reader for readability."""

    def removeWriter(writer: IWriteDescriptor) -> None:
        """Stop watching writer for writability."""

    def removeAll() -> list[IReadDescriptor | IWriteDescriptor]:
        """Remove every reader and writer (except internal ones); return them."""

    def getReaders() -> list[IReadDescriptor]:
        """Return the readers being watched."""

    def getWriters() -> list[IWriteDescriptor]:
        """Return the writers being watched."""


class IReactorThreads(Interface):
    """Threads: the one thread-safe call and the thread pool."""

    def getThreadPool() -> ThreadPool:
        """Return the reactor's ThreadPool, starting it on first use."""

    def callInThread(callable: Callable[..., object], *args: object, **kwargs: object) -> None:
        """Run callable in the thread pool."""

    def callFromThread(callable: Callable[..., object], *args: object, **kw: object) -> None:
        """Run callable in the reactor thread; the only thread-safe method."""

    def suggestThreadPoolSize(size: int) -> None:
        """Set the thread pool's maximum size."""


class IReactorTCP(Interface):
    """TCP listening and connecting."""

    def listenTCP(
        port: int, factory: IProtocolFactory, backlog: int = 50, interface: str = ""
    ) -> IListeningPort:
        """Listen on a TCP port; return an IListeningPort."""

    def connectTCP(
        host: str,
        port: int,
        factory: IProtocolFactory,
        timeout: float = 30,
        bindAddress: tuple[str, int] | None = None,
    ) -> IConnector:
        """Connect to a TCP address; return an IConnector."""


class IReactorUNIX(Interface):
    """UNIX stream sockets."""

    def listenUNIX(
        address: str,
        factory: IProtocolFactory,
        backlog: int = 50,
        mode: int | None = None,
        wantPID: bool = False,
    ) -> IListeningPort:
        """
        Listen on a UNIX socket path; return an IListeningPort.

        :param mode: the socket file's permission bits, set as it is created;
            None lets the process umask decide (Twisted's default is 0o666).
        :param wantPID: hold a ``path.lock`` file naming this process.
        """

    def connectUNIX(
        address: str, factory: IProtocolFactory, timeout: float = 30, checkPID: bool = False
    ) -> IConnector:
        """Connect to a UNIX socket path; return an IConnector."""


class IReactorUDP(Interface):
    """UDP datagram ports."""

    def listenUDP(
        port: int, protocol: Any, interface: str = "", maxPacketSize: int = 8192
    ) -> IListeningPort:
        """Listen for datagrams on a port; return an IListeningPort."""


class IReactorSSL(Interface):
    """TLS over TCP."""

    def listenSSL(
        port: int,
        factory: IProtocolFactory,
        contextFactory: Any,
        backlog: int = 50,
        interface: str = "",
    ) -> IListeningPort:
        """Listen for TLS connections."""

    def connectSSL(
        host: str,
        port: int,
        factory: IProtocolFactory,
        contextFactory: Any,
        timeout: float = 30,
        bindAddress: tuple[str, int] | None = None,
    ) -> IConnector:
        """Connect with TLS."""


class IReactorProcess(Interface):
    """Child processes."""

    def spawnProcess(
        processProtocol: IProcessProtocol,
        executable: str | bytes,
        args: Sequence[str | bytes] = (),
        env: Mapping[str | bytes, str | bytes] | None = None,
        path: str | bytes | None = None,
        uid: int | None = None,
        gid: int | None = None,
        usePTY: bool = False,
        childFDs: Mapping[int, int | str] | None = None,
    ) -> IProcessTransport:
        """
        Start a child process connected to processProtocol.

        env None passes the parent's environment on, ``{}`` gives an empty
        one; path is the child's working directory; uid and gid (as root)
        the user and group it runs as; usePTY gives it a pseudo-terminal;
        childFDs maps child descriptors to 'r', 'w' or a parent descriptor
        (default {0: 'w', 1: 'r', 2: 'r'}).
        """


class IReactorPluggableResolver(Interface):
    """A reactor whose name resolver can be replaced."""

    def installResolver(resolver: Any) -> Any:
        """Install a resolver; return the previous one."""


class IHostResolution(Interface):
    """One name resolution under way, as given to IResolutionReceiver.resolutionBegan."""

    name = Attribute("The name being resolved, as given to resolveHostName.")

    def cancel() -> None:
        """
        Stop caring about this resolution: the receiver is called no more.

        A resolver that cannot stop a lookup may raise NotImplementedError.
        """


class IResolutionReceiver(Interface):
    """What IHostnameResolver.resolveHostName tells as a name resolves."""

    def resolutionBegan(resolutionInProgress: IHostResolution) -> None:
        """The resolution started; resolutionInProgress is its IHostResolution."""

    def addressResolved(address: IAddress) -> None:
        """One address (an IPv4Address or IPv6Address with the port) was found."""

    def resolutionComplete() -> None:
        """No more addresses will come; none at all means the name did not resolve."""


class IHostnameResolver(Interface):
    """Something that turns a host name into addresses, without blocking the loop."""

    def resolveHostName(
        resolutionReceiver: IResolutionReceiver,
        hostName: str,
        portNumber: int = 0,
        addressTypes: Sequence[type[IAddress]] | None = None,
        transportSemantics: str = "TCP",
    ) -> IHostResolution:
        """
        Resolve hostName, telling resolutionReceiver what is found.

        :param resolutionReceiver: an IResolutionReceiver: resolutionBegan is
            called before this returns; addressResolved and
            resolutionComplete may come later, from the reactor thread.
        :param portNumber: the port the addresses carry.
        :param addressTypes: IPv4Address and/or IPv6Address, the kinds
            wanted; None for both.
        :param transportSemantics: ``"TCP"`` or ``"UDP"``.
        :return: the IHostResolution.
        """


class IReactorPluggableNameResolver(Interface):
    """A reactor whose IHostnameResolver can be replaced."""

    nameResolver = Attribute("The IHostnameResolver used for host names.")

    def installNameResolver(resolver: IHostnameResolver) -> IHostnameResolver:
        """Make resolver the nameResolver; return the previous one."""


class IReadDescriptor(Interface):
    """A file descriptor the reactor can watch for readability."""

    def fileno() -> int:
        """Return the file descriptor number, or -1 once it is lost."""

    def doRead() -> object:
        """
        Read what is available.

        Return None to keep going, or an exception or Failure (for instance the
        CONNECTION_DONE or CONNECTION_LOST sentinels) to be disconnected.
        """

    def connectionLost(reason: Failure) -> None:
        """The descriptor was removed from the reactor for reason (a Failure)."""

    def logPrefix() -> str:
        """Return a short string naming this descriptor in log lines."""


class IWriteDescriptor(Interface):
    """A file descriptor the reactor can watch for writability."""

    def fileno() -> int:
        """Return the file descriptor number, or -1 once it is lost."""

    def doWrite() -> object:
        """Write what is pending; return values as for IReadDescriptor.doRead."""

    def connectionLost(reason: Failure) -> None:
        """The descriptor was removed from the reactor for reason (a Failure)."""

    def logPrefix() -> str:
        """Return a short string naming this descriptor in log lines."""


class IReadWriteDescriptor(IReadDescriptor, IWriteDescriptor):
    """A descriptor that can be both read and written."""


class IFileDescriptor(IReadWriteDescriptor):
    """A file descriptor that a transport wraps."""


class IHalfCloseableDescriptor(Interface):
    """A descriptor that can close its write or read half."""

    def writeConnectionLost(reason: Failure) -> None:
        """The write half was closed."""

    def readConnectionLost(reason: Failure) -> None:
        """The read half was closed."""


class IConsumer(Interface):
    """Something that takes data, and may pace a producer."""

    def registerProducer(producer: IProducer, streaming: bool) -> None:
        """Register a producer; streaming True for IPushProducer."""

    def unregisterProducer() -> None:
        """Stop consuming from the registered producer."""

    def write(data: bytes) -> None:
        """Take bytes."""


class IProducer(Interface):
    """Something that produces data for a consumer."""

    def stopProducing() -> None:
        """Stop producing for good."""


class IPushProducer(IProducer):
    """A producer that writes on its own until paused."""

    def pauseProducing() -> None:
        """Stop writing until resumeProducing."""

    def resumeProducing() -> None:
        """Start writing again."""


class IPullProducer(IProducer):
    """A producer that writes once each time it is asked."""

    def resumeProducing() -> None:
        """Write one more chunk to the consumer."""


class ITransport(Interface):
    """A bidirectional byte stream, from a protocol's point of view."""

    def write(data: bytes) -> None:
        """Send bytes; never blocks, buffers what cannot go out now."""

    def writeSequence(data: Iterable[bytes]) -> None:
        """Send an iterable of bytes objects."""

    def loseConnection() -> None:
        """Close once everything buffered has been sent."""

    def getPeer() -> IAddress:
        """Return the IAddress of the other side."""

    def getHost() -> IAddress:
        """Return the IAddress of this side."""


class ITCPTransport(ITransport):
    """A TCP transport."""

    def loseWriteConnection() -> None:
        """Half-close: send FIN after the buffer drains, keep reading."""

    def abortConnection() -> None:
        """Close at once, dropping buffered data (RST)."""

    def getTcpNoDelay() -> bool:
        """Return whether Nagle's algorithm is off."""

    def setTcpNoDelay(enabled: bool) -> None:
        """Turn Nagle's algorithm off (True) or on."""

    def getTcpKeepAlive() -> bool:
        """Return whether SO_KEEPALIVE is set."""

    def setTcpKeepAlive(enabled: bool) -> None:
        """Set or clear SO_KEEPALIVE."""


class IUNIXTransport(ITransport):
    """A UNIX stream transport."""


class ITLSTransport(ITCPTransport):
    """A stream transport that can start TLS on a live connection (STARTTLS)."""

    def startTLS(contextFactory: Any, normal: bool = True) -> None:
        """
        Encrypt everything written from now on, and decrypt everything read.

        :param contextFactory: an object with ``getContext()``, or a
            connection creator (see reactor.tls).
        :param normal: True (the default) makes this side the TLS client if
            it made the connection, the TLS server if it accepted it; False
            swaps the roles.
        """


class ISSLTransport(ITCPTransport):
    """A transport over TLS."""

    def getPeerCertificate() -> Any:
        """Return the peer's certificate (an OpenSSL.crypto.X509), or None."""


class INegotiated(Interface):
    """A TLS transport that may have chosen an application protocol with ALPN."""

    negotiatedProtocol = Attribute(
        "The protocol chosen (bytes), or None before the handshake or without ALPN."
    )


class IHandshakeListener(Interface):
    """A protocol that wants to know when its TLS handshake has completed."""

    def handshakeCompleted() -> None:
        """The TLS handshake completed: the peer is verified, and negotiatedProtocol set."""


class IUDPTransport(Interface):
    """A UDP port, from a DatagramProtocol's point of view."""

    def write(packet: bytes, addr: tuple[str, int] | None = None) -> None:
        """Send one datagram to addr (or to the connected address)."""

    def connect(host: str, port: int) -> None:
        """Connect to a remote address: only it is heard from and written to."""

    def getHost() -> IAddress:
        """Return the local address."""

    def stopListening() -> Deferred[None] | None:
        """Stop listening; return a Deferred."""

    def setBroadcastAllowed(enabled: bool) -> None:
        """Allow (True) or forbid (False) sending to broadcast addresses."""

    def getBroadcastAllowed() -> bool:
        """Return whether sending to broadcast addresses is allowed."""


class IProcessTransport(ITransport):
    """A child process, from a ProcessProtocol's point of view."""

    pid = Attribute("The process id, or None once it has been reaped.")

    def closeStdin() -> None:
        """Close the child's standard input."""

    def closeStdout() -> None:
        """Close the child's standard output (stop reading it)."""

    def closeStderr() -> None:
        """Close the child's standard error (stop reading it)."""

    def closeChildFD(descriptor: int) -> None:
        """Close the pipe of the child's descriptor."""

    def writeToChild(childFD: int, data: bytes) -> None:
        """Write data to the child's descriptor childFD."""

    def signalProcess(signalID: str | int) -> None:
        """
        Send a signal ('TERM', 'KILL', 'INT', 'HUP' or a number).

        :raises ProcessExitedAlready: once the process is gone.
        """


class IListeningPort(Interface):
    """A listening port."""

    def startListening() -> None:
        """Start listening."""

    def stopListening() -> Deferred[None] | None:
        """Stop listening; return a Deferred firing when the port is closed."""

    def getHost() -> IAddress:
        """Return the IAddress this port listens on."""


class IConnector(Interface):
    """A connection attempt, which can be stopped and repeated."""

    def stopConnecting() -> None:
        """Stop a connection attempt in progress."""

    def disconnect() -> None:
        """Disconnect, or stop connecting."""

    def connect() -> None:
        """Try to connect (again)."""

    def getDestination() -> IAddress:
        """Return the IAddress being connected to."""


class IProtocol(Interface):
    """The application side of a connection."""

    def dataReceived(data: bytes) -> None:
        """Bytes arrived."""

    def connectionLost(reason: Failure) -> None:
        """The connection is gone; reason is a Failure."""

    def makeConnection(transport: ITransport) -> None:
        """Attach the transport and call connectionMade."""

    def connectionMade() -> None:
        """The connection is up."""


class IHalfCloseableProtocol(Interface):
    """A protocol that wants to know when one direction of the stream closes."""

    def readConnectionLost() -> None:
        """The peer will send no more data."""

    def writeConnectionLost() -> None:
        """Our write half was closed."""


class IProtocolFactory(Interface):
    """Builds protocols for connections."""

    def buildProtocol(addr: IAddress) -> IProtocol | None:
        """Return a protocol for a connection from/to addr, or None to refuse."""

    def doStart() -> None:
        """A port or connector started using this factory."""

    def doStop() -> None:
        """A port or connector stopped using this factory."""


class IProcessProtocol(Interface):
    """The application side of a child process."""

    def makeConnection(process: IProcessTransport) -> None:
        """Attach the process transport."""

    def childDataReceived(childFD: int, data: bytes) -> None:
        """Data arrived from the child on childFD."""

    def childConnectionLost(childFD: int) -> None:
        """The child closed childFD."""

    def processExited(reason: Failure) -> None:
        """The process exited (it may still hold descriptors)."""

    def processEnded(reason: Failure) -> None:
        """The process exited and all its descriptors are closed."""


class IProtocolNegotiationFactory(Interface):
    """A factory that offers application protocols for ALPN."""

    def acceptableProtocols() -> Sequence[bytes]:
        """Return the protocol names this factory accepts."""


class IStreamServerEndpoint(Interface):
    """Somewhere to listen for stream connections."""

    def listen(protocolFactory: IProtocolFactory) -> Deferred[IListeningPort]:
        """Listen with protocolFactory; return a Deferred firing with an IListeningPort."""


class IStreamClientEndpoint(Interface):
    """Somewhere to connect a stream to."""

    def connect(protocolFactory: IProtocolFactory) -> Deferred[IProtocol]:
        """Connect; return a Deferred firing with the connected protocol."""


class ILoggingContext(Interface):
    """Something that names itself in log lines."""

    def logPrefix() -> str:
        """Return the prefix for log lines."""
