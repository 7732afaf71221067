"""
End-to-end: loomd as a container's PID 1 (in a new PID namespace made with
``unshare --pid --fork``, as root): it reaps orphans re-parented to it
while the children of spawnProcess keep their exit statuses, writes no
pidfile unless asked (and one when asked), logs to stdout with -n, and
stops on SIGTERM.
"""

import os
import shutil
import signal
import subprocess

import pytest

from tests.services.loomd_helpers import (
    LOOMD,
    loomdEnvironment,
    loomdFixture,  # noqa: F401 - the loomd fixture
    procStatus,
    readLog,
    tacFile,
    wait,
    waitFor,
)

# A service leaving orphans behind: each round, a child forks a grandchild
# and exits at once; the grandchild exits a moment later, re-parented to PID 1.
ORPHANS = """
from reactor.task import LoopingCall
made = []
def makeOrphan():
    if os.fork() == 0:
        if os.fork() == 0:
            time.sleep(0.05)
        os._exit(0)
    made.append(1)
    log.msg("made orphan %%d" %% len(made))
    if len(made) == 5:
        orphans.stop()
        with open(%r, "w") as done:
            done.write("5")
orphans = LoopingCall(makeOrphan)
CallbackService(lambda: orphans.start(0.02) and None).setServiceParent(application)
"""


# A service spawning a child of Loom's that exits with status 7, then
# holding the loop for a moment: the child's SIGCHLD comes, and PID 1's
# orphan reaper runs, before the reactor looks at the child's pidfd.  A
# reaper with waitpid(-1) would take the status from under it.
SPAWNED = """
from protocols.protocol import ProcessProtocol
class Child(ProcessProtocol):
    def processEnded(self, reason):
        log.msg("loom child ended with %%r" %% (reason.value.exitCode,))
        with open(%r, "w") as done:
            done.write("ended")
def spawn():
    reactor.spawnProcess(Child(), "/bin/sh", ["sh", "-c", "exit 7"], env={})
    time.sleep(0.3)
CallbackService(spawn).setServiceParent(application)
"""


def childrenOf(pid):
    """(pid, state) of every process whose parent is pid (read from /proc)."""
    found = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            try:
                status = procStatus(int(entry))
            except (OSError, ValueError):
                continue
            if status.get("PPid") == str(pid):
                found.append((int(entry), status["State"].split()[0]))
    return found


def needUnshare():
    """The path of unshare(1); skip unless it can make a PID namespace here."""
    unshare = shutil.which("unshare")
    if os.geteuid() != 0 or unshare is None:
        pytest.skip("needs root and unshare(1) for a PID namespace")
    probe = subprocess.run([unshare, "--pid", "--fork", "true"], capture_output=True, timeout=10)
    if probe.returncode != 0:
        pytest.skip("cannot make a PID namespace here: %s" % (probe.stderr.decode().strip(),))
    return unshare


def startAsPidOne(loomd, tmp_path, *arguments):
    """Run loomd -n ARGUMENTS as PID 1 of a new PID namespace; return (Popen, its pid)."""
    command = [needUnshare(), "--pid", "--fork", "--kill-child"] + LOOMD + ["-n", *arguments]
    process = subprocess.Popen(
        command,
        env=loomdEnvironment(),
        cwd=str(tmp_path),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    loomd.popens.append(process)
    inner = waitFor(lambda: [pid for pid, _ in childrenOf(process.pid)], what="loomd to start")[0]
    loomd.track(inner)
    return process, inner


def test_pidOneReapsOrphansAndWritesNoPidfile(loomd, tmp_path):
    done = tmp_path / "done"
    tac = tacFile(tmp_path, ORPHANS % (str(done),))
    process, inner = startAsPidOne(loomd, tmp_path, "-y", tac)
    assert procStatus(inner)["NSpid"].split()[-1] == "1"
    waitFor(done.exists, what="five orphans")
    # Ten processes were forked; every one must be reaped, by its parent
    # (loomd) or by PID 1 (loomd again, for the orphans).
    waitFor(
        lambda: childrenOf(inner) == [],
        what="every child to be reaped",
        context=lambda: repr(childrenOf(inner)),
    )
    assert not os.path.exists(tmp_path / "loomd.pid")
    os.kill(inner, signal.SIGTERM)
    code, out, err = wait(process)
    assert code == 0, err
    assert "made orphan 5" in out  # -n logs to stdout


def test_pidOneWritesAnExplicitPidfile(loomd, tmp_path):
    # --pidfile given: a container's init writes it after all (its pid in
    # the namespace, 1), and removes it when it stops.
    tac = tacFile(tmp_path, "CallbackService().setServiceParent(application)\n")
    pidfile = tmp_path / "run" / "app.pid"
    pidfile.parent.mkdir()
    arguments = ["-y", tac, "--pidfile", str(pidfile), "-l", loomd.logfile]
    process, inner = startAsPidOne(loomd, tmp_path, *arguments)
    # Signalled only once ready: PID 1 ignores a SIGTERM it has no handler for.
    waitFor(lambda: "loomd ready" in readLog(loomd.logfile), what="start-up")
    assert pidfile.read_text().strip() == "1"
    os.kill(inner, signal.SIGTERM)
    code, _, err = wait(process)
    assert code == 0, err
    assert not pidfile.exists()


def test_pidOneLeavesSpawnedChildrenTheirStatus(loomd, tmp_path):
    done = tmp_path / "done"
    orphansDone = tmp_path / "orphans"
    tac = tacFile(tmp_path, ORPHANS % (str(orphansDone),) + SPAWNED % (str(done),))
    process, inner = startAsPidOne(loomd, tmp_path, "-y", tac)
    waitFor(lambda: done.exists() and orphansDone.exists(), what="the child and the orphans")
    waitFor(
        lambda: childrenOf(inner) == [],
        what="every child to be reaped",
        context=lambda: repr(childrenOf(inner)),
    )
    os.kill(inner, signal.SIGTERM)
    code, out, err = wait(process)
    assert code == 0, err
    assert "loom child ended with 7" in out


def test_pidOneWithWorkersReapsTheOrphansOfItsWorkers(loomd, tmp_path):
    # Each worker leaves orphans; re-parented to PID 1, the master, they
    # must not stay zombies.
    done = tmp_path / "done"
    tac = tacFile(tmp_path, ORPHANS % (str(done),))
    arguments = ["-y", tac, "--workers", "2", "-l", loomd.logfile]
    process, inner = startAsPidOne(loomd, tmp_path, *arguments)
    waitFor(done.exists, what="five orphans")
    waitFor(
        lambda: len(childrenOf(inner)) == 2 and all(state != "Z" for _, state in childrenOf(inner)),
        what="only the two workers left, every orphan reaped",
        context=lambda: repr(childrenOf(inner)),
    )
    os.kill(inner, signal.SIGTERM)
    code, _, err = wait(process, timeout=30)
    assert code == 0, err
