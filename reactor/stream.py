"""
A connected byte stream over a non-blocking file descriptor: the transport
half that TCP and UNIX connections share.

The write path is the point of this module.  ``write()`` hands the bytes to
the kernel at once while nothing is buffered; only what the kernel does not
take is buffered, and only then is the descriptor registered for
writability.  When the buffer holds several pieces, ``doWrite`` sends them
with one ``writev``.  So a request/response protocol costs one system call
per write and never touches the reactor's writer set (see
test_writeGoesOutAtOnce).

A protocol whose ``holdWrites`` is True (the HTTP server's channel and
client connection) has its writes of up to 64 KiB held instead, while
nothing is buffered, until the end of the reactor's turn: before its loop
next waits, the reactor hands them to the kernel (``sendHeld``), together
with whatever else the turn wrote to the same connection, in one ``write``
or ``writev``, still without registering for writability unless the kernel
leaves bytes over.  For a server answering many connections in each turn
this is cheaper for its peers and for the kernel: the answers of one turn
leave together, so a peer waiting in epoll is woken once for them rather
than once for each, and such a wakeup costs CPU time (an inter-processor
interrupt when the peer sleeps on another CPU).  Writes larger than 64 KiB,
and of other types than bytes (a bytearray could change before the end of
the turn), go at once.  ``loseConnection()``, ``loseWriteConnection()`` and
``abortConnection()`` send what was held first, as would have gone at once;
the reactor's shutdown (``disconnectAll``) too.

Ending a connection is a small state machine with one way out.  The states,
in the only order they are entered (a transport never goes back):

    OPEN                reading and writing
    WRITE_SHUT_PENDING  loseWriteConnection(): our FIN goes once the buffer
                        has drained and no producer is registered
    WRITE_SHUT          our FIN is sent; reading goes on
    CLOSING             loseConnection(): no more reading; close once the
                        buffer has drained and no producer is registered
    ABORTING            the end is decided (abortConnection(), a failed
                        write): nothing more is read or sent, and the end is
                        reported on the reactor's next turn, with its reason
    CLOSED              the descriptor is closed; connectionLost has run

The peer's FIN is not one of our states: for a half-closeable protocol it
is a reason not to read any more (below), and it ends the connection when
our own write side is shut too.  ``connectionLost()`` is the only way into
CLOSED, and it is only ever called by the reactor: from its dispatch
boundary when doRead or doWrite return a reason (end of file, a reset, a
drained close), from the timed call that ABORTING schedules, or from
``disconnectAll`` at shutdown (and by startConnection when
connectionMade raises); each of them has taken the transport out of the
reactor's readers and writers first.  It enters CLOSED before it calls
anything that could call back, so it acts once; it closes the descriptor,
and tells the producer, the protocol and the owner;
then it lets go of the protocol, so that the two are not left in a cycle.  No method
the protocol calls ends the connection itself, so the protocol is never
called back from inside its own call into us; and since every call that
would watch the descriptor again checks the state first, a transport cannot
be left in the reactor's tables once closed (tests/reactor/
test_stream_closing.py drives every pair and triple of ways to end one).

Backpressure: when the buffer grows past ``highWater`` the transport holds
back whoever fills it.  A registered push producer is paused.  With no
producer registered, a connection accepted by a server (tcp.Server,
unix.Server) stops *reading*: what it buffers are answers to what it read,
so a client that sends without reading cannot make a request/response or
echo protocol buffer without limit.  Outgoing connections keep reading, so
that two peers that both write before they read cannot wait on each other
for ever; a protocol's ``autoPauseReading`` (True or False) overrides either
default.  Both pauses end when the buffer drains to ``lowWater``; a pull
producer is asked for more each time it empties.

Reasons not to read are kept apart from the states, as a small bit set:
``pauseProducing()`` from whoever consumes our data (_CONSUMER), the
automatic pause above highWater (_FULL), and the peer's FIN on a
half-closeable connection (_PEER_FIN, for good).  Reading resumes only when
no reason holds it and the state still reads (``_startReading``, the one
place reading is re-added).  The backpressure checks live where bytes are
buffered and where they drain, so a write that the kernel takes whole pays
for none of them (test_readingPausedAboveHighWater,
test_externalPauseAndAutoPauseCompose).

``write()`` keeps a reference to the bytes it is given (a memoryview of
what the kernel did not take), never a copy: writing one 100 MB object holds
those 100 MB once.
"""

import errno
import os
import socket
import struct
import types

from zope.interface import implementer

from reactor import _logcontext, log
from reactor.error import CONNECTION_DONE, CONNECTION_LOST, ConnectionAborted
from reactor.failure import Failure
from reactor.interfaces import (
    IConsumer,
    IHalfCloseableProtocol,
    IPushProducer,
    ITransport,
)

# writev takes at most IOV_MAX pieces; beyond that, send the first IOV_MAX.
_IOV_MAX = min(os.sysconf("SC_IOV_MAX"), 1024) if hasattr(os, "sysconf") else 16

_read = os.read
# Read size after a read that came back short of this.  os.read(fd, n) builds
# a bytes object of n bytes and shrinks it to what came: for n = 64 KiB that
# is a malloc() and a realloc(), for n up to about 470 it is Python's
# small-object allocator, several hundred instructions cheaper per read.  A
# read that fills the small size goes back to bufferSize at once.
_SMALL_READ = 448
_write = os.write
# write() holds bytes up to this size for the end of the reactor's turn
# (see the module docstring); a larger write goes to the kernel at once.
_HOLD_MAX = 65536
_writev = os.writev
_DONE = CONNECTION_DONE
_LOST = CONNECTION_LOST
# Built once: ending a connection allocates no Failure of its own.
_LOST_FAILURE = Failure(CONNECTION_LOST)
_ABORTED = Failure(ConnectionAborted())
_ABORTED.cleanFailure()

# The lifecycle (see the module docstring), in the order it is lived.
OPEN = 0
WRITE_SHUT_PENDING = 1
WRITE_SHUT = 2
CLOSING = 3
ABORTING = 4
CLOSED = 5

# Reasons not to read (bits of _readStops).
_CONSUMER = 1  # pauseProducing() from whoever consumes our data
_FULL = 2  # our own buffer is above highWater
_PEER_FIN = 4  # the peer half-closed a half-closeable connection

# Errors on read or write that mean the peer went away, not a bug.
_GONE = frozenset(
    [
        errno.ECONNRESET,
        errno.EPIPE,
        errno.ETIMEDOUT,
        errno.ENOTCONN,
        errno.ESHUTDOWN,
        errno.ECONNABORTED,
        errno.EHOSTUNREACH,
        errno.ENETUNREACH,
    ]
)

_LINGER_ZERO = struct.pack("ii", 1, 0)
_providesHalfClose = IHalfCloseableProtocol.providedBy


def _halfCloseable(protocol):
    # Whether protocol provides IHalfCloseableProtocol.  Asked at each
    # connection's end: a protocol without the interface's methods cannot
    # provide it, and looking for one costs far less than providedBy.
    if getattr(protocol, "readConnectionLost", None) is None:
        return False
    return _providesHalfClose(protocol)


# The methods every read and every write runs.  Each subclass of
# StreamTransport gets copies of its own, with code objects of their own
# (_ownCopy): CPython 3.11 specialises an attribute lookup of a method's
# code for one class at a time, so one copy shared by the connections a
# port accepted (tcp.Server) and the ones a process made (tcp.Connection),
# as a proxy has both, would take the generic lookup at nearly every
# attribute in them (benchmarks/bench_web.py, point (c)).  Each copy's
# lookups are then for one class, and its protocol's ``dataReceived`` for
# the protocols of that class of connection.
_PER_CLASS = ("doRead", "doWrite", "write", "writeSequence", "_sendHeld")


def _ownCopy(function):
    # The same function, with a code object (and so inline caches) of its own.
    copy = types.FunctionType(
        function.__code__.replace(),
        function.__globals__,
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    copy.__qualname__ = function.__qualname__
    copy.__doc__ = function.__doc__
    copy.__kwdefaults__ = function.__kwdefaults__
    copy.__dict__.update(function.__dict__)
    return copy


@implementer(ITransport, IConsumer, IPushProducer)
class StreamTransport:  # type: ignore[misc]  # getHost, getPeer: in the subclasses
    """
    The transport of one connected stream socket, given as a file descriptor.

    Subclasses (tcp.Connection, unix.Connection) add getPeer/getHost (from
    the addresses kept here when the creator knows them) and socket
    options.  The attributes users read follow the state: ``connected``
    and ``disconnected`` are read-only properties of it, and
    ``disconnecting`` (read for every line by the line receivers) is an
    attribute kept in step by ``_enter``.

    :ivar disconnecting: True once loseConnection() or abortConnection()
        was called (or the connection failed while writing).
    """

    __slots__ = (
        "fd",
        "protocol",
        "reactor",
        "disconnecting",
        "_state",
        "_readStops",
        "_buffer",
        "_bufferSize",
        "_readSize",
        "_producer",
        "_streaming",
        "_producerPaused",
        "_ending",
        "_owner",
        "_peer",
        "_host",
        "_holds",
        "__weakref__",
    )

    bufferSize = 65536  # most bytes read per wakeup (fewer while reads come small)
    highWater = 65536  # above this many buffered bytes, pause the producer or reading
    lowWater = 16384  # ... and resume at or below this many
    # Pause reading above highWater when no producer is registered, unless the
    # protocol's own autoPauseReading (True or False) says otherwise.  On for
    # the connections a listening port accepts (tcp.Server, unix.Server), off
    # for outgoing ones: see "Backpressure" in doc/transports.md for why.
    autoPauseReading = False

    def __init_subclass__(cls, **kwargs):
        # Copies of the hot methods of its own (see _PER_CLASS), unless it
        # defines them.
        super().__init_subclass__(**kwargs)
        for name in _PER_CLASS:
            inherited = getattr(cls, name)
            if name not in cls.__dict__ and isinstance(inherited, types.FunctionType):
                setattr(cls, name, _ownCopy(inherited))

    def __init__(self, fd, protocol, reactor, owner=None, peer=None, host=None):
        """
        :param fd: a connected, non-blocking stream socket descriptor; the
            transport owns it and closes it when the connection is lost.
        :param reactor: a PosixReactorBase (the transport is in its
            ``openDescriptors`` while open).
        :param owner: an object told ``transportLost(transport, reason)``
            after the protocol (a connector, to tell its factory).
        :param peer: the other end's address, when the caller knows it.
        :param host: this end's address, when the caller knows it.
        """
        self.fd = fd
        self.protocol = protocol
        self.reactor = reactor
        self.disconnecting = False
        self._state = OPEN
        self._readStops = 0
        self._buffer = None
        self._bufferSize = 0
        self._readSize = self.bufferSize
        self._producer = None
        self._streaming = False
        self._producerPaused = False
        self._owner = owner
        self._peer = peer
        self._host = host
        # Whether write() holds small writes for the end of the turn: when
        # the protocol asks (holdWrites; see the module docstring).
        self._holds = getattr(protocol, "holdWrites", False) is True
        # (_ending is set when the end is decided: see _endSoon.)
        # The reactor closes what is still open at shutdown
        # (PosixReactorBase.disconnectAll).
        reactor.openDescriptors.add(self)

    def _enter(self, state):
        # The state changes here (CLOSED: in connectionLost only), and the
        # public flag with it.
        self._state = state
        if state >= CLOSING:
            self.disconnecting = True

    @property
    def connected(self):
        """True until the connection is lost."""
        return self._state != CLOSED

    @property
    def disconnected(self):
        """True once the connection is lost."""
        return self._state == CLOSED

    # -- the descriptor side (called by the reactor) ------------------------

    def fileno(self):
        """Return the descriptor, or -1 once the connection is lost."""
        return self.fd

    def doRead(self):
        """Read one chunk and hand it to the protocol; on EOF, end or half-close."""
        size = self._readSize
        try:
            data = _read(self.fd, size)
        except BlockingIOError:
            return None
        except OSError as error:
            return _LOST if error.errno in _GONE else error
        if data:
            if len(data) == size:
                self._readSize = self.bufferSize
            elif size > _SMALL_READ and len(data) < _SMALL_READ:
                self._readSize = _SMALL_READ
            self.protocol.dataReceived(data)
            return None
        return self._readEOF()

    def _readEOF(self):
        # The peer sent its FIN.  A half-closeable protocol keeps writing,
        # unless our own write side is shut already: then both are done.
        if self._state == WRITE_SHUT or not _halfCloseable(self.protocol):
            return _DONE
        self._readStops |= _PEER_FIN
        self.reactor.removeReader(self)
        self.protocol.readConnectionLost()
        return None

    def doWrite(self):
        """Send what is buffered; then close, half-close or pull as needed."""
        buffer = self._buffer
        if buffer:
            try:
                if len(buffer) == 1:
                    sent = _write(self.fd, buffer[0])
                else:
                    sent = _writev(self.fd, buffer[:_IOV_MAX])
            except BlockingIOError:
                return None
            except OSError as error:
                return _LOST if error.errno in _GONE else error
            self._consume(sent)
            if self._buffer:
                if self._bufferSize <= self.lowWater and (
                    self._producerPaused or self._readStops & _FULL
                ):
                    self._resumeFilling()
                return None
        return self._bufferDrained()

    def _consume(self, sent):
        # Drop the first `sent` bytes of the buffer.
        buffer = self._buffer
        self._bufferSize -= sent
        while sent:
            first = buffer[0]
            size = len(first)
            if sent >= size:
                del buffer[0]
                sent -= size
            else:
                buffer[0] = memoryview(first)[sent:]
                break

    def _bufferDrained(self):
        # Everything buffered has gone out.  Pull more from a producer, or
        # finish a close or half-close that was waiting for this.
        self._buffer = None
        self._bufferSize = 0
        if self._readStops & _FULL:
            self._readStops &= ~_FULL
            self._startReading()
        producer = self._producer
        if producer is not None:
            if not self._streaming:
                # A pull producer: stay registered, so we are back here as
                # soon as the socket can take its next chunk.
                producer.resumeProducing()
                if self._producer is not None or self._buffer:
                    return None
            elif self._producerPaused:
                self._producerPaused = False
                producer.resumeProducing()
        if self._buffer:
            return None
        if self._producer is None:
            state = self._state
            if state == CLOSING:
                return _DONE
            if state == WRITE_SHUT_PENDING:
                return self._shutdownWrite()
        self.reactor.removeWriter(self)
        return None

    def _shutdownWrite(self):
        # Send our FIN; we go on reading unless the peer has finished too.
        try:
            _shutdown(self.fd, socket.SHUT_WR)
        except OSError as error:
            return _LOST if error.errno in _GONE else error
        if self._readStops & _PEER_FIN:
            return _DONE
        self._enter(WRITE_SHUT)
        self.reactor.removeWriter(self)
        if _halfCloseable(self.protocol):
            self.protocol.writeConnectionLost()
        return None

    def _bufferFull(self):
        # More than highWater bytes wait for the kernel: hold back whoever
        # adds to them.  A registered producer is the one to pause (a pull
        # producer is only asked for more once the buffer is empty); without
        # one, the bytes come from answering what we read, so stop reading
        # (test_readingPausedAboveHighWater) if the protocol, or else the
        # kind of connection, says so.  Called for every buffered write above
        # highWater while nothing is paused: rare, and never on the fast path.
        producer = self._producer
        if producer is not None:
            if self._streaming:
                self._producerPaused = True
                producer.pauseProducing()
        else:
            choice = getattr(self.protocol, "autoPauseReading", None)
            if choice or (choice is None and self.autoPauseReading):
                self._readStops |= _FULL
                self.reactor.removeReader(self)

    def _resumeFilling(self):
        # The buffer drained to lowWater: let whoever _bufferFull held back go.
        if self._producerPaused:
            self._producerPaused = False
            self._producer.resumeProducing()
        if self._readStops & _FULL:
            self._readStops &= ~_FULL
            self._startReading()

    def _startReading(self):
        # Watch for reading again, unless a reason not to read holds (see
        # the module docstring) or the state reads no more.  The one place
        # reading is re-added, so it happens once per pause
        # (test_readingResumesAtLowWaterOncePerPause).
        if not self._readStops and self._state <= WRITE_SHUT:
            self.reactor.addReader(self)

    def _watchWrites(self):
        # Ask the reactor for doWrite, while there can still be something
        # to send or to finish.
        if self._state < ABORTING:
            self.reactor.addWriter(self)

    def _endSoon(self, reason):
        # The end is decided, inside a call of the protocol's: stop watching
        # the descriptor now, and report the end from the reactor's next
        # turn, never from inside that call.
        self._enter(ABORTING)
        self._buffer = None
        self._bufferSize = 0
        self.reactor.removeReader(self)
        self.reactor.removeWriter(self)
        self._ending = (reason, self.reactor.callLater(0, self._reportEnd))

    def _reportEnd(self):
        reason, _ = self._ending
        self._ending = (reason, None)
        self.connectionLost(reason)

    def connectionLost(self, reason):
        """
        The connection is over: the one way into CLOSED (see the module
        docstring).  Called by the reactor; acts once.

        Closes the descriptor (the caller took it out of the reactor's
        readers and writers), then stops the producer and tells the protocol
        and the owner.  When the
        end was decided earlier (ABORTING), that end's reason is the one
        reported, whoever calls.
        """
        state = self._state
        if state == CLOSED:
            return
        if state == ABORTING:
            reason, call = self._ending
            self._ending = None
            if call is not None and call.active():
                call.cancel()
        if self._host is None or self._peer is None:
            self._learnAddresses()
        self._state = CLOSED
        # Every caller has taken us out of the reactor's tables already (see
        # the module docstring): looking again would cost every connection.
        reactor = self.reactor
        fd = self.fd
        # fd is -1 from here on, before any user code runs, so that nothing
        # from stopProducing or connectionLost reaches the descriptor.
        self.fd = -1
        self._buffer = None
        if self._producer is not None:
            producer, self._producer = self._producer, None
            _contained(producer.stopProducing, "stopProducing")
        try:
            os.close(fd)
        except OSError:
            pass
        reactor.openDescriptors.discard(self)
        try:
            self.protocol.connectionLost(reason)
        except Exception:
            log.err(None, "Unhandled error in connectionLost()")
        if self._owner is not None:
            self._owner.transportLost(self, reason)
        # As Twisted's transports do: the protocol keeps its transport, but
        # not the other way round, so the two are freed by reference
        # counting and not left in a cycle for the garbage collector.
        self.protocol = None

    def _learnAddresses(self):
        # Called before the descriptor closes when an address is unknown:
        # tcp and unix connections ask the kernel (see tcp.AddressedTransport).
        pass

    def logPrefix(self):
        """Return the protocol's class name, for log lines (ours once closed)."""
        protocol = self.protocol
        return type(protocol if protocol is not None else self).__name__

    # -- the transport side (called by the protocol) ------------------------

    def write(self, data):
        """
        Send data (bytes): at once if nothing is buffered (at the end of
        this turn of the reactor if the protocol's ``holdWrites`` is True:
        see the module docstring), else after the buffer.

        Ignored once the write side is shut, closing has begun, or the
        connection is lost.  A failure to send ends the connection (the
        protocol hears of it through connectionLost, on the next turn).
        """
        if self._buffer is None and not self.disconnecting:
            if (
                self._holds
                and data.__class__ is bytes
                and (size := len(data)) <= _HOLD_MAX
                and self._state == OPEN
            ):
                # Held for the end of the turn, with what else this turn
                # writes here (the protocol's holdWrites).
                self._buffer = [data]
                self._bufferSize = size
                self.reactor.heldWrites.append(self)
                return
            # At once, the common case (one attribute tested above).  Once
            # the write side is shut (EPIPE) or the connection lost (fd is
            # -1: EBADF), os.write fails, and that failure is ignored.
            try:
                sent = _write(self.fd, data)
            except BlockingIOError:
                sent = 0
            except OSError as error:
                if data and self._state < WRITE_SHUT:
                    self._endSoon(_failureOf(error))
                return
            except TypeError:
                if data.__class__ is str:
                    raise TypeError("write() takes bytes, not str") from None
                raise
            if sent == len(data):
                return
            self._buffer = [memoryview(data)[sent:]]
            self._bufferSize = len(data) - sent
            self.reactor.addWriter(self)
        else:
            if data.__class__ is str:
                raise TypeError("write() takes bytes, not str")
            if self._state >= WRITE_SHUT or not data:
                return
            self._buffer.append(data)
            self._bufferSize += len(data)
        if self._bufferSize > self.highWater and not (
            self._producerPaused or self._readStops & _FULL
        ):
            self._bufferFull()

    def _dropHeld(self):
        # In the child of a fork, what write() held is forgotten: the
        # parent's transport sends it (ReactorBase.afterFork).
        self._buffer = None
        self._bufferSize = 0

    def _sendHeldFirst(self):
        # Before a close, half-close or abort: what write() held this turn
        # goes now, as it would have gone at once, so that a peer closing
        # in the same turn does not find it still to come.  Return True if
        # sending it failed: the end is decided then (ABORTING).
        if self._holds and self._buffer:
            sendHeld([self])
            return self._state >= ABORTING
        return False

    def _sendHeld(self):
        # sendHeld's, for this transport.
        buffer = self._buffer
        if not buffer:
            return  # sent by doWrite already, or dropped (ABORTING, CLOSED)
        try:
            if len(buffer) == 1:
                sent = _write(self.fd, buffer[0])
            else:
                sent = _writev(self.fd, buffer[:_IOV_MAX])
        except BlockingIOError:
            sent = 0
        except OSError as error:
            self._endSoon(_failureOf(error))
            return
        if sent == self._bufferSize:
            self._buffer = None
            self._bufferSize = 0
            if not (self._producerPaused or self._readStops & _FULL):
                return
        else:
            self._consume(sent)
        self._watchWrites()

    def writeSequence(self, sequence):
        """
        Send a sequence of bytes objects, with one writev when possible.

        The pieces are buffered as they are, not joined: what the kernel
        does not take costs no copy.
        """
        pieces = [piece for piece in sequence if piece]
        for piece in pieces:
            if piece.__class__ is str:
                raise TypeError("writeSequence() takes bytes, not str")
        if len(pieces) <= 1:
            if pieces:
                self.write(pieces[0])
            return
        if self._state >= WRITE_SHUT:
            return
        if self._buffer is not None:
            self._buffer.extend(pieces)
            self._bufferSize += sum(map(len, pieces))
        else:
            try:
                sent = _writev(self.fd, pieces if len(pieces) <= _IOV_MAX else pieces[:_IOV_MAX])
            except BlockingIOError:
                sent = 0
            except OSError as error:
                self._endSoon(_failureOf(error))
                return
            self._buffer = pieces
            self._bufferSize = sum(map(len, pieces))
            self._consume(sent)
            if not self._buffer:
                self._buffer = None
                return
            self.reactor.addWriter(self)
        if self._bufferSize > self.highWater and not (
            self._producerPaused or self._readStops & _FULL
        ):
            self._bufferFull()

    def loseConnection(self):
        """Close once everything buffered (and the producer's output) is sent."""
        if self._state >= CLOSING or self._sendHeldFirst():
            return
        self._enter(CLOSING)
        self.reactor.removeReader(self)
        self.reactor.addWriter(self)

    def abortConnection(self):
        """Close now: drop buffered data and reset the connection (RST)."""
        if self._state >= ABORTING or self._sendHeldFirst():
            return
        try:
            _setLingerZero(self.fd)
        except OSError:
            pass
        self._endSoon(_ABORTED)

    def loseWriteConnection(self):
        """
        Half-close: send FIN once the buffer drains and no producer is
        registered, and keep reading.  A half-closeable protocol is told
        writeConnectionLost() then; if the peer had half-closed already,
        the connection ends (ConnectionDone).
        """
        if self._state != OPEN or self._sendHeldFirst():
            return
        self._enter(WRITE_SHUT_PENDING)
        self.reactor.addWriter(self)

    # -- pausing our reading (IPushProducer, for whoever consumes our data) --

    def pauseProducing(self):
        """Stop reading until resumeProducing()."""
        if not self._readStops & _CONSUMER:
            self._readStops |= _CONSUMER
            if self._state <= WRITE_SHUT:
                self.reactor.removeReader(self)

    def resumeProducing(self):
        """
        Start reading again, unless our own buffer is still above highWater
        (then reading resumes once it drains to lowWater).
        """
        if self._readStops & _CONSUMER:
            self._readStops &= ~_CONSUMER
            self._startReading()

    def stopProducing(self):
        """Stop for good: close the connection."""
        self.loseConnection()

    # -- IConsumer ----------------------------------------------------------

    def registerProducer(self, producer, streaming):
        """
        Take data from producer: a push producer (streaming=True) is paused and
        resumed with the buffer; a pull producer is asked for more as it drains.
        While a producer is registered, reading is never paused automatically.
        On a lost connection, the producer is stopped at once.

        :raises RuntimeError: if a producer is already registered.
        """
        if self._producer is not None:
            raise RuntimeError(
                "Cannot register producer %s, because producer %s was never "
                "unregistered." % (producer, self._producer)
            )
        if self._state == CLOSED:
            producer.stopProducing()
            return
        self._producer = producer
        self._streaming = bool(streaming)
        self._producerPaused = False
        if self._readStops & _FULL:
            # The producer takes over from the automatic pause of reading.
            self._readStops &= ~_FULL
            self._startReading()
        if not streaming:
            self._watchWrites()

    def unregisterProducer(self):
        """Stop taking data from the producer; a pending close or half-close can now finish."""
        self._producer = None
        self._streaming = False
        self._producerPaused = False
        if self._state == CLOSING or self._state == WRITE_SHUT_PENDING:
            self.reactor.addWriter(self)

    @property
    def producer(self):
        """The registered producer, or None."""
        return self._producer

    def getBufferSize(self):
        """Return how many bytes are buffered, waiting for the kernel."""
        return self._bufferSize


def sendHeld(held):
    """
    Send what each transport in held holds, and empty held: a reactor's
    ``heldWrites``, before its loop next waits (ReactorBase._sendHeld; an
    internal interface of the reactor package).

    One system call for each transport, however many writes of the turn
    its buffer holds; none of them calls a protocol back.  What the kernel
    does not take is sent by doWrite, as any buffer; so is a drained buffer
    that held reading or a producer back (_bufferDrained).  A failure ends
    the connection on the next turn (_endSoon).
    """
    for transport in held:
        transport._sendHeld()
    held.clear()


def _failureOf(error):
    # The reason a failed write ends the connection with.
    if error.errno in _GONE:
        return _LOST_FAILURE
    return Failure(error)


def _setLingerZero(fd):
    # SO_LINGER with a zero timeout: close() sends RST and drops unsent data.
    sock = socket.socket(fileno=fd)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, _LINGER_ZERO)
    finally:
        sock.detach()


def _shutdown(fd, how):
    sock = socket.socket(fileno=fd)
    try:
        sock.shutdown(how)
    finally:
        sock.detach()


def _contained(function, name, *args):
    # User code called from our own bookkeeping: log its errors, carry on.
    try:
        function(*args)
    except Exception:
        log.err(None, "Unhandled error in %s()" % (name,))


def startConnection(transport, protocol):
    """
    Call protocol.makeConnection(transport) and start reading: how tcp and
    unix start a connection they accepted or made.

    An exception from connectionMade drops this connection only: it is
    logged, and connectionLost runs once with the error.
    """
    try:
        protocol.makeConnection(transport)
    except Exception:
        failure = Failure()
        log.err(failure, "Unhandled error in %s.connectionMade" % (transport.logPrefix(),))
        # connectionMade may have written more than the kernel took (the
        # transport then watches for writability), or resumed reading.
        transport.reactor.removeReader(transport)
        transport.reactor.removeWriter(transport)
        transport.connectionLost(failure)
        return
    # Unless connectionMade closed, paused reading, or wrote past highWater.
    transport._startReading()


# Log lines logged from connectionMade name the transport (reactor._logcontext).
_logcontext.dispatchesTo(startConnection, "transport")
