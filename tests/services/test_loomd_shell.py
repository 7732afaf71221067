"""
End-to-end tests of ``loomd --shell unix:PATH`` and ``loomd --attach PATH``:
a real daemon from a .tac, spoken to over its UNIX socket.

Clients of another user run as child processes that set their uid before
exec (the tests run as root); they are plain-socket scripts, so that any
Python the user may execute will do.  A blocking line waits for the
watchdog's own log line rather than for a guessed time.
"""

import json
import os
import pty
import select
import shutil
import signal
import socket
import stat
import subprocess
import sys
import tempfile
import time

import pytest

from tests.services.loomd_helpers import (
    alive,
    echo,
    freePort,
    loomdEnvironment,
    loomdFixture,  # noqa: F401  (the loomd fixture)
    needRoot,
    readLog,
    tacFile,
    waitFor,
)

NOBODY = 65534
REACTORS = ["select", "poll", "epoll", "asyncio"]

pytestmark = pytest.mark.timeout(60)

GREETER = """
class Greeting(Protocol):
    def dataReceived(self, data):
        self.transport.write(self.factory.greeter.greeting.encode() + data)


class Greeter(Service):
    greeting = "hello "

    def __init__(self, port):
        self.portNumber = port

    def privilegedStartService(self):
        Service.privilegedStartService(self)
        factory = Factory.forProtocol(Greeting)
        factory.greeter = self
        self.port = reactor.listenTCP(self.portNumber, factory, interface="127.0.0.1")


greeter = Greeter(%d)
greeter.setName("greeter")
greeter.setServiceParent(application)
"""


class ShellClient:
    """A client of the shell's JSON lines, over a blocking socket."""

    def __init__(self, path, timeout=20):
        self.sock = socket.socket(socket.AF_UNIX)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.incoming = self.sock.makefile("rb")
        self.banner, self.prompt = self.untilPrompt()

    def untilPrompt(self):
        """Read messages up to the next prompt; return (the output, the prompt or None at EOF)."""
        output = []
        for line in self.incoming:
            message = json.loads(line)
            if "prompt" in message:
                return "".join(output), message["prompt"]
            output.append(message.get("output", message.get("refused", "")))
        return "".join(output), None

    def run(self, *lines):
        """Send lines; return the output up to the prompt after the last one."""
        output = []
        for line in lines:
            self.sock.sendall(json.dumps({"line": line}).encode() + b"\n")
            text, self.prompt = self.untilPrompt()
            output.append(text)
        return "".join(output)

    def close(self):
        self.incoming.close()
        self.sock.close()


@pytest.fixture
def sharedDirectory():
    """A root-owned 0755 directory outside tmp_path (whose parents only root may enter)."""
    directory = tempfile.mkdtemp(prefix="loomd-shell-")
    os.chmod(directory, 0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def _startGreeter(loomd, tmp_path, socketPath, *args):
    port = freePort()
    tac = tacFile(tmp_path, GREETER % (port,))
    pid = loomd.daemon(tac, "--shell", "unix:" + socketPath, *args)
    return pid, port


CLIENT = r"""
import json, os, socket, sys
sock = socket.socket(socket.AF_UNIX)
sock.settimeout(20)
try:
    sock.connect(sys.argv[1])
except OSError as error:
    print(json.dumps({"connect": error.strerror}))
    sys.exit(0)
sock.sendall(json.dumps({"line": sys.argv[2]}).encode() + b"\n")
messages = []
for line in sock.makefile("rb"):
    messages.append(json.loads(line))
    if sum("prompt" in m for m in messages) == 2:
        break
print(json.dumps({"uid": os.getuid(), "messages": messages}))
"""


def _runAs(uid, gid, path, line):
    """Run CLIENT as uid/gid: connect to path, send line; return its report (a dict)."""
    needRoot()

    def become():
        os.setgroups([])
        os.setgid(gid)
        os.setuid(uid)

    for python in (sys.executable, "/usr/bin/python3", shutil.which("python3")):
        if not python:
            continue
        try:
            result = subprocess.run(
                [python, "-c", CLIENT, path, line],
                preexec_fn=become,
                capture_output=True,
                text=True,
                timeout=30,
                cwd="/",
            )
        except PermissionError:
            continue  # this Python lives where that user may not go
        assert result.returncode == 0, result.stderr
        return json.loads(result.stdout)
    pytest.skip("no Python that uid %d may execute" % (uid,))


@pytest.mark.parametrize("reactorName", REACTORS)
def test_shellReadsAndChangesTheRunningApplication(loomd, tmp_path, reactorName):
    path = os.path.join(str(tmp_path), "shell.sock")
    _startGreeter(loomd, tmp_path, path, "-r", reactorName)
    assert echo(_port(loomd), b"world") == b"hello world"
    client = ShellClient(path)
    try:
        assert "names: application, reactor, services" in client.banner
        assert client.run('services["greeter"].greeting') == "'hello '\n"
        assert client.run("application.name, type(reactor).__name__") == (
            "('test', '%s')\n" % (_reactorClass(reactorName),)
        )
        assert client.run('greeter = services["greeter"]; greeter.greeting = "bye "') == ""
        assert echo(_port(loomd), b"world") == b"bye world"
        assert "greeter: Greeter (running)" in client.run("services")
    finally:
        client.close()
    log = readLog(loomd.logfile)
    assert "shell: uid 0, pid" in log and "attached" in log


def _port(loomd):
    # The Greeter's port, from the .tac the test wrote.
    with open(os.path.join(loomd.directory, "app.tac")) as tac:
        return int(tac.read().rsplit("Greeter(", 1)[1].split(")")[0])


def _reactorClass(name):
    return {
        "select": "SelectReactor",
        "poll": "PollReactor",
        "epoll": "EPollReactor",
        "asyncio": "AsyncioReactor",
    }[name]


def test_multiLineInput(loomd, tmp_path):
    path = os.path.join(str(tmp_path), "shell.sock")
    _startGreeter(loomd, tmp_path, path)
    client = ShellClient(path)
    try:
        assert client.run("def shout(text):") == ""
        assert client.prompt == "... "
        assert client.run("    return text.upper()", "") == ""
        assert client.prompt == ">>> "
        assert client.run("for word in ['a', 'b']:", "    print(shout(word))", "") == "A\nB\n"
        assert client.run("shout('still defined')") == "'STILL DEFINED'\n"
    finally:
        client.close()


@pytest.mark.parametrize("reactorName", REACTORS)
def test_raisingAndBlockingLinesAreSurvived(loomd, tmp_path, reactorName):
    path = os.path.join(str(tmp_path), "shell.sock")
    _startGreeter(loomd, tmp_path, path, "-r", reactorName, "--shell-blocking-limit", "0.2")
    client = ShellClient(path)
    try:
        output = client.run("1 / 0")
        assert output.startswith("Traceback (most recent call last):")
        assert output.endswith("ZeroDivisionError: division by zero\n")
        # Blocks the reactor until the watchdog has logged that it does.
        output = client.run(
            "import time",
            "deadline = time.monotonic() + 20",
            "while 'has blocked the reactor' not in open(%r).read():" % (loomd.logfile,),
            "    assert time.monotonic() < deadline",
            "    time.sleep(0.02)",
            "",
        )
        lines = output.splitlines()
        assert lines[0].startswith("*** this line has been running for over 0.2s")
        assert lines[1].startswith("*** the line held the reactor thread for ")
        assert client.run("'alive'") == "'alive'\n"
    finally:
        client.close()
    assert echo(_port(loomd), b"after") == b"hello after"
    log = readLog(loomd.logfile)
    assert "shell: a line has blocked the reactor thread for over 0.2s" in log
    assert "time.sleep(0.02)" in log  # the blocked stack names the line


def test_socketIsModeSixHundredAndOwnedByTheDaemonsUser(loomd, tmp_path, sharedDirectory):
    needRoot()
    path = os.path.join(sharedDirectory, "shell.sock")
    _startGreeter(loomd, tmp_path, path, "-u", "nobody", "-g", "nogroup")
    info = os.lstat(path)
    assert stat.S_ISSOCK(info.st_mode)
    assert stat.S_IMODE(info.st_mode) == 0o600
    assert (info.st_uid, info.st_gid) == (NOBODY, NOBODY)
    # The daemon's own user is let in, and so is root.
    report = _runAs(NOBODY, NOBODY, path, "import os; os.geteuid()")
    assert report["uid"] == NOBODY
    outputs = [m.get("output") for m in report["messages"]]
    assert "%d\n" % (NOBODY,) in outputs
    client = ShellClient(path)
    try:
        assert client.run("__import__('os').geteuid()") == "65534\n"
    finally:
        client.close()
    # Anyone else is stopped by the file's mode before the daemon hears of it.
    assert _runAs(12345, 12345, path, "1") == {"connect": "Permission denied"}


def test_anotherUsersConnectionIsRefused(loomd, tmp_path, sharedDirectory):
    needRoot()
    path = os.path.join(sharedDirectory, "shell.sock")
    _startGreeter(loomd, tmp_path, path)
    assert _runAs(NOBODY, NOBODY, path, "1") == {"connect": "Permission denied"}
    # Widen the file: the SO_PEERCRED check still refuses, and says why.
    os.chmod(path, 0o666)
    report = _runAs(NOBODY, NOBODY, path, "open('/etc/hostname').read()")
    (message,) = report["messages"]
    assert message["refused"].startswith("loomd shell: refused: uid 65534 (pid ")
    assert message["refused"].endswith(") may not attach: only uid 0 and root may")
    waitFor(lambda: "shell: refused a connection: uid 65534" in readLog(loomd.logfile))
    assert echo(_port(loomd), b"x") == b"hello x"


def test_attachThroughAPipe(loomd, tmp_path):
    path = os.path.join(str(tmp_path), "shell.sock")
    _startGreeter(loomd, tmp_path, path)
    result = loomd.run(
        "--attach",
        path,
        input='services["greeter"].greeting\nfor i in range(2):\n    print(i)\n',
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("Python ")
    assert lines[1:] == ["'hello '", "0", "1"]


def test_attachRefusedSaysWhy(loomd, tmp_path):
    result = loomd.run("--attach", os.path.join(str(tmp_path), "nothing.sock"), input="1\n")
    assert result.returncode == 1
    assert result.stderr.startswith("loomd: cannot attach to ")
    assert "No such file or directory" in result.stderr


def test_attachThroughATerminalEditsLines(loomd, tmp_path):
    path = os.path.join(str(tmp_path), "shell.sock")
    _startGreeter(loomd, tmp_path, path)
    master, slave = pty.openpty()
    history = os.path.join(str(tmp_path), "history")
    # TERM=dumb: no escape sequences around the prompt.
    env = loomdEnvironment(TERM="dumb", LOOMD_HISTORY=history)
    process = loomd.spawn("--attach", path, env=env, stdin=slave, stdout=slave, stderr=slave)
    os.close(slave)
    try:
        transcript = _readUntil(master, b">>> ")
        # "6*7" typed as "6*8", then a backspace and "7": readline edits the line.
        os.write(master, b"6*8\x7f7\r")
        transcript += _readUntil(master, b">>> ")
        assert b"42\r\n" in transcript
        # A Deferred firing while the prompt waits is shown at once, on a
        # line of its own, and the prompt comes back with what was typed.
        os.write(master, b"from reactor.task import deferLater\r")
        _readUntil(master, b">>> ")
        os.write(master, b"deferLater(reactor, 0.1, lambda: 'late')\r")
        assert _readUntil(master, b">>> ").endswith(b"<Deferred #1>\r\n>>> ")
        os.write(master, b"1+")  # typed before or after it fires: either way
        assert _readUntil(master, b"\r\nDeferred #1 called back: 'late'\r\n>>> 1+")
        os.write(master, b"1\r")
        assert _readUntil(master, b">>> ").endswith(b"2\r\n>>> ")
        # Tab completes from the daemon's names.
        os.write(master, b"applic\t")
        assert _readUntil(master, b"application")
        os.write(master, b".na\t")  # name, namedServices: the common part, and a bell
        assert _readUntil(master, b"me")
        os.write(master, b"\r")
        assert _readUntil(master, b">>> ").endswith(b"'test'\r\n>>> ")
        os.write(master, b"\x04")  # Ctrl-D: leave the shell
        assert process.wait(10) == 0
        with open(history) as saved:
            assert saved.read().splitlines()[-2:] == ["1+1", "application.name"]
    finally:
        os.close(master)
    assert echo(_port(loomd), b"on") == b"hello on"


def _readUntil(fd, marker, timeout=15):
    """Read the terminal until what came ends with marker; return it all."""
    data = b""
    deadline = time.monotonic() + timeout
    while not data.endswith(marker):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            pytest.fail("no %r from the terminal; got %r" % (marker, data))
        ready, _, _ = select.select([fd], [], [], remaining)
        if ready:
            data += os.read(fd, 4096)
    return data


def test_shellListensOnlyOnUnixSockets(loomd, tmp_path):
    tac = tacFile(tmp_path, "")
    result = loomd.run("-n", "-y", tac, "--shell", "tcp:8022")
    assert result.returncode == 1
    assert "--shell takes unix:PATH (the shell listens only on a UNIX socket)" in result.stderr


def test_shellInADirectoryOthersMayWriteIsRefused(loomd, tmp_path):
    open_ = os.path.join(str(tmp_path), "open")
    os.mkdir(open_)
    os.chmod(open_, 0o777)
    tac = tacFile(tmp_path, "")
    result = loomd.run(
        "-y",
        tac,
        "--pidfile",
        loomd.pidfile,
        "-l",
        loomd.logfile,
        "--shell",
        "unix:%s/shell.sock" % (open_,),
    )
    assert result.returncode == 1
    assert "cannot open the shell: cannot listen on %s/shell.sock: its directory" % (open_,) in (
        result.stderr
    )
    assert not os.path.exists(os.path.join(open_, "shell.sock"))


def test_noShellUnlessAsked(loomd, tmp_path):
    tac = tacFile(tmp_path, "")
    loomd.daemon(tac)
    assert [name for name in os.listdir(str(tmp_path)) if name.endswith(".sock")] == []
    assert "Manhole" not in readLog(loomd.logfile)


def test_checkJudgesTheShellAsTheStartDoes(loomd, tmp_path):
    tac = tacFile(tmp_path, "")
    good = loomd.run("--check", "-y", tac, "--shell", "unix:shell.sock")
    assert good.returncode == 0, good.stderr
    assert good.stdout.endswith("; shell on unix:%s/shell.sock\n" % (tmp_path,))
    open_ = os.path.join(str(tmp_path), "open")
    os.mkdir(open_)
    os.chmod(open_, 0o777)
    bad = loomd.run("--check", "-y", tac, "--shell", "unix:open/shell.sock")
    start = loomd.run("-n", "-y", tac, "--pidfile", "", "--shell", "unix:open/shell.sock")
    assert bad.returncode == start.returncode == 1
    reason = "cannot open the shell: cannot listen on %s/shell.sock: its directory" % (open_,)
    assert bad.stderr.startswith("loomd: check failed: " + reason)
    assert reason in start.stdout + start.stderr


def test_deploymentFilesRunTheShellAtItsAbsolutePath(loomd, tmp_path):
    tac = tacFile(tmp_path, "")
    result = loomd.run("--print-systemd-unit", "-y", tac, "--shell", "unix:run/shell.sock")
    assert result.returncode == 0, result.stderr
    assert " --shell unix:%s/run/shell.sock" % (tmp_path,) in result.stdout


def test_nextStartReplacesTheShellSocketItsUserCouldNotRemove(loomd, tmp_path, sharedDirectory):
    needRoot()
    path = os.path.join(sharedDirectory, "shell.sock")
    _startGreeter(loomd, tmp_path, path, "-u", "nobody", "-g", "nogroup")
    stopped = loomd.run("--stop", "--pidfile", loomd.pidfile)
    assert stopped.returncode == 0, stopped.stderr
    assert os.lstat(path).st_uid == NOBODY  # left: nobody may not write the directory
    loomd.daemon(os.path.join(loomd.directory, "app.tac"), "--shell", "unix:" + path)
    client = ShellClient(path)
    try:
        assert client.run("1 + 1") == "2\n"
    finally:
        client.close()


def test_shellWorksInsideAChrootJail(loomd, tmp_path):
    # Everything the console needs is imported before --chroot: a raising
    # line, a blocking one (the watchdog's thread and its stack) and a
    # Deferred work in a jail that holds no Python at all.
    needRoot()
    jail = tmp_path / "jail"
    (jail / "dev").mkdir(parents=True)
    (jail / "var").mkdir()
    try:
        os.mknod(str(jail / "dev" / "null"), stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except OSError as error:
        pytest.skip("cannot make /dev/null in a jail here: %s" % (error,))
    os.chmod(jail / "dev" / "null", 0o666)  # not the umask's 0644: nobody writes it
    path = os.path.join(str(tmp_path), "shell.sock")
    port = freePort()
    tac = tacFile(tmp_path, GREETER % (port,))
    result = loomd.run(
        "-y",
        tac,
        "--pidfile",
        loomd.pidfile,
        "-l",
        str(jail / "var" / "app.log"),
        "--chroot",
        str(jail),
        "-u",
        "nobody",
        "-g",
        "nogroup",
        "--shell",
        "unix:" + path,
        "--shell-blocking-limit",
        "0.2",
    )
    assert result.returncode == 0, result.stderr
    client = ShellClient(path)
    try:
        assert client.run("import os; os.path.exists('/var/app.log')") == "True\n"
        assert client.run("1 / 0").endswith("ZeroDivisionError: division by zero\n")
        output = client.run(
            "import time",
            "while 'has blocked the reactor' not in open('/var/app.log').read():",
            "    time.sleep(0.02)",
            "",
        )
        assert output.startswith("*** this line has been running for over 0.2s")
        client.run("from reactor.defer import Deferred")  # loaded already: no file needed
        assert client.run("d = Deferred(); call = reactor.callLater(0, d.callback, 3); d") == (
            "<Deferred #1>\n"
        )
        # The timer fires before the loop reads the next line.
        assert client.run("services['greeter'].greeting") == (
            "Deferred #1 called back: 3\n'hello '\n"
        )
    finally:
        client.close()
    assert echo(port, b"jail") == b"hello jail"


def test_shellStaysOpenWhileTheServicesStop(loomd, tmp_path):
    # A stop that hangs can be looked into, and unblocked, from the shell;
    # the shell closes (its file removed) once every service has stopped.
    path = os.path.join(str(tmp_path), "shell.sock")
    tac = tacFile(
        tmp_path,
        """
        def stopSlowly():
            slow.stopping = Deferred()  # fired from the shell
            return slow.stopping

        slow = CallbackService(onStop=stopSlowly)
        slow.setName("slow")
        slow.setServiceParent(application)
        """,
    )
    pid = loomd.daemon(tac, "--shell", "unix:" + path)
    client = ShellClient(path)
    try:
        os.kill(pid, signal.SIGTERM)
        waitFor(lambda: "Received SIGTERM, shutting down." in readLog(loomd.logfile))
        late = ShellClient(path)  # a new console, during the shutdown
        try:
            assert late.run("services['slow'].running") == "False\n"
        finally:
            late.close()
        assert client.run("from services.service import pendingStops") == ""
        assert client.run("[p.path for p in pendingStops(application)]") == "['test/slow']\n"
        assert client.run("services['slow'].stopping.callback(None)") == ""
    finally:
        client.close()
    waitFor(lambda: not alive(pid), what="the daemon to exit")
    assert not os.path.exists(path)
    assert not os.path.exists(loomd.pidfile)
