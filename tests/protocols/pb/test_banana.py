"""
protocols.pb.banana: Twisted's encoding byte for byte, incremental decoding,
dialect negotiation, and the limits that disconnect a misbehaving peer.
"""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.pb import banana
from reactor import log
from reactor.testing import EventLoggingObserver, connectedPair


class Recorder(banana.Banana):
    """A Banana that keeps what it receives and notes when the dialect is agreed."""

    def __init__(self, isClient=True):
        banana.Banana.__init__(self, isClient)
        self.expressions = []
        self.ready = False
        self.lost = None

    def connectionReady(self):
        self.ready = True

    def expressionReceived(self, expression):
        self.expressions.append(expression)

    def connectionLost(self, reason):
        self.lost = reason


@pytest.fixture
def logged(request):
    return EventLoggingObserver.createWithCleanup(request, log)


def _pair():
    server, client = Recorder(isClient=False), Recorder(isClient=True)
    pump = connectedPair(server, client)
    return server, client, pump


def _texts(events):
    return [log.textFromEventDict(event) for event in events]


# Bytes as Twisted 26's banana.encode gives them (the interoperability tests
# in test_pb_twisted.py check the live peer too).
@pytest.mark.parametrize(
    "value, encoded",
    [
        (0, b"\x00\x81"),
        (127, b"\x7f\x81"),
        (128, b"\x00\x01\x81"),
        (-3, b"\x03\x83"),
        (2**31, b"\x00\x00\x00\x00\x08\x85"),
        (-(2**40), b"\x00\x00\x00\x00\x00\x20\x86"),
        (1.5, b"\x84?\xf8\x00\x00\x00\x00\x00\x00"),
        (b"", b"\x00\x82"),
        (b"version", b"\x07\x82version"),
        ([], b"\x00\x80"),
        ([b"version", 6], b"\x02\x80\x07\x82version\x06\x81"),
        ((1, [2]), b"\x02\x80\x01\x81\x01\x80\x02\x81"),
        ([128, 16383, 16384], b"\x03\x80\x00\x01\x81\x7f\x7f\x81\x00\x00\x01\x81"),
        ([[0] * 200], b"\x01\x80\x48\x01\x80" + b"\x00\x81" * 200),
    ],
)
def test_encodeMatchesTwisted(value, encoded):
    assert banana.encode(value) == encoded
    assert banana.decode(encoded) == _asLists(value)


def _asLists(value):
    if isinstance(value, (list, tuple)):
        return [_asLists(item) for item in value]
    return value


def test_decodeNested():
    value = [1, [b"a", [2.5, [-7, []]]], 2**70, -(2**70)]
    assert banana.decode(banana.encode(value)) == value


def test_encodeRefusesWhatBananaCannotCarry():
    with pytest.raises(banana.BananaError):
        banana.encode({"a": 1})
    with pytest.raises(banana.BananaError):
        banana.encode(b"x" * (banana.SIZE_LIMIT + 1))
    with pytest.raises(banana.BananaError):
        banana.encode(2 ** (64 * 7))


def test_dialectNegotiation():
    server, client, pump = _pair()
    assert server.ready and client.ready
    assert server.currentDialect == client.currentDialect == b"pb"


def test_pbDialectUsesVocabulary():
    server, client, pump = _pair()
    written = []
    original = client.transport.write
    client.transport.write = lambda data: (written.append(data), original(data))
    client.sendEncoded([b"version", 6])
    pump.flush()
    assert written == [b"\x02\x80\x13\x87\x06\x81"]
    assert server.expressions == [[b"version", 6]]


def test_decodesOneByteAtATime():
    server, client, pump = _pair()
    data = banana.encode([b"hello", 1.25, [-(2**40), [b""]], 300])
    for index in range(len(data)):
        server.dataReceived(data[index : index + 1])
    assert server.expressions == [[b"hello", 1.25, [-(2**40), [b""]], 300]]


def test_manyExpressionsInOneChunk():
    server, client, pump = _pair()
    server.dataReceived(b"".join(banana.encode([n, b"x" * n]) for n in range(50)))
    assert server.expressions == [[n, b"x" * n] for n in range(50)]


@pytest.mark.parametrize(
    "data, reason",
    [
        (b"\x01" * 65 + b"\x82", "more than 64 bytes of prefix"),
        (b"\x01" * 65, "more than 64 bytes of prefix"),
        (banana._b128(banana.SIZE_LIMIT + 1) + b"\x82", "string of 655361 bytes is too long"),
        (banana._b128(banana.SIZE_LIMIT + 1) + b"\x80", "list of 655361 items is too long"),
        (b"\x01\x80" * 101, "lists nested more than 100 deep"),
        (b"\x01\x8f", "invalid type byte 0x8f"),
        (b"\x7f\x87", "unknown vocabulary number 127"),
    ],
)
def test_limitBrokenDisconnectsOnlyThatPeer(logged, data, reason):
    badServer, badClient, badPump = _pair()
    goodServer, goodClient, goodPump = _pair()
    badClient.transport.write(data + banana.encode([b"after", 1]))
    badPump.flush()
    assert badServer.expressions == []
    assert badServer.lost is not None and badClient.lost is not None
    texts = [text for text in _texts(logged) if "disconnecting" in text]
    assert len(texts) == 1 and reason in texts[0]
    goodClient.sendEncoded([b"still", 1])
    goodPump.flush()
    assert goodServer.expressions == [[b"still", 1]]
    assert goodServer.lost is None


def test_deepNestingDisconnects(logged):
    # Twisted has no depth bound; a deep enough list would exhaust the
    # stack of whatever walks it next.
    server, client, pump = _pair()
    client.transport.write(b"\x01\x80" * 101 + b"\x00\x81")
    pump.flush()
    assert server.expressions == []
    assert server.lost is not None


def test_nestingWithinTheLimitIsAccepted():
    server, client, pump = _pair()
    client.transport.write(b"\x01\x80" * 100 + b"\x00\x81")
    pump.flush()
    expected = 0
    for _ in range(100):
        expected = [expected]
    assert server.expressions == [expected]


@pytest.mark.parametrize("limit", [0, 1, 2, 3])
def test_prefixLimitCountsShortPrefixes(logged, limit):
    # Prefixes of one and two bytes are read without the general scan;
    # the limit still applies to them.
    server, client, pump = _pair()
    server.prefixLimit = limit
    accepted = [value for value in (5, 300, 2**14) if len(banana._b128(value)) <= limit]
    for value in (5, 300, 2**14):
        client.transport.write(banana.encode([value]))
    pump.flush()
    assert server.expressions == [[value] for value in accepted]
    texts = [text for text in _texts(logged) if "disconnecting" in text]
    if limit < 3:
        assert len(texts) == 1 and "more than %d bytes of prefix" % (limit,) in texts[0]
        assert server.lost is not None
    else:
        assert texts == [] and server.lost is None


def test_perConnectionLimits():
    server, client, pump = _pair()
    server.sizeLimit = 10
    client.sendEncoded(b"x" * 10)
    client.transport.write(banana.encode(b"y" * 11))
    pump.flush()
    assert server.expressions == [b"x" * 10]
    assert server.lost is not None


def test_clientRefusesUnknownDialects(logged):
    server = Recorder(isClient=False)
    server.knownDialects = [b"pig-latin"]
    client = Recorder(isClient=True)
    connectedPair(server, client)
    assert client.lost is not None and not client.ready
    assert any("no dialect" in text for text in _texts(logged))


def test_serverRefusesUnofferedDialect(logged):
    server = Recorder(isClient=False)
    client = Recorder(isClient=True)
    client.knownDialects = [b"none"]
    server.knownDialects = [b"pb"]
    connectedPair(server, client)
    assert server.lost is not None and not server.ready


def test_expressionLimit(logged):
    # Each string is bounded, but a list of many is bounded only by the
    # expression limit, checked as its items arrive.
    server, client, pump = _pair()
    server.expressionLimit = 1000
    client.sendEncoded([b"x" * 400, b"y" * 400])
    pump.flush()
    assert len(server.expressions) == 1
    client.transport.write(b"\x05\x80" + banana.encode(b"x" * 400) * 3)
    pump.flush()
    assert len(server.expressions) == 1
    assert server.lost is not None
    assert any("expression longer than 1000 bytes" in text for text in _texts(logged))


def test_expressionLimitCountsAcrossReads():
    server, client, pump = _pair()
    server.expressionLimit = 1000
    data = b"\x05\x80" + banana.encode(b"x" * 400) * 3
    for index in range(0, len(data), 7):
        server.dataReceived(data[index : index + 7])
    assert server.expressions == [] and server._broken


def _feed(protocol, data, sizes):
    # Hand data to protocol in reads of the given sizes, cycling through
    # them; return the largest buffer it held between reads.
    held, index, turn = 0, 0, 0
    while index < len(data):
        size = sizes[turn % len(sizes)]
        protocol.dataReceived(data[index : index + size])
        held = max(held, len(protocol._buffer))
        index, turn = index + size, turn + 1
    return held


@pytest.mark.parametrize("sizes", [[65536], [4093], [1000, 70000, 3], [1]])
def test_longStringAcrossReads(sizes):
    # A string longer than a read is taken piece by piece as it arrives,
    # not kept in the buffer and decoded again with each read (which
    # copied the whole pending string once per read): between reads the
    # buffer holds at most an item's prefix, and every string arrives whole.
    strings = [bytes([n]) * (65536 + n * 4099) for n in range(4)] + [b"tail"]
    expression = [b"message", 7, strings, 2.5]
    server, client, pump = _pair()
    data = banana.encode(expression) * 2
    held = _feed(server, data, sizes)
    assert server.expressions == [expression, expression]
    assert held <= server.prefixLimit + 8


def test_longStringByteByByteKeepsFewPieces():
    # Tiny pieces of a long string are merged as they come: a peer sending
    # one byte per read costs memory in proportion to the string, not one
    # object per read.
    server, client, pump = _pair()
    data = banana.encode([b"x" * 40000 + b"y"])
    for index in range(len(data) - 1):
        server.dataReceived(data[index : index + 1])
    assert len(server._stringParts) == 1
    server.dataReceived(data[-1:])
    assert server.expressions == [[b"x" * 40000 + b"y"]]


def test_expressionLimitCountsStringEndingWithARead():
    # A long string that ends exactly where a read ends still counts
    # towards its expression's size: the next string breaks the limit.
    server, client, pump = _pair()
    server.expressionLimit = 1000
    data = b"\x02\x80" + banana.encode(b"x" * 600) * 2
    server.dataReceived(data[:105])
    server.dataReceived(data[105:605])
    server.dataReceived(data[605:])
    assert server.expressions == [] and server._broken


def test_stringLimitsStillBreakALongStringInProgress(logged):
    # The size limits are checked on the prefix, before any of a long
    # string's bytes are kept.
    server, client, pump = _pair()
    server.expressionLimit = 100000
    data = b"\x03\x80" + banana.encode(b"x" * 60000) * 2
    server.dataReceived(data[:30000])
    assert not server._broken
    server.dataReceived(data[30000:60020])  # the second string's prefix
    assert server._broken
    assert any("expression longer than 100000 bytes" in t for t in _texts(logged))


_leaves = st.one_of(
    st.binary(max_size=300),
    st.sampled_from([b"None", b"list", b"message", b"tuple"]),  # vocabulary words
    st.integers(min_value=-(2**200), max_value=2**200),
    st.floats(allow_nan=False),
)
_expressions = st.recursive(_leaves, lambda children: st.lists(children, max_size=6), max_leaves=40)


@given(_expressions)
def test_roundTripsInEitherDialect(expression):
    # The encoder's in-line paths (short bytes, small ints, vocabulary
    # words inside lists) and its general one must agree with the decoder.
    assert banana.decode(banana.encode(expression)) == expression
    server, client, pump = _pair()
    client.sendEncoded(expression)
    pump.flush()
    assert server.expressions == [expression]


def test_emptyListsThenMoreInOneChunk():
    # An empty list is one type byte: the next item's first byte is not
    # its prefix, even when it is a type byte too.
    server, client, pump = _pair()
    server.dataReceived(b"\x80\x80" + b"\x00\x81" * 130 + b"\x01\x80\x80")
    assert server.expressions == [[], []] + [0] * 130 + [[[]]]


@pytest.mark.parametrize(
    "limit, value, data, reason",
    [
        ("sizeLimit", 10, banana.encode([b"x" * 11]), "string of 11 bytes is too long"),
        ("sizeLimit", 10, banana.encode([[0] * 11]), "list of 11 items is too long"),
        ("sizeLimit", 10, banana.encode([0] * 11), "list of 11 items is too long"),
        ("maxDepth", 3, banana.encode([[[[0]]]]), "lists nested more than 3 deep"),
        ("expressionLimit", 30, banana.encode([b"x" * 20, b"y" * 20]), "longer than 30 bytes"),
    ],
)
def test_limitsHoldForWholeSmallMessages(logged, limit, value, data, reason):
    # A whole message of short items in one read is read by the small-
    # message path; each limit is still enforced on it.
    server, client, pump = _pair()
    setattr(server, limit, value)
    server.dataReceived(banana.encode([b"before"]) + data + banana.encode([b"after"]))
    assert server.expressions == [[b"before"]]
    texts = [text for text in _texts(logged) if "disconnecting" in text]
    assert len(texts) == 1 and reason in texts[0]


@pytest.mark.parametrize("value", [2**14 - 1, 2**14, 2**21, 2**28 - 1, 2**28, 2**31 - 1])
def test_requestIdsOfEveryPrefixLength(value):
    # Request ids grow through one- to five-digit prefixes on a long-lived
    # connection; each decodes, whole or a byte at a time, in a PB message.
    expression = [b"answer", value, [b"tuple", value, -value]]
    server, client, pump = _pair()
    client.sendEncoded(expression)
    pump.flush()
    data = banana.encode(expression)
    for index in range(len(data)):
        server.dataReceived(data[index : index + 1])
    assert server.expressions == [expression, expression]


_small = st.lists(
    st.one_of(st.integers(-5000, 2**20), st.binary(max_size=20), st.just(b"message")),
    max_size=6,
)
_mixed = st.lists(
    st.one_of(
        _small,  # read by the small-list path
        st.builds(lambda n: [b"long", b"z" * (20000 + n)], st.integers(0, 3000)),
        st.builds(lambda x: [b"float", x], st.floats(allow_nan=False)),
    ),
    min_size=1,
    max_size=8,
)


@given(_mixed, st.lists(st.integers(1, 40000), min_size=1, max_size=5))
def test_smallListsAndLongStringsMixedInAnyReads(expressions, sizes):
    # The small-list reader, the general decoder and a long string kept
    # across reads take turns within one stream, whatever the reads' sizes:
    # every expression arrives whole and in order.
    server, client, pump = _pair()
    assert server.currentDialect is not None  # the small-list path is on
    data = b"".join(banana.encode(expression) for expression in expressions)
    _feed(server, data, sizes)
    assert server.expressions == expressions
