"""
Fault: the log file cannot be created.  loomd is started with ``-l`` inside
a directory it cannot write: a read-only filesystem (a read-only bind mount
in a private mount namespace when the test runs as root, since root writes
through any mode bits; a mode 0555 directory otherwise), or a directory that
does not exist.

The launching ``loomd`` judges the log's directory before it forks
(services.loomd.preflight, as ``--check`` does): it prints one clear line
naming the file and the reason and exits 1, and nothing is left behind (no
process, no pidfile, no log file, no port bound).  With ``-u nobody`` it is
the same, as the log is opened before the privilege drop.

A directory that root can write but the ``-u`` user cannot (``/var/log``
itself, root:root 0755 on most systems) is not an error: the log is opened
as root before the drop, as nginx does, and keeps working through its
descriptor; loomd prints and logs one warning that rotation and reopening
will fail, and ``--check`` prints the same warning (see
tests/services/test_loomd_preflight.py).
"""

import grp
import os
import pwd
import shutil
import signal
import socket
import subprocess

import pytest

from tests.services.loomd_helpers import (
    LOOMD,
    alive,
    freePort,
    loomdEnvironment,
    loomdFixture,  # noqa: F401 - the loomd fixture
    needRoot,
    procStatus,
    readLog,
    readPid,
    tacFile,
    waitFor,
)

# Run the rest of the command with directory $0 mounted read-only (the mount
# lives and dies with this private namespace, so nothing leaks to the host).
READ_ONLY_SHELL = 'mount --bind -o ro "$0" "$0" && exec "$@"'


def readOnlyDirectory(tmp_path):
    """
    Make tmp_path/logs unwritable; return (directory, argv prefix that runs a
    command where it is unwritable, the strerror expected).
    """
    directory = str(tmp_path / "logs")
    os.mkdir(directory)
    if os.geteuid() != 0:
        os.chmod(directory, 0o555)
        user = "%s:%s" % (pwd.getpwuid(os.geteuid()).pw_name, grp.getgrgid(os.getegid()).gr_name)
        return directory, [], "directory %s is not writable by %s" % (directory, user)
    unshare = shutil.which("unshare")
    prefix = [unshare, "--mount", "--propagation", "private", "sh", "-c", READ_ONLY_SHELL]
    probe = (
        subprocess.run(prefix + [directory, "true"], capture_output=True, text=True, timeout=10)
        if unshare
        else None
    )
    if probe is None or probe.returncode != 0:
        pytest.skip("cannot mount a read-only directory here: %s" % (probe and probe.stderr,))
    return directory, prefix + [directory], "read-only file system"


def missingDirectory(tmp_path):
    """A log directory that does not exist."""
    directory = str(tmp_path / "missing")
    return directory, [], "directory %s does not exist" % (directory,)


@pytest.mark.parametrize("user", [None, "nobody"], ids=["asItself", "asNobody"])
@pytest.mark.parametrize(
    "where", [readOnlyDirectory, missingDirectory], ids=["readOnly", "missing"]
)
def test_unwritableLogDirectoryFailsClearlyAndLeavesNothing(loomd, tmp_path, where, user):
    if user is not None and os.geteuid() != 0:
        pytest.skip("-u needs root")
    directory, prefix, reason = where(tmp_path)
    logfile = os.path.join(directory, "app.log")
    port = freePort()
    tac = tacFile(tmp_path, "EchoService(%d).setServiceParent(application)\n" % (port,))
    args = ["-y", tac, "--pidfile", loomd.pidfile, "-l", logfile]
    if user is not None:
        args += ["-u", user]
    result = subprocess.run(
        prefix + LOOMD + args,
        env=loomdEnvironment(),
        cwd=str(tmp_path),
        capture_output=True,
        text=True,
        timeout=15,
    )
    print(
        "unwritable log (%s, %s): exit %d, stderr %r"
        % (where.__name__, user, result.returncode, result.stderr)
    )
    assert result.returncode == 1
    assert result.stderr == "loomd: cannot open log file %s: %s\n" % (logfile, reason)
    assert loomd.leftovers() == []
    assert not os.path.exists(loomd.pidfile)
    assert not os.path.exists(logfile)
    # The port was never bound.
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        probe.bind(("127.0.0.1", port))


def test_logDirectoryOnlyRootCanWriteStartsAndWarns(loomd, tmp_path):
    needRoot()
    directory = tmp_path / "logs"
    directory.mkdir(mode=0o755)
    logfile = str(directory / "app.log")
    tac = tacFile(
        tmp_path,
        """
def afterTheDrop():
    log.msg("written as uid %d" % (os.getuid(),))
CallbackService(onStart=afterTheDrop).setServiceParent(application)
""",
    )
    result = loomd.run("-y", tac, "--pidfile", loomd.pidfile, "-l", logfile, "-u", "nobody")
    assert result.returncode == 0, (result.stderr, readLog(logfile))
    pid = readPid(loomd.pidfile)
    loomd.track(pid)
    assert procStatus(pid)["Uid"].split()[0] != "0"
    waitFor(lambda: "written as uid" in readLog(logfile), what="a line logged after the drop")
    text = readLog(logfile)
    print(
        "log directory only root can write, -u nobody: daemon %d runs; warning logged: %s"
        % (pid, "is not writable by nobody" in text)
    )
    assert text.count("log directory %s is not writable by nobody" % (directory,)) == 1
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the daemon to stop")
