"""
The HTTP/1.1 request parser behind HTTPChannel: one small interface, two
implementations.

Loom does not parse HTTP by hand.  ``httptools`` (llhttp, Node's strict
parser, which refuses the ambiguities request smuggling lives on) is the
default; ``h11``, pure Python and some forty times slower per request, is
the fallback where httptools cannot be imported, and can be forced with the
environment variable ``LOOM_HTTP_PARSER=h11`` or ``HTTPFactory(parser=
"h11")``.  The conformance tests run against both.

A parser is made for one connection with ``makeParser(owner, limits)`` and
fed bytes with ``feed(data)``.  It calls its owner (the channel) back:

- ``owner.headReceived(headers)`` once a request's head is complete, with
  its headers as the raw list of (name, value) pairs and the parser's
  attributes describing the rest (``method``, ``uri``, ``version``, ``keepAlive``,
  ``contentLength`` (None when chunked), ``chunked``, ``expectContinue``,
  ``upgrade``);
- ``owner.bodyReceived(data)`` for each piece of its body, de-chunked;
- ``owner.messageReceived()`` at its end.

Anything the parser refuses raises ``ParseError`` from ``feed``, carrying
the status to answer with (400, 431, 501, 505); after that the parser is
done and the connection must close.  ``examineHead`` holds the checks both
implementations share (both Content-Length and Transfer-Encoding, a
transfer coding other than chunked, no Host in HTTP/1.1, an Expect other
than 100-continue, a version other than 1.0 or 1.1), so the two answer
alike whatever each library happens to accept.

Head size: the request line and headers together may not exceed
``totalHeadersSize`` bytes (431).  The complete head is measured exactly;
a head still incomplete after a feed is measured from the bytes fed since
it began, so a client cannot grow one without end however it cuts it.
"""

from __future__ import annotations

import os
from typing import Protocol

__all__ = ["ParseError", "ParserOwner", "Limits", "makeParser", "parserName", "examineHead"]

PARSER_VARIABLE = "LOOM_HTTP_PARSER"


class ParseError(Exception):
    """
    A request the parser refuses.

    :ivar code: the status code to answer with.
    :ivar reason: what was wrong, for the log and the response body.
    """

    def __init__(self, code: int, reason: str) -> None:
        Exception.__init__(self, code, reason)
        self.code = code
        self.reason = reason


class ParserOwner(Protocol):
    """What a parser calls back (HTTPChannel)."""

    def headReceived(self, headers: list[tuple[bytes, bytes]]) -> None: ...
    def bodyReceived(self, data: bytes) -> None: ...
    def messageReceived(self) -> None: ...


class Limits:
    """
    The limits a parser enforces.

    :ivar totalHeadersSize: most bytes of request line and headers.
    :ivar maxHeaders: most header lines in one head.
    """

    __slots__ = ("totalHeadersSize", "maxHeaders")

    def __init__(self, totalHeadersSize: int = 16384, maxHeaders: int = 500) -> None:
        self.totalHeadersSize = totalHeadersSize
        self.maxHeaders = maxHeaders


# Header names the head examination looks at, in the spellings clients send;
# any other spelling is found through lower().
_CONTENT_LENGTH = 1
_TRANSFER_ENCODING = 2
_HOST = 3
_EXPECT = 4
_CONNECTION = 5
_UPGRADE = 6
_WATCHED = {
    b"content-length": _CONTENT_LENGTH,
    b"transfer-encoding": _TRANSFER_ENCODING,
    b"host": _HOST,
    b"expect": _EXPECT,
    b"connection": _CONNECTION,
    b"upgrade": _UPGRADE,
}
_WATCHED.update({name.title(): kind for name, kind in list(_WATCHED.items())})
_WATCHED_LENGTHS = frozenset(len(name) for name in _WATCHED)


class Head:
    """
    What examineHead finds in a head; the parsers copy it to themselves.

    :ivar contentLength: the body's length; None when chunked (0 for none).
    """

    __slots__ = ("contentLength", "chunked", "expectContinue", "keepAlive", "upgrade")


def examineHead(
    method: bytes, version: bytes, headers: list[tuple[bytes, bytes]], into: Head
) -> None:
    """
    Check a complete head and fill into with what the channel needs.

    :raises ParseError: for a head both parsers must refuse alike.
    """
    if version != b"1.1" and version != b"1.0":
        raise ParseError(505, "HTTP version %s is not supported" % (version.decode("ascii"),))
    contentLength: int | None = 0
    sawLength = chunked = expectContinue = upgradeAsked = False
    hosts = 0
    connection: list[bytes] = []
    for name, value in headers:
        kind = _WATCHED.get(name)
        if kind is None:
            if len(name) not in _WATCHED_LENGTHS:
                continue
            kind = _WATCHED.get(name.lower())
            if kind is None:
                continue
        if kind == _CONTENT_LENGTH:
            value = value.strip()
            if not value.isdigit() or (sawLength and int(value) != contentLength):
                raise ParseError(400, "Bad Content-Length")
            contentLength = int(value)
            sawLength = True
        elif kind == _TRANSFER_ENCODING:
            codings = [coding.strip().lower() for coding in value.split(b",")]
            if chunked or codings != [b"chunked"]:
                raise ParseError(501, "Only Transfer-Encoding: chunked is supported")
            chunked = True
        elif kind == _HOST:
            hosts += 1
        elif kind == _EXPECT:
            if value.strip().lower() != b"100-continue":
                raise ParseError(417, "Only Expect: 100-continue is supported")
            expectContinue = version == b"1.1"
        elif kind == _CONNECTION:
            connection.extend(token.strip().lower() for token in value.split(b","))
        else:
            upgradeAsked = True
    if chunked:
        # RFC 9112, 6.1 and 6.3: both framings at once is how requests are
        # smuggled, and HTTP/1.0 has no chunked coding.
        if sawLength:
            raise ParseError(400, "Both Content-Length and Transfer-Encoding")
        if version == b"1.0":
            raise ParseError(400, "Transfer-Encoding in an HTTP/1.0 request")
        contentLength = None
    if version == b"1.1":
        if hosts != 1:
            raise ParseError(400, "An HTTP/1.1 request needs one Host header")
        keepAlive = b"close" not in connection
    else:
        keepAlive = b"keep-alive" in connection and b"close" not in connection
    into.contentLength = contentLength
    into.chunked = chunked
    into.expectContinue = expectContinue
    into.keepAlive = keepAlive
    into.upgrade = method == b"CONNECT" or (upgradeAsked and b"upgrade" in connection)


def parserName(requested: str | None = None) -> str:
    """
    Return the parser to use: requested if given, else the environment's
    ``LOOM_HTTP_PARSER``, else httptools when it imports, else h11.

    :raises ValueError: for a name other than ``"httptools"`` and ``"h11"``.
    :raises ImportError: if the parser asked for by name cannot be imported.
    """
    name = requested or os.environ.get(PARSER_VARIABLE) or None
    if name is None:
        try:
            import httptools  # noqa: F401
        except ImportError:
            return "h11"
        return "httptools"
    if name not in ("httptools", "h11"):
        raise ValueError("unknown HTTP parser %r: choose httptools or h11" % (name,))
    __import__(name)
    return name


def makeParser(name: str, owner: ParserOwner, limits: Limits) -> object:
    """
    Return a new parser of the kind name (see parserName) for one connection.

    The parser has ``feed(data)`` and the attributes listed in the module
    docstring.
    """
    if name == "httptools":
        from protocols.web._httptoolsparser import HTTPToolsParser

        return HTTPToolsParser(owner, limits)
    from protocols.web._h11parser import H11Parser

    return H11Parser(owner, limits)
