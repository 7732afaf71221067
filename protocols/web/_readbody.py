"""
The client's bodies, whole: readBody (a response's body read to its end,
PartialDownloadError when it was cut short) and FileBodyProducer (a
request's body read from a file, cooperatively); protocols.web.client
gives them.
"""

from __future__ import annotations

import io
from typing import Any

from zope.interface import implementer

from protocols.protocol import Protocol
from protocols.web import error
from protocols.web._newclient import PotentialDataLoss, ResponseDone, ResponseFailed, _DataLoss
from protocols.web.iweb import UNKNOWN_LENGTH, IBodyProducer
from reactor.defer import Deferred
from reactor.failure import Failure
from reactor.task import TaskStopped

__all__ = ["PartialDownloadError", "readBody", "FileBodyProducer"]


class PartialDownloadError(error.Error):
    """The body was cut short; ``response`` holds the bytes that came."""


class _ReadBodyProtocol(Protocol):
    transport: Any

    def __init__(self, response: Any, deferred: Deferred[bytes]) -> None:
        self._response = response
        self._deferred = deferred
        self._data: list[bytes] = []

    def dataReceived(self, data: bytes) -> None:
        self._data.append(data)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        if self._deferred.called:
            return
        body = b"".join(self._data)
        if reason.check(ResponseDone, PotentialDataLoss):
            self._deferred.callback(body)
        elif reason.check(ResponseFailed) and any(
            r.check(_DataLoss)
            for r in reason.value.reasons  # type: ignore[attr-defined]
        ):
            self._deferred.errback(
                PartialDownloadError(self._response.code, self._response.phrase, body)
            )
        else:
            self._deferred.errback(reason)


def readBody(response: Any) -> Deferred[bytes]:
    """
    Return a Deferred firing with the whole body of response, or failing
    with PartialDownloadError (its ``response`` the bytes that came) when
    the connection closed before the body's end.  Cancelling it closes
    the connection.

    A body delimited by the connection's close is a success here, where
    Twisted fails it with PartialDownloadError: it can end no other way.
    """

    def cancel(deferred: Deferred[bytes]) -> None:
        transport = getattr(protocol, "transport", None)
        if transport is not None:
            transport.stopProducing()

    deferred: Deferred[bytes] = Deferred(cancel)
    protocol = _ReadBodyProtocol(response, deferred)
    response.deliverBody(protocol)
    return deferred


@implementer(IBodyProducer)
class FileBodyProducer:
    """
    A request body read from a file, readSize bytes at a time, cooperatively.

    Its length is what is left of the file from its position when it can
    seek, else UNKNOWN_LENGTH (sent chunked).
    """

    def __init__(self, inputFile: Any, cooperator: Any = None, readSize: int = 2**16) -> None:
        self._inputFile = inputFile
        self._cooperate = (cooperator or _globalCooperator()).cooperate
        self._readSize = readSize
        self._task: Any = None
        self.length: int | str = self._determineLength(inputFile)

    @staticmethod
    def _determineLength(inputFile: Any) -> int | str:
        try:
            position = inputFile.tell()
            inputFile.seek(0, io.SEEK_END)
            end = inputFile.tell()
            inputFile.seek(position, io.SEEK_SET)
        except (AttributeError, OSError):
            return UNKNOWN_LENGTH
        return end - position

    def startProducing(self, consumer: Any) -> Deferred[None]:
        """Write the file to consumer; return a Deferred firing at its end."""

        def chunks() -> Any:
            while True:
                data = self._inputFile.read(self._readSize)
                if not data:
                    return
                consumer.write(data)
                yield None

        self._task = self._cooperate(chunks())
        done: Deferred[Any] = self._task.whenDone()

        def stopped(reason: Failure) -> Any:
            reason.trap(TaskStopped)
            return Deferred()  # stopped: never fires, as IBodyProducer says

        return done.addCallbacks(_toNone, stopped)

    def pauseProducing(self) -> None:
        """Pause reading the file."""
        if self._task is not None:
            self._task.pause()

    def resumeProducing(self) -> None:
        """Resume reading the file."""
        if self._task is not None:
            self._task.resume()

    def stopProducing(self) -> None:
        """Stop for good (the Deferred of startProducing never fires)."""
        if self._task is not None:
            try:
                self._task.stop()
            except Exception:
                pass


def _toNone(result: object) -> None:
    return None


def _globalCooperator() -> Any:
    from reactor import task

    return task  # its cooperate() runs on the global Cooperator
