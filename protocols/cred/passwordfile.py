"""
FilePasswordDB's password file: one user per line, each with a salted
scrypt hash of the password (hashlib.scrypt), and the command that edits it.

The format, one line per user (UTF-8; blank lines and lines starting with
``#`` are ignored)::

    alice:$scrypt$ln=15,r=8,p=1$GzR0cIjSTZ9BsUqCjf6qJA$0E5Hys3R5bqYc6l0r7zj4...

- the username, which may hold neither ``:`` nor a line break;
- ``$scrypt$``, then scrypt's cost parameters: ``ln``, the base-2 logarithm
  of N (CPU and memory cost: memory is 128 * r * 2**ln bytes, 32 MiB for
  the default ln=15, r=8), ``r`` (block size) and ``p`` (parallelism);
- the salt (16 random bytes) and the derived key (32 bytes), each in
  standard base64 without its ``=`` padding.

Each line carries its own parameters, so raising the cost later only needs
the passwords set again; a line that cannot be read is logged with its line
number (never its content) and skipped, and so is one whose parameters
would need more than MAX_MEMORY to check.

The file is refused unless nobody but its owner can change it and nobody
but its owner and group can read it: a hash others can read can be
attacked offline, a file others can write lets them add themselves.  So it
must be a regular file with one link, owned by root or by the user reading
it, without write permission for group or others nor any permission for
others, reached through no symbolic link that someone else could have
planted (reactor._safeopen walks the path).  A daemon started as root that
drops privileges (``loomd -u``) reads it as that user at each login: make
it ``root:GROUP`` with mode 0640, GROUP being the daemon's.

To add or change a user (the password is asked twice on the terminal, or
read as one line from standard input with ``--stdin``)::

    python -m protocols.cred.passwordfile /etc/myapp/passwords set alice
    python -m protocols.cred.passwordfile /etc/myapp/passwords remove alice

The file is rewritten whole (a new file renamed over the old one, so a
reader sees the old file or the new one, never half of one); other lines
and comments are kept, and so are the owner, group and mode of an existing
file (less any permission the checker would refuse); a new file gets mode
0600.  setPassword and removeUser do the same from Python.
"""

from __future__ import annotations

import argparse
import base64
import binascii
import getpass
import hashlib
import hmac
import os
import stat
import sys
from dataclasses import dataclass
from typing import Callable

from reactor._safeopen import RefusedFile, openDirectory, openFile, openIn

__all__ = [
    "PasswordHash",
    "PasswordFile",
    "hashPassword",
    "parsePasswordFile",
    "readPasswordFile",
    "setPassword",
    "removeUser",
    "main",
    "DEFAULT_LN",
    "DEFAULT_R",
    "DEFAULT_P",
    "MAX_MEMORY",
]

SCHEME = "scrypt"
DEFAULT_LN, DEFAULT_R, DEFAULT_P = 15, 8, 1
SALT_SIZE, KEY_SIZE = 16, 32
MAX_MEMORY = 1 << 30  # what one check may take, at most: 1 GiB
WHAT = "password file"


def _encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii").rstrip("=")


def _decode(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


def _memory(ln: int, r: int, p: int) -> int:
    # What hashlib.scrypt allocates (OpenSSL's estimate), with room to spare.
    return 128 * r * ((1 << ln) + p + 2) + (1 << 20)


def _checkCost(ln: int, r: int, p: int) -> None:
    if not (1 <= ln < 64 and r >= 1 and p >= 1):
        raise ValueError("scrypt parameters out of range")
    if _memory(ln, r, p) > MAX_MEMORY:
        raise ValueError("scrypt parameters need more than %d bytes" % (MAX_MEMORY,))


@dataclass(frozen=True)
class PasswordHash:
    """
    One scrypt hash: the parameters, the salt and the derived key.

    :ivar ln: base-2 logarithm of scrypt's N.
    :ivar r: block size.
    :ivar p: parallelism.
    """

    ln: int
    r: int
    p: int
    salt: bytes
    key: bytes

    @classmethod
    def fromString(cls, text: str) -> PasswordHash:
        """
        Read ``$scrypt$ln=L,r=R,p=P$SALT$KEY``.

        :raises ValueError: it is not one, or its cost is out of bounds.
        """
        parts = text.split("$")
        if len(parts) != 5 or parts[0] or parts[1] != SCHEME:
            raise ValueError("not a $scrypt$ hash")
        try:
            fields = dict(field.split("=", 1) for field in parts[2].split(","))
            ln, r, p = int(fields.pop("ln")), int(fields.pop("r")), int(fields.pop("p"))
            salt, key = _decode(parts[3]), _decode(parts[4])
        except (ValueError, KeyError, binascii.Error):
            raise ValueError("malformed $scrypt$ hash") from None
        if fields:
            raise ValueError("unknown scrypt parameters: %s" % (", ".join(sorted(fields)),))
        if not (salt and key):
            raise ValueError("empty salt or key")
        _checkCost(ln, r, p)
        return cls(ln, r, p, salt, key)

    def toString(self) -> str:
        """Return the hash as written in the file."""
        return "$%s$ln=%d,r=%d,p=%d$%s$%s" % (
            SCHEME,
            self.ln,
            self.r,
            self.p,
            _encode(self.salt),
            _encode(self.key),
        )

    def derive(self, password: bytes, salt: bytes | None = None) -> bytes:
        """Return scrypt's key for password with these parameters (and this salt by default)."""
        return hashlib.scrypt(
            password,
            salt=self.salt if salt is None else salt,
            n=1 << self.ln,
            r=self.r,
            p=self.p,
            maxmem=_memory(self.ln, self.r, self.p),
            dklen=len(self.key),
        )

    def verify(self, password: bytes) -> bool:
        """Whether password hashes to this key (compared in constant time); CPU-heavy."""
        return hmac.compare_digest(self.derive(password), self.key)


def hashPassword(
    password: bytes | str, *, ln: int = DEFAULT_LN, r: int = DEFAULT_R, p: int = DEFAULT_P
) -> PasswordHash:
    """
    Hash password with a fresh random salt.

    :param password: bytes, or text (hashed as UTF-8).
    :raises ValueError: the parameters are out of bounds (see PasswordHash.fromString).
    """
    if isinstance(password, str):
        password = password.encode("utf-8")
    _checkCost(ln, r, p)
    unkeyed = PasswordHash(ln, r, p, os.urandom(SALT_SIZE), bytes(KEY_SIZE))
    return PasswordHash(ln, r, p, unkeyed.salt, unkeyed.derive(password))


@dataclass
class PasswordFile:
    """
    What a password file holds.

    :ivar users: {username (bytes): PasswordHash}.
    :ivar problems: one sentence per line skipped, naming its number.
    """

    users: dict[bytes, PasswordHash]
    problems: list[str]


def parsePasswordFile(text: str, path: str = WHAT) -> PasswordFile:
    """Read the lines of a password file (see the module docstring); path is for messages."""
    users: dict[bytes, PasswordHash] = {}
    problems = []
    for lineno, line in enumerate(text.splitlines(), 1):
        if not line.strip() or line.startswith("#"):
            continue
        name, colon, hashed = line.partition(":")
        try:
            if not colon or not name:
                raise ValueError("not USERNAME:HASH")
            users[name.encode("utf-8")] = PasswordHash.fromString(hashed)
        except ValueError as error:
            problems.append("%s, line %d skipped: %s" % (path, lineno, error))
    return PasswordFile(users, problems)


def _permissionProblem(info: os.stat_result) -> str | None:
    if info.st_uid not in (0, os.geteuid()):
        return "it is owned by uid %d, neither root nor this process's user" % (info.st_uid,)
    if info.st_mode & 0o022:
        return "its group or other users may write to it (mode %04o)" % (
            stat.S_IMODE(info.st_mode),
        )
    if info.st_mode & 0o007:
        return "other users may read it (mode %04o)" % (stat.S_IMODE(info.st_mode),)
    return None


def readPasswordFile(path: str) -> tuple[os.stat_result, str]:
    """
    Open path safely and return its fstat and its text.

    :raises RefusedFile: it is a link, not a regular file, or others may
        change or read it (see the module docstring).
    :raises OSError: it cannot be read.
    :raises UnicodeDecodeError: it is not UTF-8.
    """
    dirFd, fd = openFile(path, WHAT, os.O_RDONLY)
    os.close(dirFd)
    with open(fd, "rb") as file:
        info = os.fstat(file.fileno())
        problem = _permissionProblem(info)
        if problem is not None:
            raise RefusedFile(WHAT, path, problem)
        return info, file.read().decode("utf-8")


# -- editing ------------------------------------------------------------------


def _checkUsername(username: str) -> None:
    if not username or ":" in username or username.startswith("#") or username != username.strip():
        raise ValueError("a username must not be empty, hold ':', start with '#' or with a space")
    if len(username.splitlines()) != 1:
        raise ValueError("a username must not hold a line break")


def _rewrite(path: str, edit: Callable[[list[str]], bool]) -> bool:
    # Read path's lines (if it exists), let edit(lines) change them in place
    # and say whether it did, then replace the file by rename.
    path = os.path.abspath(path)
    directory, name = os.path.split(path)
    dirFd = openDirectory(directory, WHAT, path)
    try:
        try:
            fd = openIn(dirFd, name, WHAT, path, os.O_RDONLY)
        except FileNotFoundError:
            lines: list[str] = []
            info = None
        else:
            with open(fd, "rb") as file:
                info = os.fstat(file.fileno())
                lines = file.read().decode("utf-8").splitlines()
        if not edit(lines):
            return False
        _replace(dirFd, name, "".join(line + "\n" for line in lines), info)
        return True
    finally:
        os.close(dirFd)


def _replace(dirFd: int, name: str, text: str, info: os.stat_result | None) -> None:
    temporary = ".%s.%s.new" % (name, os.urandom(6).hex())
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW | os.O_CLOEXEC
    fd = os.open(temporary, flags, 0o600, dir_fd=dirFd)
    try:
        with open(fd, "wb", closefd=False) as file:
            file.write(text.encode("utf-8"))
            file.flush()
            if info is not None:
                if os.geteuid() == 0:
                    os.fchown(fd, info.st_uid, info.st_gid)
                os.fchmod(fd, stat.S_IMODE(info.st_mode) & 0o640)
            os.fsync(fd)
        os.replace(temporary, name, src_dir_fd=dirFd, dst_dir_fd=dirFd)
    except BaseException:
        os.unlink(temporary, dir_fd=dirFd)
        raise
    finally:
        os.close(fd)
    os.fsync(dirFd)


def setPassword(
    path: str, username: str, password: bytes | str, *, ln: int = DEFAULT_LN, r: int = DEFAULT_R
) -> None:
    """
    Add username to the password file at path, or change its password
    (creating the file, mode 0600, if there is none).

    :raises ValueError: the username cannot be written in the file.
    :raises RefusedFile: the path is a link or not a regular file.
    """
    _checkUsername(username)
    line = "%s:%s" % (username, hashPassword(password, ln=ln, r=r).toString())

    def edit(lines: list[str]) -> bool:
        for index, existing in enumerate(lines):
            if existing.partition(":")[0] == username and not existing.startswith("#"):
                lines[index] = line
                return True
        lines.append(line)
        return True

    _rewrite(path, edit)


def removeUser(path: str, username: str) -> bool:
    """
    Remove username from the password file at path.

    :return: whether it was there (the file is left alone if not).
    """

    def edit(lines: list[str]) -> bool:
        kept = [
            line for line in lines if line.startswith("#") or line.partition(":")[0] != username
        ]
        removed = len(kept) != len(lines)
        lines[:] = kept
        return removed

    return _rewrite(path, edit)


def _readPassword(fromStdin: bool) -> str:
    if fromStdin:
        return sys.stdin.readline().rstrip("\r\n")
    password = getpass.getpass("Password: ")
    if getpass.getpass("Again: ") != password:
        raise ValueError("the passwords differ")
    return password


def main(argv: list[str] | None = None) -> int:
    """``python -m protocols.cred.passwordfile FILE (set|remove) USER``; return the exit status."""
    parser = argparse.ArgumentParser(
        prog="python -m protocols.cred.passwordfile",
        description="Add, change or remove a user of a FilePasswordDB password file.",
    )
    parser.add_argument("file")
    parser.add_argument("action", choices=["set", "remove"])
    parser.add_argument("username")
    parser.add_argument("--stdin", action="store_true", help="read the password from stdin")
    parser.add_argument("--ln", type=int, default=DEFAULT_LN, help="log2 of scrypt's N")
    parser.add_argument("--r", type=int, default=DEFAULT_R, help="scrypt's block size")
    options = parser.parse_args(argv)
    try:
        if options.action == "set":
            password = _readPassword(options.stdin)
            if not password:
                raise ValueError("refusing an empty password")
            setPassword(options.file, options.username, password, ln=options.ln, r=options.r)
        elif not removeUser(options.file, options.username):
            print("%s: no user %s" % (options.file, options.username), file=sys.stderr)
            return 1
    except (OSError, ValueError) as error:
        print("%s: %s" % (parser.prog, error), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
