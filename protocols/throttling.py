"""
Bandwidth and connection-count limits: ThrottlingFactory and its wrapper.

Bytes are counted across all of a factory's connections in one-second
windows.  Unlike Twisted, which looks only once a second, the throttle goes
on the moment a limit is reached, and each second takes one limit's worth off
the count, so a burst over the limit is paid back in the seconds after it and
the average rate stays under the limit.  Writes past the limit are kept by
the wrapper and sent as the count is paid off, producer or not.

A throttle is one more reason to be paused, never an override: reads stay
paused while the wrapped protocol itself paused them, and a producer held
back by the throttle and by the transport's full buffer resumes only when
both let go (_ProducerGate).  Also importable from protocols.policies.
"""

import sys

from zope.interface import implementer

from protocols._wrapping import ProtocolWrapper, WrappingFactory
from reactor import getReactor, log
from reactor.interfaces import IPushProducer

__all__ = ["ThrottlingFactory", "ThrottlingProtocol"]


@implementer(IPushProducer)
class _ProducerGate:
    """
    What the transport sees in place of a throttled protocol's producer.

    The producer may be held back by the transport (its buffer is full) and
    by the throttle; it runs only when neither holds it.  A pull producer's
    requests for more are held while throttled and made on release.
    """

    def __init__(self, producer, streaming):
        self.producer = producer
        self.streaming = streaming
        self.heldByTransport = False
        self.throttled = False
        self.requested = False

    def _running(self):
        return not (self.heldByTransport or self.throttled)

    def _change(self, **state):
        before = self._running()
        self.__dict__.update(state)
        after = self._running()
        if self.producer is None:
            return
        if before and not after:
            self.producer.pauseProducing()
        elif after and not before:
            self.producer.resumeProducing()

    def replace(self, producer):
        """Drive producer from now on; it takes on the current state (paused or not)."""
        self.producer = producer
        if producer is not None and self.streaming and not self._running():
            producer.pauseProducing()

    def pauseProducing(self):
        """The transport's buffer is full."""
        self._change(heldByTransport=True)

    def resumeProducing(self):
        """The transport wants more (push: its buffer drained; pull: one chunk)."""
        if self.streaming:
            self._change(heldByTransport=False)
        elif self.throttled:
            self.requested = True
        elif self.producer is not None:
            self.producer.resumeProducing()

    def stopProducing(self):
        """The transport is gone."""
        if self.producer is not None:
            self.producer.stopProducing()

    def throttle(self):
        """Hold the producer back for the throttle."""
        if self.streaming:
            self._change(throttled=True)
        else:
            self.throttled = True

    def unthrottle(self):
        """Release the throttle's hold."""
        if self.streaming:
            self._change(throttled=False)
            return
        self.throttled = False
        if self.requested and self.producer is not None:
            self.requested = False
            self.producer.resumeProducing()


class ThrottlingProtocol(ProtocolWrapper):
    """
    A wrapper that counts bytes for its ThrottlingFactory and can be throttled.

    Throttling reads pauses the transport's reading; throttling writes holds
    back the producer registered through this wrapper and keeps what the
    protocol writes meanwhile, in order, until the throttle is lifted (a
    close asked for meanwhile waits for it too).  Both combine with other
    pauses rather than override them.
    """

    _gate = None
    _readsThrottled = False
    _readsPausedByProtocol = False
    _held = None  # writes kept while writes are throttled, else None
    _closeWhenReleased = False

    def makeConnection(self, transport):
        """Connect, taking on the factory's current throttles."""
        ProtocolWrapper.makeConnection(self, transport)
        if self.factory.readsThrottled:
            self.throttleReads()
        if self.factory.writesThrottled:
            self.throttleWrites()

    def write(self, data):
        """Count data and write it; while writes are throttled, keep it."""
        if self._held is not None:
            self._held.append(data)
            return
        self.factory.registerWritten(len(data))
        ProtocolWrapper.write(self, data)

    def writeSequence(self, data):
        """Count the sequence and write it; while writes are throttled, keep it."""
        data = list(data)
        if self._held is not None:
            self._held.extend(data)
            return
        self.factory.registerWritten(sum(map(len, data)))
        ProtocolWrapper.writeSequence(self, data)

    def loseConnection(self):
        """Close once the writes kept back by the throttle have been sent."""
        if self._held:
            self._disconnecting = True
            self._closeWhenReleased = True
            return
        ProtocolWrapper.loseConnection(self)

    def _release(self):
        # Send what was kept, counting it, until the throttle comes back.
        held, self._held = self._held or [], None
        for index, data in enumerate(held):
            if self.factory.writesThrottled:
                self._held = held[index:]
                return
            self.factory.registerWritten(len(data))
            ProtocolWrapper.write(self, data)
        if self._closeWhenReleased:
            ProtocolWrapper.loseConnection(self)

    def dataReceived(self, data):
        """Count data, then pass it on."""
        self.factory.registerRead(len(data))
        ProtocolWrapper.dataReceived(self, data)

    @property
    def producer(self):
        """
        The producer the write throttle pauses and resumes: the one
        registered through this wrapper, or None.

        Settable, as Twisted's plain attribute is (its tests set
        ``protocol.producer = protocol.wrappedProtocol``): the object set
        replaces the registered one behind the transport's back and takes
        on its state, or, with none registered, is driven by the throttle
        alone.  Setting None (or ``del``) leaves the throttle nothing to drive.
        """
        return self._gate.producer if self._gate is not None else None

    @producer.setter
    def producer(self, producer):
        if self._gate is not None:
            self._gate.replace(producer)
        elif producer is not None:
            # Not registered with the transport: only the throttle drives it.
            self._gate = _ProducerGate(producer, True)
            if self.factory.writesThrottled:
                self._gate.throttle()

    @producer.deleter
    def producer(self):
        self.producer = None

    def registerProducer(self, producer, streaming):
        """Register producer with the transport, behind the throttle."""
        self._gate = _ProducerGate(producer, streaming)
        if self.factory.writesThrottled:
            self._gate.throttle()
        self.transport.registerProducer(self._gate, bool(streaming))

    def unregisterProducer(self):
        """Unregister the producer."""
        self._gate = None
        self.transport.unregisterProducer()

    def pauseProducing(self):
        """The wrapped protocol pauses its reading."""
        self._readsPausedByProtocol = True
        self.transport.pauseProducing()

    def resumeProducing(self):
        """The wrapped protocol resumes reading (unless the throttle holds it)."""
        self._readsPausedByProtocol = False
        if not self._readsThrottled:
            self.transport.resumeProducing()

    def throttleReads(self):
        """Stop reading for the throttle."""
        self._readsThrottled = True
        self.transport.pauseProducing()

    def unthrottleReads(self):
        """Read again, unless the wrapped protocol paused reading itself."""
        self._readsThrottled = False
        if not self._readsPausedByProtocol:
            self.transport.resumeProducing()

    def throttleWrites(self):
        """Hold back the registered producer, and keep what is written."""
        if self._held is None:
            self._held = []
        if self._gate is not None:
            self._gate.throttle()

    def unthrottleWrites(self):
        """Send what was kept, then release the registered producer."""
        self._release()
        if self._gate is not None and self._held is None:
            self._gate.unthrottle()

    def connectionLost(self, reason):
        """
        Forget what was kept (it can no longer be sent) and the producer,
        then pass the loss on.
        """
        self._held = None
        self._gate = None
        ProtocolWrapper.connectionLost(self, reason)


class ThrottlingFactory(WrappingFactory):
    """
    Limits the total bandwidth and number of its connections.

    Bytes are counted across all connections in one-second windows.  When a
    window's count reaches ``readLimit`` (``writeLimit``), every connection's
    reading (producer) is paused at once.  At each second the limit is taken
    off the count, so an overshoot is carried into the next seconds, and the
    throttle is lifted once the count is below the limit again.  As in
    Twisted, a connection is counted (``connectionCount``) when its protocol
    is built and uncounted when it is lost, and one built while
    ``maxConnectionCount`` are counted is refused (buildProtocol returns
    None, logged).

    :param readLimit: bytes per second read, or None for no limit.
    :param writeLimit: bytes per second written, or None for no limit.
    :param reactor: the IReactorTime for the one-second checks; the global
        reactor if None.  The checks run while connections exist, and after
        the last one closed until the counts are paid off.
    """

    protocol = ThrottlingProtocol

    def __init__(
        self,
        wrappedFactory,
        maxConnectionCount=sys.maxsize,
        readLimit=None,
        writeLimit=None,
        *,
        reactor=None,
    ):
        WrappingFactory.__init__(self, wrappedFactory)
        self.connectionCount = 0
        self.maxConnectionCount = maxConnectionCount
        self.readLimit = readLimit
        self.writeLimit = writeLimit
        self.readThisSecond = 0
        self.writtenThisSecond = 0
        self.readsThrottled = False
        self.writesThrottled = False
        self.reactor = reactor
        self._checkCall = None

    def callLater(self, period, func):
        """Schedule func on the factory's reactor."""
        if self.reactor is None:
            self.reactor = getReactor()
        return self.reactor.callLater(period, func)

    def registerRead(self, length):
        """Count length bytes read; throttle reads if the limit is reached."""
        self.readThisSecond += length
        if self.readLimit is not None and self.readThisSecond >= self.readLimit:
            self.throttleReads()

    def registerWritten(self, length):
        """Count length bytes written; throttle writes if the limit is reached."""
        self.writtenThisSecond += length
        if self.writeLimit is not None and self.writtenThisSecond >= self.writeLimit:
            self.throttleWrites()

    def checkReadBandwidth(self):
        """A second passed: take readLimit off the count; unthrottle if below it."""
        if self.readLimit is None:
            self.readThisSecond = 0
            return
        self.readThisSecond = max(0, self.readThisSecond - self.readLimit)
        if self.readThisSecond < self.readLimit:
            self.unthrottleReads()

    def checkWriteBandwidth(self):
        """A second passed: take writeLimit off the count; unthrottle if below it."""
        if self.writeLimit is None:
            self.writtenThisSecond = 0
            return
        self.writtenThisSecond = max(0, self.writtenThisSecond - self.writeLimit)
        if self.writtenThisSecond < self.writeLimit:
            self.unthrottleWrites()

    def _everySecond(self):
        self._checkCall = None
        try:
            self.checkReadBandwidth()
            self.checkWriteBandwidth()
        finally:
            # Go on while anything is left to pay off, even with no
            # connection: a client that reconnects finds the same budget.
            if not self._idle():
                self._checkCall = self.callLater(1, self._everySecond)

    def _idle(self):
        return not (
            self.connectionCount
            or self.readThisSecond
            or self.writtenThisSecond
            or self.readsThrottled
            or self.writesThrottled
        )

    def throttleReads(self):
        """Pause reading on every connection."""
        if not self.readsThrottled:
            log.msg("Throttling reads on %s" % (self.logPrefix(),))
            self.readsThrottled = True
            for protocol in list(self.protocols):
                protocol.throttleReads()

    def unthrottleReads(self):
        """Resume reading on every connection."""
        if self.readsThrottled:
            self.readsThrottled = False
            for protocol in list(self.protocols):
                protocol.unthrottleReads()

    def throttleWrites(self):
        """Hold back every connection's producer."""
        if not self.writesThrottled:
            log.msg("Throttling writes on %s" % (self.logPrefix(),))
            self.writesThrottled = True
            for protocol in list(self.protocols):
                protocol.throttleWrites()

    def unthrottleWrites(self):
        """Release every connection's producer."""
        if self.writesThrottled:
            self.writesThrottled = False
            for protocol in list(self.protocols):
                protocol.unthrottleWrites()

    def buildProtocol(self, addr):
        """
        Wrap a new protocol and count it, starting the per-second checks if
        they are not running; or return None past maxConnectionCount.
        """
        if self.connectionCount >= self.maxConnectionCount:
            log.msg("Max connection count reached on %s" % (self.logPrefix(),))
            return None
        wrapper = WrappingFactory.buildProtocol(self, addr)
        if wrapper is None:
            return None
        wrapper.markCounted()
        self.connectionCount += 1
        limited = self.readLimit is not None or self.writeLimit is not None
        if limited and self._checkCall is None:
            self._checkCall = self.callLater(1, self._everySecond)
        return wrapper

    def unregisterProtocol(self, protocol):
        """
        Uncount the connection.  The byte counts are kept: the per-second
        checks stop only once they are paid off, so reconnecting buys no
        budget.
        """
        WrappingFactory.unregisterProtocol(self, protocol)
        if protocol.takeCounted():
            self.connectionCount -= 1
