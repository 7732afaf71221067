"""
The client's response parsers, fed by hand on both parsers: where a
response ends, and whether the connection may carry another request after
it, with interim 1xx heads, heads split across reads and bytes after the
response.
"""

import pytest

from protocols.web._clientparser import makeResponseParser


class Owner:
    def __init__(self):
        self.events = []
        self.head = None

    def headReceived(self, head):
        self.head = head
        self.events.append(("head", head.code))

    def bodyReceived(self, data):
        self.events.append(("body", data))

    def messageReceived(self):
        self.events.append(("end", self.head.keepAlive))


CONTINUE = b"HTTP/1.1 100 Continue\r\n\r\n"
HEAD = b"HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\n"
HEAD_ONLY = [("head", 200), ("end", True)]


@pytest.mark.parametrize(
    "method, pieces, events",
    [
        (b"HEAD", [HEAD], HEAD_ONLY),
        (b"HEAD", [CONTINUE + HEAD], HEAD_ONLY),
        (b"HEAD", [CONTINUE[:10], CONTINUE[10:] + HEAD[:20], HEAD[20:]], HEAD_ONLY),
        (b"HEAD", [HEAD[:-2], HEAD[-2:]], HEAD_ONLY),
        (b"HEAD", [HEAD + b"hello"], [("head", 200), ("end", False)]),
        (b"HEAD", [CONTINUE + HEAD + b"x"], [("head", 200), ("end", False)]),
        (b"GET", [HEAD + b"hello"], [("head", 200), ("body", b"hello"), ("end", True)]),
        (
            b"GET",
            [HEAD + b"helloHTTP/1.1 200 OK\r\n"],
            [("head", 200), ("body", b"hello"), ("end", False)],
        ),
        (
            b"GET",
            [CONTINUE, HEAD, b"hel", b"lo"],
            [("head", 200), ("body", b"hel"), ("body", b"lo"), ("end", True)],
        ),
    ],
    ids=[
        "head",
        "interimThenHead",
        "interimAndHeadInPieces",
        "headInTwoPieces",
        "headThenBody",
        "interimThenHeadThenAByte",
        "get",
        "getThenAnother",
        "getInPieces",
    ],
)
def test_whereAResponseEnds(parser, method, pieces, events):
    owner = Owner()
    responseParser = makeResponseParser(parser, owner)
    responseParser.expect(method)
    for piece in pieces:
        responseParser.feed(piece)
    assert owner.events == events
