"""
The flavors of object PB can send: by reference, by copy, by cached copy.

- Referenceable: crosses as a number the peer can call methods on; a call
  to ``ref.callRemote("foo", ...)`` runs ``remote_foo``.  Root is the one a
  server hands out first.
- Viewable: like Referenceable, but each caller gets a ViewPoint of its own,
  and ``view_foo(perspective, ...)`` learns which perspective (avatar) is
  calling.
- Copyable: crosses as its state; the peer rebuilds it as whatever class it
  registered for the copy tag with setUnjellyableForClass (a RemoteCopy).
  Nothing unregistered is ever rebuilt.
- Cacheable: crosses once as its state, then keeps the peer's RemoteCache
  up to date: ``getStateToCacheAndObserveFor`` gets an observer, and
  ``observer.callRemote("foo", ...)`` runs ``observe_foo`` on the copy
  (so does ``send(observer).foo()``, reactor.eventual, for a Promise).

The one idea: what crosses is decided by the sender's class (its jellyFor),
how it is rebuilt by the receiver's registry.  The wire tags are Twisted's:
``[b"remote", luid]`` for a reference, ``[b"local", luid]`` for a reference
coming home, ``[tag, state]`` for a copy, ``[tag, luid, state]`` then
``[b"cached", luid]`` for a cache, ``[b"lcache", luid]`` for a cache coming
home.
"""

from __future__ import annotations

from typing import Any

from zope.interface import Interface, implementer

from protocols.pb._calls import MethodPrefix, _call, _methodName, _textKeys
from protocols.pb._pipeline import promiseForCall, sendOnlyCall
from protocols.pb.jelly import (
    InsecureJelly,
    Jellyable,
    Unjellyable,
    getInstanceState,
    qual,
    setInstanceState,
    setUnjellyableFactoryForClass,
    setUnjellyableForClass,
    setUnjellyableForClassTree,
    unjellyableRegistry,
)
from reactor import log
from reactor.eventual import IEventualTarget, Promise, resolvedPromise
from reactor.failure import Failure

__all__ = [
    "Cacheable",
    "Copyable",
    "IPBRoot",
    "NoSuchMethod",
    "ProtocolError",
    "Referenceable",
    "RemoteCache",
    "RemoteCacheMethod",
    "RemoteCacheObserver",
    "RemoteCopy",
    "Root",
    "Serializable",
    "ViewPoint",
    "Viewable",
    "copyTags",
    "setCopierForClass",
    "setCopierForClassTree",
    "setFactoryForClass",
    "setUnjellyableFactoryForClass",
    "setUnjellyableForClass",
    "setUnjellyableForClassTree",
    "unjellyCached",
    "unjellyLCache",
    "unjellyLocal",
]

setCopierForClass = setUnjellyableForClass
setCopierForClassTree = setUnjellyableForClassTree
setFactoryForClass = setUnjellyableFactoryForClass
copyTags = unjellyableRegistry

copy_atom = b"copy"
cache_atom = b"cache"
cached_atom = b"cached"
remote_atom = b"remote"

_REMOTE = MethodPrefix("remote_")
_VIEW = MethodPrefix("view_")


class ProtocolError(Exception):
    """The peer broke PB's rules, or a call cannot be made now."""


class NoSuchMethod(AttributeError):
    """The peer called a method its target does not have."""


class IPBRoot(Interface):
    """What a PBServerFactory serves: gives each connection its root object."""

    def rootObject(broker: Any) -> Any:
        """Return the object the peer gets from getRootObject()."""


class Serializable(Jellyable):
    """An object with special rules for crossing the wire."""

    def processUniqueID(self) -> Any:
        """Return what identifies this object within the process (its id)."""
        return id(self)


class Referenceable(Serializable):
    """
    Sent by reference: the peer gets a RemoteReference, and its
    ``callRemote("foo", *args, **kw)`` runs ``remote_foo(*args, **kw)`` here.
    What remote_foo returns (or the Deferred's result) goes back as the
    answer; what it raises goes back as a remote error.
    """

    perspective: Any = None

    def remoteMessageReceived(self, broker: Any, message: Any, args: Any, kw: Any) -> Any:
        """Run the remote_ method for message; return its serialized result."""
        args = broker.unserialize(args)
        kw = broker.unserialize(kw)
        method = _REMOTE.find(self, message)
        if method is None:
            raise NoSuchMethod(_REMOTE.missing(message))
        return broker.serialize(_call(method, args, kw), self.perspective)

    def jellyFor(self, jellier: Any) -> Any:
        """Register with the broker; cross as [b"remote", luid]."""
        if jellier.invoker is None:
            return jellier.unpersistable("a Referenceable crosses only through a Broker")
        return [remote_atom, jellier.invoker.registerReference(self)]


@implementer(IPBRoot)
class Root(Referenceable):
    """A Referenceable that is also a root: the same object for every connection."""

    def rootObject(self, broker: Any) -> Root:
        """Return self."""
        return self


class ViewPoint(Referenceable):
    """A Viewable as seen by one perspective: calls become view_*(perspective, ...)."""

    def __init__(self, perspective: Any, object: Any) -> None:
        self.perspective = perspective
        self.object = object

    def processUniqueID(self) -> Any:
        """One per (perspective, object) pair."""
        return (id(self.perspective), id(self.object))

    def remoteMessageReceived(self, broker: Any, message: Any, args: Any, kw: Any) -> Any:
        """Run view_<message>(perspective, *args, **kw) on the object."""
        args = broker.unserialize(args, self.perspective)
        kw = broker.unserialize(kw, self.perspective)
        method = _VIEW.find(self.object, message)
        if method is None:
            raise NoSuchMethod(_VIEW.missing(message))
        if type(args) is not tuple:
            raise TypeError("remote call arguments must be a tuple")
        result = _call(method, (self.perspective,) + args, kw)
        return broker.serialize(result, self.perspective)


class Viewable(Serializable):
    """Sent as a ViewPoint for the perspective it is being sent to."""

    def jellyFor(self, jellier: Any) -> Any:
        """Cross as a ViewPoint for the serializing perspective."""
        if jellier.invoker is None:
            return jellier.unpersistable("a Viewable crosses only through a Broker")
        viewPoint = ViewPoint(jellier.invoker.serializingPerspective, self)
        return viewPoint.jellyFor(jellier)


class Copyable(Serializable):
    """
    Sent by copy: [getTypeToCopyFor(perspective), getStateToCopyFor(perspective)].

    The tag defaults to the class's qualified name; the state to __dict__.
    """

    def getStateToCopy(self) -> Any:
        """Return the state to send: __dict__ by default."""
        return self.__dict__

    def getStateToCopyFor(self, perspective: Any) -> Any:
        """Return the state to send to perspective: getStateToCopy() by default."""
        return self.getStateToCopy()

    def getTypeToCopy(self) -> bytes:
        """Return the copy tag: the class's qualified name by default."""
        return qual(type(self)).encode("utf-8")

    def getTypeToCopyFor(self, perspective: Any) -> bytes:
        """Return the copy tag for perspective: getTypeToCopy() by default."""
        return self.getTypeToCopy()

    def jellyFor(self, jellier: Any) -> Any:
        """Cross as [tag, state]."""
        if jellier.invoker is None:
            return getInstanceState(self, jellier)
        perspective = jellier.invoker.serializingPerspective
        tag = _tag(self.getTypeToCopyFor(perspective))
        state = self.getStateToCopyFor(perspective)
        sexp = jellier.prepare(self)
        sexp.extend([tag, jellier.jelly(state)])
        return jellier.preserve(self, sexp)


def _tag(tag: Any) -> bytes:
    return tag.encode("utf-8") if isinstance(tag, str) else tag


class Cacheable(Copyable):
    """
    Sent by copy once per connection, then kept up to date through the
    observer given to getStateToCacheAndObserveFor.
    """

    def getStateToCacheAndObserveFor(self, perspective: Any, observer: RemoteCacheObserver) -> Any:
        """Return the state to send, and remember observer to send updates through."""
        return self.getStateToCopyFor(perspective)

    def jellyFor(self, jellier: Any) -> Any:
        """Cross as [tag, luid, state] the first time, [b"cached", luid] after."""
        if jellier.invoker is None:
            return getInstanceState(self, jellier)
        broker = jellier.invoker
        luid = broker.cachedRemotelyAs(self, True)
        if luid is not None:
            return [cached_atom, luid]
        luid = broker.cacheRemotely(self)
        perspective = broker.serializingPerspective
        tag = _tag(self.getTypeToCopyFor(perspective))
        observer = RemoteCacheObserver(broker, self, perspective)
        state = self.getStateToCacheAndObserveFor(perspective, observer)
        sexp = jellier.prepare(self)
        sexp.extend([tag, luid, jellier.jelly(state)])
        return jellier.preserve(self, sexp)

    def stoppedObserving(self, perspective: Any, observer: RemoteCacheObserver) -> None:
        """Called when the peer no longer holds the copy (or disconnected)."""


class RemoteCopy(Unjellyable):
    """The local class a Copyable is rebuilt as: override setCopyableState."""

    def setCopyableState(self, state: Any) -> None:
        """Take state (a dict) as this object's __dict__."""
        if not state:
            state = {}
        if not isinstance(state, dict):
            raise TypeError("copyable state must be a dictionary")
        self.__dict__ = _textKeys(state)

    def unjellyFor(self, unjellier: Any, jellyList: list[Any]) -> Any:
        """Fill this blank instance from [tag, state]."""
        if unjellier.invoker is None:
            return setInstanceState(self, unjellier, jellyList)
        self.setCopyableState(unjellier.unjelly(jellyList[1]))
        return self


class RemoteCache(RemoteCopy, Serializable):
    """
    The local copy of a peer's Cacheable: its ``observe_foo`` methods run
    when the Cacheable's observer calls ``callRemote("foo", ...)``.

    Every time the Cacheable is sent again, the receiver gets another
    instance sharing this one's __dict__ (Twisted's "borg" copies), so each
    can tell the peer when it is collected; equality and hashing go by the
    shared __dict__.
    """

    broker: Any = None
    luid: Any = None

    def remoteMessageReceived(self, broker: Any, message: Any, args: Any, kw: Any) -> Any:
        """Run observe_<message>(*args, **kw)."""
        args = broker.unserialize(args)
        kw = broker.unserialize(kw)
        name = _methodName(message)
        method = getattr(self, "observe_%s" % (name,), None)
        if method is None:
            raise NoSuchMethod("No such method: observe_%s" % (name,))
        return broker.serialize(_call(method, args, kw), None)

    def jellyFor(self, jellier: Any) -> Any:
        """Cross home as [b"lcache", luid]."""
        if jellier.invoker is None:
            return getInstanceState(self, jellier)
        if jellier.invoker is not self.broker:
            return jellier.unpersistable("a RemoteCache crosses only to its own broker")
        return [b"lcache", self.luid]

    def unjellyFor(self, unjellier: Any, jellyList: list[Any]) -> Any:
        """Rebuild from [tag, luid, state]; register with the broker."""
        if unjellier.invoker is None:
            return setInstanceState(self, unjellier, jellyList)
        broker = unjellier.invoker
        luid = jellyList[1]
        self.broker = broker
        self.luid = luid
        borg = self._borgify()
        init = getattr(borg, "__init__", None)
        if init is not None and type(borg).__init__ is not object.__init__:
            init()
        broker.cacheLocally(luid, self)
        borg.setCopyableState(unjellier.unjelly(jellyList[2]))
        self.__dict__ = borg.__dict__
        self.broker = broker
        self.luid = luid
        return borg

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RemoteCache):
            return self.__dict__ is other.__dict__
        return NotImplemented

    def __hash__(self) -> int:
        return id(self.__dict__)

    def __del__(self) -> None:
        # The peer counts the copies it sent; each copy collected here
        # lowers that count (decache), so it can stop observing at zero.
        try:
            broker = self.broker
            if broker is not None:
                broker.decCacheRef(self.luid)
        except Exception:
            log.err(None, "Error dropping a RemoteCache")

    def _borgify(self) -> Any:
        blank = type(self).__new__(type(self))
        blank.__dict__ = self.__dict__
        return blank


def unjellyCached(unjellier: Any, jellyList: list[Any]) -> Any:
    """Rebuild [b"cached", luid]: another copy of a RemoteCache already here."""
    if unjellier.invoker is None:
        raise _insecure("cached")
    return unjellier.invoker.cachedLocallyAs(jellyList[1])._borgify()


def unjellyLCache(unjellier: Any, jellyList: list[Any]) -> Any:
    """Rebuild [b"lcache", luid]: our own Cacheable, coming home."""
    if unjellier.invoker is None:
        raise _insecure("lcache")
    return unjellier.invoker.remotelyCachedForLUID(jellyList[1])


def unjellyLocal(unjellier: Any, jellyList: list[Any]) -> Any:
    """Rebuild [b"local", luid]: our own Referenceable, coming home (None if unknown)."""
    if unjellier.invoker is None:
        raise _insecure("local")
    return unjellier.invoker.localObjectForID(jellyList[1])


def _insecure(atom: str) -> Exception:
    return InsecureJelly("%s is only understood by a Broker" % (atom,))


setUnjellyableForClass("cached", unjellyCached)
setUnjellyableForClass("lcache", unjellyLCache)
setUnjellyableForClass("local", unjellyLocal)


@implementer(IEventualTarget)
class RemoteCacheObserver:
    """
    What a Cacheable talks to one peer's RemoteCache through:
    ``callRemote("foo", ...)`` runs ``observe_foo`` there, and so does
    ``send(observer).foo()`` (reactor.eventual), which returns a Promise
    for the result.  Observers of the same (broker, cacheable, perspective)
    compare equal, so a Cacheable can keep them in a list and remove them
    in stoppedObserving.
    """

    def __init__(self, broker: Any, cached: Cacheable, perspective: Any) -> None:
        self.broker = broker
        self.cached = cached
        self.perspective = perspective

    def __repr__(self) -> str:
        return "<RemoteCacheObserver(%r, %r, %r) at %d>" % (
            self.broker,
            self.cached,
            self.perspective,
            id(self),
        )

    def _key(self) -> tuple[int, int, int]:
        return (id(self.broker), id(self.cached), id(self.perspective))

    def __hash__(self) -> int:
        return hash(self._key())

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RemoteCacheObserver):
            return self._key() == other._key()
        return NotImplemented

    def callRemote(self, _name: str | bytes, *args: Any, **kw: Any) -> Any:
        """
        Run observe_<_name>(*args, **kw) on the peer's copy; return a
        Deferred of its result.

        :raises ProtocolError: the Cacheable was never given to this peer.
        :raises DeadReferenceError: the connection is lost.
        """
        name = _name.encode("utf-8") if isinstance(_name, str) else _name
        return self.broker.sendMessage(b"cache", self.perspective, self._luid(), name, args, kw)

    def _luid(self) -> Any:
        # On a lost connection the broker has forgotten every luid: let
        # sending raise DeadReferenceError (a ProtocolError), which says why
        # (test_sendToObserverAfterDisconnect).
        luid = self.broker.cachedRemotelyAs(self.cached)
        if luid is None and not self.broker.disconnected:
            raise ProtocolError(
                "You can't call a cached method when the object hasn't been given to the peer yet."
            )
        return luid

    def eventualSend(
        self, methodName: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Promise[Any]:
        """
        Send observe_<methodName>(*args, **kwargs) to the peer's copy now;
        return a Promise for its result, broken with the error (or with
        ProtocolError or DeadReferenceError when it cannot be sent).

        The peer keeps no answer to a cache message, so messages sent to
        the Promise wait for the result, then go to what it is.
        """
        try:
            luid = self._luid()
        except ProtocolError:
            return resolvedPromise(Failure(), reactor=self.broker.reactor)
        return promiseForCall(
            self.broker, b"cachemessage", self.perspective, luid, methodName, args, kwargs
        )

    def eventualSendOnly(
        self, methodName: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        """Send observe_<methodName>(*args, **kwargs) with no answer wanted; log what fails."""
        try:
            luid = self._luid()
        except ProtocolError:
            log.err(None, "Unhandled error in sendOnly(...).%s()" % (methodName,))
            return
        sendOnlyCall(self.broker, b"cachemessage", self.perspective, luid, methodName, args, kwargs)

    def remoteMethod(self, key: str) -> RemoteCacheMethod:
        """Return a RemoteCacheMethod calling key."""
        return RemoteCacheMethod(key, self.broker, self.cached, self.perspective)


class RemoteCacheMethod:
    """One observer method as a callable: calling it is callRemote(name, ...)."""

    def __init__(self, name: str | bytes, broker: Any, cached: Cacheable, perspective: Any) -> None:
        self.name = name
        self.broker = broker
        self.cached = cached
        self.perspective = perspective

    def __eq__(self, other: object) -> bool:
        if isinstance(other, RemoteCacheMethod):
            return self._key() == other._key()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self._key())

    def _key(self) -> tuple[Any, int, int, int]:
        return (self.name, id(self.broker), id(self.cached), id(self.perspective))

    def __call__(self, *args: Any, **kw: Any) -> Any:
        observer = RemoteCacheObserver(self.broker, self.cached, self.perspective)
        return observer.callRemote(self.name, *args, **kw)
