"""
StandardIO, on every reactor: in this process over pipes and files given as
its standard input and output, and in a child Loom program
(tests/reactor/stdio_child.py) driven by its parent through spawnProcess.
"""

import os
import pty
import signal
import socket
import subprocess
import sys

import pytest
from zope.interface import implementer
from zope.interface.verify import verifyObject

from protocols.protocol import Protocol
from reactor import REACTORS, getReactorClass
from reactor.error import ConnectionDone, ConnectionLost, ProcessDone, ProcessTerminated
from reactor.interfaces import IConsumer, IHalfCloseableProtocol, IPushProducer, ITransport
from reactor.stdio import PipeAddress, StandardIO
from tests.reactor.processhelpers import Recorder, waitEnded
from tests.reactor.reactorhelpers import LoggedErrors
from tests.reactor.transport_helpers import spin

pytestmark = pytest.mark.timeout(60)

CHILD = os.path.join(os.path.dirname(os.path.abspath(__file__)), "stdio_child.py")


class Recording(Protocol):
    """Records data, the end and, as an echo, writes back what it reads when asked."""

    echo = False

    def __init__(self):
        self.events = []
        self.data = []
        self.reason = None

    def connectionMade(self):
        self.events.append("connectionMade")

    def dataReceived(self, data):
        self.data.append(data)
        if self.echo:
            self.transport.write(data)

    def connectionLost(self, reason):
        self.events.append("connectionLost")
        self.reason = reason

    def received(self):
        return b"".join(self.data)


@implementer(IHalfCloseableProtocol)
class HalfCloseable(Recording):
    def readConnectionLost(self):
        self.events.append("readConnectionLost")

    def writeConnectionLost(self):
        self.events.append("writeConnectionLost")


class Pipes:
    """Two pipes: what the StandardIO reads (stdin) and writes (stdout), and our ends."""

    def __init__(self):
        self.stdin, self.toStdin = os.pipe()
        self.fromStdout, self.stdout = os.pipe()
        os.set_blocking(self.fromStdout, False)
        # Our own handles on the two files the StandardIO takes: the
        # numbers it is given are closed when it is done with them.
        self.stdinFile = os.dup(self.stdin)
        self.stdoutFile = os.dup(self.stdout)
        self.open = [self.toStdin, self.fromStdout, self.stdinFile, self.stdoutFile]

    def close(self):
        for fd in self.open:
            try:
                os.close(fd)
            except OSError:
                pass

    def readOutput(self, reactor, until):
        """Iterate reactor, reading stdout's pipe, until until(bytes so far)."""
        chunks = []

        def done():
            try:
                chunk = os.read(self.fromStdout, 1 << 20)
            except BlockingIOError:
                chunk = None
            if chunk:
                chunks.append(chunk)
            return until(b"".join(chunks), chunk)

        spin(reactor, done, 20, "output")
        return b"".join(chunks)

    def outputToItsEnd(self, reactor):
        """Read stdout's pipe to its end of file (our own handle on it closed first)."""
        os.close(self.stdoutFile)
        self.open.remove(self.stdoutFile)
        return self.readOutput(reactor, lambda out, chunk: chunk == b"")


@pytest.fixture
def pipes():
    pipes = Pipes()
    yield pipes
    pipes.close()


def _connect(reactor, pipes, protocol):
    return StandardIO(protocol, stdin=pipes.stdin, stdout=pipes.stdout, reactor=reactor)


def _ended(reactor, protocol):
    spin(reactor, lambda: protocol.reason is not None, 20, "connectionLost")


def test_isATransport(reactor, pipes):
    protocol = Recording()
    transport = _connect(reactor, pipes, protocol)
    assert verifyObject(ITransport, transport)
    assert IConsumer.providedBy(transport) and IPushProducer.providedBy(transport)
    assert protocol.transport is transport
    assert transport.getPeer() == transport.getHost() == PipeAddress()
    transport.loseConnection()
    _ended(reactor, protocol)


def test_dataBothWaysThenEndOfInputEndsIt(reactor, pipes):
    protocol = Recording()
    protocol.echo = True
    transport = _connect(reactor, pipes, protocol)
    os.write(pipes.toStdin, b"hello")
    assert pipes.readOutput(reactor, lambda out, chunk: out == b"hello") == b"hello"
    os.close(pipes.toStdin)
    _ended(reactor, protocol)
    assert protocol.events == ["connectionMade", "connectionLost"]
    assert protocol.reason.check(ConnectionDone)
    assert transport.disconnected and transport.disconnecting
    # Standard output was let go of: its reader sees the end of file.
    assert pipes.outputToItsEnd(reactor) == b""


def test_flagsOfTheFilesAreGivenBack(reactor, pipes):
    protocol = Recording()
    transport = _connect(reactor, pipes, protocol)
    assert not os.get_blocking(pipes.stdinFile)
    assert not os.get_blocking(pipes.stdoutFile)
    transport.loseConnection()
    _ended(reactor, protocol)
    assert os.get_blocking(pipes.stdinFile)
    assert os.get_blocking(pipes.stdoutFile)


def test_bufferedOutputGoesOutBeforeTheEndOfInputEndsIt(reactor, pipes):
    # More than the pipe holds is buffered when standard input ends: a
    # protocol that is not half-closeable ends once all of it is written.
    protocol = Recording()
    _connect(reactor, pipes, protocol)
    payload = os.urandom(1024 * 1024)
    protocol.transport.write(payload)
    os.close(pipes.toStdin)
    reactor.iterate(0)
    output = pipes.outputToItsEnd(reactor)
    assert output == payload
    _ended(reactor, protocol)
    assert protocol.reason.check(ConnectionDone)


def test_halfCloseableHearsEachSideEnd(reactor, pipes):
    protocol = HalfCloseable()
    transport = _connect(reactor, pipes, protocol)
    os.write(pipes.toStdin, b"question")
    os.close(pipes.toStdin)
    spin(reactor, lambda: "readConnectionLost" in protocol.events, 20, "readConnectionLost")
    assert protocol.received() == b"question"
    transport.write(b"answer")
    transport.loseWriteConnection()
    _ended(reactor, protocol)
    # The second side's end is the connection's: as for a TCP connection.
    assert protocol.events == ["connectionMade", "readConnectionLost", "connectionLost"]
    assert protocol.reason.check(ConnectionDone)
    assert pipes.outputToItsEnd(reactor) == b"answer"


def test_halfCloseWriteFirstKeepsReading(reactor, pipes):
    protocol = HalfCloseable()
    transport = _connect(reactor, pipes, protocol)
    transport.loseWriteConnection()
    assert pipes.outputToItsEnd(reactor) == b""
    assert protocol.events == ["connectionMade", "writeConnectionLost"]
    os.write(pipes.toStdin, b"more")
    spin(reactor, lambda: protocol.received() == b"more", 20, "data after the half-close")
    os.close(pipes.toStdin)
    _ended(reactor, protocol)
    assert protocol.events == ["connectionMade", "writeConnectionLost", "connectionLost"]


def test_readerOfOutputGoingAwayEndsIt(reactor, pipes):
    # Nothing is written: the write end of a pipe watched for reading hears
    # its reader close (POLLERR).
    protocol = Recording()
    _connect(reactor, pipes, protocol)
    os.close(pipes.fromStdout)
    pipes.open.remove(pipes.fromStdout)
    _ended(reactor, protocol)
    assert protocol.reason.check(ConnectionLost)
    # Standard input was let go of too: its writer gets EPIPE.
    os.close(pipes.stdinFile)
    pipes.open.remove(pipes.stdinFile)
    with pytest.raises(BrokenPipeError):
        os.write(pipes.toStdin, b"anyone?")


def test_oneFileForBothSidesStaysNonBlocking(reactor):
    # A socket as standard input and output (inetd's way): its end of input
    # must not make it blocking while output still goes through it.
    ours, theirs = socket.socketpair()
    handle = os.dup(ours.fileno())
    try:
        protocol = HalfCloseable()
        transport = StandardIO(protocol, stdin=ours.fileno(), stdout=ours.fileno(), reactor=reactor)
        ours.detach()
        theirs.shutdown(socket.SHUT_WR)
        spin(reactor, lambda: "readConnectionLost" in protocol.events, 20, "readConnectionLost")
        assert not os.get_blocking(handle)
        transport.write(b"still writing")
        transport.loseConnection()
        _ended(reactor, protocol)
        assert os.get_blocking(handle)
        theirs.settimeout(10)
        assert theirs.recv(100) == b"still writing"
    finally:
        os.close(handle)
        theirs.close()


def test_backpressurePausesAProducer(reactor, pipes):
    events = []

    @implementer(IPushProducer)
    class Producer:
        def pauseProducing(self):
            events.append("pause")

        def resumeProducing(self):
            events.append("resume")

        def stopProducing(self):
            events.append("stop")

    protocol = Recording()
    transport = _connect(reactor, pipes, protocol)
    transport.registerProducer(Producer(), True)
    transport.write(b"x" * (1024 * 1024))
    assert events == ["pause"]
    pipes.readOutput(reactor, lambda out, chunk: len(out) >= 1024 * 1024 - 16384)
    assert events == ["pause", "resume"]
    transport.unregisterProducer()
    transport.loseConnection()
    _ended(reactor, protocol)


def test_pauseProducingStopsReadingInput(reactor, pipes):
    protocol = Recording()
    transport = _connect(reactor, pipes, protocol)
    transport.pauseProducing()
    os.write(pipes.toStdin, b"held")
    for _ in range(5):
        reactor.iterate(0.01)
    assert protocol.data == []
    transport.resumeProducing()
    spin(reactor, lambda: protocol.received() == b"held", 20, "data once resumed")
    transport.loseConnection()
    _ended(reactor, protocol)


def test_regularFileInputIsReadToItsEnd(reactor, pipes, tmp_path):
    # epoll cannot watch a regular file: it is read on every turn instead.
    payload = os.urandom(300 * 1024)
    path = tmp_path / "input"
    path.write_bytes(payload)
    fileFD = os.open(path, os.O_RDONLY)
    protocol = Recording()
    StandardIO(protocol, stdin=fileFD, stdout=pipes.stdout, reactor=reactor)
    _ended(reactor, protocol)
    assert protocol.received() == payload
    assert protocol.reason.check(ConnectionDone)


def test_regularFileOutputIsWritten(reactor, pipes, tmp_path):
    path = tmp_path / "output"
    fileFD = os.open(path, os.O_WRONLY | os.O_CREAT)
    protocol = Recording()
    transport = StandardIO(protocol, stdin=pipes.stdin, stdout=fileFD, reactor=reactor)
    transport.write(b"to a file\n")
    transport.writeSequence([b"and ", b"more\n"])
    transport.loseConnection()
    _ended(reactor, protocol)
    assert path.read_bytes() == b"to a file\nand more\n"


def test_devNullInputEndsAtOnce(reactor, pipes):
    null = os.open(os.devnull, os.O_RDONLY)
    protocol = Recording()
    StandardIO(protocol, stdin=null, stdout=pipes.stdout, reactor=reactor)
    _ended(reactor, protocol)
    assert protocol.reason.check(ConnectionDone)
    assert protocol.data == []


def test_errorInDataReceivedEndsTheConnection(reactor, pipes):
    class Broken(Recording):
        def dataReceived(self, data):
            raise ZeroDivisionError("bad input")

    protocol = Broken()
    with LoggedErrors() as logged:
        _connect(reactor, pipes, protocol)
        os.write(pipes.toStdin, b"boom")
        _ended(reactor, protocol)
    assert protocol.reason.check(ZeroDivisionError)
    assert [failure.type for failure in logged.failures()] == [ZeroDivisionError]
    assert pipes.outputToItsEnd(reactor) == b""


def test_errorInConnectionMadeClosesIt(reactor, pipes):
    class Broken(Recording):
        def connectionMade(self):
            raise ValueError("cannot start")

    protocol = Broken()
    with LoggedErrors() as logged:
        _connect(reactor, pipes, protocol)
        _ended(reactor, protocol)
    assert [failure.type for failure in logged.failures()] == [ValueError]
    assert protocol.reason.check(ConnectionDone)


def test_reactorShutdownEndsIt(reactor, pipes):
    protocol = Recording()
    _connect(reactor, pipes, protocol)
    reactor.disconnectAll()
    spin(reactor, lambda: protocol.reason is not None, 20, "connectionLost")
    assert protocol.reason.check(ConnectionLost)
    assert os.get_blocking(pipes.stdinFile) and os.get_blocking(pipes.stdoutFile)


# -- a child Loom program on StandardIO, driven by its parent ---------------------------


def _reactorName(reactor):
    return next(name for name in REACTORS if isinstance(reactor, getReactorClass(name)))


def _spawnChild(reactor, mode):
    protocol = Recorder()
    transport = reactor.spawnProcess(
        protocol, sys.executable, [sys.executable, CHILD, _reactorName(reactor), mode]
    )
    return protocol, transport


def test_childEchoesForItsParent(reactor):
    protocol, transport = _spawnChild(reactor, "echo")
    transport.write(b"hello ")
    transport.write(b"child\n")
    transport.closeStdin()
    waitEnded(reactor, protocol, timeout=40)
    assert protocol.output() == b"HELLO CHILD\n"
    assert protocol.output(2) == b"lost ConnectionDone - stdout=/dev/null\n"
    assert protocol.ended.check(ProcessDone)


def test_childHalfClosesForItsParent(reactor):
    protocol, transport = _spawnChild(reactor, "count")
    transport.write(b"x" * 100000)
    transport.closeStdin()
    waitEnded(reactor, protocol, timeout=40)
    assert protocol.output() == b"100000\n"
    assert protocol.output(2) == (b"lost ConnectionDone readConnectionLost stdout=/dev/null\n")


def test_childIsHeldBackByItsParentsReading(reactor):
    # The parent stops reading the child's output until the child says (on
    # its standard error) that its producer was paused; then reads it all.
    from tests.reactor.stdio_child import FLOOD_BYTES

    class Counting(Recorder):
        count = 0

        def childDataReceived(self, childFD, data):
            if childFD == 1:
                self.count += len(data)
            else:
                Recorder.childDataReceived(self, childFD, data)

    protocol = Counting()
    transport = reactor.spawnProcess(
        protocol, sys.executable, [sys.executable, CHILD, _reactorName(reactor), "flood"]
    )
    transport.pipes[1].pauseProducing()
    spin(reactor, lambda: protocol.output(2) == b"paused\n", 40, "the child to be held back")
    assert protocol.count < FLOOD_BYTES
    transport.pipes[1].resumeProducing()
    waitEnded(reactor, protocol, timeout=40)
    assert protocol.count == FLOOD_BYTES
    assert protocol.output(2) == b"paused\nlost ConnectionDone paused stdout=/dev/null\n"


def _runChild(reactorName, mode, stdin, stdout, stderr=subprocess.PIPE):
    return subprocess.run(
        [sys.executable, CHILD, reactorName, mode],
        stdin=stdin,
        stdout=stdout,
        stderr=stderr,
        timeout=40,
    )


@pytest.mark.parametrize("reactorName", list(REACTORS))
def test_childReadsAndWritesRegularFiles(reactorName, tmp_path):
    # `prog < input > output`: epoll cannot watch either file.
    payload = b"line of text\n" * 20000
    (tmp_path / "input").write_bytes(payload)
    with open(tmp_path / "input", "rb") as source, open(tmp_path / "output", "wb") as target:
        done = _runChild(reactorName, "echo", source, target)
    assert done.returncode == 0, done.stderr
    assert (tmp_path / "output").read_bytes() == payload.upper()
    assert done.stderr == b"lost ConnectionDone - stdout=/dev/null\n"


@pytest.mark.parametrize("reactorName", list(REACTORS))
def test_childExitingWithItOpenGivesTheFlagsBack(reactorName):
    # sys.exit from a callback, StandardIO still open: interpreter exit puts
    # the pipes' files back in blocking mode for whoever shares them.
    inRead, inWrite = os.pipe()
    outRead, outWrite = os.pipe()
    try:
        child = subprocess.Popen(
            [sys.executable, CHILD, reactorName, "exit"],
            stdin=inRead,
            stdout=outWrite,
            stderr=subprocess.DEVNULL,
        )
        os.write(inWrite, b"go\n")
        assert child.wait(timeout=40) == 3
        assert os.get_blocking(inRead) and os.get_blocking(outWrite)
    finally:
        for fd in (inRead, inWrite, outRead, outWrite):
            os.close(fd)


@pytest.mark.parametrize("reactorName", list(REACTORS))
def test_terminalFlagsAreRestored(reactorName):
    # Standard input and output are one open file, a terminal (as under a
    # shell): the child types back what it reads, ends at the terminal's
    # end of file (^D), and leaves the terminal blocking for the shell.
    master, slave = pty.openpty()
    try:
        child = subprocess.Popen(
            [sys.executable, CHILD, reactorName, "echo"],
            stdin=slave,
            stdout=slave,
            stderr=subprocess.PIPE,
            start_new_session=True,
        )
        os.write(master, b"typed\n\x04")
        _, stderr = child.communicate(timeout=40)
        assert child.returncode == 0, stderr
        assert stderr == b"lost ConnectionDone - stdout=/dev/null\n"
        assert os.get_blocking(slave)
        assert b"TYPED" in _drain(master)
    finally:
        os.close(master)
        os.close(slave)


def _drain(fd):
    os.set_blocking(fd, False)
    chunks = []
    while True:
        try:
            chunk = os.read(fd, 65536)
        except (BlockingIOError, OSError):
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


def test_childKilledBySignalEndsForItsParent(reactor):
    protocol, transport = _spawnChild(reactor, "echo")
    transport.write(b"first\n")
    spin(reactor, lambda: protocol.output() == b"FIRST\n", 40, "the echo")
    transport.signalProcess(signal.SIGTERM)
    waitEnded(reactor, protocol, timeout=40)
    assert protocol.ended.check(ProcessTerminated)
    assert protocol.ended.value.signal == signal.SIGTERM
