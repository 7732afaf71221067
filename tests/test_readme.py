"""
The README's examples, run as a reader would run them.

Every ```python block is run: the echo server in a process of its own, the
client against it, the .tac through the README's own ``loomd`` command
lines (each one of them, with /run and /var/log moved into the test's
directory), all on a loopback port the test chooses in place of the
README's 8000, every wait bounded.  And each block imports nothing it does
not use (read with ast), so a reader copying one gets no dead line.
"""

import ast
import importlib.util
import os
import re
import shlex
import signal
import socket
import subprocess
import sys
import time

import pytest

REPO = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
README = os.path.join(REPO, "README.md")
LOOMD = [sys.executable, os.path.join(REPO, "bin", "loomd")]
PORT = "8000"


def pythonBlocks():
    """The text of each ```python block of the README."""
    with open(README) as readme:
        return re.findall(r"^```python\n(.*?)^```$", readme.read(), re.S | re.M)


def loomdCommands():
    """Each ``loomd ...`` line of the README's indented blocks, as argv (comments dropped)."""
    with open(README) as readme:
        lines = re.findall(r"^    (loomd .*)$", readme.read(), re.M)
    return [shlex.split(line, comments=True) for line in lines]


def example(kind):
    """The one block of a kind: the server, the client, the .tac."""
    marks = {"server": "reactor.run()", "client": "react(", "tac": "# echo.tac"}
    [block] = [block for block in pythonBlocks() if marks[kind] in block]
    return block


def test_everyExampleIsOneThisTestRuns():
    kinds = [example(kind) for kind in ("server", "client", "tac")]
    assert sorted(kinds) == sorted(pythonBlocks())


def importedNames(tree):
    for node in ast.walk(tree):
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            for alias in node.names:
                yield alias.asname or alias.name.split(".")[0]


def test_examplesImportNothingTheyDoNotUse():
    for block in pythonBlocks():
        tree = ast.parse(block)
        used = {node.id for node in ast.walk(tree) if isinstance(node, ast.Name)}
        unused = [name for name in importedNames(tree) if name not in used]
        assert unused == [], block


def freePort():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def onPort(block, port):
    assert PORT in block
    return block.replace(PORT, str(port))


def environment():
    return dict(os.environ, PYTHONPATH=REPO)


def waitForPort(port, process=None, timeout=10.0):
    """Wait until 127.0.0.1:port accepts; fail if process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        assert process is None or process.poll() is None, process.communicate()
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.02)
    pytest.fail("nothing listened on port %d within %ss" % (port, timeout))


def echoed(port, data=b"hello readme"):
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(data)
        received = b""
        while len(received) < len(data):
            chunk = client.recv(1024)
            if not chunk:
                break
            received += chunk
        return received


def stopped(process):
    process.send_signal(signal.SIGTERM)
    out, err = process.communicate(timeout=10)
    return process.returncode, out, err


@pytest.fixture
def serverProcess(tmp_path):
    """The README's echo server, running on a port of the test's; yields the port."""
    port = freePort()
    script = tmp_path / "server.py"
    script.write_text(onPort(example("server"), port))
    process = subprocess.Popen(
        [sys.executable, str(script)], env=environment(), stdout=subprocess.PIPE, text=True
    )
    try:
        waitForPort(port, process)
        yield port
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=10)


@pytest.mark.timeout(60)
def test_echoServerAndClientTalk(tmp_path, serverProcess):
    assert echoed(serverProcess) == b"hello readme"
    script = tmp_path / "client.py"
    script.write_text(onPort(example("client"), serverProcess))
    client = subprocess.run(
        [sys.executable, str(script)], env=environment(), capture_output=True, text=True, timeout=20
    )
    assert (client.returncode, client.stdout) == (0, "b'hello'\n"), client.stderr


def readmeCommand(argv, tmp_path):
    """A README command line for this test: its paths in tmp_path, run by this Python."""
    assert argv[0] == "loomd"
    moved = [re.sub(r"^/(run|var/log)/", str(tmp_path) + "/", word) for word in argv[1:]]
    return LOOMD + moved


def runCommand(argv, tmp_path):
    return subprocess.run(
        readmeCommand(argv, tmp_path),
        cwd=str(tmp_path),
        env=environment(),
        capture_output=True,
        text=True,
        timeout=20,
    )


@pytest.fixture
def tacDirectory(tmp_path):
    """tmp_path holding the README's echo.tac on a port of the test's; yields the port."""
    port = freePort()
    (tmp_path / "echo.tac").write_text(onPort(example("tac"), port))
    return port


@pytest.mark.timeout(60)
def test_tacRunsInTheForeground(tmp_path, tacDirectory):
    [foreground] = [argv for argv in loomdCommands() if "-n" in argv]
    process = subprocess.Popen(
        readmeCommand(foreground, tmp_path),
        cwd=str(tmp_path),
        env=environment(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        waitForPort(tacDirectory, process)
        assert echoed(tacDirectory) == b"hello readme"
    finally:
        code, out, err = stopped(process)
    assert code == 0, err
    assert "loomd ready" in out


@pytest.mark.timeout(60)
def killDaemon(pidfile):
    """Kill the daemon of pidfile if the README's --stop left it running."""
    try:
        pid = int(pidfile.read_text())
    except (OSError, ValueError):
        return
    try:
        os.kill(pid, signal.SIGKILL)
    except ProcessLookupError:
        pass


def test_daemonCommandsRunAsWritten(tmp_path, tacDirectory, request):
    if os.geteuid() != 0:
        pytest.skip("the README's daemon runs with -u nobody: needs root")
    commands = {argv[1]: argv for argv in loomdCommands() if "-n" not in argv}
    start = runCommand(commands["-y"], tmp_path)
    request.addfinalizer(lambda: killDaemon(tmp_path / "echo.pid"))
    assert start.returncode == 0, start.stderr
    # The two warnings the README announces: nobody cannot write either directory.
    warnings = start.stderr.splitlines()
    assert [line.split(" is not writable")[0] for line in warnings] == [
        "loomd: warning: pidfile directory %s" % (tmp_path,),
        "loomd: warning: log directory %s" % (tmp_path,),
    ]
    try:
        assert echoed(tacDirectory) == b"hello readme"
        status = runCommand(commands["--status"], tmp_path)
        assert status.returncode == 0 and "running (pid" in status.stdout
    finally:
        stop = runCommand(commands["--stop"], tmp_path)
    assert stop.returncode == 0 and "stopped (pid" in stop.stdout
    assert runCommand(commands["--status"], tmp_path).returncode == 3
    unit = runCommand(commands["--print-systemd-unit"], tmp_path)
    assert unit.returncode == 0, unit.stderr
    assert "\nDescription=echo (Loom application)\n" in unit.stdout
    assert " -y %s" % (tmp_path / "echo.tac",) in unit.stdout


def whatIsThere():
    """The two paragraphs of "What is there, and what is not yet": (has, lacks)."""
    with open(README) as readme:
        text = readme.read()
    section = text.split("## What is there, and what is not yet\n", 1)[1].split("\n## ", 1)[0]
    has, lacks = section.strip().split("\n\n")[:2]
    return has, lacks


def dottedNames(paragraph):
    return re.findall(r"`((?:reactor|protocols|services)\.\w+)`", paragraph)


def test_whatIsThereIsTrueAndLinksThePortingGuide():
    # A module said to be missing that lands (or one said to be there that
    # goes) fails this test until the README says so.
    has, lacks = whatIsThere()
    # What is missing may be no module at all (loomd's workers, pipelining
    # over PB): only what is there must name modules.
    assert dottedNames(has)
    for name in dottedNames(has):
        assert importlib.util.find_spec(name) is not None, name
    for name in dottedNames(lacks):
        assert importlib.util.find_spec(name) is None, name
    assert "[doc/porting.md](doc/porting.md)" in lacks
