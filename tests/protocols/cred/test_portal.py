"""
Tests for protocols.cred.portal and the in-memory checkers, on a Clock.
"""

import hmac

import pytest
from zope.interface import Interface, implementer

from protocols.cred.checkers import (
    ANONYMOUS,
    AllowAnonymousAccess,
    ICredentialsChecker,
    InMemoryUsernamePasswordDatabaseDontUse,
)
from protocols.cred.credentials import (
    Anonymous,
    IAnonymous,
    IUsernameHashedPassword,
    IUsernamePassword,
    UsernameHashedPassword,
    UsernamePassword,
)
from protocols.cred.error import LoginDenied, UnauthorizedLogin, UnhandledCredentials
from protocols.cred.portal import IRealm, Portal
from reactor.defer import CancelledError, Deferred
from reactor.failure import Failure
from reactor.task import Clock


class IThing(Interface):
    """An avatar interface for the tests."""


class IOther(Interface):
    """Another one."""


@implementer(IRealm)
class Realm:
    """Hands out ("avatar", id) and records requests and logouts."""

    def __init__(self, answer=None):
        self.requests = []
        self.loggedOut = []
        self.answer = answer

    def requestAvatar(self, avatarId, mind, *interfaces):
        self.requests.append((avatarId, mind, interfaces))
        if self.answer is not None:
            return self.answer
        return interfaces[0], ("avatar", avatarId), lambda: self.loggedOut.append(avatarId)


def outcome(deferred):
    """What a fired Deferred holds (a Failure handled here); call it once per Deferred."""
    results = []
    deferred.addBoth(results.append)
    assert results, "the Deferred has not fired"
    return results[0]


def watch(deferred):
    """Return a list that gets the Deferred's result once it has one (passed on)."""
    seen = []

    def record(result):
        seen.append(result)
        return result

    deferred.addBoth(record)
    return seen


def makePortal(clock, realm=None, delay=2.0):
    checker = InMemoryUsernamePasswordDatabaseDontUse(alice=b"sesame")
    return Portal(realm or Realm(), [checker], failureDelay=delay, reactor=clock)


def test_loginGivesRealmsAvatar():
    """A good login gives the realm's (interface, avatar, logout) for id, mind, interfaces."""
    clock, realm = Clock(), Realm()
    portal = makePortal(clock, realm)
    interface, avatar, logout = outcome(
        portal.login(UsernamePassword(b"alice", b"sesame"), "mind", IThing, IOther)
    )
    assert (interface, avatar) == (IThing, ("avatar", b"alice"))
    assert realm.requests == [(b"alice", "mind", (IThing, IOther))]
    logout()
    assert realm.loggedOut == [b"alice"]


@pytest.mark.parametrize("username, password", [(b"alice", b"wrong"), (b"mallory", b"sesame")])
def test_refusedLoginIsDelayed(username, password):
    """Wrong password and unknown user both fail with UnauthorizedLogin, only after the delay."""
    clock, realm = Clock(), Realm()
    portal = makePortal(clock, realm, delay=2.0)
    result = portal.login(UsernamePassword(username, password), None, IThing)
    seen = watch(result)
    clock.advance(1.999)
    assert seen == []
    clock.advance(0.001)
    assert outcome(result).check(UnauthorizedLogin)
    assert realm.requests == []


def test_noDelayWhenZero():
    """failureDelay=0 reports the refusal at once."""
    portal = makePortal(Clock(), delay=0)
    result = portal.login(UsernamePassword(b"alice", b"wrong"), None, IThing)
    assert outcome(result).check(UnauthorizedLogin)


def test_cancelDuringDelayStopsTimer():
    """Cancelling a login waiting out its delay cancels the timer."""
    clock = Clock()
    result = makePortal(clock).login(UsernamePassword(b"alice", b"wrong"), None, IThing)
    assert clock.getDelayedCalls()
    result.cancel()
    assert clock.getDelayedCalls() == []
    assert outcome(result).check(CancelledError)


def test_unhandledCredentialsAtOnce():
    """Credentials no checker takes fail at once with UnhandledCredentials naming their kind."""
    result = makePortal(Clock()).login(Anonymous(), None, IThing)
    failure = outcome(result)
    assert failure.check(UnhandledCredentials)
    assert "IAnonymous" in str(failure.value)


def test_realmErrorIsNotDelayed():
    """A realm's LoginDenied is reported as it comes, without the delay."""
    clock, realm = Clock(), Realm()

    def deny(*args):
        raise LoginDenied("too many")

    realm.requestAvatar = deny
    result = makePortal(clock, realm).login(UsernamePassword(b"alice", b"sesame"), None, IThing)
    assert outcome(result).check(LoginDenied)


def test_realmMayAnswerWithDeferred():
    """A realm returning a Deferred: the login fires when it does."""
    answer = Deferred()
    portal = makePortal(Clock(), Realm(answer=answer))
    result = portal.login(UsernamePassword(b"alice", b"sesame"), None, IThing)
    assert watch(result) == []
    answer.callback((IThing, "late avatar", lambda: None))
    assert outcome(result)[1] == "late avatar"


def test_anonymousAccess():
    """AllowAnonymousAccess lets Anonymous credentials in with the ANONYMOUS id."""
    realm = Realm()
    portal = Portal(realm, [AllowAnonymousAccess()], reactor=Clock())
    assert outcome(portal.login(Anonymous(), None, IThing))[1] == ("avatar", ANONYMOUS)
    assert portal.listCredentialsInterfaces() == [IAnonymous]


def test_registerChecker():
    """registerChecker uses the checker's interfaces, or those given; a non-checker is refused."""
    portal = Portal(Realm(), reactor=Clock())
    assert portal.listCredentialsInterfaces() == []
    checker = InMemoryUsernamePasswordDatabaseDontUse()
    portal.registerChecker(checker)
    assert set(portal.listCredentialsInterfaces()) == {IUsernamePassword, IUsernameHashedPassword}
    anonymous = AllowAnonymousAccess()
    portal.registerChecker(anonymous, IUsernamePassword)
    assert portal.checkers[IUsernamePassword] is anonymous
    with pytest.raises(TypeError):
        portal.registerChecker(object())
    assert ICredentialsChecker.providedBy(checker)


def test_hashedPasswordCredentials():
    """The in-memory checker takes UsernameHashedPassword too."""
    checker = InMemoryUsernamePasswordDatabaseDontUse(bob=b"pw")
    checker.addUser(b"carol", b"other")
    assert outcome(checker.requestAvatarId(UsernameHashedPassword(b"bob", b"pw"))) == b"bob"
    assert outcome(checker.requestAvatarId(UsernameHashedPassword(b"carol", b"pw"))).check(
        UnauthorizedLogin
    )


def test_unknownUserStillCompares():
    """The in-memory checker compares a password for an unknown user too."""
    compared = []

    class Recording(UsernamePassword):
        def checkPassword(self, password):
            compared.append(password)
            return super().checkPassword(password)

    checker = InMemoryUsernamePasswordDatabaseDontUse(alice=b"sesame")
    assert outcome(checker.requestAvatarId(Recording(b"nobody", b"x"))).check(UnauthorizedLogin)
    assert len(compared) == 1


def test_passwordsComparedInConstantTime(monkeypatch):
    """Both credentials classes compare with hmac.compare_digest."""
    calls = []
    real = hmac.compare_digest

    def recording(first, second):
        calls.append((first, second))
        return real(first, second)

    monkeypatch.setattr(hmac, "compare_digest", recording)
    assert UsernamePassword(b"a", b"pw").checkPassword(b"pw")
    assert not UsernameHashedPassword(b"a", b"pw").checkPassword(b"px")
    assert UsernamePassword(b"a", b"p\xc3\xa9").checkPassword("pé")
    assert calls == [(b"pw", b"pw"), (b"px", b"pw"), (b"p\xc3\xa9", b"p\xc3\xa9")]


def test_reprHidesPassword():
    """A credentials repr names the user, never the password."""
    assert "secret" not in repr(UsernamePassword(b"alice", b"secret"))
    assert "secret" not in repr(UsernameHashedPassword(b"alice", b"secret"))
    assert "alice" in repr(UsernamePassword(b"alice", b"secret"))


def test_checkerFailureNotDelayedUnlessUnauthorized():
    """An unexpected checker error is passed on at once (it is not a guess)."""

    @implementer(ICredentialsChecker)
    class Broken:
        credentialInterfaces = (IUsernamePassword,)

        def requestAvatarId(self, credentials):
            return Failure(OSError("disk"))

    portal = Portal(Realm(), [Broken()], failureDelay=5, reactor=Clock())
    assert outcome(portal.login(UsernamePassword(b"a", b"b"), None, IThing)).check(OSError)
