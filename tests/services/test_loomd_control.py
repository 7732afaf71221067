"""
End-to-end control commands for init scripts: ``--status`` (LSB: 0 running,
1 dead with a pidfile, 3 not running, 4 unknown), ``--stop`` (0 once stopped
or when not running, 1 when the daemon outlives --timeout), ``--reload``
(0 sent, 7 not running); and ``--check``, which binds nothing and starts
nothing.
"""

import os
import signal
import socket

import pytest

from tests.services.loomd_helpers import (
    alive,
    freePort,
    loomdFixture,  # noqa: F401 - the loomd fixture
    needRoot,
    readLog,
    tacFile,
    waitFor,
)

TCP_SERVER = """
from services.internet import TCPServer
TCPServer(%d, Factory.forProtocol(Echo), interface="127.0.0.1").setServiceParent(application)
"""


def test_statusStopAndReloadExitCodes(loomd, tmp_path):
    tac = tacFile(tmp_path, "")

    def control(*args):
        return loomd.run(*args, "--pidfile", loomd.pidfile).returncode

    assert control("--status") == 3
    assert control("--reload") == 7
    assert control("--stop") == 0
    pid = loomd.daemon(tac)
    assert control("--status") == 0
    assert control("--reload") == 0
    waitFor(lambda: "Received SIGHUP" in readLog(loomd.logfile), what="the reload")
    assert alive(pid)
    assert control("--stop") == 0
    assert not alive(pid)
    assert not os.path.exists(loomd.pidfile)
    assert control("--stop") == 0
    assert control("--status") == 3
    # A pidfile nobody holds: dead, with a pidfile.
    with open(loomd.pidfile, "w") as pidfile:
        pidfile.write("%d\n" % (pid,))
    assert control("--status") == 1
    assert control("--reload") == 7


def test_statusIsUnknownWithoutAPidfile(loomd):
    result = loomd.run("--status", "--pidfile", "")
    assert result.returncode == 4
    assert "no pidfile" in result.stdout


def test_stopFailsWhenTheDaemonOutlivesTheTimeout(loomd, tmp_path):
    tac = tacFile(
        tmp_path,
        """
        CallbackService(onStop=Deferred).setServiceParent(application)
        """,
    )
    pid = loomd.daemon(tac, "--shutdown-timeout", "3600")
    result = loomd.run("--stop", "--timeout", "0.3", "--pidfile", loomd.pidfile)
    assert result.returncode == 1
    assert "still running" in result.stdout
    assert alive(pid)
    os.kill(pid, signal.SIGTERM)  # the second signal ends it at once
    waitFor(lambda: not alive(pid), what="the daemon to exit")
    assert loomd.run("--status", "--pidfile", loomd.pidfile).returncode == 3


ENDPOINT = """
from services.internet import service
service("tcp:%d:interface=127.0.0.1", Factory.forProtocol(Echo)).setServiceParent(application)
"""


@pytest.mark.parametrize("server", [TCP_SERVER, ENDPOINT], ids=["TCPServer", "endpoint"])
def test_checkPassesAndBindsNothing(loomd, tmp_path, server):
    port = freePort()
    tac = tacFile(tmp_path, server % port)
    result = loomd.run("--check", "-y", tac, "--pidfile", loomd.pidfile, "-l", loomd.logfile)
    assert result.returncode == 0, result.stderr
    assert "check passed" in result.stdout
    assert "127.0.0.1:%d" % (port,) in result.stdout
    assert not os.path.exists(loomd.pidfile) and not os.path.exists(loomd.logfile)
    assert loomd.leftovers() == []
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", port))  # still free


@pytest.mark.parametrize("server", [TCP_SERVER, ENDPOINT], ids=["TCPServer", "endpoint"])
def test_checkReportsPortInUse(loomd, tmp_path, server):
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        tac = tacFile(tmp_path, server % port)
        result = loomd.run("--check", "-y", tac, "--pidfile", loomd.pidfile)
    assert result.returncode == 1
    assert "cannot listen on 127.0.0.1:%d: address already in use" % (port,) in result.stderr


def test_checkReportsSyntaxError(loomd, tmp_path):
    tac = tacFile(tmp_path, "def broken(:\n")
    result = loomd.run("--check", "-y", tac)
    assert result.returncode == 1
    assert tac in result.stderr and "line" in result.stderr


def test_checkReportsLogUnwritableByTheTargetUser(loomd, tmp_path):
    needRoot()
    logs = tmp_path / "logs"
    logs.mkdir(mode=0o700)
    tac = tacFile(tmp_path, "")
    logfile = str(logs / "app.log")
    result = loomd.run(
        "--check",
        "-y",
        tac,
        "-u",
        "nobody",
        "-l",
        logfile,
        "--pidfile",
        str(tmp_path / "other.pid"),
    )
    assert result.returncode == 1
    assert "%s is not writable by the target user" % (logfile,) in result.stderr
    assert not os.path.exists(logfile)


@pytest.mark.parametrize("option", ["--status", "--stop", "--reload"])
def test_controlCommandsNeedNoApplication(loomd, option):
    # Init scripts call these without -y: no application is loaded.
    result = loomd.run(option, "--pidfile", loomd.pidfile)
    assert result.returncode in (0, 3, 7)
    assert "nothing to run" not in result.stderr
