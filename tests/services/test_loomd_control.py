"""
End-to-end control commands for init scripts: ``--status`` (LSB: 0 running,
1 dead with a pidfile, 3 not running, 4 unknown), ``--stop`` (0 once stopped
or when not running, 1 when the daemon outlives --timeout), ``--reload``
(0 sent, 7 not running), each naming the pidfile it looked at when it is
the default; and ``--check``, which binds nothing and starts
nothing.
"""

import os
import signal
import socket
import tempfile

import pytest

from tests.services.loomd_helpers import (
    alive,
    freePort,
    loomdFixture,  # noqa: F401 - the loomd fixture
    needRoot,
    readLog,
    readPid,
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


@pytest.mark.parametrize(
    "option, code", [("--status", 3), ("--stop", 0), ("--reload", 7), ("--log-status", 7)]
)
def test_controlWithoutPidfileNamesTheDefault(loomd, tmp_path, option, code):
    # No --pidfile: the default, loomd.pid in the run directory, is looked
    # at and named; no file there is said as such, not as "not running".
    result = loomd.run(option)
    default = tmp_path / "loomd.pid"
    assert (result.returncode, result.stdout) == (
        code,
        "loomd: no pidfile at %s (the default; give the daemon's with --pidfile)\n" % (default,),
    )
    other = tmp_path / "other"
    other.mkdir()
    result = loomd.run(option, "-d", other)
    assert "no pidfile at %s " % (other / "loomd.pid",) in result.stdout


def test_controlWithAnExplicitPidfileSaysNotRunning(loomd):
    result = loomd.run("--status", "--pidfile", loomd.pidfile)
    assert (result.returncode, result.stdout) == (
        3,
        "loomd: not running (no pidfile at %s)\n" % (loomd.pidfile,),
    )


def test_controlOfADaemonFoundByTheDefaultPidfileNamesIt(loomd, tmp_path):
    result = loomd.run("-y", tacFile(tmp_path, ""), "-l", loomd.logfile)
    assert result.returncode == 0, result.stderr
    pid = readPid(loomd.pidfile)  # the default: tmp_path/loomd.pid
    loomd.track(pid)
    where = "pid %d, pidfile %s" % (pid, loomd.pidfile)
    assert loomd.run("--status").stdout == "loomd: running (%s)\n" % (where,)
    assert loomd.run("--reload").stdout == "loomd: reload requested (%s)\n" % (where,)
    assert loomd.run("--stop").stdout == "loomd: stopped (%s)\n" % (where,)
    assert not alive(pid)


def test_emptiedPidfileIsNotRunning(loomd, tmp_path):
    # Run as nobody with the pidfile in a directory only root may write
    # (as /run): the daemon empties it at exit; that is a clean stop.
    needRoot()
    directory = tmp_path / "run"
    directory.mkdir(mode=0o755)
    pidfile = str(directory / "app.pid")
    result = loomd.run("-y", tacFile(tmp_path, ""), "--pidfile", pidfile, "-u", "nobody")
    assert result.returncode == 0, result.stderr
    loomd.track(readPid(pidfile))
    assert loomd.run("--stop", "--pidfile", pidfile).returncode == 0
    assert os.path.getsize(pidfile) == 0
    status = loomd.run("--status", "--pidfile", pidfile)
    assert (status.returncode, status.stdout) == (
        3,
        "loomd: not running (the pidfile %s is empty: the daemon stopped)\n" % (pidfile,),
    )
    assert loomd.run("--reload", "--pidfile", pidfile).returncode == 7


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
@pytest.mark.parametrize("busy", ["127.0.0.1", "0.0.0.0"], ids=["same-address", "wildcard"])
def test_checkReportsPortInUse(loomd, tmp_path, server, busy):
    # A listener on 0.0.0.0 takes the port of every IPv4 address too.
    with socket.socket() as holder:
        holder.bind((busy, 0))
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


@pytest.mark.parametrize("option", ["--status", "--stop", "--reload", "--log-status"])
def test_controlCommandsNeedNoApplication(loomd, option):
    # Init scripts call these without -y: no application is loaded.
    result = loomd.run(option, "--pidfile", loomd.pidfile)
    assert result.returncode in (0, 3, 7)
    assert "nothing to run" not in result.stderr


@pytest.mark.parametrize("server", [TCP_SERVER, ENDPOINT], ids=["TCPServer", "endpoint"])
def test_checkPortInUseHonoursTheInterface(loomd, tmp_path, server):
    # A port busy on 127.0.0.2 alone leaves 127.0.0.1's free; 127.0.0.2's is not.
    with socket.socket() as holder:
        holder.bind(("127.0.0.2", 0))
        holder.listen()
        port = holder.getsockname()[1]
        onOne = tacFile(tmp_path, server % port, name="one.tac")
        onTwo = tacFile(tmp_path, (server % port).replace("127.0.0.1", "127.0.0.2"), name="two.tac")
        passing = loomd.run("--check", "-y", onOne, "--pidfile", loomd.pidfile)
        failing = loomd.run("--check", "-y", onTwo, "--pidfile", loomd.pidfile)
    assert passing.returncode == 0, passing.stderr
    assert failing.returncode == 1
    assert "cannot listen on 127.0.0.2:%d: address already in use" % (port,) in failing.stderr


def test_checkRefusesASymlinkPidfile(loomd, tmp_path):
    tac = tacFile(tmp_path, "")
    os.symlink(str(tmp_path / "elsewhere.pid"), loomd.pidfile)
    result = loomd.run("--check", "-y", tac, "--pidfile", loomd.pidfile)
    assert result.returncode == 1
    assert "refusing to open pidfile %s: it is a symbolic link" % (loomd.pidfile,) in result.stderr
    # The real start refuses it with the same words.
    start = loomd.run("-y", tac, "--pidfile", loomd.pidfile)
    assert start.returncode == 1 and "symbolic link" in start.stderr


@pytest.mark.parametrize("kind", ["symlink", "fifo"])
def test_checkRefusesWhatTheStartWouldRefuseAtTheLogPath(loomd, tmp_path, kind):
    # A FIFO at the log path used to hang --check itself (its probe open
    # waited for a reader).
    tac = tacFile(tmp_path, "")
    if kind == "symlink":
        os.symlink(str(tmp_path / "elsewhere.log"), loomd.logfile)
        reason = "it is a symbolic link"
    else:
        os.mkfifo(loomd.logfile)
        reason = "it is not a regular file (FIFO)"
    result = loomd.run("--check", "-y", tac, "--pidfile", loomd.pidfile, "-l", loomd.logfile)
    assert result.returncode == 1
    assert "refusing to open log file %s: %s" % (loomd.logfile, reason) in result.stderr
    assert not os.path.exists(tmp_path / "elsewhere.log")


def test_checkRefusesAPidfileThatIsNotARegularFile(loomd, tmp_path):
    tac = tacFile(tmp_path, "")
    os.mkdir(loomd.pidfile)
    result = loomd.run("--check", "-y", tac, "--pidfile", loomd.pidfile)
    assert result.returncode == 1
    assert "pidfile %s" % (loomd.pidfile,) in result.stderr
    assert loomd.run("-y", tac, "--pidfile", loomd.pidfile).returncode == 1


def test_checkReportsADaemonAlreadyRunning(loomd, tmp_path):
    tac = tacFile(tmp_path, "")
    pid = loomd.daemon(tac)
    result = loomd.run("--check", "-y", tac, "--pidfile", loomd.pidfile, "-l", loomd.logfile)
    assert result.returncode == 1
    assert "already running (pid %d)" % (pid,) in result.stderr
    assert alive(pid)
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the daemon to exit")


UNIX_ENDPOINT = """
from services.internet import service
service("unix:%s", Factory.forProtocol(Echo)).setServiceParent(application)
"""


def test_checkReportsAUnixSocketDirectoryMissing(loomd, tmp_path):
    path = str(tmp_path / "missing" / "app.sock")
    tac = tacFile(tmp_path, UNIX_ENDPOINT % (path,))
    result = loomd.run("--check", "-y", tac, "--pidfile", loomd.pidfile)
    assert result.returncode == 1
    assert (
        "cannot listen on %s: directory %s does not exist" % (path, tmp_path / "missing")
        in result.stderr
    )
    good = str(tmp_path / "app.sock")
    tac = tacFile(tmp_path, UNIX_ENDPOINT % (good,), name="good.tac")
    result = loomd.run("--check", "-y", tac, "--pidfile", loomd.pidfile)
    assert result.returncode == 0, result.stderr
    assert good in result.stdout and not os.path.exists(good)


def test_checkNotesASocketTheTargetUserCannotRemove(loomd, tmp_path):
    needRoot()
    # Root's directory, open to all but writable by root alone (pytest's
    # tmp_path is not reachable by nobody, hence a directory of its own).
    # The socket is bound as root, so the start works (see
    # tests/reliability/test_unix_sockets.py); only its removal at stop does
    # not, and the next start replaces it: a note, not a failure.
    sockets = tempfile.mkdtemp(prefix="loomd-sockets-")
    try:
        os.chmod(sockets, 0o755)
        path = os.path.join(sockets, "app.sock")
        tac = tacFile(tmp_path, UNIX_ENDPOINT % (path,))
        args = ("--check", "-y", tac, "--pidfile", "", "-l", "-")
        result = loomd.run(*args, "-u", "nobody")
        assert result.returncode == 0, result.stderr
        assert (
            "note: the target user cannot remove %s at stop; the next start replaces it as stale"
            % (path,)
            in result.stdout
        )
        result = loomd.run(*args)
        assert result.returncode == 0, result.stderr
        assert "note:" not in result.stdout  # root may remove it
    finally:
        os.rmdir(sockets)


def test_unixListenFailureNamesThePath(loomd, tmp_path):
    path = str(tmp_path / "missing" / "app.sock")
    tac = tacFile(tmp_path, UNIX_ENDPOINT % (path,))
    result = loomd.run("-n", "-y", tac, "--pidfile", loomd.pidfile, "-l", loomd.logfile)
    assert result.returncode == 1
    assert "cannot listen on %s: no such file or directory" % (path,) in result.stderr
    assert "0.0.0.0" not in result.stderr
