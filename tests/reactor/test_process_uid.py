"""
spawnProcess's uid and gid, as root, on every reactor: the child runs as
that user, in that group, with that user's supplementary groups.

The children are coreutils (``id``): this project's Python lives where
``nobody`` cannot read it.
"""

import errno
import grp
import os
import pwd

import pytest

from reactor.error import ProcessDone, ProcessExecError
from tests.reactor.processhelpers import run

pytestmark = [
    pytest.mark.timeout(60),
    pytest.mark.skipif(os.geteuid() != 0, reason="switching user needs root"),
]


def _userWithSupplementaryGroups():
    # A user some group lists as a member (so the supplementary groups show
    # in the child), else nobody.
    for group in grp.getgrall():
        for member in group.gr_mem:
            try:
                return pwd.getpwnam(member)
            except KeyError:
                continue
    return pwd.getpwnam("nobody")


def _id(reactor, *options, **spawnArguments):
    protocol, _ = run(reactor, "/usr/bin/id", ["id", *options], env={}, path="/", **spawnArguments)
    assert protocol.ended.check(ProcessDone), protocol.output(2)
    return protocol.output()


def test_uidRunsAsThatUserWithItsGroups(reactor):
    user = _userWithSupplementaryGroups()
    assert _id(reactor, "-u", uid=user.pw_uid) == b"%d\n" % (user.pw_uid,)
    assert _id(reactor, "-g", uid=user.pw_uid) == b"%d\n" % (user.pw_gid,), "the user's group"
    groups = sorted(int(group) for group in _id(reactor, "-G", uid=user.pw_uid).split())
    # Root's own supplementary groups are gone, the user's are there.
    assert groups == sorted(os.getgrouplist(user.pw_name, user.pw_gid))


def test_gidGivenWithUid(reactor):
    nobody = pwd.getpwnam("nobody")
    assert _id(reactor, "-u", uid=nobody.pw_uid, gid=0) == b"%d\n" % (nobody.pw_uid,)
    assert _id(reactor, "-g", uid=nobody.pw_uid, gid=0) == b"0\n"


def test_gidAloneKeepsTheUser(reactor):
    nobody = pwd.getpwnam("nobody")
    assert _id(reactor, "-u", gid=nobody.pw_gid) == b"0\n"
    assert _id(reactor, "-g", gid=nobody.pw_gid) == b"%d\n" % (nobody.pw_gid,)


def test_programTheUserCannotRunEndsWithAFailure(reactor, tmp_path):
    # The switch happens before the exec: a program in a directory only
    # root may enter cannot be run as nobody, and the child says so.
    private = tmp_path / "private"
    private.mkdir(mode=0o700)
    program = private / "program"
    program.write_text("#!/bin/sh\necho ran\n")
    program.chmod(0o755)
    nobody = pwd.getpwnam("nobody")
    protocol, _ = run(reactor, str(program), ["program"], env={}, path="/", uid=nobody.pw_uid)
    error = protocol.ended.value
    assert isinstance(error, ProcessExecError)
    assert (error.errno, error.filename, error.step) == (errno.EACCES, str(program), "exec")
    protocol, _ = run(reactor, str(program), ["program"], env={}, path="/")
    assert protocol.output() == b"ran\n", "root can"
