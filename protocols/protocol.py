"""
Protocols and the factories that build them: the application side of a
connection.

A transport owns the socket and calls its protocol back: ``makeConnection``
once, ``dataReceived`` for each chunk, ``connectionLost`` exactly once at the
end.  A factory builds one protocol per connection and is told, through
``doStart``/``doStop``, when the ports and connectors using it come and go.
The names and behaviour are Twisted's (twisted.internet.protocol).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Generic, Self, TypeVar

from zope.interface import implementer

from reactor import defer, error, getReactor, log
from reactor.failure import Failure
from reactor.interfaces import (
    IAddress,
    IConnector,
    IDelayedCall,
    ILoggingContext,
    IProcessProtocol,
    IProtocol,
    IProtocolFactory,
    IReactorTime,
    ITransport,
)
from reactor.logger import loggerFor

__all__ = [
    "BaseProtocol",
    "ClientCreator",
    "ClientFactory",
    "ConnectedDatagramProtocol",
    "DatagramProtocol",
    "Factory",
    "ProcessProtocol",
    "Protocol",
    "ReconnectingClientFactory",
    "ServerFactory",
    "connectionDone",
]

# Built once: every clean close passes this same Failure to connectionLost.
connectionDone = Failure(error.ConnectionDone())


# -- factories ----------------------------------------------------------------


@implementer(IProtocolFactory, ILoggingContext)
class Factory:
    """
    Builds protocols for connections.

    Set ``protocol`` to the protocol class; ``buildProtocol`` calls it with
    no arguments and sets the new protocol's ``factory``.

    :ivar numPorts: how many ports or connectors are using this factory.
    :ivar noisy: log when the factory starts and stops.
    """

    protocol: Callable[..., Protocol] | None = None
    numPorts = 0
    noisy = True

    @classmethod
    def forProtocol(cls, protocol: Callable[..., Protocol], *args: Any, **kwargs: Any) -> Self:
        """
        Return a new factory (built with args and kwargs) for protocol.

        :param protocol: the protocol class (any callable returning an
            IProtocol provider).
        """
        factory = cls(*args, **kwargs)
        factory.protocol = protocol
        return factory

    def logPrefix(self) -> str:
        """Return the prefix for log lines about this factory: its class name."""
        return self.__class__.__name__

    def doStart(self) -> None:
        """
        A port or connector started using this factory.

        The first one calls ``startFactory``.
        """
        if not self.numPorts:
            if self.noisy:
                # Twisted's line, logged as Twisted 26 does: at info, in the
                # factory's namespace, with the factory as a field.
                loggerFor(self).info("Starting factory {factory!r}", factory=self)
            self.startFactory()
        self.numPorts += 1

    def doStop(self) -> None:
        """
        A port or connector stopped using this factory.

        The last one calls ``stopFactory``; an unbalanced call is ignored.
        """
        if not self.numPorts:
            return
        self.numPorts -= 1
        if not self.numPorts:
            if self.noisy:
                loggerFor(self).info("Stopping factory {factory!r}", factory=self)
            self.stopFactory()

    def startFactory(self) -> None:
        """Prepare for connections (open files, databases); override as needed."""

    def stopFactory(self) -> None:
        """Release what startFactory acquired; override as needed."""

    def buildProtocol(self, addr: IAddress) -> Protocol | None:
        """
        Return a new protocol for a connection with addr, or None to refuse it.

        :param addr: the IAddress of the peer.
        """
        # No check that protocol was set: calling None raises TypeError,
        # as in Twisted, at no cost per connection.
        protocol = self.protocol()  # type: ignore[misc]
        protocol.factory = self
        return protocol


class ServerFactory(Factory):
    """A factory for protocols of connections accepted by a listening port."""


class ClientFactory(Factory):
    """A factory for client connections, told how each attempt goes."""

    def startedConnecting(self, connector: IConnector) -> None:
        """A connection attempt through connector has begun."""

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        """
        A connection attempt failed.

        :param reason: a Failure (ConnectionRefusedError, TimeoutError, ...).
        """

    def clientConnectionLost(self, connector: IConnector, reason: Failure) -> None:
        """An established connection was lost; call connector.connect() to retry."""


class ReconnectingClientFactory(ClientFactory):
    """
    A client factory that reconnects after a failed or lost connection.

    The first retry waits ``initialDelay``; each later one waits ``factor``
    times longer, with a normal random spread of ``jitter`` (relative) so
    that many clients do not retry in step, and never more than
    ``maxDelay`` (unlike Twisted, also after the jitter).  Call
    ``resetDelay()`` once connected (typically from ``buildProtocol``), and
    ``stopTrying()`` to give up.

    :ivar clock: the IReactorTime used to schedule retries; the global
        reactor when left as None.
    """

    maxDelay: float = 3600
    initialDelay = 1.0
    factor = 2.7182818284590451
    jitter = 0.11962656472
    delay = initialDelay
    retries = 0
    maxRetries: int | None = None
    continueTrying = True
    connector: IConnector | None = None
    clock: IReactorTime | None = None
    _callID: IDelayedCall | None = None

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        """Schedule a retry, unless stopTrying() was called."""
        if self.continueTrying:
            self.connector = connector
            self.retry()

    def clientConnectionLost(self, connector: IConnector, reason: Failure) -> None:
        """Schedule a retry, unless stopTrying() was called."""
        if self.continueTrying:
            self.connector = connector
            self.retry()

    def retry(self, connector: IConnector | None = None) -> None:
        """
        Schedule connector.connect() after the current delay, then grow it.

        The first retry since creation or resetDelay() waits
        ``initialDelay`` (jittered), as in Twisted; each later one waits
        ``factor`` times longer, up to ``maxDelay``.  Afterwards ``delay``
        holds what the next retry will wait, before jitter.

        :param connector: the connector to retry; the last one seen if None.
        :raises ValueError: if there is no connector to retry.
        """
        if not self.continueTrying:
            if self.noisy:
                log.msg("Abandoning %r on explicit request" % (connector,))
            return
        if connector is None:
            if self.connector is None:
                raise ValueError("no connector to retry")
            connector = self.connector
        if self.retries == 0:
            # Also when initialDelay was set on the instance: Twisted's
            # class-level ``delay`` ignores that until resetDelay()
            # (test_instanceInitialDelayIsTheFirstDelay).
            self.delay = self.initialDelay
        self.retries += 1
        if self.maxRetries is not None and self.retries > self.maxRetries:
            if self.noisy:
                log.msg("Abandoning %r after %d retries." % (connector, self.retries))
            return
        delay = self._jittered(self.delay)
        if self.noisy:
            log.msg("%r will retry in %g seconds" % (connector, delay))
        if self.clock is None:
            self.clock = getReactor()
        self._callID = self.clock.callLater(delay, self._reconnect, connector)
        # Grown from the delay before jitter: jitter spreads each wait but
        # does not random-walk the schedule, nor pin it at 0 once a wait was
        # clamped there (a busy reconnect loop; test_wildJitterNeverPinsTheDelayAtZero).
        self.delay = min(max(self.delay, self.initialDelay) * self.factor, self.maxDelay)

    def _jittered(self, delay: float) -> float:
        if self.jitter:
            import random  # here, not at import time: it slows loomd's start

            delay = random.normalvariate(delay, delay * self.jitter)
        return max(0.0, min(delay, self.maxDelay))

    def _reconnect(self, connector: IConnector) -> None:
        self._callID = None
        connector.connect()

    def stopTrying(self) -> None:
        """Cancel the pending retry and stop any connection attempt under way."""
        if self._callID is not None:
            if self._callID.active():
                self._callID.cancel()
            self._callID = None
        self.continueTrying = False
        if self.connector is not None:
            try:
                self.connector.stopConnecting()
            except error.NotConnectingError:
                pass

    def resetDelay(self) -> None:
        """Start again from initialDelay and zero retries (call once connected)."""
        self.delay = self.initialDelay
        self.retries = 0
        self._callID = None
        self.continueTrying = True


# -- protocols ----------------------------------------------------------------


class BaseProtocol:
    """
    The part every protocol shares: being attached to a transport.

    :ivar connected: True once makeConnection has run.
    :ivar transport: the transport, once connected.
    """

    connected = False
    transport: ITransport | None = None

    def makeConnection(self, transport: ITransport) -> None:
        """Attach transport and call connectionMade."""
        self.connected = True
        self.transport = transport
        self.connectionMade()

    def connectionMade(self) -> None:
        """The connection is up and self.transport is set; override as needed."""


@implementer(IProtocol, ILoggingContext)
class Protocol(BaseProtocol):
    """
    The base class for stream protocols: override dataReceived.

    :ivar factory: the factory that built this protocol, if any.
    :cvar autoPauseReading: whether the transport stops reading from the
        connection while more than ``transport.highWater`` bytes wait to be
        sent (and no producer is registered), until they drain to
        ``transport.lowWater``.  None (the default) leaves it to the
        transport: on for connections a server accepted, so that a client
        that sends without reading cannot make the answers pile up; off for
        outgoing connections.  True or False, on the class or the instance,
        decides for this protocol (see doc/transports.md, "Backpressure").
    :cvar holdWrites: True to have the transport hold what is written (up
        to 64 KiB at a time) until the end of the reactor's turn, and send
        it then with whatever else the turn wrote, in one system call: for
        a server answering many connections at each turn, whose answers
        then leave together (see doc/transports.md, "Writing").  Read when
        the connection starts.  False by default: each write goes to the
        kernel at once.
    """

    factory: Factory | None = None
    autoPauseReading: bool | None = None
    holdWrites = False

    def logPrefix(self) -> str:
        """Return the prefix for log lines about this protocol: its class name."""
        return self.__class__.__name__

    def dataReceived(self, data: bytes) -> None:
        """
        Bytes arrived: any number of them, cut anywhere.

        :param data: a bytes chunk; protocols must not rely on its boundaries.
        """

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """
        The connection is gone; called exactly once.

        :param reason: a Failure of ConnectionDone (clean) or ConnectionLost.
        """


@implementer(IProcessProtocol)
class ProcessProtocol(BaseProtocol):
    """The application side of a child process: output, exit, end."""

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        """Data from the child on childFD; 1 goes to outReceived, 2 to errReceived."""
        if childFD == 1:
            self.outReceived(data)
        elif childFD == 2:
            self.errReceived(data)

    def outReceived(self, data: bytes) -> None:
        """The child wrote data to its standard output."""

    def errReceived(self, data: bytes) -> None:
        """The child wrote data to its standard error."""

    def childConnectionLost(self, childFD: int) -> None:
        """The child's descriptor childFD closed; 0, 1, 2 dispatch to *ConnectionLost."""
        if childFD == 0:
            self.inConnectionLost()
        elif childFD == 1:
            self.outConnectionLost()
        elif childFD == 2:
            self.errConnectionLost()

    def inConnectionLost(self) -> None:
        """The child's standard input closed."""

    def outConnectionLost(self) -> None:
        """The child closed its standard output."""

    def errConnectionLost(self) -> None:
        """The child closed its standard error."""

    def processExited(self, reason: Failure) -> None:
        """
        The child exited; its descriptors may still be open.

        :param reason: a Failure of ProcessDone or ProcessTerminated.
        """

    def processEnded(self, reason: Failure) -> None:
        """The child exited and all its descriptors are closed; reason as above."""


@implementer(ILoggingContext)
class DatagramProtocol:
    """
    The protocol of a UDP port: one instance for every datagram it receives.

    :ivar transport: the port (IUDPTransport) while listening.
    :ivar numPorts: how many ports use this protocol.
    """

    # The port: an IUDPTransport (Any: users call the port's own methods).
    transport: Any = None
    numPorts = 0
    noisy = True

    def logPrefix(self) -> str:
        """Return the prefix for log lines: the class name."""
        return self.__class__.__name__

    def doStart(self) -> None:
        """A port started using this protocol; the first calls startProtocol."""
        if not self.numPorts:
            if self.noisy:
                log.msg("Starting protocol %r" % (self,))
            self.startProtocol()
        self.numPorts += 1

    def doStop(self) -> None:
        """A port stopped using this protocol; the last calls stopProtocol."""
        if not self.numPorts:
            return
        self.numPorts -= 1
        self.transport = None
        if not self.numPorts:
            if self.noisy:
                log.msg("Stopping protocol %r" % (self,))
            self.stopProtocol()

    def startProtocol(self) -> None:
        """The protocol is listening; override as needed."""

    def stopProtocol(self) -> None:
        """The protocol stopped listening; override as needed."""

    def makeConnection(self, transport: Any) -> None:
        """
        Attach the port and start the protocol.

        :raises RuntimeError: if a transport is already attached.
        """
        if self.transport is not None:
            raise RuntimeError("%r is already attached to %r" % (self, self.transport))
        self.transport = transport
        self.doStart()

    def datagramReceived(self, datagram: bytes, addr: Any) -> None:
        """
        A datagram arrived.

        :param datagram: the bytes; :param addr: the sender, (host, port).
        """

    def connectionRefused(self) -> None:
        """A datagram sent on a connected port was refused (ICMP unreachable)."""


class ConnectedDatagramProtocol(DatagramProtocol):
    """A datagram protocol for a port connected to one peer."""

    def datagramReceived(self, datagram: bytes) -> None:  # type: ignore[override]  # Twisted's
        """A datagram arrived from the connected peer."""

    def connectionFailed(self, failure: Failure) -> None:
        """Connecting the port failed (for instance, the name did not resolve)."""


# -- ClientCreator ------------------------------------------------------------

# The protocol ClientCreator connects.  Bound to the class itself, not to its
# name: a name would be compiled at import (typing.ForwardRef), which costs
# loomd's start-up about a millisecond.
_ProtocolT = TypeVar("_ProtocolT", bound=Protocol)


class _InstanceFactory(ClientFactory):
    """
    A client factory for one protocol instance, firing a Deferred with it.

    The Deferred fires one reactor turn after buildProtocol, so that it fires
    after the protocol's connectionMade, as in Twisted.
    """

    noisy = False
    pending: IDelayedCall | None = None

    def __init__(
        self, reactor: IReactorTime, instance: Protocol, deferred: defer.Deferred[Any]
    ) -> None:
        self.reactor = reactor
        self.instance = instance
        self.deferred: defer.Deferred[Any] | None = deferred

    def __repr__(self) -> str:
        return "<ClientCreator factory: %r>" % (self.instance,)

    def buildProtocol(self, addr: IAddress) -> Protocol:
        # Not None: a connection is built at most once, and a cancel stops
        # the attempt before it can be.
        deferred, self.deferred = self.deferred, None
        callback = deferred.callback  # type: ignore[union-attr]
        self.pending = self.reactor.callLater(0, self._fire, callback, self.instance)
        return self.instance

    def clientConnectionFailed(self, connector: IConnector, reason: Failure) -> None:
        deferred, self.deferred = self.deferred, None
        if deferred is not None:
            self.pending = self.reactor.callLater(0, self._fire, deferred.errback, reason)

    def _fire(self, fire: Callable[[Any], object], value: object) -> None:
        self.pending = None
        fire(value)


class ClientCreator(Generic[_ProtocolT]):
    """
    Connect one protocol instance, built from a class and arguments.

    ``ClientCreator(reactor, Echo, "greeting").connectTCP(host, port)``
    returns a Deferred firing with the connected Echo instance, or failing
    with the connection error.  Cancelling it stops the attempt.  (Endpoints
    and ``connectProtocol`` are the newer way to do this.)
    """

    def __init__(
        self, reactor: Any, protocolClass: Callable[..., _ProtocolT], *args: Any, **kwargs: Any
    ) -> None:
        self.reactor = reactor
        self.protocolClass = protocolClass
        self.args = args
        self.kwargs = kwargs

    def _connect(
        self, method: Callable[..., IConnector], *args: Any, **kwargs: Any
    ) -> defer.Deferred[_ProtocolT]:
        def cancelConnect(deferred: defer.Deferred[_ProtocolT]) -> None:
            # The attempt's own late failure must not fire the Deferred again.
            factory.deferred = None
            connector.disconnect()
            if factory.pending is not None:
                factory.pending.cancel()
                factory.pending = None

        deferred: defer.Deferred[_ProtocolT] = defer.Deferred(cancelConnect)
        instance = self.protocolClass(*self.args, **self.kwargs)
        factory = _InstanceFactory(self.reactor, instance, deferred)
        connector = method(*args, factory=factory, **kwargs)
        return deferred

    def connectTCP(
        self,
        host: str,
        port: int,
        timeout: float = 30,
        bindAddress: tuple[str, int] | None = None,
    ) -> defer.Deferred[_ProtocolT]:
        """Connect over TCP; return a Deferred firing with the protocol."""
        return self._connect(
            self.reactor.connectTCP, host, port, timeout=timeout, bindAddress=bindAddress
        )

    def connectUNIX(
        self, address: str, timeout: float = 30, checkPID: bool = False
    ) -> defer.Deferred[_ProtocolT]:
        """Connect to a UNIX socket; return a Deferred firing with the protocol."""
        return self._connect(self.reactor.connectUNIX, address, timeout=timeout, checkPID=checkPID)

    def connectSSL(
        self,
        host: str,
        port: int,
        contextFactory: Any,
        timeout: float = 30,
        bindAddress: tuple[str, int] | None = None,
    ) -> defer.Deferred[_ProtocolT]:
        """Connect over TLS; return a Deferred firing with the protocol."""
        return self._connect(
            self.reactor.connectSSL,
            host,
            port,
            contextFactory=contextFactory,
            timeout=timeout,
            bindAddress=bindAddress,
        )
