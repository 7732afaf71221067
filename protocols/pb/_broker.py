"""
The Broker: one end of a PB connection -- the calls it sends, the answers
it awaits, the calls it answers -- built on banana.

See protocols.pb.pb for the wire format and the rules; this module holds
the machinery, pb re-exports the names.  Two parts of a Broker's state have
modules of their own: the objects each side sent by reference or by cache
(protocols.pb._objecttables) and the answers kept for the peer's pipelined
messages (protocols.pb._keptanswers).

The hot path is a call's round trip: callRemote -> sendRequest -> banana's
encoder -> one write; the peer's read -> banana's small-message reader ->
expressionReceived -> proto_message -> the method -> _sendAnswer -> one
write.  Whatever can wait until after the write does (a request's Deferred
is made after its message is sent).
"""

from __future__ import annotations

from collections import deque
from typing import Any, Callable

from protocols.pb._failures import (
    CopyableFailure,
    DeadReferenceError,
    Error,
    PBConnectionLost,
    PipelineError,
    RemoteError,
    failure2Copyable,
)
from protocols.pb._keptanswers import KeptAnswers
from protocols.pb._objecttables import MAX_BROKER_REFS, ObjectTables
from protocols.pb._pipeline import PIPELINING_DIALECT, KeptAnswer
from protocols.pb._references import Local, RemoteMethod, RemoteReference
from protocols.pb.banana import Banana, BananaError
from protocols.pb.flavors import ProtocolError
from protocols.pb.jelly import (
    InsecureJelly,
    Jellyable,
    SecurityOptions,
    globalSecurity,
    jelly,
    unjelly,
)
from protocols.protocol import connectionDone
from reactor import log
from reactor.defer import Deferred, fail
from reactor.failure import Failure
from reactor.interfaces import ITCPTransport

__all__ = [
    "Broker",
    "DeadReferenceError",
    "Error",
    "Local",
    "MAX_BROKER_REFS",
    "PBConnectionLost",
    "PipelineError",
    "RemoteMethod",
    "RemoteReference",
]


class Broker(ObjectTables, KeptAnswers, Banana):
    """
    One end of a PB connection (client or server).

    :ivar factory: the PBClientFactory or PBServerFactory that built it.
    :ivar disconnected: the connection is lost.
    :ivar security: the SecurityOptions deciding what the peer may send.
    :ivar pipelining: both ends speak the pipelining dialect
        (protocols.pb._pipeline): messages may be sent to answers not known yet.
    :ivar reactor: whose eventual queue runs the promises of this
        connection (the transport's reactor, once connected; None means the
        global one).
    :ivar keptAnswers: the answers to the peer's requests it may still send
        messages to, by its request id.
    :ivar keptRequests: our requests whose answers the peer keeps, not yet
        released.
    """

    version = 6
    factory: Any = None
    reactor: Any = None
    # A Loom server offers the pipelining dialect first: a Twisted client
    # skips the name it does not know and takes b"pb" (test_twistedClient).
    knownDialects = [PIPELINING_DIALECT, b"pb", b"none"]
    vocabularyDialects = (PIPELINING_DIALECT, b"pb")

    def __init__(self, isClient: bool = True, security: SecurityOptions = globalSecurity) -> None:
        Banana.__init__(self, isClient)
        self.security = security
        self.disconnected = False
        self.disconnects: list[Callable[[], object]] = []
        self.failures: list[Callable[[], object]] = []
        self.connects: list[Callable[[], object]] | None = []
        self.localObjects: dict[Any, Local] = {}
        self.luids: dict[Any, Any] = {}
        self.remotelyCachedObjects: dict[Any, Local] = {}
        self.remotelyCachedLUIDs: dict[Any, Any] = {}
        self.locallyCachedObjects: dict[Any, Any] = {}
        self.waitingForAnswers: dict[int, Deferred[Any]] = {}
        self.pipelining = False
        self.keptAnswers: dict[int, KeptAnswer] = {}
        self.keptRequests: set[int] = set()
        self._pipelined: deque[tuple[KeptAnswer, tuple[Any, ...]]] = deque()
        self._deliveringPipelined = False
        self._localCleanup: dict[Any, Callable[[], object]] = {}
        self.currentRequestID = 0
        self.currentLocalID = 0
        self.maxBrokerRefsViolations = 0
        self.serializingPerspective: Any = None
        self.unserializingPerspective: Any = None
        # Writes asked for while a write is under way (a RemoteReference
        # collected mid-write sends its decref): sent right after it.
        self._writing = False
        self._deferredWrites: list[tuple[Any, ...]] = []

    # -- the connection -------------------------------------------------

    def connectionMade(self) -> None:
        """
        Turn Nagle's algorithm off, then negotiate the dialect.  PB writes
        each message as it goes: with Nagle on, a second message written
        before the first is acknowledged waits for the peer's delayed ACK
        (40 ms on Linux), which undoes pipelining (bench_pb_pipeline.py).
        """
        if ITCPTransport.providedBy(self.transport):
            self.transport.setTcpNoDelay(True)
        Banana.connectionMade(self)

    def connectionReady(self) -> None:
        """The dialect is agreed: send our version, tell the factory."""
        self.pipelining = self.currentDialect == PIPELINING_DIALECT
        if self.reactor is None:
            self.reactor = getattr(self.transport, "reactor", None)
        self.sendCall(b"version", self.version)
        connects, self.connects = self.connects or [], None
        for notifier in connects:
            try:
                notifier()
            except Exception:
                log.err(None, "Error in a PB connect notifier")
        if self.factory is not None:
            self.factory.clientConnectionMade(self)

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Fail the answers awaited, stop cache observers, run disconnect notifiers."""
        self.disconnected = True
        waiting, self.waitingForAnswers = self.waitingForAnswers, {}
        for deferred in waiting.values():
            deferred.errback(Failure(PBConnectionLost(reason)))
        self._stopObserving()
        notifiers, self.disconnects = self.disconnects, []
        for notifier in notifiers:
            try:
                notifier()
            except Exception:
                log.err(None, "Error in a PB disconnect notifier")
        self._forgetObjects()
        self.keptAnswers = {}
        self.keptRequests = set()
        Banana.connectionLost(self, reason)

    def notifyOnDisconnect(self, notifier: Callable[[], object]) -> None:
        """Call notifier() when the connection is lost."""
        if not callable(notifier):
            raise TypeError("notifier must be callable")
        self.disconnects.append(notifier)

    def dontNotifyOnDisconnect(self, notifier: Callable[[], object]) -> None:
        """Forget a notifier given to notifyOnDisconnect."""
        try:
            self.disconnects.remove(notifier)
        except ValueError:
            pass

    def notifyOnFail(self, notifier: Callable[[], object]) -> None:
        """Call notifier() if the connection fails (kept for Twisted's API)."""
        self.failures.append(notifier)

    def notifyOnConnect(self, notifier: Callable[[], object]) -> None:
        """Call notifier() once the dialect is agreed (now, if it is)."""
        if self.connects is None:
            notifier()
        else:
            self.connects.append(notifier)

    # -- sending --------------------------------------------------------

    def sendCall(self, *expression: Any) -> None:
        """Send one PB expression (a command and its arguments)."""
        if self.disconnected or self.transport is None:
            return
        if self._writing:
            self._deferredWrites.append(expression)
            return
        self._writing = True
        try:
            self.sendEncoded(expression)
        finally:
            self._writing = False
        while self._deferredWrites and not self.disconnected:
            self.sendEncoded(self._deferredWrites.pop(0))

    def serialize(
        self,
        object: Any,
        perspective: Any = None,
        method: Any = None,
        args: Any = None,
        kw: Any = None,
    ) -> Any:
        """Jelly object for the peer, as seen by perspective (a Deferred: when it fires)."""
        kind = type(object)
        if kind is int or kind is bytes or kind is float:
            return object  # as jelly() would, without the perspective's setting
        if isinstance(object, Deferred):
            return object.addCallback(self.serialize, perspective)
        self.serializingPerspective = perspective
        try:
            return jelly(object, self.security, None, self)
        finally:
            self.serializingPerspective = None

    def unserialize(self, sexp: Any, perspective: Any = None) -> Any:
        """Unjelly what the peer sent, references made for perspective."""
        if type(sexp) is not list:
            return sexp  # as unjelly() would, without the perspective's setting
        self.unserializingPerspective = perspective
        try:
            return unjelly(sexp, self.security, None, self)
        finally:
            self.unserializingPerspective = None

    def newLocalID(self) -> int:
        """A fresh luid."""
        self.currentLocalID += 1
        return self.currentLocalID

    def newRequestID(self) -> int:
        """A fresh request id; never reused on this connection."""
        self.currentRequestID += 1
        return self.currentRequestID

    def sendMessage(
        self, prefix: bytes, perspective: Any, objectID: Any, message: bytes, args: Any, kw: Any
    ) -> Any:
        """
        Send a call of message to the peer's object objectID (prefix b"cache"
        for a RemoteCache); return a Deferred of the answer, or None when
        ``pbanswer=False`` was among kw.

        :raises DeadReferenceError: the connection is lost.
        """
        answerRequired = bool(kw.pop("pbanswer", True)) if kw else True
        command = prefix + b"message" if prefix else b"message"
        return self.sendRequest(command, perspective, objectID, message, args, kw, answerRequired)[
            1
        ]

    _sendMessage = sendMessage  # Twisted's name

    def sendRequest(
        self,
        command: bytes,
        perspective: Any,
        objectID: Any,
        message: bytes,
        args: Any,
        kw: Any,
        answerRequired: bool = True,
    ) -> tuple[int | None, Any]:
        """
        Send [command, requestID, objectID, message, answerRequired, args, kw].

        :return: (requestID, a Deferred of the answer or None when no answer
            is required); (None, a failed Deferred) when the arguments could
            not be sent, and nothing was.
        :raises DeadReferenceError: the connection is lost.
        """
        if self.disconnected:
            raise DeadReferenceError("Calling Stale Broker")
        try:
            netArgs = self.serialize(args, perspective=perspective, method=message)
            netKw = self.serialize(kw, perspective=perspective, method=message)
        except Exception:
            return None, fail(Failure())
        requestID = self.newRequestID()
        try:
            self.sendCall(
                command, requestID, objectID, message, int(answerRequired), netArgs, netKw
            )
        except BananaError:
            return None, fail(Failure())
        if not answerRequired:
            return requestID, None
        if command != b"message" and command != b"cachemessage":
            self.keptRequests.add(requestID)
        deferred: Deferred[Any] = Deferred()
        self.waitingForAnswers[requestID] = deferred
        return requestID, deferred

    # -- receiving ------------------------------------------------------

    def expressionReceived(self, expression: Any) -> None:
        """Dispatch one command from the peer to its proto_ method."""
        if type(expression) is not list or not expression or type(expression[0]) is not bytes:
            self.protocolViolation("non-command expression %.80r" % (expression,))
            return
        command = expression[0]
        name = _HANDLER_NAMES.get(command)
        if name is None:
            name = "proto_" + command.decode("ascii", "replace")
        handler = getattr(self, name, None)
        if handler is None:
            self.sendCall(b"didNotUnderstand", command)
            return
        try:
            handler(*expression[1:])
        except (ProtocolError, TypeError, ValueError, KeyError) as error:
            self.protocolViolation(
                "bad %s command: %s" % (command.decode("ascii", "replace"), error)
            )

    def proto_version(self, vnum: Any) -> None:
        """Check the peer speaks PB version 6."""
        if vnum != self.version:
            raise ProtocolError("Version Incompatibility: %s %r" % (self.version, vnum))

    def proto_didNotUnderstand(self, command: Any) -> None:
        """The peer did not understand something we sent."""
        log.msg("Didn't understand command: %r" % (command,))

    def proto_message(
        self,
        requestID: int,
        objectID: Any,
        message: Any,
        answerRequired: Any,
        netArgs: Any,
        netKw: Any,
    ) -> None:
        """A call to one of our Referenceables."""
        self._recvMessage(
            self.localObjectForID, requestID, objectID, message, answerRequired, netArgs, netKw
        )

    def proto_cachemessage(
        self,
        requestID: int,
        objectID: Any,
        message: Any,
        answerRequired: Any,
        netArgs: Any,
        netKw: Any,
    ) -> None:
        """A call to one of our RemoteCaches."""
        self._recvMessage(
            self.cachedLocallyAs, requestID, objectID, message, answerRequired, netArgs, netKw
        )

    def _recvMessage(
        self,
        findObject: Callable[[Any], Any],
        requestID: int,
        objectID: Any,
        message: Any,
        answerRequired: Any,
        netArgs: Any,
        netKw: Any,
    ) -> None:
        # User code runs here: everything it raises becomes the answer.
        if type(requestID) is not int:
            raise ProtocolError("request id %r is not an int" % (requestID,))
        # Methods get the name as a str, as Twisted gives it.
        if isinstance(message, bytes):
            message = message.decode("utf-8", "replace")
        elif not isinstance(message, str):
            raise ProtocolError("method name %r is not a string" % (message,))
        try:
            target = findObject(objectID)
            if target is None:
                raise Error("Invalid Object ID")
            netResult = target.remoteMessageReceived(self, message, netArgs, netKw)
        except Error as error:
            if answerRequired:
                self._sendError(error, requestID)
        except Exception:
            failure = Failure()
            if answerRequired:
                log.msg("Peer will receive following PB traceback:", isError=True)
                self._sendError(failure, requestID)
            log.err(failure)
        else:
            if not answerRequired:
                return
            if isinstance(netResult, Deferred):
                netResult.addCallbacks(
                    self._sendAnswer,
                    self._sendFailureOrError,
                    callbackArgs=(requestID,),
                    errbackArgs=(requestID,),
                )
            else:
                self._sendAnswer(netResult, requestID)

    def _sendAnswer(self, netResult: Any, requestID: int) -> None:
        try:
            self.sendCall(b"answer", requestID, netResult)
        except BananaError:
            self._sendError(Failure(), requestID)
        else:
            if requestID in self.keptAnswers:
                self._settleKept(requestID, netResult, None)

    def _sendFailureOrError(self, failure: Failure, requestID: int) -> None:
        if failure.check(Error) is None:
            log.msg("Peer will receive following PB traceback:")
            log.err(failure)
        self._sendError(failure, requestID)

    def _sendError(self, failure: Any, requestID: int) -> None:
        # Send what the peer can rebuild: the exception itself when it is a
        # Copyable (or an allowed class), else a CopyableFailure of it.
        if isinstance(failure, BaseException) and not isinstance(failure, Failure):
            failure = Failure(failure)
        if isinstance(failure.value, Jellyable) or self.security.isClassAllowed(
            type(failure.value)
        ):
            payload: Any = failure.value
        elif isinstance(failure, CopyableFailure):
            payload = failure
        else:
            payload = failure2Copyable(failure)
        if isinstance(payload, CopyableFailure):
            payload.unsafeTracebacks = bool(getattr(self.factory, "unsafeTracebacks", False))
        self.sendCall(b"error", requestID, self.serialize(payload))
        if requestID in self.keptAnswers:
            self._settleKept(requestID, None, failure)

    def proto_answer(self, requestID: int, netResult: Any) -> None:
        """The answer to one of our calls."""
        deferred = self.waitingForAnswers.pop(requestID)
        try:
            result = self.unserialize(netResult)
        except InsecureJelly:
            deferred.errback(Failure())
        else:
            deferred.callback(result)

    def proto_error(self, requestID: int, netFailure: Any) -> None:
        """The error answering one of our calls."""
        deferred = self.waitingForAnswers.pop(requestID)
        try:
            error = self.unserialize(netFailure)
        except InsecureJelly:
            deferred.errback(Failure())
            return
        if not isinstance(error, (Failure, BaseException)):
            error = RemoteError(None, repr(error), None)
        deferred.errback(error)


# The handler of each command a Broker knows, by the command's bytes: the
# name is looked up on the instance, so a subclass or an instance may
# replace a handler (a command not listed gets its name built).
_HANDLER_NAMES = {
    name[len("proto_") :].encode("ascii"): name for name in dir(Broker) if name.startswith("proto_")
}
