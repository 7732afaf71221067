"""
The default parser: httptools, Python's binding of llhttp.

llhttp calls back for each piece of a request as it goes through the bytes:
the callbacks below keep the head's pieces on this object (the raw header
list is never turned into anything else here) and hand the complete head,
the body pieces and the end to the channel.  One ``feed_data`` may hold
several pipelined requests; llhttp cannot be paused in the middle of one
through httptools, so the channel queues what it is handed.

What llhttp refuses (a bad request line, a bad header, both Content-Length
and Transfer-Encoding, a bad chunk size, and so on) is a 400.  An unknown
method is a 501, as RFC 9110 asks.  After a request that asks to switch
protocols (Upgrade, CONNECT) llhttp stops; the channel answers it in HTTP
and closes, and what follows is ignored.
"""

from __future__ import annotations

from httptools import (
    HttpParserCallbackError,
    HttpParserError,
    HttpParserInvalidMethodError,
    HttpParserUpgrade,
    HttpRequestParser,
)

from protocols.web._head import Head, Limits, ParseError, ParserOwner, examineHead

__all__ = ["HTTPToolsParser"]

_VERSIONS = {"1.1": b"1.1", "1.0": b"1.0"}
# Bytes a head's request line and line ends add to what the callbacks see.
_LINE_OVERHEAD = len(b"  HTTP/1.1\r\n\r\n")


class HTTPToolsParser(Head):
    """A request parser for one connection (see protocols.web._parser)."""

    __slots__ = (
        "owner",
        "limits",
        "method",
        "uri",
        "headers",
        "_parser",
        "_headSize",
        "_inHead",
        "_heads",
        "_headBytes",
        "_error",
        "_done",
    )

    def __init__(self, owner: ParserOwner, limits: Limits) -> None:
        self.owner = owner
        self.limits = limits
        self.method = self.uri = self.version = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self._parser = HttpRequestParser(self)
        self._headSize = _LINE_OVERHEAD
        self._inHead = True  # between a message's end and the next's headers
        self._heads = 0
        self._headBytes = 0
        self._error: ParseError | None = None
        self._done = False

    def feed(self, data: bytes) -> None:
        """
        Parse data, calling the owner back for what it completes.

        :raises ParseError: for a request to refuse; nothing is parsed after.
        """
        if self._done:
            return
        wasInHead, heads = self._inHead, self._heads
        try:
            self._parser.feed_data(data)
        except HttpParserUpgrade:
            self._done = True
            return
        except HttpParserCallbackError as e:
            self._done = True
            if self._error is not None:
                raise self._error from None
            # The owner raised: let its own exception through.
            raise (e.__context__ or e) from None
        except HttpParserInvalidMethodError as e:
            self._done = True
            code = 501 if "Invalid method" in str(e) else 400
            raise ParseError(code, str(e)) from None
        except HttpParserError as e:
            self._done = True
            raise ParseError(400, str(e)) from None
        if self._inHead:
            # A head still incomplete: what came in this feed counts whole
            # if the head began before it, else what the callbacks saw.
            if wasInHead and heads == self._heads:
                self._headBytes += len(data)
            else:
                self._headBytes = self._headSize
            if self._headBytes > self.limits.totalHeadersSize:
                self._done = True
                raise ParseError(431, "Request header fields too large")
        elif self._headSize > self.limits.totalHeadersSize:
            # Trailers: they count against the same limit.
            self._done = True
            raise ParseError(431, "Request header fields too large")

    def _refuse(self, code: int, reason: str) -> None:
        # Raised from a callback: llhttp stops, feed() raises it.
        self._error = ParseError(code, reason)
        raise self._error

    # -- llhttp's callbacks: the head's pieces, then the owner ----------------------
    # (No on_message_begin: the state for the next head is made ready when
    # a message ends, one callback fewer per request.)

    def on_url(self, piece: bytes) -> None:
        """A piece of the request target."""
        self.uri += piece
        self._headSize += len(piece)

    def on_header(self, name: bytes, value: bytes) -> None:
        """A header (or a trailer) line, whole."""
        # Sizes and counts are checked once the head is complete (and after
        # each feed while it is not): one append per header here.  After
        # the head, this list collects trailers, which are dropped.
        self._headSize += len(name) + len(value) + 4
        self.headers.append((name, value))

    def on_headers_complete(self) -> None:
        """The head is complete: check it and hand it to the owner."""
        self._inHead = False
        self._heads += 1
        parser = self._parser
        headers = self.headers
        self.method = method = parser.get_method()
        limits = self.limits
        if self._headSize + len(method) > limits.totalHeadersSize:
            self._refuse(431, "Request header fields too large")
        if len(headers) > limits.maxHeaders:
            self._refuse(431, "Too many header fields")
        # llhttp keeps alive by default only HTTP/1.1 of the versions it
        # takes (0.9, 1.0, 1.1, 2.0; test_versionsOtherThan10And11AreRefused),
        # the others only with a keep-alive token in Connection (or
        # Proxy-Connection).  So a head kept alive without one is HTTP/1.1
        # (examineHead asks otherwise), known without get_http_version(),
        # which formats a str: about 300 ns, the dearest call of a request.
        version = None if parser.should_keep_alive() else self.askVersion()
        try:
            examineHead(method, version, headers, self)
        except ParseError as e:
            self._error = e
            raise
        self._headSize = 0
        self.headers = []
        self.owner.headReceived(headers)

    def askVersion(self) -> bytes:
        """Return the version llhttp read, as bytes."""
        version = self._parser.get_http_version()
        return _VERSIONS.get(version) or version.encode("ascii")

    def on_body(self, data: bytes) -> None:
        """A piece of the body, de-chunked."""
        self.owner.bodyReceived(data)

    def on_message_complete(self) -> None:
        """The request is complete: get ready for the next head."""
        self._inHead = True
        self.uri = b""
        if self.headers:
            self.headers = []
        self._headSize = _LINE_OVERHEAD
        self.owner.messageReceived()
