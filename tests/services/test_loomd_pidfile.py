"""
End-to-end: the pidfile cannot lie.  Concurrent starts cannot both run (twistd
checks before forking and writes after, with no lock); a locked pidfile
refuses a second start; an unlocked one is stale whatever it holds (a dead
pid, nothing, garbage, a live but unrelated pid such as the one a restarted
container hands the new daemon) and is replaced with a log line.
"""

import os
import signal
import subprocess

import pytest

from tests.services.loomd_helpers import (
    alive,
    echo,
    freePort,
    loomdEnvironment,
    loomdFixture,  # noqa: F401 - the loomd fixture
    readLog,
    readPid,
    tacFile,
    waitFor,
)


def stopDaemon(pid):
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="pid %d to exit" % (pid,))


def test_fiveConcurrentStartsRunExactlyOne(loomd, tmp_path):
    port = freePort()
    tac = tacFile(tmp_path, "EchoService(%d).setServiceParent(application)\n" % port)
    # Each start binds nothing that would collide before the pidfile lock:
    # the port is only bound after it, so the lock alone decides.
    launchers = [
        loomd.spawn("-y", tac, "--pidfile", loomd.pidfile, "-l", loomd.logfile) for _ in range(5)
    ]
    results = []
    for launcher in launchers:
        out, err = launcher.communicate(timeout=15)
        results.append((launcher.returncode, err))
    codes = sorted(code for code, _ in results)
    assert codes == [0, 1, 1, 1, 1], results
    pid = readPid(loomd.pidfile)
    loomd.track(pid)
    for code, err in results:
        if code == 1:
            assert "already running (pid %d)" % (pid,) in err
    assert echo(port) == b"hello loomd\n"
    # Exactly one daemon process remains.
    waitFor(lambda: loomd.leftovers() == [pid], what="only the winner to remain")
    stopDaemon(pid)


def test_secondStartIsRefusedWhileTheFirstRuns(loomd, tmp_path):
    tac = tacFile(tmp_path, "")
    pid = loomd.daemon(tac)
    result = loomd.run("-y", tac, "--pidfile", loomd.pidfile, "-l", loomd.logfile)
    assert result.returncode == 1
    assert "already running (pid %d)" % (pid,) in result.stderr
    assert readPid(loomd.pidfile) == pid and alive(pid)
    stopDaemon(pid)


def deadPid():
    child = subprocess.Popen(["true"])
    child.wait()
    return child.pid


@pytest.mark.parametrize(
    "content",
    ["dead", "", "garbage\x00\xff not a pid", "launcher", "1"],
    ids=["deadPid", "empty", "garbage", "launchersOwnPid", "pidOne"],
)
def test_unlockedPidfileIsStaleAndReplaced(loomd, tmp_path, content):
    # "launchersOwnPid" and "pidOne" are the container-restart case: the
    # file names a live process (possibly the new daemon itself), but no
    # one holds its lock, so it is stale.
    if content == "dead":
        content = str(deadPid())
    elif content == "launcher":
        content = str(os.getpid())
    with open(loomd.pidfile, "w") as pidfile:
        pidfile.write(content)
    tac = tacFile(tmp_path, "")
    pid = loomd.daemon(tac)
    assert readPid(loomd.pidfile) == pid
    assert "Replacing stale pidfile %s" % (loomd.pidfile,) in readLog(loomd.logfile)
    stopDaemon(pid)
    assert not os.path.exists(loomd.pidfile)


def test_symlinkPidfileIsRefused(loomd, tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("")
    os.symlink(target, loomd.pidfile)
    tac = tacFile(tmp_path, "")
    result = loomd.run("-y", tac, "--pidfile", loomd.pidfile, "-l", loomd.logfile)
    assert result.returncode == 1
    assert "Traceback" not in result.stderr
    expected = "loomd: refusing to open pidfile %s: it is a symbolic link\n" % (loomd.pidfile,)
    assert result.stderr == expected
    assert os.path.islink(loomd.pidfile) and target.read_text() == ""
    assert loomd.leftovers() == []


def test_relativePathsMeanTheSameFileAfterRundir(loomd, tmp_path):
    # --pidfile and -l relative to where loomd was started, not to --rundir.
    rundir = tmp_path / "run"
    rundir.mkdir()
    tac = tacFile(tmp_path, "")
    result = loomd.run(
        "-y",
        "app.tac",
        "--pidfile",
        "rel.pid",
        "-l",
        "rel.log",
        "-d",
        str(rundir),
        env=loomdEnvironment(),
    )
    assert result.returncode == 0, result.stderr
    pid = readPid(str(tmp_path / "rel.pid"))
    loomd.track(pid)
    assert alive(pid)
    assert os.readlink("/proc/%d/cwd" % pid) == str(rundir)
    assert "loomd ready" in readLog(str(tmp_path / "rel.log"))
    assert tac
    stopDaemon(pid)
    assert not (tmp_path / "rel.pid").exists()
