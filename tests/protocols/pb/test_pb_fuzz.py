"""
A Broker facing garbage: whatever bytes or s-expressions a peer sends, the
Broker either answers, or drops the connection with a logged reason; no
exception escapes dataReceived (which would be the reactor's to contain).
"""

from hypothesis import given, settings
from hypothesis import strategies as st

from protocols.pb import banana, pb
from reactor.testing import StringTransport

from .test_pb import Server

_atoms = st.sampled_from(
    [
        b"message",
        b"cachemessage",
        b"answer",
        b"error",
        b"decref",
        b"decache",
        b"uncache",
        b"version",
        b"remote",
        b"local",
        b"cached",
        b"lcache",
        b"list",
        b"tuple",
        b"dictionary",
        b"reference",
        b"dereference",
        b"unicode",
        b"None",
        b"boolean",
        b"root",
        b"echo",
        b"twisted.spread.pb.CopyableFailure",
        b"os.system",
    ]
)
_leaves = st.one_of(_atoms, st.binary(max_size=8), st.integers(-3, 3), st.floats(allow_nan=False))
_expressions = st.recursive(_leaves, lambda children: st.lists(children, max_size=7), max_leaves=30)


def _readyBroker():
    broker = pb.PBServerFactory(Server()).buildProtocol(None)
    transport = StringTransport()
    broker.makeConnection(transport)
    broker.dataReceived(banana.encode(b"pb"))
    assert broker.currentDialect == b"pb"
    return broker, transport


@settings(max_examples=300, deadline=None)
@given(st.lists(_expressions, min_size=1, max_size=5))
def test_anyExpressionIsAnsweredOrRefused(expressions):
    broker, transport = _readyBroker()
    for expression in expressions:
        broker.sendEncoded(expression)  # encoded as this side would
        data = transport.value()
        transport.clear()
        broker.dataReceived(data)


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=200))
def test_anyBytesAreDecodedOrRefused(data):
    broker, transport = _readyBroker()
    broker.dataReceived(data)
    broker.dataReceived(banana.encode([b"version", 6]))
