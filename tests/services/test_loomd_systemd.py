"""
End-to-end systemd integration, with the test playing systemd: READY=1,
RELOADING=1, STOPPING=1 and WATCHDOG=1 arrive on a NOTIFY_SOCKET the test
binds; socket activation adopts a listening socket the test bound and passed
as descriptor 3 with LISTEN_FDS/LISTEN_PID; the printed unit runs what was
tested.
"""

import os
import shutil
import signal
import socket
import subprocess
import sys
import time

import pytest

from tests.services.loomd_helpers import (
    echo,
    freePort,
    loomdEnvironment,
    loomdFixture,  # noqa: F401 - the loomd fixture
    readLog,
    tacFile,
    wait,
    waitFor,
)


class NotifySocket:
    """A datagram socket collecting sd_notify messages."""

    def __init__(self, path):
        self.path = path
        self.socket = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.socket.bind(path)
        self.socket.settimeout(0.1)
        self.messages = []

    def collect(self):
        """Read whatever has arrived; return all messages so far (each a str)."""
        while True:
            try:
                self.messages.append(self.socket.recv(4096).decode())
            except (socket.timeout, BlockingIOError):
                return self.messages

    def waitFor(self, predicate, what, logfile=None):
        return waitFor(
            lambda: predicate(self.collect()),
            what=what,
            context=lambda: "received %r; log:\n%s" % (self.messages, readLog(logfile)),
        )

    def close(self):
        self.socket.close()


@pytest.fixture
def notifySocket(tmp_path):
    sock = NotifySocket(str(tmp_path / "notify.sock"))
    yield sock
    sock.close()


def lines(messages):
    return [line for message in messages for line in message.split("\n")]


def test_readyReloadingStoppingAndWatchdogAreNotified(loomd, tmp_path, notifySocket):
    port = freePort()
    tac = tacFile(tmp_path, "EchoService(%d).setServiceParent(application)\n" % port)
    env = loomdEnvironment(NOTIFY_SOCKET=notifySocket.path, WATCHDOG_USEC=200000)
    process = loomd.spawn("-n", "-y", tac, "--pidfile", "", "-l", loomd.logfile, env=env)
    notifySocket.waitFor(lambda m: "READY=1" in lines(m), "READY=1", loomd.logfile)
    ready = [m for m in notifySocket.messages if "READY=1" in m][0].split("\n")
    # One datagram says ready, what the service is doing, and whose pid it is.
    assert "READY=1" in ready and "MAINPID=%d" % (process.pid,) in ready, ready
    assert [field for field in ready if field.startswith("STATUS=")] == ["STATUS=running"], ready
    assert echo(port) == b"hello loomd\n"  # ready means serving
    notifySocket.waitFor(lambda m: lines(m).count("WATCHDOG=1") >= 3, "three WATCHDOG=1")
    process.send_signal(signal.SIGHUP)
    notifySocket.waitFor(lambda m: lines(m).count("READY=1") >= 2, "READY=1 after reload")
    after = lines(notifySocket.messages)
    assert "RELOADING=1" in after
    reloading = after.index("RELOADING=1")
    assert "READY=1" in after[reloading:]
    process.send_signal(signal.SIGTERM)
    code, _, err = wait(process)
    assert code == 0, err
    assert "STOPPING=1" in lines(notifySocket.collect())


def test_watchdogIsNotSentForAnotherPid(loomd, tmp_path, notifySocket):
    # WATCHDOG_PID naming another process: the pings are not ours to send.
    tac = tacFile(tmp_path, "")
    env = loomdEnvironment(
        NOTIFY_SOCKET=notifySocket.path, WATCHDOG_USEC=100000, WATCHDOG_PID=os.getpid()
    )
    process = loomd.spawn("-n", "-y", tac, "--pidfile", "", "-l", loomd.logfile, env=env)
    notifySocket.waitFor(lambda m: "READY=1" in lines(m), "READY=1", loomd.logfile)
    process.send_signal(signal.SIGTERM)
    assert wait(process)[0] == 0
    assert "WATCHDOG=1" not in lines(notifySocket.collect())


# Plays systemd's part between fork and exec: descriptor 3, LISTEN_PID = the
# pid that will run loomd (exec keeps it), LISTEN_FDS, then exec loomd.
WRAPPER = """
import os, sys
fd = int(sys.argv[1])
if fd != 3:
    os.dup2(fd, 3)
    os.close(fd)
os.set_inheritable(3, True)
os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS="1")
if sys.argv[2]:
    os.environ["LISTEN_FDNAMES"] = sys.argv[2]
os.execv(sys.executable, [sys.executable] + sys.argv[3:])
"""


@pytest.mark.parametrize("selector", ["index=0", "name=web"])
def test_socketActivationServesThePassedSocket(loomd, tmp_path, selector):
    listening = socket.socket()
    listening.bind(("127.0.0.1", 0))
    listening.listen()
    port = listening.getsockname()[1]
    tac = tacFile(
        tmp_path,
        """
        from services.internet import service
        service("systemd:domain=INET:%s", Factory.forProtocol(Echo)).setServiceParent(application)
        """
        % (selector,),
    )
    command = [
        sys.executable,
        "-c",
        WRAPPER,
        str(listening.fileno()),
        "web" if selector.startswith("name") else "",
    ]
    command += loomd.command("-n", "-y", tac, "--pidfile", "", "-l", loomd.logfile)[1:]
    process = subprocess.Popen(
        command,
        env=loomdEnvironment(),
        cwd=str(tmp_path),
        pass_fds=(listening.fileno(),),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    loomd.popens.append(process)
    listening.close()  # only loomd holds it now
    waitFor(
        lambda: "loomd ready" in readLog(loomd.logfile) or process.poll() is not None,
        what="start-up",
    )
    assert process.poll() is None, process.communicate()
    assert echo(port) == b"hello loomd\n"
    process.send_signal(signal.SIGTERM)
    assert wait(process)[0] == 0


def test_socketActivationWithoutPassedSocketsFailsClearly(loomd, tmp_path):
    tac = tacFile(
        tmp_path,
        """
        from services.internet import service
        echo = service("systemd:domain=INET:index=0", Factory.forProtocol(Echo))
        echo.setServiceParent(application)
        """,
    )
    started = time.monotonic()
    result = loomd.run("-y", tac, "--pidfile", loomd.pidfile, "-l", loomd.logfile)
    assert result.returncode == 1
    assert time.monotonic() - started < 10
    assert "systemd passed 0 socket(s); there is no index 0" in result.stderr
    assert loomd.leftovers() == [] and not os.path.exists(loomd.pidfile)


def test_printedUnitIsTypeNotifyRunningTheSameCommand(loomd, tmp_path):
    tac = tacFile(tmp_path, "")
    # A relative path on the command line becomes absolute: systemd starts from /.
    result = loomd.run("--print-systemd-unit", "-y", "app.tac", "--shutdown-timeout", "7")
    assert result.returncode == 0, result.stderr
    unit = result.stdout
    assert "Type=notify" in unit
    execStart = [line for line in unit.splitlines() if line.startswith("ExecStart=")][0]
    assert " -n " in execStart and " -y %s " % (tac,) in execStart
    assert "--shutdown-timeout 7" in execStart
    assert "TimeoutStopSec=12" in unit  # loomd's own deadline comes first


def test_printedUnitDescribesTheApplicationByName(loomd, tmp_path):
    # The .tac's Application("finger-demo"); a plugin's name; a .tac that
    # does not load, its file name.
    tacFile(tmp_path, 'application = Application("finger-demo")\n', name="finger.tac")
    (tmp_path / "broken.tac").write_text("def broken(:\n")
    for args, name in [
        (["-y", "finger.tac"], "finger-demo"),
        (["echo", "--port", "tcp:7007"], "echo"),
        (["-y", "broken.tac"], "broken"),
    ]:
        result = loomd.run("--print-systemd-unit", *args)
        assert result.returncode == 0, result.stderr
        assert "\nDescription=%s (Loom application)\n" % (name,) in result.stdout


def test_printedUnitComesWithASocketUnitForSystemdEndpoints(loomd, tmp_path):
    tac = tacFile(
        tmp_path,
        """
        from services.internet import service
        echo = service("systemd:domain=INET:name=web", Factory.forProtocol(Echo))
        echo.setServiceParent(application)
        """,
    )
    result = loomd.run("--print-systemd-unit", "-y", tac)
    assert result.returncode == 0, result.stderr
    assert "Type=notify" in result.stdout
    assert "[Socket]" in result.stdout and "FileDescriptorName=web" in result.stdout


def test_socketActivationAdoptsAPassedDatagramSocket(loomd, tmp_path):
    passed = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    passed.bind(("127.0.0.1", 0))
    port = passed.getsockname()[1]
    tac = tacFile(
        tmp_path,
        """
        from protocols.protocol import DatagramProtocol
        from services.activation import listenPassedDatagram
        class UDPEcho(DatagramProtocol):
            def datagramReceived(self, data, address):
                self.transport.write(data, address)
        class PassedUDP(Service):
            def privilegedStartService(self):
                Service.privilegedStartService(self)
                self.port = listenPassedDatagram(UDPEcho(), index=0)
        PassedUDP().setServiceParent(application)
        """,
    )
    command = [sys.executable, "-c", WRAPPER, str(passed.fileno()), ""]
    command += loomd.command("-n", "-y", tac, "--pidfile", "", "-l", loomd.logfile)[1:]
    process = subprocess.Popen(
        command,
        env=loomdEnvironment(),
        cwd=str(tmp_path),
        pass_fds=(passed.fileno(),),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    loomd.popens.append(process)
    passed.close()
    waitFor(
        lambda: "loomd ready" in readLog(loomd.logfile) or process.poll() is not None,
        what="start-up",
    )
    assert process.poll() is None, process.communicate()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as client:
        client.settimeout(5)
        client.sendto(b"ping", ("127.0.0.1", port))
        assert client.recvfrom(100)[0] == b"ping"
    process.send_signal(signal.SIGTERM)
    assert wait(process)[0] == 0


SEVERAL_ENDPOINTS = """
from protocols.protocol import DatagramProtocol
from services.activation import listenPassedDatagram
from services.internet import service
service("systemd:domain=INET:index=1", Factory.forProtocol(Echo)).setServiceParent(application)
service("systemd:domain=INET:index=0", Factory.forProtocol(Echo)).setServiceParent(application)
service("systemd:domain=INET6:name=web", Factory.forProtocol(Echo)).setServiceParent(application)
class PassedUDP(Service):
    def privilegedStartService(self):
        Service.privilegedStartService(self)
        self.port = listenPassedDatagram(DatagramProtocol(), index=2)
PassedUDP().setServiceParent(application)
"""


def printedUnits(text):
    """{file name: text} of the units in --print-systemd-unit's output."""
    units, name = {}, None
    for line in text.splitlines(keepends=True):
        if line.startswith("# --- "):
            name = line[len("# --- ") :].split()[0].rstrip(":")
            units[name] = ""
        elif name is not None:
            units[name] += line
    return units


def test_printedSocketUnitsHaveASocketPerEndpoint(loomd, tmp_path):
    tac = tacFile(tmp_path, SEVERAL_ENDPOINTS)
    result = loomd.run("--print-systemd-unit", "-y", tac)
    assert result.returncode == 0, result.stderr
    units = printedUnits(result.stdout)
    assert sorted(units) == ["app-web.socket", "app.service", "app.socket"]
    service = units["app.service"]
    assert "Sockets=app.socket app-web.socket\n" in service
    assert "Requires=app.socket app-web.socket\n" in service
    # The sockets taken by index share one unit, in index order.
    listens = [line for line in units["app.socket"].splitlines() if line.startswith("Listen")]
    assert listens == [
        "ListenStream=127.0.0.1:8080",
        "ListenStream=127.0.0.1:8081",
        "ListenDatagram=127.0.0.1:8082",
    ]
    comments = [line for line in units["app.socket"].splitlines() if line.startswith("#")]
    assert ["index 0" in comments[0], "index 1" in comments[1], "index 2" in comments[2]] == [
        True
    ] * 3
    assert all("replace the placeholder" in comment for comment in comments)
    assert "FileDescriptorName" not in units["app.socket"]
    assert "Service=app.service\n" in units["app.socket"]
    # A named socket has a unit of its own: FileDescriptorName names a unit's every socket.
    web = units["app-web.socket"]
    assert "ListenStream=127.0.0.1:8083\n" in web and "FileDescriptorName=web\n" in web
    verify = shutil.which("systemd-analyze")
    if verify is None:
        pytest.skip("systemd-analyze is not installed; the text was checked above")
    for name, text in units.items():
        (tmp_path / name).write_text(text)
    done = subprocess.run(
        [verify, "verify", "--man=no", *(str(tmp_path / name) for name in sorted(units))],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert "app" not in done.stderr, done.stderr


def test_printedSocketUnitForAPluginEndpoint(loomd, tmp_path):
    result = loomd.run("--print-systemd-unit", "echo", "--port", "systemd:domain=INET:name=echo")
    assert result.returncode == 0, result.stderr
    units = printedUnits(result.stdout)
    assert "FileDescriptorName=echo\n" in units["echo-echo.socket"]
