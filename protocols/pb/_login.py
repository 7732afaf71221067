"""
Logging in over PB: perspectives, and the portal behind a server's root.

A PBServerFactory given a cred Portal serves a root whose ``login`` and
``loginAnonymous`` methods run the portal.  The exchange is Twisted's:

    client                                   server
    root.callRemote("login", username)  ->   (challenge, challenger)
    challenger.callRemote("respond",
        md5(md5(password) + challenge), mind)
                                        ->   portal.login(challenger, mind,
                                                          IPerspective)
                                        <-   the avatar, by reference

The challenger is the credentials object the portal's checkers see: it
provides cred's IUsernameHashedPassword, whose ``checkPassword(password)``
recomputes the response from the stored password and compares in constant
time.  The avatar's ``perspective_foo`` methods answer
``avatarRef.callRemote("foo", ...)``; its logout runs when the client drops
its reference to the avatar or disconnects, once.

Wire wart kept: the password is only ever proven with a double MD5 of it
and a challenge, so the server's checker must hold the password itself
(or its MD5), never a salted slow hash; a checker that stores scrypt hashes
cannot check a PB login.  Use TLS: the MD5 exchange protects nothing
against an eavesdropper who can guess the password offline.
"""

from __future__ import annotations

import hmac
import secrets
from hashlib import md5
from typing import Any, Callable

from zope.interface import Interface, implementer

from protocols.cred.credentials import (
    Anonymous,
    IAnonymous,
    ICredentials,
    IUsernameHashedPassword,
)
from protocols.pb._calls import MethodPrefix, _call
from protocols.pb.flavors import IPBRoot, NoSuchMethod, Referenceable
from protocols.pb.jelly import Jellyable

__all__ = [
    "AsReferenceable",
    "Avatar",
    "IPerspective",
    "IUsernameMD5Password",
    "challenge",
    "respond",
]


class IPerspective(Interface):
    """A perspective (avatar) for a PB client: what login gives the client."""

    def perspectiveMessageReceived(broker: Any, message: Any, args: Any, kwargs: Any) -> Any:
        """Answer a message the client sent to this perspective."""


_PERSPECTIVE = MethodPrefix("perspective_")


@implementer(IPerspective)
class Avatar:
    """
    A perspective whose ``perspective_foo`` methods answer ``callRemote("foo")``.

    Objects returned by them are serialized for this perspective (a
    Viewable returned becomes a ViewPoint seeing this avatar).
    """

    def perspectiveMessageReceived(self, broker: Any, message: Any, args: Any, kw: Any) -> Any:
        """Run perspective_<message>(*args, **kw)."""
        args = broker.unserialize(args, self)
        kw = broker.unserialize(kw, self)
        method = _PERSPECTIVE.find(self, message)
        if method is None:
            raise NoSuchMethod(_PERSPECTIVE.missing(message))
        return broker.serialize(_call(method, args, kw), self, method, args, kw)


class AsReferenceable(Referenceable):
    """Send object by reference, its <messageType>MessageReceived answering calls."""

    def __init__(self, object: Any, messageType: str = "remote") -> None:
        self.remoteMessageReceived = getattr(  # type: ignore[method-assign]
            object, messageType + "MessageReceived"
        )


def respond(challenge: bytes, password: bytes | str) -> bytes:
    """Return the response proving password for challenge: md5(md5(password) + challenge)."""
    if isinstance(password, str):
        password = password.encode("utf-8")
    return md5(md5(password).digest() + challenge).digest()


def challenge() -> bytes:
    """Return a fresh random challenge (16 bytes)."""
    return secrets.token_bytes(16)


class IUsernameMD5Password(ICredentials):
    """Credentials that can check a password given as its MD5 digest."""

    def checkPassword(password: bytes) -> bool:
        """Whether password is the one the client proved."""

    def checkMD5Password(password: bytes) -> bool:
        """Whether md5(password) is the one the client proved."""


@implementer(IPBRoot)
class _PortalRoot:
    # A portal served as a PB root: each connection gets a _PortalWrapper.
    def __init__(self, portal: Any) -> None:
        self.portal = portal

    def rootObject(self, broker: Any) -> _PortalWrapper:
        return _PortalWrapper(self.portal, broker)


def _avatarLoggedIn(broker: Any, result: Any) -> Any:
    # The portal's (interface, avatar, logout): send the avatar by reference
    # and run logout once, when the client drops it or disconnects.
    interface, avatar, logout = result
    if not isinstance(avatar, Jellyable):
        avatar = AsReferenceable(avatar, "perspective")
    pending: list[Callable[[], object]] = [logout]

    def maybeLogout() -> None:
        if pending:
            pending.pop()()

    broker.setCleanupForLocal(avatar.processUniqueID(), maybeLogout)
    broker.notifyOnDisconnect(maybeLogout)
    return avatar


class _PortalWrapper(Referenceable):
    # The root of a server that logs in through a portal.
    def __init__(self, portal: Any, broker: Any) -> None:
        self.portal = portal
        self.broker = broker

    def remote_login(self, username: Any) -> tuple[bytes, _PortalAuthChallenger]:
        secret = challenge()
        return secret, _PortalAuthChallenger(self.portal, self.broker, username, secret)

    def remote_loginAnonymous(self, mind: Any) -> Any:
        deferred = self.portal.login(Anonymous(), mind, IPerspective)
        return deferred.addCallback(lambda result: _avatarLoggedIn(self.broker, result))


@implementer(IUsernameHashedPassword, IUsernameMD5Password)
class _PortalAuthChallenger(Referenceable):
    # The credentials of one username/password login: the challenge sent and
    # the response received.
    response: bytes = b""

    def __init__(self, portal: Any, broker: Any, username: Any, secret: bytes) -> None:
        self.portal = portal
        self.broker = broker
        self.username = username
        self.challenge = secret

    def remote_respond(self, response: Any, mind: Any) -> Any:
        self.response = response if isinstance(response, bytes) else b""
        deferred = self.portal.login(self, mind, IPerspective)
        return deferred.addCallback(lambda result: _avatarLoggedIn(self.broker, result))

    def checkPassword(self, password: bytes | str) -> bool:
        if isinstance(password, str):
            password = password.encode("utf-8")
        return self.checkMD5Password(md5(password).digest())

    def checkMD5Password(self, md5Password: bytes) -> bool:
        expected = md5(md5Password + self.challenge).digest()
        return hmac.compare_digest(expected, self.response)


def _isAnonymous(credentials: Any) -> bool:
    return bool(IAnonymous.providedBy(credentials))
