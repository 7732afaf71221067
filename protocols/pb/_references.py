"""
The two ends of a reference: RemoteReference, what this side holds of the
peer's object, and Local, what this side counts of its own objects the peer
holds.

A RemoteReference is the peer's number for an object (its luid) and the
Broker of the connection; calls go through ``broker.sendMessage``, and the
reference tells the peer when it is collected (``broker.sendDecRef``).  It
is an IEventualTarget: ``send(ref).foo()`` returns a Promise for the answer
(see protocols.pb._pipeline for how messages to that promise are pipelined).
"""

from __future__ import annotations

from typing import Any, Callable

from zope.interface import implementer

from protocols.pb._pipeline import IPeerReference, promiseForCall, sendOnlyCall
from protocols.pb.flavors import Serializable
from protocols.pb.jelly import InsecureJelly, setUnjellyableForClass
from reactor.defer import Deferred
from reactor.eventual import IEventualTarget, Promise

__all__ = ["Local", "RemoteMethod", "RemoteReference"]


class RemoteMethod:
    """A remote method as a callable: ``ref.remoteMethod("foo")(1)`` is ``callRemote("foo", 1)``."""

    def __init__(self, obj: RemoteReference, name: str) -> None:
        self.obj = obj
        self.name = name

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RemoteMethod):
            return (self.obj, self.name) == (other.obj, other.name)
        return NotImplemented

    def __hash__(self) -> int:
        return hash((self.obj, self.name))

    def __call__(self, *args: Any, **kw: Any) -> Deferred[Any]:
        return self.obj.callRemote(self.name, *args, **kw)


@implementer(IEventualTarget, IPeerReference)
class RemoteReference(Serializable):
    """
    A reference to a peer's Referenceable: ``callRemote(name, *args, **kw)``
    returns a Deferred of what the peer's ``remote_<name>`` returns, and
    ``send(ref).name(*args, **kw)`` (reactor.eventual) a Promise of it.

    :ivar luid: the peer's number for the object.
    :ivar broker: the Broker of its connection.
    """

    def __init__(self, perspective: Any, broker: Any, luid: Any, doRefCount: bool) -> None:
        self.luid = luid
        self.broker = broker
        self.doRefCount = doRefCount
        self.perspective = perspective
        self.disconnectCallbacks: list[Callable[[RemoteReference], object]] = []

    def __repr__(self) -> str:
        return "<RemoteReference %r of %r>" % (getattr(self, "luid", None), self.broker)

    def notifyOnDisconnect(self, callback: Callable[[RemoteReference], object]) -> None:
        """Call callback(self) when the connection is lost."""
        if not callable(callback):
            raise TypeError("callback must be callable")
        self.disconnectCallbacks.append(callback)
        if len(self.disconnectCallbacks) == 1:
            self.broker.notifyOnDisconnect(self._disconnected)

    def dontNotifyOnDisconnect(self, callback: Callable[[RemoteReference], object]) -> None:
        """Forget a callback given to notifyOnDisconnect."""
        self.disconnectCallbacks.remove(callback)
        if not self.disconnectCallbacks:
            self.broker.dontNotifyOnDisconnect(self._disconnected)

    def _disconnected(self) -> None:
        callbacks, self.disconnectCallbacks = self.disconnectCallbacks, []
        for callback in callbacks:
            callback(self)

    def jellyFor(self, jellier: Any) -> Any:
        """Cross home as [b"local", luid]; to any other broker, not at all."""
        if jellier.invoker is not self.broker:
            return jellier.unpersistable("References cannot be serialized")
        return [b"local", self.luid]

    def unjellyFor(self, unjellier: Any, unjellyList: list[Any]) -> RemoteReference:
        """Fill this blank from [b"remote", luid]."""
        luid = unjellyList[1]
        if unjellier.invoker is None or type(luid) not in (int, bytes):
            raise InsecureJelly("bad remote reference %r" % (luid,))
        broker = unjellier.invoker
        self.__init__(broker.unserializingPerspective, broker, luid, True)  # type: ignore[misc]
        return self

    def callRemote(self, _name: str | bytes, *args: Any, **kw: Any) -> Deferred[Any]:
        """
        Call _name on the peer's object; return a Deferred of the result.

        :raises DeadReferenceError: the connection is already lost.
        """
        name = _name if isinstance(_name, bytes) else _name.encode("utf-8")
        return self.broker.sendMessage(b"", self.perspective, self.luid, name, args, kw)

    def eventualSend(
        self, methodName: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Promise[Any]:
        """
        Send methodName(*args, **kwargs) to the peer's object now; return a
        Promise for the answer (broken with the error, or with
        DeadReferenceError if the connection is lost).  Messages sent to the
        promise before the answer comes are pipelined when the peer is Loom.
        """
        return promiseForCall(
            self.broker, b"keptmessage", self.perspective, self.luid, methodName, args, kwargs
        )

    def eventualSendOnly(
        self, methodName: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        """Send methodName(*args, **kwargs) with no answer wanted (the peer logs an error)."""
        sendOnlyCall(self.broker, b"message", self.perspective, self.luid, methodName, args, kwargs)

    def remoteMethod(self, key: str) -> RemoteMethod:
        """Return a RemoteMethod calling key."""
        return RemoteMethod(self, key)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RemoteReference):
            return self.broker is other.broker and self.luid == other.luid
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.luid)

    def __del__(self) -> None:
        if getattr(self, "doRefCount", False):
            self.broker.sendDecRef(self.luid)


setUnjellyableForClass("remote", RemoteReference)


class Local:
    """One of this side's objects the peer holds references to, counted."""

    def __init__(self, object: Any, perspective: Any = None) -> None:
        self.object = object
        self.perspective = perspective
        self.refcount = 1

    def __repr__(self) -> str:
        return "<pb.Local %r ref:%d>" % (self.object, self.refcount)

    def incref(self) -> int:
        """Count one more reference."""
        self.refcount += 1
        return self.refcount

    def decref(self) -> int:
        """Count one reference fewer."""
        self.refcount -= 1
        return self.refcount
