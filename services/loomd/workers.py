"""
``loomd --workers N``: the master, which binds once and forks N workers.

    the launcher's steps (load, check, daemonize) -> run directory, umask,
    log, pidfile -> privilegedStartService, ports captured by address
    (services.loomd.listeners) -> chroot, shed privileges -> fork N workers
    (services.loomd.worker) -> every worker ready: report ready -> supervise

The master runs no application code once it has forked: it waits in one
poll(2) on a pidfd and a report pipe per worker and on its signal pipe,
and acts on what they say.  The workers share the listening sockets, so the
kernel's one accept queue per socket spreads the connections: a worker
blocked in a slow request takes no new ones, the others do.

- A worker that dies is replaced, under the same index.  One that dies
  within QUICK_DEATH seconds of its start, or before it was ready, is a
  quick failure: the replacement waits (BACKOFF_FIRST seconds, doubled for
  each quick failure in a row, at most BACKOFF_MAX), and after
  MAX_QUICK_FAILURES in a row the master gives up: it stops the others and
  exits 1, saying why in the log.  A worker failing its first start makes
  the whole start fail, reported to the launcher as the single daemon's
  failures are.
- SIGTERM/SIGINT: STOPPING=1, SIGTERM to every worker (each closes its
  ports, drains its connections and stops its services within
  --shutdown-timeout), then the pidfile goes and the master exits.  Past
  the timeout plus STOP_GRACE a worker still there is killed.  A second
  signal kills the workers at once.
- SIGHUP: the application is loaded again (the modules next to the .tac
  too), bound through the same table (an address still named keeps its
  socket) and a new generation of N workers is forked; once every one of
  them is ready the old generation is stopped gracefully.  A .tac that does
  not load, a port that cannot be bound, or a new worker that fails to
  start leaves the old generation serving, and the log says why.
  RELOADING=1 ... READY=1 bracket it; a SIGHUP during a reload queues one
  more.
- SIGUSR1 reopens the log here and in every worker; SIGUSR2 logs the
  workers' table and asks every worker to log its services' state.

The once-per-machine services (``perWorker = False``) run in worker 0 of
the serving generation: never here, since the master runs no application
code, so that such a service cannot block or crash supervision.  The
master says ``singletons`` to worker 0 once it is ready and no other
worker runs them: after a reload, once the old worker 0 has exited.

``loomd --status`` lists the workers from ``PIDFILE.workers``, which the
master rewrites at each change (services.loomd.workertable).  The hook for
per-worker set-up (a shell socket PATH.N in worker N, say) is
``Master.workerHooks``: callables given a services.loomd.worker.WorkerInfo
in each worker after the fork.
"""

import os
import select
import signal
import sys
import time
from typing import Any

from reactor import log
from services.loomd import startup, systemd
from services.loomd.balance import AcceptTable
from services.loomd.lifecycle import HANDLED_SIGNALS
from services.loomd.listeners import Generation, Listeners
from services.loomd.startup import StartupError
from services.loomd.worker import WorkerReport, decodeReport, runWorker
from services.loomd.workertable import describeWorker, removeTable, writeTable

__all__ = ["Master", "workerCount"]

QUICK_DEATH = 5.0
"""A worker dying within this many seconds of its start is a quick failure."""

MAX_QUICK_FAILURES = 5
"""Quick failures in a row after which the master gives up (exit status 1)."""

BACKOFF_FIRST = 0.1
"""Seconds before replacing a worker after the first quick failure; doubled per failure."""

BACKOFF_MAX = 5.0
"""The longest wait before a replacement."""

STOP_GRACE = 5.0
"""Seconds past --shutdown-timeout before a worker that has not exited is killed."""


def workerCount(value: str) -> int:
    """
    The number ``--workers`` asks for: a positive integer, or ``auto``,
    the CPUs this process may run on.

    :raises ValueError: anything else.
    """
    if value == "auto":
        return len(os.sched_getaffinity(0))
    count = int(value)
    if count < 1:
        raise ValueError("must be at least 1")
    return count


workerCount.coerceDoc = "A number of processes, or auto (one per usable CPU)."  # type: ignore[attr-defined]


class _Worker:
    # One forked worker, as the master sees it.
    def __init__(
        self, index: int, generation: Generation, pid: int, pidfd: int, reportFd: int, masterFd: int
    ) -> None:
        self.index = index
        self.generation = generation
        self.pid = pid
        self.pidfd = pidfd
        self.reportFd = reportFd
        self.masterFd = masterFd
        self.started = time.monotonic()
        self.startedAt = time.time()
        self.state = "starting"
        self.error: str | None = None
        self.pending = b""
        self.singletons = False


class Master:
    """
    The supervising process of ``loomd --workers``.

    :ivar workerHooks: callables run in each worker after the fork, given a
        services.loomd.worker.WorkerInfo (the place for per-worker set-up).
    :ivar exitCode: the exit status the master will end with.
    """

    def __init__(
        self,
        options: Any,
        reactor: Any,
        application: Any,
        uid: int | None = None,
        gid: int | None = None,
        earlyLog: Any = None,
        *,
        load: Any = None,
        triggerMark: int | None = None,
    ) -> None:
        """
        As lifecycle.Daemon's; the number of workers is ``options["workers"]``.

        :param load: called with the options on SIGHUP, returns the
            application loaded again (services.loomd.launcher.buildApplication);
            raises StartupError when it cannot.
        :param triggerMark: the reactor's markSystemEventTriggers() taken
            before application was loaded: the triggers added since are
            its load's (by default, those its privilegedStartService adds).
        """
        self._loadApplication = load
        if triggerMark is None:
            triggerMark = reactor.markSystemEventTriggers()
        self._triggerMark = triggerMark
        self.options = options
        self.reactor = reactor
        self.count = options["workers"]
        self.uid, self.gid = uid, gid
        self.workerHooks: list[Any] = []
        self.exitCode = 0
        self._earlyLog = earlyLog
        self._application = application
        self._listeners = Listeners()
        self._generations: list[Generation] = []
        self._current: Generation | None = None
        self._next: Generation | None = None
        self._workers: list[_Worker] = []
        self._timers: list[tuple[float, Any]] = []
        self._signals: list[int] = []
        self._quickFailures = 0
        self._ready = False
        self._stopping = False
        self._reloadQueued = False
        self._done = False
        self._reporter: Any = None
        self._logging: Any = None
        self._pidfile: Any = None
        self._wakeRead = self._wakeWrite = -1

    # -- start ----------------------------------------------------------------

    def serve(self, reporter: Any) -> int:
        """Bind, fork the workers, supervise until stopped; return the exit status."""
        self._reporter = reporter
        self._installSignals()
        try:
            self._prepare()
        except StartupError as error:
            return self._fail(str(error))
        log.msg("loomd master (pid %d): starting %d workers" % (os.getpid(), self.count))
        self._startWatchdog()
        self._startGeneration(self._generations[0])
        self._loop()
        self._cleanup()
        return self.exitCode

    def _prepare(self):
        options = self.options
        startup.changeToRundir(options["rundir"])
        startup.setUmask(options)
        self._logging = startup.openLog(options, self._earlyLog, type(self.reactor).__name__)
        self._pidfile = startup.acquirePidfile(options.pidfilePath())
        self._writeTable()
        self._bind(self._application, self._triggerMark)
        if options["shell"]:
            # Each worker opens its console after the drop: its modules
            # load now, while the interpreter's are in reach (as the single
            # daemon's do: test_eachWorkerHasItsShellAsNobody).
            from services.loomd import shell  # noqa: F401
        startup.dropPrivileges(options, self._logging, self.uid, self.gid)
        if not options["nodaemon"]:
            startup.redirectStreams()

    def _bind(self, application, triggerMark):
        # privilegedStartService with the ports captured by address; the
        # triggers added since triggerMark (taken before the load) and the
        # calls no other generation holds are the new generation's.
        generation = Generation(len(self._generations) + 1, application)
        try:
            with self._listeners.capture(self.reactor, generation):
                startup.privilegedStart(application)
        except StartupError:
            generation.closeSockets()
            generation.removeSocketFiles(self._current)
            raise
        generation.claimDelayedCalls(self.reactor, self._generations)
        generation.claimTriggers(self.reactor, triggerMark)
        self._generations.append(generation)
        if self._current is None:
            self._current = self._listeners.current = generation
        return generation

    def _startGeneration(self, generation):
        # What the load left runs in each worker: said once per generation,
        # since a single daemon would run it once.
        for warning in generation.loadTimeWarnings(self.count):
            log.msg(warning)
        if self.count > 1:  # one worker has no one to balance with
            generation.acceptTable = AcceptTable(self.count)
        for index in range(self.count):
            self._spawn(generation, index)

    def _spawn(self, generation, index):
        reportRead, reportWrite = os.pipe()
        masterRead, masterWrite = os.pipe()
        _flush()
        previous = signal.pthread_sigmask(signal.SIG_BLOCK, HANDLED_SIGNALS)
        pid = os.fork()
        if pid == 0:
            self._becomeWorker(
                generation, index, reportWrite, masterRead, (reportRead, masterWrite)
            )
        signal.pthread_sigmask(signal.SIG_SETMASK, previous)
        os.close(reportWrite)
        os.close(masterRead)
        worker = _Worker(index, generation, pid, os.pidfd_open(pid), reportRead, masterWrite)
        self._workers.append(worker)
        log.msg("worker %d (generation %d) started: pid %d" % (index, generation.number, pid))
        self._writeTable()
        return worker

    def _becomeWorker(self, generation, index, reportFd, masterFd, ownEnds):
        # In the child: never returns.  Nothing of the master's stays open.
        code = 1
        report = WorkerReport(reportFd)
        try:
            signal.set_wakeup_fd(-1)
            for fd in list(ownEnds) + self._masterDescriptors():
                os.close(fd)
            forget = getattr(self._reporter, "forget", None)
            if forget is not None:
                forget()
            code = runWorker(
                self.options,
                self.reactor,
                generation,
                index=index,
                generations=self._generations,
                logging=self._logging,
                report=report,
                masterFd=masterFd,
                hooks=self.workerHooks,
            )
        except BaseException as error:
            log.err(None, "worker %d failed" % (index,))
            report.error("worker %d failed: %s" % (index, startup.describe(error)))
        finally:
            _flush()
            os._exit(code)

    def _masterDescriptors(self):
        fds = [self._wakeRead, self._wakeWrite]
        for worker in self._workers:
            fds += [worker.pidfd, worker.reportFd, worker.masterFd]
        return [fd for fd in fds if fd >= 0]

    # -- the loop ---------------------------------------------------------------

    def _loop(self):
        poller = select.poll()
        while not self._done:
            watched = {self._wakeRead: None}
            for worker in self._workers:
                if worker.pidfd >= 0:
                    watched[worker.pidfd] = worker
                if worker.reportFd >= 0:
                    watched[worker.reportFd] = worker
            poller = select.poll()
            for fd in watched:
                poller.register(fd, select.POLLIN)
            events = poller.poll(self._timeout())
            for fd, _ in events:
                worker = watched[fd]
                if worker is None:
                    _drain(fd)
                elif fd == worker.reportFd:
                    self._readReport(worker)
                elif fd == worker.pidfd:
                    self._reap(worker)
            self._handleSignals()
            self._runTimers()

    def _timeout(self):
        if not self._timers:
            return None
        return max(0, int((min(self._timers, key=_when)[0] - time.monotonic()) * 1000) + 1)

    def _startWatchdog(self):
        # WATCHDOG=1 from the master, which systemd watches (MAINPID): a
        # master stuck in its loop stops pinging.
        interval = systemd.watchdogInterval()
        if interval:

            def ping():
                try:
                    systemd.watchdogPing()
                except (OSError, ValueError):
                    pass
                self._later(interval, ping)

            ping()

    def _later(self, delay, action):
        self._timers.append((time.monotonic() + delay, action))

    def _runTimers(self):
        now = time.monotonic()
        due = [timer for timer in self._timers if timer[0] <= now]
        self._timers = [timer for timer in self._timers if timer[0] > now]
        for _, action in sorted(due, key=_when):
            action()

    # -- what the workers say -------------------------------------------------------

    def _readReport(self, worker):
        try:
            chunk = os.read(worker.reportFd, 65536)
        except OSError:
            chunk = b""
        worker.pending += chunk
        if not chunk:
            os.close(worker.reportFd)
            worker.reportFd = -1
        while b"\n" in worker.pending:
            line, worker.pending = worker.pending.split(b"\n", 1)
            kind, text = decodeReport(line)
            if kind == "ready":
                self._workerReady(worker)
            elif kind == "error":
                worker.error = text

    def _workerReady(self, worker):
        worker.state = "ready"
        self._writeTable()
        generation = worker.generation
        if self._stopping:
            return
        if all(w.state == "ready" for w in self._workersOf(generation)):
            if generation is self._next:
                self._switchTo(generation)
            elif not self._ready:
                self._ready = True
                log.msg("loomd ready: %d workers serving" % (self.count,))
                self._notify("READY=1\nMAINPID=%d" % (os.getpid(),))
                self._reporter.ready()
        self._giveSingletons()

    def _reap(self, worker, status=None):
        if status is None:
            try:
                _, status = os.waitpid(worker.pid, 0)
            except ChildProcessError:
                status = 0
        if worker.reportFd >= 0:
            self._readReport(worker)  # its last words, if any
        for fd in (worker.pidfd, worker.reportFd, worker.masterFd):
            if fd >= 0:
                os.close(fd)
        worker.pidfd = worker.reportFd = worker.masterFd = -1
        self._workers.remove(worker)
        if worker.generation.acceptTable is not None:
            worker.generation.acceptTable.forget(worker.index)  # not free: gone
        how = _describeExit(status)
        wasReady, worker.state = worker.state == "ready", "exited"
        self._forgetGenerations()
        self._writeTable()
        self._exited(worker, how, wasReady, status)
        self._giveSingletons()
        if self._stopping and not self._workers:
            self._done = True

    def _exited(self, worker, how, wasReady, status):
        generation = worker.generation
        what = "worker %d (generation %d, pid %d) %s" % (
            worker.index,
            generation.number,
            worker.pid,
            how,
        )
        reason = "; ".join(filter(None, [how, worker.error]))
        if self._stopping or worker.state == "retiring" or generation not in self._live():
            log.msg(what)
            if status != 0 and self._stopping:
                self.exitCode = 1
            return
        if generation is self._next and not wasReady:
            self._reloadFailed("worker %d: %s" % (worker.index, reason))
            return
        if not self._ready:
            log.msg(what, isError=True)
            self._startFailed("worker %d %s" % (worker.index, worker.error or how))
            return
        quick = not wasReady or time.monotonic() - worker.started < QUICK_DEATH
        self._quickFailures = self._quickFailures + 1 if quick else 0
        log.msg(what + ("; %s" % (worker.error,) if worker.error else ""), isError=True)
        if self._quickFailures >= MAX_QUICK_FAILURES:
            self._giveUp(worker, reason)
            return
        delay = 0 if not quick else min(BACKOFF_FIRST * 2 ** (self._quickFailures - 1), BACKOFF_MAX)
        log.msg("replacing worker %d in %gs" % (worker.index, delay))
        self._notify("STATUS=%s; replacing worker %d" % (self._summary(), worker.index))
        self._later(delay, lambda: self._replace(generation, worker.index))

    def _replace(self, generation, index):
        if self._stopping or generation not in self._live():
            return
        self._spawn(generation, index)

    def _giveUp(self, worker, reason):
        message = (
            "giving up: workers died %d times in a row within %gs of starting "
            "(last: worker %d, %s)" % (MAX_QUICK_FAILURES, QUICK_DEATH, worker.index, reason)
        )
        log.msg("loomd: " + message, isError=True)
        self._notify("STATUS=%s" % (message,))
        self.exitCode = 1
        self._stop("Stopping the other workers.")

    def _startFailed(self, message):
        self.exitCode = 1
        self._reporter.error(message)
        log.msg("loomd: %s" % (message,), isError=True)
        self._stop("Start-up failed: stopping the other workers.")

    # -- stopping -----------------------------------------------------------------

    def _stop(self, reason):
        if self._stopping:
            return
        self._stopping = True
        log.msg(reason)
        self._notify("STOPPING=1\nSTATUS=stopping %d workers" % (len(self._workers),))
        for worker in self._workers:
            # A retiring worker was told already: a second SIGTERM would
            # make it exit at once, without draining.
            if worker.state != "retiring":
                worker.state = "stopping"
                _kill(worker.pid, signal.SIGTERM)
        self._later(self.options["shutdown_timeout"] + STOP_GRACE, self._killStragglers)
        if not self._workers:
            self._done = True

    def _killStragglers(self):
        for worker in self._workers:
            log.msg(
                "worker %d (pid %d) still running past the shutdown timeout: killing it"
                % (worker.index, worker.pid),
                isError=True,
            )
            _kill(worker.pid, signal.SIGKILL)
            self.exitCode = 1

    def _fail(self, message):
        if self._logging is not None:
            log.msg("loomd: %s" % (message,), isError=True)
        self._reporter.error(message)
        self._cleanup()
        return 1

    def _cleanup(self):
        for generation in self._generations:
            generation.closeSockets()
            generation.removeSocketFiles(None)
        if self._pidfile is not None:
            self._removeTable()
            self._pidfile.release()
            self._pidfile = None
        if self._logging is not None:
            self._logging.close()

    # -- reloading ----------------------------------------------------------------

    def _reload(self):
        if self._next is not None:
            log.msg("Received SIGHUP during a reload: one more reload follows it.")
            self._reloadQueued = True
            return
        self._reloadQueued = False
        log.msg("Received SIGHUP: loading the application again for a new generation of workers.")
        systemd.reloading("reloading: starting a new generation of workers")
        self._reopenLogs()
        mark = self.reactor.markSystemEventTriggers()
        try:
            application = _reloadApplication(self.options, self._loadApplication)
            generation = self._bind(application, mark)
        except StartupError as error:
            self._dropUnclaimedCalls()
            self._dropTriggersSince(mark)
            self._reloadFailed(str(error))
            return
        self._next = generation
        self._writeTable()
        self._startGeneration(generation)

    def _reloadFailed(self, reason):
        log.msg(
            "reload failed: %s; generation %d keeps serving"
            % (reason, self._current.number if self._current else 0),
            isError=True,
        )
        failed, self._next = self._next, None
        if failed is not None:
            for worker in self._workersOf(failed):
                worker.state = "retiring"
                _kill(worker.pid, signal.SIGTERM)
            self._forgetGenerations()
        self._notify("READY=1\nSTATUS=%s; the last reload failed" % (self._summary(),))
        self._afterReload()

    def _switchTo(self, generation):
        old, self._current, self._next = self._current, generation, None
        self._listeners.current = generation
        log.msg(
            "generation %d ready: stopping generation %d" % (generation.number, old.number)
            if old is not None
            else "generation %d ready" % (generation.number,)
        )
        for worker in self._workersOf(old):
            worker.state = "retiring"
            _kill(worker.pid, signal.SIGTERM)
        self._forgetGenerations()
        self._writeTable()
        self._notify("READY=1\nSTATUS=%s" % (self._summary(),))
        log.msg("reload finished")
        self._afterReload()

    def _afterReload(self):
        if self._reloadQueued and not self._stopping:
            self._reload()

    def _live(self):
        return [g for g in (self._current, self._next) if g is not None]

    def _forgetGenerations(self):
        # A generation neither serving nor starting, with no worker left,
        # closes its sockets in the master (and removes the socket files
        # that the serving one does not listen on).
        live = self._live()
        for generation in list(self._generations):
            if generation in live or self._workersOf(generation):
                continue
            generation.closeSockets()
            generation.removeSocketFiles(self._current)
            generation.dropDelayedCalls()
            generation.dropTriggers(self.reactor)
            self._generations.remove(generation)

    def _dropUnclaimedCalls(self):
        # A reload that failed may have scheduled calls before it did (a
        # .tac raising after a module-level callLater): no generation has
        # them, and the next one must not claim them.
        claimed = {id(call) for g in self._generations for call, _ in g.delayedCalls}
        for call in self.reactor.getDelayedCalls():
            if id(call) not in claimed:
                call.cancel()

    def _dropTriggersSince(self, mark):
        # Likewise its triggers (a module-level callWhenRunning before the
        # line that raised): no worker may run them
        # (test_aReloadThatFailedLeavesNoTriggersForTheNextGeneration).
        for trigger in self.reactor.getSystemEventTriggers(since=mark):
            self.reactor.removeSystemEventTrigger(trigger.triggerID)

    def _giveSingletons(self):
        # Worker 0 of the serving generation runs the once-per-machine
        # services, once no other worker does.
        if self._stopping or any(w.singletons for w in self._workers):
            return
        for worker in self._workersOf(self._current):
            if worker.index == 0 and worker.state == "ready":
                worker.singletons = True
                try:
                    os.write(worker.masterFd, b"singletons\n")
                except OSError:
                    pass
                self._writeTable()

    # -- signals --------------------------------------------------------------------

    def _installSignals(self):
        self._wakeRead, self._wakeWrite = os.pipe()
        for fd in (self._wakeRead, self._wakeWrite):
            os.set_blocking(fd, False)
        signal.set_wakeup_fd(self._wakeWrite, warn_on_full_buffer=False)
        for signum in HANDLED_SIGNALS:
            signal.signal(signum, self._onSignal)
        if os.getpid() == 1:
            # A container's init inherits every orphan (the workers'
            # children's children): reap them, or they stay zombies.
            signal.signal(signal.SIGCHLD, self._onSignal)
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED_SIGNALS)

    def _onSignal(self, signum, frame):
        # Between two bytecodes: record only; the loop acts.
        self._signals.append(signum)

    def _handleSignals(self):
        signals, self._signals = self._signals, []
        for signum in signals:
            if signum in (signal.SIGTERM, signal.SIGINT):
                self._onStopSignal(signum)
            elif signum == signal.SIGHUP:
                if self._stopping:
                    self._reopenLogs()
                elif not self._ready:
                    log.msg(
                        "Received SIGHUP during start-up: reloading once every worker is ready."
                    )
                    self._reloadQueued = True
                else:
                    self._reload()
            elif signum == signal.SIGUSR1:
                self._reopenLogs()
                self._signalWorkers(signal.SIGUSR1)
            elif signum == signal.SIGUSR2:
                self._logTable()
                self._signalWorkers(signal.SIGUSR2)
            elif signum == signal.SIGCHLD:
                self._reapOrphans()
        if self._ready and self._reloadQueued and self._next is None and not self._stopping:
            self._reload()

    def _reapOrphans(self):
        # PID 1 only: whatever has exited, ours or not; a worker reaped here
        # is handled as its pidfd would have had it.
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return
            if pid == 0:
                return
            for worker in self._workers:
                if worker.pid == pid:
                    self._reap(worker, status)
                    break

    def _onStopSignal(self, signum):
        name = signal.Signals(signum).name
        if self._stopping:
            log.msg("Received %s again during shutdown: killing the workers." % (name,))
            for worker in self._workers:
                _kill(worker.pid, signal.SIGKILL)
            self.exitCode = 1
            return
        if not self._ready:
            self._reporter.error(
                "start-up interrupted by %s: stopped before every worker had started" % (name,)
            )
        self._stop("Received %s, stopping %d workers." % (name, len(self._workers)))

    def _signalWorkers(self, signum):
        for worker in self._workers:
            _kill(worker.pid, signum)

    def _reopenLogs(self):
        if self._logging is not None:
            self._logging.reopen()

    # -- what the master says ---------------------------------------------------------

    def _workersOf(self, generation):
        return [worker for worker in self._workers if worker.generation is generation]

    def _summary(self):
        current = self._workersOf(self._current)
        ready = sum(1 for worker in current if worker.state == "ready")
        if ready == self.count:
            return "%d workers ready" % (ready,)
        return "%d of %d workers ready" % (ready, self.count)

    def _notify(self, state):
        if "STATUS=" not in state:
            state += "\nSTATUS=%s" % (self._summary(),)
        try:
            systemd.notify(state)
        except (OSError, ValueError) as error:
            log.msg("sd_notify failed: %s" % (error,), isError=True)

    def _tableLines(self):
        lines = []
        for worker in sorted(self._workers, key=lambda w: (w.generation.number, w.index)):
            state = worker.state
            if worker.singletons:
                state += ", runs the once-per-machine services"
            lines.append(
                describeWorker(
                    worker.index, worker.pid, worker.generation.number, state, worker.startedAt
                )
            )
        return lines

    def _logTable(self):
        log.msg(
            "Received SIGUSR2: loomd master pid %d, %s:\n%s"
            % (os.getpid(), self._summary(), "\n".join(self._tableLines()))
        )

    def _writeTable(self):
        path = self.options.pidfilePath()
        if path is not None:
            writeTable(path, self._tableLines(), self.uid, self.gid)

    def _removeTable(self):
        removeTable(self.options.pidfilePath())


def _reloadApplication(options, load):
    """Load the application again, with the modules next to the .tac imported afresh."""
    if load is None:
        raise StartupError("this daemon cannot load its application again")
    if options["python"]:
        _forgetModulesNextTo(options["python"])
    return load(options)


def _forgetModulesNextTo(tac):
    # The .tac's neighbours (what it imports from its own directory) are
    # imported again by the reload, so that new code is loaded; Loom's own
    # packages and installed libraries are kept.
    directory = os.path.dirname(os.path.abspath(tac)) + os.sep
    kept = tuple(os.path.abspath(path) + os.sep for path in (sys.prefix, sys.base_prefix))
    for name, module in list(sys.modules.items()):
        path = getattr(module, "__file__", None)
        if not path or name.split(".")[0] in ("reactor", "protocols", "services"):
            continue
        path = os.path.abspath(path)
        if path.startswith(directory) and not path.startswith(kept):
            del sys.modules[name]


def _when(timer):
    return timer[0]


def _drain(fd):
    try:
        while os.read(fd, 4096):
            pass
    except BlockingIOError:
        pass


def _kill(pid, signum):
    try:
        os.kill(pid, signum)
    except ProcessLookupError:
        pass


def _flush():
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (AttributeError, OSError, ValueError):
            pass


def _describeExit(status):
    from services.loomd.daemon import describeExit

    return describeExit(status)
