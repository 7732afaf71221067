"""
Test doubles for protocols and reactors: no sockets, no wall clock.

- StringTransport records what a protocol writes (``value()``) and what it
  asks of its transport (``disconnecting``, ``producerState``, ``producer``).
- MemoryReactor records listen*/connect* calls so a test can drive the
  factory itself; MemoryReactorClock adds task.Clock's callLater/advance.
- ``connectedPair(server, client)`` joins two protocols through in-memory
  transports; ``pump.flush()`` moves bytes both ways until nothing moves
  (the in-memory pump lives in reactor._iopump).
- The smaller doubles of Twisted's testing module (RaisingMemoryReactor,
  NonStreamingProducer, EventLoggingObserver, LineSendingProtocol,
  FakeDatagramTransport, StringIOWithoutClosing, SynchronousResolver,
  waitUntilAllDisconnected) live in reactor._testdoubles.

The layering rule holds here too: nothing from protocols/ is imported, so
AccumulatingProtocol is a plain IProtocol provider.
"""

from io import BytesIO

from zope.interface import implementer

from reactor import error
from reactor._iopump import IOPump, MemoryTransport, connectedPair
from reactor._testdoubles import (
    EventLoggingObserver,
    FakeDatagramTransport,
    LineSendingProtocol,
    NonStreamingProducer,
    RaisingMemoryReactor,
    StringIOWithoutClosing,
    SynchronousResolver,
    waitUntilAllDisconnected,
)
from reactor.address import IPv4Address, IPv6Address, UNIXAddress
from reactor.failure import Failure
from reactor.interfaces import (
    IConnector,
    IConsumer,
    IListeningPort,
    IProtocol,
    IPushProducer,
    IReactorCore,
    IReactorFDSet,
    IReactorSSL,
    IReactorTCP,
    IReactorUDP,
    IReactorUNIX,
    ITCPTransport,
)
from reactor.task import Clock

__all__ = [
    "AccumulatingProtocol",
    "EventLoggingObserver",
    "FakeDatagramTransport",
    "IOPump",
    "LineSendingProtocol",
    "MemoryReactor",
    "MemoryReactorClock",
    "MemoryTransport",
    "NonStreamingProducer",
    "RaisingMemoryReactor",
    "StringIOWithoutClosing",
    "StringTransport",
    "StringTransportWithDisconnection",
    "SynchronousResolver",
    "connectedPair",
    "waitUntilAllDisconnected",
]


@implementer(ITCPTransport, IConsumer, IPushProducer)
class StringTransport:
    """
    A transport that keeps what is written to it in memory.

    :ivar io: a BytesIO holding every byte written since the last clear().
    :ivar disconnecting: True once loseConnection (or abortConnection) ran.
    :ivar aborted: True once abortConnection ran.
    :ivar producer: the registered producer, or None; :ivar streaming: its kind.
    :ivar producerState: ``"producing"``, ``"paused"`` or ``"stopped"``: what
        the protocol last asked of this transport as a producer.
    :ivar hostAddress: returned by getHost() (a default IPv4Address if None).
    :ivar peerAddress: returned by getPeer() (a default IPv4Address if None).
    """

    disconnecting = False
    aborted = False
    producer = None
    streaming = None
    producerState = "producing"
    hostAddress = None
    peerAddress = None

    def __init__(self, hostAddress=None, peerAddress=None):
        self.clear()
        if hostAddress is not None:
            self.hostAddress = hostAddress
        if peerAddress is not None:
            self.peerAddress = peerAddress
        self.connected = True
        self.writeDisconnected = False
        self.noDelay = False
        self.keepAlive = False

    def clear(self):
        """Forget everything written so far."""
        self.io = BytesIO()

    def value(self):
        """Return every byte written since the last clear()."""
        return self.io.getvalue()

    def write(self, data):
        """
        Record data.

        :raises TypeError: for a str (transports carry bytes only).
        """
        if isinstance(data, str):
            raise TypeError("Data must be bytes, not str: %r" % (data,))
        self.io.write(data)

    def writeSequence(self, data):
        """Record each bytes object of the iterable data, in order."""
        for chunk in data:
            self.write(chunk)

    def loseConnection(self):
        """Mark the transport as disconnecting; nothing else happens."""
        self.disconnecting = True

    def abortConnection(self):
        """Mark the transport as aborted (and disconnecting)."""
        self.aborted = True
        self.loseConnection()

    def loseWriteConnection(self):
        """Record a half-close (``writeDisconnected``)."""
        self.writeDisconnected = True

    def getPeer(self):
        """Return peerAddress, by default IPv4Address('TCP', '192.168.1.1', 54321)."""
        if self.peerAddress is None:
            return IPv4Address("TCP", "192.168.1.1", 54321)
        return self.peerAddress

    def getHost(self):
        """Return hostAddress, by default IPv4Address('TCP', '10.0.0.1', 12345)."""
        if self.hostAddress is None:
            return IPv4Address("TCP", "10.0.0.1", 12345)
        return self.hostAddress

    def getTcpNoDelay(self):
        """Return what setTcpNoDelay last set (False at first)."""
        return self.noDelay

    def setTcpNoDelay(self, enabled):
        """Record the TCP_NODELAY setting."""
        self.noDelay = bool(enabled)

    def getTcpKeepAlive(self):
        """Return what setTcpKeepAlive last set (False at first)."""
        return self.keepAlive

    def setTcpKeepAlive(self, enabled):
        """Record the SO_KEEPALIVE setting."""
        self.keepAlive = bool(enabled)

    def registerProducer(self, producer, streaming):
        """
        Record producer (streaming True for a push producer).

        :raises RuntimeError: if a producer is already registered.
        """
        if self.producer is not None:
            raise RuntimeError("Cannot register two producers")
        self.producer = producer
        self.streaming = streaming

    def unregisterProducer(self):
        """
        Forget the registered producer.

        :raises RuntimeError: if none is registered.
        """
        if self.producer is None:
            raise RuntimeError("Cannot unregister a producer unless one is registered")
        self.producer = None
        self.streaming = None

    def _checkState(self):
        if self.disconnecting:
            raise RuntimeError("Cannot resume producing after loseConnection")
        if self.producerState == "stopped":
            raise RuntimeError("Cannot resume a stopped producer")

    def pauseProducing(self):
        """Record that reading was paused (producerState 'paused')."""
        self._checkState()
        self.producerState = "paused"

    def resumeProducing(self):
        """Record that reading resumed (producerState 'producing')."""
        self._checkState()
        self.producerState = "producing"

    def stopProducing(self):
        """Record that producing stopped for good (producerState 'stopped')."""
        self.producerState = "stopped"


class StringTransportWithDisconnection(StringTransport):
    """
    A StringTransport whose loseConnection calls protocol.connectionLost.

    Set ``protocol`` before calling loseConnection; the protocol gets one
    connectionLost(Failure(ConnectionDone)) however often it is called.
    """

    protocol = None

    def loseConnection(self):
        """Disconnect at once, calling protocol.connectionLost once."""
        self.disconnecting = True
        if self.connected:
            self.connected = False
            self.protocol.connectionLost(Failure(error.ConnectionDone()))


@implementer(IProtocol)
class AccumulatingProtocol:
    """
    A protocol that keeps what it receives and how its connection ended.

    If its ``factory`` has a ``protocolConnectionMade`` Deferred, it fires
    with the protocol on connectionMade; a ``closedDeferred`` set on the
    protocol fires on connectionLost.

    :ivar data: every byte received; :ivar made: True after connectionMade;
    :ivar closed: True after connectionLost; :ivar closedReason: its Failure.
    """

    factory = None
    transport = None
    connected = False
    made = False
    closed = False
    closedReason = None
    closedDeferred = None

    def __init__(self):
        self._received = bytearray()

    @property
    def data(self):
        """Every byte received so far, as bytes."""
        return bytes(self._received)

    def makeConnection(self, transport):
        """Attach transport and call connectionMade."""
        self.connected = True
        self.transport = transport
        self.connectionMade()

    def connectionMade(self):
        """Record the connection; fire factory.protocolConnectionMade if set."""
        self.made = True
        deferred = getattr(self.factory, "protocolConnectionMade", None)
        if deferred is not None:
            self.factory.protocolConnectionMade = None
            deferred.callback(self)

    def dataReceived(self, data):
        """Append data to ``data``."""
        self._received += data

    def connectionLost(self, reason):
        """Record reason; fire closedDeferred if set."""
        self.closed = True
        self.closedReason = reason
        if self.closedDeferred is not None:
            deferred, self.closedDeferred = self.closedDeferred, None
            deferred.callback(None)


# -- MemoryReactor -----------------------------------------------------------


@implementer(IListeningPort)
class _FakePort:
    """The IListeningPort MemoryReactor returns: remembers its address."""

    def __init__(self, address):
        self._address = address
        self.listening = True

    def startListening(self):
        """Mark the port as listening."""
        self.listening = True

    def stopListening(self):
        """Mark the port as not listening; return None (nothing to wait for)."""
        self.listening = False

    def getHost(self):
        """Return the address given to the listen call."""
        return self._address


@implementer(IConnector)
class _FakeConnector:
    """The IConnector MemoryReactor returns: records what is asked of it."""

    _disconnected = False
    stoppedConnecting = False

    def __init__(self, address):
        self._address = address
        self.connectCalls = 0

    def getDestination(self):
        """Return the address given to the connect call."""
        return self._address

    def disconnect(self):
        """Record the request to disconnect."""
        self._disconnected = True

    def stopConnecting(self):
        """Record the request to stop connecting."""
        self.stoppedConnecting = True

    def connect(self):
        """Record another connection attempt (``connectCalls``)."""
        self.connectCalls += 1


def _inetAddress(kind, host, port):
    if ":" in host:
        return IPv6Address(kind, host, port)
    return IPv4Address(kind, host or "0.0.0.0", port)


@implementer(IReactorCore, IReactorFDSet, IReactorTCP, IReactorSSL, IReactorUNIX, IReactorUDP)
class MemoryReactor:
    """
    A reactor that records what is asked of it and does no I/O.

    listenTCP appends ``(port, factory, backlog, interface)`` to
    ``tcpServers``; connectTCP appends ``(host, port, factory, timeout,
    bindAddress)`` to ``tcpClients``; likewise ``sslServers``,
    ``sslClients``, ``unixServers``, ``unixClients`` and ``udpServers``.
    Connectors are also kept in ``connectors``, and each connect call
    tells its factory ``startedConnecting(connector)``, as a real reactor
    does.  A test takes the factory from one of these lists and connects
    its protocol to a StringTransport.

    :ivar triggers: ``{phase: {event: [(callable, args, kwargs), ...]}}``.
    """

    def __init__(self):
        self.hasInstalled = False
        self.running = False
        self.hasRun = False
        self.hasStopped = False
        self.hasCrashed = False
        self.whenRunningHooks = []
        self.triggers = {}
        self.tcpServers = []
        self.tcpClients = []
        self.sslServers = []
        self.sslClients = []
        self.unixServers = []
        self.unixClients = []
        self.udpServers = []
        self.connectors = []
        self.readers = set()
        self.writers = set()

    def install(self):
        """Pretend to install this reactor (``hasInstalled``)."""
        self.hasInstalled = True

    def resolve(self, name, timeout=10):
        """Not supported: a test should not resolve names."""
        raise NotImplementedError("MemoryReactor does not resolve names")

    def run(self):
        """Mark the reactor running, run callWhenRunning hooks and startup."""
        if self.running:
            raise error.ReactorAlreadyRunning()
        self.running = True
        self.hasRun = True
        hooks, self.whenRunningHooks = self.whenRunningHooks, []
        for callable, args, kwargs in hooks:
            callable(*args, **kwargs)
        self.fireSystemEvent("startup")

    def stop(self):
        """Mark the reactor stopped and fire the shutdown triggers."""
        if not self.running:
            raise error.ReactorNotRunning()
        self.hasStopped = True
        self.fireSystemEvent("shutdown")
        self.running = False

    def crash(self):
        """Mark the reactor crashed (stopped without shutdown triggers)."""
        self.hasCrashed = True
        self.running = False

    def iterate(self, delay=0):
        """Do nothing: there is no I/O to dispatch."""

    def fireSystemEvent(self, eventType):
        """Call the before, during and after triggers of eventType, in order."""
        for phase in ("before", "during", "after"):
            for callable, args, kwargs in list(self.triggers.get(phase, {}).get(eventType, [])):
                callable(*args, **kwargs)

    def addSystemEventTrigger(self, phase, eventType, callable, *args, **kw):
        """Record a trigger; return an id for removeSystemEventTrigger."""
        if phase not in ("before", "during", "after"):
            raise KeyError("invalid phase %r" % (phase,))
        entry = (callable, args, kw)
        self.triggers.setdefault(phase, {}).setdefault(eventType, []).append(entry)
        return (phase, eventType, entry)

    def removeSystemEventTrigger(self, triggerID):
        """Remove a trigger added with addSystemEventTrigger."""
        phase, eventType, entry = triggerID
        self.triggers[phase][eventType].remove(entry)

    def callWhenRunning(self, callable, *args, **kw):
        """Record callable, to run when run() is called (now, if running)."""
        if self.running:
            return callable(*args, **kw)
        self.whenRunningHooks.append((callable, args, kw))
        return None

    # -- listening and connecting ---------------------------------------------

    def listenTCP(self, port, factory, backlog=50, interface=""):
        """Record the call; return a port whose getHost() shows port."""
        self.tcpServers.append((port, factory, backlog, interface))
        return _FakePort(_inetAddress("TCP", interface, port))

    def connectTCP(self, host, port, factory, timeout=30, bindAddress=None):
        """Record the call; return a connector for (host, port), told to factory."""
        self.tcpClients.append((host, port, factory, timeout, bindAddress))
        return self._connector(factory, _inetAddress("TCP", host, port))

    def listenSSL(self, port, factory, contextFactory, backlog=50, interface=""):
        """Record the call; return a port whose getHost() shows port."""
        self.sslServers.append((port, factory, contextFactory, backlog, interface))
        return _FakePort(_inetAddress("TCP", interface, port))

    def connectSSL(self, host, port, factory, contextFactory, timeout=30, bindAddress=None):
        """Record the call; return a connector for (host, port), told to factory."""
        self.sslClients.append((host, port, factory, contextFactory, timeout, bindAddress))
        return self._connector(factory, _inetAddress("TCP", host, port))

    def listenUNIX(self, address, factory, backlog=50, mode=None, wantPID=False):
        """Record the call; return a port whose getHost() shows address."""
        self.unixServers.append((address, factory, backlog, mode, wantPID))
        return _FakePort(UNIXAddress(address))

    def connectUNIX(self, address, factory, timeout=30, checkPID=False):
        """Record the call; return a connector for address, told to factory."""
        self.unixClients.append((address, factory, timeout, checkPID))
        return self._connector(factory, UNIXAddress(address))

    def listenUDP(self, port, protocol, interface="", maxPacketSize=8192):
        """Record the call; return a port whose getHost() shows port."""
        self.udpServers.append((port, protocol, interface, maxPacketSize))
        return _FakePort(_inetAddress("UDP", interface, port))

    def _connector(self, factory, address):
        # As a real connector does, and Twisted's MemoryReactor: the factory
        # hears startedConnecting before the call returns (and, as in
        # Twisted's, before the connector is in ``connectors``).
        connector = _FakeConnector(address)
        factory.startedConnecting(connector)
        self.connectors.append(connector)
        return connector

    # -- descriptors ------------------------------------------------------------

    def addReader(self, reader):
        """Add reader to ``readers``."""
        self.readers.add(reader)

    def removeReader(self, reader):
        """Remove reader from ``readers`` (if there)."""
        self.readers.discard(reader)

    def addWriter(self, writer):
        """Add writer to ``writers``."""
        self.writers.add(writer)

    def removeWriter(self, writer):
        """Remove writer from ``writers`` (if there)."""
        self.writers.discard(writer)

    def removeAll(self):
        """Remove every reader and writer; return them as a list."""
        everything = list(self.readers | self.writers)
        self.readers.clear()
        self.writers.clear()
        return everything

    def getReaders(self):
        """Return the readers, as a list."""
        return list(self.readers)

    def getWriters(self):
        """Return the writers, as a list."""
        return list(self.writers)


class MemoryReactorClock(MemoryReactor, Clock):
    """A MemoryReactor that also keeps time like task.Clock (callLater, advance)."""

    def __init__(self):
        MemoryReactor.__init__(self)
        Clock.__init__(self)
