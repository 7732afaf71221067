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


OLD_HEAD = b"HTTP/1.0 200 OK\r\nContent-Length: 0\r\n\r\n"
KEPT_OLD_HEAD = b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nContent-Length: 0\r\n\r\n"


@pytest.mark.parametrize(
    "pieces, version",
    [
        ([OLD_HEAD], (b"HTTP", 1, 0)),
        ([HEAD + b"hello"], (b"HTTP", 1, 1)),
        ([CONTINUE + OLD_HEAD], (b"HTTP", 1, 0)),
        ([OLD_HEAD[:14], OLD_HEAD[14:]], (b"HTTP", 1, 0)),
        # The second piece starts as a status line would, inside the
        # interim head's header: the final response's own version counts.
        (
            [b"HTTP/1.1 103 Early Hints\r\nLink: ", b"HTTP/1.1 x\r\n\r\n" + OLD_HEAD],
            (b"HTTP", 1, 0),
        ),
    ],
    ids=["old", "new", "afterInterim", "split", "statusLikeHeader"],
)
def test_theResponsesVersion(parser, pieces, version):
    owner = Owner()
    responseParser = makeResponseParser(parser, owner)
    responseParser.expect(b"GET")
    for piece in pieces:
        responseParser.feed(piece)
    assert owner.head.version == version


def test_eachResponsesVersionOnAKeptConnection(parser):
    owner = Owner()
    responseParser = makeResponseParser(parser, owner)
    versions = []
    for head in [HEAD + b"hello", KEPT_OLD_HEAD, HEAD + b"hello"]:
        responseParser.expect(b"GET")
        responseParser.feed(head)
        versions.append(owner.head.version)
    assert versions == [(b"HTTP", 1, 1), (b"HTTP", 1, 0), (b"HTTP", 1, 1)]


def test_versionReadFromTheStatusLine(monkeypatch):
    """
    A response that begins a piece has its version read from its status
    line: llhttp is not asked (its get_http_version formats a str each time).
    """
    import httptools

    asked = []

    class Counting(httptools.HttpResponseParser):
        def get_http_version(self):
            asked.append(True)
            return super().get_http_version()

    monkeypatch.setattr(httptools, "HttpResponseParser", Counting)
    owner = Owner()
    responseParser = makeResponseParser("httptools", owner)
    for head, version in [(HEAD + b"hello", 1), (KEPT_OLD_HEAD, 0), (HEAD + b"hello", 1)]:
        responseParser.expect(b"GET")
        responseParser.feed(head)
        assert owner.head.version == (b"HTTP", 1, version)
    assert asked == []
    # After an interim head in the same piece, or after a stray blank line
    # (llhttp skips it), llhttp is asked.
    for piece in [CONTINUE + KEPT_OLD_HEAD, b"\r\n" + KEPT_OLD_HEAD]:
        responseParser.expect(b"GET")
        responseParser.feed(piece)
        assert owner.head.version == (b"HTTP", 1, 0)
    assert asked == [True, True]
