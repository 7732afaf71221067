"""
UNIX sockets of a daemon that starts as root and drops to nobody (issue 14,
item 3): its socket file is created with the mode asked (the umask's when
none is), a start after a clean stop works although nobody could not remove
the file in root's directory, and what the start will not take over (a live
listener, a file that is not a socket, a symlink planted at the lock file) is
refused with a clear message and left untouched, by the start and by
``--check`` alike.
"""

import os
import shutil
import socket
import stat
import tempfile

import pytest

from tests.services.loomd_helpers import (
    alive,
    loomdFixture,  # noqa: F401 - the loomd fixture
    needRoot,
    readLog,
    tacFile,
    waitFor,
)

NOBODY = 65534

UNIX_SERVER = """
from services.internet import UNIXServer
UNIXServer(%r, Factory.forProtocol(Echo)%s).setServiceParent(application)
"""

UNIX_ENDPOINT = """
from services.internet import service
service(%r, Factory.forProtocol(Echo)).setServiceParent(application)
"""


def unixEcho(path, data=b"hello over unix\n", timeout=5.0):
    """Connect to path, send data, return what came back (up to len(data) bytes)."""
    with socket.socket(socket.AF_UNIX) as client:
        client.settimeout(timeout)
        client.connect(path)
        client.sendall(data)
        received = b""
        while len(received) < len(data):
            chunk = client.recv(65536)
            if not chunk:
                break
            received += chunk
        return received


def connectsAs(uid, gid, path):
    """Whether a process running as uid/gid can connect to path (tried in a child)."""
    child = os.fork()
    if child == 0:
        try:
            os.setgroups([])
            os.setgid(gid)
            os.setuid(uid)
            with socket.socket(socket.AF_UNIX) as client:
                client.connect(path)
            os._exit(0)
        except OSError:
            os._exit(1)
        finally:
            os._exit(2)
    _, status = os.waitpid(child, 0)
    return os.waitstatus_to_exitcode(status) == 0


@pytest.fixture
def rootDirectory(tmp_path):
    """A directory of root's, 0755: nobody may not create or remove files there."""
    needRoot()
    directory = tmp_path / "run"
    directory.mkdir(mode=0o755)
    return str(directory)


@pytest.fixture
def openDirectory():
    """A root-owned 0755 directory whose parents nobody may search (outside tmp_path)."""
    needRoot()
    directory = tempfile.mkdtemp(prefix="loomd-unix-")
    os.chmod(directory, 0o755)
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def stop(loomd, pid):
    result = loomd.run("--stop", "--pidfile", loomd.pidfile)
    assert result.returncode == 0, result.stderr
    waitFor(lambda: not alive(pid), what="the daemon to exit")


def test_startStopStartAsNobody(loomd, tmp_path, rootDirectory):
    path = os.path.join(rootDirectory, "app.sock")
    tac = tacFile(tmp_path, UNIX_SERVER % (path, ""))
    for run in (1, 2):
        pid = loomd.daemon(tac, "-u", "nobody", "-g", "nogroup")
        assert unixEcho(path) == b"hello over unix\n", "run %d" % (run,)
        stop(loomd, pid)
        # Now nobody, the daemon could not unlink in root's directory: the
        # file stays, said so in the log, and the next start replaces it.
        assert stat.S_ISSOCK(os.lstat(path).st_mode)
    assert "could not remove the socket file %s (Permission denied)" % (path,) in readLog(
        loomd.logfile
    )
    assert "address already in use" not in readLog(loomd.logfile)


def test_lockFileNamesNoProcessAfterAStopAsNobody(loomd, tmp_path, rootDirectory):
    path = os.path.join(rootDirectory, "app.sock")
    tac = tacFile(tmp_path, UNIX_ENDPOINT % ("unix:%s:lockfile=1" % (path,),))
    pid = loomd.daemon(tac, "-u", "nobody", "-g", "nogroup")
    assert open(path + ".lock").read().strip() == str(pid)
    stop(loomd, pid)
    assert open(path + ".lock").read() == "", "the lock file still names the dead daemon"
    pid = loomd.daemon(tac, "-u", "nobody", "-g", "nogroup")
    assert open(path + ".lock").read().strip() == str(pid)
    assert unixEcho(path) == b"hello over unix\n"
    stop(loomd, pid)


def test_socketAndLockRemovedWhenTheDirectoryIsTheDaemons(loomd, tmp_path, openDirectory):
    # The layout to prefer (systemd's RuntimeDirectory=): the target user's own directory.
    os.chown(openDirectory, NOBODY, NOBODY)
    path = os.path.join(openDirectory, "app.sock")
    tac = tacFile(tmp_path, UNIX_ENDPOINT % ("unix:%s:lockfile=1" % (path,),))
    pid = loomd.daemon(tac, "-u", "nobody", "-g", "nogroup")
    assert unixEcho(path) == b"hello over unix\n"
    stop(loomd, pid)
    assert os.listdir(openDirectory) == []


def test_socketModeFollowsTheUmaskUnlessGiven(loomd, tmp_path, openDirectory):
    # loomd's umask is 077: by default only the socket's owner (root) may
    # connect; mode=0o666 lets every user in.
    private = os.path.join(openDirectory, "private.sock")
    shared = os.path.join(openDirectory, "shared.sock")
    body = UNIX_SERVER % (private, "") + UNIX_SERVER % (shared, ", mode=0o666")
    pid = loomd.daemon(tacFile(tmp_path, body), "-u", "nobody", "-g", "nogroup")
    assert os.lstat(private).st_mode & 0o777 == 0o700
    assert os.lstat(shared).st_mode & 0o777 == 0o666
    assert not connectsAs(NOBODY, NOBODY, private)
    assert connectsAs(NOBODY, NOBODY, shared)
    stop(loomd, pid)


def startAndCheck(loomd, tac):
    """(the --check result, the start's result) for tac, in that order."""
    check = loomd.run("--check", "-y", tac, "--pidfile", loomd.pidfile, "-l", loomd.logfile)
    start = loomd.run("-y", tac, "--pidfile", loomd.pidfile, "-l", loomd.logfile)
    return check, start


def test_liveSocketRefusedByStartAndCheck(loomd, tmp_path):
    path = str(tmp_path / "app.sock")
    live = socket.socket(socket.AF_UNIX)
    live.bind(path)
    live.listen(5)
    inode = os.lstat(path).st_ino
    try:
        check, start = startAndCheck(loomd, tacFile(tmp_path, UNIX_SERVER % (path, "")))
        message = "cannot listen on %s: address already in use: another process is listening on it"
        assert start.returncode == 1 and message % (path,) in start.stderr
        assert check.returncode == 1 and message % (path,) in check.stderr
        assert os.lstat(path).st_ino == inode
    finally:
        live.close()


def test_regularFileAtSocketPathLeftUntouched(loomd, tmp_path):
    path = str(tmp_path / "app.sock")
    with open(path, "w") as precious:
        precious.write("not a socket\n")
    check, start = startAndCheck(loomd, tacFile(tmp_path, UNIX_SERVER % (path, "")))
    message = "cannot listen on %s: the path holds a regular file, not a socket: left untouched"
    assert start.returncode == 1 and message % (path,) in start.stderr
    assert check.returncode == 1 and message % (path,) in check.stderr
    assert open(path).read() == "not a socket\n"


def test_staleSocketAcceptedByCheckAndStart(loomd, tmp_path):
    path = str(tmp_path / "app.sock")
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()
    check, start = startAndCheck(loomd, tacFile(tmp_path, UNIX_SERVER % (path, "")))
    assert check.returncode == 0, check.stderr
    assert start.returncode == 0, (start.stderr, readLog(loomd.logfile))
    pid = int(open(loomd.pidfile).read())
    loomd.track(pid)
    assert unixEcho(path) == b"hello over unix\n"
    stop(loomd, pid)


def test_symlinkAtLockPathRefusedAsRoot(loomd, tmp_path, openDirectory):
    # nobody owns the socket directory and plants a symlink to a file of
    # root's where the lock file goes, for root to truncate at the next start.
    os.chown(openDirectory, NOBODY, NOBODY)
    target = tmp_path / "shadow"
    target.write_text("root:secret\n")
    target.chmod(0o600)
    path = os.path.join(openDirectory, "app.sock")
    os.symlink(str(target), path + ".lock")
    tac = tacFile(tmp_path, UNIX_ENDPOINT % ("unix:%s:lockfile=1" % (path,),))
    result = loomd.run("-y", tac, "--pidfile", loomd.pidfile, "-l", loomd.logfile, "-u", "nobody")
    assert result.returncode == 1
    assert "refusing to open lock file %s.lock: it is a symbolic link" % (path,) in result.stderr
    info = os.stat(str(target))
    assert (info.st_uid, info.st_mode & 0o777) == (0, 0o600)
    assert target.read_text() == "root:secret\n"
