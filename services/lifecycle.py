"""
The life of a loomd process: start-up in the documented order, one readiness
point, signals, and a bounded graceful shutdown.

    load application -> check pidfile -> daemonize -> install signal handlers
    -> write pidfile -> privilegedStartService -> chroot -> shed privileges
    -> startService -> report ready (status pipe, READY=1) -> run -> stop
    -> remove pidfile

Each step that can fail reports through the same ``_fail`` path: the message
goes to the log, to the launcher's status pipe (daemon mode) or stderr
(foreground), and the process ends with exit status 1 after releasing the
pidfile.  A service calling sys.exit() during start-up is a failure like any
other (twistd's launcher hangs on it); once started, sys.exit(N) is a request
to shut down gracefully and exit with N.

Signals are handled from before the daemon exists to its exit: SIGTERM,
SIGINT, SIGHUP and SIGUSR1 are blocked before the fork (the daemon inherits
the mask) and unblocked once their handlers are installed, before the
pidfile is written, so a signal sent as soon as the pidfile appears (by
logrotate, ``loomd --reload``, an impatient user) is handled, never fatal.
A handler only records and queues; the loop acts on it:

- SIGUSR1 reopens the logs (logrotate moves the file, then signals).
- SIGHUP never kills: it reopens the logs and calls reload() on services
  that have one, between RELOADING=1 and READY=1.  During start-up the
  reload waits until every service has started, then runs once; during a
  reload, one more follows it.
- The first SIGTERM/SIGINT closes the listening ports, then calls
  stopService on the tree and waits for its Deferred up to
  --shutdown-timeout, kept by a thread (services.stopdeadline) so that a
  stopService blocking the loop is bounded and named too.  During start-up
  it aborts the start: what started is stopped, READY=1 is never sent, the
  launcher exits 1 saying so, the daemon itself 0 (a stop it was asked
  for, as systemd expects from a unit stopped while activating).  A second
  signal exits at once.
"""

import os
import signal
import sys

# Everything used after --chroot is imported here, before it: inside the
# jail the modules' files may not exist (test_chrootKeepsPidfileAndLogWorking).
from reactor import log
from reactor.defer import DeferredList, maybeDeferred
from reactor.error import CannotListenError
from reactor.interfaces import IListeningPort
from reactor.task import LoopingCall
from services import systemd
from services.daemon import DaemonError, describeStartupError, redirectStandardStreams
from services.service import IProcess, IServiceCollection, pendingStops, stopCallsInProgress
from services.stopdeadline import ShutdownDeadline, threadStack

__all__ = ["Launch", "StartupError", "walkServices", "HANDLED_SIGNALS"]

HANDLED_SIGNALS = (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGUSR1)
"""The signals loomd handles, blocked from before the fork until their handlers exist."""


class StartupError(Exception):
    """A start-up step failed; the message is what the user reads."""


class Launch:
    """One run of loomd with parsed LoomdOptions."""

    def __init__(self, options):
        self.options = options
        self.application = None
        self.reactor = None
        self.pidfile = None
        self.reporter = None
        self.logging = None
        self._earlyLog = None
        self.exitCode = 0
        self.ready = False
        self.shuttingDown = False
        self.uid = self.gid = None
        # Set by the signal handler itself, before the loop hears of it.
        self._stopSignal = None
        self._queuedSignals = set()
        self._reloading = False
        self._reloadQueued = False
        self._deadline = None
        self._rootStopReturned = True

    # -- before daemonizing: everything that can be checked in the launcher --

    def start(self):
        """Run loomd; return the exit status (in the launcher, or in foreground)."""
        from services.daemonlog import EarlyLog

        # What the .tac logs while it loads is kept for the log, set up later.
        self._earlyLog = EarlyLog()
        try:
            self._installReactor()
            self.application = self._loadApplication()
            self.uid, self.gid = self._credentials()
            if self.options["check"]:
                from services.check import checkApplication

                self._earlyLog.stop()
                return checkApplication(self)
            self._precheckPidfile()
        except StartupError as error:
            self._earlyLog.stop()
            sys.stderr.write("loomd: %s\n" % (error,))
            return 1
        if self.options["nodaemon"]:
            self.reporter = _ForegroundReporter()
            return self._serve()
        return self._daemonize()

    def _installReactor(self):
        import reactor

        name = self.options["reactor"]
        try:
            self.reactor = reactor.install(name)
        except ValueError as error:
            raise StartupError(str(error)) from None
        except reactor.ReactorAlreadyInstalledError:
            self.reactor = reactor.getReactor()

    def _loadApplication(self):
        from services.service import Application, TacError, loadApplication

        if self.options["python"]:
            try:
                return loadApplication(self.options["python"])
            except TacError as error:
                raise StartupError(str(error)) from None
        maker = _findMaker(self.options.subCommand)
        try:
            service = maker.makeService(self.options.subOptions)
        except Exception as error:
            raise StartupError(
                "plugin %s failed to build its service: %s" % (maker.tapname, error)
            ) from None
        application = Application(maker.tapname)
        service.setServiceParent(application)
        return application

    def _credentials(self):
        from services.privileges import PrivilegeError, resolveGroup, resolveUser

        # As twistd: -u/-g win, else what IProcess(application) says (a
        # root that does not adapt to IProcess leaves the ids alone).
        process = IProcess(self.application, None)
        uid = self.options["uid"] or getattr(process, "uid", None)
        gid = self.options["gid"] or getattr(process, "gid", None)
        try:
            uid = resolveUser(uid) if uid is not None else None
            gid = resolveGroup(gid) if gid is not None else None
        except PrivilegeError as error:
            raise StartupError(str(error)) from None
        return uid, gid

    def _pidfilePath(self):
        path = self.options["pidfile"]
        if not path:
            return None
        if os.getpid() == 1 and not self.options.explicitPidfile:
            return None  # a container's init writes no pidfile unless asked
        return path

    def _precheckPidfile(self):
        from services.pidfile import PidFileError, lockHolder

        path = self._pidfilePath()
        if path is None:
            return
        try:
            locked, pid = lockHolder(path)
        except PidFileError as error:
            raise StartupError(str(error)) from None
        if locked:
            raise StartupError("already running (pid %s)" % (pid,))

    # -- daemon mode ------------------------------------------------------------

    def _daemonize(self):
        from services.daemon import StartupFailed, StatusPipe, daemonize

        pipe = StatusPipe()
        if daemonize(pipe, blockSignals=HANDLED_SIGNALS) is not None:
            # The launching process: wait for the one readiness point (what
            # the .tac logged goes to the daemon's log, not to ours).
            self._earlyLog.stop()
            try:
                pipe.waitForReady(self.options["start_timeout"])
            except StartupFailed as error:
                self._removeKilledDaemonsPidfile(pipe.daemonPid)
                sys.stderr.write("loomd: %s\n" % (error,))
                return 1
            return 0
        self.reporter = _PipeReporter(pipe)
        code = 1
        try:
            code = self._serve()
        except BaseException as error:
            self.reporter.error(describeStartupError(error))
        finally:
            os._exit(code)

    def _removeKilledDaemonsPidfile(self, daemonPid):
        """
        After a failed start the daemon is gone, but when it had to be
        killed (a start-up that blocked the loop past --start-timeout) it
        could not remove its pidfile: remove it if it still names that
        daemon and nobody holds its lock.
        """
        from services.pidfile import removeStale

        path = self._pidfilePath()
        if path is not None and daemonPid is not None:
            removeStale(path, pid=daemonPid)

    # -- the process that serves ------------------------------------------------

    def _serve(self):
        options = self.options
        # First of all, before the pidfile tells the world we run: from now
        # on a signal is queued for the loop, never fatal.
        self._installSignals()
        try:
            self._changeToRundir()
            umask = options["umask"]
            if umask is None and not options["nodaemon"]:
                umask = 0o077
            if umask is not None:
                os.umask(umask)
            self._setupLogging()
            self._acquirePidfile()
            self._privilegedStart()
            self._dropPrivileges()
            if not options["nodaemon"]:
                try:
                    redirectStandardStreams()
                except DaemonError as error:
                    raise StartupError(str(error)) from None
        except StartupError as error:
            return self._fail(str(error))
        # Only now, the standard streams being in place: the wakeup pipe
        # could otherwise take descriptor 0, 1 or 2 and be overwritten.  The
        # loop has not slept yet, so no signal has needed it.
        self.reactor.installSignalWakeup()
        self.reactor.callWhenRunning(self._startServices)
        return self._run()

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

    def _changeToRundir(self):
        rundir = self.options["rundir"]
        try:
            os.chdir(rundir)
        except OSError as error:
            raise StartupError(
                "cannot change to run directory %s: %s" % (rundir, error.strerror)
            ) from None

    def _setupLogging(self):
        from reactor._safeopen import RefusedFile
        from services.daemonlog import DaemonLogging, replay

        early = self._earlyLog.stop() if self._earlyLog is not None else []
        try:
            self.logging = DaemonLogging(self.options)
        except RefusedFile as error:
            # "refusing to open log file X: it is a symbolic link" says it all.
            raise StartupError(str(error)) from None
        except OSError as error:
            raise StartupError(
                "cannot open log file %s: %s" % (error.filename, error.strerror)
            ) from None
        except ValueError as error:
            raise StartupError(str(error)) from None
        log.msg("loomd starting (pid %d, reactor %s)" % (os.getpid(), type(self.reactor).__name__))
        replay(early)

    def _acquirePidfile(self):
        from services.pidfile import AlreadyRunning, PidFile, PidFileError

        path = self._pidfilePath()
        if path is None:
            return
        self.pidfile = PidFile(path)
        try:
            self.pidfile.acquire()
        except AlreadyRunning as error:
            self.pidfile = None
            raise StartupError(str(error)) from None
        except PidFileError as error:
            # Its message names the pidfile and the reason already.
            self.pidfile = None
            raise StartupError(str(error)) from None
        except OSError as error:
            self.pidfile = None
            raise StartupError("cannot write pidfile %s: %s" % (path, error.strerror)) from None

    def _privilegedStart(self):

        try:
            self.application.privilegedStartService()
        except CannotListenError as error:
            raise StartupError(str(error)) from None
        except SystemExit as exit:
            raise StartupError(
                "a service called sys.exit(%s) during start-up" % (exit.code,)
            ) from None
        except Exception as error:
            log.err(None, "privilegedStartService failed")
            raise StartupError("start-up failed: %s" % (_describe(error),)) from None

    def _dropPrivileges(self):
        from services.privileges import PrivilegeError, chroot, shedPrivileges

        try:
            if self.logging is not None:
                self.logging.prepareForUser(self.uid, self.gid)
            if self.options["chroot"]:
                chroot(self.options["chroot"])
                if self.logging is not None:
                    self.logging.enterChroot(self.options["chroot"])
            if self.uid is not None or self.gid is not None:
                description = shedPrivileges(self.uid, self.gid, euid=self.options["euid"])
                log.msg(description)
        except (PrivilegeError, OSError) as error:
            raise StartupError(str(error)) from None

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
            message = str(failure.value)
        else:
            log.err(failure, "startService failed")
            message = "start-up failed: %s" % (_describe(failure.value),)
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
        if os.getpid() == 1:
            reactor = self.reactor
            signal.signal(signal.SIGCHLD, lambda s, f: reactor.callFromThread(_reapChildren))
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
        self._queuedSignals.discard(signum)
        if signum == signal.SIGHUP:
            self._onReloadSignal()
        else:
            self._reopenLogs()

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
        self._rootStopReturned = False
        try:
            d = maybeDeferred(self.application.stopService)
        finally:
            self._rootStopReturned = True
        d.addBoth(self._stopped)
        d.addErrback(log.err, "stopService failed")

    def _stopped(self, result):
        # The deadline, if it passed, has already ended the loop.
        if self.reactor.running:
            self.reactor.stop()
        return result

    def _closeListeningPorts(self):
        # No new connections while the services wind down.

        for reader in self.reactor.getReaders():
            if IListeningPort.providedBy(reader):
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
            reload = getattr(service, "reload", None)
            if callable(reload):
                pending.append(maybeDeferred(reload).addErrback(log.err, "reload failed"))
        DeferredList(pending).addCallback(self._reloaded)

    def _reloaded(self, ignored):
        self._reloading = False
        if self.shuttingDown:
            return  # STOPPING=1 was said; READY=1 now would contradict it
        if self._reloadQueued:
            self._reload("Reloading services again: a SIGHUP came during the reload.")
            return
        systemd.notify("READY=1\nSTATUS=running")
        log.msg("reload finished")

    def _reopenLogs(self):
        if self.logging is not None:
            self.logging.reopen()


class _ForegroundReporter:
    # loomd -n: start-up failures go to stderr as well as to the log.
    def ready(self):
        pass

    def error(self, message):
        sys.__stderr__.write("loomd: %s\n" % (message,))
        sys.__stderr__.flush()


class _PipeReporter:
    # Daemon mode: the launcher is waiting on the status pipe.
    def __init__(self, pipe):
        self.pipe = pipe

    def ready(self):
        self.pipe.reportReady()

    def error(self, message):
        self.pipe.reportError(message)


def walkServices(service):
    """Yield service and every service under it, parents first."""

    yield service
    if IServiceCollection.providedBy(service):
        for child in service:
            yield from walkServices(child)


def _root(service):
    # The root's label, as pendingStops paths begin with it.
    return str(service.name) if service.name is not None else "<%s>" % (type(service).__name__,)


def _findMaker(name):
    from services.plugins import getPlugins

    makers, failures = getPlugins()
    for maker in makers:
        if maker.tapname == name:
            return maker
    raise StartupError("unknown plugin %r" % (name,))


def _reapChildren():
    # As PID 1 we inherit orphans: reap them, or they stay zombies.
    while True:
        try:
            pid, _ = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return


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


def _describe(error):
    text = str(error)
    return "%s: %s" % (type(error).__name__, text) if text else type(error).__name__
