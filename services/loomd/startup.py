"""
The serving process's start-up steps, before its loop runs, in the order
the Daemon (services.loomd.lifecycle) calls them:

    changeToRundir -> setUmask -> openLog -> acquirePidfile
    -> privilegedStart -> dropPrivileges (chroot, then user and group)
    -> redirectStreams

Each step either does its whole job or raises StartupError, whose message
is what the user reads (the launcher's terminal, the log, systemd's
status), naming the file or the service and the reason.  Nothing here
catches more than it can describe: an unexpected error in a service's
privilegedStartService is logged with its traceback, then reported.

Everything the steps use after ``--chroot`` is imported before the chroot
(at the latest by the step that calls it): inside the jail the modules'
files may not exist (test_chrootKeepsPidfileAndLogWorking).
"""

import os

from reactor import log
from reactor.error import CannotListenError
from services.loomd.daemon import DaemonError, redirectStandardStreams
from services.loomd.lowports import listenFailure

__all__ = [
    "StartupError",
    "changeToRundir",
    "setUmask",
    "openLog",
    "acquirePidfile",
    "privilegedStart",
    "dropPrivileges",
    "redirectStreams",
    "describe",
]


class StartupError(Exception):
    """A start-up step failed; the message is what the user reads."""


def changeToRundir(rundir):
    """Change to the run directory (``--rundir``)."""
    try:
        os.chdir(rundir)
    except OSError as error:
        raise StartupError(
            "cannot change to run directory %s: %s" % (rundir, error.strerror)
        ) from None


def setUmask(options):
    """Set ``--umask``; a daemon without one gets 0o077, a foreground run keeps its own."""
    umask = options["umask"]
    if umask is None and not options["nodaemon"]:
        umask = 0o077
    if umask is not None:
        os.umask(umask)


def openLog(options, earlyLog, reactorName):
    """
    Open the log the options ask for and replay into it what was logged
    before it existed.

    :param earlyLog: the launcher's EarlyLog, or None.
    :param reactorName: the reactor's class name, for the first line.
    :return: the DaemonLogging.
    """
    from reactor._safeopen import RefusedFile
    from services.loomd.daemonlog import DaemonLogging, replay

    early = earlyLog.stop() if earlyLog is not None else []
    try:
        logging = DaemonLogging(options)
    except RefusedFile as error:
        # "refusing to open log file X: it is a symbolic link" says it all.
        raise StartupError(str(error)) from None
    except OSError as error:
        raise StartupError(
            "cannot open log file %s: %s" % (error.filename, error.strerror)
        ) from None
    except ValueError as error:
        raise StartupError(str(error)) from None
    log.msg("loomd starting (pid %d, reactor %s)" % (os.getpid(), reactorName))
    replay(early)
    return logging


def acquirePidfile(path):
    """
    Write and lock the pidfile at path (services.loomd.pidfile).

    :return: the held PidFile, or None when path is None (no pidfile).
    """
    from services.loomd.pidfile import PidFile, PidFileError

    if path is None:
        return None
    pidfile = PidFile(path)
    try:
        pidfile.acquire()
    except PidFileError as error:
        # AlreadyRunning included: its message names the pidfile and the reason.
        raise StartupError(str(error)) from None
    except OSError as error:
        raise StartupError("cannot write pidfile %s: %s" % (path, error.strerror)) from None
    return pidfile


def privilegedStart(application):
    """Call the application's privilegedStartService (binding low ports as root)."""
    try:
        application.privilegedStartService()
    except CannotListenError as error:
        raise StartupError(listenFailure(error)) from None
    except SystemExit as exit:
        raise StartupError("a service called sys.exit(%s) during start-up" % (exit.code,)) from None
    except Exception as error:
        log.err(None, "privilegedStartService failed")
        raise StartupError("start-up failed: %s" % (describe(error),)) from None


def dropPrivileges(options, logging, uid, gid):
    """
    Give the log to the target user, chroot (``--chroot``), then shed
    privileges to uid/gid (or only the effective ids, ``--euid``).

    :param logging: the DaemonLogging, or None.
    """
    from services.loomd.privileges import PrivilegeError, chroot, shedPrivileges

    if options["chroot"] or uid is not None or gid is not None:
        # The reactor imports its transports when first asked to listen or
        # connect, and its thread pool when first asked for it; a service
        # doing so in startService or later would find them outside the
        # jail, or in a directory the user may not read.  The same goes for
        # the codec of str.encode("idna"), which the HTTP client and the
        # reverse proxy use for host names (test_loomdWebProxiesAndRunsWsgiInsideTheChroot).
        import encodings.idna  # noqa: F401

        import reactor.tcp
        import reactor.threadpool
        import reactor.udp
        import reactor.unix  # noqa: F401

    try:
        if logging is not None:
            logging.prepareForUser(uid, gid)
        if options["chroot"]:
            chroot(options["chroot"])
            if logging is not None:
                logging.enterChroot(options["chroot"])
        if uid is not None or gid is not None:
            log.msg(shedPrivileges(uid, gid, euid=options["euid"]))
    except (PrivilegeError, OSError) as error:
        raise StartupError(str(error)) from None


def redirectStreams():
    """Point descriptors 0, 1 and 2 at /dev/null (daemon mode, once the log is open)."""
    try:
        redirectStandardStreams()
    except DaemonError as error:
        raise StartupError(str(error)) from None


def describe(error):
    """``Type: text`` (or just ``Type``) for an exception a service raised."""
    text = str(error)
    return "%s: %s" % (type(error).__name__, text) if text else type(error).__name__
