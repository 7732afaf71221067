"""
Policies: factories that wrap another factory's protocols to watch or limit
their connections (idle timeouts, bandwidth and connection limits, traffic
logs) without the wrapped protocol knowing.  ProtocolWrapper and
WrappingFactory (protocols._wrapping), ThrottlingFactory and ThrottlingProtocol
(protocols.throttling) are importable from here too; both those modules build
on protocols._wrapping, not on this one.

The one idea: each policy is a ProtocolWrapper, standing between transport
and protocol, that overrides a few calls on the way through (``dataReceived``
in, ``write`` out) and passes everything else along.

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

from protocols._wrapping import ProtocolWrapper, WrappingFactory
from protocols.protocol import ServerFactory
from protocols.throttling import ThrottlingFactory, ThrottlingProtocol
from reactor import getReactor, log, ratelimit

__all__ = [
    "LimitConnectionsByPeer",
    "LimitTotalConnectionsFactory",
    "ProtocolWrapper",
    "SpewingFactory",
    "SpewingProtocol",
    "ThrottlingFactory",
    "ThrottlingProtocol",
    "TimeoutFactory",
    "TimeoutMixin",
    "TimeoutProtocol",
    "TrafficLoggingFactory",
    "TrafficLoggingProtocol",
    "WrappingFactory",
]


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
        clock = self.clock or getattr(self, "reactor", None) or getReactor()
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
            self.reactor = getReactor()
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
        wrapper.markCounted()
        self.connectionCount += 1
        return wrapper

    def registerProtocol(self, protocol):
        """A connection opened: it was counted when built."""

    def unregisterProtocol(self, protocol):
        """A connection closed: uncount it."""
        if protocol.takeCounted():
            self.connectionCount -= 1


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
            wrapper.markCounted()
            self.peerConnections[key] = count + 1
        return wrapper

    def unregisterProtocol(self, protocol):
        """Uncount the connection (forgetting a peer with none left)."""
        WrappingFactory.unregisterProtocol(self, protocol)
        if not protocol.takeCounted():
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
