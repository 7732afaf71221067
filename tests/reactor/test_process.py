"""
spawnProcess conformance tests, on every reactor: pipes, exit statuses,
signals, childFDs, environment and directory, and programs that cannot run.

The children are coreutils and sh (and this Python where a test needs
one), run for real.
"""

import errno
import os
import signal
import tracemalloc

import pytest
from zope.interface import implementer
from zope.interface.verify import verifyObject

from protocols.protocol import ProcessProtocol
from reactor.error import (
    ProcessDone,
    ProcessExecError,
    ProcessExitedAlready,
    ProcessTerminated,
)
from reactor.interfaces import IProcessTransport, IPullProducer, IPushProducer, IReactorProcess
from tests.reactor.processhelpers import Recorder, run, waitEnded
from tests.reactor.reactorhelpers import LoggedErrors
from tests.reactor.transport_helpers import spin

pytestmark = pytest.mark.timeout(60)


def test_reactorProvidesIReactorProcess(reactor):
    assert verifyObject(IReactorProcess, reactor)


def test_catRoundTrip(reactor):
    protocol = Recorder()
    transport = reactor.spawnProcess(protocol, "cat", ["cat"])
    assert verifyObject(IProcessTransport, transport)
    assert protocol.transport is transport
    assert isinstance(transport.pid, int)
    transport.write(b"hello, ")
    transport.writeSequence([b"cat", b"\n"])
    transport.closeStdin()
    waitEnded(reactor, protocol)
    assert protocol.output() == b"hello, cat\n"
    assert protocol.events[0] == "connectionMade"
    assert protocol.events[-1] == "processEnded"
    assert "processExited" in protocol.events
    assert sorted(e for e in protocol.events if isinstance(e, str) and "Lost" in e) == [
        "errConnectionLost",
        "inConnectionLost",
        "outConnectionLost",
    ]
    assert protocol.ended.check(ProcessDone)
    assert protocol.ended.value.exitCode == 0
    assert protocol.exited.check(ProcessDone)
    assert transport.pid is None
    assert transport.status == 0
    assert transport.pipes == {}


def test_largeOutputIsReadWithBoundedMemory(reactor):
    # 100 MiB through a pipe: every chunk is counted and dropped, so the
    # memory Python allocates meanwhile stays far below the output's size.
    size = 100 * 1024 * 1024

    class Counter(Recorder):
        count = 0

        def outReceived(self, data):
            self.count += len(data)

        def childDataReceived(self, childFD, data):
            ProcessProtocol.childDataReceived(self, childFD, data)

    protocol = Counter()
    tracemalloc.start()
    try:
        reactor.spawnProcess(protocol, "head", ["head", "-c", str(size), "/dev/zero"])
        waitEnded(reactor, protocol, timeout=50)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert protocol.count == size
    assert protocol.ended.check(ProcessDone)
    assert peak < 8 * 1024 * 1024, "peak %d bytes for 100 MiB of output" % (peak,)


def test_standardErrorIsReadApart(reactor):
    protocol, _ = run(reactor, "sh", ["sh", "-c", "echo out; echo err >&2; echo more >&2"])
    assert protocol.output(1) == b"out\n"
    assert protocol.output(2) == b"err\nmore\n"
    assert ("childConnectionLost", 2) in protocol.events
    assert "errConnectionLost" in protocol.events


def test_exitCodeAndSignalAreReported(reactor):
    protocol, transport = run(reactor, "sh", ["sh", "-c", "exit 3"])
    assert protocol.ended.check(ProcessTerminated)
    assert (protocol.ended.value.exitCode, protocol.ended.value.signal) == (3, None)
    assert os.WEXITSTATUS(protocol.ended.value.status) == 3
    assert transport.status == protocol.ended.value.status

    protocol, _ = run(reactor, "sh", ["sh", "-c", "kill -TERM $$"])
    assert protocol.ended.check(ProcessTerminated)
    assert (protocol.ended.value.exitCode, protocol.ended.value.signal) == (None, signal.SIGTERM)


@pytest.mark.parametrize(
    "signalID, number",
    [
        ("TERM", signal.SIGTERM),
        ("KILL", signal.SIGKILL),
        ("INT", signal.SIGINT),
        ("HUP", 1),
        (10, 10),
    ],
)
def test_signalProcess(reactor, signalID, number):
    protocol = Recorder()
    transport = reactor.spawnProcess(protocol, "sleep", ["sleep", "30"])
    transport.signalProcess(signalID)
    waitEnded(reactor, protocol)
    assert protocol.ended.check(ProcessTerminated)
    assert protocol.ended.value.signal == number
    assert transport.pid is None
    with pytest.raises(ProcessExitedAlready):
        transport.signalProcess(signalID)


def test_unknownSignalNameIsRefused(reactor):
    protocol = Recorder()
    transport = reactor.spawnProcess(protocol, "cat", ["cat"])
    with pytest.raises(ValueError):
        transport.signalProcess("NOSUCHSIGNAL")
    transport.closeStdin()
    waitEnded(reactor, protocol)
    assert protocol.ended.check(ProcessDone)


def test_childKilledWithSIGKILLFromOutside(reactor):
    protocol = Recorder()
    transport = reactor.spawnProcess(protocol, "sleep", ["sleep", "30"])
    os.kill(transport.pid, signal.SIGKILL)
    waitEnded(reactor, protocol)
    assert protocol.exited.value.signal == signal.SIGKILL
    assert protocol.ended.value.signal == signal.SIGKILL


def test_extraChildFDs(reactor):
    # 3 is read from (the child writes there), 4 written to (the child
    # copies it to its standard output).
    protocol = Recorder()
    script = "echo three >&3; exec 3>&-; cat <&4"
    transport = reactor.spawnProcess(
        protocol, "sh", ["sh", "-c", script], childFDs={0: "w", 1: "r", 2: "r", 3: "r", 4: "w"}
    )
    transport.writeToChild(4, b"four\n")
    transport.closeChildFD(4)
    transport.closeStdin()
    waitEnded(reactor, protocol)
    assert protocol.output(3) == b"three\n"
    assert protocol.output(1) == b"four\n"
    assert protocol.ended.check(ProcessDone)
    for fd in (0, 1, 2, 3, 4):
        assert ("childConnectionLost", fd) in protocol.events


def test_childFDsNotNamedAreClosedInTheChild(reactor):
    # Only 1 is given: the child's 0 and 2 are closed, as in Twisted.
    script = "ls /proc/$$/fd"
    protocol, _ = run(reactor, "sh", ["sh", "-c", script], childFDs={1: "r"})
    assert protocol.output(1).split() == [b"1"]


def test_parentDescriptorIsPassedAsItIs(reactor):
    readFD, writeFD = os.pipe()
    try:
        protocol, _ = run(
            reactor,
            "sh",
            ["sh", "-c", "echo direct >&5"],
            childFDs={0: "w", 1: "r", 2: "r", 5: writeFD},
        )
        os.close(writeFD)
        writeFD = -1
        assert os.read(readFD, 100) == b"direct\n"
        assert protocol.ended.check(ProcessDone)
    finally:
        os.close(readFD)
        if writeFD >= 0:
            os.close(writeFD)


def test_writeToChildRefusesADescriptorItCannotWrite(reactor):
    protocol = Recorder()
    transport = reactor.spawnProcess(protocol, "cat", ["cat"])
    with pytest.raises(KeyError):
        transport.writeToChild(1, b"no")
    with pytest.raises(KeyError):
        transport.writeToChild(7, b"no")
    transport.closeStdin()
    waitEnded(reactor, protocol)


def test_badChildFDsValueIsRefused(reactor):
    with pytest.raises(ValueError):
        reactor.spawnProcess(Recorder(), "true", ["true"], childFDs={0: "x"})


def test_noParentDescriptorLeaksIntoTheChild(reactor):
    # Even one that is inheritable (no close-on-exec flag) stays out.
    readFD, writeFD = os.pipe()
    os.set_inheritable(readFD, True)
    os.set_inheritable(writeFD, True)
    try:
        protocol, _ = run(reactor, "sh", ["sh", "-c", "ls /proc/$$/fd"])
    finally:
        os.close(readFD)
        os.close(writeFD)
    assert sorted(protocol.output(1).split()) == [b"0", b"1", b"2"]


def test_environmentIsInheritedByDefault(reactor, monkeypatch):
    monkeypatch.setenv("LOOM_PROCESS_TEST", "inherited")
    protocol, _ = run(reactor, "sh", ["sh", "-c", 'echo "$LOOM_PROCESS_TEST"'])
    assert protocol.output() == b"inherited\n"


def test_ignoredSignalsAreNotInherited(reactor):
    # As under nohup: SIGHUP ignored here must not be ignored in the child
    # (the kernel's SigIgn mask of the child's own process, bit n-1).
    previous = signal.signal(signal.SIGHUP, signal.SIG_IGN)
    try:
        protocol, _ = run(reactor, "grep", ["grep", "SigIgn", "/proc/self/status"])
    finally:
        signal.signal(signal.SIGHUP, previous)
    mask = int(protocol.output().split()[1], 16)
    assert not mask & (1 << (signal.SIGHUP - 1))


def test_emptyEnvironment(reactor, monkeypatch):
    monkeypatch.setenv("LOOM_PROCESS_TEST", "inherited")
    protocol, _ = run(reactor, "/usr/bin/env", ["env"], env={})
    assert protocol.output() == b""


def test_givenEnvironmentOnly(reactor):
    protocol, _ = run(reactor, "/usr/bin/env", ["env"], env={"ONE": "1", b"TWO": b"2"})
    assert sorted(protocol.output().split()) == [b"ONE=1", b"TWO=2"]


def test_badEnvironmentNameIsRefused(reactor):
    with pytest.raises(ValueError):
        reactor.spawnProcess(Recorder(), "true", ["true"], env={"A=B": "c"})


def test_bareNameIsSearchedInTheChildsPath(reactor, tmp_path):
    program = tmp_path / "loom-hello"
    program.write_text("#!/bin/sh\necho found\n")
    program.chmod(0o755)
    protocol, _ = run(reactor, "loom-hello", ["loom-hello"], env={"PATH": str(tmp_path)})
    assert protocol.output() == b"found\n"


def test_pathSetsTheWorkingDirectory(reactor, tmp_path):
    protocol, _ = run(reactor, "pwd", ["pwd"], path=str(tmp_path))
    assert protocol.output() == os.path.realpath(tmp_path).encode() + b"\n"


def test_argumentsArePassedAsArgv(reactor):
    protocol, _ = run(reactor, "sh", ["sh", "-c", 'echo "$0|$1"', "zero", "one two"])
    assert protocol.output() == b"zero|one two\n"


def test_emptyArgsRunTheExecutableAsArgvZero(reactor):
    protocol = Recorder()
    transport = reactor.spawnProcess(protocol, "sh", [])
    transport.write(b'echo "$0"\n')
    transport.closeStdin()
    waitEnded(reactor, protocol)
    assert protocol.output() == b"sh\n"


def test_missingProgramEndsWithAFailureSayingWhich(reactor):
    protocol, transport = run(reactor, "/nonexistent/loom-program", ["x"])
    assert protocol.events == ["connectionMade", "processExited", "processEnded"]
    error = protocol.ended.value
    assert isinstance(error, ProcessExecError)
    assert error.errno == errno.ENOENT
    assert error.filename == "/nonexistent/loom-program"
    assert error.exitCode == 127
    assert "/nonexistent/loom-program" in str(error)
    assert "No such file or directory" in str(error)
    assert isinstance(error.osError(), FileNotFoundError)
    assert transport.pid is None
    assert protocol.exited.value is error


def test_missingBareNameEndsWithAFailure(reactor):
    protocol, _ = run(reactor, "loom-no-such-program", ["x"], env={"PATH": "/usr/bin:/bin"})
    assert protocol.ended.value.errno == errno.ENOENT
    assert protocol.ended.value.filename == "loom-no-such-program"


def test_nonExecutableProgramEndsWithAFailureSayingWhy(reactor, tmp_path):
    program = tmp_path / "not-executable"
    program.write_text("#!/bin/sh\necho never\n")
    program.chmod(0o644)  # no x bit: refused even to root
    protocol, _ = run(reactor, str(program), ["x"])
    error = protocol.ended.value
    assert isinstance(error, ProcessExecError)
    assert error.errno == errno.EACCES
    assert error.exitCode == 126
    assert isinstance(error.osError(), PermissionError)
    assert protocol.output() == b""


def test_missingDirectoryEndsWithAFailure(reactor, tmp_path):
    missing = str(tmp_path / "missing")
    protocol, _ = run(reactor, "true", ["true"], path=missing)
    error = protocol.ended.value
    assert isinstance(error, ProcessExecError)
    assert (error.errno, error.filename, error.step) == (errno.ENOENT, missing, "chdir")
    assert "cannot change to directory" in str(error)


def test_badArgumentTypeIsRefused(reactor):
    with pytest.raises(TypeError):
        reactor.spawnProcess(Recorder(), "true", ["true", 3])


def test_childsOwnClosingOfStdinIsNoticed(reactor):
    # The child closes its standard input and goes on running: the write
    # end polls as readable, and inConnectionLost comes while it runs.
    protocol = Recorder()
    transport = reactor.spawnProcess(
        protocol, "sh", ["sh", "-c", "exec 0<&-; echo closed; exec sleep 30"]
    )
    spin(reactor, lambda: "inConnectionLost" in protocol.events, what="inConnectionLost")
    assert transport.pid is not None
    assert "processExited" not in protocol.events
    transport.signalProcess("KILL")
    waitEnded(reactor, protocol)
    assert protocol.events.index("inConnectionLost") < protocol.events.index("processExited")


def test_closeStdoutMakesTheWriterGetSIGPIPE(reactor):
    # The child's SIGPIPE is back to its default (Python ignores it), so
    # `yes` dies of it once nobody reads.
    protocol = Recorder()
    transport = reactor.spawnProcess(protocol, "yes", ["yes"])
    spin(reactor, lambda: protocol.output(), what="output")
    transport.closeStdout()
    waitEnded(reactor, protocol)
    assert "outConnectionLost" in protocol.events
    assert protocol.ended.value.signal == signal.SIGPIPE


def test_loseConnectionClosesEveryPipe(reactor):
    protocol = Recorder()
    transport = reactor.spawnProcess(protocol, "cat", ["cat"])
    transport.write(b"last words")
    transport.loseConnection()
    waitEnded(reactor, protocol)
    # cat got what was written before its input closed; its output pipe
    # was closed by us, so it may have died of SIGPIPE writing it back.
    assert transport.pipes == {}
    assert {"inConnectionLost", "outConnectionLost", "errConnectionLost"} <= set(protocol.events)


def test_processEndedWaitsForEveryPipe(reactor):
    # The shell exits at once, but a grandchild holds its output pipe: the
    # child is reaped (processExited) before the pipe closes, and
    # processEnded waits for it.
    protocol, _ = run(reactor, "sh", ["sh", "-c", "(sleep 0.3; echo late) & exit 0"])
    assert protocol.output() == b"late\n"
    events = protocol.events
    assert events.index("processExited") < events.index("outConnectionLost")
    assert events[-1] == "processEnded"


def test_writeBackpressurePausesAPushProducer(reactor):
    @implementer(IPushProducer)
    class Producer:
        def __init__(self):
            self.events = []

        def pauseProducing(self):
            self.events.append("pause")

        def resumeProducing(self):
            self.events.append("resume")

        def stopProducing(self):
            self.events.append("stop")

    class Counter(Recorder):
        count = 0

        def outReceived(self, data):
            self.count += len(data)

        def childDataReceived(self, childFD, data):
            ProcessProtocol.childDataReceived(self, childFD, data)

    protocol = Counter()
    producer = Producer()
    transport = reactor.spawnProcess(protocol, "cat", ["cat"])
    transport.registerProducer(producer, True)
    transport.write(b"x" * (1024 * 1024))  # far more than a pipe holds
    assert producer.events == ["pause"]
    spin(reactor, lambda: producer.events == ["pause", "resume"], what="resume")
    transport.unregisterProducer()
    transport.closeStdin()
    waitEnded(reactor, protocol)
    assert protocol.count == 1024 * 1024


def test_pullProducerFeedsStdin(reactor):
    @implementer(IPullProducer)
    class Producer:
        def __init__(self, transport, chunks):
            self.transport = transport
            self.chunks = chunks

        def resumeProducing(self):
            if self.chunks:
                self.transport.write(self.chunks.pop(0))
            else:
                self.transport.unregisterProducer()
                self.transport.closeStdin()

        def stopProducing(self):
            pass

    protocol = Recorder()
    transport = reactor.spawnProcess(protocol, "cat", ["cat"])
    transport.registerProducer(Producer(transport, [b"a" * 100000, b"b" * 100000]), False)
    waitEnded(reactor, protocol)
    assert protocol.output() == b"a" * 100000 + b"b" * 100000


def test_pauseProducingStopsReadingTheChild(reactor):
    protocol = Recorder()
    transport = reactor.spawnProcess(protocol, "sh", ["sh", "-c", "echo one; read x; echo two"])
    spin(reactor, lambda: protocol.output() == b"one\n", what="first line")
    transport.pauseProducing()
    transport.write(b"go\n")
    spin(reactor, lambda: "processExited" in protocol.events, what="exit")
    assert protocol.output() == b"one\n", "nothing is read while paused"
    transport.resumeProducing()
    waitEnded(reactor, protocol)
    assert protocol.output() == b"one\ntwo\n"


def test_errorInOutReceivedClosesThatPipeOnly(reactor):
    class Failing(Recorder):
        def outReceived(self, data):
            raise RuntimeError("boom in outReceived")

    protocol = Failing()
    with LoggedErrors() as logged:
        transport = reactor.spawnProcess(protocol, "sh", ["sh", "-c", "echo out; echo err >&2"])
        waitEnded(reactor, protocol)
    assert [f.value.args[0] for f in logged.failures()] == ["boom in outReceived"]
    assert protocol.output(2) == b"err\n", "standard error is still read"
    assert protocol.ended is not None
    assert transport.pid is None


def test_errorInConnectionMadeIsLoggedAndClosesThePipes(reactor):
    class Failing(Recorder):
        def connectionMade(self):
            Recorder.connectionMade(self)
            raise RuntimeError("boom in connectionMade")

    protocol = Failing()
    with LoggedErrors() as logged:
        transport = reactor.spawnProcess(protocol, "cat", ["cat"])
        waitEnded(reactor, protocol)
    assert [f.value.args[0] for f in logged.failures()] == ["boom in connectionMade"]
    assert protocol.ended.check(ProcessDone), "cat saw its input close and exited"
    assert transport.pipes == {}


def test_errorInProcessExitedStillEnds(reactor):
    class Failing(Recorder):
        def processExited(self, reason):
            Recorder.processExited(self, reason)
            raise RuntimeError("boom in processExited")

    protocol = Failing()
    with LoggedErrors() as logged:
        transport = reactor.spawnProcess(protocol, "true", ["true"])
        waitEnded(reactor, protocol)
    assert [f.value.args[0] for f in logged.failures()] == ["boom in processExited"]
    assert protocol.ended.check(ProcessDone)
    assert transport.pid is None


def test_shutdownTellsThePipes(reactor):
    # At shutdown the reactor closes every pipe it holds (childConnectionLost
    # for each); the child is left running, as in Twisted.
    protocol = Recorder()
    transport = reactor.spawnProcess(protocol, "sleep", ["sleep", "30"])
    pid = transport.pid
    reactor.callWhenRunning(reactor.stop)
    reactor.run(installSignalHandlers=False)
    assert {("childConnectionLost", fd) for fd in (0, 1, 2)} <= set(protocol.events)
    assert "processExited" not in protocol.events
    os.kill(pid, signal.SIGKILL)

    def reaped():
        transport.reapProcess()
        return transport.pid is None

    spin(reactor, reaped, what="the child reaped")
    assert protocol.ended.value.signal == signal.SIGKILL


def test_noProtocolForAChildWithoutPipes(reactor):
    # As in Twisted, a child whose descriptors are all handed over needs no
    # protocol; it is still reaped.
    devnull = os.open(os.devnull, os.O_RDWR)
    try:
        transport = reactor.spawnProcess(
            None, "true", ["true"], childFDs={0: devnull, 1: devnull, 2: devnull}
        )
    finally:
        os.close(devnull)
    spin(reactor, lambda: transport.pid is None, what="the child reaped")
    assert transport.status == 0
