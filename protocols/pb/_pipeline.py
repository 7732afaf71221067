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

An answer the peer cannot deliver to -- a copy, a number, our own object
coming home, a failure -- is where the receiver's half and the sequential
path would part: the receiver refuses the messages pipelined to it, while
a sequential ``send`` would call the method on the local copy.  So the
sender keeps each message it pipelines until the answer comes; if the
answer is not a reference to one of the peer's objects, it ignores the
refusals and delivers those messages here, in the order sent and before
any sent later, to what the answer became, exactly as the sequential path
would (and the messages pipelined to *their* answers too, which the peer
refused in turn).  Results and Failures are then the sequential path's
(test_pb_pipeline_copies.py).

This module is the sender's half; the receiver's is the Broker's
KeptAnswers part (protocols.pb._keptanswers), which holds KeptAnswer records.
"""

from __future__ import annotations

from typing import Any

from zope.interface import Attribute, Interface

from reactor import log
from reactor.defer import Deferred
from reactor.eventual import Promise, makePromise, resolvedPromise
from reactor.failure import Failure

__all__ = [
    "AnswerPromise",
    "IPeerReference",
    "KeptAnswer",
    "MAX_KEPT_ANSWERS",
    "PIPELINING_DIALECT",
    "promiseForCall",
    "sendOnlyCall",
]

PIPELINING_DIALECT = b"pb-pipelining-1"
MAX_KEPT_ANSWERS = 1024


class IPeerReference(Interface):
    """
    A reference to one of the peer's objects (PB's RemoteReference): the
    one kind of answer the peer delivers pipelined messages to.
    """

    broker = Attribute("the Broker of the connection the object is reached through")


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
    :ivar answered: the answer (or the connection's loss, or for a message
        the peer refused, the result of delivering it here) has come;
        messages now go to what it resolved to.
    """

    def __init__(self, broker: Any, requestID: int, answer: Deferred[Any]) -> None:
        Promise.__init__(self, reactor=broker.reactor)
        self.broker = broker
        self.requestID = requestID
        self.answered = False
        # Once one message waits here, every later one must too, or a later
        # message could overtake it (test_pipelineLimitKeepsOrder).
        self._holding = False
        # The messages pipelined to the answer, in order: (name, args,
        # kwargs, their AnswerPromise or None for sendOnly), kept until the
        # answer tells whether the peer delivers them (see _settleAnswer).
        self._pipelinedHere: list[tuple[str, tuple[Any, ...], dict[str, Any], Any]] = []
        # The peer refused this message (it was pipelined to an answer the
        # peer cannot deliver to): its result comes from delivering it here.
        self._diverted = False
        answer.addBoth(self._answered)

    def __repr__(self) -> str:
        return "<AnswerPromise for request %d at %#x>" % (self.requestID, id(self))

    def _answered(self, result: Any) -> None:
        self.broker.releaseAnswer(self.requestID)
        if self._diverted:
            return  # the peer's refusal: the delivery here settles this promise
        self._settleAnswer(result)

    def _settleAnswer(self, result: Any) -> None:
        # The peer delivers what was pipelined to an answer only when that
        # answer is a reference to one of its objects.  Anything else (and
        # every answer of a diverted message, which the peer refused) takes
        # the pipelined messages here, ahead of those held in _pending
        # since, which were sent after them.
        self.answered = True
        pipelined, self._pipelinedHere = self._pipelinedHere, []
        peerDelivers = (
            not self._diverted
            and IPeerReference.providedBy(result)
            and result.broker is self.broker
        )
        if pipelined and not peerDelivers:
            self._pending[:0] = [
                (name, args, kwargs, None if promise is None else promise._divert())
                for name, args, kwargs, promise in pipelined
                if promise is None or not promise.answered
            ]
        self._resolve(result)

    def _divert(self) -> Any:
        # Called by the promise this message was pipelined to, when the
        # peer cannot deliver it: stop pipelining to this answer (what is
        # sent now waits in _pending) and return the resolver that the
        # delivery here settles it with.
        self._diverted = True
        return self._settleAnswer

    def _pipelines(self) -> bool:
        if self.answered or self._holding or self._diverted:
            return False
        if self.broker.canKeepAnswer():
            return True
        self._holding = True
        return False

    def eventualSend(
        self, methodName: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Promise[Any]:
        """Pipeline methodName to the answer (or, once known, send it to what it is)."""
        if self._pipelines():
            requestID, answer = _sendRequest(
                self.broker, b"answermessage", None, self.requestID, methodName, args, kwargs
            )
            if requestID is not None:
                promise = AnswerPromise(self.broker, requestID, answer)
                self._pipelinedHere.append((methodName, args, kwargs, promise))
                return promise
            # The arguments cannot cross (or the connection is gone): hold
            # it, and what follows, for the answer, which may be a copy
            # that takes them here (test_unsendableArgumentsHeldForTheAnswer).
            self._holding = True
        return Promise.eventualSend(self, methodName, args, kwargs)

    def eventualSendOnly(
        self, methodName: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        """As eventualSend, with no answer wanted."""
        if self._pipelines():
            requestID, _ = _sendRequest(
                self.broker,
                b"answermessage",
                None,
                self.requestID,
                methodName,
                args,
                kwargs,
                answerRequired=False,
            )
            if requestID is not None:
                self._pipelinedHere.append((methodName, args, kwargs, None))
                return
            self._holding = True
        Promise.eventualSendOnly(self, methodName, args, kwargs)


def _sendRequest(
    broker: Any,
    command: bytes,
    perspective: Any,
    objectID: Any,
    methodName: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    answerRequired: bool = True,
) -> tuple[int | None, Any]:
    # (requestID, a Deferred of the answer or None) once sent; (None, the
    # Failure) when nothing was sent: arguments the connection cannot
    # carry, or the connection lost.
    try:
        requestID, answer = broker.sendRequest(
            command,
            perspective,
            objectID,
            methodName.encode("utf-8"),
            args,
            dict(kwargs),
            answerRequired,
        )
    except Exception:
        return None, Failure()
    if requestID is None:
        failures: list[Failure] = []
        answer.addErrback(failures.append)
        return None, failures[0]
    return requestID, answer


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
    Promise for the answer: an AnswerPromise when the peer keeps the
    answer, else a plain Promise that the answer resolves.

    :param command: b"keptmessage" (objectID is a luid; sent as a plain
        b"message" when the peer cannot keep the answer) or
        b"cachemessage" (objectID is the luid of the peer's RemoteCache;
        its answer is never kept).
    """
    keep = command == b"keptmessage" and broker.canKeepAnswer()
    if command == b"keptmessage" and not keep:
        command = b"message"
    requestID, answer = _sendRequest(
        broker, command, perspective, objectID, methodName, args, kwargs
    )
    if requestID is None:
        return resolvedPromise(answer, reactor=broker.reactor)
    if keep:
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
    requestID, failure = _sendRequest(
        broker, command, perspective, objectID, methodName, args, kwargs, answerRequired=False
    )
    if requestID is None:
        log.err(failure, "Unhandled error in sendOnly(...).%s()" % (methodName,))
