"""
Session: what a Site remembers about one client between requests.

A session lives in the Site's ``sessions`` store, in memory, under a random
uid that the client keeps in a cookie (``Request.getSession``).  It
expires ``sessionTimeout`` seconds after it was last touched: one timed
call per session, moved on each touch.  Components (``getComponent``,
``setComponent``) let each part of an application keep its own state on
it, under an interface, as Twisted's Componentized sessions do.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

__all__ = ["Session"]


class Session:
    """
    A client's session.

    :ivar site: the Site that made it.
    :ivar uid: its id, bytes (the cookie's value).
    :ivar lastModified: when it was last touched, in the reactor's seconds.
    :ivar sessionNamespaces: a dict for anything the application keeps.
    :cvar sessionTimeout: seconds without a touch before it expires.
    """

    sessionTimeout: float = 900
    _expireCall: Any = None

    def __init__(self, site: Any, uid: bytes, reactor: Any = None) -> None:
        """
        :param reactor: for the expiry timer; the Site's by default.
        """
        if reactor is None:
            reactor = site.reactor
        self._reactor = reactor
        self.site = site
        self.uid = uid
        self.expireCallbacks: list[Callable[[], object]] = []
        self.sessionNamespaces: dict[Any, Any] = {}
        self._components: dict[Any, Any] = {}
        self.touch()

    def startCheckingExpiration(self) -> None:
        """Start the expiry timer (the Site does, when it stores the session)."""
        self._expireCall = self._reactor.callLater(self.sessionTimeout, self.expire)

    def notifyOnExpire(self, callback: Callable[[], object]) -> None:
        """Call callback() when the session expires (or is expired by hand)."""
        self.expireCallbacks.append(callback)

    def expire(self) -> None:
        """End the session now: forget it and call the expire callbacks."""
        self.site.sessions.pop(self.uid, None)
        call, self._expireCall = self._expireCall, None
        if call is not None and call.active():
            call.cancel()
        callbacks, self.expireCallbacks = self.expireCallbacks, []
        for callback in callbacks:
            callback()

    def touch(self) -> None:
        """The session was used: it expires sessionTimeout seconds from now."""
        self.lastModified = self._reactor.seconds()
        if self._expireCall is not None:
            self._expireCall.reset(self.sessionTimeout)

    def getComponent(self, interface: Any, default: Any = None) -> Any:
        """Return the component kept for interface, or default."""
        return self._components.get(interface, default)

    def setComponent(self, interface: Any, component: Any) -> None:
        """Keep component for interface."""
        self._components[interface] = component

    def unsetComponent(self, interface: Any) -> None:
        """Forget the component kept for interface."""
        self._components.pop(interface, None)
