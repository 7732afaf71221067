"""
The procmon plugin: its options and configuration file, and ``loomd
procmon`` run for real (restarts, output in the log under each program's
name, SIGUSR2 and ``--log-status``, a child ignoring SIGTERM killed within
--shutdown-timeout).
"""

import os
import shlex
import signal
import sys

import pytest

from services.plugins import builtinMakers
from services.plugins_builtin import procmon
from services.procmon import ProcessMonitor
from services.usage import UsageError
from tests.services.loomd_helpers import (  # noqa: F401 - loomdFixture: the loomd fixture
    alive,
    loomdFixture,
    readLog,
    readPid,
    wait,
    waitFor,
)

pytestmark = pytest.mark.timeout(60)


def parsed(*args):
    options = procmon.Options()
    options.parseOptions(list(args))
    return options


def config(tmp_path, text):
    path = tmp_path / "procmon.ini"
    path.write_text(text)
    return str(path)


def test_isABuiltinPlugin():
    [maker] = [maker for maker in builtinMakers() if maker.tapname == "procmon"]
    assert maker.options is procmon.Options


def test_oneProgramFromTheCommandLine():
    # Options after the program are the program's (getopt stops there).
    options = parsed("-t", "2", "--killtime", "7", "sleep", "-x", "10")
    assert options["programs"] == [
        dict(name="sleep -x 10", args=["sleep", "-x", "10"], uid=None, gid=None, env=None, cwd=None)
    ]
    assert (options["threshold"], options["killtime"]) == (2.0, 7.0)
    assert (options["minrestartdelay"], options["maxrestartdelay"]) == (1.0, 3600.0)
    assert parsed("--name", "napper", "sleep", "10")["programs"][0]["name"] == "napper"


def test_makeServiceBuildsTheMonitor():
    options = parsed("-t", "2", "-k", "3", "-m", "0.5", "-M", "60", "sleep", "10")
    monitor = procmon.makeService(options)
    assert isinstance(monitor, ProcessMonitor)
    assert (monitor.threshold, monitor.killTime) == (2.0, 3.0)
    assert (monitor.minRestartDelay, monitor.maxRestartDelay) == (0.5, 60.0)
    assert [(s.name, s.state) for s in monitor.status()] == [("sleep 10", "stopped")]


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "nothing to run"),
        (["no-such-program-anywhere"], "program no-such-program-anywhere not found in PATH"),
        (["/nonexistent/prog"], "/nonexistent/prog is not an executable file"),
        (["-m", "10", "-M", "5", "sleep", "1"], "--minrestartdelay is more than"),
        (["-k", "-1", "sleep", "1"], "not a number of seconds >= 0: '-1' (option -k"),
        (["--name", "x"], "--name names PROGRAM"),
    ],
)
def test_badCommandLines(args, message):
    with pytest.raises(UsageError) as raised:
        parsed(*args)
    assert message in str(raised.value)


def test_configFile(tmp_path):
    (tmp_path / "www").mkdir()
    path = config(
        tmp_path,
        """
[DEFAULT]
user = 0

[web]
command = sh -c "echo 'two words'"
directory = %s
group = root
environment = LANG=C.UTF-8 GREETING="hello there"

[worker]
command = sleep 10
clear-environment = yes
environment = PATH=/usr/bin:/bin
"""
        % (tmp_path / "www",),
    )
    web, worker = parsed("--config", path)["programs"]
    assert web["name"] == "web"
    assert web["args"] == ["sh", "-c", "echo 'two words'"]
    assert web["cwd"] == str(tmp_path / "www")
    assert (web["uid"], web["gid"]) == (0, 0)
    assert web["env"]["GREETING"] == "hello there" and web["env"]["LANG"] == "C.UTF-8"
    assert web["env"]["PATH"] == os.environ["PATH"]
    assert worker["env"] == {"PATH": "/usr/bin:/bin"}
    assert (worker["uid"], worker["gid"]) == (0, None)


def test_configFileAndCommandLineTogether(tmp_path):
    path = config(tmp_path, "[a]\ncommand = sleep 1\n")
    programs = parsed("--config", path, "sleep", "2")["programs"]
    assert [program["name"] for program in programs] == ["a", "sleep 2"]
    assert programs[0]["env"] is None


@pytest.mark.parametrize(
    "text, message",
    [
        ("", "names no program"),
        ("command = x\n", "is not a valid configuration file"),
        ("[a]\ncommand = sleep 1\nrestart = always\n", "[a]: unknown key restart"),
        ("[a]\ndirectory = /\n", "[a]: no command"),
        ("[a]\ncommand = sleep 'unclosed\n", "[a]: No closing quotation"),
        ("[a]\ncommand = sleep 1\nuser = no-such-user-here\n", "no user named 'no-such-user-here'"),
        ("[a]\ncommand = sleep 1\ngroup = no-such-group-here\n", "no group named"),
        ("[a]\ncommand = sleep 1\ndirectory = /no/such/dir\n", "directory /no/such/dir does not"),
        ("[a]\ncommand = sleep 1\nenvironment = JUSTANAME\n", "'JUSTANAME' is not NAME=value"),
        ("[a]\ncommand = nowhere-to-be-found\n", "program nowhere-to-be-found not found"),
        ("[a]\ncommand = sleep 1\nclear-environment = perhaps\n", "[a]: Not a boolean"),
    ],
)
def test_badConfigFiles(tmp_path, text, message):
    path = config(tmp_path, text)
    with pytest.raises(UsageError) as raised:
        parsed("--config", path)
    assert message in str(raised.value)
    assert path in str(raised.value)


def test_unreadableConfigFile(tmp_path):
    with pytest.raises(UsageError) as raised:
        parsed("--config", str(tmp_path / "missing.ini"))
    assert "cannot read" in str(raised.value)


def test_aNameTakenTwice(tmp_path):
    path = config(tmp_path, "[napper]\ncommand = sleep 1\n")
    with pytest.raises(UsageError) as raised:
        parsed("--config", path, "--name", "napper", "sleep", "2")
    assert "'napper' names a program of" in str(raised.value)


# -- loomd procmon, for real --------------------------------------------------------------

STUBBORN = (
    "import signal, time\n"
    "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
    "print('stubborn is up', flush=True)\n"
    "time.sleep(60)\n"
)


def test_loomdSupervisesPrograms(loomd, tmp_path):
    script = tmp_path / "stubborn.py"
    script.write_text(STUBBORN)
    path = config(
        tmp_path,
        "[stubborn]\ncommand = %s %s\n\n[crasher]\ncommand = sh -c 'echo crashing >&2; exit 3'\n"
        % (shlex.quote(sys.executable), shlex.quote(str(script))),
    )
    process = loomd.spawn(
        "-n",
        "--pidfile",
        loomd.pidfile,
        "-l",
        loomd.logfile,
        "--shutdown-timeout",
        "3",
        "procmon",
        "--killtime",
        "30",
        "--minrestartdelay",
        "0.1",
        "--maxrestartdelay",
        "0.1",
        "--config",
        path,
    )

    def logged():
        return readLog(loomd.logfile)

    waitFor(lambda: "[stubborn] stubborn is up" in logged(), 20, "stubborn", logged)
    waitFor(lambda: logged().count("[crasher] crashing") >= 2, 20, "two crashes", logged)
    assert "process crasher exited with status 3 after" in logged()

    control = loomd.run("--log-status", "--pidfile", loomd.pidfile)
    assert control.returncode == 0, control.stdout
    assert control.stdout.startswith("loomd: log-status requested (pid %d" % (process.pid,))
    waitFor(lambda: "process stubborn: running pid=" in logged(), 10, "the status", logged)
    assert "Received SIGUSR2: loomd pid %d is ready" % (process.pid,) in logged()
    line = next(line for line in logged().splitlines() if "process stubborn: running" in line)
    stubbornPid = int(line.split("pid=")[1].split()[0])
    assert alive(stubbornPid)

    # It ignores SIGTERM; --killtime is 30 s, --shutdown-timeout 3 s: SIGKILL
    # comes within the deadline, and loomd exits 0.
    process.send_signal(signal.SIGTERM)
    code, _, err = wait(process, timeout=20)
    assert code == 0, (err, logged())
    assert not alive(stubbornPid)
    assert "process stubborn did not exit after SIGTERM: sending SIGKILL" in logged()
    assert "shutdown timed out" not in logged()
    assert readPid(loomd.pidfile) is None


def test_loomdRunsOneProgramFromItsCommandLine(loomd, tmp_path):
    process = loomd.spawn(
        "-n",
        "--pidfile",
        "",
        "-l",
        loomd.logfile,
        "procmon",
        "sh",
        "-c",
        "echo hi there; exec sleep 60",
    )
    waitFor(
        lambda: "[sh -c echo hi there; exec sleep 60] hi there" in readLog(loomd.logfile),
        20,
        "the program's line",
        lambda: readLog(loomd.logfile),
    )
    process.send_signal(signal.SIGTERM)
    code, _, err = wait(process, timeout=20)
    assert code == 0, err
    assert "exec sleep 60 was killed by signal 15" in readLog(loomd.logfile)


def test_logStatusWithoutADaemon(loomd, tmp_path):
    result = loomd.run("--log-status", "--pidfile", str(tmp_path / "none.pid"))
    assert result.returncode == 7
    assert "not running" in result.stdout
