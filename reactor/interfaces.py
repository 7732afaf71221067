"""
The interfaces of Loom's reactor, transports and protocols, with Twisted's names.

Code written against Twisted's interfaces reads the same here; each interface
states the contract a provider must keep, and the reactor and transports check
nothing more than these methods at run time.
"""

from zope.interface import Attribute, Interface


class IAddress(Interface):
    """An address of an endpoint of a connection (IPv4Address, UNIXAddress, ...)."""


class IDelayedCall(Interface):
    """A call scheduled with callLater."""

    def getTime():
        """Return the time, in the scheduler's seconds, at which the call runs."""

    def cancel():
        """Cancel the call; AlreadyCalled/AlreadyCancelled if it is not active."""

    def delay(secondsLater):
        """Move the call later by secondsLater."""

    def reset(secondsFromNow):
        """Reschedule the call to run secondsFromNow after now."""

    def active():
        """Return True while the call has neither run nor been cancelled."""


class IReactorTime(Interface):
    """Time and timed calls."""

    def seconds():
        """Return the current time in seconds (a float)."""

    def callLater(delay, callable, *args, **kw):
        """Call callable(*args, **kw) after delay seconds; return an IDelayedCall."""

    def getDelayedCalls():
        """Return every IDelayedCall that is still scheduled."""


class IReactorCore(Interface):
    """Running and stopping the loop, and its system events."""

    running = Attribute("True from startup until shutdown has begun.")

    def resolve(name, timeout=10):
        """Return a Deferred firing with the IPv4 address of a host name."""

    def run():
        """Run the loop until stop() is called."""

    def stop():
        """Stop the loop after the current iteration, running shutdown triggers."""

    def crash():
        """Stop the loop at once, without running shutdown triggers."""

    def iterate(delay=0):
        """Run one iteration of the loop, waiting up to delay for I/O."""

    def fireSystemEvent(eventType):
        """Fire the triggers of a system event ('startup', 'shutdown', ...)."""

    def addSystemEventTrigger(phase, eventType, callable, *args, **kw):
        """Call callable in phase ('before', 'during', 'after') of eventType."""

    def removeSystemEventTrigger(triggerID):
        """Remove a trigger added with addSystemEventTrigger."""

    def callWhenRunning(callable, *args, **kw):
        """Call callable once the reactor runs (now, if it already does)."""


class IReactorFDSet(Interface):
    """Registering descriptors for readability and writability."""

    def addReader(reader):
        """Call reader.doRead() whenever its file descriptor is readable."""

    def addWriter(writer):
        """Call writer.doWrite() whenever its file descriptor is writable."""

    def removeReader(reader):
        """Stop watching reader for readability."""

    def removeWriter(writer):
        """Stop watching writer for writability."""

    def removeAll():
        """Remove every reader and writer (except internal ones); return them."""

    def getReaders():
        """Return the readers being watched."""

    def getWriters():
        """Return the writers being watched."""


class IReactorThreads(Interface):
    """Threads: the one thread-safe call and the thread pool."""

    def getThreadPool():
        """Return the reactor's ThreadPool, starting it on first use."""

    def callInThread(callable, *args, **kwargs):
        """Run callable in the thread pool."""

    def callFromThread(callable, *args, **kw):
        """Run callable in the reactor thread; the only thread-safe method."""

    def suggestThreadPoolSize(size):
        """Set the thread pool's maximum size."""


class IReactorTCP(Interface):
    """TCP listening and connecting."""

    def listenTCP(port, factory, backlog=50, interface=""):
        """Listen on a TCP port; return an IListeningPort."""

    def connectTCP(host, port, factory, timeout=30, bindAddress=None):
        """Connect to a TCP address; return an IConnector."""


class IReactorUNIX(Interface):
    """UNIX stream sockets."""

    def listenUNIX(address, factory, backlog=50, mode=None, wantPID=False):
        """
        Listen on a UNIX socket path; return an IListeningPort.

        :param mode: the socket file's permission bits, set as it is created;
            None lets the process umask decide (Twisted's default is 0o666).
        :param wantPID: hold a ``path.lock`` file naming this process.
        """

    def connectUNIX(address, factory, timeout=30, checkPID=0):
        """Connect to a UNIX socket path; return an IConnector."""


class IReactorUDP(Interface):
    """UDP datagram ports."""

    def listenUDP(port, protocol, interface="", maxPacketSize=8192):
        """Listen for datagrams on a port; return an IListeningPort."""


class IReactorSSL(Interface):
    """TLS over TCP."""

    def listenSSL(port, factory, contextFactory, backlog=50, interface=""):
        """Listen for TLS connections."""

    def connectSSL(host, port, factory, contextFactory, timeout=30, bindAddress=None):
        """Connect with TLS."""


class IReactorProcess(Interface):
    """Child processes."""

    def spawnProcess(
        processProtocol,
        executable,
        args=(),
        env={},
        path=None,
        uid=None,
        gid=None,
        usePTY=0,
        childFDs=None,
    ):
        """Start a child process connected to processProtocol."""


class IReactorPluggableResolver(Interface):
    """A reactor whose name resolver can be replaced."""

    def installResolver(resolver):
        """Install a resolver; return the previous one."""


class IHostResolution(Interface):
    """One name resolution under way, as given to IResolutionReceiver.resolutionBegan."""

    name = Attribute("The name being resolved, as given to resolveHostName.")

    def cancel():
        """
        Stop caring about this resolution: the receiver is called no more.

        A resolver that cannot stop a lookup may raise NotImplementedError.
        """


class IResolutionReceiver(Interface):
    """What IHostnameResolver.resolveHostName tells as a name resolves."""

    def resolutionBegan(resolutionInProgress):
        """The resolution started; resolutionInProgress is its IHostResolution."""

    def addressResolved(address):
        """One address (an IPv4Address or IPv6Address with the port) was found."""

    def resolutionComplete():
        """No more addresses will come; none at all means the name did not resolve."""


class IHostnameResolver(Interface):
    """Something that turns a host name into addresses, without blocking the loop."""

    def resolveHostName(
        resolutionReceiver, hostName, portNumber=0, addressTypes=None, transportSemantics="TCP"
    ):
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

    def installNameResolver(resolver):
        """Make resolver the nameResolver; return the previous one."""


class IReadDescriptor(Interface):
    """A file descriptor the reactor can watch for readability."""

    def fileno():
        """Return the file descriptor number, or -1 once it is lost."""

    def doRead():
        """
        Read what is available.

        Return None to keep going, or an exception or Failure (for instance the
        CONNECTION_DONE or CONNECTION_LOST sentinels) to be disconnected.
        """

    def connectionLost(reason):
        """The descriptor was removed from the reactor for reason (a Failure)."""

    def logPrefix():
        """Return a short string naming this descriptor in log lines."""


class IWriteDescriptor(Interface):
    """A file descriptor the reactor can watch for writability."""

    def fileno():
        """Return the file descriptor number, or -1 once it is lost."""

    def doWrite():
        """Write what is pending; return values as for IReadDescriptor.doRead."""

    def connectionLost(reason):
        """The descriptor was removed from the reactor for reason (a Failure)."""

    def logPrefix():
        """Return a short string naming this descriptor in log lines."""


class IReadWriteDescriptor(IReadDescriptor, IWriteDescriptor):
    """A descriptor that can be both read and written."""


class IFileDescriptor(IReadWriteDescriptor):
    """A file descriptor that a transport wraps."""


class IHalfCloseableDescriptor(Interface):
    """A descriptor that can close its write or read half."""

    def writeConnectionLost(reason):
        """The write half was closed."""

    def readConnectionLost(reason):
        """The read half was closed."""


class IConsumer(Interface):
    """Something that takes data, and may pace a producer."""

    def registerProducer(producer, streaming):
        """Register a producer; streaming True for IPushProducer."""

    def unregisterProducer():
        """Stop consuming from the registered producer."""

    def write(data):
        """Take bytes."""


class IProducer(Interface):
    """Something that produces data for a consumer."""

    def stopProducing():
        """Stop producing for good."""


class IPushProducer(IProducer):
    """A producer that writes on its own until paused."""

    def pauseProducing():
        """Stop writing until resumeProducing."""

    def resumeProducing():
        """Start writing again."""


class IPullProducer(IProducer):
    """A producer that writes once each time it is asked."""

    def resumeProducing():
        """Write one more chunk to the consumer."""


class ITransport(Interface):
    """A bidirectional byte stream, from a protocol's point of view."""

    def write(data):
        """Send bytes; never blocks, buffers what cannot go out now."""

    def writeSequence(data):
        """Send an iterable of bytes objects."""

    def loseConnection():
        """Close once everything buffered has been sent."""

    def getPeer():
        """Return the IAddress of the other side."""

    def getHost():
        """Return the IAddress of this side."""


class ITCPTransport(ITransport):
    """A TCP transport."""

    def loseWriteConnection():
        """Half-close: send FIN after the buffer drains, keep reading."""

    def abortConnection():
        """Close at once, dropping buffered data (RST)."""

    def getTcpNoDelay():
        """Return whether Nagle's algorithm is off."""

    def setTcpNoDelay(enabled):
        """Turn Nagle's algorithm off (True) or on."""

    def getTcpKeepAlive():
        """Return whether SO_KEEPALIVE is set."""

    def setTcpKeepAlive(enabled):
        """Set or clear SO_KEEPALIVE."""


class IUNIXTransport(ITransport):
    """A UNIX stream transport."""


class IUDPTransport(Interface):
    """A UDP port, from a DatagramProtocol's point of view."""

    def write(packet, addr=None):
        """Send one datagram to addr (or to the connected address)."""

    def connect(host, port):
        """Connect to a remote address: only it is heard from and written to."""

    def getHost():
        """Return the local address."""

    def stopListening():
        """Stop listening; return a Deferred."""


class IProcessTransport(ITransport):
    """A child process, from a ProcessProtocol's point of view."""

    pid = Attribute("The process id, or None once it has been reaped.")

    def closeStdin():
        """Close the child's standard input."""

    def signalProcess(signalID):
        """Send a signal ('TERM', 'KILL', 'INT' or a number)."""


class IListeningPort(Interface):
    """A listening port."""

    def startListening():
        """Start listening."""

    def stopListening():
        """Stop listening; return a Deferred firing when the port is closed."""

    def getHost():
        """Return the IAddress this port listens on."""


class IConnector(Interface):
    """A connection attempt, which can be stopped and repeated."""

    def stopConnecting():
        """Stop a connection attempt in progress."""

    def disconnect():
        """Disconnect, or stop connecting."""

    def connect():
        """Try to connect (again)."""

    def getDestination():
        """Return the IAddress being connected to."""


class IProtocol(Interface):
    """The application side of a connection."""

    def dataReceived(data):
        """Bytes arrived."""

    def connectionLost(reason):
        """The connection is gone; reason is a Failure."""

    def makeConnection(transport):
        """Attach the transport and call connectionMade."""

    def connectionMade():
        """The connection is up."""


class IHalfCloseableProtocol(Interface):
    """A protocol that wants to know when one direction of the stream closes."""

    def readConnectionLost():
        """The peer will send no more data."""

    def writeConnectionLost():
        """Our write half was closed."""


class IProtocolFactory(Interface):
    """Builds protocols for connections."""

    def buildProtocol(addr):
        """Return a protocol for a connection from/to addr, or None to refuse."""

    def doStart():
        """A port or connector started using this factory."""

    def doStop():
        """A port or connector stopped using this factory."""


class IProcessProtocol(Interface):
    """The application side of a child process."""

    def makeConnection(process):
        """Attach the process transport."""

    def childDataReceived(childFD, data):
        """Data arrived from the child on childFD."""

    def childConnectionLost(childFD):
        """The child closed childFD."""

    def processExited(reason):
        """The process exited (it may still hold descriptors)."""

    def processEnded(reason):
        """The process exited and all its descriptors are closed."""


class IProtocolNegotiationFactory(Interface):
    """A factory that offers application protocols for ALPN."""

    def acceptableProtocols():
        """Return the protocol names this factory accepts."""


class IStreamServerEndpoint(Interface):
    """Somewhere to listen for stream connections."""

    def listen(protocolFactory):
        """Listen with protocolFactory; return a Deferred firing with an IListeningPort."""


class IStreamClientEndpoint(Interface):
    """Somewhere to connect a stream to."""

    def connect(protocolFactory):
        """Connect; return a Deferred firing with the connected protocol."""


class ILoggingContext(Interface):
    """Something that names itself in log lines."""

    def logPrefix():
        """Return the prefix for log lines."""
