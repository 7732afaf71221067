"""
End-to-end checks of loomd options that had no test of their own: --log-level,
``loomd PLUGIN [options]`` with a built-in plugin, -u overriding
Application(uid=), the default pidfile in --rundir, SIGHUP reopening the
log file after logrotate moved it, the placeholders of --help and the
suggestion for a mistyped option.
"""

import os
import pwd
import signal

import pytest

from tests.services.loomd_helpers import (
    alive,
    echo,
    freePort,
    loomdEnvironment,
    loomdFixture,  # noqa: F401 - the loomd fixture
    needRoot,
    procStatus,
    readLog,
    readPid,
    tacFile,
    wait,
    waitFor,
)

LEVELS = """
def logLevels():
    logger = logging.getLogger("app")
    logger.debug("a debug line")
    logger.info("an info line")
    logger.warning("a warning line")
CallbackService(onStart=logLevels).setServiceParent(application)
"""


def stop(pid):
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the daemon to exit")


@pytest.mark.parametrize(
    "level, shown, hidden",
    [
        (None, ["an info line", "a warning line"], ["a debug line"]),
        ("debug", ["a debug line", "an info line", "a warning line"], []),
        ("warning", ["a warning line"], ["a debug line", "an info line", "loomd ready"]),
    ],
)
def test_logLevelChoosesTheLowestLevelLogged(loomd, tmp_path, level, shown, hidden):
    tac = tacFile(tmp_path, LEVELS)
    pid = loomd.daemon(tac, *(("--log-level", level) if level else ()))
    waitFor(lambda: "a warning line" in readLog(loomd.logfile), what="the warning")
    stop(pid)
    text = readLog(loomd.logfile)
    for line in shown:
        assert line in text
    for line in hidden:
        assert line not in text


def test_builtInPluginRunsEndToEnd(loomd, tmp_path):
    port = freePort()
    process = loomd.spawn(
        "-n",
        "--pidfile",
        loomd.pidfile,
        "-l",
        loomd.logfile,
        "echo",
        "--port",
        "tcp:%d:interface=127.0.0.1" % (port,),
    )
    waitFor(
        lambda: "loomd ready" in readLog(loomd.logfile) or process.poll() is not None,
        what="start-up",
        context=lambda: readLog(loomd.logfile),
    )
    assert process.poll() is None, process.communicate()
    assert echo(port, b"through the plugin\n") == b"through the plugin\n"
    assert readPid(loomd.pidfile) == process.pid
    process.send_signal(signal.SIGTERM)
    code, _, err = wait(process)
    assert code == 0, err
    assert not os.path.exists(loomd.pidfile)


def test_uidOptionOverridesTheApplicationsUid(loomd, tmp_path):
    needRoot()
    nobody = pwd.getpwnam("nobody").pw_uid
    tac = tacFile(tmp_path, 'application = Application("test", uid=0, gid=0)\n')
    pid = loomd.daemon(tac, "-u", "nobody")
    assert procStatus(pid)["Uid"].split() == [str(nobody)] * 4
    stop(pid)


def test_gidOptionOverridesTheApplicationsGid(loomd, tmp_path):
    needRoot()
    tac = tacFile(tmp_path, 'application = Application("test", uid=0, gid=0)\n')
    pid = loomd.daemon(tac, "-u", "nobody", "-g", "65534")
    assert procStatus(pid)["Gid"].split() == ["65534"] * 4
    stop(pid)


def test_defaultPidfileIsInTheRunDirectory(loomd, tmp_path):
    rundir = tmp_path / "run"
    rundir.mkdir()
    pidfile = str(rundir / "loomd.pid")
    tac = tacFile(tmp_path, "")
    result = loomd.run("-y", tac, "-d", str(rundir), "-l", loomd.logfile)
    assert result.returncode == 0, (result.stderr, readLog(loomd.logfile))
    pid = readPid(pidfile)
    assert pid is not None and alive(pid)
    loomd.track(pid)
    assert not os.path.exists(str(tmp_path / "loomd.pid"))  # not the launch directory's
    stop(pid)
    assert not os.path.exists(pidfile)


def test_helpShowsWhatEachArgumentIs(loomd):
    result = loomd.run("--help", env=loomdEnvironment(COLUMNS=100))
    assert result.returncode == 0
    for form in (
        "-y, --python=FILE.tac",
        "--print-init-script=NAME",
        "--pidfile=FILE",
        "-u, --uid=USER",
        "--shutdown-timeout=SECONDS",
    ):
        assert form in result.stdout
    # No placeholder is merely the option's name upper-cased.
    assert "=PYTHON" not in result.stdout and "=LOG_" not in result.stdout


def test_unknownOptionSuggestsTheClosestKnownOne(loomd):
    result = loomd.run("--pidfle", "x.pid", "-y", "app.tac")
    assert result.returncode == 1
    assert result.stderr == (
        "loomd: option --pidfle not recognized; did you mean --pidfile?\n"
        "Run 'loomd --help' for usage.\n"
    )
