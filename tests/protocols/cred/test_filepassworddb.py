"""
Tests for protocols.cred.checkers.FilePasswordDB: scrypt in the thread pool
of a real reactor (one fresh reactor per test), the file reread when it
changes, and every problem turned into UnauthorizedLogin.
"""

import hashlib
import os
import threading

import pytest

from protocols.cred.checkers import FilePasswordDB
from protocols.cred.credentials import UsernamePassword
from protocols.cred.error import UnauthorizedLogin
from protocols.cred.passwordfile import setPassword
from reactor import log
from reactor.defer import CancelledError
from reactor.pytestplugin import runUntil

pytestmark = pytest.mark.timeout(30)


@pytest.fixture
def passwords(tmp_path):
    """A password file with alice (sesame) and bob (hunter2), at a cheap cost."""
    path = str(tmp_path / "passwords")
    setPassword(path, "alice", b"sesame", ln=5, r=4)
    setPassword(path, "bob", b"hunter2", ln=5, r=4)
    return path


def check(reactor, path, username, password):
    """Run requestAvatarId to its end; return the avatar ID or the Failure."""
    checker = FilePasswordDB(path, reactor=reactor)
    deferred = checker.requestAvatarId(UsernamePassword(username, password))
    results = []
    deferred.addBoth(results.append)
    runUntil(reactor, deferred)
    return results[0]


@pytest.fixture
def scryptCalls(monkeypatch):
    """Record the (n, r, p) of every hashlib.scrypt call."""
    calls = []
    real = hashlib.scrypt

    def recording(password, **kwargs):
        calls.append((kwargs["n"], kwargs["r"], kwargs["p"]))
        return real(password, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", recording)
    return calls


class Logged:
    """Collect the text of every event logged."""

    def __enter__(self):
        self.texts = []
        log.addObserver(self._observe)
        return self

    def _observe(self, event):
        self.texts.append(log.textFromEventDict(event) or "")

    def __exit__(self, *exc):
        log.removeObserver(self._observe)


def test_rightPassword(defaultReactor, passwords):
    """The right password gives the username."""
    assert check(defaultReactor, passwords, b"bob", b"hunter2") == b"bob"


def test_wrongPasswordAndUnknownUserAlike(defaultReactor, passwords, scryptCalls):
    """
    A wrong password and an unknown user both fail with UnauthorizedLogin,
    and both cost one scrypt hash with the file's parameters.
    """
    wrong = check(defaultReactor, passwords, b"alice", b"hunter2")
    unknown = check(defaultReactor, passwords, b"mallory", b"sesame")
    assert wrong.check(UnauthorizedLogin) and unknown.check(UnauthorizedLogin)
    assert scryptCalls == [(32, 4, 1), (32, 4, 1)]


def test_textPassword(defaultReactor, passwords):
    """A password given as text is checked as UTF-8."""
    assert check(defaultReactor, passwords, b"alice", "sesame") == b"alice"


def test_fileChangesAreSeen(defaultReactor, passwords):
    """A user added while the checker lives can log in; the old password stops working."""
    checker = FilePasswordDB(passwords, reactor=defaultReactor)
    first = checker.requestAvatarId(UsernamePassword(b"alice", b"sesame"))
    assert runUntil(defaultReactor, first) == b"alice"
    setPassword(passwords, "alice", b"changed", ln=5, r=4)
    setPassword(passwords, "carol", b"new", ln=5, r=4)
    assert runUntil(defaultReactor, checker.requestAvatarId(UsernamePassword(b"carol", b"new")))
    old = checker.requestAvatarId(UsernamePassword(b"alice", b"sesame"))
    with pytest.raises(UnauthorizedLogin):
        runUntil(defaultReactor, old)


def test_refusedFileIsLoggedAndRefusesLogin(defaultReactor, passwords):
    """A file others may write is logged, and the login fails as a wrong password would."""
    os.chmod(passwords, 0o666)
    with Logged() as logged:
        result = check(defaultReactor, passwords, b"alice", b"sesame")
    assert result.check(UnauthorizedLogin)
    assert any("Cannot check passwords in " + passwords in text for text in logged.texts)
    assert any("may write to it" in text for text in logged.texts)


def test_missingFileRefusesLogin(defaultReactor, tmp_path):
    """A missing file is logged and refuses every login."""
    with Logged() as logged:
        result = check(defaultReactor, str(tmp_path / "none"), b"alice", b"sesame")
    assert result.check(UnauthorizedLogin)
    assert any("Cannot check passwords" in text for text in logged.texts)


def test_badLineLoggedOnce(defaultReactor, passwords):
    """A line that cannot be read is logged (by number) once per version of the file."""
    with open(passwords, "a") as file:
        file.write("carol:not-a-hash\n")
    checker = FilePasswordDB(passwords, reactor=defaultReactor)
    with Logged() as logged:
        for _ in range(2):
            deferred = checker.requestAvatarId(UsernamePassword(b"bob", b"hunter2"))
            assert runUntil(defaultReactor, deferred) == b"bob"
    assert [text for text in logged.texts if "line 3 skipped" in text] == [
        "%s, line 3 skipped: not a $scrypt$ hash" % (passwords,)
    ]


def test_reactorRunsWhileHashing(defaultReactor, passwords, monkeypatch):
    """
    scrypt runs in a pool thread: while it runs, the reactor thread goes on
    (here a timer of the reactor's must fire to let the hash finish; were the
    hash in the reactor thread, it would wait in vain and the test fail).
    """
    reactor = defaultReactor
    hashing, release, released = threading.Event(), threading.Event(), []
    real = hashlib.scrypt

    def waitingScrypt(password, **kwargs):
        hashing.set()
        released.append(release.wait(10))
        return real(password, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", waitingScrypt)

    def releaseOnceHashing():
        if hashing.is_set():
            release.set()
        else:
            reactor.callLater(0.001, releaseOnceHashing)

    reactor.callLater(0, releaseOnceHashing)
    assert check(reactor, passwords, b"alice", b"sesame") == b"alice"
    assert released == [True]


def test_hashesTakeTurns(defaultReactor, passwords, monkeypatch):
    """
    At most ``concurrency`` checks hash at once; the rest wait in the reactor
    (not in the pool), and one cancelled while waiting leaves the line
    quietly.
    """
    reactor = defaultReactor
    events, hashing, release = [], threading.Event(), threading.Event()
    real = hashlib.scrypt

    def blockingScrypt(password, **kwargs):
        events.append("start")
        hashing.set()
        release.wait(10)
        events.append("end")
        return real(password, **kwargs)

    monkeypatch.setattr(hashlib, "scrypt", blockingScrypt)
    checker = FilePasswordDB(passwords, reactor=reactor, concurrency=1)
    first, second, third = (
        checker.requestAvatarId(UsernamePassword(b"alice", b"sesame")) for _ in range(3)
    )
    assert hashing.wait(10)
    assert len(checker.hashing.waiting) == 2
    cancelled = []
    third.addErrback(cancelled.append)
    with Logged() as logged:
        third.cancel()
        release.set()
        assert runUntil(reactor, first) == b"alice"
        assert runUntil(reactor, second) == b"alice"
    assert cancelled[0].check(CancelledError)
    assert events == ["start", "end", "start", "end"]
    assert logged.texts == []
