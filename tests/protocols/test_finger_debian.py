"""
The finger server answers the Debian ``finger`` client.

That client always connects to the finger port, 79, so the server must
listen there: the test needs root (it skips otherwise, or when 127.0.0.1:79
is taken).  If the client is missing, a root test run tries ``apt-get
install -y finger`` once, bounded by 60 seconds, and skips with the reason
if that fails.
"""

import os
import shutil
import subprocess

import pytest

from protocols.finger import FingerService
from protocols.process import getProcessOutput
from reactor import defer
from reactor.error import CannotListenError
from reactor.pytestplugin import runUntil

FINGER_PORT = 79


def _isRoot():
    return hasattr(os, "geteuid") and os.geteuid() == 0


def findFingerClient():
    """Return the finger client's path, installing it if root can; else skip."""
    path = shutil.which("finger")
    if path:
        return path
    if not _isRoot():
        pytest.skip("the finger client is not installed and installing it needs root")
    if not shutil.which("apt-get"):
        pytest.skip("the finger client is not installed and there is no apt-get")
    environment = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    try:
        result = subprocess.run(
            ["apt-get", "install", "-y", "-q", "finger"],
            capture_output=True,
            text=True,
            timeout=60,
            env=environment,
            check=False,
        )
    except (OSError, subprocess.TimeoutExpired) as error:
        pytest.skip("apt-get install finger failed: %s" % (error,))
    path = shutil.which("finger")
    if result.returncode != 0 or not path:
        reason = (result.stderr or result.stdout).strip().splitlines()[-1:] or ["no output"]
        pytest.skip("apt-get install finger failed (%d): %s" % (result.returncode, reason[0]))
    return path


@pytest.fixture
def fingerClient():
    """The Debian finger client's path (skips when it cannot be had)."""
    if not _isRoot():
        pytest.skip("the finger client only talks to port 79, which needs root")
    return findFingerClient()


def listenOnFingerPort(reactor, factory):
    try:
        return reactor.listenTCP(FINGER_PORT, factory, interface="127.0.0.1")
    except CannotListenError as error:
        pytest.skip("cannot listen on 127.0.0.1:79: %s" % (error,))


def runClient(reactor, client, *args):
    # The client runs in a pool thread while this reactor serves it.
    environment = {"PATH": os.defpath, "LANG": "C"}
    d = getProcessOutput(client, args, env=environment, reactor=reactor, errortoo=True, timeout=20)
    return runUntil(reactor, d, timeout=30).decode("utf-8", "replace")


def test_debianFingerClientShowsUserInfo(defaultReactor, fingerClient):
    service = FingerService({"alice": "Alice Liddell\nDown the rabbit hole"})
    port = listenOnFingerPort(defaultReactor, service.getFingerFactory())
    try:
        output = runClient(defaultReactor, fingerClient, "alice@127.0.0.1")
        assert "Alice Liddell" in output
        assert "Down the rabbit hole" in output
        output = runClient(defaultReactor, fingerClient, "-l", "bob@127.0.0.1")
        assert "No such user" in output
    finally:
        runUntil(defaultReactor, defer.maybeDeferred(port.stopListening))
