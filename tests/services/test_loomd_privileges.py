"""
End-to-end, as root: loomd binds a port below 1024, then drops to
nobody/nogroup for good (real, effective and saved ids, supplementary groups),
still serves, and afterwards leaves no pidfile that reads as live.  Its log
keeps rotating after the drop (twistd's rotation silently stops there).
"""

import os
import shutil
import signal
import tempfile

import pytest

from tests.services.loomd_helpers import (
    alive,
    echo,
    freeLowPort,
    loomdFixture,  # noqa: F401 - the loomd fixture
    needRoot,
    procStatus,
    readLog,
    readPid,
    tacFile,
    waitFor,
)

NOBODY = 65534


@pytest.fixture
def sharedDirectory():
    """A directory nobody can write to (tmp_path's parents are root-only)."""
    needRoot()
    directory = tempfile.mkdtemp(prefix="loomd-nobody-")
    os.chown(directory, NOBODY, NOBODY)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def test_rootBindsLowPortThenRunsAsNobody(loomd, tmp_path):
    needRoot()
    port = freeLowPort()
    tac = tacFile(tmp_path, "EchoService(%d).setServiceParent(application)\n" % port)
    pid = loomd.daemon(tac, "-u", "nobody", "-g", "nogroup")
    status = procStatus(pid)
    assert status["Uid"].split() == [str(NOBODY)] * 4
    assert status["Gid"].split() == [str(NOBODY)] * 4
    assert status["Groups"].split() == [str(NOBODY)]
    assert echo(port) == b"hello loomd\n"
    assert "running as uid=65534(nobody)" in readLog(loomd.logfile)
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the daemon to exit")
    # The pidfile's directory is root's: nobody cannot unlink, so it was
    # emptied through its open descriptor and reads as stale.
    assert readPid(loomd.pidfile) is None
    assert not os.path.exists(loomd.pidfile) or open(loomd.pidfile).read() == ""
    status = loomd.run("--status", "--pidfile", loomd.pidfile)
    assert status.returncode in (1, 3)


def test_applicationUidAndGidAreHonoured(loomd, tmp_path):
    needRoot()
    tac = tacFile(tmp_path, 'application = Application("test", uid=65534, gid=65534)\n')
    pid = loomd.daemon(tac)
    assert procStatus(pid)["Uid"].split() == [str(NOBODY)] * 4
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the daemon to exit")


def test_euidKeepsTheRealIds(loomd, tmp_path):
    needRoot()
    tac = tacFile(tmp_path, "")
    pid = loomd.daemon(tac, "-u", "nobody", "--euid")
    uids = procStatus(pid)["Uid"].split()
    assert uids[0] == "0" and uids[1] == str(NOBODY)
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the daemon to exit")


def test_sizeRotationContinuesAfterThePrivilegeDrop(loomd, tmp_path, sharedDirectory):
    logfile = os.path.join(sharedDirectory, "app.log")
    tac = tacFile(
        tmp_path,
        """
        from reactor.task import LoopingCall
        def chatter():
            log.msg("x" * 200)
        loop = LoopingCall(chatter)
        CallbackService(lambda: loop.start(0.005) and None).setServiceParent(application)
        """,
    )
    result = loomd.run(
        "-y",
        tac,
        "--pidfile",
        loomd.pidfile,
        "-l",
        logfile,
        "-u",
        "nobody",
        "--log-max-bytes",
        "4000",
        "--log-backups",
        "3",
    )
    assert result.returncode == 0, result.stderr
    pid = readPid(loomd.pidfile)
    loomd.track(pid)
    backup = logfile + ".2"
    waitFor(lambda: os.path.exists(backup), what="two rotations")
    assert os.stat(logfile + ".1").st_uid == NOBODY
    assert os.stat(logfile).st_uid == NOBODY
    assert "x" * 200 in readLog(logfile + ".1")
    assert "Traceback" not in readLog(logfile)
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the daemon to exit")


def test_chrootKeepsPidfileAndLogWorking(loomd, tmp_path):
    # A jail with /dev/null; the log inside it, the pidfile outside.
    needRoot()
    import stat

    jail = tmp_path / "jail"
    (jail / "dev").mkdir(parents=True)
    (jail / "var").mkdir()
    try:
        os.mknod(str(jail / "dev" / "null"), stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except OSError as error:
        pytest.skip("cannot make /dev/null in a jail here: %s" % (error,))
    logfile = str(jail / "var" / "app.log")
    port = freeLowPort()
    tac = tacFile(tmp_path, "EchoService(%d).setServiceParent(application)\n" % port)
    result = loomd.run("-y", tac, "--pidfile", loomd.pidfile, "-l", logfile, "--chroot", str(jail))
    assert result.returncode == 0, result.stderr
    pid = readPid(loomd.pidfile)
    loomd.track(pid)
    assert os.readlink("/proc/%d/root" % (pid,)) == str(jail)
    assert echo(port) == b"hello loomd\n"
    os.rename(logfile, logfile + ".old")
    os.kill(pid, signal.SIGUSR1)
    waitFor(lambda: os.path.exists(logfile), what="the log reopened inside the jail")
    echo(port)
    waitFor(lambda: "echo connection 2" in readLog(logfile), what="the new log to be used")
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the daemon to exit")
    assert not os.path.exists(loomd.pidfile)


@pytest.fixture
def rootDirectory():
    """A root-owned 0755 directory, like /var/log/app: nobody may read, not write."""
    needRoot()
    directory = tempfile.mkdtemp(prefix="loomd-rootlog-")
    os.chmod(directory, 0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


CHATTER = """
from reactor.task import LoopingCall
def chatter():
    log.msg("chatter " + "x" * 100)
loop = LoopingCall(chatter)
CallbackService(lambda: loop.start(0.01) and None).setServiceParent(application)
"""


def startChatterAsNobody(loomd, tmp_path, logfile, maxBytes=600):
    """Start CHATTER as nobody with a size rotation threshold; return the pid."""
    tac = tacFile(tmp_path, CHATTER)
    result = loomd.run(
        "-y",
        tac,
        "--pidfile",
        loomd.pidfile,
        "-l",
        logfile,
        "-u",
        "nobody",
        "--log-max-bytes",
        maxBytes,
    )
    assert result.returncode == 0, result.stderr
    pid = readPid(loomd.pidfile)
    loomd.track(pid)
    return pid


def test_failedRotationKeepsLoggingToTheCurrentFile(loomd, tmp_path, rootDirectory):
    # nobody cannot rename in a root-owned directory: the stdlib's rollover
    # closes the file, fails, and every later record used to be lost.
    logfile = os.path.join(rootDirectory, "app.log")
    pid = startChatterAsNobody(loomd, tmp_path, logfile)
    # 30 lines of 150 bytes are well past the 600-byte threshold.
    waitFor(
        lambda: readLog(logfile).count("chatter ") > 30,
        what="lines past the threshold",
        context=lambda: readLog(logfile),
    )
    assert readLog(logfile).count("log rotation is disabled") == 1
    assert not os.path.exists(logfile + ".1")
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the daemon to exit")
    assert "Received SIGTERM, shutting down." in readLog(logfile)


def test_failedReopenKeepsTheOldFile(loomd, tmp_path, rootDirectory):
    # logrotate moved the log, but nobody cannot create a new one there:
    # SIGUSR1 used to close the old file before the open failed.
    logfile = os.path.join(rootDirectory, "app.log")
    pid = startChatterAsNobody(loomd, tmp_path, logfile, maxBytes=0)
    moved = logfile + ".moved"
    os.rename(logfile, moved)
    count = readLog(moved).count("chatter ")
    os.kill(pid, signal.SIGUSR1)
    waitFor(
        lambda: readLog(moved).count("chatter ") > count + 30,
        what="lines after SIGUSR1",
        context=lambda: readLog(moved),
    )
    assert "cannot reopen log file" in readLog(moved)
    assert not os.path.exists(logfile)
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the daemon to exit")
    assert "Received SIGTERM, shutting down." in readLog(moved)
