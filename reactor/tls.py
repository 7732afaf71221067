"""
TLS over any stream transport: a protocol that stands between a transport
and the protocol it carries, encrypting one way and decrypting the other
with a pyOpenSSL ``Connection`` over memory BIOs (Twisted's
twisted.protocols.tls).

To the transport below (TCP, UNIX, the in-memory pair of reactor.testing,
another TLS layer) a TLSMemoryBIOProtocol is the protocol; to the protocol
above it is the transport, and an ISSLTransport: ``getPeerCertificate()``,
``negotiatedProtocol``, ``getHandle()``, and whatever else the transport
below has (``getHost``, ``setTcpNoDelay``...) passed through.
``listenSSL``/``connectSSL`` put one on each TCP connection (through
TLSMemoryBIOFactory) and ``transport.startTLS`` inserts one into a live
connection (reactor._starttls).

The one idea is what a turn costs.  OpenSSL's calls go through cffi and the
ones that fail raise a Python exception, so the layer counts what it can
instead of asking: each chunk read is fed to OpenSSL whole (``bio_write``),
the TLS record headers in it are counted (5 bytes each, read in Python by
reactor._tlsrecords), and OpenSSL decrypts once per record the chunk
completed, never once more to hear "want read" (test_recordsSplitAnywhere),
all of them into one buffer that is copied out once (reactor._tlsfast's
``recvRecords``).  What the records held reaches the protocol in one
``dataReceived``.  What the protocol writes while it runs inside that call
is kept, and encrypted with one ``send`` when it returns, so a request and
its answer cost one ``bio_write``, one ``recv``, one ``send``, one
``bio_read`` and one write to the transport
(test_answerIsOneRecordAndOneWrite), made straight into OpenSSL by
reactor._tlsfast where this pyOpenSSL allows it (half the instructions of
pyOpenSSL's methods, the fallback).  Writes made at any other time are
encrypted and written at once.  Everything decrypted from a chunk is
delivered before the next chunk is read, so pausing the transport below is
all that ``pauseProducing`` needs: this layer never holds decrypted bytes.

Nagle's algorithm is turned off on the transport below (TCP_NODELAY; the
protocol may turn it back on): with writes already coalesced per turn it
would only delay the second of two writes made in a row, such as a server's
first answer after its session tickets, until the peer's delayed ACK
(test_tlsTurnsNagleOff).

How a connection ends:

- ``loseConnection()`` sends what is written (after the handshake, if it
  is not done yet), then close_notify, then closes the transport below once
  its buffer has drained; it does not wait for the peer's close_notify.
- The peer's close_notify ends the connection with ConnectionDone (a
  half-closeable protocol gets ``readConnectionLost()`` and may keep
  writing).  The transport closing without one is truncation: the protocol
  gets ConnectionLost, never ConnectionDone (test_truncationIsConnectionLost).
- ``loseWriteConnection()`` sends close_notify and half-closes the
  transport below; reading goes on until the peer's close_notify.
- ``abortConnection()`` aborts the transport below: nothing more is sent.
- A handshake that fails (an unverified certificate, no shared cipher...)
  sends OpenSSL's alert and ends the connection with the OpenSSL.SSL.Error
  itself as the reason, so its message carries OpenSSL's reason ("certificate
  verify failed", "unknown ca"...); Loom keeps OpenSSL's exception rather
  than wrapping it, as Twisted does, so ``reason.trap(SSL.Error)`` works.
  An end of file in the middle of it is ConnectionLost.
- A certificate check outside OpenSSL (reactor.ssl's host name check) calls
  ``failVerification(reason)`` from inside an OpenSSL callback: the reason
  is kept, and the connection aborted with it once OpenSSL's call returns.
- Renegotiation started by the peer is refused: OP_NO_RENEGOTIATION is set
  on every connection, and a handshake record arriving after the handshake
  ends the connection with an SSLError (test_peerRenegotiationIsRefused).

A contextFactory is what Twisted accepts: an object with
``clientConnectionForTLS(protocol)``/``serverConnectionForTLS(protocol)``
returning a new ``SSL.Connection(context, None)`` (preferred when present,
as reactor.ssl's options provide), or any object whose ``getContext()``
returns an ``SSL.Context``.
"""

from __future__ import annotations

from typing import Any

from OpenSSL import SSL
from OpenSSL.SSL import WantReadError, ZeroReturnError
from zope.interface import implementer

from reactor._tlsfast import FastCalls, hotCalls, recvEach
from reactor._tlsrecords import APPLICATION_DATA, RecordCounter
from reactor.error import ConnectionDone, ConnectionLost, SSLError
from reactor.failure import Failure
from reactor.interfaces import (
    IConsumer,
    IHalfCloseableProtocol,
    IHandshakeListener,
    INegotiated,
    IProtocol,
    IPushProducer,
    ISSLTransport,
)

__all__ = ["TLSMemoryBIOFactory", "TLSMemoryBIOProtocol"]

_NO_RENEGOTIATION = getattr(SSL, "OP_NO_RENEGOTIATION", 0)
_RECORD_SIZE = 16384  # the most cleartext one TLS record holds
_SEND_SLICE = 262144  # the most cleartext encrypted at once: bounds the BIO
_providesHalfClose = IHalfCloseableProtocol.providedBy


def _truncated() -> Failure:
    return Failure(
        ConnectionLost("the peer closed the connection without a TLS close_notify (truncation)")
    )


@implementer(
    ISSLTransport, INegotiated, IConsumer, IPushProducer, IProtocol, IHalfCloseableProtocol
)
class TLSMemoryBIOProtocol:
    """
    TLS between a transport (below) and the protocol it carries (above).

    :ivar wrappedProtocol: the protocol above; :ivar transport: the
        transport below; :ivar factory: the TLSMemoryBIOFactory.
    :ivar disconnecting: True once loseConnection or abortConnection was
        called, or TLS failed.
    """

    __slots__ = (
        "factory",
        "wrappedProtocol",
        "transport",
        "connected",
        "disconnecting",
        "_connectWrapped",
        "_tls",
        "_io",
        "_handshakeDone",
        "_early",
        "_pending",
        "_unsent",
        "_records",
        "_producer",
        "_streaming",
        "_producerBelow",
        "_producerPaused",
        "_writeShut",
        "_closeSent",
        "_peerClosed",
        "_dead",
        "_reason",
        "_verifyFailure",
    )

    def __init__(
        self, factory: TLSMemoryBIOFactory, wrappedProtocol: Any, _connectWrapped: bool = True
    ):
        """
        :param _connectWrapped: call wrappedProtocol.makeConnection (False
            for startTLS, whose protocol is connected already).
        """
        self.factory = factory
        self.wrappedProtocol = wrappedProtocol
        self.transport: Any = None
        self.connected = False
        self.disconnecting = False
        self._connectWrapped = _connectWrapped
        self._tls: Any = None
        self._io: Any = None  # what the hot path calls: see reactor._tlsfast
        self._handshakeDone = False
        self._early: list = []  # written before the handshake completed
        self._pending: list | None = None  # written during a delivery (a list then)
        self._unsent = 0  # cleartext encrypted into the BIO, not yet sent (see _flushOutput)
        self._records = RecordCounter()  # the framing of what is read
        self._producer: Any = None
        self._streaming = False
        self._producerBelow = False  # registered with the transport below
        self._producerPaused = False  # paused by us, waiting for the handshake
        self._writeShut = False  # loseWriteConnection was called
        self._closeSent = False  # our close_notify is out: no more sending
        self._peerClosed = False  # the peer's close_notify came
        self._dead = False  # aborted or failed: OpenSSL is not called again
        self._reason: Failure | None = None  # what connectionLost will report
        self._verifyFailure: Failure | None = None

    # -- the protocol side (called by the transport below) -------------------

    def makeConnection(self, transport: Any) -> None:
        """Make the TLS connection, connect the protocol above, start the handshake."""
        self.transport = transport
        self.connected = True
        noDelay = getattr(transport, "setTcpNoDelay", None)
        if noDelay is not None:
            noDelay(True)  # see "Nagle's algorithm" in the module docstring
        self._tls = self.factory._connectionFor(self)
        self._io = hotCalls(self._tls)
        if self._connectWrapped:
            self.wrappedProtocol.makeConnection(self)
        if self.factory.isClient and not self._dead:
            # A server's first step waits for the ClientHello: nothing to call.
            self._continueHandshake()
            if self._unsent and not self._dead:
                self._flushOutput()

    def dataReceived(self, data: bytes) -> None:
        """
        Decrypt data; hand what the records it completes held to the
        protocol above, in one call; send what that made OpenSSL write, in
        one write below.  The hot path of the module: see its docstring.
        """
        if self._dead or not data:
            return  # (OpenSSL takes no empty write)
        self._io.bio_write(data)
        if not self._handshakeDone:
            self._records.count(data, False)  # to keep the framing
            records = self._continueHandshake()
        else:
            framing = self._records
            if (
                # Most reads hold one whole application data record: told
                # here, without a call (RecordCounter.count would say 1).
                not framing.left
                and not framing.header
                and data[0] == APPLICATION_DATA
                and len(data) > 5
                and len(data) == (data[3] << 8 | data[4]) + 5
            ):
                records = 1
            else:
                records = framing.count(data, True)
        if records and not self._dead:
            # Decrypt what the records held, into one bytes (-1: until
            # OpenSSL wants more).  Anything but application data (a session
            # ticket, a key update, an alert) ends the reading early, with an
            # exception.
            io = self._io
            if io.__class__ is FastCalls:
                data, error = io.recvRecords(records)
            else:  # the fallback, or a stand-in for it (tests)
                data, error = recvEach(io, records)
            event: Any = None
            if error is not None:
                if isinstance(error, WantReadError):
                    event = WantReadError
                elif isinstance(error, ZeroReturnError):
                    event = ZeroReturnError
                else:
                    event = Failure(error)
            if data:
                # What the protocol writes while it runs is kept, and
                # encrypted in one piece when it returns (an exception
                # included: what was written before it still goes, as over
                # plain TCP).
                pending: list[bytes] = []
                self._pending = pending
                try:
                    self.wrappedProtocol.dataReceived(data)
                finally:
                    self._pending = None
                    if pending and not self._closeSent and not self._dead:
                        self._send(b"".join(pending))
            if event is not None or self._records.renegotiating or self._verifyFailure is not None:
                self._afterRead(event)
        if self._unsent and not self._dead:
            self._flushOutput()

    def _afterRead(self, event: Any) -> None:
        # The rare outcomes of a read, once the data before them is delivered.
        if self._dead:
            return
        if self._verifyFailure is not None:
            self._abortWith(self._verifyFailure)
        elif self._records.renegotiating:
            # _fail sends OpenSSL's no_renegotiation alert first.
            self._fail(Failure(SSLError(string="the peer tried to renegotiate TLS; refused")))
        elif event is ZeroReturnError:
            self._closeNotifyReceived()
        elif isinstance(event, Failure):
            self._fail(event)
        else:
            self._unsent += 1  # maybe an answer (to a key update): dataReceived sends it

    def _closeNotifyReceived(self) -> None:
        # The peer will send no more.  A half-closeable protocol that still
        # writes is told so; otherwise we answer and close.
        self._peerClosed = True
        wrapped = self.wrappedProtocol
        if not self._closeSent and not self.disconnecting and _halfCloseable(wrapped):
            wrapped.readConnectionLost()
            return
        self.disconnecting = True
        self._sendCloseNotify()
        self.transport.loseConnection()

    def readConnectionLost(self) -> None:
        """The transport below read its end of file: an orderly end only after close_notify."""
        if self._peerClosed:
            return
        if self._reason is None and not self.disconnecting:
            self._reason = _truncated()
        self.disconnecting = True
        self._dead = True
        self.transport.loseConnection()

    def writeConnectionLost(self) -> None:
        """The transport below sent its FIN (after our close_notify)."""
        if _halfCloseable(self.wrappedProtocol):
            self.wrappedProtocol.writeConnectionLost()

    def connectionLost(self, reason: Failure) -> None:
        """The transport below is gone: tell the protocol above, once, why."""
        if not self.connected:
            return
        if self._reason is not None:
            reason = self._reason
        elif not self._peerClosed and not self.disconnecting and reason.check(ConnectionDone):
            reason = _truncated()
        self.connected = False
        self.disconnecting = True
        self._dead = True
        self._reason = None
        producer, self._producer = self._producer, None
        if producer is not None and not self._producerBelow:
            producer.stopProducing()
        if self._tls is not None:
            # The app data points back at us: no cycle left for the collector.
            self._tls.set_app_data(None)
        self.wrappedProtocol.connectionLost(reason)

    def logPrefix(self) -> str:
        """Return the protocol above's log prefix, followed by this class's name."""
        wrapped = self.wrappedProtocol
        logPrefix = getattr(wrapped, "logPrefix", None)
        prefix = logPrefix() if logPrefix is not None else type(wrapped).__name__
        return "%s (%s)" % (prefix, type(self).__name__)

    @property
    def autoPauseReading(self) -> Any:
        """The protocol above's choice (the transport below asks the protocol)."""
        return getattr(self.wrappedProtocol, "autoPauseReading", None)

    # -- the handshake ------------------------------------------------------------

    def _continueHandshake(self) -> int:
        # One step of the handshake; what it writes is sent by the caller,
        # with whatever else this turn adds to it.  Returns how many records
        # to read next: -1 (all there are) once the handshake is done.
        self._unsent += 1
        try:
            self._tls.do_handshake()
        except WantReadError:
            if self._verifyFailure is not None:
                self._abortWith(self._verifyFailure)
            return 0
        except Exception:
            # OpenSSL's Error, or what a verification callback raised; when
            # reactor.ssl's check refused the peer, its reason says why
            # (test_tlsClientRefusesTheServerAndSaysWhy).
            verifyFailure = self._verifyFailure
            self._fail(Failure() if verifyFailure is None else verifyFailure)
            return 0
        if self._verifyFailure is not None:
            self._abortWith(self._verifyFailure)
            return 0
        self._handshakeDone = True
        self._handshakeCompleted()
        return -1

    def _handshakeCompleted(self) -> None:
        # Tell the protocol; send what it wrote meanwhile; hand its producer
        # to the transport below; finish a close asked for meanwhile.
        if IHandshakeListener.providedBy(self.wrappedProtocol):
            self.wrappedProtocol.handshakeCompleted()
        if self._dead:
            return
        early, self._early = self._early, []
        if early and not self._closeSent:
            self._encrypt(b"".join(early))
        producer = self._producer
        if producer is not None:
            self._producerBelow = True
            self.transport.registerProducer(producer, self._streaming)
            if self._producerPaused:
                self._producerPaused = False
                producer.resumeProducing()
        elif self.disconnecting:
            self._shutdown()
        elif self._writeShut:
            self._shutdownWrite()

    def failVerification(self, reason: Failure) -> None:
        """
        Abort the connection with reason: called by a certificate check from
        inside an OpenSSL callback, so it only records the reason; the abort
        happens once OpenSSL's call has returned.  The first reason wins.
        """
        if self._verifyFailure is None:
            self._verifyFailure = reason

    # -- sending --------------------------------------------------------------------

    def _send(self, data: Any) -> None:
        # Encrypt data and send it now, with whatever OpenSSL wrote before
        # it, in one write below: how answers made in dataReceived, and
        # writes made at any other time, go out.  The common case, one
        # record, is done here; a long write goes through _encrypt.
        if len(data) > _RECORD_SIZE:
            self._encrypt(data)
            if self._unsent and not self._dead:
                self._flushOutput()
            return
        tls = self._io
        try:
            sent = tls.send(data)  # one record: cheaper than sendall
            if sent < len(data):
                # The peer asked for smaller records (max_fragment_length),
                # and send() took one (test_aPartialSendIsFinished).
                tls.sendall(memoryview(data)[sent:])
        except Exception:
            self._fail(Failure())
            return
        unsent = self._unsent + len(data)
        self._unsent = 0
        size = unsent + (unsent >> 4) + 4096
        out = tls.bio_read(size)
        if len(out) == size:
            out = self._readMore(out, size)
        self.transport.write(out)

    def _encrypt(self, data: Any) -> None:
        # Encrypt into the BIO; _flushOutput sends it.  sendall, because
        # pyOpenSSL's contexts allow partial writes (send() takes one record,
        # 16 KiB, at a time); a long write in slices, each sent before the
        # next, so that the BIO never holds much more than one.
        tls = self._io
        try:
            if len(data) <= _SEND_SLICE:
                tls.sendall(data)
                self._unsent += len(data)
                return
            view = memoryview(data)
            for start in range(0, len(view), _SEND_SLICE):
                piece = view[start : start + _SEND_SLICE]
                tls.sendall(piece)
                self._unsent += len(piece)
                self._flushOutput()
        except Exception:
            self._fail(Failure())

    def _flushOutput(self) -> None:
        # Move what OpenSSL wrote to its BIO to the transport below, in one
        # write.  _unsent, the cleartext encrypted since the last flush (or
        # a guess, when OpenSSL may have written something of its own),
        # sizes the read: records add a few per cent to what they carry.
        unsent = self._unsent
        self._unsent = 0
        size = unsent + (unsent >> 4) + 4096
        try:
            data = self._io.bio_read(size)
        except WantReadError:
            return
        if len(data) == size:
            data = self._readMore(data, size)
        self.transport.write(data)

    def _readMore(self, data: bytes, size: int) -> bytes:
        # The BIO held more than the guess: read on until it is empty.
        pieces = [data]
        while len(data) == size:
            try:
                data = self._io.bio_read(size)
            except WantReadError:
                break
            pieces.append(data)
        return b"".join(pieces)

    def _sendCloseNotify(self) -> None:
        # Send what is written, then close_notify: nothing is sent after it.
        if self._closeSent or self._dead:
            return
        pending = self._pending
        if pending:
            self._encrypt(b"".join(pending))
            del pending[:]
        self._closeSent = True
        try:
            self._tls.shutdown()
        except Exception:
            pass  # in the middle of a handshake: nothing to say
        self._unsent += 1
        self._flushOutput()

    def _fail(self, reason: Failure) -> None:
        # TLS cannot go on: send OpenSSL's alert, if any, then close with reason.
        if self._reason is None:
            self._reason = reason
        self.disconnecting = True
        if not self._dead:
            self._dead = True
            self._unsent += 1
            self._flushOutput()
        self.transport.loseConnection()

    def _abortWith(self, reason: Failure) -> None:
        if self._reason is None:
            self._reason = reason
        self.abortConnection()

    # -- the transport side (called by the protocol above) -------------------

    def write(self, data: bytes) -> None:
        """
        Send data encrypted: after the protocol's dataReceived returns if it
        is called from there, else at once (after the handshake, if it is not
        done).  Ignored once closing, unless a producer is still registered.
        """
        pending = self._pending
        if pending is not None and data and not self.disconnecting:
            if data.__class__ is str:
                raise TypeError("write() takes bytes, not str")
            pending.append(data)
            return
        if data.__class__ is str:
            raise TypeError("write() takes bytes, not str")
        if not data or self._closeSent or self._dead:
            return
        if self.disconnecting and self._producer is None:
            return
        if pending is not None:
            pending.append(data)
        elif self._handshakeDone:
            self._send(data)
        else:
            self._early.append(data)
            if self._streaming and not self._producerPaused:
                self._producerPaused = True
                self._producer.pauseProducing()

    def writeSequence(self, sequence: Any) -> None:
        """Send the bytes of sequence, joined: one write."""
        self.write(b"".join(sequence))

    def loseConnection(self) -> None:
        """
        Send what is written, then close_notify, then close the transport
        below once it has sent everything.  With a producer registered, this
        happens once it is unregistered.
        """
        if self.disconnecting or not self.connected:
            return
        self.disconnecting = True
        if not self._handshakeDone:
            if not self._early and self._producer is None:
                self._closeBeforeHandshake()
            return  # the handshake completing will finish the close
        if self._producer is None:
            self._shutdown()

    def _closeBeforeHandshake(self) -> None:
        # Nothing to send: no handshake just to say goodbye.
        self._dead = True
        self.transport.loseConnection()

    def _shutdown(self) -> None:
        self._sendCloseNotify()
        self.transport.loseConnection()

    def loseWriteConnection(self) -> None:
        """Half-close: send close_notify and FIN after what is written; go on reading."""
        if self.disconnecting or self._writeShut or not self.connected:
            return
        self._writeShut = True
        if self._handshakeDone and self._producer is None:
            self._shutdownWrite()

    def _shutdownWrite(self) -> None:
        self._sendCloseNotify()
        if self._peerClosed:
            self.transport.loseConnection()
        else:
            self.transport.loseWriteConnection()

    def abortConnection(self) -> None:
        """Drop everything and abort the transport below at once."""
        if not self.connected:
            return
        self.disconnecting = True
        self._dead = True
        self._closeSent = True
        self._early = []
        if self._pending:
            del self._pending[:]
        self.transport.abortConnection()

    def getPeer(self) -> Any:
        """Return the peer's address, as the transport below knows it."""
        return self.transport.getPeer()

    def getHost(self) -> Any:
        """Return this side's address, as the transport below knows it."""
        return self.transport.getHost()

    def getPeerCertificate(self) -> Any:
        """Return the peer's certificate (an OpenSSL.crypto.X509), or None."""
        tls = self._tls
        return None if tls is None else tls.get_peer_certificate()

    def getHandle(self) -> Any:
        """Return the OpenSSL.SSL.Connection."""
        return self._tls

    @property
    def negotiatedProtocol(self) -> bytes | None:
        """The protocol ALPN chose (bytes), or None until it is chosen, or without ALPN."""
        tls = self._tls
        return None if tls is None else (tls.get_alpn_proto_negotiated() or None)

    def getBufferSize(self) -> int:
        """Return the bytes waiting to be sent: below, and written before the handshake."""
        below = getattr(self.transport, "getBufferSize", None)
        return (below() if below is not None else 0) + sum(map(len, self._early))

    # -- producers and consumers -------------------------------------------------

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """
        Take data from producer, with the transport below's flow control
        once the handshake is done; before it, a push producer that writes
        is paused and a pull producer is not asked for anything.

        :raises RuntimeError: if a producer is already registered.
        """
        if self._producer is not None:
            raise RuntimeError(
                "Cannot register producer %s, because producer %s was never "
                "unregistered." % (producer, self._producer)
            )
        if not self.connected or self._dead:
            producer.stopProducing()
            return
        self._producer = producer
        self._streaming = bool(streaming)
        self._producerPaused = False
        if self._handshakeDone:
            self._producerBelow = True
            self.transport.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        """Stop taking data from the producer; a close waiting for it goes on."""
        if self._producer is None:
            return
        self._producer = None
        self._streaming = False
        self._producerPaused = False
        if self._producerBelow:
            self._producerBelow = False
            self.transport.unregisterProducer()
        if not self._handshakeDone or self._dead:
            if self.disconnecting and not self._early and not self._dead:
                self._closeBeforeHandshake()
            return
        if self.disconnecting:
            self._shutdown()
        elif self._writeShut:
            self._shutdownWrite()

    @property
    def producer(self) -> Any:
        """The registered producer, or None."""
        return self._producer

    def pauseProducing(self) -> None:
        """Stop reading (the transport below stops)."""
        self.transport.pauseProducing()

    def resumeProducing(self) -> None:
        """Read again."""
        self.transport.resumeProducing()

    def stopProducing(self) -> None:
        """Stop for good: close the connection."""
        self.loseConnection()

    def __getattr__(self, name: str) -> Any:
        # Only for what this class lacks: ask the transport below
        # (setTcpNoDelay, reactor, ...).
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.transport, name)

    def __repr__(self) -> str:
        return "<%s over %r>" % (type(self).__name__, self.transport)


def _halfCloseable(protocol: Any) -> bool:
    return getattr(protocol, "readConnectionLost", None) is not None and _providesHalfClose(
        protocol
    )


class TLSMemoryBIOFactory:
    """
    A factory that adds TLS to the connections of the factory it wraps.

    What the port or connector says to it goes to the wrapped factory
    (doStart, doStop, startedConnecting, clientConnectionFailed,
    clientConnectionLost; Loom's clientConnectionMade with the protocol
    above), so a ClientFactory's reconnecting logic works through it.

    :param contextFactory: see the module docstring.
    :param isClient: whether this side sends the ClientHello.
    :param wrappedFactory: builds the protocol above.
    :param clock: accepted as Twisted's is; unused: this layer schedules nothing.
    """

    protocol = TLSMemoryBIOProtocol
    noisy = False

    def __init__(self, contextFactory: Any, isClient: bool, wrappedFactory: Any, clock: Any = None):
        self.contextFactory = contextFactory
        self.isClient = isClient
        self.wrappedFactory = wrappedFactory
        name = "clientConnectionForTLS" if isClient else "serverConnectionForTLS"
        self._creator = getattr(contextFactory, name, None)

    def _connectionFor(self, protocol: TLSMemoryBIOProtocol) -> Any:
        # A new SSL.Connection on memory BIOs, pointing back at protocol.
        if self._creator is not None:
            connection = self._creator(protocol)
        else:
            connection = SSL.Connection(self.contextFactory.getContext(), None)
        if self.isClient:
            connection.set_connect_state()
        else:
            connection.set_accept_state()
        connection.set_app_data(protocol)
        if _NO_RENEGOTIATION:
            connection.set_options(_NO_RENEGOTIATION)
        return connection

    def buildProtocol(self, addr: Any) -> TLSMemoryBIOProtocol | None:
        """Build the wrapped factory's protocol for addr, and TLS around it (None: refused)."""
        wrapped = self.wrappedFactory.buildProtocol(addr)
        if wrapped is None:
            return None
        return self.protocol(self, wrapped)

    def doStart(self) -> None:
        """A port or connector started using this factory: tell the wrapped one."""
        self.wrappedFactory.doStart()

    def doStop(self) -> None:
        """A port or connector stopped using this factory: tell the wrapped one."""
        self.wrappedFactory.doStop()

    def startedConnecting(self, connector: Any) -> None:
        """Pass on to the wrapped factory."""
        self.wrappedFactory.startedConnecting(connector)

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        """Pass on to the wrapped factory."""
        self.wrappedFactory.clientConnectionFailed(connector, reason)

    def clientConnectionLost(self, connector: Any, reason: Failure) -> None:
        """Pass on to the wrapped factory."""
        self.wrappedFactory.clientConnectionLost(connector, reason)

    def clientConnectionMade(self, protocol: TLSMemoryBIOProtocol) -> None:
        """Tell the wrapped factory, if it listens, with the protocol above."""
        notify = getattr(self.wrappedFactory, "clientConnectionMade", None)
        if notify is not None:
            notify(protocol.wrappedProtocol)

    def logPrefix(self) -> str:
        """Return the wrapped factory's log prefix, marked as TLS."""
        logPrefix = getattr(self.wrappedFactory, "logPrefix", None)
        prefix = logPrefix() if logPrefix is not None else type(self.wrappedFactory).__name__
        return "%s (TLS)" % (prefix,)
