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

Closing never calls the protocol back from inside its own call into us:
``loseConnection()`` only marks the transport and registers it for
writability; the next ``doWrite`` finds the buffer empty and returns
CONNECTION_DONE, and the reactor calls ``connectionLost`` from its own
dispatch boundary.  An error met inside ``write()`` is kept and reported the
same way.

Backpressure: when the buffer grows past ``highWater`` the transport holds
back whoever fills it.  A registered push producer is paused.  With no
producer registered, a connection accepted by a server (tcp.Server,
unix.Server) stops *reading* (``_autoPaused``): what it buffers are answers
to what it read, so a client that sends without reading cannot make a
request/response or echo protocol buffer without limit.  Outgoing
connections keep reading, so that two peers that both write before they read
cannot wait on each other for ever; a protocol's ``autoPauseReading`` (True or
False) overrides either default.  Both pauses end when the buffer drains to
``lowWater``; a pull producer is asked for more each time it empties.  The
automatic pause is a second reason not to read, beside ``pauseProducing()``
from whoever consumes our data: reading resumes only when neither holds it
(``_startReading``, the one place reading is re-added).  The checks live
where bytes are buffered and where they drain, so a write that the kernel
takes whole pays for none of them (test_readingPausedAboveHighWater,
test_externalPauseAndAutoPauseCompose).

``write()`` keeps a reference to the bytes it is given (a memoryview of
what the kernel did not take), never a copy: writing one 100 MB object holds
those 100 MB once.
"""

import errno
import os
import socket

from zope.interface import implementer

from reactor import log
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
_writev = os.writev
_DONE = CONNECTION_DONE
_LOST = CONNECTION_LOST
_ABORTED = Failure(ConnectionAborted())
_ABORTED.cleanFailure()

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


@implementer(ITransport, IConsumer, IPushProducer)
class StreamTransport:  # type: ignore[misc]  # getHost, getPeer: in the subclasses
    """
    The transport of one connected stream socket, given as a file descriptor.

    Subclasses (tcp.Connection, unix.Connection) add addresses and socket
    options.  :ivar connected: True until the connection is lost.
    :ivar disconnecting: True once loseConnection() was called.
    """

    __slots__ = (
        "fd",
        "protocol",
        "reactor",
        "connected",
        "disconnecting",
        "disconnected",
        "_buffer",
        "_bufferSize",
        "_readSize",
        "_producer",
        "_streaming",
        "_producerPaused",
        "_readPaused",
        "_autoPaused",
        "_writeShut",
        "_writeShutPending",
        "_readShut",
        "_writeError",
        "_owner",
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

    def __init__(self, fd, protocol, reactor, owner=None):
        """
        :param fd: a connected, non-blocking stream socket descriptor; the
            transport owns it and closes it when the connection is lost.
        :param owner: an object told ``_transportLost(transport, reason)``
            after the protocol (a connector, to tell its factory).
        """
        self.fd = fd
        self.protocol = protocol
        self.reactor = reactor
        self.connected = True
        self.disconnecting = False
        self.disconnected = False
        self._buffer = None
        self._bufferSize = 0
        self._readSize = self.bufferSize
        self._producer = None
        self._streaming = False
        self._producerPaused = False
        self._readPaused = False  # paused by pauseProducing()
        self._autoPaused = False  # paused because the buffer passed highWater
        self._writeShut = False
        self._writeShutPending = False
        self._readShut = False
        self._writeError = None
        self._owner = owner
        _tell(reactor, "_opened", self)

    # -- the descriptor side (called by the reactor) ------------------------

    def fileno(self):
        """Return the descriptor, or -1 once the connection is lost."""
        return -1 if self.disconnected else self.fd

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
        # The peer sent FIN.  A half-closeable protocol keeps the write side.
        if self._writeShut or not IHalfCloseableProtocol.providedBy(self.protocol):
            return _DONE
        self._readShut = True
        self.reactor.removeReader(self)
        self.protocol.readConnectionLost()
        return None

    def doWrite(self):
        """Send what is buffered; then close, half-close or pull as needed."""
        if self._writeError is not None:
            error, self._writeError = self._writeError, None
            return _LOST if getattr(error, "errno", None) in _GONE else error
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
                if self._bufferSize <= self.lowWater and (self._producerPaused or self._autoPaused):
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
        if self._autoPaused:
            self._autoPaused = False
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
        if self.disconnecting and self._producer is None:
            return _DONE
        self.reactor.removeWriter(self)
        if self._writeShutPending and not self._writeShut:
            return self._shutdownWrite()
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
                self._autoPaused = True
                self.reactor.removeReader(self)

    def _resumeFilling(self):
        # The buffer drained to lowWater: let whoever _bufferFull held back go.
        if self._producerPaused:
            self._producerPaused = False
            self._producer.resumeProducing()
        if self._autoPaused:
            self._autoPaused = False
            self._startReading()

    def _startReading(self):
        # Watch for reading again, unless another reason holds it back: an
        # external pauseProducing(), the automatic pause, a close or a
        # half-close from the peer.  The one place reading is re-added, so it
        # happens once per pause (test_readingResumesAtLowWaterOncePerPause).
        if not (
            self._readPaused
            or self._autoPaused
            or self.disconnecting
            or self._readShut
            or self.disconnected
        ):
            self.reactor.addReader(self)

    def connectionLost(self, reason):
        """The reactor dropped us: close the descriptor, tell the protocol once."""
        if self.disconnected:
            return
        self.disconnected = True
        self.connected = False
        self._buffer = None
        # fd is -1 from here on, before any user code runs, so that write()
        # from stopProducing or connectionLost fails (and is ignored) instead
        # of sending on a connection that is being closed.
        fd, self.fd = self.fd, -1
        producer, self._producer = self._producer, None
        if producer is not None:
            _contained(producer.stopProducing, "stopProducing")
        try:
            os.close(fd)
        except OSError:
            pass
        _tell(self.reactor, "_closed", self)
        _contained(self.protocol.connectionLost, "connectionLost", reason)
        if self._owner is not None:
            self._owner._transportLost(self, reason)

    def logPrefix(self):
        """Return the protocol's class name, for log lines."""
        return type(self.protocol).__name__

    # -- the transport side (called by the protocol) ------------------------

    def write(self, data):
        """
        Send data (bytes): at once if nothing is buffered, else after the buffer.

        Ignored after the connection is lost or closing has begun.
        """
        if self._buffer is None and not self.disconnecting:
            # The common case pays for no further test: once disconnected, fd
            # is -1 (see connectionLost) and os.write fails with EBADF, which
            # is ignored like any failure to write nothing.
            try:
                sent = _write(self.fd, data)
            except BlockingIOError:
                sent = 0
            except OSError as error:
                if data and not self.disconnected:
                    self._deferError(error)
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
            if self.disconnecting or self.disconnected or not data:
                return
            self._buffer.append(data)
            self._bufferSize += len(data)
        if self._bufferSize > self.highWater and not (self._producerPaused or self._autoPaused):
            self._bufferFull()

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
        if self.disconnecting or self.disconnected:
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
                self._deferError(error)
                return
            self._buffer = pieces
            self._bufferSize = sum(map(len, pieces))
            self._consume(sent)
            if not self._buffer:
                self._buffer = None
                return
            self.reactor.addWriter(self)
        if self._bufferSize > self.highWater and not (self._producerPaused or self._autoPaused):
            self._bufferFull()

    def _deferError(self, error):
        # Report on the reactor's next turn, from its dispatch boundary.
        self._writeError = error
        self._buffer = None
        self.reactor.addWriter(self)

    def loseConnection(self):
        """Close once everything buffered (and the producer's output) is sent."""
        if self.disconnecting or self.disconnected:
            return
        self.disconnecting = True
        self.reactor.removeReader(self)
        self.reactor.addWriter(self)

    def abortConnection(self):
        """Close now: drop buffered data and reset the connection (RST)."""
        if self.disconnected or self._writeError is _ABORTING:
            return
        self.disconnecting = True
        self._buffer = None
        self.reactor.removeReader(self)
        self.reactor.removeWriter(self)
        self._writeError = _ABORTING
        try:
            _setLingerZero(self.fd)
        except OSError:
            pass
        self.reactor.callLater(0, self.connectionLost, _ABORTED)

    def loseWriteConnection(self):
        """Half-close: send FIN once the buffer drains, and keep reading."""
        if self._writeShut or self.disconnected:
            return
        self._writeShutPending = True
        self.reactor.addWriter(self)

    def _shutdownWrite(self):
        self._writeShut = True
        try:
            _shutdown(self.fd, socket.SHUT_WR)
        except OSError as error:
            return _LOST if error.errno in _GONE else error
        if self._readShut:
            return _DONE
        if IHalfCloseableProtocol.providedBy(self.protocol):
            self.protocol.writeConnectionLost()
        return None

    # -- pausing our reading (IPushProducer, for whoever consumes our data) --

    def pauseProducing(self):
        """Stop reading until resumeProducing()."""
        if not self._readPaused and not self.disconnected:
            self._readPaused = True
            self.reactor.removeReader(self)

    def resumeProducing(self):
        """
        Start reading again, unless our own buffer is still above highWater
        (then reading resumes once it drains to lowWater).
        """
        if self._readPaused and not self.disconnected:
            self._readPaused = False
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

        :raises RuntimeError: if a producer is already registered.
        """
        if self._producer is not None:
            raise RuntimeError(
                "Cannot register producer %s, because producer %s was never "
                "unregistered." % (producer, self._producer)
            )
        if self.disconnected:
            producer.stopProducing()
            return
        self._producer = producer
        self._streaming = bool(streaming)
        self._producerPaused = False
        if self._autoPaused:
            # The producer takes over from the automatic pause of reading.
            self._autoPaused = False
            self._startReading()
        if not streaming:
            self.reactor.addWriter(self)

    def unregisterProducer(self):
        """Stop taking data from the producer; a pending close can now finish."""
        self._producer = None
        self._streaming = False
        self._producerPaused = False
        if self.disconnecting and not self.disconnected:
            self.reactor.addWriter(self)

    @property
    def producer(self):
        """The registered producer, or None."""
        return self._producer

    def getBufferSize(self):
        """Return how many bytes are buffered, waiting for the kernel."""
        return self._bufferSize


_ABORTING = object()


def _setLingerZero(fd):
    # SO_LINGER with a zero timeout: close() sends RST and drops unsent data.
    import struct

    sock = socket.socket(fileno=fd)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
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


def _tell(reactor, event, descriptor):
    """Tell reactor a descriptor was opened or closed, if it keeps track (see
    PosixReactorBase.disconnectAll); other reactors do not."""
    hook = getattr(reactor, event, None)
    if hook is not None:
        hook(descriptor)
