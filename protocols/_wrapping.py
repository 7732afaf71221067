"""
ProtocolWrapper and WrappingFactory: the wrapper every policy is built on.
Import them from protocols.policies, which re-exports them; they live here so
that protocols.policies and protocols.throttling can both build on them
without importing each other.

The one idea: a ProtocolWrapper sits between transport and protocol.  The
transport sees the wrapper as its protocol; the wrapped protocol sees the
wrapper as its transport.  So a policy is a wrapper that overrides a few
calls on the way through (``dataReceived`` in, ``write`` out) and passes
everything else along, including any transport attribute it does not know
(``getBufferSize``, ``setTcpNoDelay``, ...).
"""

from zope.interface import directlyProvides, providedBy

from protocols.protocol import ClientFactory, Protocol
from reactor.interfaces import IHalfCloseableProtocol

__all__ = ["ProtocolWrapper", "WrappingFactory"]


class ProtocolWrapper(Protocol):
    """
    Stands between a transport and the protocol it carries.

    To the transport it is the protocol; to ``wrappedProtocol`` it is the
    transport, and it provides whatever interfaces the real transport
    provides (and IHalfCloseableProtocol when the wrapped protocol does).
    Unknown attributes are looked up on the real transport.

    :ivar wrappedProtocol: the protocol being wrapped; None once the
        connection is lost (as in Twisted), so that a closed connection's
        wrapper, kept somewhere, does not keep its protocol alive.
    :ivar factory: the WrappingFactory that built this wrapper; it is told
        ``registerProtocol(self)`` on connect, ``unregisterProtocol(self)``
        on disconnect.
    """

    _disconnecting = False
    _lostPrefix = None  # the wrapped protocol's log prefix, kept once it is let go
    # A class attribute, so that reading it never falls through __getattr__
    # to the transport.
    _counted = False

    def __init__(self, factory, wrappedProtocol):
        self.factory = factory
        self.wrappedProtocol = wrappedProtocol

    def markCounted(self):
        """
        Note that a connection-counting factory counted this connection.

        For the factories that count connections (LimitTotalConnectionsFactory,
        LimitConnectionsByPeer, ThrottlingFactory): they count when they build
        the wrapper and uncount in unregisterProtocol, which may run more than
        once for one connection; takeCounted() makes the uncount happen once.
        """
        self._counted = True

    def takeCounted(self):
        """Return True if markCounted() was called and not taken since: the one time to uncount."""
        counted, self._counted = self._counted, False
        return counted

    def logPrefix(self):
        """Return the wrapped protocol's log prefix, followed by this class's name."""
        return "%s (%s)" % (self._wrappedPrefix(), type(self).__name__)

    def _wrappedPrefix(self):
        wrapped = self.wrappedProtocol
        if wrapped is None and self._lostPrefix is not None:
            return self._lostPrefix
        logPrefix = getattr(wrapped, "logPrefix", None)
        return logPrefix() if logPrefix else type(wrapped).__name__

    def __getattr__(self, name):
        # Only called for attributes the wrapper lacks: ask the transport.
        transport = self.__dict__.get("transport")
        if transport is None or name.startswith("__"):
            raise AttributeError(name)
        return getattr(transport, name)

    def makeConnection(self, transport):
        """Attach transport, register with the factory, connect the wrapped protocol."""
        interfaces = list(providedBy(transport))
        if IHalfCloseableProtocol.providedBy(self.wrappedProtocol):
            interfaces.append(IHalfCloseableProtocol)
        directlyProvides(self, *interfaces)
        Protocol.makeConnection(self, transport)
        self.factory.registerProtocol(self)
        self.wrappedProtocol.makeConnection(self)

    # -- the transport side (called by the wrapped protocol) --------------------

    @property
    def autoPauseReading(self):
        """The wrapped protocol's choice (the transport asks the wrapper)."""
        return getattr(self.wrappedProtocol, "autoPauseReading", None)

    @property
    def disconnecting(self):
        """True once loseConnection was called here or on the real transport."""
        return self._disconnecting or getattr(self.transport, "disconnecting", False)

    def write(self, data):
        """Pass data to the transport."""
        self.transport.write(data)

    def writeSequence(self, data):
        """Pass an iterable of bytes to the transport."""
        self.transport.writeSequence(data)

    def loseConnection(self):
        """Ask the transport to close cleanly."""
        self._disconnecting = True
        self.transport.loseConnection()

    def abortConnection(self):
        """Ask the transport to close at once."""
        self._disconnecting = True
        self.transport.abortConnection()

    def getPeer(self):
        """Return the transport's peer address."""
        return self.transport.getPeer()

    def getHost(self):
        """Return the transport's own address."""
        return self.transport.getHost()

    def registerProducer(self, producer, streaming):
        """Register producer with the transport."""
        self.transport.registerProducer(producer, streaming)

    def unregisterProducer(self):
        """Unregister the transport's producer."""
        self.transport.unregisterProducer()

    def stopConsuming(self):
        """Unregister the producer and close (Twisted's IConsumer extra)."""
        self.transport.unregisterProducer()
        self.transport.loseConnection()

    def pauseProducing(self):
        """Stop the transport reading."""
        self.transport.pauseProducing()

    def resumeProducing(self):
        """Let the transport read again."""
        self.transport.resumeProducing()

    def stopProducing(self):
        """Stop the transport for good."""
        self.transport.stopProducing()

    # -- the protocol side (called by the transport) ------------------------------

    def dataReceived(self, data):
        """Pass data to the wrapped protocol."""
        self.wrappedProtocol.dataReceived(data)

    def readConnectionLost(self):
        """Pass the half-close on (only offered when the wrapped protocol takes it)."""
        self.wrappedProtocol.readConnectionLost()

    def writeConnectionLost(self):
        """Pass the half-close on (only offered when the wrapped protocol takes it)."""
        self.wrappedProtocol.writeConnectionLost()

    def connectionLost(self, reason):
        """
        Unregister from the factory, tell the wrapped protocol, then let go
        of it (``wrappedProtocol`` becomes None, as in Twisted; the log
        prefix still names it).
        """
        self.factory.unregisterProtocol(self)
        wrapped = self.wrappedProtocol
        if wrapped is None:
            return  # lost already: the protocol was told once
        try:
            wrapped.connectionLost(reason)
        finally:
            self._lostPrefix = self._wrappedPrefix()
            self.wrappedProtocol = None


class WrappingFactory(ClientFactory):
    """
    Wraps each protocol that ``wrappedFactory`` builds in ``protocol``.

    Start, stop and client connection events are passed to the wrapped
    factory.  A None from the wrapped factory (connection refused) is
    passed back as None.

    :ivar protocols: the live wrappers, as a dict {wrapper: 1} (Twisted's shape).
    """

    protocol: type[ProtocolWrapper] = ProtocolWrapper

    def __init__(self, wrappedFactory):
        self.wrappedFactory = wrappedFactory
        self.protocols = {}

    def logPrefix(self):
        """Return the wrapped factory's log prefix, followed by this class's name."""
        logPrefix = getattr(self.wrappedFactory, "logPrefix", None)
        inner = logPrefix() if logPrefix else type(self.wrappedFactory).__name__
        return "%s (%s)" % (inner, type(self).__name__)

    def doStart(self):
        """Start the wrapped factory, then this one."""
        self.wrappedFactory.doStart()
        ClientFactory.doStart(self)

    def doStop(self):
        """Stop the wrapped factory, then this one."""
        self.wrappedFactory.doStop()
        ClientFactory.doStop(self)

    def startedConnecting(self, connector):
        """Pass on to the wrapped factory."""
        self._forward("startedConnecting", connector)

    def clientConnectionFailed(self, connector, reason):
        """Pass on to the wrapped factory."""
        self._forward("clientConnectionFailed", connector, reason)

    def clientConnectionLost(self, connector, reason):
        """Pass on to the wrapped factory."""
        self._forward("clientConnectionLost", connector, reason)

    def _forward(self, name, *args):
        method = getattr(self.wrappedFactory, name, None)
        if method is not None:
            method(*args)

    def buildProtocol(self, addr):
        """Return ``protocol(self, wrapped)``, or None if the wrapped factory refused."""
        wrapped = self.wrappedFactory.buildProtocol(addr)
        if wrapped is None:
            return None
        return self.protocol(self, wrapped)

    def registerProtocol(self, protocol):
        """A wrapper connected: add it to ``protocols``."""
        self.protocols[protocol] = 1

    def unregisterProtocol(self, protocol):
        """A wrapper disconnected: remove it from ``protocols``."""
        self.protocols.pop(protocol, None)
