"""
The portal: where credentials are checked and an avatar is handed out
(Twisted's twisted.cred.portal).

``Portal.login(credentials, mind, *interfaces)`` finds the checker for the
kind of credentials, which gives an avatar ID, and asks the realm for the
avatar: a Deferred of ``(interface, avatar, logout)``.  A login refused
with UnauthorizedLogin is reported only after ``failureDelay`` seconds,
waited on a timer, so that guessing passwords costs a guesser time and the
reactor nothing (Twisted reports it at once).
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, Callable

from zope.interface import Interface, providedBy

from protocols.cred.checkers import AvatarId, ICredentialsChecker
from protocols.cred.error import UnauthorizedLogin, UnhandledCredentials
from reactor import getReactor
from reactor.defer import Deferred, fail, maybeDeferred
from reactor.failure import Failure
from reactor.task import deferLater

__all__ = ["IRealm", "Portal", "LoginResult"]

LoginResult = tuple[Any, Any, Callable[[], None]]
"""What a login gives: (interface, avatar, logout)."""


class IRealm(Interface):
    """The application's side of a login: avatars for avatar IDs."""

    def requestAvatar(
        avatarId: AvatarId, mind: object, *interfaces: Any
    ) -> Deferred[LoginResult] | LoginResult:
        """
        Return an avatar for avatarId providing one of interfaces.

        :param avatarId: what the checker gave (bytes, or ANONYMOUS).
        :param mind: what the client offered to be called back on (often None;
            PB passes the client's reference).
        :param interfaces: the interfaces the client asks for, preferred first.
        :return: (the interface chosen, the avatar, a logout callable, which
            the protocol calls once the session ends), or a Deferred of it.
        """


class Portal:
    """
    Credentials checkers in front of a realm.

    :ivar realm: the IRealm.
    :ivar checkers: {credentials interface: ICredentialsChecker}.
    :ivar failureDelay: seconds to wait before reporting UnauthorizedLogin.
    """

    def __init__(
        self,
        realm: Any,
        checkers: Iterable[Any] = (),
        *,
        failureDelay: float = 1.0,
        reactor: Any = None,
    ) -> None:
        """
        :param realm: an IRealm provider.
        :param checkers: ICredentialsChecker providers, each registered for
            its credentialInterfaces.
        :param failureDelay: seconds between a refused login and its report
            (0 reports at once).
        :param reactor: whose timer waits them (the global reactor by default).
        """
        self.realm = realm
        self.checkers: dict[Any, Any] = {}
        self.failureDelay = failureDelay
        self._reactor = reactor
        for checker in checkers:
            self.registerChecker(checker)

    def listCredentialsInterfaces(self) -> list[Any]:
        """Return the credentials interfaces that some checker takes."""
        return list(self.checkers)

    def registerChecker(self, checker: Any, *credentialInterfaces: Any) -> None:
        """
        Use checker for credentialInterfaces (by default its own
        ``credentialInterfaces``), replacing any checker registered for them.
        """
        if not ICredentialsChecker.providedBy(checker):
            raise TypeError("%r does not provide ICredentialsChecker" % (checker,))
        for interface in credentialInterfaces or checker.credentialInterfaces:
            self.checkers[interface] = checker

    def login(self, credentials: Any, mind: object, *interfaces: Any) -> Deferred[LoginResult]:
        """
        Check credentials and return a Deferred of the realm's
        ``(interface, avatar, logout)``.

        :param mind: passed to the realm's requestAvatar.
        :param interfaces: the avatar interfaces asked for, passed to the realm.
        :return: a Deferred that fails with UnauthorizedLogin (after
            failureDelay) for wrong credentials, with UnhandledCredentials
            at once when no checker takes their kind, or with the realm's
            error.  Cancelling it during the delay stops the wait.
        """
        for interface, checker in self.checkers.items():
            if interface.providedBy(credentials):
                checked: Deferred[Any] = maybeDeferred(checker.requestAvatarId, credentials)
                checked.addErrback(self._ebRefused)
                return checked.addCallback(self._requestAvatar, mind, interfaces)
        kinds = ", ".join(kind.__identifier__ for kind in providedBy(credentials)) or "nothing"
        return fail(UnhandledCredentials("No checker for credentials providing %s" % (kinds,)))

    def _requestAvatar(self, avatarId: AvatarId, mind: object, interfaces: tuple[Any, ...]) -> Any:
        return self.realm.requestAvatar(avatarId, mind, *interfaces)

    def _ebRefused(self, failure: Failure) -> Failure | Deferred[Any]:
        if self.failureDelay <= 0 or not failure.check(UnauthorizedLogin):
            return failure
        return deferLater(getReactor(self._reactor), self.failureDelay, lambda: failure)
