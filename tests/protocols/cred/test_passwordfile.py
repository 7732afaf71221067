"""
Tests for protocols.cred.passwordfile: the hash format, the file's checks,
and the editing functions and command.
"""

import io
import os
import stat

import pytest

from protocols.cred import passwordfile
from protocols.cred.passwordfile import (
    PasswordHash,
    hashPassword,
    parsePasswordFile,
    readPasswordFile,
    removeUser,
    setPassword,
)
from reactor._safeopen import RefusedFile

# Cheap parameters for tests: ln=4 is 16 iterations, not 32768.
CHEAP = {"ln": 4}


def test_hashRoundTrip():
    """A hash written and read back is the same, and verifies only its password."""
    hashed = hashPassword(b"sesame", ln=4, r=2, p=1)
    text = hashed.toString()
    assert text.startswith("$scrypt$ln=4,r=2,p=1$")
    assert "=" not in text.split("$")[-1]
    again = PasswordHash.fromString(text)
    assert again == hashed
    assert again.verify(b"sesame")
    assert not again.verify(b"sesamf")


def test_freshSaltEachTime():
    """The same password hashes differently each time (a random salt)."""
    assert hashPassword(b"pw", **CHEAP) != hashPassword(b"pw", **CHEAP)


def test_textPasswordIsUTF8():
    """A text password is hashed as UTF-8."""
    assert hashPassword("pé", **CHEAP).verify("pé".encode())


@pytest.mark.parametrize(
    "text",
    [
        "plain",
        "$bcrypt$ln=4,r=8,p=1$AAAA$AAAA",
        "$scrypt$ln=4,r=8$AAAA$AAAA",
        "$scrypt$ln=4,r=8,p=1,x=2$AAAA$AAAA",
        "$scrypt$ln=4,r=8,p=1$!!!!$AAAA",
        "$scrypt$ln=4,r=8,p=1$$AAAA",
        "$scrypt$ln=0,r=8,p=1$AAAA$AAAA",
        "$scrypt$ln=40,r=8,p=1$AAAA$AAAA",
    ],
)
def test_badHashRefused(text):
    """Malformed hashes, unknown parameters and costs past MAX_MEMORY are ValueErrors."""
    with pytest.raises(ValueError):
        PasswordHash.fromString(text)


def test_tooCostlyHashNotMade():
    """hashPassword refuses parameters the checker would refuse."""
    with pytest.raises(ValueError):
        hashPassword(b"pw", ln=30)


def test_parseSkipsCommentsAndReportsBadLines():
    """Comments and blanks are ignored; a bad line is reported by number, without its content."""
    good = hashPassword(b"pw", **CHEAP).toString()
    text = "# users\n\nalice:%s\nbob:secret-in-clear\n:%s\nnocolon\n" % (good, good)
    parsed = parsePasswordFile(text, "/etc/pw")
    assert list(parsed.users) == [b"alice"]
    assert [problem.split(" skipped")[0] for problem in parsed.problems] == [
        "/etc/pw, line 4",
        "/etc/pw, line 5",
        "/etc/pw, line 6",
    ]
    assert not any("secret-in-clear" in problem for problem in parsed.problems)


def test_setPasswordCreatesPrivateFile(tmp_path):
    """setPassword makes a 0600 file holding the user's hash."""
    path = str(tmp_path / "passwords")
    setPassword(path, "alice", b"sesame", **CHEAP)
    assert stat.S_IMODE(os.stat(path).st_mode) == 0o600
    info, text = readPasswordFile(path)
    users = parsePasswordFile(text).users
    assert users[b"alice"].verify(b"sesame")


def test_setPasswordReplacesAndKeepsTheRest(tmp_path):
    """Changing a password replaces that line; other users and comments stay, in order."""
    path = tmp_path / "passwords"
    setPassword(str(path), "alice", b"one", **CHEAP)
    with open(path, "a") as file:
        file.write("# a comment\n")
    setPassword(str(path), "bob", b"two", **CHEAP)
    setPassword(str(path), "alice", b"three", **CHEAP)
    lines = path.read_text().splitlines()
    assert [line.split(":")[0] for line in lines] == ["alice", "# a comment", "bob"]
    users = parsePasswordFile(path.read_text()).users
    assert users[b"alice"].verify(b"three") and users[b"bob"].verify(b"two")


def test_rewriteKeepsOwnerAndSafeMode(tmp_path):
    """An existing file keeps its owner and group, and its mode less what would be refused."""
    if os.geteuid() != 0:
        pytest.skip("changing a file's owner needs root")
    path = tmp_path / "passwords"
    setPassword(str(path), "alice", b"one", **CHEAP)
    os.chown(path, 0, 65534)
    os.chmod(path, 0o666)
    setPassword(str(path), "bob", b"two", **CHEAP)
    info = os.stat(path)
    assert (info.st_uid, info.st_gid, stat.S_IMODE(info.st_mode)) == (0, 65534, 0o640)
    assert [name for name in os.listdir(tmp_path)] == ["passwords"]


def test_removeUser(tmp_path):
    """removeUser drops the user's line, and says whether there was one."""
    path = str(tmp_path / "passwords")
    setPassword(path, "alice", b"one", **CHEAP)
    setPassword(path, "bob", b"two", **CHEAP)
    assert removeUser(path, "alice")
    assert not removeUser(path, "alice")
    assert list(parsePasswordFile(readPasswordFile(path)[1]).users) == [b"bob"]


@pytest.mark.parametrize("username", ["", "a:b", "#x", "a\nb", " a"])
def test_badUsernameRefused(tmp_path, username):
    """A username the file cannot hold is a ValueError, and nothing is written."""
    with pytest.raises(ValueError):
        setPassword(str(tmp_path / "passwords"), username, b"pw", **CHEAP)
    assert os.listdir(tmp_path) == []


@pytest.mark.parametrize(
    "mode, reason",
    [(0o620, "may write"), (0o602, "may write"), (0o604, "may read"), (0o601, "may read")],
)
def test_fileOthersCanChangeOrReadIsRefused(tmp_path, mode, reason):
    """A password file that group or others may write, or others may read, is refused."""
    path = tmp_path / "passwords"
    setPassword(str(path), "alice", b"one", **CHEAP)
    os.chmod(path, mode)
    with pytest.raises(RefusedFile) as raised:
        readPasswordFile(str(path))
    assert reason in str(raised.value)


def test_fileOwnedBySomeoneElseIsRefused(tmp_path):
    """A password file owned by another user (not root) is refused."""
    if os.geteuid() != 0:
        pytest.skip("giving a file away needs root")
    path = tmp_path / "passwords"
    setPassword(str(path), "alice", b"one", **CHEAP)
    os.chown(path, 65534, 0)
    with pytest.raises(RefusedFile, match="owned by uid 65534"):
        readPasswordFile(str(path))


def test_linksAreRefused(tmp_path):
    """A symbolic link or a hard link at the file's name is refused."""
    path = tmp_path / "passwords"
    setPassword(str(path), "alice", b"one", **CHEAP)
    os.symlink(path, tmp_path / "symlink")
    with pytest.raises(RefusedFile, match="symbolic link"):
        readPasswordFile(str(tmp_path / "symlink"))
    os.link(path, tmp_path / "hardlink")
    with pytest.raises(RefusedFile, match="hard links"):
        readPasswordFile(str(path))


def test_commandSetsAndRemoves(tmp_path, monkeypatch, capsys):
    """The command sets a password read from stdin, removes users, and fails clearly."""
    path = str(tmp_path / "passwords")
    monkeypatch.setattr("sys.stdin", io.StringIO("sesame\n"))
    assert passwordfile.main([path, "set", "alice", "--stdin", "--ln", "4"]) == 0
    users = parsePasswordFile(readPasswordFile(path)[1]).users
    assert users[b"alice"].verify(b"sesame") and users[b"alice"].ln == 4
    assert passwordfile.main([path, "remove", "bob"]) == 1
    assert "no user bob" in capsys.readouterr().err
    assert passwordfile.main([path, "remove", "alice"]) == 0
    monkeypatch.setattr("sys.stdin", io.StringIO("\n"))
    assert passwordfile.main([path, "set", "alice", "--stdin"]) == 1
    assert "empty password" in capsys.readouterr().err


def test_commandAsksTwice(tmp_path, monkeypatch, capsys):
    """Without --stdin the password is asked twice; two different answers change nothing."""
    answers = iter(["one", "two"])
    monkeypatch.setattr("getpass.getpass", lambda prompt: next(answers))
    path = str(tmp_path / "passwords")
    assert passwordfile.main([path, "set", "alice", "--ln", "4"]) == 1
    assert "differ" in capsys.readouterr().err
    assert not os.path.exists(path)
