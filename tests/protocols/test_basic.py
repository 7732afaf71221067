"""Unit tests for protocols.basic: line, netstring and length-prefixed receivers."""

import io
import struct

import pytest

from protocols import basic
from protocols.protocol import connectionDone
from reactor import ratelimit
from reactor.address import IPv6Address, UNIXAddress
from reactor.error import ConnectionDone
from reactor.task import Clock
from reactor.testing import StringTransport, StringTransportWithDisconnection, connectedPair


class RecordedLog(ratelimit.RateLimitedLog):
    """A RateLimitedLog on a Clock that keeps its lines in ``lines``."""

    def __init__(self):
        self.lines = []
        ratelimit.RateLimitedLog.__init__(self, 1.0, clock=Clock(), emit=self.lines.append)


@pytest.fixture(autouse=True)
def peerLog(monkeypatch):
    """Each test gets its own rate-limited peer log (on a Clock), recording its lines."""
    recorded = RecordedLog()
    monkeypatch.setattr(ratelimit, "peerLog", recorded)
    return recorded


class Lines(basic.LineReceiver):
    """Records lines and raw data; some lines change the mode."""

    def __init__(self):
        self.events = []

    def lineReceived(self, line):
        self.events.append(line)
        if line == b"RAW":
            self.setRawMode()
        elif line == b"PAUSE":
            self.pauseProducing()
        elif line == b"CLEAR":
            self.events.append(("cleared", self.clearLineBuffer()))
        elif line == b"QUIT":
            self.transport.loseConnection()
        elif line == b"STOP":
            return "stop"

    def rawDataReceived(self, data):
        self.events.append(("raw", data))
        if b"|" in data:
            raw, extra = data.split(b"|", 1)
            self.events[-1] = ("raw", raw)
            self.setLineMode(extra)


def connected(protocol, transport=None):
    protocol.makeConnection(transport or StringTransport())
    return protocol


def test_linesAcrossChunks():
    protocol = connected(Lines())
    for chunk in (b"on", b"e\r", b"\ntwo\r\n\r\nthr", b"ee\r\n"):
        protocol.dataReceived(chunk)
    assert protocol.events == [b"one", b"two", b"", b"three"]


def test_sendLineAppendsTheDelimiter():
    protocol = connected(Lines())
    protocol.sendLine(b"hello")
    protocol.delimiter = b"\n"
    protocol.sendLine(b"world")
    assert protocol.transport.value() == b"hello\r\nworld\n"


def test_rawModeInTheMiddleOfAChunkLosesNothing():
    protocol = connected(Lines())
    protocol.dataReceived(b"a\r\nRAW\r\nxy\r\nz|b\r\nc\r\nd")
    assert protocol.events == [b"a", b"RAW", ("raw", b"xy\r\nz"), b"b", b"c"]
    protocol.dataReceived(b"\r\n")
    assert protocol.events[-1] == b"d"


def test_setLineModeFromOutsideParsesExtra():
    protocol = connected(Lines())
    protocol.setRawMode()
    protocol.dataReceived(b"raw\r\n")
    protocol.setLineMode(b"x\r\ny")
    assert protocol.events == [("raw", b"raw\r\n"), b"x"]
    assert protocol.setLineMode() is None


def test_pauseHoldsLinesUntilResumed():
    transport = StringTransport()
    protocol = connected(Lines(), transport)
    protocol.dataReceived(b"a\r\nPAUSE\r\nb\r\nc\r\n")
    assert protocol.events == [b"a", b"PAUSE"]
    assert transport.producerState == "paused"
    protocol.dataReceived(b"d\r\n")
    assert protocol.events == [b"a", b"PAUSE"]
    protocol.resumeProducing()
    assert protocol.events == [b"a", b"PAUSE", b"b", b"c", b"d"]
    assert transport.producerState == "producing"
    protocol.stopProducing()
    assert protocol.paused and transport.producerState == "stopped"


def test_clearLineBufferReturnsTheRest():
    protocol = connected(Lines())
    protocol.dataReceived(b"a\r\nCLEAR\r\nb\r\nc")
    assert protocol.events == [b"a", b"CLEAR", ("cleared", b"b\r\nc")]
    protocol.dataReceived(b"d\r\n")
    assert protocol.events[-1] == b"d"
    protocol.dataReceived(b"tail")
    assert protocol.clearLineBuffer() == b"tail"


class Handover(basic.LineReceiver):
    """
    Switches the connection to a new LineReceiver on the line SWITCH, handing
    it the bytes not yet delivered, in one of Twisted's two idioms.
    """

    def __init__(self, idiom, events):
        self.idiom, self.events = idiom, events

    def lineReceived(self, line):
        self.events.append(("old", line))
        if line != b"SWITCH":
            return
        successor = Lines()
        successor.events = self.events
        successor.makeConnection(self.transport)
        self.transport.protocol = successor
        if self.idiom == "clearLineBuffer":
            rest = self.clearLineBuffer()
        else:  # reaching into the buffer, as Twisted code does
            rest = self._buffer
            self._buffer = b""
        successor.dataReceived(rest)


@pytest.mark.parametrize("idiom", ["clearLineBuffer", "_buffer"])
def test_lineReceiverSwitchedMidStreamHandsOverEveryByteLeft(idiom):
    events = []
    transport = StringTransport()
    transport.protocol = connected(Handover(idiom, events), transport)
    for chunk in (b"a\r\nSWITCH\r\nb\r\nc", b"\r\nd\r\ne"):
        transport.protocol.dataReceived(chunk)
    assert events == [("old", b"a"), ("old", b"SWITCH"), b"b", b"c", b"d"]
    assert transport.protocol.clearLineBuffer() == b"e"


def test_bufferReadFromLineReceivedHoldsEveryByteNotYetDelivered():
    class Peek(Lines):
        def lineReceived(self, line):
            self.events.append((line, self._buffer))

    protocol = connected(Peek())
    protocol.dataReceived(b"a\r\nb\r\nc")
    # As in Twisted; and reading it does not change what is delivered.
    assert protocol.events == [(b"a", b"b\r\nc"), (b"b", b"c")]
    assert protocol._buffer == b"c"
    protocol._buffer = b"x\r\n"
    protocol.dataReceived(b"y\r\n")
    assert protocol.events[2:] == [(b"x", b"y\r\n"), (b"y", b"")]


def test_noLineDeliveredOnceDisconnecting():
    protocol = connected(Lines())
    protocol.dataReceived(b"a\r\nQUIT\r\nb\r\n")
    protocol.dataReceived(b"c\r\n")
    assert protocol.events == [b"a", b"QUIT"]


def test_lineReceivedReturnValueStopsDelivery():
    protocol = connected(Lines())
    assert protocol.dataReceived(b"STOP\r\nb\r\n") == "stop"
    assert protocol.events == [b"STOP"]
    protocol.dataReceived(b"")
    assert protocol.events == [b"STOP", b"b"]


def test_rawDataReceivedReturnValueIsReturned():
    class Raw(Lines):
        def rawDataReceived(self, data):
            return "why"

    protocol = connected(Raw())
    protocol.setRawMode()
    assert protocol.dataReceived(b"x") == "why"


def test_lineLongerThanMaxLengthDropsTheConnection():
    protocol = connected(Lines())
    protocol.MAX_LENGTH = 5
    protocol.dataReceived(b"12345\r\n123456\r\nmore\r\n")
    assert protocol.events == [b"12345"]
    assert protocol.transport.disconnecting


def test_incompleteLongLineIsNoticedBeforeItsDelimiter():
    exceeded = []

    class Long(Lines):
        MAX_LENGTH = 5

        def lineLengthExceeded(self, line):
            exceeded.append(line)

    protocol = connected(Long())
    protocol.dataReceived(b"12345\r")
    assert exceeded == []  # could still be b"12345\r\n"
    protocol.dataReceived(b"7")
    assert exceeded == [b"12345\r7"]
    protocol.dataReceived(b"ok\r\n")
    assert protocol.events == [b"ok"]


def test_lineOfExactlyMaxLengthWithSplitDelimiterIsAccepted():
    for receiverClass in (Lines, OnlyLines):
        protocol = connected(receiverClass())
        protocol.MAX_LENGTH = 5
        protocol.dataReceived(b"12345\r")
        protocol.dataReceived(b"\n")
        assert protocol.events == [b"12345"]
        assert not protocol.transport.disconnecting


def test_defaultCallbacksRaise():
    protocol = connected(basic.LineReceiver())
    with pytest.raises(NotImplementedError):
        protocol.lineReceived(b"x")
    with pytest.raises(NotImplementedError):
        protocol.rawDataReceived(b"x")
    with pytest.raises(NotImplementedError):
        basic.LineOnlyReceiver().lineReceived(b"x")
    with pytest.raises(NotImplementedError):
        basic.NetstringReceiver().stringReceived(b"x")
    with pytest.raises(NotImplementedError):
        basic.Int32StringReceiver().stringReceived(b"x")


def test_lineReceiverWithoutTransportStillParses():
    protocol = Lines()
    protocol.dataReceived(b"a\r\nb")
    assert protocol.events == [b"a"]


def test_reentrantDataIsParsedInOrder():
    class Loop(Lines):
        def lineReceived(self, line):
            self.events.append(line)
            if line == b"echo":
                self.dataReceived(b"inner\r\n")

    protocol = connected(Loop())
    protocol.dataReceived(b"echo\r\nafter\r\npart")
    protocol.dataReceived(b"ial\r\n")
    # Data received from inside a callback comes after all data before it.
    assert protocol.events == [b"echo", b"after", b"partinner", b"ial"]


def test_setLineModeFromLineReceivedAppendsExtra():
    class Extra(Lines):
        def lineReceived(self, line):
            self.events.append(line)
            if line == b"go":
                self.setLineMode(b"x\r\n")

    protocol = connected(Extra())
    protocol.dataReceived(b"go\r\ny\r\n")
    assert protocol.events == [b"go", b"y", b"x"]


def test_longLinesWithSelfOverlappingDelimiter():
    protocol = connected(Lines())
    protocol.delimiter = b"\n\n"
    protocol.MAX_LENGTH = 200
    protocol.dataReceived(b"a" * 150 + b"\n\n\n" + b"b" * 150 + b"\n\n")
    assert protocol.events == [b"a" * 150, b"\n" + b"b" * 150]
    protocol.dataReceived(b"c" * 201 + b"\n\n")
    assert protocol.transport.disconnecting


def test_linesFitProbe():
    fits = basic._linesFit
    line = b"x" * 100 + b"\r\n"
    assert fits(line * 1000, b"\r\n", 16384)
    assert not fits(b"x" * 20000 + b"\r\n", b"\r\n", 16384)
    assert fits(b"x" * 20000, b"\r\n", 16384) is False  # cannot tell: check lines
    assert fits(b"abc", b"\r\n", 10) and not fits(b"a" * 11, b"\r\n", 10)


# -- LineOnlyReceiver ---------------------------------------------------------------


class OnlyLines(basic.LineOnlyReceiver):
    def __init__(self):
        self.events = []

    def lineReceived(self, line):
        self.events.append(line)
        if line == b"QUIT":
            self.transport.loseConnection()


def test_lineOnlyReceiverSplitsLines():
    protocol = connected(OnlyLines())
    protocol.dataReceived(b"a\r\nb")
    protocol.dataReceived(b"\r\n\r\n")
    assert protocol.events == [b"a", b"b", b""]
    protocol.sendLine(b"out")
    assert protocol.transport.value() == b"out\r\n"


def test_lineOnlyReceiverStopsOnceDisconnecting():
    protocol = connected(OnlyLines())
    protocol.dataReceived(b"a\r\nQUIT\r\nb\r\n")
    assert protocol.events == [b"a", b"QUIT"]
    protocol.MAX_LENGTH = 100
    protocol.dataReceived(b"x" * 20 + b"\r\n" + b"y" * 101 + b"\r\n")
    assert protocol.events == [b"a", b"QUIT"]


def test_lineOnlyReceiverLongLines():
    protocol = connected(OnlyLines())
    protocol.MAX_LENGTH = 100
    protocol.dataReceived(b"ok\r\n" + b"y" * 101 + b"\r\nlater\r\n")
    assert protocol.events == [b"ok"]
    assert protocol.transport.disconnecting
    protocol = connected(OnlyLines())
    protocol.MAX_LENGTH = 100
    protocol.dataReceived(b"ok\r\n" + b"y" * 101)
    assert protocol.transport.disconnecting
    protocol = connected(OnlyLines())
    protocol.MAX_LENGTH = 100
    protocol.dataReceived(b"ok\r\n" + b"y" * 80 + b"\r\n" + b"z" * 90)
    assert protocol.events == [b"ok", b"y" * 80]
    assert not protocol.transport.disconnecting


# -- IntNStringReceiver -------------------------------------------------------------


class Strings32(basic.Int32StringReceiver):
    def __init__(self):
        self.events = []

    def stringReceived(self, string):
        self.events.append(string)
        if string == b"PAUSE":
            self.pauseProducing()
        elif string == b"ECHO":
            self.dataReceived(struct.pack("!I", 5) + b"inner")

    def lengthLimitExceeded(self, length):
        self.events.append(("too long", length))
        basic.Int32StringReceiver.lengthLimitExceeded(self, length)


@pytest.mark.parametrize(
    "receiverClass, prefix",
    [
        (basic.Int8StringReceiver, 1),
        (basic.Int16StringReceiver, 2),
        (basic.Int32StringReceiver, 4),
    ],
)
def test_intNRoundTripsByteByByte(receiverClass, prefix):
    class Receiver(receiverClass):
        def __init__(self):
            self.events = []

        def stringReceived(self, string):
            self.events.append(string)

    sender = connected(Receiver())
    for string in (b"", b"a", b"hello" * 10):
        sender.sendString(string)
    wire = sender.transport.value()
    assert wire[:prefix] == b"\0" * prefix
    receiver = connected(Receiver())
    for index in range(len(wire)):
        receiver.dataReceived(wire[index : index + 1])
    assert receiver.events == [b"", b"a", b"hello" * 10]
    assert receiver.prefixLength == prefix


def test_sendStringTooLongForThePrefix():
    protocol = connected(basic.Int8StringReceiver())
    protocol.sendString(b"x" * 255)
    with pytest.raises(basic.StringTooLongError):
        protocol.sendString(b"x" * 256)


def test_lengthLimitExceededDropsAndIgnoresTheRest():
    protocol = connected(Strings32())
    protocol.MAX_LENGTH = 10
    protocol.dataReceived(struct.pack("!I", 2) + b"ok" + struct.pack("!I", 11) + b"x")
    protocol.dataReceived(struct.pack("!I", 2) + b"no")
    assert protocol.events == [b"ok", ("too long", 11)]
    assert protocol.transport.disconnecting and protocol.brokenPeer


def test_intNPauseAndResume():
    protocol = connected(Strings32())
    wire = b"".join(struct.pack("!I", len(s)) + s for s in (b"a", b"PAUSE", b"b"))
    protocol.dataReceived(wire)
    assert protocol.events == [b"a", b"PAUSE"]
    protocol.resumeProducing()
    assert protocol.events == [b"a", b"PAUSE", b"b"]


def test_intNReentrantDataComesAfterTheChunk():
    protocol = connected(Strings32())
    wire = b"".join(struct.pack("!I", len(s)) + s for s in (b"ECHO", b"after"))
    protocol.dataReceived(wire)
    protocol.dataReceived(b"\0\0\0\1z")
    assert protocol.events == [b"ECHO", b"after", b"inner", b"z"]


def frame32(*strings):
    return b"".join(struct.pack("!I", len(string)) + string for string in strings)


def test_recvdHoldsTheBytesNotYetDelivered():
    class Peek(Strings32):
        def stringReceived(self, string):
            self.events.append((string, self.recvd))

    protocol = connected(Peek())
    protocol.dataReceived(frame32(b"a", b"bb") + frame32(b"ccc")[:5])
    assert protocol.events == [
        (b"a", frame32(b"bb") + frame32(b"ccc")[:5]),
        (b"bb", frame32(b"ccc")[:5]),
    ]
    assert protocol.recvd == frame32(b"ccc")[:5]
    protocol.dataReceived(b"cc")
    assert protocol.events[-1] == (b"ccc", b"") and protocol.recvd == b""


def test_intNReceiverSwitchedMidStreamHandsOverThroughRecvd():
    class Switching(Strings32):
        def stringReceived(self, string):
            self.events.append(("old", string))
            if string == b"SWITCH":
                successor = Strings32()
                successor.events = self.events
                successor.makeConnection(self.transport)
                self.transport.protocol = successor
                rest, self.recvd = self.recvd, b""
                successor.dataReceived(rest)

    transport = StringTransport()
    protocol = Switching()
    transport.protocol = connected(protocol, transport)
    wire = frame32(b"a", b"SWITCH", b"b", b"c", b"d")
    for chunk in (wire[:19], wire[19:]):
        transport.protocol.dataReceived(chunk)
    assert protocol.events == [("old", b"a"), ("old", b"SWITCH"), b"b", b"c", b"d"]
    assert protocol.recvd == b"" and transport.protocol.recvd == b""


def test_settingRecvdFromStringReceivedReplacesWhatIsLeft():
    class Rewriting(Strings32):
        def stringReceived(self, string):
            self.events.append(string)
            if string == b"REPLACE":
                self.recvd = frame32(b"instead") + self.recvd[5:]
            elif string == b"ECHO":
                self.dataReceived(frame32(b"inner"))
                self.recvd = frame32(b"new")

    protocol = connected(Rewriting())
    protocol.dataReceived(frame32(b"REPLACE", b"x", b"kept") + b"\0")
    assert protocol.events == [b"REPLACE", b"instead", b"kept"]
    assert protocol.recvd == b"\0"
    protocol.recvd = b""
    # Data received before the replacement is replaced with the rest.
    protocol.dataReceived(frame32(b"ECHO", b"lost"))
    assert protocol.events[3:] == [b"ECHO", b"new"]


def test_recvdInLengthLimitExceededStartsAtTheOffendingPrefix():
    class Limited(Strings32):
        MAX_LENGTH = 4

        def lengthLimitExceeded(self, length):
            self.events.append((length, self.recvd))
            basic.Int32StringReceiver.lengthLimitExceeded(self, length)

    protocol = connected(Limited())
    protocol.dataReceived(frame32(b"ok", b"too long", b"x"))
    assert protocol.events == [b"ok", (8, frame32(b"too long", b"x"))]
    assert protocol.brokenPeer and protocol.transport.disconnecting
    # Nothing more is parsed, so nothing is kept.
    protocol.dataReceived(frame32(b"y"))
    assert protocol.recvd == b"" and len(protocol.events) == 2


def test_customIntNSubclassGetsItsPrefixLength():
    class Little(basic.IntNStringReceiver):
        structFormat = "<H"

        def stringReceived(self, string):
            self.got = string

    protocol = connected(Little())
    protocol.dataReceived(b"\x02\x00hi")
    assert protocol.got == b"hi" and protocol.prefixLength == 2


# -- NetstringReceiver ------------------------------------------------------------


class Netstrings(basic.NetstringReceiver):
    def __init__(self):
        self.events = []

    def stringReceived(self, string):
        self.events.append(string)


def test_netstringsAcrossChunks():
    protocol = connected(Netstrings())
    for chunk in (b"3:a", b"bc,0:,1", b"0:0123456789,"):
        protocol.dataReceived(chunk)
    assert protocol.events == [b"abc", b"", b"0123456789"]
    protocol.sendString(b"hello")
    assert protocol.transport.value() == b"5:hello,"


@pytest.mark.parametrize(
    "wire",
    [b"x", b":", b"3:abc;", b"01:a,", b"100000:", b"1000000", b"3x", b"-1:", b"1" * 5000],
    ids=lambda wire: repr(wire[:12]),
)
def test_malformedNetstringDropsAndLogsOneLine(wire, peerLog):
    protocol = connected(Netstrings())
    protocol.dataReceived(b"1:a," + wire)
    protocol.dataReceived(b"1:b,")
    assert protocol.events == [b"a"]
    assert protocol.transport.disconnecting and protocol.brokenPeer
    (line,) = peerLog.lines
    assert "\n" not in line and "Traceback" not in line
    assert line.startswith("Dropping Netstrings from 192.168.1.1:54321: malformed netstring (")


def test_netstringDataReceivedReentrantlyIsParsedAfterTheChunk():
    # An echo through a loopback calls dataReceived from stringReceived.
    class Echoing(Netstrings):
        def stringReceived(self, string):
            self.events.append(string)
            if string == b"ECHO":
                self.dataReceived(b"5:inner,")

    protocol = connected(Echoing())
    protocol.dataReceived(b"4:ECHO,5:after,")
    protocol.dataReceived(b"4:next,")
    # Data received from inside a callback comes after all data before it.
    assert protocol.events == [b"ECHO", b"after", b"inner", b"next"]


def test_malformedNetstringClosesAsTwistedDoes():
    class Watched(Netstrings):
        def connectionLost(self, reason):
            self.events.append(("lost", reason.type, self.brokenPeer))
            Netstrings.connectionLost(self, reason)

    protocol = Watched()
    transport = StringTransportWithDisconnection()
    transport.protocol = protocol
    transport.abortConnection = lambda: protocol.events.append("abort")
    protocol.makeConnection(transport)
    protocol.dataReceived(b"1:a,1:b;1:c,")
    protocol.dataReceived(b"1:d,")
    # The strings before the error, then one clean close: no abort, no
    # exception out of dataReceived, nothing parsed after.
    assert protocol.events == [b"a", ("lost", ConnectionDone, True)]
    assert protocol.brokenPeer and transport.disconnecting


def test_netstringRaisingCallbackDoesNotGetTheSameStringTwice():
    class Raising(Netstrings):
        def stringReceived(self, string):
            self.events.append(string)
            if string == b"boom":
                raise ValueError(string)

    protocol = connected(Raising())
    with pytest.raises(ValueError):
        protocol.dataReceived(b"4:boom,1:x,")
    protocol.dataReceived(b"1:y,")
    assert protocol.events == [b"boom", b"x", b"y"]


def test_incompleteNetstringWaits():
    protocol = connected(Netstrings())
    protocol.dataReceived(b"99999:" + b"x" * 1000)
    assert not protocol.transport.disconnecting and protocol.events == []


def test_statefulStringProtocolCallsTheStatesMethod(peerLog):
    class Login(basic.StatefulStringProtocol, basic.NetstringReceiver):
        def __init__(self):
            self.events = []

        def proto_init(self, string):
            self.events.append(("user", string))
            return "password"

        def proto_password(self, string):
            self.events.append(("password", string))
            return "done" if string == b"bye" else "lost"

    protocol = connected(Login())
    protocol.dataReceived(b"5:alice,6:secret,1:x,")
    assert protocol.events == [("user", b"alice"), ("password", b"secret")]
    assert protocol.state == "lost" and not protocol.transport.disconnecting
    assert peerLog.lines == ["Login: no proto_lost for a string received; dropped"]
    protocol.state = "password"
    protocol.dataReceived(b"3:bye,")
    assert protocol.state == "done" and protocol.transport.disconnecting


# -- the deadline for one message (messageTimeout) ---------------------------------------


def _recording(base):
    class Receiver(base):
        def __init__(self):
            self.events = []

        def lineReceived(self, message):
            self.events.append(message)

        stringReceived = lineReceived

    Receiver.__name__ = base.__name__
    return Receiver


FRAMINGS = [
    (basic.LineReceiver, lambda message: message + b"\r\n"),
    (basic.LineOnlyReceiver, lambda message: message + b"\r\n"),
    (basic.NetstringReceiver, lambda message: b"%d:%s," % (len(message), message)),
    (basic.Int8StringReceiver, lambda message: struct.pack("!B", len(message)) + message),
    (basic.Int16StringReceiver, lambda message: struct.pack("!H", len(message)) + message),
    (basic.Int32StringReceiver, lambda message: struct.pack("!I", len(message)) + message),
]
framings = pytest.mark.parametrize(
    "base, frame", FRAMINGS, ids=[base.__name__ for base, _ in FRAMINGS]
)


class CountingClock(Clock):
    """A Clock that counts the calls scheduled on it."""

    scheduled = 0

    def callLater(self, delay, function, *args, **kwargs):
        self.scheduled += 1
        return Clock.callLater(self, delay, function, *args, **kwargs)


def timed(base, timeout=5.0):
    """A recording receiver of class base with messageTimeout, connected, on a CountingClock."""
    protocol = _recording(base)()
    protocol.messageTimeout = timeout
    protocol.clock = CountingClock()
    return connected(protocol), protocol.clock


def activeCalls(clock):
    return [call for call in clock.getDelayedCalls() if call.active()]


@framings
def test_messageTrickledOneByteEveryTwoSecondsIsDroppedAtTheDeadline(base, frame, peerLog):
    protocol, clock = timed(base, 5.0)
    wire = frame(b"hello, world")
    for index in range(3):  # a byte at 0, 2 and 4 s
        protocol.dataReceived(wire[index : index + 1])
        clock.advance(2 if index < 2 else 0.999)
    assert not protocol.transport.disconnecting
    clock.advance(0.001)  # 5 s after the first byte
    assert protocol.transport.aborted and protocol.events == []
    (line,) = peerLog.lines
    assert line == (
        "Dropping %s from 192.168.1.1:54321: message not complete 5 s after its first byte"
        % (base.__name__,)
    )


@framings
def test_messageCompletedInTimeIsKeptAndTheNextGetsAFreshDeadline(base, frame, peerLog):
    protocol, clock = timed(base, 5.0)
    first, second = frame(b"first"), frame(b"second")
    wire = first + second
    protocol.dataReceived(wire[:2])
    clock.advance(4)
    protocol.dataReceived(wire[2 : len(first) + 1])  # ends the first, begins the second
    assert protocol.events == [b"first"]
    clock.advance(4.9)  # 8.9 s after the first began, 4.9 s after the second did
    assert not protocol.transport.disconnecting
    protocol.dataReceived(wire[len(first) + 1 : len(first) + 2])
    clock.advance(0.1)
    assert protocol.transport.aborted and protocol.events == [b"first"]
    assert len(peerLog.lines) == 1


@framings
def test_noDeadlineByDefault(base, frame):
    protocol = connected(_recording(base)())
    clock = protocol.clock = CountingClock()
    wire = frame(b"x" * 40)
    for index in range(30):
        protocol.dataReceived(wire[index : index + 1])
        clock.advance(2)
    assert not protocol.transport.disconnecting and clock.scheduled == 0


@framings
def test_theDeadlineTimerIsArmedOnceNotPerMessage(base, frame):
    protocol, clock = timed(base, 5.0)
    message = frame(b"0123456789")
    for _ in range(1000):  # 1,000 messages each cut in two, over 2 s
        protocol.dataReceived(message[:4])
        clock.advance(0.001)
        protocol.dataReceived(message[4:])
        clock.advance(0.001)
    assert len(protocol.events) == 1000 and clock.scheduled == 1
    clock.advance(10)  # fires once, finds nothing waiting, is not re-armed
    assert clock.scheduled == 1 and activeCalls(clock) == []
    assert not protocol.transport.disconnecting


@framings
def test_connectionLostCancelsTheDeadline(base, frame):
    protocol, clock = timed(base, 5.0)
    protocol.dataReceived(frame(b"partial")[:3])
    assert len(activeCalls(clock)) == 1
    protocol.connectionLost(connectionDone)
    assert activeCalls(clock) == []


def test_noTimeoutOnceClosing(peerLog):
    protocol, clock = timed(basic.LineReceiver, 5.0)
    protocol.dataReceived(b"partial")
    protocol.transport.loseConnection()
    clock.advance(10)
    assert not protocol.transport.aborted and peerLog.lines == []


def test_pausedOrRawLineReceiverIsNotTimed():
    protocol = connected(Lines())
    protocol.messageTimeout, protocol.clock = 5.0, Clock()
    protocol.dataReceived(b"PAUSE\r\npartial")
    protocol.clock.advance(10)  # we stopped reading: the peer is not slow
    assert not protocol.transport.disconnecting
    protocol.resumeProducing()  # the partial line is timed from now
    protocol.clock.advance(4.9)
    assert not protocol.transport.disconnecting
    protocol.clock.advance(0.1)
    assert protocol.transport.aborted
    protocol = connected(Lines())
    protocol.messageTimeout, protocol.clock = 5.0, Clock()
    protocol.dataReceived(b"RAW\r\nraw bytes, no delimiter")
    protocol.clock.advance(10)
    assert not protocol.transport.disconnecting


def test_messageTimedOutCanBeOverriddenAndTheReactorAttributeServesAsClock():
    class Patient(_recording(basic.LineOnlyReceiver)):
        def messageTimedOut(self):
            self.events.append("timed out")

    protocol = connected(Patient())
    protocol.messageTimeout, protocol.reactor = 5.0, Clock()
    protocol.dataReceived(b"slow")
    protocol.reactor.advance(5)
    assert protocol.events == ["timed out"] and not protocol.transport.disconnecting
    protocol.dataReceived(b" still")  # kept: the partial line starts a new period
    protocol.reactor.advance(4.9)
    assert protocol.events == ["timed out"]
    protocol.reactor.advance(0.1)
    assert protocol.events == ["timed out", "timed out"]


# -- one rate-limited line per peer dropped -------------------------------------------------


def test_longLinesAreLoggedInOneRateLimitedLine(peerLog):
    for base in (basic.LineReceiver, basic.LineOnlyReceiver, basic.LineReceiver):
        protocol = connected(_recording(base)())
        protocol.MAX_LENGTH = 100
        protocol.dataReceived(b"x" * 101)
        assert protocol.transport.disconnecting
    assert peerLog.lines == [
        "Dropping LineReceiver from 192.168.1.1:54321: line longer than 100 bytes"
    ]
    peerLog.clock.advance(1)
    assert peerLog.lines[1:] == [
        "line too long: 2 more like this not logged (at most one line per 1 s)"
    ]


def test_eachKindOfDropHasItsOwnLimit(peerLog):
    connected(Netstrings()).dataReceived(b"x")
    connected(Netstrings()).dataReceived(b"y")
    connected(_recording(basic.LineOnlyReceiver)()).dataReceived(b"z" * 16385)
    connected(Strings32()).dataReceived(struct.pack("!I", 100000))
    protocol, clock = timed(basic.Int16StringReceiver, 1.0)
    protocol.dataReceived(b"\0")
    clock.advance(1)
    kinds = [line.split(": ", 1)[1] for line in peerLog.lines]
    assert kinds == [
        "malformed netstring (expected a netstring length and ':')",
        "line longer than 16384 bytes",
        "string of 100000 bytes announced, over the maximum 99999",
        "message not complete 1 s after its first byte",
    ]
    peerLog.clock.advance(1)
    assert peerLog.lines[4:] == [
        "malformed netstring: 1 more like this not logged (at most one line per 1 s)"
    ]


@pytest.mark.parametrize(
    "peer, shown",
    [
        (IPv6Address("TCP", "::1", 7000), " from [::1]:7000"),
        (UNIXAddress("/run/app.sock"), " from /run/app.sock"),
        (UNIXAddress(None), ""),
    ],
)
def test_theDropLineNamesThePeer(peer, shown):
    assert ratelimit.describePeer(StringTransport(peerAddress=peer)) == shown
    assert ratelimit.describePeer(object()) == ""


# -- FileSender ----------------------------------------------------------------------


def test_fileSenderStreamsAFileThroughThePump():
    content = bytes(range(256)) * 200
    received = []

    class Server(basic.LineReceiver):
        def connectionMade(self):
            sender = basic.FileSender()
            sender.CHUNK_SIZE = 1000
            d = sender.beginFileTransfer(io.BytesIO(content), self.transport)
            d.addCallback(received.append)

    class Sink(basic.LineReceiver):
        def connectionMade(self):
            self.data = bytearray()
            self.setRawMode()

        def rawDataReceived(self, data):
            self.data += data

    server, client = Server(), Sink()
    connectedPair(server, client)
    assert bytes(client.data) == content
    assert received == [content[-1:]]


def test_fileSenderTransformAndEmptyFile():
    transport = StringTransport()
    d = basic.FileSender().beginFileTransfer(io.BytesIO(b""), transport)
    assert transport.producer is not None
    transport.producer.resumeProducing()
    results = []
    d.addCallback(results.append)
    assert results == [b""] and transport.producer is None
    transport = StringTransport()
    sender = basic.FileSender()
    d = sender.beginFileTransfer(io.BytesIO(b"abc"), transport, bytes.upper)
    sender.resumeProducing()
    sender.pauseProducing()
    sender.resumeProducing()
    sender.resumeProducing()  # after the end: nothing more happens
    assert transport.value() == b"ABC"
    d.addCallback(results.append)
    assert results == [b"", b"C"]


def test_fileSenderStopProducingFails():
    transport = StringTransport()
    sender = basic.FileSender()
    d = sender.beginFileTransfer(io.BytesIO(b"abc"), transport)
    sender.stopProducing()
    sender.stopProducing()
    failures = []
    d.addErrback(failures.append)
    assert len(failures) == 1 and failures[0].check(Exception)
