"""
Framing receivers: turn a byte stream cut anywhere into lines, netstrings or
length-prefixed strings, and FileSender, a producer that streams a file.

The one idea is linear-time splitting.  Twisted's LineReceiver takes one line
at a time off the front of its buffer, copying the rest each time, so a chunk
holding n lines costs O(n^2).  Here a chunk is split once
(``bytes.split(delimiter)``), the lines are handed out from an iterator, and
only the incomplete tail stays buffered.  When a callback changes how the
rest must be read (``setRawMode``, ``pauseProducing``, ``clearLineBuffer``,
``loseConnection``), or reads Twisted's ``_buffer``, the lines not yet
delivered are joined back with the delimiter, so no byte is lost or
duplicated (see the chunking property tests in
tests/protocols/test_basic_properties.py).

The length-prefixed receivers likewise walk one buffer with an offset and
slice each string out once; the offset is kept on the receiver so that
``recvd`` (Twisted's attribute) can show, and replace, what is left.

Every receiver can also hold a peer to a deadline per message
(``messageTimeout``): a slow sender that trickles one byte at a time keeps
an idle timeout happy for ever, but not this.  Its timer costs nothing per
message: it is looked at once per chunk, armed only while a partial message
stays buffered, and never reset; when it fires it compares the partial
message's start time with the clock and sleeps again for what remains (see
_Receiver).  A peer dropped for bad framing or slowness is logged in one
rate-limited line (reactor.ratelimit.peerLog), not a traceback.
"""

import functools
import re
import struct

from zope.interface import implementer

from protocols.protocol import Protocol, connectionDone
from reactor import defer, getReactor, ratelimit
from reactor.interfaces import IProducer, IPullProducer

__all__ = [
    "FileSender",
    "IncompleteNetstring",
    "Int8StringReceiver",
    "Int16StringReceiver",
    "Int32StringReceiver",
    "IntNStringReceiver",
    "LineOnlyReceiver",
    "LineReceiver",
    "NetstringParseError",
    "NetstringReceiver",
    "StatefulStringProtocol",
    "StringTooLongError",
]


class NetstringParseError(ValueError):
    """The peer sent something that is not a netstring, or one too long."""


class IncompleteNetstring(Exception):
    """Not enough data yet to complete a netstring."""


class StringTooLongError(AssertionError):
    """A string is too long for the length prefix of its receiver."""


class _NoTransport:
    # Stands in for a missing transport so the hot loops can read
    # ``transport.disconnecting`` without a None check per line.
    disconnecting = False


_NO_TRANSPORT = _NoTransport()
_INTERRUPTED = object()


# A deadline timer may fire a hair before the time it was computed for (float
# rounding of now + remaining): closer than this counts as reached.
_DEADLINE_SLACK = 1e-6


class _Receiver(Protocol):
    """
    What every framing receiver shares: the deadline for completing one
    message, and the one-line log of a peer dropped for misbehaving.

    A receiver's dataReceived calls ``_watchMessage(pending, fresh)`` once
    per chunk, and only when ``messageTimeout`` is set: ``pending`` says a
    partial message is left buffered, ``fresh`` that a message was completed
    during the chunk (so the partial one began in it).  One DelayedCall per
    connection, armed when a partial message first waits; it is never reset
    per message: when it fires it sleeps again until the current partial
    message's own deadline, or does nothing if none waits.

    :ivar messageTimeout: seconds allowed to receive one whole message, from
        its first byte; None (the default, as in Twisted) for no limit.
    :ivar clock: the IReactorTime of the deadline timer (a task.Clock in
        tests); if None, the protocol's ``reactor`` attribute if it has one,
        else the global reactor (TimeoutMixin's rule).
    """

    messageTimeout = None
    clock = None
    _messageClock = None
    _messageStarted = None
    _messageCall = None

    def messageTimedOut(self):
        """
        A message was still incomplete ``messageTimeout`` seconds after its
        first byte: log it (one rate-limited line) and abort the connection.

        Aborted rather than closed cleanly: a peer too slow to send is
        seldom reading, and a clean close would wait for it to read what is
        buffered.  An override that keeps the connection gives the partial
        message a fresh deadline from the next byte that arrives.
        """
        self._logDrop(
            "message timeout",
            "message not complete %g s after its first byte" % (self.messageTimeout,),
        )
        abort = getattr(self.transport, "abortConnection", None)
        if abort is None:
            self.transport.loseConnection()
        else:
            abort()

    def connectionLost(self, reason=connectionDone):
        """Cancel the deadline timer (a subclass overriding this should call it)."""
        call, self._messageCall = self._messageCall, None
        self._messageStarted = None
        if call is not None and call.active():
            call.cancel()

    def _logDrop(self, kind, detail):
        ratelimit.peerLog.msg(
            kind,
            "Dropping %s%s: %s",
            self.logPrefix(),
            ratelimit.describePeer(self.transport),
            detail,
        )

    def _watchMessage(self, pending, fresh):
        if not pending:
            self._messageStarted = None
            return
        clock = self._messageClock or self._findClock()
        if fresh or self._messageStarted is None:
            self._messageStarted = clock.seconds()
        if self._messageCall is None:
            self._messageCall = clock.callLater(self.messageTimeout, self._messageDeadline)

    def _findClock(self):
        clock = self.clock or getattr(self, "reactor", None)
        if clock is None:
            clock = getReactor()
        self._messageClock = clock
        return clock

    def _messageDeadline(self):
        self._messageCall = None
        started, timeout = self._messageStarted, self.messageTimeout
        transport = self.transport
        if started is None or timeout is None or transport is None or transport.disconnecting:
            # Nothing waits, the limit was lifted, or we are closing anyway.
            return
        if getattr(transport, "disconnected", False):
            # connectionLost was overridden without calling ours.
            return
        clock = self._messageClock
        remaining = started + timeout - clock.seconds()
        if remaining > _DEADLINE_SLACK:
            # The message waiting now began after this timer was armed.
            self._messageCall = clock.callLater(remaining, self._messageDeadline)
            return
        self._messageStarted = None
        self.messageTimedOut()


def _tailTooLong(tail, delimiter, maxLength):
    """
    Return True if tail (which holds no delimiter) must begin a line longer
    than maxLength, whatever bytes come next.

    Its end may be the start of a delimiter cut across chunks; only the
    bytes before such a partial delimiter certainly belong to the line.
    """
    excess = len(tail) - maxLength
    if excess <= 0:
        return False
    for partial in range(excess, len(delimiter)):
        if tail.endswith(delimiter[:partial]):
            return False
    return True


# Below this window size, probing costs more than checking each line.
_MIN_PROBE_WINDOW = 64


@functools.lru_cache(maxsize=64)
def _overlapsItself(delimiter):
    """Return True if a proper suffix of delimiter is also its prefix."""
    return any(delimiter[k:] == delimiter[:-k] for k in range(1, len(delimiter)))


def _linesFit(buffer, delimiter, maxLength):
    """
    Return True if no complete line of buffer is longer than maxLength.

    A handful of C-level ``find`` calls instead of a ``len()`` per line:
    if every window of ``maxLength // 2 + len(delimiter)`` bytes holds a
    whole delimiter, two consecutive delimiters are at most two windows
    apart, so the line between them has at most ``maxLength`` bytes.  False
    means "cannot tell cheaply": the caller then checks each line.
    """
    window = maxLength // 2 + len(delimiter)
    if window < _MIN_PROBE_WINDOW or _overlapsItself(delimiter):
        # (A delimiter like b"\n\n" can be found where split() does not cut.)
        return len(buffer) <= maxLength
    find = buffer.find
    for start in range(0, len(buffer) - window + 1, window):
        if find(delimiter, start, start + window) < 0:
            return False
    return True


class _PauseableMixin:
    """Pausing a receiver pauses its transport and holds back its events."""

    paused = False

    def pauseProducing(self):
        """Stop delivering events and pause the transport's reading."""
        self.paused = True
        self.transport.pauseProducing()

    def resumeProducing(self):
        """Deliver what is buffered, then resume the transport's reading."""
        self.paused = False
        self.transport.resumeProducing()
        self.dataReceived(b"")

    def stopProducing(self):
        """Stop delivering events and stop the transport for good."""
        self.paused = True
        self.transport.stopProducing()


# -- lines ---------------------------------------------------------------------


class LineReceiver(_Receiver, _PauseableMixin):
    """
    A protocol that receives lines and/or raw data, by mode.

    In line mode each line (without its delimiter) goes to ``lineReceived``;
    after ``setRawMode()`` every byte goes to ``rawDataReceived`` until
    ``setLineMode(extra)``.  A line longer than ``MAX_LENGTH`` goes to
    ``lineLengthExceeded``, which drops the connection by default.  No line
    is delivered once the transport is disconnecting.  With
    ``messageTimeout`` set, a line still incomplete that many seconds after
    its first byte calls ``messageTimedOut`` (raw mode and pauses are not
    timed).

    :ivar delimiter: the line separator, ``b"\\r\\n"``.
    :ivar MAX_LENGTH: the longest line accepted, in bytes (16384).
    :ivar line_mode: True in line mode, False in raw mode.
    :ivar messageTimeout: seconds allowed for one line, or None (no limit).
    """

    line_mode = True
    # What is not yet delivered is the lines left in _pending (while a chunk
    # is being handed out), then the bytes of _unparsed.
    _unparsed = b""
    _busyReceiving = False
    _pending = iter(())
    delimiter = b"\r\n"
    MAX_LENGTH = 16384

    @property
    def _buffer(self):
        """
        Every byte received and not yet delivered, as in Twisted, where code
        that switches protocols reaches into it (``rest = self._buffer;
        self._buffer = b""``); setting it replaces those bytes, which are
        parsed next.  Read from lineReceived, it includes the lines of the
        current chunk not yet delivered (they are put back as bytes, and
        delivered after all unless replaced).  Prefer clearLineBuffer().
        """
        pending = list(self._pending)
        if pending:
            pending.append(self._unparsed)
            self._unparsed = self.delimiter.join(pending)
        return self._unparsed

    @_buffer.setter
    def _buffer(self, data):
        # Exhaust the iterator the delivery loop walks, so it stops there.
        for _ in self._pending:
            pass
        self._unparsed = data

    def clearLineBuffer(self):
        """
        Discard and return every byte received but not yet delivered.

        Called from lineReceived, this includes the rest of the current chunk:
        a protocol that hands the connection over to another gives it these.
        """
        rest = self._buffer
        self._unparsed = b""
        return rest

    def dataReceived(self, data):
        """Split data into lines (or pass it on raw) and deliver them."""
        if self._busyReceiving:
            # Called back from inside our own callback (setLineMode(extra),
            # resumeProducing, a loopback): the running loop will get to it.
            self._unparsed += data
            return None
        if self.messageTimeout is None:
            return self._receive(data)
        # The buffer keeps exactly its old tail plus data unless a line was
        # taken off it, that is, unless the partial line left is a new one.
        untouched = len(self._unparsed) + len(data)
        why = self._receive(data)
        buffer = self._unparsed
        self._watchMessage(buffer and self.line_mode and not self.paused, len(buffer) != untouched)
        return why

    def _receive(self, data):
        self._unparsed += data
        self._busyReceiving = True
        try:
            return self._deliver()
        finally:
            self._busyReceiving = False
            self._pending = iter(())

    def _deliver(self):
        delimiter = self.delimiter
        transport = self.transport or _NO_TRANSPORT
        while self._unparsed and not self.paused:
            if not self.line_mode:
                data, self._unparsed = self._unparsed, b""
                why = self.rawDataReceived(data)
                if why:
                    return why
                continue
            if transport.disconnecting:
                # No line, and no second lineLengthExceeded, once closing.
                self._unparsed = b""
                return None
            buffer = self._unparsed
            parts = buffer.split(delimiter)
            tail = self._unparsed = parts.pop()
            lines = self._pending = iter(parts)
            if _linesFit(buffer, delimiter, self.MAX_LENGTH):
                why = self._deliverLines(lines, transport)
            else:
                why = self._deliverCheckedLines(lines, transport)
            if why is _INTERRUPTED:
                continue
            if why is not None:
                return why
            if self._unparsed is tail:
                # Nothing arrived meanwhile: the tail waits for more data,
                # unless it is already too long to become a valid line.
                if _tailTooLong(tail, delimiter, self.MAX_LENGTH):
                    self._unparsed = b""
                    return self.lineLengthExceeded(tail)
                return None
        return None

    def _deliverLines(self, lines, transport):
        """
        Hand each line to lineReceived until one changes the reading.

        The caller has checked that no line is longer than MAX_LENGTH.
        :return: None when every line was delivered; _INTERRUPTED when a
            callback changed the mode (the rest is back in self._unparsed);
            otherwise the value dataReceived must return (False: stop quietly).
        """
        for line in lines:
            if transport.disconnecting:
                self._unparsed = b""
                return False
            # self.lineReceived(line), not a local bound method: 3.11
            # specialises this form and it is measurably faster.
            why = self.lineReceived(line)
            if why or self.paused or not self.line_mode:
                return self._interrupted(why, lines)
        return None

    def _deliverCheckedLines(self, lines, transport):
        """Like _deliverLines, checking each line against MAX_LENGTH."""
        maxLength = self.MAX_LENGTH
        for line in lines:
            if transport.disconnecting:
                self._unparsed = b""
                return False
            if len(line) > maxLength:
                return self._lineTooLong(line, lines)
            why = self.lineReceived(line)
            if why or self.paused or not self.line_mode:
                return self._interrupted(why, lines)
        return None

    def _interrupted(self, why, lines):
        # Put the lines not delivered back in front of the buffer, as bytes.
        rest = list(lines)
        rest.append(self._unparsed)
        self._unparsed = self.delimiter.join(rest)
        return why or _INTERRUPTED

    def _lineTooLong(self, line, lines):
        parts = [line]
        parts.extend(lines)
        parts.append(self._unparsed)
        self._unparsed = b""
        return self.lineLengthExceeded(self.delimiter.join(parts))

    def setLineMode(self, extra=b""):
        """
        Go back to line mode; extra (bytes already read) is parsed as lines.

        Called from rawDataReceived, extra is parsed before anything that
        arrives later.
        """
        self.line_mode = True
        if extra:
            return self.dataReceived(extra)
        return None

    def setRawMode(self):
        """Send everything not yet delivered, and all later data, to rawDataReceived."""
        self.line_mode = False

    def rawDataReceived(self, data):
        """Raw data arrived (in raw mode); override this if you use raw mode."""
        raise NotImplementedError

    def lineReceived(self, line):
        """A line arrived, without its delimiter; override this."""
        raise NotImplementedError

    def sendLine(self, line):
        """Write line followed by the delimiter to the transport."""
        return self.transport.write(line + self.delimiter)

    def lineLengthExceeded(self, line):
        """
        A line longer than MAX_LENGTH arrived (or is arriving): log it (one
        rate-limited line) and drop the connection.

        :param line: the long line and everything buffered after it.
        """
        self._logDrop("line too long", "line longer than %d bytes" % (self.MAX_LENGTH,))
        return self.transport.loseConnection()


class LineOnlyReceiver(_Receiver):
    """
    A faster line receiver with no raw mode and no pausing.

    Unlike Twisted's, a line of exactly MAX_LENGTH bytes is accepted however
    its delimiter is cut across chunks.

    :ivar delimiter: the line separator, ``b"\\r\\n"``.
    :ivar MAX_LENGTH: the longest line accepted, in bytes (16384).
    :ivar messageTimeout: seconds allowed for one line, from its first byte,
        or None (no limit); past it ``messageTimedOut`` is called.
    """

    _buffer = b""
    delimiter = b"\r\n"
    MAX_LENGTH = 16384

    def dataReceived(self, data):
        """Split data into lines and hand each to lineReceived."""
        if self.messageTimeout is None:
            return self._receive(data)
        untouched = len(self._buffer) + len(data)
        why = self._receive(data)
        self._watchMessage(self._buffer, len(self._buffer) != untouched)
        return why

    def _receive(self, data):
        transport = self.transport or _NO_TRANSPORT
        if transport.disconnecting:
            self._buffer = b""
            return None
        buffer = self._buffer + data
        delimiter = self.delimiter
        lines = buffer.split(delimiter)
        tail = self._buffer = lines.pop()
        if not _linesFit(buffer, delimiter, self.MAX_LENGTH):
            return self._checkedLines(lines, transport, tail)
        for line in lines:
            if transport.disconnecting:
                self._buffer = b""
                return None
            self.lineReceived(line)
        return self._checkTail(tail)

    def _checkedLines(self, lines, transport, tail):
        maxLength = self.MAX_LENGTH
        for line in lines:
            if transport.disconnecting:
                self._buffer = b""
                return None
            if len(line) > maxLength:
                self._buffer = b""
                return self.lineLengthExceeded(line)
            self.lineReceived(line)
        return self._checkTail(tail)

    def _checkTail(self, tail):
        if self._buffer is tail and _tailTooLong(tail, self.delimiter, self.MAX_LENGTH):
            self._buffer = b""
            return self.lineLengthExceeded(tail)
        return None

    def lineReceived(self, line):
        """A line arrived, without its delimiter; override this."""
        raise NotImplementedError

    def sendLine(self, line):
        """Write line followed by the delimiter to the transport."""
        return self.transport.write(line + self.delimiter)

    def lineLengthExceeded(self, line):
        """A line longer than MAX_LENGTH arrived: log it (rate-limited) and drop the connection."""
        self._logDrop("line too long", "line longer than %d bytes" % (self.MAX_LENGTH,))
        return self.transport.loseConnection()


# -- length-prefixed strings ------------------------------------------------------


class IntNStringReceiver(_Receiver, _PauseableMixin):
    """
    Receives strings each preceded by its length as a fixed-size integer.

    Subclasses set ``structFormat`` (a struct format of one unsigned
    integer) and ``prefixLength``.  A length over ``MAX_LENGTH`` calls
    ``lengthLimitExceeded`` (which drops the connection by default); the
    stream cannot be re-framed after that, so later data is ignored.  With
    ``messageTimeout`` set, a string (prefix included) still incomplete that
    many seconds after its first byte calls ``messageTimedOut``.

    :ivar MAX_LENGTH: the longest string accepted (99999).
    :ivar brokenPeer: True once a length over MAX_LENGTH was seen.
    :ivar recvd: the bytes received and not yet delivered, as in Twisted;
        settable (see the property).
    :ivar messageTimeout: seconds allowed for one string, or None (no limit).
    """

    MAX_LENGTH = 99999
    structFormat: str | None = None
    prefixLength: int | None = None
    brokenPeer = False
    _busyReceiving = False
    # Outside dataReceived, _unprocessed holds every byte not yet delivered.
    # During it, the bytes being cut are _working[_offset:], and
    # _unprocessed collects what arrives re-entrantly (from stringReceived).
    _unprocessed = b""
    _working = b""
    _offset = 0
    _recvdSet = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if cls.__dict__.get("structFormat") is not None:
            cls._unpackFrom = struct.Struct(cls.structFormat).unpack_from
            cls.prefixLength = struct.calcsize(cls.structFormat)

    @property
    def recvd(self):
        """
        Every byte received and not yet delivered, prefixes included.

        Read from stringReceived it is what follows the current string; from
        lengthLimitExceeded, the offending prefix and what follows it (and
        after that, nothing: unlike Twisted's, a broken peer's bytes are not
        kept).  A
        protocol that hands the connection over to another mid-stream gives
        it ``self.recvd`` and sets ``self.recvd = b""``.  Setting it from
        stringReceived replaces what is left: the next string is cut from
        the new bytes.  Set from outside dataReceived, the new bytes are
        cut when more data arrives.
        """
        if self._busyReceiving:
            return self._working[self._offset :] + self._unprocessed
        return self._unprocessed

    @recvd.setter
    def recvd(self, data):
        if self._busyReceiving:
            self._working, self._offset, self._unprocessed = data, 0, b""
            self._recvdSet = True
        else:
            self._unprocessed = data

    def stringReceived(self, string):
        """A complete string arrived; override this."""
        raise NotImplementedError

    def lengthLimitExceeded(self, length):
        """A length prefix over MAX_LENGTH arrived: log it (rate-limited), drop the connection."""
        self._logDrop(
            "length limit exceeded",
            "string of %d bytes announced, over the maximum %d" % (length, self.MAX_LENGTH),
        )
        self.transport.loseConnection()

    def dataReceived(self, data):
        """Cut data into strings and hand each to stringReceived."""
        if self.brokenPeer:
            return
        if self._busyReceiving:
            # Re-entered from stringReceived: the running loop picks it up.
            self._unprocessed += data
            return
        if self.messageTimeout is None:
            self._receive(data)
            return
        # A string's prefix stays buffered with it until the string is
        # complete: the length changes only when a string was taken off.
        untouched = len(self._unprocessed) + len(data)
        self._receive(data)
        rest = self._unprocessed
        self._watchMessage(rest and not self.paused and not self.brokenPeer, len(rest) != untouched)

    def _receive(self, data):
        self._working = self._unprocessed + data if self._unprocessed else data
        self._offset = 0
        self._unprocessed = b""
        self._busyReceiving = True
        try:
            while self._cut():
                pass
        finally:
            self._busyReceiving = False
            rest, self._working = self._working, b""
            offset = self._offset
            if offset:
                rest = rest[offset:]
            self._unprocessed = rest + self._unprocessed if self._unprocessed else rest

    def _cut(self):
        """
        Deliver the complete strings of ``_working`` from ``_offset`` on.

        :return: True to be called again: a callback replaced ``recvd``, or
            more data arrived re-entrantly and we are not paused.
        """
        if self.paused:
            return False
        alldata = self._working
        offset = self._offset
        end = len(alldata)
        prefixLength = self.prefixLength
        unpackFrom = self._unpackFrom
        maxLength = self.MAX_LENGTH
        while True:
            try:
                (length,) = unpackFrom(alldata, offset)
            except struct.error:
                # Fewer than prefixLength bytes left; the try costs nothing
                # on 3.11 until it raises, once per chunk.
                break
            if length > maxLength:
                # The callback sees recvd from the offending prefix on, as
                # in Twisted.  Then, since the stream cannot be re-framed,
                # nothing more is parsed and the bytes are let go.
                self.brokenPeer = True
                self.lengthLimitExceeded(length)
                self._working, self._offset, self._unprocessed = b"", 0, b""
                self._recvdSet = False
                return False
            start = offset + prefixLength
            stop = start + length
            if stop > end:
                break
            # _offset tells recvd where the undelivered bytes start.
            self._offset = offset = stop
            self.stringReceived(alldata[start:stop])
            if self.paused or self._recvdSet:
                break
        if self._recvdSet:
            self._recvdSet = False
            return not self.paused
        if self._unprocessed and not self.paused:
            self._working = alldata[offset:] + self._unprocessed
            self._offset, self._unprocessed = 0, b""
            return True
        return False

    def sendString(self, string):
        """
        Write string preceded by its length.

        :raises StringTooLongError: if the length does not fit the prefix.
        """
        if len(string) >= 2 ** (8 * self.prefixLength):
            raise StringTooLongError(
                "Try to send %d bytes whereas maximum is %d"
                % (len(string), 2 ** (8 * self.prefixLength))
            )
        self.transport.write(struct.pack(self.structFormat, len(string)) + string)


class Int32StringReceiver(IntNStringReceiver):
    """Strings prefixed by a 32-bit big-endian length."""

    structFormat = "!I"


class Int16StringReceiver(IntNStringReceiver):
    """Strings prefixed by a 16-bit big-endian length."""

    structFormat = "!H"


class Int8StringReceiver(IntNStringReceiver):
    """Strings prefixed by an 8-bit length."""

    structFormat = "!B"


# -- netstrings ----------------------------------------------------------------------

_DIGITS = re.compile(rb"\d*")


class NetstringReceiver(_Receiver):
    """
    Receives netstrings (``b"5:hello,"``), see https://cr.yp.to/proto/netstrings.txt.

    A malformed netstring, a length with a leading zero, or one over
    ``MAX_LENGTH`` drops the connection and is logged in one rate-limited
    line (not a traceback: the peer's error is not ours); the error is
    noticed as soon as the bytes received cannot begin a valid netstring,
    whatever the chunking.  With ``messageTimeout`` set, a netstring still
    incomplete that many seconds after its first byte calls
    ``messageTimedOut``.

    :ivar MAX_LENGTH: the longest string accepted (99999).
    :ivar brokenPeer: True once the peer sent something malformed.
    :ivar messageTimeout: seconds allowed for one netstring, or None (no limit).
    """

    MAX_LENGTH = 99999
    brokenPeer = False
    _buffer = b""
    _more = b""  # data received re-entrantly (from stringReceived), parsed next
    _busyReceiving = False
    _expected = None  # the payload length being read, or None while reading a length

    def stringReceived(self, string):
        """A complete string arrived; override this."""
        raise NotImplementedError

    def sendString(self, string):
        """Write string as a netstring."""
        self.transport.write(b"%d:%s," % (len(string), string))

    def dataReceived(self, data):
        """
        Parse netstrings out of data and hand each to stringReceived.

        On a malformed netstring, the strings before it have been delivered;
        then brokenPeer is set, one rate-limited line is logged, and the
        connection is closed with loseConnection (not aborted), as Twisted
        does.  Nothing more is parsed or delivered on that connection.
        """
        if self.brokenPeer:
            return
        if self._busyReceiving:
            # Re-entered from stringReceived (an echo through a loopback,
            # say): the running loop parses it after what it holds.
            self._more += data
            return
        self._buffer += data
        self._busyReceiving = True
        try:
            delivered = self._parseAll()
        except NetstringParseError as error:
            self._malformed(error)
            return
        finally:
            self._busyReceiving = False
        if self.messageTimeout is not None:
            # The length prefix is consumed before its string is complete,
            # so only a delivered string means a new message began.
            pending = self._buffer or self._expected is not None
            self._watchMessage(pending and not self.brokenPeer, delivered)

    def _malformed(self, error):
        # The flag goes up before the close, so whatever loseConnection runs
        # (a test transport's immediate connectionLost) sees a broken peer.
        self.brokenPeer = True
        self._buffer = self._more = b""
        self._logDrop("malformed netstring", "malformed netstring (%s)" % (error,))
        self.transport.loseConnection()

    def _parseAll(self):
        """Parse what is buffered, then what arrived meanwhile; return True if any string came."""
        delivered = False
        try:
            while True:
                delivered = self._parse() or delivered
                if not self._more or self.brokenPeer:
                    return delivered
                more, self._more = self._more, b""
                self._buffer += more
        finally:
            if self._more:
                # stringReceived raised: keep the re-entrant data, in order.
                self._buffer += self._more
                self._more = b""

    def _parse(self):
        """Deliver the complete netstrings buffered; return True if there were any."""
        buffer = self._buffer
        offset = 0
        end = len(buffer)
        delivered = False
        try:
            while offset < end and not self.brokenPeer:
                if self._expected is None:
                    offset = self._parseLength(buffer, offset, end)
                    continue
                stop = offset + self._expected
                if stop >= end:
                    break
                if buffer[stop : stop + 1] != b",":
                    raise NetstringParseError("missing comma after the string")
                string = buffer[offset:stop]
                offset = stop + 1
                self._expected = None
                delivered = True
                self.stringReceived(string)
        except IncompleteNetstring:
            pass
        finally:
            # Also when a callback raised: what was delivered is gone.
            self._buffer = buffer[offset:]
        return delivered

    def _parseLength(self, buffer, offset, end):
        """Read ``digits:`` at offset; return the offset of the payload."""
        digitsEnd = _DIGITS.match(buffer, offset).end()
        digits = buffer[offset:digitsEnd]
        if len(digits) > 1 and digits[0:1] == b"0":
            raise NetstringParseError("netstring length has a leading zero")
        # More digits than MAX_LENGTH has is too long already: checked before
        # int(), which refuses (ValueError) more than 4300 digits.
        if len(digits) > len(str(self.MAX_LENGTH)) or (digits and int(digits) > self.MAX_LENGTH):
            raise NetstringParseError("netstring longer than the maximum %d" % (self.MAX_LENGTH,))
        if digitsEnd == end:
            raise IncompleteNetstring()
        if buffer[digitsEnd : digitsEnd + 1] != b":" or not digits:
            raise NetstringParseError("expected a netstring length and ':'")
        self._expected = int(digits)
        return digitsEnd + 1


class StatefulStringProtocol:
    """
    A mixin for the string receivers (NetstringReceiver, the IntN ones) that
    hands each string to the method of the current state.

    ``stringReceived(string)`` calls ``proto_<state>(string)``, whose return
    value is the next state; the state ``"done"`` closes the connection.  A
    state with no method drops the string and is logged (one rate-limited
    line).  List it first among the bases: ``class P(StatefulStringProtocol,
    Int32StringReceiver)``.

    :ivar state: the current state, ``"init"`` to begin with.
    """

    state = "init"

    def stringReceived(self, string):
        """Hand string to ``proto_<state>`` and move to the state it returns."""
        handler = getattr(self, "proto_%s" % (self.state,), None)
        if handler is None:
            ratelimit.peerLog.msg(
                "no state handler",
                "%s: no proto_%s for a string received; dropped",
                type(self).__name__,
                self.state,
            )
            return
        self.state = handler(string)
        if self.state == "done":
            self.transport.loseConnection()


# -- FileSender ----------------------------------------------------------------------


@implementer(IProducer, IPullProducer)
class FileSender:
    """
    A pull producer that sends a file to a consumer, one chunk per request.

    :cvar CHUNK_SIZE: bytes read per resumeProducing (16 KiB).
    """

    CHUNK_SIZE = 2**14
    lastSent = b""
    deferred = None

    def beginFileTransfer(self, file, consumer, transform=None):
        """
        Send file (opened for binary reading) to consumer.

        :param transform: a callable applied to each chunk before writing.
        :return: a Deferred firing with the last byte sent (b"" for an empty
            file) when the file is sent, or failing if stopProducing is called.
        """
        self.file = file
        self.consumer = consumer
        self.transform = transform
        self.deferred = deferred = defer.Deferred()
        self.consumer.registerProducer(self, False)
        return deferred

    def resumeProducing(self):
        """Read one chunk and write it; at the end of the file, finish."""
        if self.file is None:
            return
        chunk = self.file.read(self.CHUNK_SIZE)
        if not chunk:
            self.file = None
            self.consumer.unregisterProducer()
            if self.deferred is not None:
                deferred, self.deferred = self.deferred, None
                deferred.callback(self.lastSent)
            return
        if self.transform is not None:
            chunk = self.transform(chunk)
        self.consumer.write(chunk)
        self.lastSent = chunk[-1:]

    def pauseProducing(self):
        """Nothing to do: a pull producer writes only when asked."""

    def stopProducing(self):
        """Stop sending; the Deferred fails with an exception."""
        if self.deferred is not None:
            deferred, self.deferred = self.deferred, None
            deferred.errback(Exception("Consumer asked us to stop producing"))
