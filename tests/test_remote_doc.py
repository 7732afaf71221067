"""
doc/remote.md's examples, run as a reader would (each script in a fresh
interpreter), and its password file line read by the code.
"""

import os
import re
import subprocess
import sys

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
    """The pipelining example's chain answers, and a message to an int is refused."""
    lines = run(tmp_path, script("builderCount"))
    assert lines == [
        "linux build -1: success",
        "PipelineError: the answer is an int, not a Referenceable",
    ]


def test_passwordLineIsValid():
    """The guide's sample line is one FilePasswordDB reads (the password is sesame)."""
    [line] = [line.strip() for line in guide().splitlines() if line.strip().startswith("alice:$")]
    users = parsePasswordFile(line).users
    assert users[b"alice"].verify(b"sesame")
