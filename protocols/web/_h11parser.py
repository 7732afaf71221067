"""
The pure-Python parser: h11, for where httptools cannot be imported.

h11 is a whole connection state machine, of which Loom uses only the
reading half: each request is parsed by an ``h11.Connection`` of its own,
and when its EndOfMessage comes the next one starts with the bytes left
over (``trailing_data``).  So h11 never waits for our response before it
reads the next pipelined request; the channel keeps them in order.

h11 accepts some things llhttp refuses (both Content-Length and
Transfer-Encoding, bare LF line ends); examineHead in protocols.web._parser
refuses the dangerous ones for both.  A chunk size h11 accepts but that
overflows (up to 20 hex digits) is caught by the body size limit as its
bytes arrive, where llhttp refuses it at once.
"""

from __future__ import annotations

import h11

from protocols.web._head import Head, Limits, ParseError, ParserOwner, examineHead

__all__ = ["H11Parser"]


class H11Parser(Head):
    """A request parser for one connection (see protocols.web._parser)."""

    __slots__ = ("owner", "limits", "method", "uri", "headers", "_connection", "_done")

    def __init__(self, owner: ParserOwner, limits: Limits) -> None:
        self.owner = owner
        self.limits = limits
        self.method = self.uri = self.version = b""
        self.headers: list[tuple[bytes, bytes]] = []
        self._connection = self._newConnection()
        self._done = False

    def _newConnection(self) -> h11.Connection:
        return h11.Connection(h11.SERVER, max_incomplete_event_size=self.limits.totalHeadersSize)

    def feed(self, data: bytes) -> None:
        """
        Parse data, calling the owner back for what it completes.

        :raises ParseError: for a request to refuse; nothing is parsed after.
        """
        if self._done:
            return
        connection = self._connection
        if connection.their_state is h11.IDLE and not connection.trailing_data[0]:
            # Empty lines before a request line are to be ignored (RFC 9112,
            # 2.2), as llhttp does; h11 refuses them.
            data = data.lstrip(b"\r\n")
            if not data:
                return
        connection.receive_data(data)
        while True:
            try:
                event = connection.next_event()
            except h11.RemoteProtocolError as e:
                self._done = True
                raise ParseError(e.error_status_hint, str(e)) from None
            if event is h11.NEED_DATA:
                return
            if isinstance(event, h11.Request):
                self._head(event)
            elif isinstance(event, h11.Data):
                self.owner.bodyReceived(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                if self.upgrade:
                    # What follows is not HTTP: answer this one, then close.
                    self._done = True
                    self.owner.messageReceived()
                    return
                rest, _ = connection.trailing_data
                connection = self._connection = self._newConnection()
                rest = bytes(rest).lstrip(b"\r\n")
                if rest:  # (receive_data(b"") would mean end of file)
                    connection.receive_data(rest)
                self.owner.messageReceived()
            else:
                return

    def _head(self, request: h11.Request) -> None:
        headers = list(request.headers.raw_items())
        size = len(request.method) + len(request.target) + 14
        size += sum(len(name) + len(value) + 4 for name, value in headers)
        if size > self.limits.totalHeadersSize:
            self._done = True
            raise ParseError(431, "Request header fields too large")
        if len(headers) > self.limits.maxHeaders:
            self._done = True
            raise ParseError(431, "Too many header fields")
        self.method = bytes(request.method)
        self.uri = bytes(request.target)
        self.version = bytes(request.http_version)
        self.headers = headers
        try:
            examineHead(self.method, self.version, headers, self)
        except ParseError:
            self._done = True
            raise
        self.owner.headReceived(headers)
