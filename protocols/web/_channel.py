"""
HTTPChannel: one HTTP/1.1 server connection, from bytes to Requests and back.

The parser (protocols.web._parser) turns bytes into heads, body pieces and
ends, and calls the channel back; the channel makes a Request per head and
keeps them in ``requests``, in the order they came.  Only the first is ever
being answered: the next starts when it finishes, so pipelined responses go
out in request order without buffering any (Twisted's head-of-line rule).
A request starts once its whole body has arrived (its ``content`` then
holds it), or, when it streams its body (``request.streamingBody``, set by
resources that ask for it), as soon as its head has.

What a connection may cost is bounded, and each bound has one answer:

- a head larger than ``totalHeadersSize`` or with more than ``maxHeaders``
  lines: 431; anything the parser refuses: its 400, 501 or 505;
- a body larger than the request's limit (``maxRequestBodySize``, the
  Site's or the resource's): 413, as soon as its Content-Length says so or
  its chunks reach it;
- a head not complete ``headerTimeout`` seconds after its first byte
  (however slowly the bytes trickle): 408 and close; a body that stops for
  ``timeOut`` seconds: 408 too; a kept-alive connection idle for
  ``timeOut`` seconds: closed;
- more than ``maxPipelinedRequests`` requests waiting: reading pauses until
  they drain.

A refusal is answered after the responses already owed (in order), then the
connection half-closes and what the client still sends is read and dropped
for a moment (``lingerTimeout``), so that the answer reaches a client still
sending its body instead of being lost to a reset.  Nothing else is
disturbed: no other connection, no request already received.

Timeouts cost no timer operation per request: a deadline is a number set at
each change of phase, and one timed call per connection, when it fires,
either acts or sleeps again until the deadline in force then
(test_keepAliveRequestsDoNotReschedule).
"""

from __future__ import annotations

import time
from typing import Any

from zope.interface import implementer

from protocols.protocol import Protocol
from protocols.web import _dates
from protocols.web._head import Limits, ParseError
from protocols.web._parser import makeParser, parserName
from protocols.web._request import Request
from protocols.web._responses import RESPONSES
from protocols.web.error import Error
from reactor import getReactor
from reactor.interfaces import IConsumer, ISSLTransport, ITCPTransport
from reactor.ratelimit import describePeer, peerLog

__all__ = ["HTTPChannel"]

# Phases, for the deadline in force.
_IDLE = 0  # no byte of a next request yet: timeOut (headerTimeout when new)
_HEAD = 1  # a head has begun: headerTimeout from its first byte
_BODY = 2  # a body is arriving: timeOut between its pieces
_BUSY = 3  # the heads are in, answers are being made: no deadline
_CLOSING = 4  # refused, timed out or closing: nothing more is read

# Reasons not to read (bits of _readPauses).
_PIPELINE = 1  # too many requests waiting
_BODY_STREAM = 2  # a streamed body's consumer is full
_PRODUCER = 4  # pauseProducing() from outside (Twisted's channel is a producer)

_VERSIONS = {b"1.1": b"HTTP/1.1", b"1.0": b"HTTP/1.0"}

DEFAULT_MAX_BODY = 64 * 1024 * 1024


class _Stop(Exception):
    # Raised from a parser callback once the connection is closing: the
    # rest of the bytes fed are not requests anyone will answer.
    pass


@implementer(IConsumer)
class HTTPChannel(Protocol):
    """
    A receiver of HTTP requests, giving each to a ``requestFactory`` Request.

    HTTPFactory copies its settings onto each channel it builds; the class
    attributes below are the defaults for a channel used on its own.

    :cvar requestFactory: called with the channel for each request.
    :cvar timeOut: seconds a kept-alive connection may idle, and a body may
        pause, before the connection is closed (None: no limit).
    :cvar headerTimeout: seconds from a head's first byte to its last.
    :cvar abortTimeout: seconds after a timeout's close before the
        connection is aborted if the client still holds it (None: never).
    :cvar lingerTimeout: seconds a refused connection reads and drops what
        its client still sends before closing.
    :cvar maxHeaders: most header lines per request.
    :cvar totalHeadersSize: most bytes of request line and headers.
    :cvar maxRequestBodySize: most bytes of body per request, unless its
        resource says otherwise (None: no limit).
    :cvar maxMemoryBodySize: bodies larger than this go to a temporary file.
    :cvar maxPipelinedRequests: requests that may wait behind the one being
        answered before reading pauses.
    :cvar parser: ``"httptools"``, ``"h11"`` or None (see
        protocols.web._parser.parserName).
    :ivar requests: the requests received and not yet answered, in order.
    :ivar persistent: False once the connection is to close after the
        current answer.
    """

    requestFactory: Any = Request
    site: Any = None
    reactor: Any = None
    dates = _dates.DateCache(time.time)

    timeOut: float | None = 60
    headerTimeout: float | None = 30
    abortTimeout: float | None = 15
    lingerTimeout: float = 2
    maxHeaders = 500
    totalHeadersSize = 16384
    maxRequestBodySize: int | None = DEFAULT_MAX_BODY
    maxMemoryBodySize = 100_000
    maxPipelinedRequests = 16
    parser: str | None = None
    #: The answers of a reactor's turn leave together (Protocol.holdWrites):
    #: wrk's CPU was woken once per response, which cost this server's.
    holdWrites = True

    persistent = True

    # The channel's own state is in slots (set by __init__): found by one
    # check of the class.  As attributes in the instance's dict, with the
    # settings buildProtocol copies, they were more than the 30 names
    # CPython 3.11 keeps in the key table a class's instances share, and
    # each channel had a dict of its own: every method called on it (by the
    # parser, the transport, its requests) took the generic lookup.
    __slots__ = (
        "_keepAlives",
        "_parser",
        "_receiving",
        "_bodyLeft",
        "_started",
        "_starting",
        "_expecting",
        "_closeAfter",
        "_linger",
        "_ended",
        "_refusal",
        "_phase",
        "_deadline",
        "_timer",
        "_timerAt",
        "_abortCall",
        "_readPauses",
        "_secure",
        "_peer",
        "_host",
    )

    def __init__(self) -> None:
        self.requests: list[Any] = []
        self._keepAlives: list[bool] = []
        self._parser: Any = None
        self._receiving: Any = None  # the request whose body is arriving
        self._bodyLeft: float = 0  # bytes its limit still allows
        self._started = False  # requests[0] was handed to its resource
        self._starting = False  # the loop in _startNext is running
        self._expecting: Any = None  # the request owed a 100 Continue
        self._closeAfter = False  # the current answer ends the connection
        self._linger = False  # input is left unread: close lingering
        self._ended = False  # _end has run
        self._refusal: tuple[int, str] | None = None
        self._phase = _IDLE
        self._deadline: float | None = None
        self._timer: Any = None
        self._timerAt = 0.0
        self._abortCall: Any = None
        self._readPauses = 0
        self._secure: bool | None = None
        self._peer: Any = None
        self._host: Any = None

    # -- the connection ----------------------------------------------------------

    def connectionMade(self) -> None:
        """Choose the parser and start the deadline of the first head."""
        if self.reactor is None:
            self.reactor = getReactor()
        limits = Limits(self.totalHeadersSize, self.maxHeaders)
        self._parser = makeParser(parserName(self.parser), self, limits)
        transport = self.transport
        if ITCPTransport.providedBy(transport):
            transport.setTcpNoDelay(True)
        self._setDeadline(self.headerTimeout)

    def dataReceived(self, data: bytes) -> None:
        """Parse data; see the module docstring for what each refusal gets."""
        phase = self._phase
        if phase != _BUSY:
            if phase == _IDLE:
                # A head begins.  Its deadline is set after the feed, only
                # if it is still incomplete then: a request that comes in
                # one piece costs no clock reading here.
                self._phase = _HEAD
                self._deadline = None
            elif phase == _BODY:
                self._setDeadline(self.timeOut)
            elif phase == _CLOSING:
                return
        try:
            self._parser.feed(data)
        except ParseError as e:
            self._refuse(e.code, e.reason)
            return
        except _Stop:
            return
        if phase == _IDLE and self._phase == _HEAD:
            self._setDeadline(self.headerTimeout)

    def connectionLost(self, reason: Any = None) -> None:
        """Tell every request still here that its connection is gone."""
        self._phase = _CLOSING
        self._deadline = None
        for call in (self._timer, self._abortCall):
            if call is not None and call.active():
                call.cancel()
        self._timer = self._abortCall = None
        requests, self.requests = self.requests, []
        self._keepAlives = []
        self._receiving = self._expecting = None
        for request in requests:
            request.connectionLost(reason)

    # -- the parser's callbacks --------------------------------------------------

    def headReceived(self, headers: list[tuple[bytes, bytes]]) -> None:
        """A request's head is complete: make its Request and queue it."""
        if self._phase == _CLOSING:
            raise _Stop()
        parser = self._parser
        request = self.requestFactory(self)
        version = _VERSIONS.get(parser.version) or b"HTTP/" + parser.version
        request.headReceived(parser.method, parser.uri, version, headers)
        length = parser.contentLength
        if length != 0:
            limit = request.maxRequestBodySize
            if limit is None:
                limit = self.maxRequestBodySize
            if length is not None and limit is not None and length > limit:
                raise ParseError(413, "Request body larger than %d bytes" % (limit,))
        requests = self.requests
        requests.append(request)
        self._keepAlives.append(parser.keepAlive and not parser.upgrade)
        request.gotLength(length)
        if length == 0:
            if request.streamingBody:
                request.handleContentEnd()
            self._phase = _BUSY
            self._deadline = None
        else:
            self._receiving = request
            self._bodyLeft = float("inf") if limit is None else limit
            self._phase = _BODY
            self._setDeadline(self.timeOut)
            if parser.expectContinue:
                self._expecting = request
                if request is requests[0] and not request.streamingBody:
                    self.sendContinue(request)
        if len(requests) > self.maxPipelinedRequests:
            self.pauseReading(_PIPELINE)
        if request is requests[0] and request.streamingBody:
            self._startNext()

    def bodyReceived(self, data: bytes) -> None:
        """A piece of the receiving request's body arrived."""
        left = self._bodyLeft - len(data)
        if left < 0:
            raise ParseError(413, "Request body too large")
        self._bodyLeft = left
        self._receiving.handleContentChunk(data)

    def messageReceived(self) -> None:
        """The receiving request is complete: start it if it is first."""
        request = self._receiving
        if request is not None:
            self._receiving = None
            if self._expecting is request:
                self._expecting = None
            request.handleContentEnd()
        self._phase = _BUSY
        self._deadline = None
        if not self._started:
            self._startNext()

    # -- requests: starting and finishing ----------------------------------------

    def _startNext(self) -> None:
        # Hand requests[0] to its resource when it may start.  A loop, not
        # recursion: a request finishing at once starts the next from here,
        # however many are pipelined (test_manyPipelinedRequestsDoNotRecurse).
        if self._starting:
            return
        self._starting = True
        try:
            while not self._started and self.requests and not self._ended:
                request = self.requests[0]
                if request is self._receiving and not request.streamingBody:
                    return
                self._started = True
                request.requestReceived(request.method, request.uri, request.clientproto)
        finally:
            self._starting = False

    def requestDone(self, request: Any) -> None:
        """
        The first request has been answered (called by its ``finish``).

        :raises TypeError: for any request but the first, as Twisted does.
        """
        requests = self.requests
        if not requests or request is not requests[0]:
            raise TypeError("requestDone(%r): not the request being answered" % (request,))
        del requests[0]
        # (A request put in ``requests`` by hand, as Twisted's tests do, has
        # no flag here: it keeps the connection open.)
        if len(self._keepAlives) > len(requests):
            del self._keepAlives[0]
        self._started = False
        if request is self._receiving:
            # Answered before its body was read (a streaming resource, a
            # 100-continue never sent): where the next request begins is
            # unknown, so this answer is the last.
            self._receiving = None
            self._closeAfter = self._linger = True
        if self._closeAfter:
            self.persistent = False
        if not self.persistent:
            self._end()
            return
        if self._readPauses & _PIPELINE and len(requests) <= self.maxPipelinedRequests:
            self.resumeReading(_PIPELINE)
        if requests:
            following = requests[0]
            if self._expecting is following and not following.streamingBody:
                self.sendContinue(following)
            self._startNext()
        elif self._refusal is not None:
            self._answerRefusal()
        elif self._phase == _BUSY:
            self._phase = _IDLE
            self._setDeadline(self.timeOut)

    def responseStarted(self, request: Any, framed: bool) -> bool:
        """
        The first request's answer begins: return whether the connection
        stays open after it.

        :param framed: whether the answer's end is known without closing
            (a Content-Length, chunked, or no body).
        """
        keepAlives = self._keepAlives
        keepAlive = self.persistent and framed and (keepAlives[0] if keepAlives else True)
        if not keepAlive:
            self._closeAfter = True
        return keepAlive

    def sendContinue(self, request: Any) -> None:
        """
        Send ``100 Continue`` if request is owed one and is the first: its
        body is wanted now (called when a streaming request asks for it).
        """
        if self._expecting is request and self.requests and request is self.requests[0]:
            self._expecting = None
            if not request.startedWriting:
                self.transport.write(b"HTTP/1.1 100 Continue\r\n\r\n")  # type: ignore[union-attr]

    def _dropReceiving(self, code: int, reason: str) -> None:
        # The receiving request is refused: a request not started is
        # forgotten (the refusal answers it); a started one (streaming its
        # body) learns that its body failed, and the connection closes after.
        request, self._receiving = self._receiving, None
        if request is None:
            return
        if self._started and self.requests and request is self.requests[0]:
            self._closeAfter = self._linger = True
            request.handleContentEnd(Error(code, reason.encode("ascii", "replace")))
            return
        index = self.requests.index(request)
        del self.requests[index]
        del self._keepAlives[index]
        request.connectionLost(None)

    # -- refusals, timeouts and closing ------------------------------------------

    def _refuse(self, code: int, reason: str) -> None:
        # Answer code after the answers owed, then close (see the docstring).
        peerLog.msg(
            "refused HTTP request",
            "Refused HTTP request%s: %d %s",
            describePeer(self.transport),
            code,
            reason,
        )
        self._dropReceiving(code, reason)
        if self._ended:
            return  # the request streaming its body has answered already
        self._phase = _CLOSING
        self._deadline = None
        self._linger = True
        self.pauseReading(_PIPELINE)
        if self.requests:
            # The requests received before are answered first, in order;
            # requestDone answers the refusal after the last of them.
            self._refusal = (code, reason)
            if not self._started:
                self._startNext()
            return
        self._refusal = (code, reason)
        self._answerRefusal()

    def _answerRefusal(self) -> None:
        code, _ = self._refusal  # type: ignore[misc]
        self._refusal = None
        self.transport.write(_plainResponse(code))  # type: ignore[union-attr]
        self._end()

    def _end(self) -> None:
        # Close once the answers are out.  With input left unread (a
        # refusal, an answer given before its body was read), a lingering
        # close: our FIN goes after the answer, and reading goes on for a
        # moment so that what the client still sends is dropped rather than
        # answered by a reset that could destroy our answer on its way.
        if self._ended:
            return
        self._ended = True
        self._phase = _CLOSING
        self._deadline = None
        transport = self.transport
        loseWrite = getattr(transport, "loseWriteConnection", None)
        if not self._linger or loseWrite is None:
            transport.loseConnection()  # type: ignore[union-attr]
            return
        if self._readPauses:
            self._readPauses = 0
            transport.resumeProducing()  # type: ignore[union-attr]
        loseWrite()
        self._abortCall = self.reactor.callLater(self.lingerTimeout, self._abort)

    def _abort(self) -> None:
        self._abortCall = None
        self.transport.abortConnection()  # type: ignore[union-attr]

    def _setDeadline(self, seconds: float | None) -> None:
        # The deadline in force from now on; the one timer follows lazily.
        if seconds is None:
            self._deadline = None
            return
        deadline = self.reactor.seconds() + seconds
        self._deadline = deadline
        timer = self._timer
        if timer is None or deadline < self._timerAt:
            if timer is not None:
                timer.cancel()
            self._timer = self.reactor.callLater(seconds, self._checkDeadline)
            self._timerAt = deadline

    def _checkDeadline(self) -> None:
        self._timer = None
        deadline = self._deadline
        if deadline is None:
            return
        now = self.reactor.seconds()
        if now < deadline:
            self._timer = self.reactor.callLater(deadline - now, self._checkDeadline)
            self._timerAt = deadline
            return
        self.timeoutConnection()

    def timeoutConnection(self) -> None:
        """
        A deadline passed.  A request still arriving gets 408 and a
        lingering close (as a refusal does); an idle connection is closed,
        and aborted ``abortTimeout`` seconds later if the client still
        holds it.
        """
        answering = self._started and self.requests and self.requests[0].startedWriting
        if self._phase in (_HEAD, _BODY) and not answering:
            peerLog.msg(
                "timed out HTTP request",
                "Timed out HTTP request%s: 408",
                describePeer(self.transport),
            )
            self.transport.write(_plainResponse(408))  # type: ignore[union-attr]
            self._linger = True
            self._end()
            return
        self._ended = True
        self._phase = _CLOSING
        self._deadline = None
        self.transport.loseConnection()  # type: ignore[union-attr]
        if self.abortTimeout is not None:
            self._abortCall = self.reactor.callLater(self.abortTimeout, self.forceAbortClient)

    def forceAbortClient(self) -> None:
        """Abort a timed-out connection its client still holds."""
        self._abortCall = None
        self.transport.abortConnection()  # type: ignore[union-attr]

    # -- reading, paused for several reasons at once -----------------------------

    def pauseReading(self, reason: int) -> None:
        """
        Stop reading for reason (a bit; protocols.web's modules use these).
        While we do not read, a body's pause deadline does not run: the
        client is not the one waiting (test_pausedBodyIsNotTimedOut).
        """
        if not self._readPauses:
            self.transport.pauseProducing()  # type: ignore[union-attr]
            if self._phase == _BODY:
                self._deadline = None
        self._readPauses |= reason

    def resumeReading(self, reason: int) -> None:
        """Drop reason; read again when no reason is left."""
        if self._readPauses & reason:
            self._readPauses &= ~reason
            if not self._readPauses and self._phase != _CLOSING:
                self.transport.resumeProducing()  # type: ignore[union-attr]
                if self._phase == _BODY:
                    self._setDeadline(self.timeOut)

    def pauseProducing(self) -> None:
        """Stop reading requests (Twisted's channel is a push producer)."""
        self.pauseReading(_PRODUCER)

    def resumeProducing(self) -> None:
        """Read requests again."""
        self.resumeReading(_PRODUCER)

    def stopProducing(self) -> None:
        """Close the connection."""
        self.loseConnection()

    # -- what requests call ------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Write response bytes to the transport."""
        self.transport.write(data)  # type: ignore[union-attr]

    def writeSequence(self, iovec: list[bytes]) -> None:
        """Write a list of response byte strings to the transport."""
        self.transport.writeSequence(iovec)  # type: ignore[union-attr]

    def writeHeaders(self, version: bytes, code: bytes, reason: bytes, headers: Any) -> None:
        """
        Write a status line and headers (Twisted's; Loom's Request writes
        its head with its first body bytes instead).

        :param headers: a Headers, or pairs of names and values.
        """
        from protocols.web._headers import Headers

        if not isinstance(headers, Headers):
            pairs, headers = headers, Headers()
            for name, value in pairs:
                headers.addRawHeader(name, value)
        lines = [version + b" " + code + b" " + reason + b"\r\n"]
        for name, values in headers.getAllRawHeaders():
            lines.extend(name + b": " + value + b"\r\n" for value in values)
        lines.append(b"\r\n")
        self.transport.write(b"".join(lines))  # type: ignore[union-attr]

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """Register a request's producer with the transport."""
        self.transport.registerProducer(producer, streaming)  # type: ignore[union-attr]

    def unregisterProducer(self) -> None:
        """Unregister a request's producer."""
        self.transport.unregisterProducer()  # type: ignore[union-attr]

    def getPeer(self) -> Any:
        """Return the address of the client."""
        peer = self._peer
        if peer is None:
            peer = self._peer = self.transport.getPeer()  # type: ignore[union-attr]
        return peer

    def getHost(self) -> Any:
        """Return the address the client connected to."""
        host = self._host
        if host is None:
            host = self._host = self.transport.getHost()  # type: ignore[union-attr]
        return host

    def isSecure(self) -> bool:
        """Return whether the connection is TLS."""
        secure = self._secure
        if secure is None:
            secure = self._secure = ISSLTransport.providedBy(self.transport)
        return secure

    def loseConnection(self) -> None:
        """Close once what was written has been sent."""
        self._phase = _CLOSING
        self._deadline = None
        self.transport.loseConnection()  # type: ignore[union-attr]

    def checkPersistence(self, request: Any, version: bytes) -> bool:
        """
        Return whether the connection may stay open after request, from its
        version and Connection header (Twisted's; the channel decides this
        from the parser's reading of the head).
        """
        connection = request.requestHeaders.getRawHeaders(b"Connection") or []
        tokens = {token.strip().lower() for value in connection for token in value.split(b",")}
        if version == b"HTTP/1.1":
            return b"close" not in tokens
        return b"keep-alive" in tokens and b"close" not in tokens


def _plainResponse(code: int) -> bytes:
    # The whole answer to a refused or timed-out request, ending the connection.
    phrase = RESPONSES.get(code, b"Error")
    body = b"%d %s\n" % (code, phrase)
    return (
        b"HTTP/1.1 %d %s\r\nContent-Type: text/plain; charset=utf-8\r\n"
        b"Content-Length: %d\r\nConnection: close\r\n\r\n%s" % (code, phrase, len(body), body)
    )
