"""
The finger tutorial's programs in doc/examples/finger/, each run as a child
process on a port of its own and queried; and the .tac files, loaded with
services.service.loadApplication and started on a test reactor.
"""

import os
import pathlib
import select
import shlex
import signal
import socket
import subprocess
import sys
import time

import pytest

from protocols.finger import query
from reactor import defer
from reactor.error import ConnectionRefusedError
from reactor.pytestplugin import runUntil

ROOT = pathlib.Path(__file__).resolve().parents[2]
EXAMPLES = ROOT / "doc" / "examples" / "finger"


class Program:
    """One example program running in a child process."""

    def __init__(self, name, *args):
        self.process = subprocess.Popen(
            [sys.executable, str(EXAMPLES / name), *map(str, args)],
            env=dict(os.environ, PYTHONPATH=str(ROOT)),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def firstLine(self, timeout=15):
        """Return the program's first line of output (failing after timeout)."""
        deadline = time.monotonic() + timeout
        line = b""
        stdout = self.process.stdout
        while not line.endswith(b"\n"):
            remaining = deadline - time.monotonic()
            ready, _, _ = select.select([stdout], [], [], max(0, remaining))
            if not ready:
                raise AssertionError("no output from %s in %ss" % (self.process.args, timeout))
            byte = os.read(stdout.fileno(), 1)
            if not byte:
                raise AssertionError("%s exited: %s" % (self.process.args, self.stop()))
            line += byte
        return line.decode()

    def port(self):
        """Read the 'listening on 127.0.0.1:PORT' line; return PORT."""
        line = self.firstLine()
        assert line.startswith("listening on 127.0.0.1:"), line
        return int(line.split(":")[1].split()[0])

    def stop(self):
        """Stop the program with SIGTERM; return its standard error."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        try:
            _, errors = self.process.communicate(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            _, errors = self.process.communicate(timeout=10)
        return errors.decode(errors="replace")


@pytest.fixture
def run():
    """Start example programs; stop them all after the test."""
    programs = []

    def start(name, *args):
        program = Program(name, *args)
        programs.append(program)
        return program

    yield start
    for program in programs:
        program.stop()


def ask(reactor, port, user):
    return runUntil(reactor, query("127.0.0.1", port, user, reactor, timeout=10), timeout=15)


def freePort():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_finger01RefusesConnections(defaultReactor, run):
    port = freePort()
    program = run("finger01.py", port)
    assert "nothing listens" in program.firstLine()
    with pytest.raises(ConnectionRefusedError):
        ask(defaultReactor, port, "alice")
    assert program.process.poll() is None  # the reactor is running


def test_finger02DropsConnections(run):
    port = run("finger02.py", 0).port()
    # Nothing is sent: a query written after the server's close could come
    # back as a reset instead of a clean end.
    with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
        assert sock.recv(100) == b""


def test_finger03ReadsLineThenDrops(defaultReactor, run):
    assert ask(defaultReactor, run("finger03.py", 0).port(), "alice") == b""


def test_finger04AnswersNoSuchUser(defaultReactor, run):
    port = run("finger04.py", 0).port()
    assert ask(defaultReactor, port, "alice") == b"No such user\r\n"


def test_finger05AnswersFromDict(defaultReactor, run):
    port = run("finger05.py", 0).port()
    assert ask(defaultReactor, port, "alice") == b"Happy and well\r\n"
    assert ask(defaultReactor, port, "zed") == b"No such user\r\n"


def test_finger06AnswersThroughDeferreds(defaultReactor, run):
    program = run("finger06.py", 0)
    port = program.port()
    assert ask(defaultReactor, port, "bob") == b"Out to lunch\r\n"
    assert ask(defaultReactor, port, "crash") == b"Internal error in server\r\n"
    assert "asked to crash" in program.stop()  # logged with its traceback


def test_finger07AnswersWithCommandOutput(defaultReactor, run):
    script = "import sys; print('plan of', sys.argv[1])"
    port = run("finger07.py", 0, sys.executable, "-c", script).port()
    assert ask(defaultReactor, port, "alice") == b"plan of alice\r\n"
    assert ask(defaultReactor, port, "-rf") == b"No such user\r\n"


def test_finger08ReloadsFileAndTakesSetter(defaultReactor, run, tmp_path):
    users = tmp_path / "users.txt"
    users.write_text("alice:Reading\n")
    program = run("finger08.py", 0, users, 0.05)
    line = program.firstLine()
    fingerPort, setterPort = [
        int(part.split(":")[1].rstrip(")"))
        for part in line.split()
        if part.startswith("127.0.0.1:")
    ]
    assert ask(defaultReactor, fingerPort, "alice") == b"Reading\r\n"
    users.write_text("alice:Writing\n")
    assert waitForAnswer(defaultReactor, fingerPort, "alice", b"Writing\r\n")
    with socket.create_connection(("127.0.0.1", setterPort), timeout=10) as sock:
        sock.sendall(b"bob\r\nSet by hand\r\n")
    assert waitForAnswer(defaultReactor, fingerPort, "bob", b"Set by hand\r\n")


def waitForAnswer(reactor, port, user, expected, timeout=10):
    """Query until the answer is expected (True) or timeout passes (False)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if ask(reactor, port, user) == expected:
            return True
        runUntil(reactor, deferLater(reactor, 0.05))
    return False


def deferLater(reactor, delay):
    d = defer.Deferred()
    reactor.callLater(delay, d.callback, None)
    return d


# -- the .tac files ----------------------------------------------------------------------

# Runs in a child process, so the global reactor the .tac's services use is
# never the test's: load the application, start it, say so, serve until
# SIGTERM, stop it, say so.
TAC_DRIVER = """
import sys
from reactor import log, reactor
from services.service import loadApplication

log.startLogging(sys.stderr)
application = loadApplication(sys.argv[1])

def started(result):
    print("started", flush=True)

def stop():
    d = application.stopService()
    d.addCallback(lambda result: print("stopped", flush=True))
    return d

def start():
    application.privilegedStartService()
    d = application.startService()
    d.addCallbacks(started, lambda failure: (log.err(failure), reactor.stop()))

reactor.addSystemEventTrigger("before", "shutdown", stop)
reactor.callWhenRunning(start)
reactor.run()
"""


class Tac(Program):
    """A .tac file loaded and started in a child process."""

    def __init__(self, path, **environment):
        self.process = subprocess.Popen(
            [sys.executable, "-c", TAC_DRIVER, str(path)],
            env=dict(os.environ, PYTHONPATH=str(ROOT), **environment),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
        )

    def stopped(self):
        """Stop it; return (standard output after "started", standard error)."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
        output, errors = self.process.communicate(timeout=15)
        return output.decode(), errors.decode(errors="replace")


def startTac(path, **environment):
    # The .tac files need services.internet.TCPServer; protocols/ is usable
    # without services/, so a tree without it skips rather than fails.
    pytest.importorskip("services.internet", reason="services.internet has not landed yet")
    tac = Tac(path, **environment)
    line = tac.firstLine()
    if line != "started\n":
        output, errors = tac.stopped()
        raise AssertionError("%s did not start: %r\n%s" % (path, line + output, errors))
    return tac


def test_finger09TacServesDict(defaultReactor):
    port = freePort()
    tac = startTac(EXAMPLES / "finger09.tac", LOOM_FINGER_PORT=str(port))
    try:
        assert ask(defaultReactor, port, "alice") == b"Happy and well\r\n"
        assert ask(defaultReactor, port, "zed") == b"No such user\r\n"
        assert ask(defaultReactor, port, "") == b"alice\r\nbob\r\n"
    finally:
        output, errors = tac.stopped()
    assert output == "stopped\n", errors


@pytest.mark.parametrize("name", ["finger10.tac", "finger.tac"])
def test_tacReloadsFileAndTakesSetter(defaultReactor, tmp_path, name):
    # finger10.tac, the step, and finger.tac, the summary, serve the same.
    users = tmp_path / "users.txt"
    users.write_text("alice:Reading\n")
    fingerPort, setterPort = freePort(), freePort()
    tac = startTac(
        EXAMPLES / name,
        LOOM_FINGER_PORT=str(fingerPort),
        LOOM_FINGER_SETTER_PORT=str(setterPort),
        LOOM_FINGER_USERS=str(users),
        LOOM_FINGER_INTERVAL="0.05",
    )
    try:
        assert ask(defaultReactor, fingerPort, "alice") == b"Reading\r\n"
        users.write_text("alice:Writing\nbob:Sleeping\n")
        assert waitForAnswer(defaultReactor, fingerPort, "bob", b"Sleeping\r\n")
        assert ask(defaultReactor, fingerPort, "alice") == b"Writing\r\n"
        # A status set by hand is answered before the file's line.
        with socket.create_connection(("127.0.0.1", setterPort), timeout=10) as sock:
            sock.sendall(b"alice\r\nOn holiday\r\n")
        assert waitForAnswer(defaultReactor, fingerPort, "alice", b"On holiday\r\n")
    finally:
        output, errors = tac.stopped()
    assert output == "stopped\n", errors


def test_finger11TacAnswersWithCommandOutput(defaultReactor):
    script = "import sys; print('plan of', sys.argv[1])"
    port = freePort()
    tac = startTac(
        EXAMPLES / "finger11.tac",
        LOOM_FINGER_PORT=str(port),
        LOOM_FINGER_COMMAND=shlex.join([sys.executable, "-c", script]),
    )
    try:
        assert ask(defaultReactor, port, "alice") == b"plan of alice\r\n"
        assert ask(defaultReactor, port, "-rf") == b"No such user\r\n"
    finally:
        output, errors = tac.stopped()
    assert output == "stopped\n", errors


@pytest.mark.skipif(not os.path.exists("/usr/bin/id"), reason="no /usr/bin/id")
def test_finger11TacRunsIdByDefault(defaultReactor):
    port = freePort()
    tac = startTac(EXAMPLES / "finger11.tac", LOOM_FINGER_PORT=str(port), LOOM_FINGER_COMMAND="")
    try:
        assert ask(defaultReactor, port, "root").startswith(b"uid=0(root) ")
    finally:
        output, errors = tac.stopped()
    assert output == "stopped\n", errors


def test_makeRunTacServesExampleUsers(defaultReactor):
    fingerPort, setterPort = freePort(), freePort()
    tac = startTac(
        ROOT / "doc" / "examples" / "finger.tac",
        LOOM_FINGER_PORT=str(fingerPort),
        LOOM_FINGER_SETTER_PORT=str(setterPort),
    )
    try:
        answer = ask(defaultReactor, fingerPort, "alice")
        assert answer.startswith(b"Alice Liddell") and answer.endswith(b"\r\n")
        assert ask(defaultReactor, fingerPort, "") == b"alice\r\nbob\r\ncarol\r\n"
    finally:
        output, errors = tac.stopped()
    assert output == "stopped\n", errors
    assert "query with: printf 'alice\\r\\n' | nc 127.0.0.1 %d" % (fingerPort,) in errors
