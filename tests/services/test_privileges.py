"""
Tests for services.loomd.privileges.

The switches themselves need root and are irreversible, so each runs in a
child process that reports what /proc/self/status says afterwards.
"""

import os
import subprocess
import sys
import textwrap

import pytest

from services.loomd.privileges import (
    PrivilegeError,
    chroot,
    describeCredentials,
    primaryGroup,
    resolveGroup,
    resolveUser,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

needsRoot = pytest.mark.skipif(os.geteuid() != 0, reason="switching users needs root")

REPORT = textwrap.dedent(
    """
    import os, sys
    from services.loomd.privileges import PrivilegeError, chroot, shedPrivileges

    def status():
        with open("/proc/self/status") as lines:
            return [line.split(":")[0] + ":" + " ".join(line.split()[1:])
                    for line in lines if line.split(":")[0] in ("Uid", "Gid", "Groups")]

    def regain():
        try:
            os.setuid(0)
        except PermissionError:
            return "regain refused"
        return "regain allowed"
    """
)


def runAs(code):
    """Run REPORT + code in a child; return its stdout lines (it must exit 0)."""
    done = subprocess.run(
        [sys.executable, "-c", REPORT + textwrap.dedent(code)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=ROOT),
        cwd=ROOT,
        timeout=20,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout.splitlines()


def test_resolveNamesAndNumbers():
    assert resolveUser("root") == 0
    assert resolveUser("0") == 0
    assert resolveUser(65534) == 65534
    assert resolveUser("4242") == 4242  # numbers need no passwd entry
    assert resolveGroup("root") == 0
    assert resolveGroup("12") == 12


def test_unknownUserAndGroupAreClearErrors():
    with pytest.raises(PrivilegeError, match=r"^unknown user 'no-such-user-x'$"):
        resolveUser("no-such-user-x")
    with pytest.raises(PrivilegeError, match=r"^unknown group 'no-such-group-x'$"):
        resolveGroup("no-such-group-x")
    with pytest.raises(PrivilegeError, match="unknown user '-1'"):
        resolveUser("-1")


def test_primaryGroup():
    assert primaryGroup(0) == 0
    assert primaryGroup(4242424) is None


def test_describeCredentialsLikeId():
    description = describeCredentials()
    assert description.startswith("running as uid=%d" % os.getuid())
    assert " groups=" in description


@needsRoot
def test_shedToNobodyForGood():
    lines = runAs(
        """
        print(shedPrivileges(uid=65534))
        print(*status(), sep="\\n")
        print(regain())
        """
    )
    assert lines == [
        "running as uid=65534(nobody) gid=65534(nogroup) groups=65534(nogroup)",
        "Uid:65534 65534 65534 65534",
        "Gid:65534 65534 65534 65534",
        "Groups:65534",
        "regain refused",
    ]


def refuse(ignored):
    raise PermissionError(1, "Operation not permitted")


@pytest.mark.parametrize(
    "allowed, what",
    [
        ("setuid", "root"),
        ("seteuid", "root"),
        ("setgid", "group root"),
        ("setegid", "group root"),
    ],
)
def test_verifyRootIsGoneFailsWhenAnyIdComesBack(monkeypatch, allowed, what):
    # Every way back to uid 0 or gid 0 is tried; one that works is an error.
    from services.loomd import privileges

    regained = []
    for name in ("setuid", "seteuid", "setgid", "setegid"):
        monkeypatch.setattr(os, name, refuse)
    monkeypatch.setattr(os, allowed, regained.append)
    with pytest.raises(PrivilegeError) as error:
        privileges._verifyRootIsGone(65534)
    assert str(error.value) == "privileges were not shed: %s could be regained" % (what,)
    assert regained == [0]


def test_verifyRootIsGonePassesWhenEveryWayBackIsRefused(monkeypatch):
    from services.loomd import privileges

    tried = []

    def record(name):
        def attempt(number):
            tried.append((name, number))
            refuse(number)

        return attempt

    for name in ("setuid", "seteuid", "setgid", "setegid"):
        monkeypatch.setattr(os, name, record(name))
    privileges._verifyRootIsGone(65534)
    assert tried == [("setuid", 0), ("seteuid", 0), ("setgid", 0), ("setegid", 0)]


@needsRoot
def test_shedToAUserInGroupRoot():
    # Group 0 asked for: keeping it is not "regaining" it.
    lines = runAs(
        """
        print(shedPrivileges(uid=65534, gid=0).split()[3])
        print(regain())
        """
    )
    assert lines == ["gid=0(root)", "regain refused"]


@needsRoot
def test_groupOnlyClearsSupplementaryGroups():
    lines = runAs(
        """
        os.setgroups([0, 1, 2])
        print(shedPrivileges(gid=65534))
        print(*status(), sep="\\n")
        """
    )
    assert lines == [
        "running as uid=0(root) gid=65534(nogroup) groups=",
        "Uid:0 0 0 0",
        "Gid:65534 65534 65534 65534",
        "Groups:",
    ]


@needsRoot
def test_uidWithoutPasswdEntryGetsOnlyItsGroup():
    lines = runAs(
        """
        print(shedPrivileges(uid=4242, gid=4343))
        print(*status(), sep="\\n")
        """
    )
    assert lines == [
        "running as uid=4242 gid=4343 groups=4343",
        "Uid:4242 4242 4242 4242",
        "Gid:4343 4343 4343 4343",
        "Groups:4343",
    ]


@needsRoot
def test_euidKeepsRealRoot():
    lines = runAs(
        """
        print(shedPrivileges(uid=65534, gid=65534, euid=True))
        print(*status(), sep="\\n")
        os.seteuid(0)
        print("effective again", os.geteuid())
        """
    )
    assert lines == [
        "running as uid=0(root) gid=0(root) euid=65534(nobody) egid=65534(nogroup)"
        " groups=65534(nogroup)",
        "Uid:0 65534 0 65534",
        "Gid:0 65534 0 65534",
        "Groups:65534",
        "effective again 0",
    ]


@needsRoot
def test_refusedSwitchIsAClearError():
    lines = runAs(
        """
        shedPrivileges(uid=65534)
        try:
            shedPrivileges(uid=0)
        except PrivilegeError as error:
            print(error)
        """
    )
    assert lines == ["cannot set the supplementary groups: Operation not permitted"]


@needsRoot
def test_chrootChangesTheRoot(tmp_path):
    (tmp_path / "inside").mkdir()
    lines = runAs(
        """
        chroot(sys.argv[1] if len(sys.argv) > 1 else %r)
        print(os.getcwd(), sorted(os.listdir("/")))
        """
        % (str(tmp_path),)
    )
    assert lines == ["/ ['inside']"]


@needsRoot
def test_chrootAfterSheddingNeedsRoot():
    lines = runAs(
        """
        shedPrivileges(uid=65534)
        try:
            chroot("/")
        except PrivilegeError as error:
            print(error)
        """
    )
    assert lines == [
        "cannot chroot to /: Operation not permitted (chroot needs root or CAP_SYS_CHROOT)"
    ]


def test_chrootToAMissingDirectory(tmp_path):
    # The kernel looks the path up before it checks the capability, so this
    # reads the same for root and for everyone else.
    with pytest.raises(PrivilegeError) as caught:
        chroot(str(tmp_path / "missing"))
    expected = "cannot chroot to %s: No such file or directory" % (tmp_path / "missing",)
    assert str(caught.value) == expected
