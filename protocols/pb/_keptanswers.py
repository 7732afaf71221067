"""
The receiver's half of promise pipelining (the sender's is
protocols.pb._pipeline): KeptAnswers, the part of the Broker that keeps the
answers the peer may still send messages to, and delivers those messages.

A keptmessage's answer is kept under the peer's request id, as a
KeptAnswer, until the peer releases it.  An answermessage names such an
answer: while the answer is not known the message waits in its record;
once it is, the message goes to the Referenceable the answer is, or is
refused with a PipelineError (the answer is something else, or an error).

The one idea: the peer decides how many answers are kept, so at most
MAX_KEPT_ANSWERS are per connection, and a peer asking for more is dropped.
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable

from protocols.pb._failures import PipelineError
from protocols.pb._pipeline import MAX_KEPT_ANSWERS, KeptAnswer
from protocols.pb.flavors import ProtocolError

__all__ = ["KeptAnswers"]


class KeptAnswers:
    """
    The Broker's kept answers and the messages pipelined to them (a base
    class of Broker, which sets them up in its __init__).

    :ivar pipelining: both ends speak the pipelining dialect.
    :ivar keptAnswers: the answers to the peer's requests it may still send
        messages to, by its request id.
    :ivar keptRequests: our requests whose answers the peer keeps, not yet
        released.
    """

    pipelining: bool
    disconnected: bool
    keptAnswers: dict[int, KeptAnswer]
    keptRequests: set[int]
    _pipelined: deque[tuple[KeptAnswer, tuple[Any, ...]]]
    _deliveringPipelined: bool
    # The Broker's, used here.
    sendCall: Callable[..., None]
    localObjectForID: Callable[[Any], Any]
    _recvMessage: Callable[..., None]
    _sendError: Callable[[Any, int], None]

    def canKeepAnswer(self) -> bool:
        """Whether the peer may be asked to keep one more answer for pipelining."""
        return (
            self.pipelining and not self.disconnected and len(self.keptRequests) < MAX_KEPT_ANSWERS
        )

    def releaseAnswer(self, requestID: int) -> None:
        """Tell the peer we will send no more messages to the answer of requestID."""
        if requestID in self.keptRequests:
            self.keptRequests.discard(requestID)
            self.sendCall(b"release", requestID)

    # -- the peer's pipelined messages ----------------------------------

    def proto_keptmessage(
        self,
        requestID: int,
        objectID: Any,
        message: Any,
        answerRequired: Any,
        netArgs: Any,
        netKw: Any,
    ) -> None:
        """A call to one of our Referenceables whose answer we keep until released."""
        self._keepAnswer(requestID, answerRequired)
        self._recvMessage(
            self.localObjectForID, requestID, objectID, message, answerRequired, netArgs, netKw
        )

    def proto_answermessage(
        self,
        requestID: int,
        answerID: Any,
        message: Any,
        answerRequired: Any,
        netArgs: Any,
        netKw: Any,
    ) -> None:
        """A call to the answer of the peer's request answerID, delivered once it is known."""
        if not isinstance(message, (bytes, str)):
            raise ProtocolError("method name %r is not a string" % (message,))
        self._keepAnswer(requestID, answerRequired)
        call = (requestID, message, answerRequired, netArgs, netKw)
        kept = self.keptAnswers.get(answerID) if type(answerID) is int else None
        if kept is None:
            self._refusePipelined(
                call, PipelineError("no answer to request %r is kept" % (answerID,))
            )
        elif kept.settled:
            self._pipelined.append((kept, call))
            self._deliverPipelined()
        else:
            kept.waiting.append(call)

    def proto_release(self, answerID: Any) -> None:
        """The peer will send no more messages to the answer of its request answerID."""
        kept = self.keptAnswers.pop(answerID, None) if type(answerID) is int else None
        if kept is None:
            return
        for call in kept.waiting:
            error = PipelineError("the answer to request %d was released unknown" % (answerID,))
            self._refusePipelined(call, error)

    def _keepAnswer(self, requestID: Any, answerRequired: Any) -> None:
        if type(requestID) is not int:
            raise ProtocolError("request id %r is not an int" % (requestID,))
        if not answerRequired:
            return
        if requestID in self.keptAnswers:
            raise ProtocolError("request id %d used twice" % (requestID,))
        if len(self.keptAnswers) >= MAX_KEPT_ANSWERS:
            raise ProtocolError("more than %d answers to keep" % (MAX_KEPT_ANSWERS,))
        self.keptAnswers[requestID] = KeptAnswer()

    def _settleKept(self, requestID: int, netResult: Any, failure: Any) -> None:
        # The answer to a kept request is known: what messages to it reach.
        kept = self.keptAnswers[requestID]
        if kept.settled:
            return
        kept.settled = True
        if failure is not None:
            kept.failure = failure
        elif type(netResult) is list and len(netResult) == 2 and netResult[0] == b"remote":
            kept.target = self.localObjectForID(netResult[1])
        else:
            kept.description = _describeJelly(netResult)
        waiting, kept.waiting = kept.waiting, []
        self._pipelined.extend((kept, call) for call in waiting)
        self._deliverPipelined()

    def _deliverPipelined(self) -> None:
        # A loop, not recursion: settling one answer delivers the messages
        # waiting for it, whose answers settle in turn, as deep as the peer
        # pipelined (test_longPipelinedChain).
        if self._deliveringPipelined:
            return
        self._deliveringPipelined = True
        try:
            while self._pipelined:
                kept, call = self._pipelined.popleft()
                requestID, message, answerRequired, netArgs, netKw = call
                if kept.failure is not None:
                    self._refusePipelined(call, kept.failure)
                elif kept.target is None:
                    reason = "the answer is %s, not a Referenceable" % (
                        kept.description or "a reference no longer held",
                    )
                    self._refusePipelined(call, PipelineError(reason))
                else:
                    self._recvMessage(
                        kept.targetFor, requestID, None, message, answerRequired, netArgs, netKw
                    )
        finally:
            self._deliveringPipelined = False

    def _refusePipelined(self, call: tuple[Any, ...], failure: Any) -> None:
        requestID, answerRequired = call[0], call[2]
        if answerRequired:
            self._sendError(failure, requestID)


def _describeJelly(netResult: Any) -> str:
    # What an answer is, from its jelly: [b"list", ...] is "a list", 7 "an int".
    if type(netResult) is list and netResult and type(netResult[0]) is bytes:
        name = netResult[0].decode("ascii", "replace")
    else:
        name = type(netResult).__name__
    name = {"unicode": "str", "bytes": "bytes string"}.get(name, name)
    if name == "None":
        return name
    return ("an " if name[:1] in ("a", "e", "i", "o", "u") else "a ") + name
