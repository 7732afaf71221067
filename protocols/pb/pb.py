"""
Perspective Broker: remote method calls over banana, Twisted's PB on the wire.

One Broker per connection.  Each side numbers the objects it has sent by
reference (local unique ids, *luids*; the server's root is ``b"root"``) and
the requests it has sent (request ids).  Everything on the wire after the
banana greeting is one of these lists:

    [b"version", 6]
    [b"message", requestID, luid, name, answerRequired, args, kwargs]
    [b"cachemessage", ...same...]        to a peer's RemoteCache
    [b"answer", requestID, result]
    [b"error", requestID, failure]
    [b"decref", luid]                    the peer dropped a reference
    [b"decache", luid] / [b"uncache", luid]
    [b"didNotUnderstand", command]

``callRemote`` sends a message and returns a Deferred, which the answer
fires (or the error fails, with a CopiedFailure that traps by class name).
Arguments and results are jellied with the broker as the invoker, so
Referenceables cross as references, Copyables as copies and so on (see
protocols.pb.flavors).

The one idea: the peer is untrusted.  A message that does not parse, names
an unknown request, or breaks banana's limits is a protocol violation: the
reason is logged and this connection dropped, nothing else.  A message that
parses but fails -- an unknown method, arguments naming an unregistered
class (InsecureJelly), the method raising -- is answered with an error, as
Twisted does.

Request ids are never reused on a connection, so "the answer to request n"
stays a stable name for a result not known yet.  Promise pipelining
(``send(ref).foo()`` from reactor.eventual, protocols.pb._pipeline) sends
messages to such answers; it adds three commands, spoken only when both
ends picked the pipelining dialect that a Loom server offers before
``pb`` (a Twisted peer never picks it, and against one the promises wait
for each answer instead):

    [b"keptmessage", requestID, luid, name, answerRequired, args, kwargs]
    [b"answermessage", requestID, answerID, name, answerRequired, args, kwargs]
    [b"release", answerID]

Wire warts kept: a RemoteReference's lifetime is told to the peer from
``__del__`` (decref), so it follows garbage collection; ``callRemote`` on a
lost connection raises DeadReferenceError rather than returning a failed
Deferred; and ``answerRequired`` is an int.
"""

from __future__ import annotations

from typing import Any

from protocols.pb._broker import (
    MAX_BROKER_REFS,
    Broker,
    DeadReferenceError,
    Error,
    PBConnectionLost,
    PipelineError,
)
from protocols.pb._failures import (
    CopiedFailure,
    CopyableFailure,
    RemoteError,
    failure2Copyable,
)
from protocols.pb._login import (
    AsReferenceable,
    Avatar,
    IPerspective,
    IUsernameMD5Password,
    _isAnonymous,
    _PortalRoot,
    challenge,
    respond,
)
from protocols.pb._references import Local, RemoteMethod, RemoteReference
from protocols.pb.banana import BananaError
from protocols.pb.flavors import (
    Cacheable,
    Copyable,
    IPBRoot,
    NoSuchMethod,
    ProtocolError,
    Referenceable,
    RemoteCache,
    RemoteCacheObserver,
    RemoteCopy,
    Root,
    Serializable,
    Viewable,
    ViewPoint,
    copyTags,
    setCopierForClass,
    setCopierForClassTree,
    setFactoryForClass,
    setUnjellyableFactoryForClass,
    setUnjellyableForClass,
    setUnjellyableForClassTree,
)
from protocols.pb.jelly import (
    InsecureJelly,
    Jellyable,
    SecurityOptions,
    globalSecurity,
)
from protocols.protocol import ClientFactory, ServerFactory
from reactor.defer import Deferred, succeed
from reactor.failure import Failure

__all__ = [
    "AsReferenceable",
    "Avatar",
    "BananaError",
    "Broker",
    "Cacheable",
    "CopiedFailure",
    "Copyable",
    "CopyableFailure",
    "DeadReferenceError",
    "Error",
    "IPBRoot",
    "IPerspective",
    "IUsernameMD5Password",
    "InsecureJelly",
    "Jellyable",
    "Local",
    "MAX_BROKER_REFS",
    "NoSuchMethod",
    "PBClientFactory",
    "PBConnectionLost",
    "PBServerFactory",
    "PipelineError",
    "ProtocolError",
    "Referenceable",
    "RemoteCache",
    "RemoteCacheObserver",
    "RemoteCopy",
    "RemoteError",
    "RemoteMethod",
    "RemoteReference",
    "Root",
    "SecurityOptions",
    "Serializable",
    "ViewPoint",
    "Viewable",
    "challenge",
    "copyTags",
    "failure2Copyable",
    "globalSecurity",
    "portno",
    "respond",
    "setCopierForClass",
    "setCopierForClassTree",
    "setFactoryForClass",
    "setUnjellyableFactoryForClass",
    "setUnjellyableForClass",
    "setUnjellyableForClassTree",
]

portno = 8787


class PBClientFactory(ClientFactory):
    """
    Connect to a PB server: ``getRootObject()`` gives a Deferred of the
    server's root as a RemoteReference, ``login(credentials, client)`` one of
    the avatar the server's portal picked.
    """

    protocol = Broker
    unsafeTracebacks = False

    def __init__(self, unsafeTracebacks: bool = False, security: SecurityOptions = globalSecurity):
        self.unsafeTracebacks = unsafeTracebacks
        self.security = security
        self._reset()

    def buildProtocol(self, addr: Any) -> Broker:
        """A client Broker."""
        broker = self.protocol(isClient=True, security=self.security)
        broker.factory = self
        return broker

    def _reset(self) -> None:
        self.rootObjectRequests: list[Deferred[Any]] = []
        self._broker: Broker | None = None
        self._root: RemoteReference | None = None

    def _failAll(self, reason: Failure) -> None:
        deferreds = self.rootObjectRequests
        self._reset()
        for deferred in deferreds:
            deferred.errback(reason)

    def clientConnectionFailed(self, connector: Any, reason: Failure) -> None:
        """Fail the getRootObject calls waiting."""
        self._failAll(reason)

    def clientConnectionLost(
        self, connector: Any, reason: Failure, reconnecting: bool = False
    ) -> None:
        """Fail the getRootObject calls waiting, unless reconnecting."""
        if reconnecting:
            self._broker = None
            self._root = None
        else:
            self._failAll(reason)

    def clientConnectionMade(self, broker: Broker) -> None:
        """
        The dialect is agreed: hand out the root.  (Loom's connectors also
        call this as soon as the connection is made, which is too early for
        PB: the Broker calls it again once it is ready.)
        """
        if broker.currentDialect is None:
            return
        self._broker = broker
        self._root = broker.remoteForName("root")
        deferreds, self.rootObjectRequests = self.rootObjectRequests, []
        for deferred in deferreds:
            deferred.callback(self._root)

    def getRootObject(self) -> Deferred[Any]:
        """Return a Deferred of the server's root object (a RemoteReference)."""
        if self._broker is not None and not self._broker.disconnected:
            return succeed(self._root)
        deferred: Deferred[Any] = Deferred()
        self.rootObjectRequests.append(deferred)
        return deferred

    def disconnect(self) -> None:
        """Drop the connection, if any."""
        if self._broker is not None and self._broker.transport is not None:
            self._broker.transport.loseConnection()

    def login(self, credentials: Any, client: Any = None) -> Deferred[Any]:
        """
        Log in with credentials (username and password, or anonymous);
        return a Deferred of the avatar, a RemoteReference.

        :param client: a Referenceable the server's avatar can call back
            (the *mind*), or None.
        """
        deferred = self.getRootObject()
        if _isAnonymous(credentials):
            return deferred.addCallback(lambda root: root.callRemote("loginAnonymous", client))
        username, password = credentials.username, credentials.password

        def sendUsername(root: RemoteReference) -> Deferred[Any]:
            return root.callRemote("login", username).addCallback(sendResponse)

        def sendResponse(challenges: Any) -> Deferred[Any]:
            secret, challenger = challenges
            return challenger.callRemote("respond", respond(secret, password), client)

        return deferred.addCallback(sendUsername)


class PBServerFactory(ServerFactory):
    """
    Serve root (an IPBRoot such as a Root) or a cred Portal over PB.

    :param unsafeTracebacks: send remote callers the traceback text of
        errors (off by default: it tells them about the server's code).
    """

    protocol = Broker
    unsafeTracebacks = False

    def __init__(
        self,
        root: Any,
        unsafeTracebacks: bool = False,
        security: SecurityOptions = globalSecurity,
    ) -> None:
        if IPBRoot.providedBy(root):
            self.root = root
        elif callable(getattr(root, "login", None)):
            self.root = _PortalRoot(root)
        else:
            raise TypeError("PBServerFactory needs an IPBRoot or a Portal, not %r" % (root,))
        self.unsafeTracebacks = unsafeTracebacks
        self.security = security

    def buildProtocol(self, addr: Any) -> Broker:
        """A server Broker whose root is the root's rootObject."""
        broker = self.protocol(isClient=False, security=self.security)
        broker.factory = self
        broker.setNameForLocal("root", self.root.rootObject(broker))
        return broker

    def clientConnectionMade(self, protocol: Broker) -> None:
        """Nothing to do when a client's dialect is agreed."""
