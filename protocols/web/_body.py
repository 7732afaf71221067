"""
BodyStream: a request body handed to a consumer as it arrives, with
backpressure all the way to the client's socket.

A resource that sets ``streamRequestBody`` is rendered as soon as the
request's head has arrived, and calls ``request.streamBody(consumer)``.
The stream registers itself with the consumer as a push producer, writes
each piece of the body to it, and at the end unregisters and fires the
Deferred that ``streamBody`` returned.  When the consumer pauses it (a
proxy's backend connection is full, say), the channel stops reading from
the client; on resume, what was buffered meanwhile goes first.  Until a
consumer is attached, the body waits here, and reading pauses once
``highWater`` bytes wait (test_unattachedBodyPausesReading).

The body may fail rather than end: too large (413), a bad chunk (400), or
the connection lost; the Deferred then fails with an ``error.Error``
carrying that status, or the connection's Failure.
"""

from __future__ import annotations

from typing import Any

from zope.interface import implementer

from protocols.web._channel import _BODY_STREAM
from reactor.defer import CancelledError, Deferred
from reactor.failure import Failure
from reactor.interfaces import IPushProducer

__all__ = ["BodyStream"]


@implementer(IPushProducer)
class BodyStream:
    """
    The body of one request, on its way from the channel to a consumer.

    :param channel: the HTTPChannel (whose reading is paused and resumed).
    :param request: the request, told of nothing but needed for 100 Continue.
    """

    highWater = 1 << 16

    def __init__(self, channel: Any, request: Any) -> None:
        self._channel = channel
        self._request = request
        self._chunks: list[bytes] = []
        self._buffered = 0
        self._consumer: Any = None
        self._deferred: Deferred[None] | None = None
        self._paused = False
        self._ended = False
        self._failure: Failure | None = None
        self._stopped = False

    # -- the channel's side -------------------------------------------------------

    def write(self, data: bytes) -> None:
        """A piece of the body arrived."""
        if self._stopped:
            return
        if self._consumer is not None and not self._paused and not self._chunks:
            self._consumer.write(data)
            return
        self._chunks.append(data)
        self._buffered += len(data)
        if self._buffered > self.highWater:
            self._channel.pauseReading(_BODY_STREAM)

    def end(self, failure: Failure | None = None) -> None:
        """The body is complete, or failed (failure given)."""
        if self._ended:
            return
        self._ended = True
        self._failure = failure
        self._maybeDone()

    # -- the resource's side ------------------------------------------------------

    def startStreaming(self, consumer: Any) -> Deferred[None]:
        """
        Write the body to consumer (registered with us as its producer).

        :return: a Deferred firing with None at the body's end.
        :raises RuntimeError: if a consumer was attached already.
        """
        if self._consumer is not None or self._deferred is not None:
            raise RuntimeError("The request body is already being streamed")
        # Kept here: a body already ended is done (and _deferred cleared) by _flush.
        deferred = self._deferred = Deferred(self._cancel)
        self._consumer = consumer
        consumer.registerProducer(self, True)
        self._channel.sendContinue(self._request)
        self._flush()
        return deferred

    # -- IPushProducer, for the consumer -------------------------------------------

    def pauseProducing(self) -> None:
        """Stop: the consumer is full; reading from the client pauses."""
        if not self._paused and not self._stopped:
            self._paused = True
            self._channel.pauseReading(_BODY_STREAM)

    def resumeProducing(self) -> None:
        """Go on: what is buffered goes first, then reading resumes."""
        if self._paused and not self._stopped:
            self._paused = False
            self._flush()

    def stopProducing(self) -> None:
        """Stop for good: the rest of the body is dropped."""
        if not self._stopped:
            self._stop(CancelledError("the consumer stopped the request body"))

    # -- the work ----------------------------------------------------------------

    def _flush(self) -> None:
        consumer = self._consumer
        while self._chunks and not self._paused and not self._stopped:
            chunk = self._chunks.pop(0)
            self._buffered -= len(chunk)
            consumer.write(chunk)
        if not self._paused and not self._stopped:
            self._channel.resumeReading(_BODY_STREAM)
            self._maybeDone()

    def _maybeDone(self) -> None:
        if not self._ended or self._chunks or self._consumer is None or self._stopped:
            return
        self._stopped = True
        # The consumer may have paused on the last piece: the body is done,
        # and the channel reads on (the next request, or the client's close).
        self._channel.resumeReading(_BODY_STREAM)
        deferred, self._deferred = self._deferred, None
        self._consumer.unregisterProducer()
        if deferred is not None:
            if self._failure is None:
                deferred.callback(None)
            else:
                deferred.errback(self._failure)

    def _stop(self, reason: BaseException) -> None:
        self._stopped = True
        self._chunks = []
        self._buffered = 0
        self._channel.resumeReading(_BODY_STREAM)
        deferred, self._deferred = self._deferred, None
        if self._consumer is not None:
            self._consumer.unregisterProducer()
        if deferred is not None:
            deferred.errback(Failure(reason))

    def _cancel(self, deferred: Deferred[None]) -> None:
        # Cancelling streamBody's Deferred: as stopProducing, and the
        # Deferred fails with CancelledError (Deferred's own default).
        self._deferred = None
        if not self._stopped:
            self._stop(CancelledError())
