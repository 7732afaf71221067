"""
doc/processes.md's examples, run as a reader would: the child started with
spawnProcess, upper.py on StandardIO fed through a pipe, worker.tac under a
real ``loomd``, and the procmon configuration file read by the plugin.
"""

import os
import re
import signal
import subprocess
import sys

import pytest

from services.plugins_builtin import procmon
from tests.services.loomd_helpers import (
    REPO,
    loomdEnvironment,
    loomdFixture,  # noqa: F401 - the loomd fixture
    readLog,
    wait,
    waitFor,
)

GUIDE = os.path.join(REPO, "doc", "processes.md")

pytestmark = pytest.mark.timeout(60)


def blocks(language):
    with open(GUIDE) as guide:
        return re.findall(r"^```%s\n(.*?)^```$" % (language,), guide.read(), re.S | re.M)


def block(language, start):
    [found] = [text for text in blocks(language) if text.startswith(start)]
    return found


def runScript(tmp_path, text, stdin=b""):
    script = tmp_path / "example.py"
    script.write_text(text)
    return subprocess.run(
        [sys.executable, str(script)],
        input=stdin,
        capture_output=True,
        timeout=40,
        env=loomdEnvironment(),
    )


def test_everyExampleIsRunHere():
    assert len(blocks("python")) == 3 and len(blocks("ini")) == 1


def test_theSpawnedGrep(tmp_path):
    done = runScript(tmp_path, block("python", "from protocols.protocol import ProcessProtocol"))
    assert done.returncode == 0, done.stderr
    assert done.stdout.decode() == (
        "matched: b'banana\\n'\ngrep ended: A process has ended without apparent errors: "
        "process finished with exit code 0.\n"
    )


def test_upperOnStandardIO(tmp_path):
    done = runScript(tmp_path, block("python", "# upper.py"), stdin=b"one\ntwo\n")
    assert done.returncode == 0, done.stderr
    assert done.stdout == b"ONE\nTWO\n"
    with open(GUIDE) as guide:
        assert "    $ printf 'one\\ntwo\\n' | python upper.py\n    ONE\n    TWO\n" in guide.read()


def test_workerTacUnderLoomd(loomd, tmp_path):
    tac = tmp_path / "worker.tac"
    tac.write_text(block("python", "# worker.tac"))
    process = loomd.spawn("-n", "--pidfile", "", "-l", loomd.logfile, "-y", str(tac))
    waitFor(
        lambda: "[worker] hello from the worker" in readLog(loomd.logfile),
        20,
        "the worker's line",
        lambda: readLog(loomd.logfile),
    )
    process.send_signal(signal.SIGTERM)
    code, _, err = wait(process, timeout=20)
    assert code == 0, err
    assert "process worker was killed by signal 15" in readLog(loomd.logfile)


def test_theConfigurationFile(tmp_path):
    text = block("ini", "# /etc/loom/procmon.ini").replace("/srv/www", str(tmp_path))
    path = tmp_path / "procmon.ini"
    path.write_text(text)
    options = procmon.Options()
    options.parseOptions(["--config", str(path)])
    web, ticker = options["programs"]
    assert web["args"] == ["python3", "-m", "http.server", "8000", "--bind", "127.0.0.1"]
    assert web["cwd"] == str(tmp_path) and web["uid"] is not None
    assert web["env"]["PYTHONUNBUFFERED"] == "1"
    assert ticker["args"] == ["sh", "-c", "while sleep 60; do echo tick; done"]
