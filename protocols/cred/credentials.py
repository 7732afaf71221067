"""
Credentials: what a user offers to prove who they are (Twisted's
twisted.cred.credentials).

Each kind is an interface (IUsernamePassword, IUsernameHashedPassword,
IAnonymous) and a plain class providing it; a checker says which
interfaces it can check, and the portal picks the checker by the interface
the credentials provide.  Passwords are compared with hmac.compare_digest,
whose time does not depend on where the first difference is.
"""

from __future__ import annotations

import hmac

from zope.interface import Attribute, Interface, implementer

from reactor.defer import Deferred

__all__ = [
    "ICredentials",
    "IUsernamePassword",
    "IUsernameHashedPassword",
    "IAnonymous",
    "UsernamePassword",
    "UsernameHashedPassword",
    "Anonymous",
]


class ICredentials(Interface):
    """The credentials of a user: every kind of credentials extends this."""


class IUsernameHashedPassword(ICredentials):
    """
    A username and a password already transformed by the client (a challenge
    response, say); the checker gives checkPassword the plain password it
    knows, and the credentials transform it the same way to compare.
    """

    username = Attribute("The username (bytes).")

    def checkPassword(password: bytes) -> bool | Deferred[bool]:
        """Whether password, in plain text, is the one these credentials were made from."""


class IUsernamePassword(ICredentials):
    """A username and the plain password; a checker may hash ``password`` itself."""

    username = Attribute("The username (bytes).")
    password = Attribute("The password, in plain text (bytes).")

    def checkPassword(password: bytes) -> bool | Deferred[bool]:
        """Whether password is this password (compared in constant time)."""


class IAnonymous(ICredentials):
    """No credentials at all: an anonymous login."""


def _equal(first: bytes | str, second: bytes | str) -> bool:
    # compare_digest takes two bytes or two ASCII strs; text is compared as UTF-8.
    if isinstance(first, str):
        first = first.encode("utf-8")
    if isinstance(second, str):
        second = second.encode("utf-8")
    return hmac.compare_digest(first, second)


@implementer(IUsernamePassword)
class UsernamePassword:
    """
    A username and a password.

    :ivar username: bytes.
    :ivar password: bytes; kept out of repr().
    """

    def __init__(self, username: bytes, password: bytes) -> None:
        self.username = username
        self.password = password

    def checkPassword(self, password: bytes) -> bool:
        """Whether password is this password, compared in constant time."""
        return _equal(password, self.password)

    def __repr__(self) -> str:
        return "<UsernamePassword %r>" % (self.username,)


@implementer(IUsernameHashedPassword)
class UsernameHashedPassword:
    """
    A username and a password as the client hashed it, compared with what a
    checker's plain password hashes to: here the "hash" is the identity, so
    checkPassword compares the two in constant time (Twisted's behaviour);
    subclasses (PB's challenge response) transform the plain password first.

    :ivar username: bytes.
    :ivar hashed: bytes; kept out of repr().
    """

    def __init__(self, username: bytes, hashed: bytes) -> None:
        self.username = username
        self.hashed = hashed

    def checkPassword(self, password: bytes) -> bool:
        """Whether password is the one these credentials hold, compared in constant time."""
        return _equal(password, self.hashed)

    def __repr__(self) -> str:
        return "<UsernameHashedPassword %r>" % (self.username,)


@implementer(IAnonymous)
class Anonymous:
    """Anonymous credentials, checked by AllowAnonymousAccess."""
