"""
Property tests for protocols.basic: chunking never changes what a receiver
reports, and random input never escapes as an exception or grows its buffer
past MAX_LENGTH (plus the framing).

Each receiver records its events in a list.  The same byte stream is fed
once whole, and again cut at positions hypothesis chooses; the two event
lists must be equal, mode switches and length-limit violations included.
"""

import struct

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols import basic
from reactor.testing import StringTransport

SETTINGS = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def feed(receiver, stream, cuts, bufferOf, bound):
    """
    Feed stream cut at cuts; resume a paused receiver after each chunk
    (as often as it pauses again).

    Checks after each chunk that bufferOf(receiver) holds at most bound bytes.
    :return: the receiver's events.
    """
    receiver.makeConnection(StringTransport())
    positions = sorted({cut for cut in cuts if 0 < cut < len(stream)})
    for start, end in zip([0] + positions, positions + [len(stream)], strict=True):
        receiver.dataReceived(stream[start:end])
        while getattr(receiver, "paused", False) and not receiver.transport.disconnecting:
            receiver.resumeProducing()
        assert len(bufferOf(receiver)) <= bound
    return receiver.events


def chunkings(stream):
    return st.lists(st.integers(0, max(len(stream), 1)), max_size=len(stream) + 1)


# -- LineReceiver -------------------------------------------------------------------


class Lines(basic.LineReceiver):
    """
    Line ``RAW<n>`` switches to raw mode for n bytes, then back to lines
    (with the rest of that raw data as ``extra``); ``PAUSE`` pauses.
    """

    MAX_LENGTH = 12

    def __init__(self):
        self.events = []
        self.rawWanted = 0
        self.raw = b""

    def lineReceived(self, line):
        self.events.append(("line", line))
        if line.startswith(b"RAW") and line[3:].isdigit():
            self.rawWanted = int(line[3:])
            self.setRawMode()
        elif line == b"PAUSE":
            self.pauseProducing()

    def rawDataReceived(self, data):
        self.raw += data
        if len(self.raw) >= self.rawWanted:
            raw, extra = self.raw[: self.rawWanted], self.raw[self.rawWanted :]
            self.raw = b""
            self.events.append(("raw", raw))
            self.setLineMode(extra)

    def lineLengthExceeded(self, line):
        self.events.append("too long")
        return basic.LineReceiver.lineLengthExceeded(self, line)


LINE_TOKENS = st.sampled_from(
    [b"a", b"bc", b"\r", b"\n", b"\r\n", b"RAW3\r\n", b"RAW0\r\n", b"PAUSE\r\n"]
    + [b"x" * 12, b"\r\r\n"]
)


def lineBuffer(receiver):
    return receiver._buffer + receiver.raw


@st.composite
def lineStreams(draw, tokens=LINE_TOKENS):
    stream = b"".join(draw(st.lists(tokens, max_size=40)))
    return stream, draw(chunkings(stream))


@SETTINGS
@given(lineStreams())
def test_lineReceiverEventsDoNotDependOnChunking(streamAndCuts):
    stream, cuts = streamAndCuts
    bound = Lines.MAX_LENGTH + 2 + 3  # a line, its delimiter, a raw block
    whole = feed(Lines(), stream, [], lineBuffer, len(stream))
    assert feed(Lines(), stream, cuts, lineBuffer, bound) == whole
    assert feed(Lines(), stream, range(len(stream)), lineBuffer, bound) == whole


def test_lineReceiverPropertyExample():
    stream = b"a\r\nRAW3\r\nx\r\nb\r\nPAUSE\r\n" + b"y" * 13
    events = feed(Lines(), stream, range(len(stream)), lineBuffer, 20)
    assert events == [
        ("line", b"a"),
        ("line", b"RAW3"),
        ("raw", b"x\r\n"),
        ("line", b"b"),
        ("line", b"PAUSE"),
        "too long",
    ]


class PeekingLines(Lines):
    """Lines that reads Twisted's ``_buffer`` before each line: that must change nothing."""

    def lineReceived(self, line):
        assert self._buffer is not None
        Lines.lineReceived(self, line)


@SETTINGS
@given(lineStreams())
def test_readingTheLineBufferChangesNothing(streamAndCuts):
    stream, cuts = streamAndCuts
    bound = Lines.MAX_LENGTH + 2 + 3
    expected = feed(Lines(), stream, cuts, lineBuffer, bound)
    assert feed(PeekingLines(), stream, cuts, lineBuffer, bound) == expected


@SETTINGS
@given(st.binary(max_size=300), st.lists(st.integers(0, 300)))
def test_lineReceiverSurvivesRandomBytes(stream, cuts):
    receiver = Lines()
    feed(receiver, stream, cuts, lineBuffer, Lines.MAX_LENGTH + 2 + 3)


# -- LineOnlyReceiver --------------------------------------------------------------


class OnlyLines(basic.LineOnlyReceiver):
    MAX_LENGTH = 12

    def __init__(self):
        self.events = []

    def lineReceived(self, line):
        self.events.append(line)

    def lineLengthExceeded(self, line):
        self.events.append("too long")
        return basic.LineOnlyReceiver.lineLengthExceeded(self, line)


def onlyBuffer(receiver):
    return receiver._buffer


@SETTINGS
@given(lineStreams())
def test_lineOnlyReceiverEventsDoNotDependOnChunking(streamAndCuts):
    stream, cuts = streamAndCuts
    whole = feed(OnlyLines(), stream, [], onlyBuffer, len(stream))
    assert feed(OnlyLines(), stream, cuts, onlyBuffer, 14) == whole
    assert feed(OnlyLines(), stream, range(len(stream)), onlyBuffer, 14) == whole


@SETTINGS
@given(st.binary(max_size=300), st.lists(st.integers(0, 300)))
def test_lineOnlyReceiverSurvivesRandomBytes(stream, cuts):
    feed(OnlyLines(), stream, cuts, onlyBuffer, OnlyLines.MAX_LENGTH + 2)


def test_bigMaxLengthUsesTheProbeAndStillCatchesLongLines():
    class Big(OnlyLines):
        MAX_LENGTH = 1000

    stream = (b"z" * 999 + b"\r\n") * 5 + b"w" * 1001 + b"\r\nafter\r\n"
    whole = feed(Big(), stream, [], onlyBuffer, len(stream))
    assert whole == [b"z" * 999] * 5 + ["too long"]
    assert feed(Big(), stream, range(0, len(stream), 7), onlyBuffer, 1002) == whole


# -- IntNStringReceiver ------------------------------------------------------------


def intReceiver(base):
    class Strings(base):
        MAX_LENGTH = 20

        def __init__(self):
            self.events = []

        def stringReceived(self, string):
            self.events.append(string)
            if string == b"PAUSE":
                self.pauseProducing()

        def lengthLimitExceeded(self, length):
            self.events.append(("too long", length))
            return base.lengthLimitExceeded(self, length)

    return Strings


INT_CLASSES = [
    basic.Int8StringReceiver,
    basic.Int16StringReceiver,
    basic.Int32StringReceiver,
]


@st.composite
def intStreams(draw):
    base = draw(st.sampled_from(INT_CLASSES))
    fmt = base.structFormat
    payloads = st.one_of(st.binary(max_size=25), st.just(b"PAUSE"), st.sampled_from([b"", b"x"]))
    strings = draw(st.lists(payloads, max_size=15))
    stream = b"".join(struct.pack(fmt, len(s)) + s for s in strings)
    stream += draw(st.binary(max_size=6))  # a partial or garbage tail
    return base, stream, draw(chunkings(stream))


def intBuffer(receiver):
    return receiver._unprocessed


@SETTINGS
@given(intStreams())
def test_intNEventsDoNotDependOnChunking(example):
    base, stream, cuts = example
    receiverClass = intReceiver(base)
    bound = 20 + base.prefixLength
    whole = feed(receiverClass(), stream, [], intBuffer, len(stream))
    assert feed(receiverClass(), stream, cuts, intBuffer, bound) == whole
    assert feed(receiverClass(), stream, range(len(stream)), intBuffer, bound) == whole


@SETTINGS
@given(intStreams())
def test_readingRecvdChangesNothing(example):
    base, stream, cuts = example
    receiverClass = intReceiver(base)

    class Peeking(receiverClass):
        consumed = 0

        def stringReceived(self, string):
            self.consumed += base.prefixLength + len(string)
            self.peeks.append((self.consumed, self.recvd))
            receiverClass.stringReceived(self, string)

    bound = 20 + base.prefixLength
    expected = feed(receiverClass(), stream, cuts, intBuffer, bound)
    peeking = Peeking()
    peeking.peeks = []
    assert feed(peeking, stream, cuts, intBuffer, bound) == expected
    # recvd is what was received after the current string, whatever the chunks.
    for consumed, left in peeking.peeks:
        assert stream[consumed : consumed + len(left)] == left


@SETTINGS
@given(st.sampled_from(INT_CLASSES), st.binary(max_size=300), st.lists(st.integers(0, 300)))
def test_intNSurvivesRandomBytes(base, stream, cuts):
    feed(intReceiver(base)(), stream, cuts, intBuffer, 20 + base.prefixLength)


# -- NetstringReceiver --------------------------------------------------------------


class Netstrings(basic.NetstringReceiver):
    MAX_LENGTH = 20

    def __init__(self):
        self.events = []

    def stringReceived(self, string):
        self.events.append(string)

    def dataReceived(self, data):
        basic.NetstringReceiver.dataReceived(self, data)
        if self.brokenPeer and "broken" not in self.events:
            self.events.append("broken")


@st.composite
def netstringStreams(draw):
    valid = st.binary(max_size=25).map(lambda s: b"%d:%s," % (len(s), s))
    garbage = st.sampled_from([b"0", b"1", b":", b",", b"x", b"01:", b"21:", b"9"])
    parts = draw(st.lists(st.one_of(valid, valid, garbage), max_size=12))
    stream = b"".join(parts)
    return stream, draw(chunkings(stream))


def netstringBuffer(receiver):
    return receiver._buffer


NETSTRING_BOUND = Netstrings.MAX_LENGTH + len(str(Netstrings.MAX_LENGTH)) + 2


@SETTINGS
@given(netstringStreams())
def test_netstringEventsDoNotDependOnChunking(streamAndCuts):
    stream, cuts = streamAndCuts
    whole = feed(Netstrings(), stream, [], netstringBuffer, len(stream))
    assert feed(Netstrings(), stream, cuts, netstringBuffer, NETSTRING_BOUND) == whole
    everyByte = range(len(stream))
    assert feed(Netstrings(), stream, everyByte, netstringBuffer, NETSTRING_BOUND) == whole


@SETTINGS
@given(st.binary(max_size=300), st.lists(st.integers(0, 300)))
def test_netstringSurvivesRandomBytes(stream, cuts):
    feed(Netstrings(), stream, cuts, netstringBuffer, NETSTRING_BOUND)
