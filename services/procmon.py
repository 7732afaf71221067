"""
ProcessMonitor: a service that keeps child processes running (Twisted's
twisted.runner.procmon).

Each monitored program has a name, its argv and how to run it (user, group,
environment, directory).  While the service runs, each is started with
``reactor.spawnProcess``; one that exits is started again, after a delay
that doubles with each exit coming sooner than ``threshold`` seconds after
its start, from ``minRestartDelay`` up to ``maxRestartDelay``; a run that
lasted ``threshold`` seconds resets it, and the restart after it is at once.
So a program that crashes as it starts is tried again 1, 2, 4, 8 ... seconds
later (test_crashingChildBacksOffOnTheClock), and one that ran for a day and
crashed is back at once.  Stopping one sends SIGTERM, then SIGKILL after
``killTime`` seconds if it is still there.

Each line a child writes to its standard output or error is logged through
reactor.log with the child's name as the event's ``system`` (``[web] GET /
200``) and the fields ``child`` and ``stream``; a line longer than
MAX_LINE_LENGTH is logged in pieces.

Beyond Twisted's:

- ``stopService`` returns a Deferred that fires once every child has exited
  (SIGTERM, then SIGKILL after ``killTime``); under loomd, which calls
  ``setStopDeadline`` first, SIGKILL comes early enough that the children
  are gone within the daemon's --shutdown-timeout.
- ``stopProcess`` stops a program until ``startProcess``; Twisted's
  restarts it (the monitor sees it exit, and starts it again).  To stop and
  start it again, at once: ``restartProcess`` (``restartAll`` for all).
- A child is restarted when it exits, not when the last holder of its
  output pipes closes them (a grandchild it left behind keeps them open:
  Twisted's then never restarts it).
- ``status()`` and ``logStatus()`` (loomd calls it on SIGUSR2) tell each
  program's state, pid, uptime and restart count.
- ``env=None`` passes the monitor's own environment on; the default, as in
  Twisted, is an empty one.
"""

from __future__ import annotations

import types
from collections.abc import Mapping, Sequence
from typing import Any, NamedTuple

from protocols.protocol import ProcessProtocol
from reactor import getReactor, log
from reactor.defer import Deferred, gatherResults, succeed
from reactor.error import ProcessDone, ProcessExitedAlready, ProcessTerminated
from reactor.failure import Failure
from services.service import Service

__all__ = [
    "KILL_MARGIN",
    "MAX_LINE_LENGTH",
    "PIPE_GRACE",
    "SYSTEM",
    "ProcessMonitor",
    "ProcessStatus",
]

MAX_LINE_LENGTH = 16384
"""Bytes of a child's line logged at most as one line; a longer one is cut in pieces."""

KILL_MARGIN = 1.0
"""Seconds before a stop deadline (setStopDeadline) that SIGKILL goes, at the latest."""

PIPE_GRACE = 1.0
"""
Seconds a stopped child's output pipes may stay open after it exited (held
by a process it left behind) before they are closed and its stop is over.
"""

SYSTEM = "procmon"
"""The ``system`` of the monitor's own log lines (a child's lines carry its name)."""

_EMPTY: Mapping[str, str] = types.MappingProxyType({})

# The states of a monitored program, as status() reports them.
RUNNING = "running"
STOPPING = "stopping"  # sent SIGTERM, waiting for it to exit
WAITING = "waiting"  # exited; to be started again after its delay
STOPPED = "stopped"


class ProcessStatus(NamedTuple):
    """
    One program as status() sees it.

    :ivar state: 'running', 'stopping' (SIGTERM sent), 'waiting' (to be
        restarted after its delay) or 'stopped'.
    :ivar pid: the child's pid while it runs, else None.
    :ivar uptime: seconds since it was started (None unless it runs).
    :ivar restarts: how many times it was started again after an exit.
    :ivar nextStart: seconds until it is started again (None unless waiting).
    """

    name: str
    state: str
    pid: int | None
    uptime: float | None
    restarts: int
    nextStart: float | None


class _Program:
    """A monitored program: how to run it, and where its child is at."""

    def __init__(
        self,
        name: str,
        args: Sequence[str],
        uid: int | None,
        gid: int | None,
        env: Mapping[str, str] | None,
        cwd: str | None,
    ) -> None:
        self.name, self.args = name, list(args)
        self.uid, self.gid, self.env, self.cwd = uid, gid, env, cwd
        self.protocol: _ChildProtocol | None = None
        self.transport: Any = None
        self.startedAt = 0.0
        self.delay = 0.0
        self.restarts = 0
        self.restartCall: Any = None
        self.killCall: Any = None
        # The protocols of its children whose pipes are not all closed yet:
        # the one running, and any that exited with their output pipes
        # still open (a process they left behind holds them).
        self.unended: list[_ChildProtocol] = []
        # Whether it is to run while the service does (stopProcess: no).
        self.wanted = True
        # SIGTERM was sent to the child that runs.
        self.stopping = False
        # Started again at once when it exits (restartProcess, or
        # startProcess while it was being stopped).
        self.restartAsked = False

    def cancelRestart(self) -> None:
        if self.restartCall is not None:
            if self.restartCall.active():
                self.restartCall.cancel()
            self.restartCall = None


class _ChildProtocol(ProcessProtocol):
    """One child's protocol: its output logged line by line, its exit told to the monitor."""

    def __init__(self, monitor: ProcessMonitor, program: _Program) -> None:
        self.monitor = monitor
        self.program = program
        self.partial = {1: b"", 2: b""}
        # Fired once the child has exited and its pipes are closed.
        self.waiters: list[Deferred[None]] = []
        self.graceCall: Any = None
        self.exited = False

    def childDataReceived(self, childFD: int, data: bytes) -> None:
        """Log every whole line; keep the unfinished one."""
        if childFD not in self.partial:
            return
        lines = (self.partial[childFD] + data).split(b"\n")
        rest = lines.pop()
        while len(rest) > MAX_LINE_LENGTH:
            lines.append(rest[:MAX_LINE_LENGTH])
            rest = rest[MAX_LINE_LENGTH:]
        self.partial[childFD] = rest
        for line in lines:
            self._log(childFD, line)

    def _log(self, childFD: int, line: bytes) -> None:
        for start in range(0, max(len(line), 1), MAX_LINE_LENGTH):
            piece = line[start : start + MAX_LINE_LENGTH].rstrip(b"\r")
            log.msg(
                piece.decode("utf-8", "backslashreplace"),
                system=self.program.name,
                child=self.program.name,
                stream="stdout" if childFD == 1 else "stderr",
            )

    def processExited(self, reason: Failure) -> None:
        """The child exited: the monitor decides what next."""
        self.monitor._childExited(self.program, self, reason)

    def processEnded(self, reason: Failure) -> None:
        """Every pipe is closed: log what was left without a newline; the stop is over."""
        for childFD, rest in self.partial.items():
            if rest:
                self._log(childFD, rest)
        self.partial = {1: b"", 2: b""}
        if self in self.program.unended:
            self.program.unended.remove(self)
        if self.graceCall is not None and self.graceCall.active():
            self.graceCall.cancel()
        waiters, self.waiters = self.waiters, []
        for d in waiters:
            d.callback(None)

    def whenEnded(self) -> Deferred[None]:
        """
        Return a Deferred firing once every pipe is closed: at most
        PIPE_GRACE seconds after the child's exit, when the pipes are then
        closed for it.
        """
        d: Deferred[None] = Deferred()
        self.waiters.append(d)
        if self.exited:
            self.startGrace()
        return d

    def startGrace(self) -> None:
        """The child exited and someone waits for its end: give its pipes PIPE_GRACE."""
        if self.graceCall is None and self.waiters:
            self.graceCall = self.monitor.reactor.callLater(PIPE_GRACE, self.closePipes)

    def closePipes(self) -> None:
        """The grace after the exit is over: close what a process left behind holds."""
        self.graceCall = None
        if self.transport is not None:
            self.transport.loseConnection()


class ProcessMonitor(Service):
    """
    Runs programs, and starts them again when they exit.

    :ivar threshold: seconds a child must run for its exit not to count as
        a crash on start (the delay then resets).
    :ivar killTime: seconds between SIGTERM and SIGKILL when stopping one.
    :ivar minRestartDelay: the first delay after a crash on start, seconds.
    :ivar maxRestartDelay: the longest delay, seconds.
    """

    threshold = 1.0
    killTime = 5.0
    minRestartDelay = 1.0
    maxRestartDelay = 3600.0

    def __init__(self, reactor: Any = None) -> None:
        """:param reactor: an IReactorProcess and IReactorTime (default: the global one)."""
        self._reactor = reactor
        self._programs: dict[str, _Program] = {}
        self._stopBy: float | None = None

    @property
    def reactor(self) -> Any:
        """The reactor children are spawned with (the global one unless given)."""
        self._reactor = getReactor(self._reactor)
        return self._reactor

    def _now(self) -> float:
        return float(self.reactor.seconds())

    # -- the programs -----------------------------------------------------------

    def addProcess(
        self,
        name: str,
        args: Sequence[str],
        uid: int | None = None,
        gid: int | None = None,
        env: Mapping[str, str] | None = _EMPTY,
        cwd: str | None = None,
    ) -> None:
        """
        Monitor a program, and start it if the service is running.

        :param name: its name, unique in this monitor (its log lines carry it).
        :param args: its argv; args[0] is the program, looked up in PATH
            (the child's) unless it is a path.  No shell: for one, pass
            ``["/bin/sh", "-c", script]``.
        :param uid: the user to run it as (needs root); None: ours.
        :param gid: the group to run it as; None: the user's, or ours.
        :param env: its environment: empty by default, as in Twisted; None
            for this process's own.
        :param cwd: the directory to run it in; None: ours.
        :raises KeyError: if name is taken.
        :raises ValueError: if args is empty.
        """
        if name in self._programs:
            raise KeyError("remove %s first" % (name,))
        if not args or isinstance(args, (str, bytes)):
            raise ValueError("args must be a non-empty list (the program's argv)")
        program = self._programs[name] = _Program(name, args, uid, gid, env, cwd)
        program.delay = self.minRestartDelay
        if self.running:
            self._spawn(program)

    def removeProcess(self, name: str) -> Deferred[None]:
        """
        Stop the program (as stopProcess) and forget it.

        :return: a Deferred firing once its child has exited.
        :raises KeyError: for an unknown name.
        """
        program = self._program(name)
        del self._programs[name]
        return self._stop(program, self.killTime)

    def startProcess(self, name: str) -> None:
        """
        Start the program now if it is not running (a restart it waits for
        happens now); one being stopped is started again once it exits.

        :raises KeyError: for an unknown name.
        """
        program = self._program(name)
        program.wanted = True
        if program.transport is not None:
            if program.stopping:
                program.restartAsked = True
            return
        program.cancelRestart()
        self._spawn(program)

    def stopProcess(self, name: str) -> Deferred[None]:
        """
        Stop the program: SIGTERM, then SIGKILL after killTime seconds if it
        is still there.  It stays stopped until startProcess (or the
        service's next start).

        :return: a Deferred firing once it has exited and its output has
            been read (at once if it was not running).
        :raises KeyError: for an unknown name.
        """
        return self._stop(self._program(name), self.killTime)

    def restartProcess(self, name: str) -> Deferred[None]:
        """
        Stop the program as stopProcess does and start it again at once when
        it has exited, whatever its delay; one not running is started now.

        :return: a Deferred firing once the old child has exited.
        :raises KeyError: for an unknown name.
        """
        program = self._program(name)
        program.wanted = True
        if program.transport is None:
            program.cancelRestart()
            self._spawn(program)
            return succeed(None)
        program.restartAsked = True
        return self._terminate(program, self.killTime)

    def restartAll(self) -> None:
        """Restart every program (restartProcess): after an upgrade, say."""
        for name in list(self._programs):
            self.restartProcess(name)

    def _program(self, name: str) -> _Program:
        try:
            return self._programs[name]
        except KeyError:
            raise KeyError("Unrecognized process name: %s" % (name,)) from None

    # -- the service ----------------------------------------------------------

    def startService(self) -> None:
        """Start every program."""
        Service.startService(self)
        self._stopBy = None
        for program in list(self._programs.values()):
            program.wanted = True
            if program.transport is None:
                program.cancelRestart()
                self._spawn(program)

    def stopService(self) -> Deferred[None]:
        """
        Stop every program (no more restarts): SIGTERM, then SIGKILL after
        killTime seconds, or sooner to meet a deadline set by setStopDeadline.

        :return: a Deferred firing once every child has exited and its
            output has been read (PIPE_GRACE).
        """
        Service.stopService(self)
        killAfter = self.killTime
        if self._stopBy is not None:
            remaining = max(0.0, self._stopBy - self._now())
            killAfter = min(killAfter, max(remaining - KILL_MARGIN, remaining / 2))
        stops = [self._stop(program, killAfter) for program in self._programs.values()]
        d: Deferred[Any] = gatherResults(stops)
        return d.addCallback(lambda _: None)

    def setStopDeadline(self, seconds: float) -> None:
        """
        Say that the coming stopService must be over within seconds: its
        SIGKILL then comes at most seconds - KILL_MARGIN after SIGTERM (half
        of seconds, if that is more).  loomd calls it with --shutdown-timeout.
        """
        self._stopBy = self._now() + seconds

    # -- what happens to the children ---------------------------------------------

    def _spawn(self, program: _Program) -> None:
        protocol = _ChildProtocol(self, program)
        program.protocol = protocol
        program.unended.append(protocol)
        program.startedAt = self._now()
        try:
            program.transport = self.reactor.spawnProcess(
                protocol,
                program.args[0],
                program.args,
                env=program.env,
                path=program.cwd,
                uid=program.uid,
                gid=program.gid,
            )
        except Exception:
            # No child at all (EAGAIN, EMFILE): a crash on start, as for backoff.
            failure = Failure()
            program.unended.remove(protocol)
            log.err(
                failure,
                "cannot start process %s" % (program.name,),
                child=program.name,
                system=SYSTEM,
            )
            self._childExited(program, protocol, failure)

    def _stop(self, program: _Program, killAfter: float) -> Deferred[None]:
        # Not to run any more (until asked again), nor to be restarted.
        program.wanted = False
        program.restartAsked = False
        program.cancelRestart()
        return self._terminate(program, killAfter)

    def _terminate(self, program: _Program, killAfter: float) -> Deferred[None]:
        # SIGTERM now and SIGKILL later, once; a sooner deadline brings the
        # SIGKILL forward.  The Deferred fires when its children (the one
        # running, and any that exited before) have ended.
        ends = [protocol.whenEnded() for protocol in program.unended]
        d: Deferred[Any] = gatherResults(ends)
        d.addCallback(lambda _: None)
        if program.transport is None:
            return d
        now = self._now()
        if not program.stopping:
            program.stopping = True
            self._signal(program, "TERM")
            program.killCall = self.reactor.callLater(killAfter, self._kill, program)
        elif program.killCall is not None and program.killCall.getTime() > now + killAfter:
            program.killCall.reset(killAfter)
        return d

    def _kill(self, program: _Program) -> None:
        program.killCall = None
        log.msg(
            "process %s did not exit after SIGTERM: sending SIGKILL" % (program.name,),
            child=program.name,
            system=SYSTEM,
        )
        self._signal(program, "KILL")

    @staticmethod
    def _signal(program: _Program, name: str) -> None:
        try:
            program.transport.signalProcess(name)
        except ProcessExitedAlready:
            pass  # reaped already: its processExited is on its way

    def _childExited(self, program: _Program, protocol: _ChildProtocol, reason: Failure) -> None:
        if program.protocol is not protocol:
            return  # not its current child: processExited comes once per child
        ran = self._now() - program.startedAt
        program.protocol = program.transport = None
        program.stopping = False
        if program.killCall is not None:
            if program.killCall.active():
                program.killCall.cancel()
            program.killCall = None
        # Its output is read to the end before a stop is over, but a process
        # it left behind may hold the pipes: not for ever.
        protocol.exited = True
        protocol.startGrace()
        monitored = self._programs.get(program.name) is program
        if self.running and monitored and program.wanted:
            delay = self._nextDelay(program, ran)
            program.restartCall = self.reactor.callLater(delay, self._restart, program)
            then = "restarting in %gs" % (delay,) if delay else "restarting now"
        else:
            then = "stopped"
        log.msg(
            "process %s %s after %.1fs; %s" % (program.name, _describe(reason), ran, then),
            child=program.name,
            system=SYSTEM,
        )

    def _nextDelay(self, program: _Program, ran: float) -> float:
        # The backoff: doubled by each crash on start, reset by a good run.
        if program.restartAsked:
            program.restartAsked = False
            return 0.0
        if ran >= self.threshold:
            program.delay = self.minRestartDelay
            return 0.0
        delay = program.delay
        program.delay = min(max(delay * 2, self.minRestartDelay), self.maxRestartDelay)
        return min(delay, self.maxRestartDelay)

    def _restart(self, program: _Program) -> None:
        program.restartCall = None
        program.restarts += 1
        self._spawn(program)

    # -- what is going on ---------------------------------------------------------

    def status(self) -> list[ProcessStatus]:
        """Return every program's ProcessStatus, in the order they were added."""
        now = self._now()
        found = []
        for program in self._programs.values():
            pid = uptime = nextStart = None
            if program.transport is not None:
                state = STOPPING if program.stopping else RUNNING
                pid = program.transport.pid
                uptime = now - program.startedAt
            elif program.restartCall is not None:
                state = WAITING
                nextStart = max(0.0, program.restartCall.getTime() - now)
            else:
                state = STOPPED
            found.append(
                ProcessStatus(program.name, state, pid, uptime, program.restarts, nextStart)
            )
        return found

    def logStatus(self) -> None:
        """Log one line per program: its state, pid, uptime and restart count."""
        statuses = self.status()
        if not statuses:
            log.msg("process monitor: no processes", system=SYSTEM)
        for status in statuses:
            details = ["restarts=%d" % (status.restarts,)]
            if status.pid is not None:
                details.insert(0, "pid=%d" % (status.pid,))
            if status.uptime is not None:
                details.insert(1, "uptime=%s" % (_duration(status.uptime),))
            if status.nextStart is not None:
                details.append("next start in %s" % (_duration(status.nextStart),))
            log.msg(
                "process %s: %s %s" % (status.name, status.state, " ".join(details)),
                child=status.name,
                system=SYSTEM,
            )

    def __repr__(self) -> str:
        entries = []
        for program in self._programs.values():
            who = ""
            if program.uid is not None or program.gid is not None:
                who = "(%s:%s)" % (
                    "" if program.uid is None else program.uid,
                    "" if program.gid is None else program.gid,
                )
            entries.append("%r%s: %r" % (program.name, who, program.args))
        return "<%s %s>" % (type(self).__name__, " ".join(entries))


def _describe(reason: Failure) -> str:
    # How a child ended, in a few words.
    value = reason.value
    if isinstance(value, ProcessDone):
        return "exited with status 0"
    if isinstance(value, ProcessTerminated) and type(value) is ProcessTerminated:
        if value.signal is not None:
            return "was killed by signal %s" % (value.signal,)
        if value.exitCode is not None:
            return "exited with status %s" % (value.exitCode,)
        return "ended"
    return "failed: %s" % (value,)


def _duration(seconds: float) -> str:
    if seconds < 60:
        return "%.1fs" % (seconds,)
    minutes, seconds = divmod(int(seconds), 60)
    hours, minutes = divmod(minutes, 60)
    days, hours = divmod(hours, 24)
    if days:
        return "%dd%02dh%02dm" % (days, hours, minutes)
    if hours:
        return "%dh%02dm%02ds" % (hours, minutes, seconds)
    return "%dm%02ds" % (minutes, seconds)
