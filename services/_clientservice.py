"""
ClientService: keep one connection to an endpoint up, reconnecting with back-off.

The service is a small state machine with five states:

    init -> connecting -> connected -> (lost) waiting -> connecting ...
    init -> connecting -> (failed) waiting -> connecting ...
    any -> (stopService) disconnecting -> stopped

The one idea: the service learns that its connection closed without putting
anything between the transport and the protocol.  The user's factory builds
the protocol and ClientService replaces ``connectionLost`` on that instance
with a function that calls the original and then tells the service.  Bytes
go straight from the transport to the user's ``dataReceived``; Twisted puts a
``__getattr__`` proxy on that path instead (and hands the proxy to the
transport).  The price: the protocol must allow attribute assignment (any
class with a ``__dict__`` does; ``__slots__``-only classes are refused with
a TypeError).
"""

from reactor import getReactor, log
from reactor.defer import CancelledError, Deferred, fail, maybeDeferred, succeed
from reactor.error import ConnectionLost
from reactor.failure import Failure
from services.service import Service

__all__ = ["ClientService", "backoffPolicy"]


def backoffPolicy(initialDelay=1.0, maxDelay=60.0, factor=1.5, jitter=None):
    """
    Return a retry policy: exponential back-off with jitter.

    The policy maps the number of failed attempts in a row (1 for the first)
    to seconds to wait: ``min(initialDelay * factor ** (attempt - 1),
    maxDelay) + jitter()``.  By default 1, 1.5, 2.25, ... capped at 60,
    each plus up to 1 s of random jitter.  (Twisted's policy waits
    ``initialDelay * factor`` before the first retry, despite documenting
    initialDelay as that first delay; this one waits initialDelay.)

    :param jitter: a callable of no arguments returning the noise to add;
        by default random.random.
    """
    if jitter is None:
        import random  # here, not at import time: it slows loomd's start

        jitter = random.random

    def policy(attempt):
        exponent = min(max(attempt - 1, 0), 1000)
        try:
            delay = min(initialDelay * factor**exponent, maxDelay)
        except OverflowError:
            delay = maxDelay
        return delay + jitter()

    return policy


def _hookConnectionLost(protocol, notify):
    """Make protocol.connectionLost(reason) also call notify(protocol, reason)."""
    original = protocol.connectionLost
    shadowed = "connectionLost" in getattr(protocol, "__dict__", ())

    def connectionLost(reason):
        # Put back what was there, so the protocol holds no closure over itself.
        if shadowed:
            protocol.connectionLost = original
        else:
            del protocol.connectionLost
        try:
            return original(reason)
        finally:
            notify(protocol, reason)

    try:
        protocol.connectionLost = connectionLost
    except AttributeError:
        raise TypeError(
            "ClientService needs protocols that accept attributes; %r does not"
            % (type(protocol).__name__,)
        ) from None


class _NotifyingFactory:
    # The factory given to the endpoint: the user's factory builds the
    # protocol; only its connectionLost is hooked.
    def __init__(self, factory, lost):
        self.factory = factory
        self._lost = lost

    def doStart(self):
        self.factory.doStart()

    def doStop(self):
        self.factory.doStop()

    def buildProtocol(self, addr):
        protocol = self.factory.buildProtocol(addr)
        if protocol is not None:
            _hookConnectionLost(protocol, self._lost)
        return protocol


class ClientService(Service):
    """
    Keep one connection to endpoint up while running.

    A failed attempt, or a connection lost, is followed by a wait given by
    retryPolicy, then another attempt; a connection made resets the count
    of failures.  The protocol is the user's own, built by factory.

    :param endpoint: an IStreamClientEndpoint.
    :param factory: the IProtocolFactory building each connection's protocol.
    :param retryPolicy: a callable from the number of failures in a row (1
        for the first) to the seconds to wait; backoffPolicy() by default.
    :param clock: the IReactorTime for the waits (the global reactor by
        default, looked up at start); ``reactor`` is the same, under the
        name the other services use.
    :param prepareConnection: called with each new protocol before it
        counts as connected; if it returns a Deferred, the connection counts
        once that fires.  If it raises or fails, the connection is closed
        and counted as a failed attempt.
    """

    def __init__(
        self,
        endpoint,
        factory,
        retryPolicy=None,
        clock=None,
        prepareConnection=None,
        reactor=None,
    ):
        if clock is not None and reactor is not None and clock is not reactor:
            raise TypeError("give clock or reactor, not both")
        self.endpoint = endpoint
        self.factory = factory
        self.retryPolicy = retryPolicy if retryPolicy is not None else backoffPolicy()
        self.clock = clock if clock is not None else reactor
        self.prepareConnection = prepareConnection
        self._state = "init"
        self._attempt = None  # the connect Deferred while connecting
        self._retryCall = None  # the DelayedCall while waiting
        self._protocol = None  # the live protocol while connected
        self._preparing = None  # the protocol prepareConnection is working on
        self._preparingLost = None  # its loss reason, if it was lost meanwhile
        self._restart = False  # startService came during disconnecting
        self._failedAttempts = 0
        self._awaiting = []  # [Deferred, failures left or None]
        self._stopWaiters = []

    # -- the public face ----------------------------------------------------

    def startService(self):
        """Start connecting (after a stop still under way, once it is done)."""
        Service.startService(self)
        if self.clock is None:
            self.clock = getReactor()
        if self._state in ("init", "stopped"):
            self._connect()
        elif self._state == "disconnecting":
            self._restart = True

    def stopService(self):
        """
        Stop: cancel an attempt or a pending retry, close the live connection.

        Deferreds from whenConnected still waiting fail with CancelledError.

        :return: a Deferred firing once no attempt is under way and the
            connection (if any) is closed.
        """
        Service.stopService(self)
        state = self._state
        if state in ("init", "stopped"):
            self._state = "stopped"
            self._cancelWaiters()
            return succeed(None)
        self._restart = False
        if state == "waiting":
            self._retryCall.cancel()
            self._retryCall = None
            self._finishStopping()
            return succeed(None)
        d = Deferred()
        self._stopWaiters.append(d)
        if state == "connecting":
            self._state = "disconnecting"
            self._attempt.cancel()
        elif state == "connected":
            self._state = "disconnecting"
            self._protocol.transport.loseConnection()
        return d

    def whenConnected(self, failAfterFailures=None):
        """
        Return a Deferred firing with the connected protocol.

        At once if connected; else at the next connection.  It fails with
        CancelledError if the service is (or gets) stopped.

        :param failAfterFailures: fail instead, with the attempt's error,
            after this many failed attempts from now (1: the next failure).
            None waits however many attempts it takes.
        """
        if self._state == "connected":
            return succeed(self._protocol)
        if self._state == "stopped":
            return fail(CancelledError("%r is stopped" % (self,)))
        entry = []
        d = Deferred(lambda d: self._forgetWaiter(entry))
        entry.extend([d, failAfterFailures])
        self._awaiting.append(entry)
        return d

    def _forgetWaiter(self, entry):
        # A whenConnected Deferred was cancelled: stop counting it.
        if entry in self._awaiting:
            self._awaiting.remove(entry)

    # -- connecting -----------------------------------------------------------

    def _connect(self):
        self._state = "connecting"
        factory = _NotifyingFactory(self.factory, self._connectionLost)
        d = self._attempt = maybeDeferred(self.endpoint.connect, factory)
        d.addCallback(self._prepare)
        d.addCallbacks(self._connectionMade, self._connectionFailed)

    def _prepare(self, protocol):
        if self.prepareConnection is None:
            return protocol
        self._preparing, self._preparingLost = protocol, None
        d = maybeDeferred(self.prepareConnection, protocol)
        d.addCallbacks(lambda ignored: protocol, self._prepareFailed, errbackArgs=(protocol,))
        return d

    def _prepareFailed(self, failure, protocol):
        self._preparing = None
        protocol.transport.loseConnection()
        return failure

    def _connectionMade(self, protocol):
        self._attempt = None
        lost, self._preparing, self._preparingLost = self._preparingLost, None, None
        if lost is not None:
            # The connection closed while prepareConnection was at work.
            return self._connectionFailed(lost)
        self._state = "connected"
        self._protocol = protocol
        self._failedAttempts = 0
        waiting, self._awaiting = self._awaiting, []
        for d, _failAfter in waiting:
            d.callback(protocol)
        return None

    def _connectionFailed(self, failure):
        self._attempt = None
        self._preparing = None
        if self._state == "disconnecting":
            self._finishStopping()
            return None
        self._failedAttempts += 1
        self._failWaiters(failure)
        self._waitToRetry("failed: %s" % (failure.getErrorMessage(),))
        return None

    def _failWaiters(self, failure):
        keep, give = [], []
        for entry in self._awaiting:
            if entry[1] is None:
                keep.append(entry)
            elif entry[1] <= 1:
                give.append(entry[0])
            else:
                entry[1] -= 1
                keep.append(entry)
        self._awaiting = keep
        for d in give:
            d.errback(failure)

    def _waitToRetry(self, why):
        delay = self.retryPolicy(self._failedAttempts)
        log.msg(
            "ClientService %r: connection %s; attempt %d in %.3g seconds"
            % (self.endpoint, why, self._failedAttempts + 1, delay)
        )
        self._state = "waiting"
        self._retryCall = self.clock.callLater(delay, self._retry)

    def _retry(self):
        self._retryCall = None
        self._connect()

    # -- losing the connection -----------------------------------------------

    def _connectionLost(self, protocol, reason):
        if protocol is not self._protocol:
            if protocol is self._preparing:
                self._preparingLost = reason if reason is not None else Failure(ConnectionLost())
            return
        self._protocol = None
        if self._state == "disconnecting":
            self._finishStopping()
            return
        # Lost while connected: wait a first back-off step before reconnecting,
        # so a server that accepts and drops at once is not hammered.
        self._failedAttempts = 1
        self._waitToRetry("lost: %s" % (reason.getErrorMessage() if reason else "closed",))

    def _finishStopping(self):
        self._state = "stopped"
        waiters, self._stopWaiters = self._stopWaiters, []
        if self._restart:
            self._restart = False
            self._connect()
        else:
            self._cancelWaiters()
        for d in waiters:
            d.callback(None)

    def _cancelWaiters(self):
        waiting, self._awaiting = self._awaiting, []
        for d, _failAfter in waiting:
            d.errback(Failure(CancelledError("%r was stopped" % (self,))))

    def __repr__(self):
        return "<ClientService to %r (%s)>" % (self.endpoint, self._state)
