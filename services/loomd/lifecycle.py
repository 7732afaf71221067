"""
The serving process: loomd's Daemon, from the first signal handler to exit.

    install signal handlers -> change to the run directory, set the umask
    -> open the log -> write the pidfile -> privilegedStartService -> chroot
    -> shed privileges -> startService -> report ready (reporter, READY=1)
    -> run -> stop -> remove the pidfile

The Daemon serves whether it was forked (daemon mode) or runs in the
process the user started (``-n``); the launcher (services.loomd.launcher)
has already loaded the application and checked what it could, and gives
the Daemon a reporter: the status pipe it waits on, or stderr.  The steps
before the loop are services.loomd.startup's; each that can fail, and any
failure of startService, reports through the same ``_fail`` path: the
message goes to the log and to the reporter, and the process ends with exit
status 1 after releasing the pidfile.  A service calling sys.exit() during start-up is a
failure like any other (twistd's launcher hangs on it); once started,
sys.exit(N) is a request to shut down gracefully and exit with N.

Signals are handled from before the daemon exists to its exit: SIGTERM,
SIGINT, SIGHUP, SIGUSR1 and SIGUSR2 are blocked before the fork (the daemon inherits
the mask) and unblocked once their handlers are installed, before the
pidfile is written, so a signal sent as soon as the pidfile appears (by
logrotate, ``loomd --reload``, an impatient user) is handled, never fatal.
A handler only records and queues; the loop acts on it:

- SIGUSR1 reopens the logs (logrotate moves the file, then signals).
- SIGUSR2 asks the services that have a ``logStatus()`` (a ProcessMonitor:
  each child's state, pid, uptime and restarts) to log their state
  (``loomd --log-status`` sends it).
- SIGHUP never kills: it reopens the logs, has every TLS server read its
  certificate files again (``reloadCertificates()``: new handshakes get
  the renewed certificate, open connections keep theirs, a renewal that
  does not load leaves the old one and is logged) and calls reload() on
  services that have one, between RELOADING=1 and READY=1.  During start-up the
  reload waits until every service has started, then runs once; during a
  reload, one more follows it.
- The first SIGTERM/SIGINT closes the listening ports, then calls
  stopService on the tree and waits for its Deferred up to
  --shutdown-timeout, kept by a thread (services.loomd.stopdeadline) so that a
  stopService blocking the loop is bounded and named too.  Services that
  have a ``setStopDeadline(seconds)`` are told the timeout first, so that
  they can finish within it (a ProcessMonitor sends SIGKILL in time).  During start-up
  it aborts the start: what started is stopped, READY=1 is never sent, the
  launcher exits 1 saying so, the daemon itself 0 (a stop it was asked
  for, as systemd expects from a unit stopped while activating).  A second
  signal exits at once.
"""

import os
import signal
from collections.abc import Iterator
from typing import Any

# Everything used after --chroot is imported here, before it: inside the
# jail the modules' files may not exist (test_chrootKeepsPidfileAndLogWorking).
from reactor import log
from reactor.defer import DeferredList, maybeDeferred
from reactor.error import CannotListenError
from reactor.interfaces import IListeningPort
from reactor.task import LoopingCall
from services.loomd import startup, systemd
from services.loomd.lowports import listenFailure
from services.loomd.startup import StartupError
from services.loomd.stopdeadline import ShutdownDeadline, threadStack
from services.service import IServiceCollection, pendingStops, stopCallsInProgress

__all__ = ["Daemon", "walkServices", "HANDLED_SIGNALS"]

HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)
"""The signals loomd handles, blocked from before the fork until their handlers exist."""


class Daemon:
    """
    The process that serves: one run of the application, started in order,
    stopped gracefully.

    :ivar exitCode: the exit status the process will end with.
    :ivar ready: True once every service has started and ready was reported.
    :ivar shuttingDown: True once a shutdown has begun.
    """

    def __init__(self, options, reactor, application, uid=None, gid=None, earlyLog=None):
        """
        :param options: the LoomdOptions.
        :param reactor: the installed reactor, not yet running.
        :param application: the loaded application (the root service).
        :param uid: the user id to switch to after binding, or None.
        :param gid: the group id to switch to after binding, or None.
        :param earlyLog: the EarlyLog holding what was logged while the
            application loaded, replayed into the log once it is open.
        """
        self.options = options
        self.reactor = reactor
        self.application = application
        self.uid, self.gid = uid, gid
        self._earlyLog = earlyLog
        self.reporter = None
        self.pidfile = None
        self.logging = None
        self.exitCode = 0
        self.ready = False
        self.shuttingDown = False
        # Set by the signal handler itself, before the loop hears of it.
        self._stopSignal = None
        self._queuedSignals = set()
        self._reloading = False
        self._reloadQueued = False
        self._deadline = None
        self._watchdog = None
        self._rootStopReturned = True
        self.shell = None  # the --shell port, once open (services.loomd.shell)

    def serve(self, reporter):
        """
        Start the application, run until it stops, clean up; return the exit status.

        :param reporter: told ``ready()`` once every service has started, or
            ``error(message)`` when start-up fails or is interrupted.
        """
        self.reporter = reporter
        # First of all, before the pidfile tells the world we run: from now
        # on a signal is queued for the loop, never fatal.
        self._installSignals()
        try:
            self._prepareProcess()
        except StartupError as error:
            return self._fail(str(error))
        # Only now, the standard streams being in place: the wakeup pipe
        # could otherwise take descriptor 0, 1 or 2 and be overwritten.  The
        # loop has not slept yet, so no signal has needed it.
        self.reactor.installSignalWakeup()
        self.reactor.callWhenRunning(self._startServices)
        return self._run()

    def _prepareProcess(self):
        # Every step before the loop runs, in the documented order; each
        # raises StartupError (services.loomd.startup).
        options = self.options
        startup.changeToRundir(options["rundir"])
        startup.setUmask(options)
        self.logging = startup.openLog(options, self._earlyLog, type(self.reactor).__name__)
        self.pidfile = startup.acquirePidfile(options.pidfilePath())
        startup.privilegedStart(self.application)
        if options["shell"]:
            # Only then: the console's modules cost every other start.
            # Imported before --chroot all the same (its modules load here).
            from services.loomd import shell

            self.shell = shell.openFromOptions(
                options, self.reactor, self.application, self.uid, self.gid
            )
        startup.dropPrivileges(options, self.logging, self.uid, self.gid)
        if not options["nodaemon"]:
            startup.redirectStreams()

    def _run(self):
        # Run the loop until it stops; return the exit status.
        resuming = False
        while True:
            try:
                if resuming:
                    self._resumeLoop()
                else:
                    self.reactor.run(installSignalHandlers=False)
                break
            except SystemExit as exit:
                if not self.ready:
                    return self._fail(
                        "a service called sys.exit(%s) during start-up" % (exit.code,)
                    )
                # After start-up it asks for a graceful shutdown: the loop
                # is entered again to run it (run() would refuse, as the
                # reactor never stopped).
                self._exitCalled(exit.code)
                resuming = True
        if self._stopSignal is not None and not self.ready:
            self._report(
                "start-up interrupted by %s: stopped before every service had started"
                % (self._stopSignal,)
            )
        self._cleanup()
        return self.exitCode

    def _resumeLoop(self):
        # run() undid the signal wakeup on its way out.
        self.reactor.installSignalWakeup()
        self.reactor.mainLoop()

    def _exitCalled(self, code):
        self.exitCode = _exitStatus(code)
        if self.shuttingDown:
            log.msg("a service called sys.exit(%s) during shutdown" % (code,), isError=True)
            return
        self._shutdown("a service called sys.exit(%s): shutting down" % (code,))

    def _startServices(self):
        if self._stopSignal is not None:
            return  # asked to stop before the loop ran: the queued shutdown follows
        d = maybeDeferred(self.application.startService)
        d.addCallbacks(self._started, self._startFailed)
        # A failure of the readiness point itself must reach the launcher too.
        d.addErrback(self._startFailed)

    def _started(self, ignored):
        if self.shuttingDown:
            # A stop came during start-up: what started is being stopped.
            # Never ready (test_sigtermDuringStartUpAbortsIt).
            log.msg("start-up finished during shutdown: not reporting ready")
            return
        systemd.notify("READY=1\nSTATUS=running\nMAINPID=%d" % (os.getpid(),))
        self._startWatchdog()
        log.msg("loomd ready: every service has started")
        self.ready = True
        self.reporter.ready()
        if self._reloadQueued:
            self._reload("Reloading services: a SIGHUP came during start-up.")

    def _startFailed(self, failure):
        if self.shuttingDown:
            log.err(failure, "startService failed during shutdown")
            return
        if failure.check(CannotListenError):
            message = listenFailure(failure.value)
        else:
            log.err(failure, "startService failed")
            message = "start-up failed: %s" % (startup.describe(failure.value),)
        self._report(message)
        self.exitCode = 1
        self.reactor.stop()

    def _startWatchdog(self):
        interval = systemd.watchdogInterval()
        if interval:
            self._watchdog = LoopingCall(systemd.notify, "WATCHDOG=1")
            self._watchdog.clock = self.reactor
            self._watchdog.start(interval, now=True)

    def _report(self, message):
        # Before logging is set up a log line would reach stderr through
        # the stdlib's last-resort handler: the reporter says it once.
        if self.logging is not None:
            log.msg("loomd: %s" % (message,), isError=True)
        if self.reporter is not None:
            self.reporter.error(message)

    def _fail(self, message):
        self._report(message)
        self._cleanup()
        return 1

    def _cleanup(self):
        if self._deadline is not None:
            self._deadline.disarm()
        self._release()

    def _release(self):
        # Remove the pidfile, flush and close the log.
        if self.pidfile is not None:
            self.pidfile.release()
            self.pidfile = None
        if self.logging is not None:
            self.logging.close()

    # -- signals and shutdown ---------------------------------------------------

    def _installSignals(self):
        # The handlers run in the main thread between two bytecodes, maybe
        # in the middle of start-up or of logging: they only record and
        # queue, and the loop acts (before it runs, once it does).
        signal.signal(signal.SIGTERM, self._onStopSignal)
        signal.signal(signal.SIGINT, self._onStopSignal)
        signal.signal(signal.SIGHUP, self._onSignalQueued)
        signal.signal(signal.SIGUSR1, self._onSignalQueued)
        signal.signal(signal.SIGUSR2, self._onSignalQueued)
        if os.getpid() == 1:
            # As PID 1 we inherit every orphan: reap them, or they stay
            # zombies.  reapOrphans leaves the children of spawnProcess to
            # their own transports, so their statuses reach their protocols.
            from reactor.process import reapOrphans

            reactor = self.reactor
            signal.signal(signal.SIGCHLD, lambda s, f: reactor.callFromThread(reapOrphans))
        # Blocked since before the fork (daemonize); those sent meanwhile
        # are delivered now, to the handlers.  Unblocked in the foreground
        # too: a daemon whose parent left SIGTERM blocked could not be
        # stopped.
        signal.pthread_sigmask(signal.SIG_UNBLOCK, HANDLED_SIGNALS)

    def _onSignalQueued(self, signum, frame):
        # One call queued per signal number at most: a flood of SIGHUPs
        # must not grow the loop's queue faster than reloads drain it
        # (test_signalsFromTheMomentThePidfileAppearsNeverKillTheDaemon).
        if signum not in self._queuedSignals:
            self._queuedSignals.add(signum)
            self.reactor.callFromThread(self._onQueuedSignal, signum)

    def _onQueuedSignal(self, signum):
        # Forgotten first: a signal arriving from here on queues another run.
        if not self._takeQueuedSignal(signum):
            return  # a reload that ended meanwhile took it (_reloaded)
        if signum == signal.SIGHUP:
            self._onReloadSignal()
        elif signum == signal.SIGUSR2:
            self._logStatus()
        else:
            self._reopenLogs()

    def _takeQueuedSignal(self, signum):
        # Whether signum had arrived and was not yet handled; it is now.
        if signum in self._queuedSignals:
            self._queuedSignals.discard(signum)
            return True
        return False

    def _onStopSignal(self, signum, frame):
        if self.shuttingDown or self._stopSignal is not None:
            self._forceExit(signum)
        self._stopSignal = _signalName(signum)
        self.reactor.callFromThread(
            self._shutdown, "Received %s, shutting down." % (self._stopSignal,)
        )

    def _forceExit(self, signum):
        # A second signal during shutdown: the user means it.
        log.msg("Received %s again during shutdown: exiting now." % (_signalName(signum),))
        if not self.ready and self.reporter is not None:
            self.reporter.error(
                "start-up interrupted by %s, sent twice: exited at once" % (_signalName(signum),)
            )
        self._cleanup()
        os._exit(1)

    def _shutdown(self, reason):
        if self.shuttingDown:
            return
        self.shuttingDown = True
        if not self.ready:
            reason += " (during start-up: stopping what has started)"
        log.msg(reason)
        systemd.notify("STOPPING=1")
        self._closeListeningPorts()
        self._deadline = ShutdownDeadline(
            self.options["shutdown_timeout"],
            self.reactor,
            onDeadline=self._deadlinePassed,
            onBlocked=self._deadlineBlocked,
        )
        self._deadline.start()
        self._callHooks("setStopDeadline", self.options["shutdown_timeout"])
        self._rootStopReturned = False
        try:
            d = maybeDeferred(self.application.stopService)
        finally:
            self._rootStopReturned = True
        d.addBoth(self._stopped)
        d.addErrback(log.err, "stopService failed")

    def _stopped(self, result):
        # The deadline, if it passed, has already ended the loop.
        if self.shell is not None:
            self.shell.stopListening()
        if self.reactor.running:
            self.reactor.stop()
        return result

    def _closeListeningPorts(self):
        # No new connections while the services wind down; but the shell
        # stays until they have, to look into a stop that takes long
        # (test_shellStaysOpenWhileTheServicesStop).
        for reader in self.reactor.getReaders():
            if IListeningPort.providedBy(reader) and reader is not self.shell:
                reader.stopListening()

    def _deadlinePassed(self):
        # In the loop: it still turns, so the services' Deferreds are late.
        log.msg(
            "shutdown timed out after %ss; still stopping: %s"
            % (self.options["shutdown_timeout"], self._stillStopping()),
            isError=True,
        )
        self.exitCode = 1
        self.reactor.crash()

    def _deadlineBlocked(self, reactorThread):
        # In the deadline's thread: the reactor thread is stuck and cannot
        # be unwound.  Say where, release the pidfile, flush the log, exit.
        blocked = stopCallsInProgress(self.application)
        if blocked:
            where = "in the stopService of %s" % (blocked[-1].path,)
        elif not self._rootStopReturned:
            where = "in the stopService of %s" % (_root(self.application),)
        else:
            where = "outside any stopService"
        log.msg(
            "shutdown timed out after %ss: the reactor thread is blocked %s; exiting now.\n"
            "Still stopping: %s\nReactor thread stack (most recent call last):\n%s"
            % (
                self.options["shutdown_timeout"],
                where,
                self._stillStopping(),
                threadStack(reactorThread).rstrip("\n"),
            ),
            isError=True,
        )
        if not self.ready and self.reporter is not None:
            self.reporter.error("start-up interrupted; stopping timed out, blocked %s" % (where,))
        self._release()
        os._exit(1)

    def _stillStopping(self):
        return ", ".join(pending.path for pending in pendingStops(self.application)) or "(none)"

    def _onReloadSignal(self):
        if self.shuttingDown:
            log.msg("Received SIGHUP during shutdown: reopening logs, not reloading.")
            self._reopenLogs()
        elif not self.ready:
            log.msg(
                "Received SIGHUP during start-up: reopening logs now; "
                "services reload once every service has started."
            )
            self._reopenLogs()
            self._reloadQueued = True
        elif self._reloading:
            log.msg("Received SIGHUP during a reload: one more reload follows it.")
            self._reloadQueued = True
        else:
            self._reload("Received SIGHUP: reopening logs and reloading services.")

    def _reload(self, reason):
        # Only once ready, one at a time: RELOADING=1 ... READY=1 brackets
        # a reload that really ran (test_sighupDuringStartUpReloadsOnceAfterIt).
        self._reloading, self._reloadQueued = True, False
        log.msg(reason)
        systemd.reloading("reloading")
        self._reopenLogs()
        pending = []
        for service in walkServices(self.application):
            # Certificates first: a service's own reload may open connections.
            for name in ("reloadCertificates", "reload"):
                method = getattr(service, name, None)
                if callable(method):
                    d = maybeDeferred(method)
                    pending.append(d.addErrback(log.err, "%s of %r failed" % (name, service)))
        DeferredList(pending).addCallback(self._reloaded)

    def _reloaded(self, ignored):
        self._reloading = False
        if self.shuttingDown:
            return  # STOPPING=1 was said; READY=1 now would contradict it
        # A SIGHUP whose handler ran but whose queued call has not yet
        # reached the loop came during the reload too: the loop can run the
        # reload's last timer before that call
        # (test_sighupDuringAReloadRunsOneMoreAfterIt).
        if self._reloadQueued or self._takeQueuedSignal(signal.SIGHUP):
            self._reload("Reloading services again: a SIGHUP came during the reload.")
            return
        systemd.notify("READY=1\nSTATUS=running")
        log.msg("reload finished")

    def _logStatus(self):
        # SIGUSR2: whoever can say how they are doing, says it.
        reporting = [
            service
            for service in walkServices(self.application)
            if callable(getattr(service, "logStatus", None))
        ]
        state = "shutting down" if self.shuttingDown else "ready" if self.ready else "starting"
        log.msg(
            "Received SIGUSR2: loomd pid %d is %s; %d service(s) report their state"
            % (os.getpid(), state, len(reporting))
        )
        self._callHooks("logStatus")

    def _callHooks(self, name, *args):
        # Call name(*args) on every service that has it; a failure is logged
        # and the others are still called.
        for service in walkServices(self.application):
            method = getattr(service, name, None)
            if callable(method):
                try:
                    method(*args)
                except Exception:
                    log.err(None, "%s of %r failed" % (name, service))

    def _reopenLogs(self):
        if self.logging is not None:
            self.logging.reopen()


def walkServices(service: Any) -> Iterator[Any]:
    """Yield service and every service under it, parents first."""
    yield service
    if IServiceCollection.providedBy(service):
        for child in service:
            yield from walkServices(child)


def _root(service):
    # The root's label, as pendingStops paths begin with it.
    return str(service.name) if service.name is not None else "<%s>" % (type(service).__name__,)


def _exitStatus(code):
    """The exit status sys.exit(code) asks for, as the interpreter computes it."""
    if code is None:
        return 0
    if isinstance(code, int):
        return code
    return 1


def _signalName(signum):
    try:
        return signal.Signals(signum).name
    except ValueError:
        return "signal %d" % (signum,)
