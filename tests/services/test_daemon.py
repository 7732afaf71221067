"""
Tests for services.loomd.daemon, with real forks.

Each test runs a small launcher script in a subprocess (so pytest's own
process is never forked); the script daemonizes, the daemon does what the
test asks, and the launcher prints what waitForReady said and exits 0 or 1.
"""

import os
import select
import signal
import subprocess
import sys
import textwrap

import pytest

from services.loomd.daemon import StatusPipe, describeExit

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

LAUNCHER = textwrap.dedent(
    """
    import os, signal, sys, time
    from services.loomd.daemon import (
        StartupFailed, StatusPipe, daemonize, redirectStandardStreams)

    def blocked():
        return sorted(s.name for s in signal.pthread_sigmask(signal.SIG_BLOCK, []))

    mode, pidPath = sys.argv[1], sys.argv[2]
    timeout = float(sys.argv[3]) if len(sys.argv) > 3 else 10
    block = (signal.SIGHUP, signal.SIGUSR1) if mode.startswith("mask") else ()
    pipe = StatusPipe()
    if daemonize(pipe, blockSignals=block) is not None:
        try:
            pid = pipe.waitForReady(timeout, grace=0.3 if mode == "closeAndHang" else 2)
        except StartupFailed as failure:
            print("error:", failure, flush=True)
            sys.exit(1)
        print("started", pid, flush=True)
        if mode.startswith("mask"):
            print("launcher blocks", blocked(), flush=True)
        sys.exit(0)

    # The daemon.
    with open(pidPath, "w") as pidFile:
        pidFile.write(str(os.getpid()))
    try:
        with pipe.reportingErrors():
            if mode == "ok":
                redirectStandardStreams()
                pipe.reportReady()
                time.sleep(60)
            elif mode == "error":
                pipe.reportError("cannot listen on 0.0.0.0:80: address already in use")
            elif mode == "multiline":
                pipe.reportError("SyntaxError in app.tac, line 3\\n    x = = 1\\n back\\\\slash")
            elif mode == "exit":
                sys.exit(3)
            elif mode == "raise":
                raise ValueError("bad setting")
            elif mode == "crash":
                os._exit(7)
            elif mode == "kill":
                os.kill(os.getpid(), 9)
            elif mode == "nodevnull":
                redirectStandardStreams(sys.argv[4])
            elif mode == "hang":
                time.sleep(60)
            elif mode == "closeAndHang":
                os.close(pipe.writeFd)
                time.sleep(60)
            elif mode == "mask":
                pipe.reportError("daemon blocks %s" % (blocked(),))
            elif mode == "maskReady":
                redirectStandardStreams()
                pipe.reportReady()
                time.sleep(60)
    except BaseException:
        os._exit(1)
    os._exit(0)
    """
)


def launch(tmp_path, mode, *extra):
    """Run the launcher in mode; return (exit code, stdout, daemon pid)."""
    script = tmp_path / "launcher.py"
    script.write_text(LAUNCHER)
    pidPath = tmp_path / "daemon.pid"
    done = subprocess.run(
        [sys.executable, str(script), mode, str(pidPath), *map(str, extra)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=ROOT),
        cwd=ROOT,
        timeout=30,
    )
    pid = int(pidPath.read_text()) if pidPath.exists() else None
    return done.returncode, done.stdout.strip(), pid


def isRunning(pid):
    """True if pid names a live (not zombie) process."""
    try:
        with open("/proc/%d/stat" % (pid,)) as stat:
            return stat.read().rsplit(")", 1)[1].split()[0] != "Z"
    except FileNotFoundError:
        return False


def killAndWait(pid):
    """SIGKILL pid and wait (bounded) until it is gone."""
    handle = os.pidfd_open(pid)
    try:
        os.kill(pid, signal.SIGKILL)
        select.select([handle], [], [], 10)
    finally:
        os.close(handle)


def test_successReportsOkAndTheDaemonKeepsRunning(tmp_path):
    code, output, pid = launch(tmp_path, "ok")
    try:
        assert (code, output) == (0, "started %d" % (pid,))
        assert isRunning(pid)
        # A session member but not its leader: it can never get a terminal.
        assert os.getsid(pid) == os.getpgid(pid) != pid
        assert os.getsid(pid) != os.getsid(0)
        for fd in (0, 1, 2):
            assert os.readlink("/proc/%d/fd/%d" % (pid, fd)) == os.devnull
    finally:
        killAndWait(pid)


def test_blockedSignalsAreBlockedInTheDaemonOnly(tmp_path):
    # Blocked from before the fork, so no process of the daemon's ever
    # exists without them blocked; the launcher gets its own mask back.
    code, output, _ = launch(tmp_path, "mask")
    assert code == 1
    assert output == "error: daemon blocks ['SIGHUP', 'SIGUSR1']"


def test_blockedSignalsAreRestoredInTheLauncher(tmp_path):
    code, output, pid = launch(tmp_path, "maskReady")
    try:
        assert code == 0
        assert output.splitlines() == ["started %d" % (pid,), "launcher blocks []"]
    finally:
        killAndWait(pid)


def test_reportedErrorExitsOneWithTheText(tmp_path):
    code, output, pid = launch(tmp_path, "error")
    assert (code, output) == (1, "error: cannot listen on 0.0.0.0:80: address already in use")
    assert not isRunning(pid)


def test_multiLineErrorArrivesWhole(tmp_path):
    code, output, pid = launch(tmp_path, "multiline")
    assert code == 1
    assert output == "error: SyntaxError in app.tac, line 3\n    x = = 1\n back\\slash"


def test_sysExitDuringStartupIsReported(tmp_path):
    code, output, pid = launch(tmp_path, "exit")
    assert (code, output) == (1, "error: sys.exit(3) was called during start-up")
    assert not isRunning(pid)


def test_exceptionDuringStartupIsReported(tmp_path):
    code, output, pid = launch(tmp_path, "raise")
    assert (code, output) == (1, "error: ValueError: bad setting")


def test_daemonDyingBeforeReportingIsNoticedWithItsStatus(tmp_path):
    code, output, pid = launch(tmp_path, "crash")
    assert code == 1
    assert output == "error: the daemon (pid %d) exited with status 7 during start-up" % (pid,)


def test_daemonKilledBeforeReportingNamesTheSignal(tmp_path):
    code, output, pid = launch(tmp_path, "kill")
    assert code == 1
    expected = "error: the daemon (pid %d) was killed by signal 9 (SIGKILL) during start-up"
    assert output == expected % (pid,)


def test_missingDevNullIsReportedNotHung(tmp_path):
    # twistd hangs here when a chroot lacks /dev/null.
    missing = tmp_path / "no" / "null"
    code, output, pid = launch(tmp_path, "nodevnull", 10, missing)
    assert code == 1
    assert output == (
        "error: cannot open %s for the standard streams: No such file or directory" % (missing,)
    )


def test_aDevNullThatIsNotADeviceIsRefused(tmp_path):
    # In a chroot /dev/null is whatever the jail holds: a regular file there
    # would collect what the daemon prints, written as root.
    fake = tmp_path / "null"
    fake.write_text("")
    code, output, pid = launch(tmp_path, "nodevnull", 10, fake)
    assert code == 1
    assert output == (
        "error: %s is not a character device; refusing it for the standard streams" % (fake,)
    )
    assert fake.read_text() == ""


def test_noAnswerWithinTheTimeoutStopsTheDaemon(tmp_path):
    code, output, pid = launch(tmp_path, "hang", 0.3)
    assert (code, output) == (1, "error: no answer from the daemon within 0.3 seconds; stopped it")
    assert not isRunning(pid)


def test_closedPipeWithoutReportIsNoticedAndTheDaemonStopped(tmp_path):
    code, output, pid = launch(tmp_path, "closeAndHang", 10)
    assert code == 1
    assert output == (
        "error: the daemon (pid %d) closed its status pipe without reporting; stopped it" % (pid,)
    )
    assert not isRunning(pid)


def test_reportingTwiceSendsOnlyTheFirst():
    pipe = StatusPipe()
    assert pipe.reportError("first")
    assert not pipe.reportReady()
    assert os.read(pipe.readFd, 100) == b"error: first\n"
    assert os.read(pipe.readFd, 100) == b""
    os.close(pipe.readFd)


def test_reportingToAVanishedLauncherDoesNotRaise():
    pipe = StatusPipe()
    os.close(pipe.readFd)
    assert not pipe.reportReady()


@pytest.mark.parametrize(
    "status, text",
    [
        (3 << 8, "exited with status 3"),
        (signal.SIGTERM, "was killed by signal 15 (SIGTERM)"),
    ],
)
def test_describeExit(status, text):
    assert describeExit(status) == text


def test_exitIsSeenWithoutPidfds(monkeypatch):
    from services.loomd.daemon import _waitForExit

    child = subprocess.Popen([sys.executable, "-c", "import sys; sys.exit(4)"])
    monkeypatch.delattr(os, "pidfd_open")
    assert describeExit(_waitForExit(child.pid, 10, reap=True)) == "exited with status 4"
    child.wait(timeout=10)


def test_runningProcessIsReportedStillRunning():
    from services.loomd.daemon import _waitForExit

    child = subprocess.Popen(
        [sys.executable, "-c", "import sys; sys.stdin.read()"], stdin=subprocess.PIPE
    )
    try:
        assert _waitForExit(child.pid, 0.01, reap=False) is None
    finally:
        child.stdin.close()
        child.wait(timeout=10)
