"""
What each end of a PB connection has sent the other by reference or by
cache, counted: ObjectTables, the part of the Broker that keeps the tables.

The peer names our objects by luid: a Referenceable sent is registered once
(``registerReference``) and counted each time it crosses again, until the
peer's decrefs bring the count to nought; the root is registered under a
name instead.  A Cacheable sent is remembered with the perspective it was
sent for, and observed until the peer's decache; the peer's Cacheables we
hold copies of are kept by the peer's luid.

The one idea: the peer decides how many entries these tables hold, so each
is bounded (MAX_BROKER_REFS): a peer asking for more gets an Error, and is
dropped after three times.
"""

from __future__ import annotations

from typing import Any, Callable

from protocols.pb._failures import Error
from protocols.pb._references import Local, RemoteReference
from protocols.pb.flavors import RemoteCacheObserver
from reactor import log

__all__ = ["MAX_BROKER_REFS", "ObjectTables"]

MAX_BROKER_REFS = 1024


class ObjectTables:
    """
    The Broker's tables of objects sent by reference and by cache (a base
    class of Broker, which sets them up in its __init__).

    :ivar localObjects: our objects the peer holds, Local records by luid.
    :ivar luids: the luid of each of those objects, by processUniqueID.
    :ivar remotelyCachedObjects: our Cacheables the peer holds copies of,
        Local records (with the perspective) by luid.
    :ivar locallyCachedObjects: our copies of the peer's Cacheables, by its luid.
    """

    localObjects: dict[Any, Local]
    luids: dict[Any, Any]
    remotelyCachedObjects: dict[Any, Local]
    remotelyCachedLUIDs: dict[Any, Any]
    locallyCachedObjects: dict[Any, Any]
    maxBrokerRefsViolations: int
    serializingPerspective: Any
    _localCleanup: dict[Any, Callable[[], object]]
    # The Broker's, used here.
    sendCall: Callable[..., None]
    newLocalID: Callable[[], int]
    protocolViolation: Callable[[str], None]

    def _stopObserving(self) -> None:
        # The connection is lost: tell our Cacheables their observers are gone.
        cached, self.remotelyCachedObjects = self.remotelyCachedObjects, {}
        for local in cached.values():
            observer = RemoteCacheObserver(self, local.object, local.perspective)
            try:
                local.object.stoppedObserving(local.perspective, observer)
            except Exception:
                log.err(None, "Error in stoppedObserving")

    def _forgetObjects(self) -> None:
        # The connection is lost and its notifiers have run: drop the tables.
        self.localObjects = {}
        self.luids = {}
        self.remotelyCachedLUIDs = {}
        self.locallyCachedObjects = {}
        self._localCleanup = {}

    # -- references ------------------------------------------------------

    def localObjectForID(self, luid: Any) -> Any:
        """Return our object the peer knows as luid, or None."""
        kind = type(luid)
        if kind is str:
            luid = luid.encode("utf-8")
        elif kind is not bytes and kind is not int:
            return None
        local = self.localObjects.get(luid)
        return None if local is None else local.object

    def registerReference(self, object: Any) -> Any:
        """Count one more reference the peer holds to object; return its luid."""
        puid = object.processUniqueID()
        luid = self.luids.get(puid)
        if luid is not None:
            self.localObjects[luid].incref()
            return luid
        if len(self.localObjects) > MAX_BROKER_REFS:
            self._tooManyReferences("reference")
        luid = self.newLocalID()
        self.localObjects[luid] = Local(object)
        self.luids[puid] = luid
        return luid

    def _tooManyReferences(self, kind: str) -> None:
        self.maxBrokerRefsViolations += 1
        if self.maxBrokerRefsViolations > 3:
            self.protocolViolation("Maximum PB %s count exceeded" % (kind,))
        raise Error("Maximum PB %s count exceeded." % (kind,))

    def setCleanupForLocal(self, puid: Any, cleanup: Callable[[], object]) -> None:
        """Call cleanup() when the peer drops its last reference to the object puid."""
        self._localCleanup[puid] = cleanup

    def setNameForLocal(self, name: str | bytes, object: Any) -> None:
        """Make object known to the peer as name (the root is "root")."""
        if isinstance(name, str):
            name = name.encode("utf-8")
        self.localObjects[name] = Local(object)

    def remoteForName(self, name: str | bytes) -> RemoteReference:
        """A reference to the peer's object named name (not reference-counted)."""
        if isinstance(name, str):
            name = name.encode("utf-8")
        return RemoteReference(None, self, name, False)

    def sendDecRef(self, objectID: Any) -> None:
        """Tell the peer we dropped a reference to its object."""
        self.sendCall(b"decref", objectID)

    def proto_decref(self, objectID: Any) -> None:
        """The peer dropped a reference to one of our objects."""
        if isinstance(objectID, str):
            objectID = objectID.encode("utf-8")
        local = self.localObjects.get(objectID) if type(objectID) in (int, bytes) else None
        if local is None or local.decref() > 0:
            return
        puid = local.object.processUniqueID()
        del self.localObjects[objectID]
        self.luids.pop(puid, None)
        cleanup = self._localCleanup.pop(puid, None)
        if cleanup is not None:
            try:
                cleanup()
            except Exception:
                log.err(None, "Error logging a PB avatar out")

    # -- caches ----------------------------------------------------------

    def cachedRemotelyAs(self, instance: Any, incref: bool = False) -> Any:
        """Return the luid instance was cached under for the peer (counting one more), or None."""
        luid = self.remotelyCachedLUIDs.get(instance.processUniqueID())
        if luid is not None and incref:
            self.remotelyCachedObjects[luid].incref()
        return luid

    def remotelyCachedForLUID(self, luid: Any) -> Any:
        """Return our Cacheable the peer knows as luid."""
        return self.remotelyCachedObjects[luid].object

    def cacheRemotely(self, instance: Any) -> int:
        """Start caching instance for the peer; return its new luid."""
        if len(self.remotelyCachedObjects) > MAX_BROKER_REFS:
            self._tooManyReferences("cache")
        luid = self.newLocalID()
        self.remotelyCachedLUIDs[instance.processUniqueID()] = luid
        self.remotelyCachedObjects[luid] = Local(instance, self.serializingPerspective)
        return luid

    def cacheLocally(self, cid: Any, instance: Any) -> None:
        """Remember the RemoteCache the peer knows as cid."""
        self.locallyCachedObjects[cid] = instance

    def cachedLocallyAs(self, cid: Any) -> Any:
        """Return the RemoteCache the peer knows as cid."""
        return self.locallyCachedObjects[cid]

    def decCacheRef(self, objectID: Any) -> None:
        """Tell the peer we dropped one copy of its Cacheable."""
        self.sendCall(b"decache", objectID)

    def proto_decache(self, objectID: Any) -> None:
        """The peer dropped a copy of one of our Cacheables."""
        local = self.remotelyCachedObjects.get(objectID) if type(objectID) is int else None
        if local is None or local.decref() > 0:
            return
        observer = RemoteCacheObserver(self, local.object, local.perspective)
        try:
            local.object.stoppedObserving(local.perspective, observer)
        except Exception:
            log.err(None, "Error in stoppedObserving")
        del self.remotelyCachedLUIDs[local.object.processUniqueID()]
        del self.remotelyCachedObjects[objectID]
        self.sendCall(b"uncache", objectID)

    def proto_uncache(self, objectID: Any) -> None:
        """The peer stopped observing: our copy is on its own now."""
        cache = self.locallyCachedObjects.pop(objectID, None)
        if cache is not None:
            cache.broker = None
