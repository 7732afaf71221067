"""
One worker of ``loomd --workers``: the forked child that serves.

    forget the master's descriptors -> make the reactor its own (afterFork)
    -> watch its generation's ports -> set aside the once-per-machine
    services (unless told to run them) -> the per-worker hooks
    -> start the service tree, report ready -> serve -> stop on SIGTERM

The worker is a Daemon (services.loomd.lifecycle) whose process the master
has already prepared (run directory, umask, log, pidfile, ports, privileges):
its signals, start-up, graceful shutdown and --shutdown-timeout are the
single-process daemon's.  Two pipes tie it to the master.  Up, the report:
``ready``, or ``error <text>`` when start-up fails (the text the launcher
prints).  Down, the master's line: ``singletons`` starts the services
marked ``perWorker = False`` here (see ``runsOncePerMachine``); end of file
means the master is gone, and the worker shuts down rather than serve on
unsupervised.
"""

import functools
import logging as stdlib_logging
import os
import signal
import sys
from collections.abc import Callable
from typing import Any

from reactor import log, tcp, unix
from reactor.error import CONNECTION_DONE
from reactor.task import LoopingCall
from services.loomd.lifecycle import Daemon, walkServices

__all__ = [
    "WorkerInfo",
    "WorkerReport",
    "runWorker",
    "runsOncePerMachine",
    "encodeReport",
    "decodeReport",
]


class WorkerInfo:
    """
    What a per-worker hook is given, in the worker, after the fork and
    before the services start.

    :ivar index: the worker's number, 0 to N-1 (a replacement keeps it).
    :ivar generation: 1 for the first load of the application, +1 per reload.
    :ivar reactor: the worker's reactor, not yet running.
    :ivar application: the service tree this worker runs.
    """

    def __init__(self, index: int, generation: int, reactor: Any, application: Any) -> None:
        self.index = index
        self.generation = generation
        self.reactor = reactor
        self.application = application


def runsOncePerMachine(service: Any) -> bool:
    """True if service is marked ``perWorker = False``: one worker runs it, not every one."""
    return getattr(service, "perWorker", True) is False


def encodeReport(kind: str, text: str = "") -> bytes:
    """A line of the worker's report: ``ready``, or ``error`` and its text on one line."""
    escaped = text.replace("\\", "\\\\").replace("\n", "\\n")
    return ("%s %s\n" % (kind, escaped) if text else "%s\n" % (kind,)).encode("utf-8", "replace")


def decodeReport(line: bytes) -> tuple[str, str]:
    """(kind, text) of a report line made by encodeReport (without its newline)."""
    kind, _, escaped = line.decode("utf-8", "replace").partition(" ")
    text, chars = [], iter(escaped)
    for char in chars:
        if char == "\\":
            following = next(chars, "")
            text.append("\n" if following == "n" else following)
        else:
            text.append(char)
    return kind, "".join(text)


def runWorker(
    options: Any,
    reactor: Any,
    generation: Any,
    *,
    index: int,
    generations: list[Any],
    logging: Any,
    report: "WorkerReport",
    masterFd: int,
    hooks: list[Callable[[WorkerInfo], Any]],
) -> int:
    """
    Serve as worker index of generation; return the exit status.  Called
    in the child right after the fork, signals blocked, with every
    descriptor of the master's own already closed.

    :param generation: the services.loomd.listeners.Generation to serve.
    :param generations: every generation the master holds (their sockets
        are closed here, but for this one's).
    :param logging: the master's DaemonLogging (the log, inherited).
    :param report: the WorkerReport up to the master.
    :param masterFd: the read end of the master's line to this worker.
    :param hooks: called with a WorkerInfo before the services start; one
        that raises fails this worker's start-up.
    """
    for name in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID"):
        os.environ.pop(name, None)  # systemd hears the master only
    _nameProcess(b"loomd w%d g%d" % (index, generation.number))
    if logging is not None:
        logging.handler.addFilter(_WorkerSystem("worker %d" % (index,)))
    reactor.afterFork()
    generation.activate(reactor, generations)
    application = generation.application
    singletons = _setAsideSingletons(application)
    daemon = WorkerDaemon(options, reactor, application, logging=logging)
    daemon.index, daemon.singletons = index, singletons
    if generation.acceptTable is not None:
        daemon.balancer = generation.acceptTable.join(
            reactor, index, list(generation.ports.values())
        )
    info = WorkerInfo(index, generation.number, reactor, application)
    daemon.hooks = [functools.partial(hook, info) for hook in hooks]
    reactor.addReader(_MasterLine(masterFd, daemon))
    return daemon.serve(report)


def _setAsideSingletons(application: Any) -> list[tuple[Any, Any]]:
    # (service, parent) of each once-per-machine service, taken out of the
    # tree before it starts; the master's word puts them back (started).
    found = [
        (service, service.parent)
        for service in walkServices(application)
        if service is not application and runsOncePerMachine(service)
    ]
    for service, _ in found:
        service.disownServiceParent()
    return found


class WorkerDaemon(Daemon):
    """
    A Daemon whose process the master prepared: it starts the services,
    serves, and stops gracefully; pidfile, ports and privileges are the
    master's.

    :ivar index: the worker's number.
    :ivar singletons: (service, parent) of the once-per-machine services,
        set aside until the master says ``singletons``.
    :ivar hooks: callables run before the services start.
    :ivar balancer: its side of the generation's services.loomd.balance table.
    """

    def __init__(self, options: Any, reactor: Any, application: Any, *, logging: Any) -> None:
        Daemon.__init__(self, options, reactor, application)
        self._inheritedLog = logging
        self.index = 0
        self.singletons: list[tuple[Any, Any]] = []
        self.hooks: list[Callable[[], Any]] = []
        self._drainCheck: Any = None
        self._shellTries = 0
        self.balancer: Any = None

    def _prepareProcess(self):
        # The master did it all before the fork; the hooks run now.
        self.logging = self._inheritedLog
        from services.loomd.startup import StartupError, describe

        for hook in self.hooks:
            try:
                hook()
            except Exception as error:
                log.err(None, "a per-worker hook failed in worker %d" % (self.index,))
                raise StartupError("worker %d: %s" % (self.index, describe(error))) from None
        if self.options["shell"]:
            self._openShell()

    def _openShell(self) -> None:
        # --shell unix:PATH: this worker's console on PATH.N, opened as the
        # daemon's user (privileges are already shed).  During a reload the
        # worker of the same index in the old generation still holds the
        # path until it has stopped, so a path in use is tried again every
        # half second, for as long as a stop may take
        # (test_eachWorkerHasItsShellAcrossAReload).
        from reactor.error import CannotListenError
        from services.loomd import shell

        path = "%s.%d" % (self.options["shell"].partition(":")[2], self.index)
        try:
            self.shell = shell.openShell(
                path,
                shell.shellNamespace(self.application, self.reactor),
                self.reactor,
                blockingLimit=self.options["shell_blocking_limit"] or None,
            )
        except CannotListenError as error:
            self._shellTries += 1
            limit = 2 * (self.options["shutdown_timeout"] + 5)
            if self._shellTries == 1 or self._shellTries >= limit:
                log.msg(
                    "worker %d: cannot open the shell yet: %s%s"
                    % (self.index, error, "; giving up" if self._shellTries >= limit else "")
                )
            if self._shellTries < limit:
                self.reactor.callLater(0.5, self._openShell)
            return
        if self._shellTries:
            log.msg("worker %d: shell open on %s" % (self.index, path))

    def _closeListeningPorts(self):
        # The others must not leave connections to a worker that stopped
        # accepting (services.loomd.balance).
        if self.balancer is not None:
            self.balancer.leave()
        super()._closeListeningPorts()

    def _onStopSignal(self, signum, frame):
        # SIGINT is the master's: a terminal's ^C reaches the whole process
        # group, and the master stops every worker with SIGTERM, which a
        # worker already stopping would take as a second signal and exit
        # without draining (test_controlCInTheForegroundStopsEveryWorkerOnce).
        if signum == signal.SIGINT:
            return
        super()._onStopSignal(signum, frame)

    def _stopped(self, result):
        # The services have stopped and the ports are closed: the worker
        # drains, the connections it accepted finish (each its reply),
        # before the reactor stops and closes what is left.  The shutdown
        # deadline bounds the wait (test_sigtermUnderLoadLosesNoAcceptedConnectionsReply).
        if self.reactor.running and _accepted(self.reactor):
            log.msg(
                "worker %d: waiting for %d connection(s) to finish"
                % (self.index, len(_accepted(self.reactor)))
            )
            self._drainCheck = LoopingCall(self._checkDrained, result)
            self._drainCheck.clock = self.reactor
            self._drainCheck.start(0.02, now=False)
            return result
        return super()._stopped(result)

    def _checkDrained(self, result):
        if not _accepted(self.reactor):
            self._drainCheck.stop()
            super()._stopped(result)

    def startSingletons(self) -> None:
        """Start the once-per-machine services here (the master chose this worker)."""
        singletons, self.singletons = self.singletons, []
        if singletons:
            log.msg(
                "worker %d runs the once-per-machine services: %s"
                % (self.index, ", ".join(_label(service) for service, _ in singletons))
            )
        for service, parent in singletons:
            try:
                service.setServiceParent(parent)
            except Exception:
                log.err(None, "starting %s failed" % (_label(service),))

    def masterGone(self) -> None:
        """The master's line closed: it died; stop rather than serve unsupervised."""
        if not self.shuttingDown:
            log.msg("worker %d: the master is gone; shutting down" % (self.index,), isError=True)
            self.reactor.callLater(0, self._shutdown, "The master exited.")


def _accepted(reactor: Any) -> list[Any]:
    # The connections this worker accepted and has not closed; an attached
    # shell console is not one to wait for.  Without --shell the console's
    # module was never imported, and it is not imported here: after -u the
    # interpreter's own modules may be out of the user's reach, and the
    # import failed every stop of a worker, which then waited out
    # --shutdown-timeout (test_lowUdpPortIsKeptAcrossAReloadAfterThePrivilegeDrop).
    manhole = sys.modules.get("protocols.manhole")
    console = manhole.Manhole if manhole is not None else ()
    return [
        d
        for d in reactor.openDescriptors
        if isinstance(d, (tcp.Server, unix.Server)) and not isinstance(d.protocol, console)
    ]


def _label(service: Any) -> str:
    return service.name if service.name is not None else type(service).__name__


class WorkerReport:
    """The worker's reporter: one line up the pipe to the master, once."""

    def __init__(self, fd: int) -> None:
        """:param fd: the write end of the report pipe (closed once reported)."""
        self.fd: int | None = fd

    def _send(self, line: bytes) -> None:
        if self.fd is None:
            return
        try:
            os.write(self.fd, line)
        except OSError:
            pass  # the master is gone: the master line's end says so too
        os.close(self.fd)
        self.fd = None

    def ready(self) -> None:
        """Report that every service has started."""
        self._send(encodeReport("ready"))

    def error(self, message: str) -> None:
        """Report that start-up failed, and why; a no-op once a report was sent."""
        self._send(encodeReport("error", message))


class _MasterLine:
    # The read end of the master's line to this worker, in the reactor.
    def __init__(self, fd: int, daemon: WorkerDaemon) -> None:
        self.fd = fd
        self.daemon = daemon
        self.pending = b""

    def fileno(self) -> int:
        return self.fd

    def logPrefix(self) -> str:
        return "master"

    def doRead(self) -> Any:
        try:
            chunk = os.read(self.fd, 4096)
        except BlockingIOError:
            return None
        if not chunk:
            return CONNECTION_DONE
        self.pending += chunk
        while b"\n" in self.pending:
            line, self.pending = self.pending.split(b"\n", 1)
            if line == b"singletons":
                self.daemon.startSingletons()
        return None

    def connectionLost(self, reason: Any) -> None:
        if self.fd != -1:
            os.close(self.fd)
            self.fd = -1
        self.daemon.masterGone()


class _WorkerSystem(stdlib_logging.Filter):
    # Each line a worker logs names it: "[worker 1]", "[worker 1 HTTPChannel,3]".
    def __init__(self, label: str) -> None:
        stdlib_logging.Filter.__init__(self)
        self.label = label

    def filter(self, record: stdlib_logging.LogRecord) -> bool:
        event = getattr(record, "loomEvent", None)
        if event is not None and not getattr(record, "loomWorker", False):
            record.loomWorker = True
            system = event.get("system", "-")
            event["system"] = self.label if system == "-" else "%s %s" % (self.label, system)
        return True


def _nameProcess(name: bytes) -> None:
    # /proc/PID/comm (what ps and top show): "loomd w1 g2", worker 1 of
    # generation 2.  PR_SET_NAME (15); at most 15 bytes are kept.
    try:
        import ctypes

        ctypes.CDLL(None).prctl(15, ctypes.c_char_p(name[:15]), 0, 0, 0)
    except (OSError, AttributeError):
        pass
