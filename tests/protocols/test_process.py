"""
Tests for protocols.process: real children run from the reactor's thread pool.
"""

import os
import subprocess
import sys

import pytest

from protocols.process import (
    UnexpectedErrorOutput,
    getProcessOutput,
    getProcessOutputAndValue,
    getProcessValue,
)
from reactor.pytestplugin import runUntil

PYTHON = sys.executable


def test_getProcessOutputFiresWithStandardOutput(defaultReactor):
    d = getProcessOutput(PYTHON, ["-c", "print('hello'); print('world')"], reactor=defaultReactor)
    assert runUntil(defaultReactor, d, timeout=20) == b"hello\nworld\n"


def test_getProcessOutputGivesAnEmptyEnvironmentByDefault(defaultReactor):
    code = "import os, sys; sys.stdout.write(repr(sorted(os.environ)))"
    d = getProcessOutput(PYTHON, ["-c", code], reactor=defaultReactor)
    names = eval(runUntil(defaultReactor, d, timeout=20))
    # The interpreter may add LC_CTYPE on its own; nothing from our environment.
    assert "PATH" not in names and "HOME" not in names


def test_getProcessOutputPassesEnvironmentAndDirectory(defaultReactor, tmp_path):
    code = "import os, sys; sys.stdout.write(os.environ['GREETING'] + ' ' + os.getcwd())"
    d = getProcessOutput(
        PYTHON, ["-c", code], env={"GREETING": "hi"}, path=str(tmp_path), reactor=defaultReactor
    )
    assert runUntil(defaultReactor, d, timeout=20) == ("hi " + os.path.realpath(tmp_path)).encode()


def test_getProcessOutputFailsOnErrorOutput(defaultReactor):
    code = "import sys; sys.stdout.write('out'); sys.stderr.write('oops')"
    d = getProcessOutput(PYTHON, ["-c", code], reactor=defaultReactor)
    with pytest.raises(UnexpectedErrorOutput) as info:
        runUntil(defaultReactor, d, timeout=20)
    assert info.value.errorOutput == b"oops"
    assert info.value.output == b"out"


def test_getProcessOutputErrortooMergesErrorOutput(defaultReactor):
    code = "import sys; sys.stderr.write('oops'); sys.stderr.flush(); sys.stdout.write('out')"
    d = getProcessOutput(PYTHON, ["-c", code], reactor=defaultReactor, errortoo=True)
    assert runUntil(defaultReactor, d, timeout=20) == b"oopsout"


def test_getProcessOutputKillsChildAfterTimeout(defaultReactor):
    d = getProcessOutput(
        PYTHON, ["-c", "import time; time.sleep(30)"], reactor=defaultReactor, timeout=0.2
    )
    with pytest.raises(subprocess.TimeoutExpired):
        runUntil(defaultReactor, d, timeout=20)


def test_getProcessOutputFailsForMissingExecutable(defaultReactor):
    d = getProcessOutput("/nonexistent/program", reactor=defaultReactor)
    with pytest.raises(FileNotFoundError):
        runUntil(defaultReactor, d, timeout=20)


def test_getProcessValueFiresWithExitStatus(defaultReactor):
    d = getProcessValue(PYTHON, ["-c", "raise SystemExit(3)"], reactor=defaultReactor)
    assert runUntil(defaultReactor, d, timeout=20) == 3


def test_getProcessOutputAndValueFiresWithAllThree(defaultReactor):
    code = "import sys; sys.stdout.write('a'); sys.stderr.write('b'); raise SystemExit(2)"
    d = getProcessOutputAndValue(PYTHON, ["-c", code], reactor=defaultReactor)
    assert runUntil(defaultReactor, d, timeout=20) == (b"a", b"b", 2)
