"""
Reaping children, on every reactor, through pidfds and through the SIGCHLD
fallback: every child of Loom's is reaped, none of anyone else's, no
zombie and no descriptor is left behind.
"""

import os
import signal
import subprocess
import sys
import textwrap

import pytest

from reactor import _reaper
from reactor.error import ProcessDone, ProcessExitedAlready, ProcessTerminated
from tests.reactor.processhelpers import (
    Recorder,
    openDescriptors,
    run,
    waitEnded,
    zombieChildren,
)
from tests.reactor.transport_helpers import spin

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(params=["pidfd", "sigchld"])
def reaping(request, monkeypatch):
    """
    Each way of watching children in turn.  'sigchld' forces the fallback
    (as on a kernel without pidfds) and makes its slow poll slower than any
    test, so that the SIGCHLD handler has to do the work.
    """
    if request.param == "sigchld":
        monkeypatch.delattr(os, "pidfd_open")
        monkeypatch.setattr(_reaper, "POLL_INTERVAL", 3600)
    elif not hasattr(os, "pidfd_open"):
        pytest.skip("this kernel or Python has no pidfd_open")
    return request.param


def _spawnMany(reactor, count, executable, args):
    protocols = []
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        for _ in range(count):
            protocol = Recorder()
            reactor.spawnProcess(
                protocol, executable, args, childFDs={0: devnull, 1: "r", 2: devnull}
            )
            protocols.append(protocol)
    finally:
        os.close(devnull)
    return protocols


def test_concurrentShortChildrenAreAllReaped(reactor, reaping):
    # 200 children at once (two descriptors of ours each, so that even the
    # select reactor stays under FD_SETSIZE).
    before = openDescriptors()
    protocols = _spawnMany(reactor, 200, "sh", ["sh", "-c", "echo $$"])
    spin(
        reactor,
        lambda: all(protocol.ended is not None for protocol in protocols),
        timeout=90,
        what="200 children ended",
    )
    assert all(protocol.ended.check(ProcessDone) for protocol in protocols)
    pids = {int(protocol.output()) for protocol in protocols}
    assert len(pids) == 200
    assert zombieChildren() == []
    assert openDescriptors() == before
    assert not _reaper.children


def test_exitStatusesThroughEitherWay(reaping, reactor):
    protocol, _ = run(reactor, "sh", ["sh", "-c", "exit 7"])
    assert protocol.ended.value.exitCode == 7
    protocol = Recorder()
    transport = reactor.spawnProcess(protocol, "sleep", ["sleep", "30"])
    transport.signalProcess("KILL")
    waitEnded(reactor, protocol)
    assert protocol.ended.check(ProcessTerminated)
    assert protocol.ended.value.signal == signal.SIGKILL
    protocol, _ = run(reactor, "true")
    assert protocol.ended.check(ProcessDone)


def test_fallbackHandlerIsInstalledWhileChildrenRunAndRestoredAfter(reactor, monkeypatch):
    monkeypatch.delattr(os, "pidfd_open")
    monkeypatch.setattr(_reaper, "POLL_INTERVAL", 3600)
    before = signal.getsignal(signal.SIGCHLD)
    protocol = Recorder()
    transport = reactor.spawnProcess(protocol, "sleep", ["sleep", "30"])
    assert signal.getsignal(signal.SIGCHLD) is not before
    transport.signalProcess("TERM")
    waitEnded(reactor, protocol)
    assert protocol.ended.value.signal == signal.SIGTERM
    assert signal.getsignal(signal.SIGCHLD) is before


def test_fallbackChainsToAPreviousHandler(reactor, monkeypatch):
    # A handler installed before (loomd's orphan reaper, as PID 1) is still
    # called for each SIGCHLD.
    monkeypatch.delattr(os, "pidfd_open")
    monkeypatch.setattr(_reaper, "POLL_INTERVAL", 3600)
    calls = []
    previous = signal.signal(signal.SIGCHLD, lambda signum, frame: calls.append(signum))
    try:
        protocol, _ = run(reactor, "true")
        assert protocol.ended.check(ProcessDone)
        assert calls, "the previous handler was called"
        assert signal.getsignal(signal.SIGCHLD) is not previous
    finally:
        signal.signal(signal.SIGCHLD, previous)


def test_fallbackPollReapsWhenNoSignalComes(reactor, monkeypatch):
    # The slow poll alone (a signal lost in another thread, or a reactor
    # outside the main thread where no handler can be installed).
    monkeypatch.delattr(os, "pidfd_open")
    monkeypatch.setattr(_reaper, "POLL_INTERVAL", 0.05)
    monkeypatch.setattr(_reaper, "_installHandler", lambda: None)
    protocol, _ = run(reactor, "sh", ["sh", "-c", "exit 4"])
    assert protocol.ended.value.exitCode == 4


def test_popenChildIsLeftToItsOwner(reactor, reaping):
    # A library's own subprocess.Popen child exits while Loom reaps its
    # children: its status stays for Popen's wait(), which would otherwise
    # get ECHILD and report 0.
    foreign = subprocess.Popen(["sh", "-c", "exit 5"])
    try:
        protocols = _spawnMany(reactor, 20, "sh", ["sh", "-c", "exit 0"])
        spin(reactor, lambda: all(p.ended is not None for p in protocols), what="children")
        # It exits and stays a zombie, the loop turning all the while.
        spin(reactor, lambda: foreign.pid in zombieChildren(), what="the foreign zombie")
        assert foreign.wait(timeout=10) == 5
    finally:
        if foreign.poll() is None:
            foreign.kill()
            foreign.wait()


def test_nothingLeaksAcrossEveryKindOfChild(reactor, reaping, tmp_path):
    # Descriptors and zombies counted before and after children that end
    # every way: normally, by a signal, unable to run, on a terminal, with
    # extra descriptors, with their pipes closed early.
    before = openDescriptors()
    zombiesBefore = zombieChildren()
    protocol = Recorder()
    transport = reactor.spawnProcess(
        protocol, "cat", ["cat"], childFDs={0: "w", 1: "r", 2: "r", 3: "r", 4: "w"}
    )
    transport.write(b"data")
    transport.loseConnection()
    waitEnded(reactor, protocol)
    run(reactor, "/nonexistent/program", ["x"])
    run(reactor, "true", ["true"], path=str(tmp_path / "missing"))
    run(reactor, "tty", ["tty"], usePTY=True)
    protocol = Recorder()
    transport = reactor.spawnProcess(protocol, "sleep", ["sleep", "30"])
    transport.loseConnection()
    transport.signalProcess("KILL")
    waitEnded(reactor, protocol)
    protocol = Recorder()
    transport = reactor.spawnProcess(protocol, "yes", ["yes"])
    spin(reactor, lambda: protocol.output(), what="output")
    transport.loseConnection()
    waitEnded(reactor, protocol)
    assert openDescriptors() == before
    assert zombieChildren() == zombiesBefore
    assert not _reaper.children


_SUBREAPER = textwrap.dedent(
    """
    import ctypes, os, signal, sys
    sys.path.insert(0, {root!r})
    from reactor.epollreactor import EPollReactor
    from reactor.process import reapOrphans
    from protocols.protocol import ProcessProtocol

    PR_SET_CHILD_SUBREAPER = 36
    ctypes.CDLL(None, use_errno=True).prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
    reactor = EPollReactor()
    # As loomd does when it runs as PID 1: every SIGCHLD, reap the orphans.
    signal.signal(signal.SIGCHLD, lambda s, f: reactor.callFromThread(reapOrphans))

    class Child(ProcessProtocol):
        def processEnded(self, reason):
            print("ended", reason.value.exitCode, flush=True)
            reactor.stop()

    def start():
        # Orphans: each shell leaves a grandchild that outlives it and is
        # re-parented to us.
        for _ in range(5):
            os.system("sh -c 'sleep 0.05 &'")
        reactor.spawnProcess(Child(), "sh", ["sh", "-c", "sleep 0.3; exit 9"])

    reactor.callWhenRunning(start)
    reactor.run()
    leftover = []
    for name in os.listdir("/proc"):
        if name.isdigit():
            try:
                fields = open("/proc/%s/stat" % name).read().rpartition(")")[2].split()
            except OSError:
                continue
            if int(fields[1]) == os.getpid():
                leftover.append((name, fields[0]))
    print("children", leftover, flush=True)
    """
)


@pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="PR_SET_CHILD_SUBREAPER is Linux's"
)
def test_orphanReaperLeavesLoomsChildToItsProtocol():
    # A subreaper inherits orphans as PID 1 does.  reapOrphans reaps them,
    # and the child of Loom's among them is reaped for its own transport:
    # its protocol hears its exit status (9), not a status stolen from it.
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    script = _SUBREAPER.format(root=root)
    result = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    lines = result.stdout.splitlines()
    assert lines[0] == "ended 9"
    assert lines[1] == "children []", "no zombie left: %s" % (lines[1],)


def test_childReapedByAForeignWaitStillEnds(reactor, reaping):
    # A waitpid that is not Loom's takes the child's status: the transport
    # cannot say how it ended, but it ends, and signals are refused.
    protocol = Recorder()
    transport = reactor.spawnProcess(protocol, "sleep", ["sleep", "30"])
    pid = transport.pid
    os.kill(pid, signal.SIGKILL)
    os.waitpid(pid, 0)
    with pytest.raises(ProcessExitedAlready):
        transport.signalProcess("TERM")
    waitEnded(reactor, protocol)
    assert protocol.ended.check(ProcessTerminated)
    assert (protocol.ended.value.exitCode, protocol.ended.value.signal) == (None, None)
    assert transport.pid is None and transport.status is None


def test_runningReactorHearsTheExit(reactor, reaping):
    # The loop blocks in its poller (no iterate() stepping it): the pidfd,
    # or the SIGCHLD handler, must wake it.
    class StopWhenEnded(Recorder):
        def processEnded(self, reason):
            Recorder.processEnded(self, reason)
            reactor.stop()

    protocol = StopWhenEnded()
    reactor.callWhenRunning(reactor.spawnProcess, protocol, "sh", ["sh", "-c", "sleep 0.2; exit 3"])
    safety = reactor.callLater(30, reactor.stop)
    reactor.run(installSignalHandlers=False)
    assert safety.active(), "ended before the safety stop"
    safety.cancel()
    assert protocol.ended.value.exitCode == 3
