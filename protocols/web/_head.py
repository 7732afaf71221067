"""
What both request parsers share: the error they raise, their limits, and
the checks of a complete head (``examineHead``).

Both parsers run the same checks on a complete head, so the two answer
alike whatever each library happens to accept: both Content-Length and
Transfer-Encoding (400), a transfer coding other than chunked (501), chunked
in HTTP/1.0 (400), no Host or two in HTTP/1.1 (400), an Expect other than
100-continue (417), a version other than 1.0 or 1.1 (505).  They also find
what the channel needs: the body's length, 100-continue, keep-alive, and
whether the client asks to switch protocols.
"""

from __future__ import annotations

from typing import Protocol

__all__ = ["ParseError", "ParserOwner", "Limits", "Head", "examineHead"]


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

    def headReceived(self, headers: list[tuple[bytes, bytes]]) -> None:
        """A head is complete; the parser's attributes describe it."""

    def bodyReceived(self, data: bytes) -> None:
        """A piece of the body, de-chunked."""

    def messageReceived(self) -> None:
        """The request is complete."""


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
_PROXY_CONNECTION = 7  # looked at only to learn the version (examineHead)
_WATCHED = {
    b"content-length": _CONTENT_LENGTH,
    b"transfer-encoding": _TRANSFER_ENCODING,
    b"host": _HOST,
    b"expect": _EXPECT,
    b"connection": _CONNECTION,
    b"upgrade": _UPGRADE,
    b"proxy-connection": _PROXY_CONNECTION,
}
_WATCHED.update({name.title(): kind for name, kind in list(_WATCHED.items())})
_WATCHED_LENGTHS = frozenset(len(name) for name in _WATCHED)


class Head:
    """
    What examineHead finds in a head; the parsers copy it to themselves.

    :ivar version: ``b"1.1"`` or ``b"1.0"``.
    :ivar contentLength: the body's length; None when chunked (0 for none).
    """

    __slots__ = ("version", "contentLength", "chunked", "expectContinue", "keepAlive", "upgrade")

    version: bytes
    contentLength: int | None
    chunked: bool
    expectContinue: bool
    keepAlive: bool
    upgrade: bool

    def askVersion(self) -> bytes:
        """Return the head's version, for examineHead given None for it."""
        raise NotImplementedError


def _checkVersion(version: bytes) -> None:
    if version != b"1.1" and version != b"1.0":
        raise ParseError(505, "HTTP version %s is not supported" % (version.decode("ascii"),))


def examineHead(
    method: bytes,
    version: bytes | None,
    headers: list[tuple[bytes, bytes]],
    into: Head,
) -> None:
    """
    Check a complete head and fill into with what the channel needs,
    ``into.version`` included.

    :param version: ``b"1.1"``, ``b"1.0"``, ..., or None for "1.1 unless
        a Connection header asks for keep-alive or a Proxy-Connection header
        is there, when into.askVersion() says":
        what a parser knows when its library keeps alive by default only
        HTTP/1.1 and the others only with that token (httptools).
    :raises ParseError: for a head both parsers must refuse alike.
    """
    if version is not None:
        _checkVersion(version)
    contentLength: int | None = 0
    sawLength = chunked = expectContinue = upgradeAsked = proxyConnection = False
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
            expectContinue = True
        elif kind == _CONNECTION:
            connection.extend(token.strip().lower() for token in value.split(b","))
        elif kind == _UPGRADE:
            upgradeAsked = True
        else:
            proxyConnection = True
    if version is None:
        # (llhttp reads keep-alive in Proxy-Connection too.)
        if proxyConnection or b"keep-alive" in connection:
            version = into.askVersion()
            _checkVersion(version)
        else:
            version = b"1.1"
    into.version = version
    if version != b"1.1":
        expectContinue = False
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
