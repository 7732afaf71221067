"""
loomd takes the ids to run as from IProcess(application), as twistd does.

A .tac whose root adapts to IProcess without carrying uid/gid attributes of
its own (a replaced component, a Componentized-style root) must be obeyed;
-u/-g still win.
"""

import os
import signal

from zope.interface import implementer

from services.loomd import launcher
from services.service import IProcess, MultiService, Process
from tests.services.loomd_helpers import (
    alive,
    loomdFixture,  # noqa: F401 - the loomd fixture
    needRoot,
    procStatus,
    tacFile,
    waitFor,
)

NOBODY = 65534


class AdaptingRoot(MultiService):
    """A root with no uid/gid of its own that adapts to a Process."""

    def __init__(self, process):
        MultiService.__init__(self)
        self._process = process

    def __conform__(self, interface):
        return self._process if interface is IProcess else None


def credentials(application, uid=None, gid=None):
    return launcher.credentials({"uid": uid, "gid": gid}, application)


def test_credentialsComeFromIProcess():
    assert credentials(AdaptingRoot(Process(uid=NOBODY, gid=NOBODY))) == (NOBODY, NOBODY)


def test_commandLineIdsWinOverIProcess():
    root = AdaptingRoot(Process(uid=NOBODY, gid=NOBODY))
    assert credentials(root, uid="0", gid="0") == (0, 0)


def test_rootWithoutIProcessLeavesTheIdsAlone():
    assert credentials(MultiService()) == (None, None)


@implementer(IProcess)
class Bare:
    """An IProcess provider declaring nothing but what it must."""

    processName = uid = gid = None


def test_processWithoutIdsLeavesTheIdsAlone():
    assert credentials(AdaptingRoot(Bare())) == (None, None)


def test_replacedProcessComponentIsObeyedByLoomd(loomd, tmp_path):
    needRoot()
    tac = tacFile(
        tmp_path,
        """
        from services.service import IProcess, Process
        application.setComponent(IProcess, Process(uid=65534, gid=65534))
        """,
    )
    pid = loomd.daemon(tac)
    try:
        assert procStatus(pid)["Uid"].split() == [str(NOBODY)] * 4
        assert procStatus(pid)["Gid"].split() == [str(NOBODY)] * 4
    finally:
        os.kill(pid, signal.SIGTERM)
        waitFor(lambda: not alive(pid), what="the daemon to exit")
