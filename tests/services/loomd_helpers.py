"""
Helpers for the end-to-end tests of the real ``loomd`` command.

Every test drives ``python bin/loomd`` in subprocesses with PYTHONPATH set
to the checkout.  The ``loomd`` fixture (``Loomd``) runs the command with a
timeout, remembers every process it started, and in its finalizer kills by
pid whatever is left: the Popen objects it made, the pids it read from
pidfiles, and any process whose command line names the test's own temporary
directory (the daemons a launcher forked carry the launcher's command line,
which always includes a path under tmp_path).

Applications are small .tac files written into tmp_path: ``tacFile`` puts
``PRELUDE`` (an echo service binding in privilegedStartService, a few
misbehaving services) in front of the body a test gives.  ``TLSClient``
talks to a daemon serving TLS, with Python's own ssl module.
"""

import hashlib
import json
import os
import signal
import socket
import ssl
import subprocess
import sys
import textwrap
import time

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

REPO = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
LOOMD = [sys.executable, os.path.join(REPO, "bin", "loomd")]

# Environment variables of the test runner that must not leak into loomd.
_SCRUBBED = (
    "NOTIFY_SOCKET",
    "WATCHDOG_USEC",
    "WATCHDOG_PID",
    "LISTEN_FDS",
    "LISTEN_PID",
    "LISTEN_FDNAMES",
)

PRELUDE = '''
import os, sys, time, logging
from reactor import reactor, log
from reactor.defer import Deferred, fail
from protocols.protocol import Factory, Protocol
from services.service import Application, Service


class Echo(Protocol):
    connections = 0

    def connectionMade(self):
        Echo.connections += 1
        log.msg("echo connection %d" % (Echo.connections,))

    def dataReceived(self, data):
        self.transport.write(data)


class EchoService(Service):
    """Binds in privilegedStartService, as a TCPServer does."""

    def __init__(self, port, interface="127.0.0.1"):
        self.portNumber, self.interface, self.port = port, interface, None

    def privilegedStartService(self):
        Service.privilegedStartService(self)
        self.port = reactor.listenTCP(
            self.portNumber, Factory.forProtocol(Echo), interface=self.interface)

    def stopService(self):
        Service.stopService(self)
        if self.port is not None:
            return self.port.stopListening()


class CallbackService(Service):
    """Runs a function of its own at startService (the value is returned)."""

    def __init__(self, onStart=None, onStop=None):
        self.onStart, self.onStop = onStart, onStop

    def startService(self):
        Service.startService(self)
        if self.onStart is not None:
            return self.onStart()

    def stopService(self):
        Service.stopService(self)
        if self.onStop is not None:
            return self.onStop()


application = Application("test")
'''


def tacFile(directory, body, name="app.tac"):
    """Write PRELUDE + body (dedented) to directory/name; return its path as str."""
    path = os.path.join(str(directory), name)
    with open(path, "w") as tac:
        tac.write(PRELUDE + textwrap.dedent(body))
    return path


def freePort():
    """A TCP port on 127.0.0.1 that was free a moment ago (bind port 0, close)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def freeLowPort():
    """A TCP port below 1024 on 127.0.0.1 that was free a moment ago (needs root)."""
    for port in range(990, 900, -1):
        with socket.socket() as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free port below 1024")


def loomdEnvironment(**extra):
    """os.environ with PYTHONPATH at the checkout, systemd variables removed, extra added."""
    env = {k: v for k, v in os.environ.items() if k not in _SCRUBBED}
    env["PYTHONPATH"] = REPO
    env.update({k: str(v) for k, v in extra.items()})
    return env


def echo(port, data=b"hello loomd\n", timeout=5.0, host="127.0.0.1"):
    """Connect, send data, return what came back (up to len(data) bytes)."""
    with socket.create_connection((host, port), timeout=timeout) as client:
        client.sendall(data)
        received = b""
        while len(received) < len(data):
            chunk = client.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def waitFor(predicate, timeout=8.0, what="condition", context=None):
    """
    Poll predicate every 20 ms until true; fail the test after timeout
    seconds, showing context() (a log, say) when given.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            detail = "\n" + context() if context is not None else ""
            pytest.fail("timed out after %ss waiting for %s%s" % (timeout, what, detail))
        time.sleep(0.02)


def alive(pid):
    """True if pid exists and is not a zombie."""
    try:
        with open("/proc/%d/stat" % (pid,)) as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except (FileNotFoundError, ProcessLookupError, IndexError):
        return False


def readPid(path):
    """The pid in a pidfile, or None when missing, empty or garbage."""
    try:
        with open(path) as pidfile:
            return int(pidfile.read().strip())
    except (OSError, ValueError):
        return None


def procStatus(pid):
    """/proc/PID/status as a dict of field name to its text."""
    with open("/proc/%d/status" % (pid,)) as status:
        return dict(line.rstrip("\n").split(":\t", 1) for line in status if ":\t" in line)


def processesMentioning(text):
    """Pids (other than ours) whose command line contains text."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        try:
            with open("/proc/%s/cmdline" % (entry,), "rb") as cmdline:
                if text.encode() in cmdline.read() and alive(int(entry)):
                    found.append(int(entry))
        except OSError:
            continue
    return found


def readLog(path):
    """The log's text, or '' if it does not exist yet."""
    try:
        with open(path, encoding="utf-8", errors="replace") as logFile:
            return logFile.read()
    except FileNotFoundError:
        return ""


def jsonLines(path):
    """Each line of a JSON log, parsed."""
    return [json.loads(line) for line in readLog(path).splitlines() if line.strip()]


class Loomd:
    """
    Runs loomd for one test and cleans up after it by pid.

    :ivar directory: the test's tmp_path (as str); every process started
        here mentions it on its command line.
    """

    def __init__(self, directory):
        self.directory = str(directory)
        self.popens = []
        self.pids = set()
        self.pidfile = os.path.join(self.directory, "loomd.pid")
        self.logfile = os.path.join(self.directory, "loomd.log")

    def command(self, *args):
        """The argv running loomd with args."""
        return LOOMD + [str(arg) for arg in args]

    def run(self, *args, env=None, timeout=15, cwd=None, **kwargs):
        """Run loomd to completion (bounded by timeout); return the CompletedProcess."""
        return subprocess.run(
            self.command(*args),
            env=env or loomdEnvironment(),
            cwd=cwd or self.directory,
            capture_output=True,
            text=True,
            timeout=timeout,
            **kwargs,
        )

    def daemon(self, tac, *args, env=None, timeout=15):
        """
        Start a daemon with the default pidfile and log of this test; fail
        the test unless the launcher exits 0.  Returns the daemon's pid.
        """
        result = self.run(
            "-y",
            tac,
            "--pidfile",
            self.pidfile,
            "-l",
            self.logfile,
            *args,
            env=env,
            timeout=timeout,
        )
        assert result.returncode == 0, (result.stdout, result.stderr, readLog(self.logfile))
        pid = readPid(self.pidfile)
        assert pid is not None and alive(pid)
        self.pids.add(pid)
        return pid

    def spawn(self, *args, env=None, **kwargs):
        """Start loomd without waiting (a foreground run, say); return the Popen."""
        kwargs.setdefault("stdout", subprocess.PIPE)
        kwargs.setdefault("stderr", subprocess.PIPE)
        process = subprocess.Popen(
            self.command(*args),
            env=env or loomdEnvironment(),
            cwd=self.directory,
            text=True,
            **kwargs,
        )
        self.popens.append(process)
        return process

    def track(self, pid):
        """Kill pid at the end of the test if it still runs."""
        self.pids.add(pid)

    def leftovers(self):
        """Processes still running that this test started."""
        return processesMentioning(self.directory)

    def cleanup(self):
        """Kill by pid everything this test started that still runs."""
        for process in self.popens:
            if process.poll() is None:
                process.kill()
            try:
                process.communicate(timeout=5)
            except (subprocess.TimeoutExpired, ValueError):
                pass
        for pid in (set(self.pids) - {None}) | set(self.leftovers()):
            if alive(pid):
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass


def wait(process, timeout=10):
    """communicate() with a timeout; returns (returncode, stdout, stderr)."""
    out, err = process.communicate(timeout=timeout)
    return process.returncode, out, err


def needRoot():
    """Skip the test unless it runs as root."""
    if os.geteuid() != 0:
        pytest.skip("needs root (privileges, low ports, chroot)")


@pytest.fixture(name="loomd")
def loomdFixture(tmp_path):
    """A Loomd for this test; kills what it started when the test ends."""
    runner = Loomd(tmp_path)
    try:
        yield runner
    finally:
        runner.cleanup()


# -- TLS -------------------------------------------------------------------------------


class TLSClient:
    """A blocking client from Python's ssl module, verifying localhost against ca."""

    def __init__(self, port, ca):
        context = ssl.create_default_context(cafile=str(ca))
        raw = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.socket = context.wrap_socket(raw, server_hostname="localhost")
        der = self.socket.getpeercert(binary_form=True)
        self.certificate = x509.load_der_x509_certificate(der)
        self.fingerprint = hashlib.sha256(der).hexdigest()

    def echo(self, data):
        self.socket.sendall(data)
        received = b""
        while len(received) < len(data):
            chunk = self.socket.recv(65536)
            if not chunk:
                break
            received += chunk
        return received

    def close(self):
        self.socket.close()


def fingerprint(leaf):
    certificate = x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes())
    der = certificate.public_bytes(Encoding.DER)
    return hashlib.sha256(der).hexdigest()


def serial(leaf):
    return x509.load_pem_x509_certificate(leaf.cert_chain_pems[0].bytes()).serial_number
