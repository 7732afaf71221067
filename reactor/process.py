"""
Child processes: ``spawnProcess`` and the process transport it returns.

A Process is a child plus the parent's ends of the pipes to it, one per
child descriptor that childFDs asks for.  Each pipe is a stream transport
(reactor.stream) over the pipe's descriptor, so the child's input has the
write path of a socket (sent at once while nothing waits, then writev,
producers and backpressure) and its output is read 64 KiB at a time; the
pipe's "protocol" only passes what happens on to the Process, as
``childDataReceived(fd, data)`` and ``childConnectionLost(fd, reason)``,
and the Process to its ProcessProtocol.

The child is started by reactor._spawn (fork and exec in C; the exec's
errno comes back through a pipe) and watched by reactor._reaper (a pidfd,
or SIGCHLD), which calls ``reapProcess()`` when it may have exited.  The
protocol hears, in this order: ``connectionMade``; output and the pipes
closing, as they happen; ``processExited(reason)`` once the child is reaped
(its output may still be in the pipes); and ``processEnded(reason)`` once
it is reaped and every pipe is closed.  ``reason`` is a Failure of
ProcessDone (exit status 0) or ProcessTerminated (``exitCode``, ``signal``,
``status``).  A program that cannot be run (missing, not executable, a
directory that is not there) ends the same way, its reason a
ProcessExecError saying which and why, on the reactor's next turn: never an
exception from spawnProcess, never a half-started child.

Each callback is contained as a stream protocol's is: an exception in
``childDataReceived`` (``outReceived``, ...) is logged and closes that pipe
(the reactor's dispatch boundary); in ``connectionMade`` it is logged and
closes every pipe; in the others it is logged.  The child is never killed
for it.

A child whose standard input is a pipe is watched for that pipe's closing
from the child's side: the write end of a pipe whose reader is gone polls
as readable (POLLERR), so the writer is registered for reading too and its
``doRead`` means "the child closed its standard input".
"""

import errno
import os
import signal
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from zope.interface import implementer

from reactor import _logcontext, _reaper, _spawn, log
from reactor._spawn import PathArgument
from reactor.error import (
    CONNECTION_DONE,
    CONNECTION_LOST,
    ConnectionLost,
    ProcessDone,
    ProcessExecError,
    ProcessExitedAlready,
    ProcessTerminated,
)
from reactor.failure import Failure
from reactor.interfaces import IConsumer, IProcessProtocol, IProcessTransport, IPushProducer
from reactor.stream import ABORTING, StreamTransport

__all__ = [
    "PTYProcess",
    "Process",
    "ProcessReader",
    "ProcessWriter",
    "reapAllProcesses",
    "reapOrphans",
    "spawnProcess",
]

reapAllProcesses = _reaper.reapAllProcesses
reapOrphans = _reaper.reapOrphans

_DEFAULT_CHILD_FDS = {0: "w", 1: "r", 2: "r"}


def spawnProcess(
    reactor: Any,
    processProtocol: IProcessProtocol,
    executable: PathArgument,
    args: Sequence[PathArgument] = (),
    env: Mapping[str | bytes, str | bytes] | None = None,
    path: PathArgument | None = None,
    uid: int | None = None,
    gid: int | None = None,
    usePTY: bool | tuple[int, int, str] = False,
    childFDs: Mapping[int, int | str] | None = None,
) -> "Process":
    """
    Start executable in a child process connected to processProtocol; the
    implementation of every reactor's ``spawnProcess``.

    :param args: the child's argv, its program name first (Twisted's
        convention); empty means ``[executable]``.
    :param env: the child's environment: None for this process's own,
        ``{}`` for an empty one.
    :param path: the directory to run it in (None: ours).
    :param uid: the user to run it as (as root), with that user's
        supplementary groups; gid then defaults to the user's group.
    :param gid: the group to run it as (as root).
    :param usePTY: give the child a new pseudo-terminal as its standard
        input, output and error, and make it the child's controlling
        terminal (a new session); or a (master, slave, name) tuple of one
        opened already.
    :param childFDs: {child descriptor: 'r' (we read what the child writes
        there), 'w' (we write what it reads) or one of our descriptors,
        passed as it is}.  Default {0: 'w', 1: 'r', 2: 'r'}.  The child gets
        these descriptors and no other of ours.  Not with usePTY.
    :return: the IProcessTransport (a Process or PTYProcess).
    :raises ValueError: for childFDs with usePTY, or a childFDs value that
        is not 'r', 'w' or a descriptor.
    :raises TypeError: for an argument or environment entry that is not
        str or bytes.
    :raises OSError: when no child could be made (EAGAIN, ENOMEM, EMFILE).
    """
    if usePTY:
        if childFDs is not None:
            raise ValueError("childFDs cannot be given with usePTY")
        return PTYProcess(reactor, executable, args, env, path, processProtocol, uid, gid, usePTY)
    return Process(reactor, executable, args, env, path, processProtocol, uid, gid, childFDs)


def _checkArguments(executable: object, args: Sequence[object]) -> None:
    for argument in (executable, *args):
        if not isinstance(argument, (str, bytes, os.PathLike)):
            raise TypeError("arguments must be str or bytes, not %r" % (argument,))


def _reasonFor(status: int | None) -> ProcessTerminated | ProcessDone:
    # A wait status as the Failure's value: ProcessDone for exit status 0.
    if status is None:
        # Reaped by a waitpid that is not ours: it ended, we cannot say how.
        return ProcessTerminated()
    if os.WIFSIGNALED(status):
        return ProcessTerminated(None, os.WTERMSIG(status), status)
    code = os.waitstatus_to_exitcode(status)
    if code:
        return ProcessTerminated(code, None, status)
    return ProcessDone(status)


class _ChildPipe:
    """
    The "protocol" of one pipe: passes what happens on it to the process
    (or anything with childDataReceived and childConnectionLost: StandardIO).
    """

    __slots__ = ("proc", "name")

    def __init__(self, proc: Any, name: int | None) -> None:
        self.proc = proc
        self.name = name

    def dataReceived(self, data: bytes) -> None:
        """Pass the child's output on, as childDataReceived(name, data)."""
        self.proc.childDataReceived(self.name, data)

    def connectionLost(self, reason: Failure) -> None:
        """Pass the pipe's end on, as childConnectionLost(name, reason)."""
        self.proc.childConnectionLost(self.name, reason)


class ProcessReader(StreamTransport):
    """
    Our end of a pipe the child writes to: read 64 KiB at a time, and passed
    on to ``proc.childDataReceived(name, data)``; its end (EOF, or closed by
    us) as ``proc.childConnectionLost(name, reason)``.

    Reading starts at once; pauseProducing/resumeProducing pause it.
    """

    __slots__ = ("proc", "name")

    def __init__(self, reactor: Any, proc: Any, name: int | None, fileno: int) -> None:
        """
        :param fileno: the read end, non-blocking; this reader closes it.
        :param name: the child's descriptor number it stands for.
        """
        StreamTransport.__init__(self, fileno, _ChildPipe(proc, name), reactor)
        self.proc = proc
        self.name = name
        self._startReading()

    def loseConnection(self) -> None:
        """
        Close the pipe on the reactor's next turn (the child gets SIGPIPE
        or EPIPE if it writes more).  A read end is never writable, so
        there is nothing to drain first.
        """
        if self._state < ABORTING:
            self._endSoon(Failure(CONNECTION_DONE))

    def logPrefix(self) -> str:
        """Name the process (its protocol) in log lines."""
        return _logcontext.prefixOf(self.proc)


class ProcessWriter(StreamTransport):
    """
    Our end of a pipe the child reads from: the stream write path (see
    reactor.stream), and its end passed on to
    ``proc.childConnectionLost(name, reason)``.

    ``loseConnection`` closes it once what is buffered has been written.
    It is registered for reading too: see "the child closed its standard
    input" in the module docstring.
    """

    __slots__ = ("proc", "name")

    def __init__(
        self, reactor: Any, proc: Any, name: int, fileno: int, *, watchClose: bool = True
    ) -> None:
        """
        :param fileno: the write end, non-blocking; this writer closes it.
        :param watchClose: register for reading, to hear of the reader
            closing its end at once (a pipe only: on a terminal or a socket,
            readable means something else).
        """
        StreamTransport.__init__(self, fileno, _ChildPipe(proc, name), reactor)
        self.proc = proc
        self.name = name
        if watchClose:
            self._startReading()

    def doRead(self) -> ConnectionLost:
        """The child closed its end: this pipe is done."""
        return CONNECTION_LOST

    def logPrefix(self) -> str:
        """Name the process (its protocol) in log lines."""
        return _logcontext.prefixOf(self.proc)


class _PTYMaster(StreamTransport):
    # The master side of a PTY child's terminal: what the child writes to
    # its terminal is read as its descriptor 1, and what we write it reads.
    #
    # Once the child's side is closed everywhere, reading fails with EIO.
    # The child is exiting then, and closing the master at once would hang
    # the terminal up under it: the kernel's SIGHUP can land while the child
    # is still in exit(), and its wait status then says it was killed by
    # SIGHUP (test_writeTypesIntoTheTerminal).  So after EIO we only stop
    # reading, and the master is closed once the child has been reaped
    # (PTYProcess._exited); if the child was reaped first, EIO ends it at once.

    __slots__ = ("proc", "otherSideClosed")

    def __init__(self, reactor: Any, proc: "PTYProcess", fileno: int) -> None:
        StreamTransport.__init__(self, fileno, _ChildPipe(proc, 1), reactor)
        self.proc = proc
        self.otherSideClosed = False
        self._startReading()

    def doRead(self) -> Any:
        why = StreamTransport.doRead(self)
        if why is not None and self.proc.pid is not None:
            if isinstance(why, OSError) and why.errno == errno.EIO:
                self.otherSideClosed = True
                self.reactor.removeReader(self)
                return None
        return why

    def logPrefix(self) -> str:
        return _logcontext.prefixOf(self.proc)


@implementer(IProcessTransport, IConsumer, IPushProducer)
class Process:
    """
    A child process and the pipes to it: the transport spawnProcess returns.

    Made by spawnProcess (the constructor starts the child).

    :ivar pid: the child's process id, or None once it has been reaped (or
        when it could not run its program).
    :ivar status: its wait status once reaped (None before, and when a
        waitpid not of Loom's reaped it).
    :ivar pipes: {child descriptor: ProcessReader or ProcessWriter} for the
        pipes still open.
    :ivar proto: the ProcessProtocol.
    :ivar lostProcess: True once the child has been reaped.
    """

    # The pipe that write, writeSequence and registerProducer feed: the
    # child's standard input here, the terminal for a PTYProcess.
    _inputFD = 0

    def __init__(
        self,
        reactor: Any,
        executable: PathArgument,
        args: Sequence[PathArgument],
        environment: Mapping[str | bytes, str | bytes] | None,
        path: PathArgument | None,
        proto: IProcessProtocol,
        uid: int | None = None,
        gid: int | None = None,
        childFDs: Mapping[int, int | str] | None = None,
    ) -> None:
        """Start the child; see spawnProcess for the arguments."""
        _checkArguments(executable, args)
        self._initState(reactor, proto)
        if childFDs is None:
            childFDs = _DEFAULT_CHILD_FDS
        fdmap, ours = self._makePipes(childFDs)
        try:
            failure = self._fork(executable, args, environment, path, uid, gid, fdmap)
        except BaseException:
            for fd in ours.values():
                os.close(fd)
            raise
        finally:
            for childFD, parentFD in fdmap.items():
                if childFD in ours:
                    os.close(parentFD)  # the child's end: the child has it now
        if failure is None:
            for childFD, fd in ours.items():
                kind = ProcessReader if childFDs[childFD] == "r" else ProcessWriter
                self.pipes[childFD] = kind(reactor, self, childFD, fd)
        else:
            for fd in ours.values():
                os.close(fd)
        self._connect(failure)

    def _initState(self, reactor: Any, proto: Any) -> None:
        self.reactor = reactor
        self.proto = proto
        self.pid: int | None = None
        self.status: int | None = None
        self.pipes: dict[int, Any] = {}
        self.lostProcess = False
        self._reason: BaseException | None = None
        self._ended = False

    @staticmethod
    def _makePipes(childFDs: Mapping[int, int | str]) -> tuple[dict[int, int], dict[int, int]]:
        # Return ({child descriptor: the descriptor the child gets},
        # {child descriptor: our end of its pipe}).
        fdmap: dict[int, int] = {}
        ours: dict[int, int] = {}
        try:
            for childFD, target in childFDs.items():
                if target == "r" or target == "w":
                    readFD, writeFD = os.pipe()
                    if target == "r":
                        fdmap[childFD], ours[childFD] = writeFD, readFD
                    else:
                        fdmap[childFD], ours[childFD] = readFD, writeFD
                    os.set_blocking(ours[childFD], False)
                elif isinstance(target, int) and not isinstance(target, bool):
                    fdmap[childFD] = target
                else:
                    raise ValueError(
                        "childFDs[%r] must be 'r', 'w' or a descriptor, not %r" % (childFD, target)
                    )
        except BaseException:
            for childFD, fd in ours.items():
                os.close(fd)
                os.close(fdmap[childFD])
            raise
        return fdmap, ours

    def _fork(
        self,
        executable: PathArgument,
        args: Sequence[PathArgument],
        environment: Mapping[str | bytes, str | bytes] | None,
        path: PathArgument | None,
        uid: int | None,
        gid: int | None,
        fdmap: Mapping[int, int],
        **options: bool,
    ) -> ProcessExecError | None:
        # Start the child and watch it; return None, or the ProcessExecError
        # saying why it could not run its program.
        bySignal = _reaper.prepare(self.reactor)
        try:
            self.pid = _spawn.forkExec(
                executable, args, environment, path, fdmap, uid=uid, gid=gid, **options
            )
        except BaseException as error:
            if bySignal:
                _reaper.unprepare(self.reactor)
            if isinstance(error, ProcessExecError):
                return error
            raise
        _reaper.watch(self, bySignal)
        return None

    def _connect(self, failure: ProcessExecError | None) -> None:
        # connectionMade, contained; then the end, if the program could not run.
        try:
            if self.proto is not None:
                self.proto.makeConnection(self)
        except Exception:
            log.err(None, "Unhandled error in %s.connectionMade" % (self.logPrefix(),))
            self.loseConnection()
        if failure is not None:
            self.reactor.callLater(0, self._couldNotRun, failure)

    def _couldNotRun(self, error: ProcessExecError) -> None:
        self.status = error.status
        self._exited(error)

    # -- reaping ---------------------------------------------------------------

    def reapProcess(self) -> None:
        """
        Reap the child if it has exited, without blocking, and tell the
        protocol (processExited, then processEnded if every pipe is closed).
        Called by the reactor when the child may have exited.
        """
        pid = self.pid
        if pid is None:
            return
        try:
            reaped, status = os.waitpid(pid, os.WNOHANG)
        except ChildProcessError:
            # A waitpid that is not Loom's took the status.
            reaped, status = pid, None
        if reaped:
            _reaper.forget(self)
            self.pid = None
            self.status = status
            self._exited(_reasonFor(status))

    def _exited(self, reason: BaseException) -> None:
        self.lostProcess = True
        self._reason = reason
        self._callProtocol("processExited", Failure(reason))
        self.maybeCallProcessEnded()

    def maybeCallProcessEnded(self) -> None:
        """Call processEnded once the child is reaped and every pipe closed."""
        if self.pipes or not self.lostProcess or self._ended:
            return
        self._ended = True
        reason = self._reason
        self._callProtocol("processEnded", Failure(reason))

    def _callProtocol(self, name: str, *args: Any) -> None:
        # The boundary of the callbacks not called from a descriptor's dispatch.
        if self.proto is None:
            return
        try:
            getattr(self.proto, name)(*args)
        except Exception:
            log.err(None, "Unhandled error in %s.%s" % (self.logPrefix(), name))

    # -- what the pipes tell -----------------------------------------------------

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        """A pipe read data from the child's childFD: pass it to the protocol."""
        self.proto.childDataReceived(childFD, data)

    def childConnectionLost(self, childFD: int, reason: Failure) -> None:
        """The pipe of the child's childFD closed: tell the protocol."""
        self.pipes.pop(childFD, None)
        self._callProtocol("childConnectionLost", childFD)
        self.maybeCallProcessEnded()

    # -- IProcessTransport --------------------------------------------------------

    def signalProcess(self, signalID: str | int) -> None:
        """
        Send the child a signal: a name without its SIG ('TERM', 'KILL',
        'INT', 'HUP', ...) or a number.

        :raises ProcessExitedAlready: once the child has been reaped.
        :raises ValueError: for an unknown signal name.
        """
        if isinstance(signalID, str):
            number = getattr(signal, "SIG" + signalID, None)
            if not isinstance(number, signal.Signals):
                raise ValueError("unknown signal %r" % (signalID,))
            signalID = number
        if self.pid is None:
            raise ProcessExitedAlready()
        try:
            _reaper.kill(self, signalID)
        except ProcessLookupError:
            raise ProcessExitedAlready() from None

    def write(self, data: bytes) -> None:
        """Write data to the child's standard input (dropped if it has none)."""
        stdin = self.pipes.get(self._inputFD)
        if stdin is not None:
            stdin.write(data)

    def writeSequence(self, seq: Iterable[bytes]) -> None:
        """Write each bytes object of seq to the child's standard input."""
        stdin = self.pipes.get(self._inputFD)
        if stdin is not None:
            stdin.writeSequence(seq)

    def writeToChild(self, childFD: int, data: bytes) -> None:
        """
        Write data to the child's descriptor childFD (a 'w' one of childFDs).

        :raises KeyError: if there is no pipe to write to for childFD.
        """
        pipe = self.pipes.get(childFD)
        if not isinstance(pipe, ProcessWriter):
            raise KeyError(childFD)
        pipe.write(data)

    def closeChildFD(self, childFD: int) -> None:
        """
        Close our end of the pipe of childFD: a writer once what is buffered
        is written; a reader on the reactor's next turn.  A no-op if it is
        closed already.
        """
        pipe = self.pipes.get(childFD)
        if pipe is not None:
            pipe.loseConnection()

    def closeStdin(self) -> None:
        """Close the child's standard input, once what is buffered is written."""
        self.closeChildFD(0)

    def closeStdout(self) -> None:
        """Stop reading the child's standard output and close our end."""
        self.closeChildFD(1)

    def closeStderr(self) -> None:
        """Stop reading the child's standard error and close our end."""
        self.closeChildFD(2)

    def loseConnection(self) -> None:
        """Close every pipe (standard input once drained); the child runs on."""
        self.closeStdin()
        self.closeStderr()
        self.closeStdout()
        for childFD in list(self.pipes):
            self.closeChildFD(childFD)

    def getHost(self) -> Any:
        """A process has no address (as in Twisted): NotImplementedError."""
        raise NotImplementedError("a process transport has no host address")

    def getPeer(self) -> Any:
        """A process has no address (as in Twisted): NotImplementedError."""
        raise NotImplementedError("a process transport has no peer address")

    def logPrefix(self) -> str:
        """Return the protocol's class name, for log lines."""
        return _logcontext.prefixOf(self.proto)

    # -- IConsumer (standard input) and IPushProducer (the child's output) --------

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """
        Feed the child's standard input from producer, with backpressure.
        Without a standard input, the producer is stopped at once.
        """
        stdin = self.pipes.get(self._inputFD)
        if stdin is None:
            producer.stopProducing()
        else:
            stdin.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        """Stop feeding the child's standard input from the producer."""
        stdin = self.pipes.get(self._inputFD)
        if stdin is not None:
            stdin.unregisterProducer()

    def pauseProducing(self) -> None:
        """Stop reading the child's output until resumeProducing."""
        for pipe in list(self.pipes.values()):
            if isinstance(pipe, ProcessReader):
                pipe.pauseProducing()

    def resumeProducing(self) -> None:
        """Read the child's output again."""
        for pipe in list(self.pipes.values()):
            if isinstance(pipe, ProcessReader):
                pipe.resumeProducing()

    def stopProducing(self) -> None:
        """Close every pipe: loseConnection."""
        self.loseConnection()

    def __repr__(self) -> str:
        return "<%s pid=%s status=%s>" % (type(self).__name__, self.pid, self.status)


class PTYProcess(Process):
    """
    A child whose standard input, output and error are a new
    pseudo-terminal, its controlling terminal.

    What it writes to the terminal arrives as ``childDataReceived(1, data)``
    (``outReceived``); ``write`` types into it.  There is one descriptor,
    so, as in Twisted, closeStdin, closeStdout and closeStderr do nothing
    (loseConnection closes the terminal), and closeChildFD and writeToChild
    raise NotImplementedError.  The pipes ending calls no
    childConnectionLost (Twisted calls none either).
    """

    _inputFD = 1  # the terminal's master side: write types into it

    def __init__(
        self,
        reactor: Any,
        executable: PathArgument,
        args: Sequence[PathArgument],
        environment: Mapping[str | bytes, str | bytes] | None,
        path: PathArgument | None,
        proto: IProcessProtocol,
        uid: int | None = None,
        gid: int | None = None,
        usePTY: bool | tuple[int, int, str] = True,
    ) -> None:
        """Start the child; see spawnProcess for the arguments."""
        _checkArguments(executable, args)
        self._initState(reactor, proto)
        given = isinstance(usePTY, (tuple, list))
        if isinstance(usePTY, (tuple, list)):
            master, slave = usePTY[0], usePTY[1]
        else:
            master, slave = os.openpty()
        try:
            failure = self._fork(
                executable,
                args,
                environment,
                path,
                uid,
                gid,
                {0: slave, 1: slave, 2: slave},
                newSession=True,
                controllingTerminal=True,
            )
        except BaseException:
            if not given:  # A terminal we were given stays its owner's.
                os.close(master)
                os.close(slave)
            raise
        os.close(slave)  # the child's end: the child has it now (as in Twisted)
        if failure is None:
            os.set_blocking(master, False)
            self.pipes[1] = _PTYMaster(reactor, self, master)
        else:
            os.close(master)
        self._connect(failure)

    def _exited(self, reason: BaseException) -> None:
        Process._exited(self, reason)
        master = self.pipes.get(1)
        if master is not None and master.otherSideClosed:
            master.loseConnection()

    def childConnectionLost(self, childFD: int, reason: Failure) -> None:
        """The terminal closed: no protocol call (as in Twisted); maybe the end."""
        self.pipes.pop(childFD, None)
        self.maybeCallProcessEnded()

    def writeToChild(self, childFD: int, data: bytes) -> None:
        """Not for a PTY child: NotImplementedError (use write)."""
        raise NotImplementedError("a PTY child has one descriptor: use write()")

    def closeChildFD(self, childFD: int) -> None:
        """Not for a PTY child: NotImplementedError (use loseConnection)."""
        raise NotImplementedError("a PTY child has one descriptor: use loseConnection()")

    def closeStdin(self) -> None:
        """Nothing: the terminal is one descriptor (loseConnection closes it)."""

    def closeStdout(self) -> None:
        """Nothing: the terminal is one descriptor (loseConnection closes it)."""

    def closeStderr(self) -> None:
        """Nothing: the terminal is one descriptor (loseConnection closes it)."""

    def loseConnection(self) -> None:
        """Close the terminal once what is buffered is written; the child gets SIGHUP."""
        master = self.pipes.get(1)
        if master is not None:
            master.loseConnection()

    def pauseProducing(self) -> None:
        """Stop reading the terminal until resumeProducing."""
        master = self.pipes.get(1)
        if master is not None:
            master.pauseProducing()

    def resumeProducing(self) -> None:
        """Read the terminal again."""
        master = self.pipes.get(1)
        if master is not None:
            master.resumeProducing()
