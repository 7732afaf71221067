"""
A port below 1024 asked of a process that may not bind it: ``loomd
--check`` and the real start both say that binding it needs root, in the
same words (services.loomd.lowports), where the kernel says only
"permission denied".

The real runs are as the ``nobody`` user: loomd is started in a child
process that has switched to it, by an interpreter that user can run (the
test's own, else the system's of the same version), with the application
in a directory it can read.
"""

import errno
import os
import pwd
import shutil
import subprocess
import sys
import sysconfig
import tempfile

import pytest

from reactor.error import CannotListenError
from services.loomd.lowports import listenFailure, privilegedPortLimit
from tests.services.loomd_helpers import (
    LOOMD,
    REPO,
    freeLowPort,
    loomdEnvironment,
    loomdFixture,  # noqa: F401 - the loomd fixture
    needRoot,
    tacFile,
)

TCP_SERVER = """
from services.internet import TCPServer
TCPServer(%d, Factory.forProtocol(Echo), interface="127.0.0.1").setServiceParent(application)
"""


def needsRoot(port):
    return "cannot listen on 127.0.0.1:%d: binding a port below %d needs root" % (
        port,
        privilegedPortLimit(),
    )


def test_permissionDeniedOnALowPortSaysItNeedsRoot():
    denied = OSError(errno.EACCES, "Permission denied")
    assert listenFailure(CannotListenError("127.0.0.1", 80, denied)) == needsRoot(80)


@pytest.mark.parametrize(
    "port, error",
    [(8080, errno.EACCES), (80, errno.EADDRINUSE)],
    ids=["high port", "another errno"],
)
def test_otherListenFailuresKeepTheKernelsWords(port, error):
    failure = CannotListenError("127.0.0.1", port, OSError(error, os.strerror(error)))
    assert listenFailure(failure) == str(failure)


def becomeNobody():
    entry = pwd.getpwnam("nobody")
    os.setgroups([])
    os.setgid(entry.pw_gid)
    os.setuid(entry.pw_uid)


@pytest.fixture
def asNobody():
    """Run loomd as nobody: a function (args) -> CompletedProcess, and its directory."""
    needRoot()
    paths = [REPO, sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]]
    env = loomdEnvironment(PYTHONPATH=os.pathsep.join(paths))
    python = _interpreterForNobody(env)
    directory = tempfile.mkdtemp(prefix="loomd-lowport-")
    os.chmod(directory, 0o755)
    nobody = pwd.getpwnam("nobody")
    os.chown(directory, nobody.pw_uid, nobody.pw_gid)

    def run(*args):
        return subprocess.run(
            [python, *LOOMD[1:], *map(str, args)],
            env=env,
            cwd=directory,
            preexec_fn=becomeNobody,
            capture_output=True,
            text=True,
            timeout=20,
        )

    try:
        yield run, directory
    finally:
        shutil.rmtree(directory)


def _interpreterForNobody(env):
    # /root, where a pyenv interpreter lives, is often closed to nobody.
    version = "python%d.%d" % sys.version_info[:2]
    for python in (sys.executable, shutil.which(version, path="/usr/local/bin:/usr/bin")):
        if python is None:
            continue
        try:
            probe = subprocess.run(
                [python, "-c", "import zope.interface, services.runner"],
                env=env,
                preexec_fn=becomeNobody,
                capture_output=True,
                timeout=30,
            )
        except PermissionError:
            continue  # nobody may not execute it
        if probe.returncode == 0:
            return python
    pytest.skip("no %s the nobody user can run Loom with" % (version,))


def test_lowPortWithoutRootSaysItNeedsRoot(asNobody):
    run, directory = asNobody
    port = freeLowPort()
    tac = tacFile(directory, TCP_SERVER % (port,))
    os.chmod(tac, 0o644)
    message = needsRoot(port)
    check = run("--check", "-y", tac, "--pidfile", "")
    assert (check.returncode, check.stderr) == (1, "loomd: check failed: %s\n" % (message,))
    daemon = run("-y", tac, "--pidfile", "", "-l", os.path.join(directory, "app.log"))
    assert (daemon.returncode, daemon.stderr) == (1, "loomd: %s\n" % (message,))
    foreground = run("-n", "-y", tac, "--pidfile", "")
    assert foreground.returncode == 1
    assert (foreground.stdout + foreground.stderr).count("loomd: %s" % (message,)) == 1


def test_lowPortBoundAfterThePrivilegeDropSaysItNeedsRoot(loomd, tmp_path):
    # Bound in startService, after -u: too late for a port below 1024.
    needRoot()
    port = freeLowPort()
    tac = tacFile(
        tmp_path,
        """
def listen():
    reactor.listenTCP(%d, Factory.forProtocol(Echo), interface="127.0.0.1")
CallbackService(onStart=listen).setServiceParent(application)
"""
        % (port,),
    )
    result = loomd.run("-y", tac, "--pidfile", loomd.pidfile, "-l", loomd.logfile, "-u", "nobody")
    # Before it, warnings: nobody cannot write tmp_path (the pidfile's and log's).
    *warnings, last = result.stderr.splitlines()
    assert (result.returncode, last) == (1, "loomd: %s" % (needsRoot(port),))
    assert all(line.startswith("loomd: warning: ") for line in warnings)
