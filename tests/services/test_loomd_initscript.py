"""
End-to-end: the LSB init script printed by ``loomd --print-init-script``
is valid sh and starts, reports and stops a real daemon on this machine
through start-stop-daemon, with LSB exit codes.
"""

import os
import shutil
import stat
import subprocess
import sys

import pytest

from tests.services.loomd_helpers import (
    LOOMD,
    alive,
    echo,
    freePort,
    loomdEnvironment,
    loomdFixture,  # noqa: F401 - the loomd fixture
    readPid,
    tacFile,
)


def installLoomd(directory):
    """A `loomd` executable in directory running this checkout's bin/loomd."""
    path = os.path.join(str(directory), "loomd")
    with open(path, "w") as script:
        script.write('#!/bin/sh\nexec %s %s "$@"\n' % (sys.executable, LOOMD[1]))
    os.chmod(path, os.stat(path).st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    return path


@pytest.fixture
def initScript(loomd, tmp_path):
    """Print the init script for an echo daemon; return (path, port, environment)."""
    port = freePort()
    tac = tacFile(tmp_path, "EchoService(%d).setServiceParent(application)\n" % port)
    bindir = tmp_path / "bin"
    bindir.mkdir()
    installLoomd(bindir)
    env = loomdEnvironment(PATH="%s:%s" % (bindir, os.environ.get("PATH", "/usr/bin:/bin")))
    result = loomd.run(
        "--print-init-script",
        "echo-daemon",
        "-y",
        tac,
        "--pidfile",
        loomd.pidfile,
        "-l",
        loomd.logfile,
        env=env,
    )
    assert result.returncode == 0, result.stderr
    path = str(tmp_path / "echo-daemon")
    with open(path, "w") as script:
        script.write(result.stdout)
    return path, port, env


def test_initScriptPassesShDashN(initScript):
    path, _, _ = initScript
    assert subprocess.run(["sh", "-n", path], timeout=10).returncode == 0
    text = open(path).read()
    assert "### BEGIN INIT INFO" in text and "# Provides:          echo-daemon" in text


def installLoggingStartStopDaemon(directory, real, logPath):
    """A start-stop-daemon in directory that logs its arguments, then runs real."""
    path = os.path.join(str(directory), "start-stop-daemon")
    with open(path, "w") as script:
        script.write('#!/bin/sh\necho "$*" >> %s\nexec %s "$@"\n' % (logPath, real))
    os.chmod(path, 0o755)


def test_initScriptStartsReportsAndStopsADaemon(loomd, initScript, tmp_path):
    real = shutil.which("start-stop-daemon", path="/sbin:/usr/sbin:/bin:/usr/bin")
    if real is None:
        pytest.skip("start-stop-daemon (Debian package dpkg) is not installed")
    path, port, env = initScript
    # The bin directory first on the script's PATH gets a start-stop-daemon
    # that says when it runs: start and stop must go through it, not through
    # the `loomd --stop` fallback.
    calls = tmp_path / "start-stop-daemon.log"
    installLoggingStartStopDaemon(tmp_path / "bin", real, calls)

    def action(name):
        return subprocess.run(
            ["sh", path, name], env=env, capture_output=True, text=True, timeout=20
        )

    assert action("status").returncode == 3
    started = action("start")
    assert started.returncode == 0, (started.stdout, started.stderr)
    pid = readPid(loomd.pidfile)
    loomd.track(pid)
    assert alive(pid)
    assert echo(port) == b"hello loomd\n"
    assert action("status").returncode == 0
    assert action("start").returncode == 0  # already running: nothing to do
    assert readPid(loomd.pidfile) == pid
    assert action("reload").returncode == 0
    stopped = action("stop")
    assert stopped.returncode == 0, (stopped.stdout, stopped.stderr)
    assert not alive(pid)
    invocations = calls.read_text().splitlines()
    assert [line.split()[0] for line in invocations] == ["--start", "--stop"], invocations
    assert "--pidfile %s" % (loomd.pidfile,) in invocations[1]
    assert action("status").returncode == 3
    assert action("reload").returncode == 7
    assert action("bogus").returncode == 2


def printedScript(loomd, tmp_path, *args):
    """The text of ``loomd --print-init-script app ARGS``."""
    tac = tacFile(tmp_path, "")
    result = loomd.run("--print-init-script", "app", "-y", tac, "--pidfile", loomd.pidfile, *args)
    assert result.returncode == 0, result.stderr
    return result.stdout


def startCommand(text):
    """The loomd arguments of the script's plain (no start-stop-daemon) start."""
    line = [entry for entry in text.splitlines() if 'run_loomd --pidfile "$PIDFILE"' in entry]
    return line[0].split('"$PIDFILE"', 1)[1].split()


def test_initScriptStopTimeoutFollowsShutdownTimeout(loomd, tmp_path):
    text = printedScript(loomd, tmp_path, "--shutdown-timeout", "120")
    assert "\nSTOP_TIMEOUT=125\n" in text
    text = printedScript(loomd, tmp_path, "--shutdown-timeout", "2.5")
    assert "\nSTOP_TIMEOUT=8\n" in text


@pytest.mark.parametrize(
    "given, expected",
    [
        (["-n"], []),
        (["--nodaemon"], []),
        (["-nu", "nobody"], ["-u", "nobody"]),
        (["--prefix", "-n", "-n"], ["--prefix", "-n"]),  # a syslog ident "-n"
    ],
)
def test_initScriptStartsADaemonEvenFromANodaemonCommandLine(loomd, tmp_path, given, expected):
    text = printedScript(loomd, tmp_path, *given)
    args = startCommand(text)
    assert args[2:] == expected, args
    assert "-n" not in args[:2] and "--nodaemon" not in args


def test_pluginArgumentsKeepTheirN():
    from services.loomd.runner import _withoutNodaemon

    assert _withoutNodaemon(["-n", "--umask", "022", "web", "-n", "5"]) == [
        "--umask",
        "022",
        "web",
        "-n",
        "5",
    ]
    assert _withoutNodaemon(["-yn", "-n"]) == ["-yn"]


def installedLoomd():
    """The console script of the interpreter running the tests (skip without one)."""
    path = os.path.join(os.path.dirname(os.path.abspath(sys.executable)), "loomd")
    if not os.access(path, os.X_OK):
        pytest.skip("no loomd console script next to %s" % (sys.executable,))
    return path


@pytest.mark.parametrize("option", ["--print-init-script=app", "--print-systemd-unit"])
def test_printedFilesRunTheLoomdThatPrintedThem(loomd, tmp_path, option):
    # loomd run by its absolute path, not on PATH: the printed files name
    # that path, not a guessed /usr/local/bin/loomd.
    console = installedLoomd()
    tac = tacFile(tmp_path, "")
    env = loomdEnvironment(PATH="/usr/bin:/bin")
    text = printedBy([console, option, "-y", tac, "--pidfile", loomd.pidfile], env, tmp_path)
    assert "/usr/local/bin/loomd" not in text
    if option == "--print-systemd-unit":
        assert "ExecStart=%s -n " % (console,) in text
        return
    assert "LOOMD=%s\n" % (console,) in text
    assert statusOfScript(text, env, tmp_path) == 3  # not running; 5 would be "not installed"


def test_printedInitScriptFallsBackToTheInterpreter(loomd, tmp_path):
    # No loomd script at all: `python -m services.runner`, which works.
    tac = tacFile(tmp_path, "")
    env = loomdEnvironment(PATH="/usr/bin:/bin")
    argv = [sys.executable, "-m", "services.runner", "--print-init-script", "app", "-y", tac]
    text = printedBy(argv, env, tmp_path)
    assert "LOOMD=%s\n" % (sys.executable,) in text
    assert statusOfScript(text, env, tmp_path) == 3


def printedBy(argv, env, tmp_path):
    """The standard output of a command that prints a file; it must succeed."""
    result = subprocess.run(
        argv, env=env, cwd=str(tmp_path), capture_output=True, text=True, timeout=15
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def statusOfScript(text, env, tmp_path):
    """Save a printed init script, check its syntax, return the exit code of its status."""
    script = str(tmp_path / "app")
    with open(script, "w") as out:
        out.write(text)
    assert subprocess.run(["sh", "-n", script], timeout=10).returncode == 0
    return subprocess.run(
        ["sh", script, "status"], env=env, capture_output=True, timeout=15
    ).returncode
