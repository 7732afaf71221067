"""
StandardIO: a protocol over this process's standard input and output, for
command-line tools and for programs run by another (a process monitor, a
parent that spawned us).

The two descriptors are driven as a child's pipes are (reactor.process): a
ProcessReader reads standard input 64 KiB at a time and a ProcessWriter
writes standard output with the stream write path (at once while nothing
waits, then buffered, producers, backpressure).  They report to the
StandardIO as a child's pipes report to its Process
(``childDataReceived``, ``childConnectionLost``), and it to its protocol as
a connection: ``dataReceived``, then ``connectionLost`` once both
descriptors are closed.  A half-closeable protocol (IHalfCloseableProtocol)
hears ``readConnectionLost`` at the end of standard input, or
``writeConnectionLost`` when standard output closes first, and the end of
the other side is ``connectionLost`` (as for a TCP connection); any other
protocol ends at the end of standard input, once what it wrote has gone out
(Twisted's drops what is still buffered then).

Standard input and output are this process's, and outlive the protocol;
three things follow.

- The transports work on duplicates of the two descriptors, made
  non-blocking (O_NONBLOCK is a flag of the open file, shared with the
  original and with whoever else holds it: the shell, for a terminal).
  When one side ends, its file's flag is put back as it was (unless the
  other side still uses the same open file: then when that one ends), and
  so it is at interpreter exit for a StandardIO still open; a shell never
  gets its terminal back non-blocking (test_terminalFlagsAreRestored).
- A side that ends releases its file at once, so that the process at the
  other end of a pipe sees its end of file (or EPIPE), but its descriptor
  number (0 or 1) is not left free: /dev/null takes its place, so that a
  file opened later cannot become "standard output" by accident, and a
  stray ``print`` goes nowhere instead of failing.
- A descriptor the reactor cannot watch (a regular file, /dev/null: epoll
  refuses them) is always ready: it is read (or written) once per turn of
  the loop, through _AlwaysReady, instead of being watched.  So ``prog <
  file``, ``prog > file`` and a daemon's /dev/null work on every reactor.
"""

import atexit
import errno
import fcntl
import os
import select
import stat
import weakref
from typing import Any

from zope.interface import implementer

from reactor import _logcontext, getReactor, log
from reactor.error import CONNECTION_DONE, ConnectionDone
from reactor.failure import Failure
from reactor.interfaces import (
    IAddress,
    IConsumer,
    IHalfCloseableProtocol,
    IPushProducer,
    ITransport,
)
from reactor.process import ProcessReader, ProcessWriter

__all__ = ["PipeAddress", "StandardIO"]

# The names the two sides report under (childDataReceived, childConnectionLost).
_READ = 0
_WRITE = 1

# The StandardIOs still open, whose files' flags interpreter exit puts back.
_open: "weakref.WeakSet[StandardIO]" = weakref.WeakSet()


@implementer(IAddress)
class PipeAddress:
    """The address of either end of a StandardIO: there is nothing to say."""

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PipeAddress)

    def __hash__(self) -> int:
        return hash(PipeAddress)

    def __repr__(self) -> str:
        return "PipeAddress()"


def _identity(fd: int) -> tuple[int, int, int] | None:
    # What file fd names (None if it names none), to tell later whether it
    # still names the one we took.
    try:
        info = os.fstat(fd)
    except OSError:
        return None
    return (info.st_dev, info.st_ino, info.st_rdev)


def _pollable(fd: int) -> bool:
    # Whether the reactor can watch fd.  epoll refuses regular files and
    # devices without poll support (/dev/null) with EPERM; without epoll,
    # regular files and directories are the ones never worth watching.
    if not hasattr(select, "epoll"):
        return not stat.S_ISREG(os.fstat(fd).st_mode)
    probe = select.epoll()
    try:
        probe.register(fd, 0)
    except PermissionError:
        return False
    finally:
        probe.close()
    return True


class _Side:
    """
    One of the two descriptors: the number given (0 or 1, usually), the
    duplicate the transport owns, and what is needed to give the file back.
    """

    __slots__ = ("number", "fd", "identity", "wasBlocking", "pollable", "isPipe")

    def __init__(self, number: int) -> None:
        self.number = number
        self.identity = _identity(number)
        self.wasBlocking = os.get_blocking(number)
        self.fd = fcntl.fcntl(number, fcntl.F_DUPFD_CLOEXEC, 3)
        mode = os.fstat(self.fd).st_mode
        self.isPipe = stat.S_ISFIFO(mode)
        self.pollable = _pollable(self.fd)

    def restoreBlocking(self) -> None:
        """Put the file's blocking mode back, if the number still names it."""
        if self.wasBlocking and _identity(self.number) == self.identity:
            try:
                os.set_blocking(self.number, True)
            except OSError:
                pass

    def release(self) -> None:
        """
        Let go of the file: 0, 1 and 2 are pointed at /dev/null, any other
        number is closed; nothing is done if the number names another file.
        """
        if self.identity is None or _identity(self.number) != self.identity:
            return
        if self.number > 2:
            os.close(self.number)
            return
        null = os.open(os.devnull, os.O_RDWR)
        try:
            os.dup2(null, self.number, inheritable=True)
        finally:
            os.close(null)


@implementer(ITransport, IConsumer, IPushProducer)
class StandardIO:
    """
    A transport over this process's standard input and output, connected to
    protocol at once (``makeConnection``).

    :ivar protocol: the protocol (None once the connection is lost).
    :ivar disconnecting: True once loseConnection() was called, or the end
        of standard input ended a protocol that is not half-closeable.
    :ivar disconnected: True once both sides are closed.
    """

    disconnecting = False
    disconnected = False

    def __init__(self, protocol: Any, stdin: int = 0, stdout: int = 1, reactor: Any = None) -> None:
        """
        :param protocol: an IProtocol provider.
        :param stdin: the descriptor to read (0).
        :param stdout: the descriptor to write (1).
        :param reactor: the reactor (default: the global one).
        :raises OSError: if stdin or stdout is not open.
        """
        self.reactor = reactor = getReactor(reactor)
        self.protocol = protocol
        self._reason: Failure | None = None
        self._writeShut = False
        self._in = _Side(stdin)
        try:
            self._out = _Side(stdout)
        except BaseException:
            os.close(self._in.fd)
            raise
        # One open file behind both (a terminal, a socket): making one
        # duplicate non-blocking made the other non-blocking too.  Its mode
        # is then given back once, when the second side ends.
        os.set_blocking(self._in.fd, False)
        self._shared = (
            self._in.wasBlocking and self._out.wasBlocking and not os.get_blocking(stdout)
        )
        os.set_blocking(self._out.fd, False)
        self._writer: ProcessWriter | None = ProcessWriter(
            reactor if self._out.pollable else _AlwaysReady(reactor),
            self,
            _WRITE,
            self._out.fd,
            watchClose=self._out.isPipe and self._out.pollable,
        )
        self._reader: ProcessReader | None = ProcessReader(
            reactor if self._in.pollable else _AlwaysReady(reactor), self, _READ, self._in.fd
        )
        _open.add(self)
        try:
            protocol.makeConnection(self)
        except Exception:
            log.err(None, "Unhandled error in %s.connectionMade" % (self.logPrefix(),))
            self.loseConnection()

    # -- what the two sides tell -----------------------------------------------

    def childDataReceived(self, name: int, data: bytes) -> None:
        """Standard input had data: pass it to the protocol."""
        self.protocol.dataReceived(data)

    def childConnectionLost(self, name: int, reason: Failure) -> None:
        """One side closed: give its file back, then tell the protocol what it means."""
        if name == _READ:
            self._reader = None
            side, otherSide, otherOpen = self._in, self._out, self._writer is not None
        else:
            self._writer = None
            side, otherSide, otherOpen = self._out, self._in, self._reader is not None
        # One open file (or one number) for both sides: the other side's
        # end gives it back (test_oneFileForBothSidesStaysNonBlocking).
        if not (self._shared and otherOpen):
            side.restoreBlocking()
        if not (side.number == otherSide.number and otherOpen):
            side.release()
        if not reason.check(ConnectionDone) and self._reason is None:
            self._reason = reason
        if self._reader is None and self._writer is None:
            self._lost()
        elif name == _READ:
            self._readLost(reason)
        else:
            self._writeLost()

    def _readLost(self, reason: Failure) -> None:
        # The end of standard input (or a failure to read it).
        if self.disconnecting:
            return  # the writer is draining; the end follows it
        if reason.check(ConnectionDone) and IHalfCloseableProtocol.providedBy(self.protocol):
            self._callHalfClose("readConnectionLost")
        else:
            self.loseConnection()

    def _writeLost(self) -> None:
        # Standard output closed: asked for (loseWriteConnection), or its
        # reader went away.
        if self.disconnecting:
            self._closeReader()
        elif IHalfCloseableProtocol.providedBy(self.protocol):
            self._callHalfClose("writeConnectionLost")
        elif not self._writeShut:
            self.loseConnection()

    def _callHalfClose(self, name: str) -> None:
        try:
            getattr(self.protocol, name)()
        except Exception:
            failure = Failure()
            log.err(failure, "Unhandled error in %s.%s" % (self.logPrefix(), name))
            if self._reason is None:
                self._reason = failure
            self.loseConnection()

    def _closeReader(self) -> None:
        if self._reader is not None:
            self._reader.loseConnection()

    def _lost(self) -> None:
        # Both sides are closed: the connection is over.
        self.disconnecting = self.disconnected = True
        _open.discard(self)
        protocol, self.protocol = self.protocol, None
        reason = self._reason if self._reason is not None else Failure(CONNECTION_DONE)
        try:
            protocol.connectionLost(reason)
        except Exception:
            prefix = _logcontext.prefixOf(protocol)
            log.err(None, "Unhandled error in %s.connectionLost" % (prefix,))

    # -- ITransport ---------------------------------------------------------------

    def write(self, data: bytes) -> None:
        """Write data to standard output (dropped once it is closed)."""
        if self._writer is not None:
            self._writer.write(data)

    def writeSequence(self, seq: Any) -> None:
        """Write each bytes object of seq to standard output."""
        if self._writer is not None:
            self._writer.writeSequence(seq)

    def loseConnection(self) -> None:
        """
        Close standard output once what is buffered has been written, then
        standard input (it is not read meanwhile); connectionLost follows.
        """
        if self.disconnecting:
            return
        self.disconnecting = True
        if self._writer is not None:
            self._writer.loseConnection()
            if self._reader is not None:
                self._reader.pauseProducing()
        else:
            self._closeReader()

    def loseWriteConnection(self) -> None:
        """
        Close standard output once what is buffered has been written, and
        keep reading standard input: the half-close a parent reading our
        output to its end waits for.
        """
        self._writeShut = True
        if self._writer is not None:
            self._writer.loseConnection()

    def getPeer(self) -> PipeAddress:
        """A PipeAddress (as in Twisted)."""
        return PipeAddress()

    def getHost(self) -> PipeAddress:
        """A PipeAddress (as in Twisted)."""
        return PipeAddress()

    def logPrefix(self) -> str:
        """The protocol's log prefix (its class name), for log lines."""
        return _logcontext.prefixOf(self.protocol) if self.protocol is not None else "StandardIO"

    # -- IConsumer (standard output) and IPushProducer (standard input) -----------

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        """Feed standard output from producer; stopped at once if it is closed."""
        if self._writer is None:
            producer.stopProducing()
        else:
            self._writer.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        """Stop feeding standard output from the producer."""
        if self._writer is not None:
            self._writer.unregisterProducer()

    def pauseProducing(self) -> None:
        """Stop reading standard input until resumeProducing."""
        if self._reader is not None:
            self._reader.pauseProducing()

    def resumeProducing(self) -> None:
        """Read standard input again."""
        if self._reader is not None and not self.disconnecting:
            self._reader.resumeProducing()

    def stopProducing(self) -> None:
        """Close: loseConnection."""
        self.loseConnection()

    def _restoreAtExit(self) -> None:
        for side, transport in ((self._in, self._reader), (self._out, self._writer)):
            if transport is not None:
                side.restoreBlocking()


def _restoreAllAtExit() -> None:
    # Interpreter exit with a StandardIO still open (sys.exit from a
    # callback, the reactor never stopped): the terminal goes back blocking.
    for standardIO in list(_open):
        standardIO._restoreAtExit()


atexit.register(_restoreAllAtExit)


class _AlwaysReady:
    """
    Stands in for the reactor for the transport of a descriptor the poller
    cannot watch (a regular file, /dev/null).  Such a file is always ready,
    so what asks to read or write is called on every turn of the loop (a
    ``callLater(0)``), for as long as it asks; everything else is the
    reactor's.  Its own errors and ends are handled as the reactor's
    dispatch handles them: logged, and the descriptor dropped.
    """

    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor
        self._readers: list[Any] = []
        self._writers: list[Any] = []
        self._call: Any = None

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reactor, name)

    def addReader(self, reader: Any) -> None:
        """Read from reader on every turn until removeReader."""
        if reader not in self._readers:
            self._readers.append(reader)
            self._schedule()

    def addWriter(self, writer: Any) -> None:
        """Write to writer on every turn until removeWriter."""
        if writer not in self._writers:
            self._writers.append(writer)
            self._schedule()

    def removeReader(self, reader: Any) -> None:
        """Stop reading from reader; a no-op if it was not added."""
        if reader in self._readers:
            self._readers.remove(reader)

    def removeWriter(self, writer: Any) -> None:
        """Stop writing to writer; a no-op if it was not added."""
        if writer in self._writers:
            self._writers.remove(writer)

    def _schedule(self) -> None:
        if self._call is None:
            self._call = self._reactor.callLater(0, self._turn)

    def _turn(self) -> None:
        self._call = None
        for table, method in ((self._readers, "doRead"), (self._writers, "doWrite")):
            for descriptor in list(table):
                if descriptor not in table:
                    continue  # dropped by an earlier one this turn
                if descriptor.fileno() == -1:
                    self._forget(descriptor)  # closed already (the reactor's shutdown)
                    continue
                try:
                    why = getattr(descriptor, method)()
                except Exception:
                    why = Failure()
                    log.err(why, "Unhandled error in %s" % (descriptor.logPrefix(),))
                if why:
                    self._drop(descriptor, why)
        if self._readers or self._writers:
            self._schedule()

    def _forget(self, descriptor: Any) -> None:
        self.removeReader(descriptor)
        self.removeWriter(descriptor)

    def _drop(self, descriptor: Any, why: Any) -> None:
        self._forget(descriptor)
        if not isinstance(why, Failure):
            why = Failure(why if isinstance(why, BaseException) else OSError(errno.EIO, str(why)))
        try:
            descriptor.connectionLost(why)
        except Exception:
            log.err(None, "Error in connectionLost of %s" % (descriptor.logPrefix(),))
