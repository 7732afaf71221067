"""
doc/remote.md's examples, run as a reader would (each script in a fresh
interpreter), and its password file line read by the code.
"""

import os
import re
import select
import subprocess
import sys
import textwrap

import pytest

from protocols.cred.passwordfile import parsePasswordFile
from tests.services.loomd_helpers import REPO, loomdEnvironment

GUIDE = os.path.join(REPO, "doc", "remote.md")

pytestmark = pytest.mark.timeout(60)


def guide():
    with open(GUIDE) as file:
        return file.read()


def script(start):
    """The python block of the guide that holds start."""
    [found] = [
        text
        for text in re.findall(r"^```python\n(.*?)^```$", guide(), re.S | re.M)
        if start in text
    ]
    return found


def run(tmp_path, text):
    path = tmp_path / "example.py"
    path.write_text(text)
    finished = subprocess.run(
        [sys.executable, str(path)], capture_output=True, timeout=40, env=loomdEnvironment()
    )
    assert finished.returncode == 0, finished.stderr.decode()
    return finished.stdout.decode().splitlines()


def test_credExample(tmp_path):
    """The portal example logs alice in and out, then refuses a guess."""
    lines = run(tmp_path, script("class GreeterRealm"))
    assert lines == ["hello, alice", "logged out", "refused, 0.2 seconds later"]


def test_promiseExample(tmp_path):
    """The promise example prints what the guide says it prints, in that order."""
    lines = run(tmp_path, script("resolveStatus"))
    assert lines == [
        "first",
        "second: eventually runs after its caller",
        "linux build -1: success",
        "broken: the master went away",
    ]


def test_pipeliningExample(tmp_path):
    """The pipelining example's chain answers, and a message to a copy runs on the copy."""
    lines = run(tmp_path, script("class RemoteSummary"))
    assert lines == ["linux build -1: success", "1 builder(s): linux"]


def test_passwordLineIsValid():
    """The guide's sample line is one FilePasswordDB reads (the password is sesame)."""
    [line] = [line.strip() for line in guide().splitlines() if line.strip().startswith("alice:$")]
    users = parsePasswordFile(line).users
    assert users[b"alice"].verify(b"sesame")


def test_pbServerAndClientExample(tmp_path):
    """The calculator server, on a port of its choosing, answers the client as the guide says."""
    serverPath = tmp_path / "calc_server.py"
    serverPath.write_text(script("class Calculator"))
    server = subprocess.Popen(
        [sys.executable, str(serverPath), "0"],
        stdout=subprocess.PIPE,
        env=loomdEnvironment(),
        text=True,
    )
    try:
        ready, _, _ = select.select([server.stdout], [], [], 30)
        line = server.stdout.readline() if ready else ""
        found = re.fullmatch(r"listening on port (\d+)\n", line)
        assert found, line
        clientPath = tmp_path / "calc_client.py"
        clientPath.write_text(script("def compute(root)"))
        finished = subprocess.run(
            [sys.executable, str(clientPath), found.group(1)],
            capture_output=True,
            timeout=40,
            env=loomdEnvironment(),
        )
    finally:
        server.kill()
        server.wait(timeout=10)
    assert finished.returncode == 0, finished.stderr.decode()
    assert finished.stdout.decode().splitlines() == ["1 + 2 = 3", "3 / 0: ZeroDivisionError"]


def test_copyableTagExample(tmp_path):
    """A Job sent by the guide's sender arrives as the RemoteJob registered for its tag."""
    text = script('return b"myapp.Job"') + textwrap.dedent(
        """
        from reactor.testing import connectedPair


        class Jobs(pb.Root):
            def remote_next(self):
                return Job()


        clientFactory = pb.PBClientFactory()
        server = pb.PBServerFactory(Jobs()).buildProtocol(None)
        pump = connectedPair(server, clientFactory.buildProtocol(None))
        results = []
        root = clientFactory.getRootObject()
        root.addCallback(lambda root: root.callRemote("next")).addBoth(results.append)
        pump.flush()
        print(type(results[0]).__name__)
        """
    )
    assert run(tmp_path, text) == ["RemoteJob"]
