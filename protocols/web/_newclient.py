"""
One client connection speaking HTTP/1.1: HTTP11ClientProtocol, the
Request it writes and the Response it reads, with Twisted's names.

A connection carries one request at a time (no pipelining).  ``request``
writes the head and streams the body (Content-Length when the body
producer knows its length, chunked otherwise) and returns a Deferred that
fires with the Response as soon as its head is read.  The body follows to
the protocol given to ``Response.deliverBody``; a piece of it that must
wait (deliverBody not called yet, or that protocol's transport paused)
stops the reading of the socket until it can go on, so a slow consumer
holds the server back instead of filling memory, and a body handed over
at once costs no pause.  When the
response and the request body are both complete and both sides allow it,
the connection goes back to its pool (``quiescentCallback``); otherwise
it is closed.  A response complete before its request's body was all
sent is delivered, and that body is given up: the connection is aborted.

Cancelling the request's Deferred before the head arrives aborts the
connection; it then fails with CancelledError.  A ``timeout`` on a
request fails it with ResponseNeverReceived (holding a TimeoutError) when
no head has come in that many seconds.

The package's internal interface, beyond the classes: ``_owes`` and
``_giveUp``, for a caller that sent on a connection with ``send`` and no
handle (the reverse proxy: Agent.sendRequest with ``direct``).
"""

from __future__ import annotations

from typing import Any, Callable

from zope.interface import implementer

from protocols.protocol import Protocol
from protocols.web._clientparser import ParseError, ResponseHead, makeResponseParser
from protocols.web._headers import Headers, _headersFromTable
from protocols.web._parser import parserName
from protocols.web.iweb import UNKNOWN_LENGTH, IClientRequest, IResponse
from reactor.defer import Deferred, fail, maybeDeferred, succeed
from reactor.error import ConnectionDone, TimeoutError
from reactor.failure import Failure
from reactor.interfaces import IConsumer, IPushProducer

__all__ = [
    "HTTP11ClientProtocol",
    "Request",
    "Response",
    "ResponseDone",
    "ResponseFailed",
    "ResponseNeverReceived",
    "RequestGenerationFailed",
    "RequestTransmissionFailed",
    "RequestNotSent",
    "PotentialDataLoss",
    "ConnectionAborted",
]


class ResponseDone(Exception):
    """The whole body was delivered (the reason given to connectionLost)."""


class PotentialDataLoss(Exception):
    """The body ended with the connection: nothing says whether all of it came."""


class _DataLoss(Exception):
    """The connection closed before the body's announced end."""


class ConnectionAborted(Exception):
    """The connection was aborted by the client (a stopProducing, a cancel)."""


class _WrapperException(Exception):
    """An error caused by others, in ``reasons``, a list of Failures."""

    def __init__(self, reasons: list[Failure]) -> None:
        Exception.__init__(self, reasons)
        self.reasons = reasons


class RequestGenerationFailed(_WrapperException):
    """The request's body producer failed."""


class RequestTransmissionFailed(_WrapperException):
    """The request could not be written."""


class ResponseNeverReceived(_WrapperException):
    """The connection closed (or timed out) before a response head came."""


class ResponseFailed(_WrapperException):
    """The response could not be read to its end; ``response`` if it began."""

    def __init__(self, reasons: list[Failure], response: Any = None) -> None:
        _WrapperException.__init__(self, reasons)
        self.response = response


class RequestNotSent(Exception):
    """The connection was busy or closed: the request was not sent."""


@implementer(IClientRequest)
class Request:
    """
    A request to write: method, origin-form uri, Headers and an optional
    IBodyProducer.  ``persistent`` asks to keep the connection open after.
    """

    def __init__(
        self,
        method: bytes,
        uri: bytes,
        headers: Headers,
        bodyProducer: Any,
        persistent: bool = False,
        *,
        parsedURI: Any = None,
    ) -> None:
        self.method = method
        self.uri = uri
        self.headers = headers
        self.bodyProducer = bodyProducer
        self.persistent = persistent
        self._parsedURI = parsedURI

    @property
    def absoluteURI(self) -> bytes | None:
        """The absolute URI requested, or None if it is not known."""
        return None if self._parsedURI is None else self._parsedURI.toBytes()

    def _head(self) -> bytes:
        lines = [self.method, b" ", self.uri, b" HTTP/1.1\r\n"]
        for name, values in self.headers.getAllRawHeaders():
            for value in values:
                lines += (name, b": ", value, b"\r\n")
        lines.append(self._framing())
        return b"".join(lines)

    def _framing(self) -> bytes:
        # The head's last lines: the body's framing, Connection: close when
        # not persistent, and the blank line.
        producer = self.bodyProducer
        line = b""
        if producer is not None:
            if producer.length is UNKNOWN_LENGTH:
                line = b"Transfer-Encoding: chunked\r\n"
            else:
                line = b"Content-Length: %d\r\n" % (producer.length,)
        elif self.method in _BODY_METHODS:
            line = b"Content-Length: 0\r\n"
        if not self.persistent:
            line += b"Connection: close\r\n"
        return line + b"\r\n"

    def writeTo(self, transport: Any) -> Deferred[None]:
        """Write the request; return a Deferred firing when all of it is written."""
        transport.write(self._head())
        producer = self.bodyProducer
        if producer is None:
            return succeed(None)
        chunked = producer.length is UNKNOWN_LENGTH
        consumer = _BodyConsumer(transport, chunked)
        transport.registerProducer(producer, True)

        def done(result: object) -> None:
            transport.unregisterProducer()
            if chunked:
                transport.write(b"0\r\n\r\n")

        def failed(reason: Failure) -> Failure:
            transport.unregisterProducer()
            return Failure(RequestGenerationFailed([reason]))

        return maybeDeferred(producer.startProducing, consumer).addCallbacks(done, failed)

    def stopWriting(self) -> None:
        """Stop the body producer (the connection is going away)."""
        if self.bodyProducer is not None:
            self.bodyProducer.stopProducing()


#: Methods whose request has a body even when empty (Content-Length: 0).
_BODY_METHODS = frozenset([b"POST", b"PUT", b"PATCH"])


class _PreparedRequest(Request):
    """
    A Request whose request line and header lines its maker wrote itself:
    the reverse proxy, which writes them as it picks the headers to
    forward, with no Headers made to be walked again here.  The framing
    (Content-Length or chunked, Connection: close) is added as Request adds
    it.  ``headers`` is read back from the lines when asked.

    :param lines: the request line and the header lines, each ending in
        CRLF, the values free of CR and LF, without the framing headers.
    """

    def __init__(
        self, method: bytes, uri: bytes, lines: bytes, bodyProducer: Any, persistent: bool
    ) -> None:
        self.method = method
        self.uri = uri
        self._lines: bytes | None = lines
        self.bodyProducer = bodyProducer
        self.persistent = persistent
        self._parsedURI = None

    @property  # type: ignore[override]
    def headers(self) -> Headers:
        """The header lines, read back as Headers (Host and the forwarded ones)."""
        lines = self._lines
        if lines is None:
            return self._headers
        headers = Headers()
        for line in lines.split(b"\r\n")[1:-1]:
            name, _, value = line.partition(b": ")
            headers.addRawHeader(name, value)
        return headers

    @headers.setter
    def headers(self, headers: Headers) -> None:
        # Headers set anew are written as a Request writes them.
        self._headers = headers
        self._lines = None

    _headers: Headers

    def _head(self) -> bytes:
        lines = self._lines
        if lines is None:
            return Request._head(self)
        if self.bodyProducer is None and self.persistent and self.method not in _BODY_METHODS:
            return lines + b"\r\n"
        return lines + self._framing()


@implementer(IConsumer)
class _BodyConsumer:
    """What a body producer writes to: the transport, chunk-framed if need be."""

    def __init__(self, transport: Any, chunked: bool) -> None:
        self._transport = transport
        self._chunked = chunked

    def write(self, data: bytes) -> None:
        if not data:
            return
        if self._chunked:
            self._transport.writeSequence([b"%x\r\n" % (len(data),), data, b"\r\n"])
        else:
            self._transport.write(data)

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        pass  # the request registered it with the transport already

    def unregisterProducer(self) -> None:
        pass


@implementer(IPushProducer)
class _BodyTransport:
    """The transport a body protocol is given: pausing it pauses the socket."""

    def __init__(self, response: Response) -> None:
        self._response = response

    def pauseProducing(self) -> None:
        """Stop delivering body data (and reading the socket) for now."""
        self._response._setPaused(True)

    def resumeProducing(self) -> None:
        """Deliver body data again."""
        self._response._setPaused(False)

    def stopProducing(self) -> None:
        """Give up the body: the connection is aborted."""
        self._response._stop()

    def loseConnection(self) -> None:
        """The same as stopProducing."""
        self._response._stop()


@implementer(IResponse)
class Response:
    """
    A response being read: ``version``, ``code``, ``phrase``, ``headers``,
    ``length`` (an int, or UNKNOWN_LENGTH), ``request`` and, after a
    redirect, ``previousResponse``; the body goes to ``deliverBody``.
    """

    def __init__(self, head: ResponseHead, request: Any, channel: Any) -> None:
        self.version = head.version
        self.code = head.code
        self.phrase = head.phrase
        # The parser refused names that are not tokens and values with CR or LF.
        self.headers = _headersFromTable(head.headers)
        self.length: int | str = UNKNOWN_LENGTH if head.length is None else head.length
        self.request = request
        self.previousResponse: Any = None
        self._channel = channel
        self._protocol: Any = None
        self._buffer: list[bytes] = []
        self._finished: Failure | None = None
        self._paused = False

    def __repr__(self) -> str:
        return "<Response %d %s>" % (self.code, self.phrase.decode("latin-1"))

    def setPreviousResponse(self, response: Any) -> None:
        """Set previousResponse: the response this one follows (a redirect)."""
        self.previousResponse = response

    def deliverBody(self, protocol: Any) -> None:
        """
        Deliver the body to protocol: makeConnection, dataReceived for each
        piece, then connectionLost with ResponseDone (all of it came),
        PotentialDataLoss (it ended with the connection) or ResponseFailed.

        :raises RuntimeError: if called a second time.
        """
        if self._protocol is not None:
            raise RuntimeError("deliverBody was called already on %r" % (self,))
        self._protocol = protocol
        protocol.makeConnection(_BodyTransport(self))
        if self._buffer or self._finished is not None:
            self._flush()
        channel = self._channel
        if self._paused or channel._readingPaused:
            channel._updateReading()

    def _receiving(self) -> bool:
        # Whether this response wants the socket held: no one to give the
        # body to yet, or they asked for a pause.
        return self._protocol is None or self._paused

    def _setPaused(self, paused: bool) -> None:
        self._paused = paused
        if not paused:
            self._flush()
        self._channel._updateReading()

    def _flush(self) -> None:
        protocol = self._protocol
        while self._buffer and not self._paused:
            protocol.dataReceived(self._buffer.pop(0))
        if not self._buffer and not self._paused and self._finished is not None:
            reason, self._finished = self._finished, None
            self._finished = None
            self._protocol = _DONE
            protocol.connectionLost(reason)

    def _bodyDataReceived(self, data: bytes) -> None:
        if self._protocol is None or self._paused or self._buffer:
            self._buffer.append(data)
        else:
            self._protocol.dataReceived(data)

    def _bodyDataFinished(self, reason: Failure) -> None:
        protocol = self._protocol
        if protocol is _DONE:
            return
        if protocol is not None and not self._buffer and not self._paused:
            # All delivered already: the end follows at once.
            self._protocol = _DONE
            protocol.connectionLost(reason)
            return
        self._finished = reason
        if protocol is not None:
            self._flush()

    def _stop(self) -> None:
        self._buffer = []
        self._channel._abortBody(self)


_CONNECTION_DONE = Failure(ConnectionDone())
# Built once, as the reactor's reasons for a closed connection are: the
# end of every complete body allocates no exception.
_RESPONSE_DONE = Failure(ResponseDone())
_DONE = object()  # a Response's protocol once its body was all delivered


class HTTP11ClientProtocol(Protocol):
    """
    The client side of one HTTP/1.1 connection (see the module docstring).

    :param quiescentCallback: called with this protocol when it is ready
        for another request (the pool takes it back).
    :param reactor: schedules the response timeout.
    :param parser: "httptools" or "h11" (by default as the server chooses).
    """

    transport: Any
    #: The requests of a reactor's turn leave together (Protocol.holdWrites).
    holdWrites = True

    def __init__(
        self,
        quiescentCallback: Callable[[HTTP11ClientProtocol], object] = lambda protocol: None,
        *,
        reactor: Any = None,
        parser: str | None = None,
    ) -> None:
        self._quiescentCallback = quiescentCallback
        self._reactor = reactor
        self._parser = makeResponseParser(parserName(parser), self)
        self.state = "QUIESCENT"
        self._request: Request | None = None
        self._requestDone = True
        self._responseDeferred: Any = None  # the answer: a Deferred, or what send was given
        self._response: Response | None = None
        self._head: ResponseHead | None = None
        self._timeoutCall: Any = None  # the one timed call checking _deadline
        self._timeoutAt = 0.0  # when it is due
        self._deadline: float | None = None  # when the response head is late
        self._readingPaused = False
        self._direct: Any = None  # the body's protocol, for a head answer
        self._directPaused = False  # whether that protocol paused the body
        self.closedDeferred: Deferred[None] = Deferred()

    def request(self, request: Request, timeout: float | None = None) -> Deferred[Response]:
        """
        Send request; return a Deferred firing with its Response when the
        head arrives, or failing with ResponseNeverReceived,
        RequestGenerationFailed or ResponseFailed.  Fails with
        RequestNotSent at once if the connection is busy or closed.

        :param timeout: seconds to wait for the response head (None: no limit).
        """
        if self.state != "QUIESCENT":
            return fail(RequestNotSent())
        deferred: Deferred[Response] = Deferred(self._cancelRequest)
        self.send(request, deferred, timeout)
        return deferred

    def send(self, request: Request, answer: Any, timeout: float | None = None) -> None:
        """
        Send request as ``request`` does, telling answer of its response
        instead of returning a Deferred: ``answer.callback(response)`` once
        the head arrives, or ``answer.errback(failure)``, whichever comes
        first and once, as long as ``answer.called`` is false (a Deferred
        is such an answer).  ``abort()`` gives the request up; answer is
        then told of a ResponseNeverReceived.  Beyond Twisted: for a caller
        that forwards many requests, a Deferred less for each.

        An answer whose ``wantsHead`` is true is told of the head instead,
        with no Response made: ``answer.headReceived(head, self)`` with the
        ResponseHead, returning the protocol the body goes to
        (``dataReceived``, then ``connectionLost`` with ResponseDone,
        PotentialDataLoss or ResponseFailed) or None to take none of it.
        This connection is then that body's push producer
        (``pauseProducing``, ``resumeProducing``, ``stopProducing``).
        """
        if self.state != "QUIESCENT":
            answer.errback(Failure(RequestNotSent()))
            return
        self.state = "TRANSMITTING"
        self._request = request
        self._requestDone = False
        self._parser.expect(request.method)
        self._responseDeferred = answer
        if timeout is not None:
            deadline = self._reactor.seconds() + timeout
            if self._timeoutCall is None or deadline < self._timeoutAt:
                self._setDeadline(timeout)
            else:
                self._deadline = deadline  # (_setDeadline's: the timed call stays)
        if request.bodyProducer is None and type(request).writeTo is Request.writeTo:
            # No body: the head is all there is, written at once.
            try:
                self.transport.write(request._head())
            except Exception:
                self._requestFailed(Failure())
                return
            self._requestDone = True
            if self.state == "TRANSMITTING":
                self.state = "WAITING"
            else:
                self._maybeQuiescent()
            return
        try:
            written = request.writeTo(self.transport)
        except Exception:
            written = fail()
        written.addCallbacks(self._requestWritten, self._requestFailed)

    def _requestWritten(self, ignored: object) -> None:
        self._requestDone = True
        if self.state == "TRANSMITTING":
            self.state = "WAITING"
        self._maybeQuiescent()

    def _requestFailed(self, reason: Failure) -> None:
        self._requestDone = True
        if self._responseDeferred is not None and not self._responseDeferred.called:
            if not reason.check(RequestGenerationFailed):
                reason = Failure(RequestTransmissionFailed([reason]))
            self._fireResponse(reason)
        self.transport.abortConnection()

    def _fireResponse(self, result: Any) -> None:
        deferred, self._responseDeferred = self._responseDeferred, None
        self._deadline = None  # (_cancelTimeout)
        if deferred is not None and not deferred.called:
            deferred.callback(result) if not isinstance(result, Failure) else deferred.errback(
                result
            )

    def _setDeadline(self, seconds: float) -> None:
        # The response head is due in seconds.  As the server's channel
        # does, the timed call is kept from one request to the next (on a
        # kept-alive connection) and moved only when due later than this
        # deadline: no timer operation per request
        # (test_responseTimeoutsShareOneTimer).
        deadline = self._reactor.seconds() + seconds
        self._deadline = deadline
        call = self._timeoutCall
        if call is None or deadline < self._timeoutAt:
            if call is not None:
                call.cancel()
            self._timeoutCall = self._reactor.callLater(seconds, self._checkDeadline)
            self._timeoutAt = deadline

    def _checkDeadline(self) -> None:
        self._timeoutCall = None
        deadline = self._deadline
        if deadline is None:
            return
        now = self._reactor.seconds()
        if now < deadline:
            self._timeoutCall = self._reactor.callLater(deadline - now, self._checkDeadline)
            self._timeoutAt = deadline
            return
        self._timedOut()

    def _cancelTimeout(self) -> None:
        self._deadline = None

    def _stopTimer(self) -> None:
        call, self._timeoutCall = self._timeoutCall, None
        self._deadline = None
        if call is not None and call.active():
            call.cancel()

    def _timedOut(self) -> None:
        self._deadline = None
        self._fireResponse(
            Failure(ResponseNeverReceived([Failure(TimeoutError("no response in time"))]))
        )
        self._abort()

    def _cancelRequest(self, deferred: Deferred[Response]) -> None:
        # The Deferred fails with CancelledError once this returns.
        self._responseDeferred = None
        self._cancelTimeout()
        self._abort()

    def _abort(self) -> None:
        self.state = "ABORTING"
        if self._request is not None and not self._requestDone:
            self._request.stopWriting()
        self.transport.abortConnection()

    # -- reading -----------------------------------------------------------------

    def dataReceived(self, data: bytes) -> None:
        """Feed the parser; a response it cannot read aborts the connection."""
        if self.state not in ("TRANSMITTING", "WAITING", "BODY"):
            if self.state == "QUIESCENT":
                # Nothing was asked: a server speaking out of turn.
                self.state = "ABORTING"
                self.transport.abortConnection()
            return
        try:
            self._parser.feed(data)
        except ParseError as e:
            self._failResponse([Failure(e)])
            self._abort()

    def headReceived(self, head: ResponseHead) -> None:
        """The parser has a head: the Response is made and handed over."""
        self._head = head
        self.state = "BODY"
        # (_fireResponse)
        answer, self._responseDeferred = self._responseDeferred, None
        self._deadline = None
        if answer is not None and not answer.called and getattr(answer, "wantsHead", False):
            # A head answer (see send): the body goes to what it returns.
            direct = answer.headReceived(head, self)
            if direct is None:
                self._abort()
            else:
                self._direct = direct
            return
        self._response = response = Response(head, self._request, self)
        if answer is not None and not answer.called:
            answer.callback(response)

    def bodyReceived(self, data: bytes) -> None:
        """A piece of the body: to the Response (reading pauses if it must wait)."""
        direct = self._direct
        if direct is not None:
            direct.dataReceived(data)
            return
        response = self._response
        if response is not None:
            protocol = response._protocol
            if protocol is not None and not response._paused and not response._buffer:
                protocol.dataReceived(data)  # (Response._bodyDataReceived's own way)
                return
            response._bodyDataReceived(data)
            if (response._protocol is None or response._paused) and not self._readingPaused:
                self._updateReading()

    def messageReceived(self) -> None:
        """The response is complete."""
        response, self._response = self._response, None
        direct, self._direct = self._direct, None
        if response is None and direct is None:
            return
        if self.state != "CONNECTION_LOST":
            self.state = "DONE"
        self._directPaused = False
        if self._readingPaused:
            self._updateReading()
        head = self._head
        if head is not None and head.untilClose:
            reason = Failure(PotentialDataLoss())
        else:
            reason = _RESPONSE_DONE
        if direct is not None:
            direct.connectionLost(reason)
        else:
            response._bodyDataFinished(reason)  # type: ignore[union-attr]
        if self.state == "DONE" and not self._requestDone:
            # The whole response came while the body was still being sent:
            # the server wants no more of it (RFC 9112, 9.6).  The body is
            # stopped and the connection aborted, not closed gently: a
            # server that stopped reading would hold a gentle close for
            # ever (test_earlyResponseStopsTheUpload).  Twisted gives the
            # connection up too.
            self._abort()
            return
        self._maybeQuiescent()

    def _maybeQuiescent(self) -> None:
        # Both the request's body and the response must be done.
        if self.state != "DONE" or not self._requestDone:
            return
        head, request = self._head, self._request
        self._head = self._request = None
        if head is not None and head.keepAlive and request is not None and request.persistent:
            self.state = "QUIESCENT"
            self._quiescentCallback(self)
        else:
            self.state = "CLOSING"
            self.transport.loseConnection()

    def _updateReading(self) -> None:
        # The socket is read only while the current response's body has
        # somewhere to go (see the module docstring).
        response = self._response
        if self._direct is not None:
            pause = self._directPaused
        else:
            pause = response is not None and response._receiving()
        if pause != self._readingPaused and self.state not in ("CONNECTION_LOST",):
            self._readingPaused = pause
            if pause:
                self.transport.pauseProducing()
            else:
                self.transport.resumeProducing()

    def _abortBody(self, response: Response) -> None:
        if response is self._response:
            self._abort()

    # -- the producer of a body told to a head answer (see send) ---------------

    def pauseProducing(self) -> None:
        """Stop delivering the body (and reading the socket) for now."""
        if self._direct is not None:
            self._directPaused = True
            self._updateReading()

    def resumeProducing(self) -> None:
        """Deliver the body again."""
        if self._direct is not None:
            self._directPaused = False
            self._updateReading()

    def stopProducing(self) -> None:
        """Give the body up: the connection is aborted (its protocol then told so)."""
        if self._direct is not None and self.state == "BODY":
            self._abort()

    def _failResponse(self, reasons: list[Failure]) -> None:
        direct, self._direct = self._direct, None
        if direct is not None:
            direct.connectionLost(Failure(ResponseFailed(reasons)))
        elif self._response is not None:
            response, self._response = self._response, None
            response._bodyDataFinished(Failure(ResponseFailed(reasons, response)))
        else:
            self._fireResponse(Failure(ResponseFailed(reasons)))

    def abort(self) -> Deferred[None]:
        """Abort the connection; return a Deferred firing once it is closed."""
        if self.state != "CONNECTION_LOST":
            self._abort()
        return self.closedDeferred

    def connectionLost(self, reason: Failure = _CONNECTION_DONE) -> None:
        """Whatever was outstanding fails (or, for a body until close, ends)."""
        state, self.state = self.state, "CONNECTION_LOST"
        self._stopTimer()
        if self._request is not None and not self._requestDone:
            self._request.stopWriting()
        if self._response is not None or self._direct is not None:
            if not self._parser.feedEOF():
                if state == "ABORTING":
                    reason = Failure(ConnectionAborted())
                self._failResponse([reason, Failure(_DataLoss())])
        elif self._responseDeferred is not None:
            self._fireResponse(Failure(ResponseNeverReceived([reason])))
        if not self.closedDeferred.called:
            self.closedDeferred.callback(None)


# -- the internal interface of protocols.web -----------------------------------------


def _owes(connection: HTTP11ClientProtocol, answer: Any) -> bool:
    """
    Whether connection still owes answer (given to its send) the response's
    head or a failure: it lets go of an answer before telling it.
    """
    return connection._responseDeferred is answer


def _giveUp(connection: HTTP11ClientProtocol, answer: Any) -> None:
    """
    Give up the request answer waits for on connection: the connection is
    aborted, and answer told nothing more.
    """
    if connection._responseDeferred is answer:
        connection._cancelRequest(answer)
