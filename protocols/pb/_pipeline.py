"""
Promise pipelining over PB: eventual sends to remote references, and
messages sent to answers not known yet.

``send(ref).foo()`` on a RemoteReference sends foo at once and returns an
AnswerPromise for the answer.  A message sent to that promise before the
answer comes does not wait for it: it goes out at once, addressed to "the
answer to request n" (request ids are never reused on a connection), and
the peer delivers it when that answer is known.  So a chain of dependent
calls costs one round trip.

The wire, spoken only when both ends agreed on the dialect
PIPELINING_DIALECT (which a Twisted peer never picks, and never offers):

    [b"keptmessage", requestID, luid, name, answerRequired, args, kwargs]
        a message, whose answer the receiver keeps for pipelining
    [b"answermessage", requestID, answerID, name, answerRequired, args, kwargs]
        a message to the kept answer of the sender's request answerID;
        its own answer is kept too (when answerRequired)
    [b"release", answerID]
        the sender will address that answer no more

The one idea, for what the receiver keeps: the sender stops addressing an
answer once it has it (later messages go to the reference the answer
became), so it sends ``release`` as soon as the answer arrives.  Every
pipelined message to that answer was sent before the release, so it
arrives before it; after the release nothing can name the answer and the
receiver forgets it.  At most MAX_KEPT_ANSWERS answers are kept per
connection: a sender with that many unreleased holds further messages in
the promise until an answer comes (sequential, as against a Twisted peer),
and a peer that asks the receiver to keep more is dropped.

This module is the sender's half; the receiver's is the Broker's
KeptAnswers part (protocols.pb._keptanswers), which holds KeptAnswer records.
"""

from __future__ import annotations

from typing import Any

from reactor import log
from reactor.defer import Deferred
from reactor.eventual import Promise, makePromise, resolvedPromise
from reactor.failure import Failure

__all__ = [
    "AnswerPromise",
    "KeptAnswer",
    "MAX_KEPT_ANSWERS",
    "PIPELINING_DIALECT",
    "promiseForCall",
    "sendOnlyCall",
]

PIPELINING_DIALECT = b"pb-pipelining-1"
MAX_KEPT_ANSWERS = 1024


class KeptAnswer:
    """
    The answer to one of the peer's requests, kept while the peer may still
    send messages to it.

    :ivar settled: the answer is known.
    :ivar target: our object the answer is a reference to, or None.
    :ivar failure: the Failure the request failed with, or None.
    :ivar description: what the answer is, when it is not a reference.
    :ivar waiting: the messages sent to it before it was known, in order.
    """

    __slots__ = ("settled", "target", "failure", "description", "waiting")

    def __init__(self) -> None:
        self.settled = False
        self.target: Any = None
        self.failure: Any = None
        self.description = ""
        self.waiting: list[tuple[Any, ...]] = []

    def targetFor(self, objectID: Any) -> Any:
        """Return the target, whatever objectID (the Broker's findObject for a pipelined call)."""
        return self.target


class AnswerPromise(Promise[Any]):
    """
    A Promise for the answer to one of our requests that the peer keeps:
    until the answer comes, messages sent to it are pipelined to the peer.

    :ivar broker: the Broker of the connection.
    :ivar requestID: the request whose answer this is.
    :ivar answered: the answer (or the connection's loss) has come; messages
        now go to what it resolved to.
    """

    def __init__(self, broker: Any, requestID: int, answer: Deferred[Any]) -> None:
        Promise.__init__(self, reactor=broker.reactor)
        self.broker = broker
        self.requestID = requestID
        self.answered = False
        # Once one message waits here, every later one must too, or a later
        # message could overtake it (test_pipelineLimitKeepsOrder).
        self._holding = False
        answer.addBoth(self._answered)

    def __repr__(self) -> str:
        return "<AnswerPromise for request %d at %#x>" % (self.requestID, id(self))

    def _answered(self, result: Any) -> None:
        self.answered = True
        self.broker.releaseAnswer(self.requestID)
        self._resolve(result)

    def _pipelines(self) -> bool:
        if self.answered or self._holding:
            return False
        if self.broker.canKeepAnswer():
            return True
        self._holding = True
        return False

    def eventualSend(
        self, methodName: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Promise[Any]:
        """Pipeline methodName to the answer (or, once known, send it to what it is)."""
        if not self._pipelines():
            return Promise.eventualSend(self, methodName, args, kwargs)
        return promiseForCall(
            self.broker, b"answermessage", None, self.requestID, methodName, args, kwargs
        )

    def eventualSendOnly(
        self, methodName: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        """As eventualSend, with no answer wanted."""
        if not self._pipelines():
            Promise.eventualSendOnly(self, methodName, args, kwargs)
            return
        sendOnlyCall(self.broker, b"answermessage", None, self.requestID, methodName, args, kwargs)


def promiseForCall(
    broker: Any,
    command: bytes,
    perspective: Any,
    objectID: Any,
    methodName: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> Promise[Any]:
    """
    Send methodName(*args, **kwargs) to the peer's objectID and return a
    Promise for the answer: an AnswerPromise when the peer keeps answers,
    else a plain Promise that a Deferred of the answer resolves.

    :param command: b"keptmessage" (objectID is a luid; sent as a plain
        b"message" when the peer cannot keep the answer) or
        b"answermessage" (objectID is the id of a kept answer).
    """
    name = methodName.encode("utf-8")
    keep = broker.canKeepAnswer()
    if not keep:
        command = b"message"
    try:
        requestID, answer = broker.sendRequest(
            command, perspective, objectID, name, args, dict(kwargs)
        )
    except Exception:
        return resolvedPromise(Failure(), reactor=broker.reactor)
    if keep and requestID is not None:
        return AnswerPromise(broker, requestID, answer)
    promise, resolver = makePromise(reactor=broker.reactor)
    answer.addBoth(resolver)
    return promise


def sendOnlyCall(
    broker: Any,
    command: bytes,
    perspective: Any,
    objectID: Any,
    methodName: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
) -> None:
    """Send methodName(*args, **kwargs) to objectID with no answer wanted; log what fails."""
    try:
        _, failed = broker.sendRequest(
            command, perspective, objectID, methodName.encode("utf-8"), args, dict(kwargs), False
        )
    except Exception:
        log.err(None, "Unhandled error in sendOnly(...).%s()" % (methodName,))
        return
    if failed is not None:
        failed.addErrback(log.err, "Unhandled error in sendOnly(...).%s()" % (methodName,))
