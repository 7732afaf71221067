"""
Banana: the s-expression wire encoding under Perspective Broker.

Every item is a base-128 number (the *prefix*, least significant group
first, high bit clear) followed by one type byte with the high bit set:

    0x80 LIST     prefix = element count; the elements follow
    0x81 INT      prefix = value, 0 <= value < 2**31
    0x82 STRING   prefix = length; that many bytes follow
    0x83 NEG      prefix = -value, -2**31 <= value < 0
    0x84 FLOAT    no prefix; eight bytes of IEEE 754 big-endian follow
    0x85 LONGINT  prefix = value, larger than INT allows
    0x86 LONGNEG  prefix = -value, smaller than NEG allows
    0x87 VOCAB    prefix = the number of a well-known string (``pb`` dialect)

A connection opens with the server sending the list of dialects it knows
(``["pb", "none"]``) and the client answering with the one it picks.  After
that, each side sends whole expressions; ``expressionReceived`` gets each
top-level one.  This is Twisted's format byte for byte.

The one idea: a decoder facing an untrusted peer must bound everything the
peer chooses.  A prefix longer than ``prefixLimit`` bytes, a string or list
longer than ``sizeLimit``, lists nested deeper than ``maxDepth``, an unknown
type byte or vocabulary number, one expression longer than
``expressionLimit`` bytes in all: each breaks the connection -- the reason is
logged, the connection is dropped, and nothing else is affected.  Twisted
bounds prefixes and sizes but not depth or the total; Loom adds both (see
test_deepNestingDisconnects and test_expressionLimit).

Wire warts kept for compatibility:

- A float has its type byte *before* its payload, unlike every other item.
- The size limit is 640 KiB (Twisted's ``SIZE_LIMIT``), so a single bytes
  object larger than that cannot be sent to a Twisted peer at all; Loom
  refuses to encode one too rather than have the peer hang up.
- Strings that happen to equal a vocabulary word (``b"list"``, ``b"None"``)
  go out as VOCAB numbers; they decode back to the same bytes.

Loom's decoder walks the buffer by index (Twisted re-slices the buffer for
every item, which is quadratic in the number of items in one read).  PB's
calls and answers -- whole lists of short items, each in one read -- go
through _readSmall, a tighter reader that hands anything else (a long
prefix, a float, a limit reached, the read ending mid-message) to the
general decoder, which reads it or names what is wrong with it.  A
string longer than what has arrived is not kept in the buffer to be
decoded again with the next read: its pieces are kept as they come (views
of the reads, small ones merged) and joined once when the last arrives, so
each byte of a long string is copied once, however many reads it spans
(test_longStringAcrossReads).
"""

from __future__ import annotations

import re
import struct
from typing import Any, Callable

from protocols.protocol import Protocol
from reactor import log

__all__ = [
    "Banana",
    "BananaError",
    "FLOAT",
    "HIGH_BIT_SET",
    "INT",
    "LIST",
    "LONGINT",
    "LONGNEG",
    "NEG",
    "EXPRESSION_LIMIT",
    "MAX_DEPTH",
    "SIZE_LIMIT",
    "STRING",
    "VOCAB",
    "decode",
    "encode",
    "int2b128",
    "b1282int",
    "setPrefixLimit",
]

# The type bytes, as bytes (Twisted's constants) ...
LIST = b"\x80"
INT = b"\x81"
STRING = b"\x82"
NEG = b"\x83"
FLOAT = b"\x84"
LONGINT = b"\x85"
LONGNEG = b"\x86"
VOCAB = b"\x87"
HIGH_BIT_SET = b"\x80"

# ... and as the ints the decoder compares (indexing bytes gives ints).
_LIST, _INT, _STRING, _NEG, _FLOAT_TYPE, _LONGINT, _LONGNEG, _VOCAB = range(0x80, 0x88)

SIZE_LIMIT = 640 * 1024
MAX_DEPTH = 100
EXPRESSION_LIMIT = 16 * 1024 * 1024

_PREFIX_LIMIT = 64
# A piece of a long string at least this long is kept as a view of the
# read it came in; shorter ones are copied together, so that a peer
# sending a string a byte per read costs memory in proportion to the
# string, not to the number of reads.
_SHARED_PIECE = 8192
_FLOAT = struct.Struct("!d")
_LARGEST_INT = 2**31 - 1
_SMALLEST_INT = -(2**31)

# The pb dialect's well-known strings, numbered as Twisted numbers them.
OUTGOING_VOCABULARY: dict[bytes, int] = {
    word: number
    for number, word in enumerate(
        [
            b"None",
            b"class",
            b"dereference",
            b"reference",
            b"dictionary",
            b"function",
            b"instance",
            b"list",
            b"module",
            b"persistent",
            b"tuple",
            b"unpersistable",
            b"copy",
            b"cache",
            b"cached",
            b"remote",
            b"local",
            b"lcache",
            b"version",
            b"login",
            b"password",
            b"challenge",
            b"logged_in",
            b"not_logged_in",
            b"cachemessage",
            b"message",
            b"answer",
            b"error",
            b"decref",
            b"decache",
            b"uncache",
        ],
        start=1,
    )
}
INCOMING_VOCABULARY: dict[int, bytes] = {n: w for w, n in OUTGOING_VOCABULARY.items()}

# Encoded VOCAB items, built once: the hot path of every PB message.
_VOCAB_ITEMS: dict[bytes, bytes] = {
    word: bytes((number, _VOCAB)) for word, number in OUTGOING_VOCABULARY.items()
}


class BananaError(Exception):
    """Bad banana: an item that cannot be encoded, or a peer breaking the rules."""


def setPrefixLimit(limit: int) -> None:
    """Set the prefix limit for Banana connections made after this call."""
    global _PREFIX_LIMIT
    _PREFIX_LIMIT = limit


def int2b128(integer: int, stream: Callable[[bytes], object]) -> None:
    """Write a non-negative integer to stream as a base-128 prefix."""
    stream(_b128(integer))


def _b128(integer: int) -> bytes:
    if integer < 0x80:
        return bytes((integer,))
    if integer < 0x200000:  # request ids, lengths: two or three digits
        if integer < 0x4000:
            return bytes((integer & 0x7F, integer >> 7))
        return bytes((integer & 0x7F, integer >> 7 & 0x7F, integer >> 14))
    digits = bytearray()
    while integer:
        digits.append(integer & 0x7F)
        integer >>= 7
    return bytes(digits)


def b1282int(digits: bytes) -> int:
    """Read a base-128 prefix back into an integer."""
    value = 0
    for digit in reversed(digits):
        value = (value << 7) | digit
    return value


_SMALL_INTS = [bytes((value, 0x81)) for value in range(0x80)]
_LIST_HEADERS = [bytes((count, 0x80)) for count in range(0x80)]
_STRING_HEADERS = [bytes((size, 0x82)) for size in range(0x80)]
_TYPE_BYTE = re.compile(rb"[\x80-\xff]")


def _encodeInto(
    append: Callable[[bytes], object], item: Any, vocabulary: dict[bytes, bytes], banana: Any
) -> None:
    # Append item's encoding, in parts, with append.  banana gives the limits (sizeLimit,
    # prefixLimit); read only when an item comes near one.
    kind = type(item)
    if kind is list or kind is tuple:
        count = len(item)
        if count > banana.sizeLimit:
            raise BananaError("list/tuple is too long to send (%d)" % (count,))
        append(_LIST_HEADERS[count] if count < 0x80 else _b128(count) + b"\x80")
        # The leaves most PB messages are made of are encoded here, in
        # line; anything else recurses.
        for element in item:
            kind = type(element)
            if kind is bytes:
                word = vocabulary.get(element)
                if word is not None:
                    append(word)
                elif len(element) < 0x80:
                    append(_STRING_HEADERS[len(element)])
                    append(element)
                else:
                    _encodeBytes(append, element, vocabulary, banana)
            elif kind is int and 0 <= element <= _LARGEST_INT:
                # Request ids and small counts.
                if element < 0x80:
                    append(_SMALL_INTS[element])
                elif element < 0x4000:
                    append(bytes((element & 0x7F, element >> 7, 0x81)))
                elif element < 0x200000:
                    append(bytes((element & 0x7F, element >> 7 & 0x7F, element >> 14, 0x81)))
                else:
                    append(_b128(element))
                    append(b"\x81")
            else:
                _encodeInto(append, element, vocabulary, banana)
    elif kind is bytes:
        _encodeBytes(append, item, vocabulary, banana)
    elif kind is int or kind is bool:
        _encodeInt(append, int(item), banana)
    elif kind is float:
        append(b"\x84")
        append(_FLOAT.pack(item))
    elif isinstance(item, (list, tuple)):
        _encodeInto(append, list(item), vocabulary, banana)
    else:
        raise BananaError("Banana cannot send %s objects: %r" % (kind.__name__, item))


def _encodeBytes(
    append: Callable[[bytes], object], item: bytes, vocabulary: dict[bytes, bytes], banana: Any
) -> None:
    word = vocabulary.get(item)
    if word is not None:
        append(word)
        return
    if len(item) > banana.sizeLimit:
        raise BananaError("byte string is too long to send (%d)" % (len(item),))
    append(_b128(len(item)))
    append(b"\x82")
    append(item)


def _encodeInt(append: Callable[[bytes], object], value: int, banana: Any) -> None:
    if value >= 0:
        if value <= _LARGEST_INT:
            append(_b128(value))
            append(b"\x81")
            return
        if value >= 2 ** (banana.prefixLimit * 7):
            raise BananaError("int is too large to send (%d)" % (value,))
        append(_b128(value))
        append(b"\x85")
    elif value >= _SMALLEST_INT:
        append(_b128(-value))
        append(b"\x83")
    else:
        if -value >= 2 ** (banana.prefixLimit * 7):
            raise BananaError("int is too large to send (%d)" % (value,))
        append(_b128(-value))
        append(b"\x86")


class _DefaultLimits:
    # The limits of the module-level encode(): Twisted's defaults.
    sizeLimit = SIZE_LIMIT

    @property
    def prefixLimit(self) -> int:
        return _PREFIX_LIMIT


_DEFAULT_LIMITS = _DefaultLimits()


_NO_WORDS: dict[int, bytes] = {}


class _NotSmall(Exception):
    """Not for _readSmall: the general decoder reads it (or says what is wrong)."""


def _readSmall(
    buffer: bytes,
    position: int,
    count: int,
    vocabulary: dict[int, bytes],
    sizeLimit: int,
    depth: int,
) -> tuple[list[Any], int]:
    """
    Read a list of count items at position, all in buffer; return it and
    where it ends.

    The small-message path: items with prefixes of at most four bytes
    (numbers below 2**28) that are lists, ints, short-enough strings and
    known vocabulary words, lists nested at most depth deep.  Anything
    else -- a longer prefix, a float, an unknown type byte or word, a limit
    broken, the buffer ending -- raises _NotSmall or IndexError, and the
    general decoder starts the expression again, reading it or naming what
    is wrong with it.
    """
    # Literal type bytes and comparisons rather than masks: this loop runs
    # once per item of every message, and each bytecode counts.
    items: list[Any] = []
    append = items.append
    for _ in range(count):
        kind = buffer[position]
        if kind >= 0x80:
            number = 0
            position += 1
        else:
            number = kind
            kind = buffer[position + 1]
            if kind >= 0x80:
                position += 2
            else:
                # Request ids grow past two digits in a long-lived
                # connection: up to four are read here.
                number |= kind << 7
                kind = buffer[position + 2]
                if kind >= 0x80:
                    position += 3
                else:
                    number |= kind << 14
                    kind = buffer[position + 3]
                    if kind >= 0x80:
                        position += 4
                    else:
                        number |= kind << 21
                        kind = buffer[position + 4]
                        if kind < 0x80:
                            raise _NotSmall()
                        position += 5
        if kind == 0x81:  # INT
            append(number)
        elif kind == 0x87:  # VOCAB
            word = vocabulary.get(number)
            if word is None:
                raise _NotSmall()
            append(word)
        elif kind == 0x82:  # STRING
            stop = position + number
            if number > sizeLimit or stop > len(buffer):
                raise _NotSmall()
            append(buffer[position:stop])
            position = stop
        elif kind == 0x80:  # LIST
            if number > sizeLimit or not depth:
                raise _NotSmall()
            item, position = _readSmall(buffer, position, number, vocabulary, sizeLimit, depth - 1)
            append(item)
        elif kind == 0x83:  # NEG
            append(-number)
        else:
            raise _NotSmall()
    return items, position


class Banana(Protocol):
    """
    The Banana protocol, client and server: dialect negotiation, then
    expressions both ways.

    Subclasses override ``expressionReceived`` (each top-level expression
    received) and ``connectionReady`` (called once a dialect is agreed).

    :ivar sizeLimit: the longest string or list accepted or sent.
    :ivar maxDepth: the deepest nesting of lists accepted.
    :ivar prefixLimit: the most prefix bytes accepted before a type byte.
    :ivar expressionLimit: the most bytes one top-level expression may take
        (each string is bounded, but a list of them is bounded only by this).
    :ivar knownDialects: the dialects spoken, in the order a server offers
        them (a client takes the first one offered that it knows).
    :ivar vocabularyDialects: the dialects that use the pb vocabulary.
    """

    knownDialects = [b"pb", b"none"]
    vocabularyDialects: tuple[bytes, ...] = (b"pb",)
    sizeLimit = SIZE_LIMIT
    maxDepth = MAX_DEPTH
    prefixLimit = _PREFIX_LIMIT
    expressionLimit = EXPRESSION_LIMIT

    def __init__(self, isClient: bool = True) -> None:
        self.isClient = isClient
        self.currentDialect: bytes | None = None
        self.listStack: list[tuple[int, list[Any]]] = []
        self._buffer = b""
        self._broken = False
        # Stream offsets: of the buffer's first byte, and of the first byte
        # of the top-level expression being decoded.
        self._offset = 0
        self._expressionStart = 0
        self._vocabulary: dict[bytes, bytes] = {}
        self._incoming: dict[int, bytes] | None = None
        # A string not all here yet: the bytes still to come, and its
        # pieces so far (see _startString).
        self._stringNeeded = 0
        self._stringParts: list[Any] = []

    def setPrefixLimit(self, limit: int) -> None:
        """Set the prefix limit for this connection (see the module's setPrefixLimit)."""
        self.prefixLimit = limit

    def connectionMade(self) -> None:
        """Offer the known dialects, when the server."""
        self.prefixLimit = _PREFIX_LIMIT
        if not self.isClient:
            self.sendEncoded(self.knownDialects)

    def connectionReady(self) -> None:
        """Called once the dialect is agreed: the place to start talking."""

    def expressionReceived(self, expression: Any) -> None:
        """Called with each top-level expression received (a list, bytes, int or float)."""
        raise NotImplementedError()

    def _selectDialect(self, dialect: bytes) -> None:
        self.currentDialect = dialect
        vocabulary = dialect in self.vocabularyDialects
        self._vocabulary = _VOCAB_ITEMS if vocabulary else {}
        self._incoming = INCOMING_VOCABULARY if vocabulary else None
        self.connectionReady()

    def _negotiate(self, expression: Any) -> None:
        if self.isClient:
            offered = expression if isinstance(expression, list) else []
            for dialect in offered:
                if dialect in self.knownDialects:
                    self.sendEncoded(dialect)
                    self._selectDialect(dialect)
                    return
            self.protocolViolation("the server offers no dialect this client speaks")
        elif expression in self.knownDialects:
            self._selectDialect(expression)
        else:
            self.protocolViolation("the client picked a dialect the server did not offer")

    def protocolViolation(self, reason: str) -> None:
        """
        The peer broke the protocol: log reason, drop the connection, and
        ignore whatever else it sends.
        """
        if self._broken:
            return
        self._broken = True
        self._buffer = b""
        self.listStack = []
        self._stringNeeded = 0
        self._stringParts = []
        log.msg("Banana peer %s: %s; disconnecting" % (self._peerName(), reason))
        # Aborted, not closed: nothing more is owed to this peer, and one
        # that stops reading must not hold the connection open.
        transport: Any = self.transport
        if transport is not None:
            abort = getattr(transport, "abortConnection", None)
            (abort or transport.loseConnection)()

    def _peerName(self) -> str:
        try:
            return str(self.transport.getPeer())  # type: ignore[union-attr]
        except Exception:
            return "(unknown)"

    def sendEncoded(self, expression: Any) -> None:
        """
        Encode expression and write it to the transport.

        :raises BananaError: expression holds something Banana cannot carry
            or breaks a size limit; nothing is written then.
        """
        # Parts joined once, not a bytearray: a long string is copied
        # once, by the join (bench_pb's bulk point).
        parts: list[bytes] = []
        _encodeInto(parts.append, expression, self._vocabulary, self)
        self.transport.write(b"".join(parts))  # type: ignore[union-attr]

    def dataReceived(self, data: bytes) -> None:
        """Decode whole items from data; hand each top-level one on."""
        if self._broken:
            return
        begin = 0
        if not self._stringNeeded:
            buffer = self._buffer + data if self._buffer else data
            if not self.listStack and self.currentDialect is not None:
                # Whole expressions of small items first (see _readSmall); the
                # general decoder takes over from the first one that is not.
                # (It measures an expression from the stream offset it starts
                # at, so skipping _offset past these is harmless.)
                position = self._decodeSmall(buffer)
                if position:
                    if self._broken or position == len(buffer):
                        self._buffer = b""
                        return
                    buffer = buffer[position:]
        try:
            if self._stringNeeded:
                # The rest of a long string first: straight from data,
                # never through the buffer.
                begin = self._continueString(data)
                if self._broken:
                    return
                if begin == len(data):
                    self._offset += begin
                    return
                buffer = data
            consumed = self._decode(buffer, begin)
        except BananaError as error:
            self.protocolViolation(str(error))
            return
        if not self._broken:
            self._buffer = buffer[consumed:]
            self._offset += consumed

    def _decodeSmall(self, buffer: bytes) -> int:
        # Hand on the whole top-level lists at the start of buffer that
        # _readSmall reads; return how many bytes they took.
        if self.prefixLimit < 4 or self.maxDepth < 1:
            return 0
        vocabulary = self._incoming or _NO_WORDS
        sizeLimit = self.sizeLimit
        end = len(buffer)
        position = 0
        while position < end:
            try:
                count = buffer[position]
                if count == 0x80:  # an empty list
                    count, start = 0, position + 1
                elif count >= 0x80 or buffer[position + 1] != 0x80:
                    return position  # not a list, or one of 128 items or more
                else:
                    start = position + 2
                if count > sizeLimit:
                    return position
                expression, stop = _readSmall(
                    buffer, start, count, vocabulary, sizeLimit, self.maxDepth - 1
                )
            except (_NotSmall, IndexError):
                return position
            if stop - position > self.expressionLimit:
                return position
            position = stop
            self.expressionReceived(expression)
            if self._broken:
                return position
        return position

    def _startString(self, buffer: bytes, position: int, length: int) -> int:
        # A string of length bytes starts at buffer[position] and goes past
        # its end: keep what is here, wait for the rest (dataReceived hands
        # it to _continueString); everything in buffer is consumed.
        self._stringNeeded = length
        self._addPiece(memoryview(buffer)[position:])
        return len(buffer)

    def _addPiece(self, piece: Any) -> None:
        size = len(piece)
        self._stringNeeded -= size
        parts = self._stringParts
        if size >= _SHARED_PIECE:
            parts.append(piece)
        elif parts and type(parts[-1]) is bytearray:
            parts[-1] += piece
        elif size:
            parts.append(bytearray(piece))

    def _continueString(self, data: bytes) -> int:
        # Add what data holds of the pending string; once complete, join
        # its pieces (the one copy) and hand it on.  Returns how many bytes
        # of data the string took.
        needed = self._stringNeeded
        if len(data) < needed:
            self._addPiece(data)
            return len(data)
        self._addPiece(data if len(data) == needed else memoryview(data)[:needed])
        parts, self._stringParts = self._stringParts, []
        self._handOn(b"".join(parts))
        return needed

    def _handOn(self, item: Any) -> None:
        # Give item to the innermost open list, each list completed to its
        # parent, the outermost to expressionReceived (as _decode does).
        stack = self.listStack
        while stack:
            count, items = stack[-1]
            items.append(item)
            if len(items) < count:
                return
            stack.pop()
            item = items
        self._gotExpression(item)

    def _decode(self, buffer: bytes, begin: int = 0) -> int:
        # Decodes buffer from begin; returns how much of buffer was
        # consumed: everything but an incomplete last item (all of it when
        # that item is a string: _startString keeps its pieces).  One pass
        # per item.  Most items have a prefix of two bytes or fewer (ints
        # below 16384 such as request ids, strings shorter than 16 KiB,
        # list lengths, vocabulary words) and are read by looking at three
        # bytes at most; a longer prefix's type byte is found by a regular
        # expression (C speed) rather than a loop over bytes.
        stack = self.listStack
        prefixLimit = self.prefixLimit
        shortPrefix = prefixLimit >= 1
        twoBytePrefix = prefixLimit >= 2
        sizeLimit = self.sizeLimit
        expressionLimit = self.expressionLimit
        vocabulary = self._incoming
        offset = self._offset
        expressionStart = self._expressionStart
        search = _TYPE_BYTE.search
        end = len(buffer)
        position = begin
        while position < end:
            start = position
            if not stack:
                expressionStart = self._expressionStart = offset + start
            elif offset + start - expressionStart > expressionLimit:
                raise BananaError("expression longer than %d bytes" % (expressionLimit,))
            kind = buffer[start]
            if kind & 0x80:
                number = 0
                position = start + 1
            elif shortPrefix and start + 1 < end and buffer[start + 1] & 0x80:
                number = kind
                kind = buffer[start + 1]
                position = start + 2
            elif twoBytePrefix and start + 2 < end and buffer[start + 2] & 0x80:
                number = kind | buffer[start + 1] << 7
                kind = buffer[start + 2]
                position = start + 3
            else:
                found = search(buffer, start)
                if found is None:
                    if end - start > prefixLimit:
                        raise BananaError("more than %d bytes of prefix" % (prefixLimit,))
                    return start
                position = found.start()
                if position - start > prefixLimit:
                    raise BananaError("more than %d bytes of prefix" % (prefixLimit,))
                kind = buffer[position]
                number = b1282int(buffer[start:position])
                position += 1
            if kind == _VOCAB and vocabulary is not None:
                item: Any = vocabulary.get(number)
                if item is None:
                    raise BananaError("unknown vocabulary number %d" % (number,))
            elif kind == _STRING:
                if number > sizeLimit:
                    raise BananaError("string of %d bytes is too long" % (number,))
                if stack and offset + position + number - expressionStart > expressionLimit:
                    raise BananaError("expression longer than %d bytes" % (expressionLimit,))
                if position + number > end:
                    return self._startString(buffer, position, number)
                item = buffer[position : position + number]
                position += number
            elif kind == _LIST:
                if number > sizeLimit:
                    raise BananaError("list of %d items is too long" % (number,))
                if len(stack) >= self.maxDepth:
                    raise BananaError("lists nested more than %d deep" % (self.maxDepth,))
                if number:
                    stack.append((number, []))
                    continue
                item = []
            elif kind == _INT or kind == _LONGINT:
                item = number
            elif kind == _NEG or kind == _LONGNEG:
                item = -number
            elif kind == _FLOAT_TYPE:
                if position + 8 > end:
                    return start
                item = _FLOAT.unpack_from(buffer, position)[0]
                position += 8
            else:
                raise BananaError("invalid type byte 0x%02x" % (kind,))
            # Hand the item to the innermost open list; each list completed
            # goes to its parent in turn, the outermost to expressionReceived.
            while stack:
                count, items = stack[-1]
                items.append(item)
                if len(items) < count:
                    break
                stack.pop()
                item = items
            else:
                self._gotExpression(item)
                if self._broken:
                    return position
                vocabulary = self._incoming  # the dialect may just have been agreed
        return position

    def _gotExpression(self, expression: Any) -> None:
        if self.currentDialect is None:
            self._negotiate(expression)
        else:
            self.expressionReceived(expression)


class _Codec(Banana):
    # The module-level encode/decode: the "none" dialect, no transport.
    def __init__(self) -> None:
        Banana.__init__(self, isClient=True)
        self.currentDialect = b"none"
        self.expressions: list[Any] = []

    def expressionReceived(self, expression: Any) -> None:
        self.expressions.append(expression)


def encode(expression: Any) -> bytes:
    """Encode one expression (no vocabulary), as Twisted's banana.encode does."""
    parts: list[bytes] = []
    _encodeInto(parts.append, expression, {}, _DEFAULT_LIMITS)
    return b"".join(parts)


def decode(data: bytes) -> Any:
    """
    Decode the first complete expression in data.

    :raises BananaError: data is malformed, breaks a limit, or holds no
        complete expression.
    """
    codec = _Codec()
    codec._decode(data)
    if not codec.expressions:
        raise BananaError("no complete expression")
    return codec.expressions[0]
