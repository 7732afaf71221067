"""
Tests for services.loomd.deploy.

The init script is checked with ``sh -n`` and then really run against a
stand-in ``loomd`` (a shell script recording its arguments), with and
without start-stop-daemon on PATH; the units are parsed back, their
command lines split by systemd's rules, and given to ``systemd-analyze
verify`` where it exists.
"""

import os
import shutil
import signal
import subprocess
import sys
import threading

import pytest

from services.loomd.deploy import initScript, systemdQuote, systemdSocket, systemdUnit

TRICKY_ARGS = [
    "--logfile",
    "/var/log/my app/loomd.log",
    '--prefix=it\'s "quoted"',
    "-y",
    "/srv/$HOME/app;rm -rf x`id`.tac",
    "100%",
    "",
]

FAKE_LOOMD = """\
#!/bin/sh
# Records each call's arguments (one per line, then a blank-free marker)
# and answers --status with $FAKE_STATUS.
{ printf '%s\\n' "$@"; echo '-- end of call --'; } >> "$FAKE_LOG"
case "$1" in
    --status) exit "${FAKE_STATUS:-3}" ;;
    --stop) exit "${FAKE_STOP:-0}" ;;
esac
exit "${FAKE_EXIT:-0}"
"""


@pytest.fixture
def setup(tmp_path):
    """Write the fake loomd and an init script using it; return a runner."""
    loomd = tmp_path / "fake loomd"  # a space in the executable's path too
    loomd.write_text(FAKE_LOOMD)
    loomd.chmod(0o755)
    script = tmp_path / "finger.init"
    pidfile = tmp_path / "run" / "finger.pid"
    pidfile.parent.mkdir()
    script.write_text(initScript("finger", TRICKY_ARGS, str(pidfile), loomd=str(loomd)))
    record = tmp_path / "calls.log"

    def run(action, withStartStopDaemon=False, **fakeEnv):
        path = "/usr/bin:/bin"
        if withStartStopDaemon:
            path = os.path.dirname(shutil.which("start-stop-daemon")) + ":" + path
        env = {"PATH": path, "FAKE_LOG": str(record)}
        env.update({key: str(value) for key, value in fakeEnv.items()})
        done = subprocess.run(
            ["sh", "-x", str(script), action], capture_output=True, text=True, env=env, timeout=30
        )
        calls = []
        if record.exists():
            calls = [
                call.split("\n")[:-1] for call in record.read_text().split("-- end of call --\n")
            ]
            record.unlink()
        return done, [call for call in calls if call != []]

    return run, script, str(pidfile)


def test_initScriptPassesShN(setup):
    _, script, _ = setup
    done = subprocess.run(["sh", "-n", str(script)], capture_output=True, text=True, timeout=10)
    assert (done.returncode, done.stderr) == (0, "")


def test_initScriptHeaderAndActions(setup):
    _, script, _ = setup
    text = script.read_text()
    header = text.split("### BEGIN INIT INFO\n")[1].split("### END INIT INFO")[0]
    keys = [line[2:].split(":")[0] for line in header.splitlines()]
    assert keys == [
        "Provides",
        "Required-Start",
        "Required-Stop",
        "Default-Start",
        "Default-Stop",
        "Short-Description",
        "Description",
    ]
    assert "# Provides:          finger\n" in header
    assert "# Default-Start:     2 3 4 5\n" in header
    for action in ("start)", "stop)", "restart)", "force-reload)", "reload)", "status)"):
        assert "\n    %s\n" % (action,) in text


@pytest.mark.parametrize("code", [0, 1, 3, 4])
def test_statusPassesLoomdsLsbCode(setup, code):
    run, _, pidfile = setup
    done, calls = run("status", FAKE_STATUS=code)
    assert done.returncode == code
    assert calls == [["--status", "--pidfile", pidfile]]
    assert "Usage" not in done.stderr


def test_startWithoutStartStopDaemonPassesEveryArgumentIntact(setup):
    run, _, pidfile = setup
    done, calls = run("start", FAKE_STATUS=3)
    assert done.returncode == 0, done.stderr
    assert "start-stop-daemon --start" not in done.stderr
    assert calls == [["--status", "--pidfile", pidfile], ["--pidfile", pidfile, *TRICKY_ARGS]]


def test_startThroughStartStopDaemonPassesEveryArgumentIntact(setup):
    run, _, pidfile = setup
    done, calls = run("start", withStartStopDaemon=True, FAKE_STATUS=3)
    assert done.returncode == 0, done.stderr
    assert "+ start-stop-daemon --start --quiet --pidfile %s" % (pidfile,) in done.stderr
    assert calls == [["--status", "--pidfile", pidfile], ["--pidfile", pidfile, *TRICKY_ARGS]]


def test_failedStartIsReported(setup):
    run, _, _ = setup
    done, _ = run("start", FAKE_STATUS=3, FAKE_EXIT=1)
    assert done.returncode == 1


def test_startWhenRunningSucceedsWithoutStarting(setup):
    run, _, pidfile = setup
    done, calls = run("start", FAKE_STATUS=0)
    assert (done.returncode, done.stdout) == (0, "finger is already running\n")
    assert calls == [["--status", "--pidfile", pidfile]]


def test_stopWithoutStartStopDaemonUsesLoomdStop(setup):
    run, _, pidfile = setup
    done, calls = run("stop", FAKE_STATUS=0)
    assert done.returncode == 0
    assert calls[-1] == ["--stop", "--pidfile", pidfile, "--timeout", "30"]
    done, _ = run("stop", FAKE_STATUS=0, FAKE_STOP=1)
    assert done.returncode == 1


def test_stopWhenNotRunningSucceeds(setup):
    run, _, pidfile = setup
    done, calls = run("stop", FAKE_STATUS=3)
    assert (done.returncode, done.stdout) == (0, "finger is not running\n")


def test_stopThroughStartStopDaemonSignalsThePidInThePidfile(setup):
    run, _, pidfile = setup
    victim = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(60)"])
    reaper = threading.Thread(target=victim.wait)  # so it leaves no zombie
    reaper.start()
    try:
        with open(pidfile, "w") as written:
            written.write("%d\n" % (victim.pid,))
        done, calls = run("stop", withStartStopDaemon=True, FAKE_STATUS=0)
        reaper.join(timeout=20)
        assert done.returncode == 0, done.stderr
        assert "+ start-stop-daemon --stop --quiet --pidfile %s" % (pidfile,) in done.stderr
        assert victim.returncode == -signal.SIGTERM
    finally:
        if victim.poll() is None:
            victim.kill()
        reaper.join(timeout=20)


def test_forceReloadReloadsARunningDaemon(setup):
    run, _, pidfile = setup
    done, calls = run("force-reload", FAKE_STATUS=0)
    assert done.returncode == 0
    assert calls[-1] == ["--reload", "--pidfile", pidfile]


def test_reloadWhenNotRunningIsSeven(setup):
    run, _, _ = setup
    done, _ = run("reload", FAKE_STATUS=3)
    assert done.returncode == 7


def test_unknownActionIsTwo(setup):
    run, _, _ = setup
    done, calls = run("explode")
    assert done.returncode == 2
    assert "\nUsage: " in done.stderr


def test_missingLoomdIsFiveOrFourForStatus(tmp_path):
    script = tmp_path / "x.init"
    script.write_text(initScript("x", ["-y", "app.tac"], "/run/x.pid", loomd="/nonexistent/loomd"))
    for action, code in (("start", 5), ("status", 4), ("stop", 0)):
        done = subprocess.run(["sh", str(script), action], capture_output=True, timeout=10)
        assert done.returncode == code


def test_initScriptRefusesBadNamesAndOtherPidfiles():
    with pytest.raises(ValueError, match="init script name"):
        initScript("a b", [], "/run/x.pid")
    with pytest.raises(ValueError, match="needs a pidfile"):
        initScript("x", [], "")
    with pytest.raises(ValueError, match="name pidfile /tmp/y but the init script uses /run/x.pid"):
        initScript("x", ["--pidfile=/tmp/y"], "/run/x.pid")


def test_initScriptDropsTheSamePidfileFromTheArguments():
    script = initScript(
        "x",
        ["--pidfile", "/run/x.pid", "-y", "a.tac", "--pidfile=/run/x.pid"],
        "/run/x.pid",
        loomd="/usr/bin/loomd",
    )
    assert '--pidfile "$PIDFILE" -y a.tac\n' in script


# -- systemd ------------------------------------------------------------------


def parseUnit(text):
    """Return {section: [(key, value), ...]} for a unit file."""
    sections, current = {}, None
    for line in text.splitlines():
        if line.startswith("["):
            current = sections.setdefault(line.strip("[]"), [])
        elif line:
            key, value = line.split("=", 1)
            current.append((key, value))
    return sections


def splitSystemdCommand(line):
    """Split a command line the way systemd does (quotes, C escapes, %% and $$)."""
    words, index = [], 0
    escapes = {"n": "\n", "t": "\t", "r": "\r", "\\": "\\", '"': '"', "'": "'"}
    while index < len(line):
        if line[index] == " ":
            index += 1
            continue
        word = []
        quote = line[index] if line[index] in "\"'" else None
        index += 1 if quote else 0
        while index < len(line) and (quote or line[index] != " "):
            char = line[index]
            if quote and char == quote:
                index += 1
                break
            if char == "\\":
                char = escapes[line[index + 1]]
                index += 1
            elif char in "%$" and line[index + 1] == char:
                index += 1
            word.append(char)
            index += 1
        words.append("".join(word))
    return words


def test_unitHasTheExpectedKeys():
    unit = parseUnit(
        systemdUnit(
            ["-y", "/srv/finger.tac"],
            "Finger server",
            loomd="/usr/bin/loomd",
            watchdogSec=20,
            shutdownTimeout=30,
            environment={"PYTHONUNBUFFERED": "1"},
        )
    )
    assert unit["Unit"] == [("Description", "Finger server"), ("After", "network.target")]
    assert dict(unit["Service"]) == {
        "Type": "notify",
        "NotifyAccess": "main",
        "ExecStart": "/usr/bin/loomd -n -y /srv/finger.tac",
        "ExecReload": "/bin/kill -HUP $MAINPID",
        "Restart": "on-failure",
        "KillMode": "mixed",
        "WatchdogSec": "20",
        "TimeoutStopSec": "35",
        "Environment": "PYTHONUNBUFFERED=1",
    }
    assert unit["Install"] == [("WantedBy", "multi-user.target")]


def test_unitKeepsAnExistingNodaemonAndRequiresItsSocket():
    unit = parseUnit(
        systemdUnit(["--nodaemon", "finger"], "x", loomd="/usr/bin/loomd", socketUnit="f.socket")
    )
    assert dict(unit["Service"])["ExecStart"] == "/usr/bin/loomd --nodaemon finger"
    assert ("Requires", "f.socket") in unit["Unit"]
    assert "WatchdogSec" not in dict(unit["Service"])


def test_unitArgumentsSurviveSystemdQuoting():
    unit = parseUnit(systemdUnit(TRICKY_ARGS, "x", loomd="/opt/my loomd/loomd"))
    command = dict(unit["Service"])["ExecStart"]
    assert splitSystemdCommand(command) == ["/opt/my loomd/loomd", "-n", *TRICKY_ARGS]


@pytest.mark.parametrize("word", ["plain", "with space", 'a"b', "back\\slash", "50%", "$X", ""])
def test_systemdQuoteRoundTrips(word):
    assert splitSystemdCommand(systemdQuote(word)) == [word]


def test_systemdAcceptsTheUnits(tmp_path):
    verify = shutil.which("systemd-analyze")
    if verify is None:
        pytest.skip("systemd-analyze is not installed; the parsing tests above still ran")
    (tmp_path / "finger.service").write_text(
        systemdUnit(TRICKY_ARGS, "Finger", loomd="/bin/echo", socketUnit="finger.socket")
    )
    (tmp_path / "finger.socket").write_text(
        systemdSocket("Finger socket", listenStreams=["127.0.0.1:1079"], fileDescriptorName="web")
    )
    done = subprocess.run(
        [verify, "verify", "--man=no", str(tmp_path / "finger.service")],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 0, done.stderr
    assert "finger.service" not in done.stderr


def test_socketUnit():
    unit = parseUnit(
        systemdSocket(
            "Finger sockets",
            listenStreams=["127.0.0.1:1079", "/run/finger.sock"],
            listenDatagrams=["127.0.0.1:1079"],
            fileDescriptorName="finger",
            service="finger.service",
        )
    )
    assert unit["Socket"] == [
        ("ListenStream", "127.0.0.1:1079"),
        ("ListenStream", "/run/finger.sock"),
        ("ListenDatagram", "127.0.0.1:1079"),
        ("FileDescriptorName", "finger"),
        ("Service", "finger.service"),
    ]
    assert unit["Install"] == [("WantedBy", "sockets.target")]


def test_socketUnitRefusesBadAddresses():
    with pytest.raises(ValueError, match="at least one address"):
        systemdSocket("x")
    with pytest.raises(ValueError, match="one word"):
        systemdSocket("x", listenStreams=["127.0.0.1 80"])
