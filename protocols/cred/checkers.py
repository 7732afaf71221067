"""
Credentials checkers: from credentials to an avatar ID, or UnauthorizedLogin
(Twisted's twisted.cred.checkers).

FilePasswordDB is the one for real use: the users and their salted scrypt
hashes in a file (protocols.cred.passwordfile).  Hashing with scrypt is
deliberately slow (tenths of a second, and 32 MiB, at the default cost),
so it runs in the reactor's thread pool, never in the reactor thread, and
an unknown user costs one hash too, of a dummy entry with the same
parameters, so that a wrong name takes as long to refuse as a wrong
password.  The Portal adds the delay after a failure.
"""

from __future__ import annotations

from typing import Any

from zope.interface import Attribute, Interface, implementer

from protocols.cred.credentials import IAnonymous, IUsernameHashedPassword, IUsernamePassword
from protocols.cred.error import UnauthorizedLogin
from protocols.cred.passwordfile import (
    DEFAULT_LN,
    DEFAULT_P,
    DEFAULT_R,
    KEY_SIZE,
    SALT_SIZE,
    PasswordFile,
    PasswordHash,
    parsePasswordFile,
    readPasswordFile,
)
from reactor.defer import CancelledError, Deferred, DeferredSemaphore, maybeDeferred, succeed
from reactor.failure import Failure
from reactor.logger import Logger, LogLevel
from reactor.threads import deferToThread

__all__ = [
    "ANONYMOUS",
    "ICredentialsChecker",
    "AllowAnonymousAccess",
    "InMemoryUsernamePasswordDatabaseDontUse",
    "FilePasswordDB",
]

ANONYMOUS: tuple[()] = ()
"""The avatar ID of an anonymous login."""

AvatarId = bytes | tuple[()]


class ICredentialsChecker(Interface):
    """Something that checks some kinds of credentials and says whose they are."""

    credentialInterfaces = Attribute(
        "The ICredentials sub-interfaces this checker can check (a sequence)."
    )

    def requestAvatarId(credentials: Any) -> Deferred[AvatarId] | AvatarId:
        """
        Check credentials (providing one of credentialInterfaces).

        :return: the avatar ID (bytes, or ANONYMOUS), or a Deferred of it;
            it fails with UnauthorizedLogin when the credentials are wrong.
        """


@implementer(ICredentialsChecker)
class AllowAnonymousAccess:
    """Lets anyone in anonymously: IAnonymous credentials get ANONYMOUS."""

    credentialInterfaces = (IAnonymous,)

    def requestAvatarId(self, credentials: Any) -> Deferred[AvatarId]:
        """Return a Deferred fired with ANONYMOUS."""
        return succeed(ANONYMOUS)


_DUMMY_PASSWORD = b"\0" * 16


@implementer(ICredentialsChecker)
class InMemoryUsernamePasswordDatabaseDontUse:
    """
    Plain passwords in a dict, for tests and examples (the name says it).

    It takes IUsernamePassword and IUsernameHashedPassword credentials,
    which compare the plain password in constant time; an unknown user
    costs a comparison too.

    :ivar users: {username: password}, both bytes.
    """

    credentialInterfaces = (IUsernamePassword, IUsernameHashedPassword)

    def __init__(self, **users: bytes) -> None:
        """Start with users, given as ``name=b"password"`` (names encoded as ASCII)."""
        self.users = {name.encode("ascii"): password for name, password in users.items()}

    def addUser(self, username: bytes, password: bytes) -> None:
        """Set username's password."""
        self.users[username] = password

    def requestAvatarId(self, credentials: Any) -> Deferred[AvatarId]:
        """Return a Deferred of the username, or failing with UnauthorizedLogin."""
        username = credentials.username
        password = self.users.get(username)
        if password is None:
            # Compare anyway, so that an unknown name costs what a wrong password does.
            checked = maybeDeferred(credentials.checkPassword, _DUMMY_PASSWORD)
            return checked.addBoth(lambda ignored: Failure(UnauthorizedLogin()))
        checked = maybeDeferred(credentials.checkPassword, password)
        return checked.addCallback(_matched, username)


def _matched(matched: bool, username: bytes) -> AvatarId:
    if not matched:
        raise UnauthorizedLogin()
    return username


@implementer(ICredentialsChecker)
class FilePasswordDB:
    """
    The users and the salted scrypt hashes of their passwords, in a file
    (its format, its permissions and the command that edits it:
    protocols.cred.passwordfile).

    The file is read at each login in a pool thread (reparsed only when it
    changed), so users can be added while the server runs.  At most
    ``concurrency`` checks hash at once; the others wait their turn in the
    reactor, so that a flood of logins cannot take every thread of the pool
    from the rest of the server (the resolver's lookups, say).  A file that
    cannot be read, or is refused (others may write or read it), is logged
    and every login fails with UnauthorizedLogin; lines it cannot read are
    logged once and skipped.

    Only IUsernamePassword credentials: checking a hash needs the plain
    password.  (So PB's challenge-response login, which never sends it,
    cannot be checked against this file.)

    Unlike Twisted's FilePasswordDB, there is no choice of delimiter,
    fields, hash function or case sensitivity: the format is fixed.

    :ivar filename: the file's path.
    :ivar hashing: the DeferredSemaphore of the checks hashing; its
        ``waiting`` are the checks waiting for their turn.
    """

    credentialInterfaces = (IUsernamePassword,)
    _log = Logger()

    def __init__(self, filename: str, *, reactor: Any = None, concurrency: int = 2) -> None:
        """
        :param filename: the password file.
        :param reactor: whose thread pool hashes (the global reactor by default).
        :param concurrency: how many checks may hash at once.
        """
        self.filename = filename
        self.hashing = DeferredSemaphore(concurrency)
        self._reactor = reactor
        self._cache: tuple[tuple[int, ...], PasswordFile] | None = None

    def requestAvatarId(self, credentials: Any) -> Deferred[AvatarId]:
        """Return a Deferred of the username, or failing with UnauthorizedLogin."""
        password = credentials.password
        if isinstance(password, str):
            password = password.encode("utf-8")
        checked: Deferred[tuple[AvatarId | None, list[str]]] = self.hashing.run(
            deferToThread, self._check, credentials.username, password, _reactor=self._reactor
        )
        return checked.addCallbacks(self._cbChecked, self._ebUnreadable)

    def _check(self, username: bytes, password: bytes) -> tuple[AvatarId | None, list[str]]:
        # In a pool thread: read the file (again only if it changed), hash.
        info, text = readPasswordFile(self.filename)
        version = (info.st_dev, info.st_ino, info.st_size, info.st_mtime_ns, info.st_ctime_ns)
        cache, problems = self._cache, []
        if cache is None or cache[0] != version:
            cache = self._cache = (version, parsePasswordFile(text, self.filename))
            problems = cache[1].problems
        users = cache[1].users
        entry = users.get(username)
        if entry is None:
            _dummyLike(users).verify(password)
            return None, problems
        return (username if entry.verify(password) else None), problems

    def _cbChecked(self, result: tuple[AvatarId | None, list[str]]) -> AvatarId:
        avatarId, problems = result
        for problem in problems:
            self._log.warn("{problem}", problem=problem)
        if avatarId is None:
            raise UnauthorizedLogin()
        return avatarId

    def _ebUnreadable(self, failure: Failure) -> Failure:
        # The file could not be read or was refused: the server's problem,
        # logged; the client hears what a wrong password would tell it.  A
        # check cancelled while waiting for its turn is neither.
        if failure.check(CancelledError):
            return failure
        self._log.failure(
            "Cannot check passwords in {path}", failure, LogLevel.error, path=self.filename
        )
        return Failure(UnauthorizedLogin())


def _dummyLike(users: dict[bytes, PasswordHash]) -> PasswordHash:
    # An entry no password matches, costing what the file's first one does.
    model = next(iter(users.values()), None)
    if model is None:
        return PasswordHash(DEFAULT_LN, DEFAULT_R, DEFAULT_P, bytes(SALT_SIZE), bytes(KEY_SIZE))
    return PasswordHash(model.ln, model.r, model.p, bytes(len(model.salt)), bytes(len(model.key)))
