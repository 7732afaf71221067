"""
The launching process: what ``loomd`` does before anything serves.

    install the reactor -> load the application -> resolve the user and group
    -> --check and exit, or: pre-check the files (services.loomd.preflight)
       and the TLS certificates (services.loomd.certificates)
    -> serve here (-n), or daemonize and wait on the status pipe

The one idea: everything that can be checked in the process the user
started is checked here, before the fork, so that its failure is printed on
the user's terminal and loomd exits 1 at once.  What only the serving
process can do (bind, write the pidfile, drop privileges, start the
services) is services.loomd.lifecycle's Daemon; in daemon mode the launcher
then only waits for the one readiness point, the daemon's ``ok`` or error
on the status pipe (services.loomd.daemon), and exits 0 or 1 with it.
"""

import logging
import os
import sys

from reactor import log
from services.loomd.daemon import StartupFailed, StatusPipe, daemonize
from services.loomd.daemonlog import EarlyLog
from services.loomd.lifecycle import HANDLED_SIGNALS, Daemon
from services.loomd.startup import StartupError
from services.service import Application, IProcess, TacError, loadApplication

__all__ = ["Launcher", "buildApplication", "credentials"]


class Launcher:
    """
    One run of loomd with parsed LoomdOptions, in the process the user started.

    :ivar options: the LoomdOptions.
    :ivar reactor: the installed reactor, once ``start`` has installed it.
    :ivar application: the loaded application (the service tree's root).
    :ivar uid: the user id to run as, or None to keep it.
    :ivar gid: the group id to run as, or None to keep it.
    """

    def __init__(self, options):
        self.options = options
        self.reactor = None
        self.application = None
        self.uid = self.gid = None
        self._earlyLog = None
        self._triggerMark = None

    def start(self):
        """Run loomd; return the exit status (of the launcher, or of a foreground run)."""
        # What the .tac logs while it loads is kept for the log, set up
        # later; its warnings are shown at once, unless that log is the
        # terminal (-n): it replays them there in a moment.
        self._earlyLog = EarlyLog(echo=not _logsToTerminal(self.options))
        try:
            self.reactor = _installReactor(self.options["reactor"])
            if self.options["workers"] and not _forks(self.reactor):
                raise StartupError(
                    "--workers needs the epoll, poll or select reactor: "
                    "the asyncio reactor cannot be carried into a forked worker"
                )
            # What the .tac adds to the reactor's triggers from here on is
            # its load's: the workers' master tells them by this mark.
            self._triggerMark = self.reactor.markSystemEventTriggers()
            self.application = buildApplication(self.options)
            self.uid, self.gid = credentials(self.options, self.application)
            if self.options["check"]:
                return self._check()
            self._preflight()
        except StartupError as error:
            self._earlyLog.abandon()
            sys.stderr.write("loomd: %s\n" % (error,))
            return 1
        if self.options["nodaemon"]:
            daemon = self._daemon()
            return daemon.serve(_ForegroundReporter(daemon))
        return self._daemonize()

    def _check(self):
        from services.loomd.check import checkApplication

        self._earlyLog.abandon()  # no log will replay what the .tac logged
        return checkApplication(self.options, self.application, self.uid, self.gid)

    def _preflight(self):
        # What --check says of the files and certificates, the start says:
        # the first error ends it before anything is forked or logged; a
        # warning is shown (as --check shows it) and goes to the log.
        from services.loomd.certificates import examineCertificates
        from services.loomd.preflight import examine

        findings = examine(self.options, self.uid, self.gid)
        if not findings.errors:
            certificates = examineCertificates(
                self.application,
                self.uid,
                self.gid,
                euid=self.options["euid"],
                chroot=self.options["chroot"] or None,
            )
            findings.errors += certificates.errors
            findings.warnings += certificates.warnings
        if findings.errors:
            raise StartupError(findings.errors[0])
        for warning in findings.warnings:
            if self._earlyLog.echo:
                sys.stderr.write("loomd: warning: %s\n" % (warning,))
            log.msg(warning, system="loomd", logLevel=logging.WARNING, echoed=self._earlyLog.echo)

    def _daemon(self):
        if self.options["workers"]:
            from services.loomd.workers import Master

            return Master(
                self.options,
                self.reactor,
                self.application,
                self.uid,
                self.gid,
                self._earlyLog,
                load=buildApplication,
                triggerMark=self._triggerMark,
            )
        return Daemon(
            self.options, self.reactor, self.application, self.uid, self.gid, self._earlyLog
        )

    def _daemonize(self):
        pipe = StatusPipe()
        if daemonize(pipe, blockSignals=HANDLED_SIGNALS) is not None:
            # What the .tac logged goes to the daemon's log, not to ours.
            self._earlyLog.stop()
            return self._waitForDaemon(pipe)
        # The daemon: it never returns into the launcher's code, and an
        # exception escaping it still reaches the launcher.
        code = 1
        try:
            with pipe.reportingErrors():
                code = self._daemon().serve(_PipeReporter(pipe))
        finally:
            os._exit(code)

    def _waitForDaemon(self, pipe):
        try:
            pipe.waitForReady(self.options["start_timeout"])
        except StartupFailed as error:
            self._removeKilledDaemonsPidfile(pipe.daemonPid)
            sys.stderr.write("loomd: %s\n" % (error,))
            return 1
        return 0

    def _removeKilledDaemonsPidfile(self, daemonPid):
        """
        After a failed start the daemon is gone, but when it had to be
        killed (a start-up that blocked the loop past --start-timeout) it
        could not remove its pidfile: remove it if it still names that
        daemon and nobody holds its lock.
        """
        from services.loomd.pidfile import removeStale

        path = self.options.pidfilePath()
        if path is not None and daemonPid is not None:
            removeStale(path, pid=daemonPid)


def _forks(reactor):
    # Whether the reactor can be made a forked child's own (reactor.afterFork).
    from reactor.asyncioreactor import AsyncioReactor

    return not isinstance(reactor, AsyncioReactor)


def _installReactor(name):
    import reactor

    try:
        return reactor.install(name)
    except ValueError as error:
        raise StartupError(str(error)) from None
    except reactor.ReactorAlreadyInstalledError:
        return reactor.getReactor()


def buildApplication(options):
    """
    Return the application the options name: the .tac's (``-y``), or one
    holding the service of the plugin named on the command line.  The
    .tac's directory goes first on sys.path, so it can import its neighbours.

    :raises StartupError: the .tac cannot be loaded, the plugin is unknown
        or its makeService fails (the message says which and why).
    """
    if options["python"]:
        _importableNextTo(options["python"])
        try:
            return loadApplication(options["python"])
        except TacError as error:
            raise StartupError(str(error)) from None
    maker = _findMaker(options.subCommand)
    try:
        service = maker.makeService(options.subOptions)
    except Exception as error:
        raise StartupError(
            "plugin %s failed to build its service: %s" % (maker.tapname, error)
        ) from None
    application = Application(maker.tapname)
    service.setServiceParent(application)
    return application


def _importableNextTo(tac):
    """
    Put the .tac's directory first on sys.path, as Python does for a
    script's: a .tac imports the modules that sit next to it, wherever
    loomd was started (test_tacImportsTheModulesNextToIt).
    """
    directory = os.path.dirname(os.path.abspath(tac))
    if directory not in sys.path:
        sys.path.insert(0, directory)


def credentials(options, application):
    """
    Return the (uid, gid) to run as, each None to keep it.

    As twistd: ``-u``/``-g`` win, else what IProcess(application) says (a
    root that does not adapt to IProcess leaves the ids alone).

    :raises StartupError: an unknown user or group.
    """
    from services.loomd.privileges import PrivilegeError, resolveGroup, resolveUser

    process = IProcess(application, None)
    uid = options["uid"] or getattr(process, "uid", None)
    gid = options["gid"] or getattr(process, "gid", None)
    try:
        uid = resolveUser(uid) if uid is not None else None
        gid = resolveGroup(gid) if gid is not None else None
    except PrivilegeError as error:
        raise StartupError(str(error)) from None
    return uid, gid


def _findMaker(name):
    from services.plugins import getPlugins

    makers, failures = getPlugins()
    for maker in makers:
        if maker.tapname == name:
            return maker
    raise StartupError("unknown plugin %r" % (name,))


def _logsToTerminal(options):
    # -n logging to standard output: the log is what the user reads.
    return options["nodaemon"] and not options["syslog"] and options["logfile"] in (None, "-")


class _ForegroundReporter:
    # loomd -n: a start-up failure is said once: by the log when it is on
    # standard output (test_foregroundErrorIsPrintedOnce), else on stderr.
    def __init__(self, daemon):
        self.daemon = daemon

    def ready(self):
        pass

    def forget(self):
        pass

    def error(self, message):
        daemonLog = self.daemon.logging
        if daemonLog is not None and daemonLog.showsErrorsOnStandardOutput():
            return
        sys.__stderr__.write("loomd: %s\n" % (message,))
        sys.__stderr__.flush()


class _PipeReporter:
    # Daemon mode: the launcher is waiting on the status pipe.
    def __init__(self, pipe):
        self.pipe = pipe

    def ready(self):
        self.pipe.reportReady()

    def forget(self):
        # In a forked worker (--workers): the master reports, not this copy.
        if self.pipe.writeFd is not None:
            os.close(self.pipe.writeFd)
            self.pipe.writeFd = None

    def error(self, message):
        self.pipe.reportError(message)
