"""
Issue 14, item 1: privilege escalation through the files loomd opens as root.

loomd starts as root and opens its log file and pidfile then, often in a
directory its unprivileged user (here nobody) may write to.  Whoever controls
that directory plants a symbolic link or a hard link to a root file (a
stand-in for /etc/shadow: root-owned, 0600), or a FIFO, where loomd will open
the log or the pidfile: at start-up, at a reopen (SIGUSR1) or at a rotation.
Each must be refused with a message naming the path and the reason, the
root file keeping its content, mode and owner, and a running daemon must
keep logging to the file it already has open.

Links and FIFOs are planted by nobody itself (``runAs``); a hard link to a
root file is made by root, standing in for a system with
fs.protected_hardlinks=0 where nobody could make it too.  Every test runs the
real loomd (tests/services/loomd_helpers.py) and needs root.
"""

import os
import shutil
import signal
import socket
import subprocess
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

NOBODY = 65534
KINDS = ["symlink", "hardlink", "fifo"]

# An echo server that logs one line per request.
LOGGING_ECHO = """
class LoggingEcho(Echo):
    def dataReceived(self, data):
        log.msg("request " + "x" * 80)
        self.transport.write(data)


class LoggingEchoService(EchoService):
    def privilegedStartService(self):
        Service.privilegedStartService(self)
        self.port = reactor.listenTCP(
            self.portNumber, Factory.forProtocol(LoggingEcho), interface=self.interface)


LoggingEchoService(%d).setServiceParent(application)
"""


@pytest.fixture
def shared():
    """A directory owned by nobody, as a log directory handed to the daemon's user."""
    needRoot()
    # Not under tmp_path: its parents are 0700 root, nobody could not enter.
    directory = tempfile.mkdtemp(prefix="loomd-links-")
    os.chmod(directory, 0o755)
    os.chown(directory, NOBODY, NOBODY)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


@pytest.fixture
def shadow(tmp_path):
    """A root-owned 0600 file standing in for /etc/shadow: its path."""
    path = tmp_path / "shadow"
    path.write_text("root:$6$secret:19000:0:99999:7:::\n")
    os.chmod(path, 0o600)
    return str(path)


def fileState(path):
    """What must not change: content, mode, owner and group."""
    info = os.stat(path)
    with open(path, "rb") as content:
        return content.read(), info.st_mode, info.st_uid, info.st_gid


def runAs(uid, *argv):
    """Run a command as uid (its group too)."""
    subprocess.run(argv, user=uid, group=uid, check=True, timeout=10)


def plant(kind, path, target):
    """Put kind at path (a link to target, or a FIFO); return the expected reason."""
    if kind == "symlink":
        runAs(NOBODY, "ln", "-s", target, path)
        return "it is a symbolic link"
    if kind == "hardlink":
        os.link(target, path)
        return "it has 2 hard links"
    runAs(NOBODY, "mkfifo", path)
    return "it is not a regular file (FIFO)"


def request(client):
    """One round trip on an open connection."""
    client.sendall(b"ping\n")
    received = b""
    while len(received) < 5:
        chunk = client.recv(100)
        assert chunk, "the server closed the connection"
        received += chunk


def stop(pid):
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the daemon to exit")


def test_theIssuesAttackIsRefused(loomd, tmp_path, shared, shadow):
    # As root: loomd -u nobody -l DIR/app.log, DIR writable by nobody, who
    # planted DIR/app.log -> a root 0600 file.  loomd used to append to it
    # and chown it to nobody.
    logfile = os.path.join(shared, "app.log")
    runAs(NOBODY, "ln", "-s", shadow, logfile)
    before = fileState(shadow)
    tac = tacFile(tmp_path, LOGGING_ECHO % freePort())
    result = loomd.run(
        "-y", tac, "--pidfile", loomd.pidfile, "-l", logfile, "-u", "nobody", "--start-timeout", 5
    )
    assert result.returncode == 1
    assert result.stderr == "loomd: refusing to open log file %s: it is a symbolic link\n" % (
        logfile,
    )
    assert fileState(shadow) == before
    assert os.path.islink(logfile)
    assert loomd.leftovers() == []


@pytest.mark.parametrize("kind", KINDS)
def test_linkAtTheLogPathIsRefusedAtStart(loomd, tmp_path, shared, shadow, kind):
    logfile = os.path.join(shared, "app.log")
    reason = plant(kind, logfile, shadow)
    before = fileState(shadow)
    tac = tacFile(tmp_path, LOGGING_ECHO % freePort())
    # A FIFO used to hang the start (open waits for a reader): the launcher
    # gives up after --start-timeout.
    result = loomd.run(
        "-y", tac, "--pidfile", loomd.pidfile, "-l", logfile, "-u", "nobody", "--start-timeout", 5
    )
    assert result.returncode == 1
    assert result.stderr == "loomd: refusing to open log file %s: %s\n" % (logfile, reason)
    assert fileState(shadow) == before
    assert loomd.leftovers() == []


@pytest.mark.parametrize("kind", KINDS)
def test_linkAtThePidfileIsRefused(loomd, tmp_path, shared, shadow, kind):
    pidfile = os.path.join(shared, "loomd.pid")
    reason = plant(kind, pidfile, shadow)
    before = fileState(shadow)
    tac = tacFile(tmp_path, LOGGING_ECHO % freePort())
    # A FIFO used to hang the launcher's pidfile check itself (timeout=10).
    result = loomd.run("-y", tac, "--pidfile", pidfile, "-l", loomd.logfile, timeout=10)
    assert result.returncode == 1
    assert result.stderr == "loomd: refusing to open pidfile %s: %s\n" % (pidfile, reason)
    assert fileState(shadow) == before
    assert loomd.leftovers() == []


def startAsRoot(loomd, tmp_path, logfile, *options):
    """Start the logging echo server, staying root, logging to logfile; return (pid, port)."""
    port = freePort()
    tac = tacFile(tmp_path, LOGGING_ECHO % port)
    result = loomd.run("-y", tac, "--pidfile", loomd.pidfile, "-l", logfile, *options)
    assert result.returncode == 0, result.stderr
    pid = readPid(loomd.pidfile)
    loomd.track(pid)
    return pid, port


def moveAway(logfile):
    """What logrotate (or nobody) does: move the log aside; return the new path."""
    moved = logfile + ".moved"
    runAs(NOBODY, "mv", logfile, moved)
    return moved


@pytest.mark.parametrize("kind", KINDS)
def test_reopenRefusesALinkPlantedAfterStart(loomd, tmp_path, shared, shadow, kind):
    # The daemon stays root: SIGUSR1 reopens the log by its path, as root.
    logfile = os.path.join(shared, "app.log")
    pid, port = startAsRoot(loomd, tmp_path, logfile)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        request(client)
        moved = moveAway(logfile)
        reason = plant(kind, logfile, shadow)
        before = fileState(shadow)
        os.kill(pid, signal.SIGUSR1)
        warning = "refusing to open log file %s: %s; still writing to the file already open" % (
            logfile,
            reason,
        )
        waitFor(
            lambda: warning in readLog(moved), what="the warning", context=lambda: readLog(moved)
        )
        for _ in range(3):
            request(client)
    waitFor(lambda: readLog(moved).count("request ") == 4, what="the requests logged")
    assert readLog(moved).count(warning) == 1
    assert fileState(shadow) == before
    stop(pid)


@pytest.mark.parametrize("kind", KINDS)
def test_rotationRefusesALinkPlantedAfterStart(loomd, tmp_path, shared, shadow, kind):
    # nobody moves the log away, plants kind at its path and a directory at
    # app.log.1, where the rotation renames it.  The stdlib's rotation then
    # failed to rename, and the old code reopened the path, as root: through
    # the link, or waiting forever on the FIFO.
    logfile = os.path.join(shared, "app.log")
    pid, port = startAsRoot(loomd, tmp_path, logfile, "--log-max-bytes", 3000, "--log-backups", 1)
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        request(client)
        moved = moveAway(logfile)
        plant(kind, logfile, shadow)
        runAs(NOBODY, "mkdir", logfile + ".1")
        before = fileState(shadow)
        # 40 lines of about 130 bytes: well past 3,000 bytes.
        for _ in range(40):
            request(client)
    waitFor(
        lambda: readLog(moved).count("request ") == 41,
        what="every request logged in the file already open",
        context=lambda: readLog(moved),
    )
    assert readLog(moved).count("log rotation is disabled") == 1
    assert fileState(shadow) == before
    assert os.listdir(logfile + ".1") == []
    stop(pid)
