"""
Policies: factories that wrap another factory's protocols to watch or limit
their connections (idle timeouts, bandwidth and connection limits, traffic
logs) without the wrapped protocol knowing.  ThrottlingFactory and
ThrottlingProtocol are importable from here; they live in protocols.throttling.

The one idea: a ProtocolWrapper sits between transport and protocol.  The
transport sees the wrapper as its protocol; the wrapped protocol sees the
wrapper as its transport.  So a policy is a wrapper that overrides a few
calls on the way through (``dataReceived`` in, ``write`` out) and passes
everything else along, including any transport attribute it does not know
(``getBufferSize``, ``setTcpNoDelay``, ...).

Where Loom differs from Twisted, on purpose:

- ThrottlingFactory throttles as soon as a limit is crossed, not only at the
  next one-second check, and carries an overshoot over into the following
  seconds, so the average rate really stays under the limit.  Its pauses are
  combined with the transport's own backpressure and the wrapped protocol's
  own pauses: a throttle never resumes something another party paused.
- TimeoutProtocol, after asking for a clean close on timeout, aborts the
  connection if it is still open ``abortTimeout`` seconds later: a peer that
  neither speaks nor reads cannot pin a buffer for ever.
- TimeoutFactory can also cap a connection's total ``lifetime``, whatever
  it sends: an idle timeout alone is beaten by one byte every few seconds.
- The connection counters move as Twisted's do (up when a protocol is built,
  down when its connection is lost), but each connection is uncounted
  exactly once, under the key it was counted under, and
  LimitConnectionsByPeer works with address objects, not only tuples.
"""

from zope.interface import directlyProvides, providedBy

from protocols.protocol import ClientFactory, Protocol, ServerFactory
from reactor import log, ratelimit
from reactor.interfaces import IHalfCloseableProtocol

__all__ = [
    "LimitConnectionsByPeer",
    "LimitTotalConnectionsFactory",
    "ProtocolWrapper",
    "SpewingFactory",
    "SpewingProtocol",
    "TimeoutFactory",
    "TimeoutMixin",
    "TimeoutProtocol",
    "TrafficLoggingFactory",
    "TrafficLoggingProtocol",
    "WrappingFactory",
]


def __getattr__(name):
    # The throttling policy lives in protocols.throttling (it builds on the
    # wrapper defined here); import it on first use to avoid an import cycle.
    if name in ("ThrottlingFactory", "ThrottlingProtocol"):
        from protocols import throttling

        return getattr(throttling, name)
    raise AttributeError("module %r has no attribute %r" % (__name__, name))


def _globalReactor():
    # Imported on use: importing this module must not install a reactor.
    import reactor as loom

    return loom.reactor


# -- wrapping -------------------------------------------------------------------


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

    def __init__(self, factory, wrappedProtocol):
        self.factory = factory
        self.wrappedProtocol = wrappedProtocol

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


# -- timeouts --------------------------------------------------------------------


class TimeoutMixin:
    """
    Drop a connection that stays idle for ``timeOut`` seconds.

    Call ``setTimeout(seconds)`` to arm it (None disarms), ``resetTimeout()``
    on activity; ``timeoutConnection()`` runs on expiry (by default it calls
    ``transport.loseConnection()``).  Timers are scheduled by ``callLater``,
    which uses the ``clock`` attribute, else a ``reactor`` attribute, else
    the global reactor; tests set ``clock`` to a task.Clock.

    :ivar timeOut: the current period in seconds, or None.
    :ivar timeoutCall: the IDelayedCall of the armed timeout, or None (not
        armed, or already fired).  Public, as Twisted's TimeoutProtocol has
        it: code may read it (``timeoutCall.getTime()``), cancel it, or put
        its own call there; a call found cancelled or already run is
        treated as no call.
    """

    timeOut = None
    clock = None
    timeoutCall = None

    def callLater(self, period, func):
        """Schedule func after period seconds; return the IDelayedCall."""
        clock = self.clock or getattr(self, "reactor", None) or _globalReactor()
        return clock.callLater(period, func)

    def resetTimeout(self):
        """There was activity: restart the countdown (if armed)."""
        call = self.timeoutCall
        if call is not None and self.timeOut is not None and call.active():
            call.reset(self.timeOut)

    def setTimeout(self, period):
        """
        Arm the timeout for period seconds from now, or disarm it with None.

        :return: the previous period (or None).
        """
        previous, self.timeOut = self.timeOut, period
        call, self.timeoutCall = self.timeoutCall, None
        if call is not None and call.active():
            if period is not None:
                call.reset(period)
                self.timeoutCall = call
                return previous
            call.cancel()
        if period is not None:
            self.timeoutCall = self.callLater(period, self._timedOut)
        return previous

    def _timedOut(self):
        self.timeoutCall = None
        self.timeoutConnection()

    def timeoutConnection(self):
        """The connection was idle too long: close it (override to do more)."""
        self.transport.loseConnection()


class TimeoutProtocol(ProtocolWrapper, TimeoutMixin):
    """
    A wrapper that closes the connection after ``timeoutPeriod`` idle seconds,
    or ``lifetime`` seconds after it was made, whichever comes first.

    Reads and writes both count as activity; nothing postpones the end of
    the lifetime.  Either way it asks for a clean close; if the connection
    is still there ``abortTimeout`` seconds later (the peer is not reading
    what is buffered), it aborts it.  Timers go through ``factory.callLater``.

    :param timeoutPeriod: idle seconds allowed, or None for no idle timeout.
    :param lifetime: seconds the connection may last, or None for no limit.
    """

    abortTimeout = 30
    _abortCall = None
    _lifetimeCall = None

    def __init__(self, factory, wrappedProtocol, timeoutPeriod, lifetime=None):
        ProtocolWrapper.__init__(self, factory, wrappedProtocol)
        self.timeoutPeriod = timeoutPeriod
        self.lifetime = lifetime

    def callLater(self, period, func):
        """Schedule through the factory (so a test can replace its clock)."""
        return self.factory.callLater(period, func)

    def makeConnection(self, transport):
        """Arm the timeouts, then connect as any wrapper does."""
        self.setTimeout(self.timeoutPeriod)
        if self.lifetime is not None:
            self._lifetimeCall = self.callLater(self.lifetime, self._lifetimeOver)
        ProtocolWrapper.makeConnection(self, transport)

    def write(self, data):
        """Write data and restart the countdown."""
        self.resetTimeout()
        ProtocolWrapper.write(self, data)

    def writeSequence(self, data):
        """Write the sequence and restart the countdown."""
        self.resetTimeout()
        ProtocolWrapper.writeSequence(self, data)

    def dataReceived(self, data):
        """Restart the countdown and pass data on."""
        self.resetTimeout()
        ProtocolWrapper.dataReceived(self, data)

    def setTimeout(self, timeoutPeriod=None):
        """
        Arm the idle timeout for timeoutPeriod seconds from now, or disarm it
        (None, the default, as in Twisted's TimeoutProtocol).

        :return: the previous period (or None).
        """
        self.timeoutPeriod = timeoutPeriod
        return TimeoutMixin.setTimeout(self, timeoutPeriod)

    def cancelTimeout(self):
        """Disarm the timeout."""
        self.setTimeout(None)

    def timeoutConnection(self):
        """Idle too long: call ``timeoutFunc`` (the hook Twisted's TimeoutProtocol has)."""
        self.timeoutFunc()

    def timeoutFunc(self):
        """
        The connection was idle ``timeoutPeriod`` seconds: close it cleanly,
        and abort it if that has not finished ``abortTimeout`` seconds later.
        Override this (as with Twisted) to do something else.
        """
        self._closeThenAbort()

    def lifetimeExceeded(self):
        """
        The connection is ``lifetime`` seconds old: log it (one rate-limited
        line), close cleanly, and abort later if that does not finish.
        """
        ratelimit.peerLog.msg(
            "connection lifetime",
            "Closing %s%s: connection older than its lifetime of %g s",
            self.logPrefix(),
            ratelimit.describePeer(self.transport),
            self.lifetime,
        )
        self._closeThenAbort()

    def _lifetimeOver(self):
        self._lifetimeCall = None
        if not self.disconnecting:
            self.lifetimeExceeded()

    def _closeThenAbort(self):
        if self.abortTimeout is not None and self._abortCall is None:
            self._abortCall = self.callLater(self.abortTimeout, self._abort)
        self.loseConnection()

    def _abort(self):
        self._abortCall = None
        abort = getattr(self.transport, "abortConnection", None)
        if abort is not None:
            abort()

    def connectionLost(self, reason):
        """Cancel the timers, then pass the loss on."""
        self.cancelTimeout()
        for name in ("_abortCall", "_lifetimeCall"):
            call = getattr(self, name)
            setattr(self, name, None)
            if call is not None and call.active():
                call.cancel()
        ProtocolWrapper.connectionLost(self, reason)


class TimeoutFactory(WrappingFactory):
    """
    Drops connections idle for ``timeoutPeriod`` seconds (30 minutes by
    default), and, given a ``lifetime``, connections older than that.

    The idle timeout is the defence against a client that connects and never
    speaks; the lifetime, against one that speaks too slowly to be idle (one
    byte every few seconds) or streams for ever.  For line- and
    message-based protocols, a per-message deadline (``messageTimeout`` of
    the protocols.basic receivers) catches the slow sender much sooner.

    :param timeoutPeriod: idle seconds allowed, or None for no idle timeout.
    :param lifetime: seconds any connection may last, or None (the default,
        as in Twisted) for no limit.
    :param reactor: the IReactorTime for the timers; the global reactor if None.
    """

    protocol = TimeoutProtocol

    def __init__(self, wrappedFactory, timeoutPeriod=30 * 60, *, lifetime=None, reactor=None):
        WrappingFactory.__init__(self, wrappedFactory)
        self.timeoutPeriod = timeoutPeriod
        self.lifetime = lifetime
        self.reactor = reactor

    def buildProtocol(self, addr):
        """Wrap the wrapped factory's protocol in a TimeoutProtocol."""
        wrapped = self.wrappedFactory.buildProtocol(addr)
        if wrapped is None:
            return None
        return self.protocol(
            self, wrapped, timeoutPeriod=self.timeoutPeriod, lifetime=self.lifetime
        )

    def callLater(self, period, func):
        """Schedule func on the factory's reactor."""
        if self.reactor is None:
            self.reactor = _globalReactor()
        return self.reactor.callLater(period, func)


# -- connection limits --------------------------------------------------------------


class LimitTotalConnectionsFactory(ServerFactory):
    """
    A server factory that limits how many of its connections are open at once.

    Set ``protocol`` as usual.  Past ``connectionLimit`` connections, a new
    one gets ``overflowProtocol`` (to say "busy" and close, say) or, if that
    is None, is refused.  Overflow connections are counted too.  As in
    Twisted, a connection is counted when its protocol is built and
    uncounted when it is lost (once, however often connectionLost runs).

    :ivar connectionCount: the connections built and not yet lost.
    """

    connectionCount = 0
    connectionLimit = None
    overflowProtocol = None

    def buildProtocol(self, addr):
        """Return the protocol (or overflow protocol) in a counting wrapper, or None."""
        if self.connectionLimit is None or self.connectionCount < self.connectionLimit:
            wrapped = self.protocol()
        elif self.overflowProtocol is None:
            return None
        else:
            wrapped = self.overflowProtocol()
        wrapped.factory = self
        wrapper = ProtocolWrapper(self, wrapped)
        _count(wrapper)
        self.connectionCount += 1
        return wrapper

    def registerProtocol(self, protocol):
        """A connection opened: it was counted when built."""

    def unregisterProtocol(self, protocol):
        """A connection closed: uncount it."""
        if _uncount(protocol):
            self.connectionCount -= 1


def _count(wrapper):
    # Mark a wrapper as counted by its factory; _uncount says yes once.
    wrapper.__dict__["_counted"] = True


def _uncount(wrapper):
    # (Through __dict__: a wrapper looks unknown attributes up on its transport.)
    return wrapper.__dict__.pop("_counted", False)


def _peerKey(addr):
    # IPv4/IPv6 addresses by host, UNIX ones by path, legacy tuples by host.
    for name in ("host", "name"):
        value = getattr(addr, name, None)
        if value is not None:
            return value
    if isinstance(addr, tuple):
        return addr[0]
    return addr


class LimitConnectionsByPeer(WrappingFactory):
    """
    Refuses a connection from a host that already has
    ``maxConnectionsPerPeer`` connections open.

    As in Twisted, a connection is counted against its host when its
    protocol is built and uncounted when it is lost, and one over the limit
    is refused (buildProtocol returns None, so the port closes it).  Unlike
    Twisted's, any address works (the host of an IPv4/IPv6 address, the
    path of a UNIX one; Twisted's indexes the address as a tuple), the count
    is uncounted under the key it was counted under, and a lost connection
    also leaves ``protocols``.

    :ivar peerConnections: {host: connections built and not yet lost}.
    """

    maxConnectionsPerPeer = 5

    def __init__(self, wrappedFactory):
        WrappingFactory.__init__(self, wrappedFactory)
        self.peerConnections = {}

    def buildProtocol(self, addr):
        """Wrap a new protocol and count it, or return None if addr's host is at its limit."""
        key = _peerKey(addr)
        count = self.peerConnections.get(key, 0)
        if count >= self.maxConnectionsPerPeer:
            return None
        wrapper = WrappingFactory.buildProtocol(self, addr)
        if wrapper is not None:
            wrapper.peerKey = key
            _count(wrapper)
            self.peerConnections[key] = count + 1
        return wrapper

    def unregisterProtocol(self, protocol):
        """Uncount the connection (forgetting a peer with none left)."""
        WrappingFactory.unregisterProtocol(self, protocol)
        if not _uncount(protocol):
            return
        key = protocol.peerKey
        count = self.peerConnections.get(key, 0) - 1
        if count > 0:
            self.peerConnections[key] = count
        else:
            self.peerConnections.pop(key, None)


# -- traffic logging ------------------------------------------------------------------


class SpewingProtocol(ProtocolWrapper):
    """
    A debugging wrapper that logs (reactor.log) every chunk received and
    written, as Twisted's does.  It logs what peers send, unbounded: never
    in production; TrafficLoggingFactory writes to a file of its own.
    """

    def dataReceived(self, data):
        """Log data, then pass it on."""
        log.msg("Received: %r" % (data,))
        ProtocolWrapper.dataReceived(self, data)

    def write(self, data):
        """Log data, then write it."""
        log.msg("Sending: %r" % (data,))
        ProtocolWrapper.write(self, data)


class SpewingFactory(WrappingFactory):
    """Wraps each protocol in a SpewingProtocol (for debugging only)."""

    protocol = SpewingProtocol


class TrafficLoggingProtocol(ProtocolWrapper):
    """
    A wrapper that writes a line to ``logfile`` for each thing that happens.

    Each line is ``<tag> <event>``, where tag names the connection and event
    is one of ``made``, ``C <bytes>`` (received), ``S <bytes>`` (written),
    ``SV [<bytes>, ...]`` (writeSequence), ``lose``, ``abort`` or
    ``lost <exception class>``.  Data longer than ``lengthLimit`` is cut short.
    The logfile is closed at the end if ``ownsLogfile``.
    """

    def __init__(
        self, factory, wrappedProtocol, logfile, lengthLimit=None, tag="", *, ownsLogfile=False
    ):
        ProtocolWrapper.__init__(self, factory, wrappedProtocol)
        self.logfile = logfile
        self.lengthLimit = lengthLimit
        self.tag = tag
        self.ownsLogfile = ownsLogfile

    def _log(self, event):
        self.logfile.write("%s %s\n" % (self.tag, event))
        self.logfile.flush()

    def _show(self, data):
        limit = self.lengthLimit
        if limit is not None and len(data) > limit:
            return "%r... (%d bytes)" % (bytes(data[:limit]), len(data))
        return repr(bytes(data))

    def makeConnection(self, transport):
        """Log ``made``, then connect."""
        self._log("made")
        ProtocolWrapper.makeConnection(self, transport)

    def dataReceived(self, data):
        """Log the data received, then pass it on."""
        self._log("C " + self._show(data))
        ProtocolWrapper.dataReceived(self, data)

    def write(self, data):
        """Log the data written, then write it."""
        self._log("S " + self._show(data))
        ProtocolWrapper.write(self, data)

    def writeSequence(self, data):
        """Log the sequence written, then write it."""
        data = list(data)
        self._log("SV [%s]" % (", ".join(map(self._show, data)),))
        ProtocolWrapper.writeSequence(self, data)

    def loseConnection(self):
        """Log ``lose``, then close."""
        self._log("lose")
        ProtocolWrapper.loseConnection(self)

    def abortConnection(self):
        """Log ``abort``, then abort."""
        self._log("abort")
        ProtocolWrapper.abortConnection(self)

    def connectionLost(self, reason):
        """Log the reason, pass the loss on, close an owned logfile."""
        self._log("lost %s" % (reason.type.__name__,))
        try:
            ProtocolWrapper.connectionLost(self, reason)
        finally:
            if self.ownsLogfile:
                self.logfile.close()


class TrafficLoggingFactory(WrappingFactory):
    """
    Logs every connection's traffic.

    By default each connection gets its own file, ``<logfilePrefix>-<n>``
    (n counts from 1), opened with ``open(name)``, which a subclass or test
    may replace.  Given a ``logfile`` (any text file-like), all connections
    log into it instead, each line tagged ``<logfilePrefix>-<n>``.

    :param lengthLimit: longest data shown in full, or None.
    """

    protocol = TrafficLoggingProtocol
    _counter = 0

    def __init__(self, wrappedFactory, logfilePrefix, lengthLimit=None, *, logfile=None):
        WrappingFactory.__init__(self, wrappedFactory)
        self.logfilePrefix = logfilePrefix
        self.lengthLimit = lengthLimit
        self.logfile = logfile

    def open(self, name):
        """Open and return the log file called name, for writing text."""
        return open(name, "w")

    def resetCounter(self):
        """Number the next connection 1 again."""
        self._counter = 0

    def buildProtocol(self, addr):
        """Wrap a new protocol with its own tag and log file."""
        wrapped = self.wrappedFactory.buildProtocol(addr)
        if wrapped is None:
            return None
        self._counter += 1
        tag = "%s-%d" % (self.logfilePrefix, self._counter)
        owned = self.logfile is None
        logfile = self.open(tag) if owned else self.logfile
        return self.protocol(self, wrapped, logfile, self.lengthLimit, tag, ownsLogfile=owned)
