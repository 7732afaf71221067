"""
The HTTP/1.1 response parser behind the client: one small interface, two
implementations, chosen as the server's are (protocols.web._parser's
``parserName``: httptools, else h11).

A parser reads the responses of one connection, one at a time: the
client calls ``expect(method)`` before each (a response to HEAD has no
body whatever its headers say), then ``feed(data)`` with what arrives and
``feedEOF()`` when the connection closes.  It calls its owner back:

- ``owner.headReceived(head)`` with a ResponseHead once the status line
  and headers are complete (1xx interim responses are skipped);
- ``owner.bodyReceived(data)`` for each piece of the body, de-chunked;
- ``owner.messageReceived()`` at its end.

Whatever the parser refuses raises ParseError from ``feed``.  A body
delimited by the connection's close (neither Content-Length nor chunked)
ends at ``feedEOF()``, which returns True then; it returns False when the
close cut a response short.

Bytes that follow a complete response in the same ``feed`` cannot be
trusted, as no request is outstanding (Loom does not pipeline): they are
dropped, and the head's ``keepAlive`` is cleared before
``messageReceived``, so that the connection is closed rather than reused
out of step (test_bytesAfterAResponseCloseTheConnection).
"""

from __future__ import annotations

import re
from typing import Any, Protocol

from protocols.web._head import ParseError
from protocols.web._headers import _canonicalCache, _canonicalName, _tableFromRaw

try:
    import httptools
except ImportError:  # h11 alone: makeResponseParser never makes the other
    httptools = None  # type: ignore[assignment]

__all__ = ["ResponseHead", "makeResponseParser", "ParseError"]


class ResponseHead:
    """
    A response's status line and headers.

    :ivar code: the status code, an int.
    :ivar phrase: the reason phrase, bytes.
    :ivar version: (b"HTTP", major, minor).
    :ivar headers: the headers as protocols.web._headers keeps them, a dict
        {canonical name: [values]} (the values as received, in order).
    :ivar length: the body's length in bytes, or None when chunked or
        delimited by the close.
    :ivar untilClose: True when the body ends with the connection.
    :ivar keepAlive: whether the connection may carry another request.
    """

    __slots__ = ("code", "phrase", "version", "headers", "length", "untilClose", "keepAlive")

    def __init__(
        self,
        code: int,
        phrase: bytes,
        version: tuple[bytes, int, int],
        headers: dict,
        method: bytes,
        keepAlive: bool,
    ) -> None:
        """
        Keep the status line and headers, and work out the body's framing
        (RFC 9112, 6.3) for a request of method, on a connection the parser
        says may be kept alive (keepAlive) or not.
        """
        self.code = code
        self.phrase = phrase
        self.version = version
        self.headers = headers
        self.untilClose = False
        length = None
        lengths = headers.get(b"Content-Length")
        if lengths is not None:
            for value in lengths:
                try:
                    length = int(value)
                except ValueError:
                    raise ParseError(502, "bad Content-Length") from None
        encodings = headers.get(b"Transfer-Encoding")
        if method == b"HEAD" or code == 204 or code == 304:
            length = 0
        elif encodings is not None and encodings[-1].lower().rstrip().endswith(b"chunked"):
            length = None
        elif length is None:
            self.untilClose = True
            keepAlive = False
        self.length: int | None = length
        self.keepAlive = keepAlive


class ResponseParserOwner(Protocol):
    """What a response parser calls back (see the module docstring)."""

    def headReceived(self, head: ResponseHead) -> None: ...

    def bodyReceived(self, data: bytes) -> None: ...

    def messageReceived(self) -> None: ...


def makeResponseParser(name: str, owner: ResponseParserOwner) -> Any:
    """Return a response parser of the kind name ("httptools" or "h11")."""
    if name == "httptools":
        return HTTPToolsResponseParser(owner)
    return H11ResponseParser(owner)


_VERSIONS = {"1.1": (b"HTTP", 1, 1), "1.0": (b"HTTP", 1, 0)}

#: The version of a response, by the first 9 bytes of its status line.
_STATUS_STARTS = {b"HTTP/1.1 ": (b"HTTP", 1, 1), b"HTTP/1.0 ": (b"HTTP", 1, 0)}


class _Stop(Exception):
    """Raised from llhttp's callback to stop parsing: see HTTPToolsResponseParser."""


#: The blank line ending a head (llhttp takes a bare LF too).
_HEAD_END = re.compile(rb"\r?\n\r?\n")

#: The most bytes of a HEAD response's head kept to find where it ends.
_MAX_HEAD = 1 << 20


class HTTPToolsResponseParser:
    """
    Responses parsed by llhttp, through httptools.HttpResponseParser.

    llhttp knows nothing of the request, so it is stopped (a _Stop raised
    from its callback) in two places, and replaced: after the head of a
    response to HEAD, which has no body whatever its headers say; and at
    the start of anything after a complete response.  llhttp does not say
    where it stopped, so for HEAD the bytes of the response are kept until
    its head is complete, to find its end and what follows.

    The version is read from the status line when the response begins a
    piece fed while llhttp was between responses (as one does when it is
    the first thing a read brings): llhttp's own ``get_http_version``
    formats a str for each response.  Otherwise (a response after an
    interim one in the same piece, or after stray CR LF) llhttp is asked.
    """

    def __init__(self, owner: ResponseParserOwner) -> None:
        self.owner = owner
        self._method = b"GET"
        self._pending: bytearray | None = None
        self._reset()

    def _reset(self) -> None:
        self._parser = httptools.HttpResponseParser(self)
        self._phrase = b""
        self._headers: dict[bytes, list[bytes]] = {}
        self._head: ResponseHead | None = None
        self._interim = 0
        self._complete: ResponseHead | None = None
        self._stopped = False
        self._idle = True  # between responses (none begun since the last)
        self._data: bytes | None = None  # what feed was given, if idle then
        self._started: bytes | None = None  # the piece the response began

    def expect(self, method: bytes) -> None:
        """Get ready for the response to a request of method."""
        self._method = method
        self._pending = bytearray() if method == b"HEAD" else None
        self._interim = 0

    def feed(self, data: bytes) -> None:
        """
        Parse data, calling the owner back.

        :raises ParseError: for a response that cannot be read.
        """
        pending = self._pending
        if pending is not None:
            pending += data
            if len(pending) > _MAX_HEAD:
                raise ParseError(502, "response head too long")
        # A response beginning in data begins at its start if llhttp is
        # between responses now (see the class docstring).
        self._data = data if self._idle and type(data) is bytes else None
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserCallbackError as e:
            if not self._stopped:
                raise (e.__context__ or e) from None
            self._stoppedAt()
        except httptools.HttpParserError as e:
            raise ParseError(502, str(e)) from None
        else:
            head = self._complete
            if head is not None:  # (_finish)
                self._complete = self._pending = None
                self.owner.messageReceived()

    def _stoppedAt(self) -> None:
        # llhttp was stopped: after a HEAD response's head, or at a byte
        # following a complete response.
        head = self._complete
        if head is None:
            head = self._head
            assert head is not None and self._pending is not None
            ends = list(_HEAD_END.finditer(self._pending))
            if len(ends) > self._interim and ends[self._interim].end() < len(self._pending):
                head.keepAlive = False
        else:
            head.keepAlive = False
        self._reset()
        self._complete = head
        self._finish()

    def _finish(self) -> None:
        # A response completes once feed saw whether anything followed it.
        head, self._complete = self._complete, None
        if head is not None:
            self._pending = None
            self.owner.messageReceived()

    def feedEOF(self) -> bool:
        """The connection closed: return True if that ended a response."""
        head = self._head
        if head is not None and head.untilClose:
            self._head = None
            self.owner.messageReceived()
            return True
        return False

    # -- llhttp's callbacks ---------------------------------------------------------

    def on_message_begin(self) -> None:
        """A response begins: nothing may follow a complete one."""
        if self._complete is not None:
            self._stopped = True
            raise _Stop()
        self._idle = False
        self._started, self._data = self._data, None

    def on_status(self, piece: bytes) -> None:
        """A piece of the reason phrase."""
        self._phrase += piece

    def on_header(self, name: bytes, value: bytes) -> None:
        """A header line, kept by its canonical name."""
        # (Subscripts and ``in``, not get(): no method call, once a header.)
        try:
            canonical = _canonicalCache[name]
        except KeyError:
            canonical = _canonicalName(name)
        headers = self._headers
        if canonical in headers:
            headers[canonical].append(value)
        else:
            headers[canonical] = [value]

    def on_headers_complete(self) -> None:
        """The head is complete: hand it over, unless it is an interim 1xx."""
        parser = self._parser
        code = parser.get_status_code()
        headers, self._headers = self._headers, {}
        phrase, self._phrase = self._phrase, b""
        if 100 <= code < 200:
            self._interim += 1
            return
        started, self._started = self._started, None
        known = None if started is None else _STATUS_STARTS.get(started[:9])
        if known is None:
            version = parser.get_http_version()
            known = _VERSIONS.get(version)
            if known is None:
                major, _, minor = version.partition(".")
                known = (b"HTTP", int(major), int(minor or 0))
        head = ResponseHead(code, phrase, known, headers, self._method, parser.should_keep_alive())
        self._head = head
        self.owner.headReceived(head)
        if self._method == b"HEAD":
            self._stopped = True
            raise _Stop()

    def on_body(self, data: bytes) -> None:
        """A piece of the body, de-chunked."""
        if data:
            self.owner.bodyReceived(data)

    def on_message_complete(self) -> None:
        """The end of a response (or of a skipped 1xx)."""
        self._idle = True
        if self._head is not None:
            self._complete, self._head = self._head, None


class H11ResponseParser:
    """Responses parsed by h11, one h11.Connection for each."""

    def __init__(self, owner: ResponseParserOwner) -> None:
        self.owner = owner
        self._connection: Any = None
        self._method = b"GET"
        self._head: ResponseHead | None = None

    def expect(self, method: bytes) -> None:
        """Get ready for the response to a request of method."""
        import h11

        self._method = method
        # h11 reads a response only after a request was sent: tell it of
        # one (of the right method; the bytes we really send are our own).
        connection = h11.Connection(h11.CLIENT)
        connection.send(h11.Request(method=method, target="/", headers=[("Host", "h")]))
        connection.send(h11.EndOfMessage())
        self._connection = connection

    def feed(self, data: bytes) -> None:
        """
        Parse data, calling the owner back.

        :raises ParseError: for a response that cannot be read.
        """
        if self._connection is None:
            raise ParseError(502, "data received with no request outstanding")
        self._connection.receive_data(data)
        self._events()

    def feedEOF(self) -> bool:
        """The connection closed: return True if that ended a response."""
        if self._connection is None or self._head is None:
            return False
        untilClose = self._head.untilClose
        self._connection.receive_data(b"")
        try:
            self._events()
        except ParseError:
            return False
        return untilClose

    def _events(self) -> None:
        import h11

        connection = self._connection
        while connection is not None:
            try:
                event = connection.next_event()
            except h11.RemoteProtocolError as e:
                self._connection = None
                raise ParseError(502, str(e)) from None
            if event is h11.NEED_DATA or event is h11.PAUSED:
                return
            if isinstance(event, h11.Response):
                version = bytes(event.http_version).partition(b".")
                headers = _tableFromRaw(list(event.headers.raw_items()))
                keepAlive = version == (b"1", b".", b"1") and not any(
                    b"close" in value.lower() for value in headers.get(b"Connection", ())
                )
                head = ResponseHead(
                    event.status_code,
                    bytes(event.reason),
                    (b"HTTP", int(version[0]), int(version[2] or 0)),
                    headers,
                    self._method,
                    keepAlive,
                )
                self._head = head
                self.owner.headReceived(head)
            elif isinstance(event, h11.Data):
                self.owner.bodyReceived(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                finished, self._head = self._head, None
                if finished is not None and connection.trailing_data[0]:
                    finished.keepAlive = False  # stray bytes (see the module docstring)
                self._connection = connection = None
                self.owner.messageReceived()
            elif isinstance(event, h11.ConnectionClosed):
                return
