"""
spawnProcess with usePTY, on every reactor: the child's standard input,
output and error are a new pseudo-terminal, and its controlling terminal.
"""

import os
import signal

import pytest

from reactor.error import ProcessDone, ProcessTerminated
from reactor.process import PTYProcess
from tests.reactor.processhelpers import Recorder, run, waitEnded
from tests.reactor.transport_helpers import spin

pytestmark = pytest.mark.timeout(60)


def test_ttyReportsATerminal(reactor):
    protocol, transport = run(reactor, "tty", ["tty"], usePTY=True)
    assert isinstance(transport, PTYProcess)
    assert protocol.output().startswith(b"/dev/pts/")
    assert protocol.ended.check(ProcessDone), "tty exits 0 only on a terminal"


def test_ttyWithoutPTYReportsNoTerminal(reactor):
    protocol, _ = run(reactor, "tty", ["tty"])
    assert protocol.output() == b"not a tty\n"
    assert protocol.ended.value.exitCode == 1


def test_terminalIsTheControllingTerminal(reactor):
    # /dev/tty opens only in a process that has a controlling terminal, and
    # the shell's session is its own.
    script = "exec 3</dev/tty && echo has-ctty; ps -o sid= -o pid= -p $$"
    protocol, _ = run(reactor, "sh", ["sh", "-c", script], usePTY=True)
    lines = protocol.output().split(b"\r\n")
    assert lines[0] == b"has-ctty"
    session, pid = lines[1].split()
    assert session == pid, "the child leads a session of its own"


def test_writeTypesIntoTheTerminal(reactor):
    # The terminal echoes what is typed, and cat prints each line back.
    protocol = Recorder()
    transport = reactor.spawnProcess(protocol, "cat", ["cat"], usePTY=True)
    transport.write(b"typed\n")
    spin(reactor, lambda: protocol.output().count(b"typed") == 2, what="echo and output")
    transport.write(b"\x04")  # end of file, at the start of a line
    waitEnded(reactor, protocol)
    assert protocol.output() == b"typed\r\ntyped\r\n"
    assert protocol.ended.check(ProcessDone)


def test_loseConnectionHangsUp(reactor):
    protocol = Recorder()
    transport = reactor.spawnProcess(protocol, "sleep", ["sleep", "30"], usePTY=True)
    transport.loseConnection()
    waitEnded(reactor, protocol)
    assert protocol.ended.check(ProcessTerminated)
    assert protocol.ended.value.signal == signal.SIGHUP
    # No childConnectionLost for a PTY, as in Twisted.
    assert protocol.events == ["connectionMade", "processExited", "processEnded"]


def test_signalReachesAPTYChild(reactor):
    protocol = Recorder()
    transport = reactor.spawnProcess(protocol, "sleep", ["sleep", "30"], usePTY=True)
    transport.signalProcess("TERM")
    waitEnded(reactor, protocol)
    assert protocol.ended.value.signal == signal.SIGTERM


def test_closeMethodsAreNoOpsAndChildFDMethodsRefuse(reactor):
    protocol = Recorder()
    transport = reactor.spawnProcess(protocol, "cat", ["cat"], usePTY=True)
    transport.closeStdin()
    transport.closeStdout()
    transport.closeStderr()
    with pytest.raises(NotImplementedError):
        transport.writeToChild(0, b"x")
    with pytest.raises(NotImplementedError):
        transport.closeChildFD(0)
    assert transport.pid is not None
    transport.signalProcess("KILL")
    waitEnded(reactor, protocol)


def test_childFDsWithUsePTYIsRefused(reactor):
    with pytest.raises(ValueError):
        reactor.spawnProcess(Recorder(), "true", ["true"], usePTY=True, childFDs={0: "w"})


def test_givenPTYIsUsed(reactor):
    master, slave = os.openpty()
    name = os.ttyname(slave)
    protocol, _ = run(reactor, "tty", ["tty"], usePTY=(master, slave, name))
    assert protocol.output() == name.encode() + b"\r\n"


def test_missingProgramOnAPTY(reactor):
    protocol, transport = run(reactor, "/nonexistent/program", ["x"], usePTY=True)
    assert protocol.ended.value.filename == "/nonexistent/program"
    assert transport.pid is None
