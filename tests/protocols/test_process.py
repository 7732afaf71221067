"""
Tests for protocols.process: real children, run with spawnProcess and read
from the reactor's loop.
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
from reactor import _reaper
from reactor.defer import CancelledError
from reactor.pytestplugin import runUntil
from tests.reactor.transport_helpers import spin

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


def test_getProcessValueGivesTheNegatedSignal(defaultReactor):
    d = getProcessValue("/bin/sh", ["-c", "kill -KILL $$"], reactor=defaultReactor)
    assert runUntil(defaultReactor, d, timeout=20) == -9


def test_getProcessOutputAndValueForAMissingProgramFails(defaultReactor):
    d = getProcessOutputAndValue("/nonexistent/program", reactor=defaultReactor)
    with pytest.raises(FileNotFoundError) as info:
        runUntil(defaultReactor, d, timeout=20)
    assert info.value.filename == "/nonexistent/program"


def test_getProcessValueForANonExecutableProgramFails(defaultReactor, tmp_path):
    program = tmp_path / "program"
    program.write_text("#!/bin/sh\n")
    program.chmod(0o644)
    d = getProcessValue(str(program), reactor=defaultReactor)
    with pytest.raises(PermissionError):
        runUntil(defaultReactor, d, timeout=20)


def test_bareNameIsFoundInTheDefaultPath(defaultReactor):
    # With the empty environment, /bin:/usr/bin is searched.
    d = getProcessOutput("echo", ["found"], reactor=defaultReactor)
    assert runUntil(defaultReactor, d, timeout=20) == b"found\n"


def test_standardInputIsDevNull(defaultReactor):
    d = getProcessOutput("/bin/cat", reactor=defaultReactor)
    assert runUntil(defaultReactor, d, timeout=20) == b""


def test_errortooKeepsTheOrderOfALongInterleaving(defaultReactor):
    # One pipe for both: the order the child wrote in, whatever the loop's.
    script = "for i in 1 2 3 4 5 6 7 8; do echo out$i; echo err$i >&2; done"
    d = getProcessOutput("/bin/sh", ["-c", script], reactor=defaultReactor, errortoo=True)
    expected = b"".join(b"out%d\nerr%d\n" % (i, i) for i in range(1, 9))
    assert runUntil(defaultReactor, d, timeout=20) == expected


def test_manyChildrenAtOnceUseNoThread(defaultReactor):
    ds = [
        getProcessOutputAndValue(
            "/bin/sh", ["-c", "echo %d; exit %d" % (i, i % 3)], reactor=defaultReactor
        )
        for i in range(30)
    ]
    results = [runUntil(defaultReactor, d, timeout=30) for d in ds]
    assert results == [(b"%d\n" % (i,), b"", i % 3) for i in range(30)]
    assert defaultReactor.threadpool is None, "no pool thread was needed"


def test_timeoutKillsAndReportsWhatWasRead(defaultReactor):
    d = getProcessOutput(
        "/bin/sh", ["-c", "echo started; exec sleep 30"], reactor=defaultReactor, timeout=0.3
    )
    with pytest.raises(subprocess.TimeoutExpired) as info:
        runUntil(defaultReactor, d, timeout=20)
    assert info.value.output == b"started\n"
    assert info.value.timeout == 0.3


def test_cancellingKillsTheChild(defaultReactor):
    d = getProcessValue("/bin/sleep", ["30"], reactor=defaultReactor)
    d.cancel()
    with pytest.raises(CancelledError):
        runUntil(defaultReactor, d, timeout=20)
    # The killed child is reaped on a later turn (a child still running
    # would fail the dirty-reactor check).
    spin(defaultReactor, lambda: not _reaper.children, what="the child reaped")


def test_badArgumentFailsTheDeferred(defaultReactor):
    d = getProcessOutput("/bin/echo", [3], reactor=defaultReactor)
    with pytest.raises(TypeError):
        runUntil(defaultReactor, d, timeout=20)
