"""
The smaller test doubles of twisted.internet.testing, re-exported by
reactor.testing: each a few lines of behaviour a test leans on.

- StringIOWithoutClosing: a BytesIO whose close() keeps the bytes readable.
- NonStreamingProducer: a pull producer that writes "0".."9" and stops.
- RaisingMemoryReactor: a reactor whose listen*/connect* calls raise.
- SynchronousResolver: resolves every name to 127.0.0.1 at once.
- EventLoggingObserver: a log observer keeping events in a list.
- FakeDatagramTransport: records the datagrams written to it.
- LineSendingProtocol: sends lines and keeps the lines it receives.
- waitUntilAllDisconnected: a Deferred for protocols' transports to close.

The layering rule holds: nothing from protocols/ is imported, so
LineSendingProtocol splits lines itself (on b"\\r\\n", LineReceiver's
delimiter) instead of subclassing LineReceiver.
"""

from collections.abc import Sequence
from io import BytesIO

from zope.interface import implementer

from reactor._resolver import HostResolution
from reactor.address import IPv4Address
from reactor.defer import Deferred
from reactor.interfaces import (
    IHostnameResolver,
    IProtocol,
    IPullProducer,
    IReactorPluggableNameResolver,
    IReactorSSL,
    IReactorTCP,
    IReactorUNIX,
    IUDPTransport,
)
from reactor.task import LoopingCall

__all__ = [
    "EventLoggingObserver",
    "FakeDatagramTransport",
    "LineSendingProtocol",
    "NonStreamingProducer",
    "RaisingMemoryReactor",
    "StringIOWithoutClosing",
    "SynchronousResolver",
    "waitUntilAllDisconnected",
]


class StringIOWithoutClosing(BytesIO):
    """A BytesIO that close() leaves open, so a test can read what was written."""

    def close(self):
        """Do nothing."""


@implementer(IPullProducer)
class NonStreamingProducer:
    """
    A pull producer that writes b"0", b"1", ... b"9", one per resumeProducing,
    then unregisters itself from its consumer.

    :ivar result: a Deferred fired with None when the tenth write is done or
        stopProducing is called.
    :ivar counter: the writes done; :ivar stopped: True after stopProducing.
    """

    counter = 0
    stopped = False

    def __init__(self, consumer):
        self.consumer = consumer
        self.result = Deferred()

    def resumeProducing(self):
        """
        Write the next number.

        :raises RuntimeError: if called after the tenth write or after stopProducing.
        """
        if self.consumer is None or self.counter >= 10:
            raise RuntimeError("BUG: resume after unregister/stop.")
        self.consumer.write(b"%d" % (self.counter,))
        self.counter += 1
        if self.counter == 10:
            self.consumer.unregisterProducer()
            self._done()

    def pauseProducing(self):
        """
        Never called on a pull producer.

        :raises RuntimeError: always.
        """
        raise RuntimeError("BUG: pause should never be called.")

    def stopProducing(self):
        """Stop for good: fire ``result``."""
        self.stopped = True
        self._done()

    def _done(self):
        self.consumer = None
        if not self.result.called:
            self.result.callback(None)


@implementer(IHostnameResolver)
class SynchronousResolver:
    """Resolve every name to IPv4Address('TCP', '127.0.0.1', port), before returning."""

    def resolveHostName(
        self,
        resolutionReceiver,
        hostName,
        portNumber=0,
        addressTypes=None,
        transportSemantics="TCP",
    ):
        """Tell resolutionReceiver everything now; return the (finished) resolution."""
        resolution = HostResolution(hostName)
        resolutionReceiver.resolutionBegan(resolution)
        resolutionReceiver.addressResolved(IPv4Address("TCP", "127.0.0.1", portNumber))
        resolutionReceiver.resolutionComplete()
        return resolution


@implementer(IReactorTCP, IReactorSSL, IReactorUNIX, IReactorPluggableNameResolver)
class RaisingMemoryReactor:
    """
    A reactor whose listen and connect calls raise, to test how callers cope.

    :param listenException: raised by every listen* and adoptStreamPort call.
    :param connectException: raised by every connect* and adopt*Connection
        or adoptDatagramPort call.
    :ivar nameResolver: a SynchronousResolver (installNameResolver replaces it).
    """

    def __init__(self, listenException=None, connectException=None):
        self._listenException = listenException
        self._connectException = connectException
        self.nameResolver = SynchronousResolver()

    def installNameResolver(self, nameResolver):
        """Replace nameResolver; return the previous one."""
        previous, self.nameResolver = self.nameResolver, nameResolver
        return previous

    def _listen(self, *args, **kwargs):
        raise self._listenException

    def _connect(self, *args, **kwargs):
        raise self._connectException

    listenTCP = listenSSL = listenUNIX = adoptStreamPort = _listen
    connectTCP = connectSSL = connectUNIX = _connect
    adoptStreamConnection = adoptDatagramPort = _connect


class EventLoggingObserver(Sequence):
    """
    A log observer (``observer(event)``) that keeps every event, in order.

    It is a sequence of the events: ``len(observer)``, ``observer[0]``,
    iteration.  Add it to reactor.log (``log.addObserver(observer)``) or
    to anything with addObserver/removeObserver.
    """

    def __init__(self):
        self._events = []

    def __len__(self):
        return len(self._events)

    def __getitem__(self, index):
        return self._events[index]

    def __iter__(self):
        return iter(self._events)

    def __call__(self, event):
        """Keep event."""
        self._events.append(event)

    @classmethod
    def createWithCleanup(cls, testInstance, publisher):
        """
        Return an observer added to publisher and removed when the test ends.

        :param testInstance: a unittest TestCase (addCleanup), or pytest's
            ``request`` fixture (addfinalizer).
        :param publisher: what to observe: reactor.log, or anything with
            addObserver and removeObserver.
        """
        observer = cls()
        publisher.addObserver(observer)
        cleanUp = getattr(testInstance, "addCleanup", None) or testInstance.addfinalizer
        cleanUp(lambda: publisher.removeObserver(observer))
        return observer


@implementer(IUDPTransport)
class FakeDatagramTransport:  # type: ignore[misc]  # only write(), as Twisted's
    """
    A datagram transport that keeps what is written to it.

    :ivar written: a list of (datagram, addr); addr is ``noAddr`` when
        write() was given none.
    """

    noAddr = object()

    def __init__(self):
        self.written = []

    def write(self, packet, addr=noAddr):
        """Record packet and addr."""
        self.written.append((packet, addr))


@implementer(IProtocol)
class LineSendingProtocol:
    """
    Sends lines, and keeps the lines it receives (delimiter b"\\r\\n").

    With start=True it sends ``lines`` on connectionMade; with start=False
    it sends them in answer to the first line it receives.

    :ivar response: the lines received, without delimiters.
    :ivar lostConn: True once connectionLost has been called.
    """

    delimiter = b"\r\n"
    MAX_LENGTH = 16384
    lostConn = False
    connected = False
    transport = None
    factory = None

    def __init__(self, lines, start=True):
        self.lines = list(lines)
        self.response = []
        self.start = start
        self._buffer = b""

    def makeConnection(self, transport):
        """Attach transport and call connectionMade."""
        self.connected = True
        self.transport = transport
        self.connectionMade()

    def connectionMade(self):
        """Send the lines, if start was True."""
        if self.start:
            for line in self.lines:
                self.sendLine(line)

    def sendLine(self, line):
        """Write line and the delimiter."""
        self.transport.write(line + self.delimiter)

    def dataReceived(self, data):
        """Split data into lines; a line over MAX_LENGTH loses the connection."""
        lines = (self._buffer + data).split(self.delimiter)
        self._buffer = lines.pop()
        for line in lines:
            if self.transport.disconnecting:
                return
            if len(line) > self.MAX_LENGTH:
                self.transport.loseConnection()
                return
            self.lineReceived(line)
        if len(self._buffer) > self.MAX_LENGTH:
            self.transport.loseConnection()

    def lineReceived(self, line):
        """Keep line; with start=False, send the lines now (once)."""
        if not self.start:
            for toSend in self.lines:
                self.sendLine(toSend)
            self.lines = []
        self.response.append(line)

    def connectionLost(self, reason):
        """Note that the connection is over."""
        self.connected = False
        self.lostConn = True


def waitUntilAllDisconnected(reactor, protocols):
    """
    Return a Deferred that fires once no protocol's transport is connected.

    The transports are looked at every 10 ms (and at once), on reactor's
    clock; the Deferred fires with the LoopingCall, as Twisted's does.

    :param protocols: the protocols whose connections are closing.
    """

    def check():
        if not any(protocol.transport.connected for protocol in protocols):
            loop.stop()

    loop = LoopingCall(check)
    loop.clock = reactor
    return loop.start(0.01, now=True)
