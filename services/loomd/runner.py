"""
``loomd``: load an application and run it, in the foreground or as a daemon.

The start-up order is the contract (DESIGN.md): parse options, load the
application, check the pidfile, daemonize, write the pidfile, bind low ports
(privilegedStartService), shed privileges, start the services, report ready,
run.  One readiness point serves every caller: the launching process waiting
on the status pipe, systemd waiting for READY=1, and a foreground user reading
the log.  Every failure before it is reported there, so the launcher never
hangs and never exits 0 for a daemon that is not serving.

This module holds the options and the choice of mode.  The launching
process's part (load, check, daemonize, wait) is services.loomd.launcher;
the serving process's life (start, signals, shutdown) is
services.loomd.lifecycle (its steps before the loop: services.loomd.startup),
and the pieces they use are services.loomd.daemon, pidfile, privileges,
logfile and systemd.  services.runner, the documented
entry point, re-exports ``main``, ``run`` and ``LoomdOptions`` from here.
"""

import math
import os
import sys

from services.loomd import control
from services.usage import Options, UsageError

__all__ = ["LoomdOptions", "main", "run", "DEFAULT_PIDFILE"]

DEFAULT_PIDFILE = "loomd.pid"


def _version():
    try:
        from importlib.metadata import version

        return version("loom")
    except Exception:
        return "(unknown version)"


def _octal(value):
    return int(value, 8)


_octal.coerceDoc = "An octal number, such as 022 or 0o077."  # type: ignore[attr-defined]


def _seconds(value):
    number = float(value)
    if number < 0:
        raise ValueError("must not be negative")
    return number


def _choice(*choices):
    def coerce(value):
        if value not in choices:
            raise ValueError("choose one of: %s" % ", ".join(choices))
        return value

    coerce.coerceDoc = "One of: %s." % ", ".join(choices)
    return coerce


def _workerCount(value):
    from services.loomd.workers import workerCount

    return workerCount(value)


_workerCount.coerceDoc = "A number of processes, or auto (one per usable CPU)."  # type: ignore[attr-defined]


# The synopsis's first part: all of it once a plugin is named.
_USAGE = "Usage: loomd [options]"


class LoomdOptions(Options):
    """The options of loomd, twistd's and a few of its own."""

    synopsis = _USAGE + " (-y FILE.tac | PLUGIN [plugin options])"
    longdesc = (
        "Run a Loom application in the foreground (-n) or as a daemon. "
        "The launcher exits 0 only once every service has started."
    )

    def getSynopsis(self):
        """
        The synopsis; once a plugin is chosen, the part before its name
        only (``loomd web --help``: "Usage: loomd [options] web ...").
        """
        if self.subCommand is not None:
            return _USAGE
        return self.synopsis

    optFlags = [
        ["nodaemon", "n", "Do not daemonize: run in the foreground."],
        ["syslog", None, "Log to syslog, not to a file."],
        ["euid", "e", "Set only the effective user and group ids (keep the real ones)."],
        ["no_save", "o", "Accepted for twistd compatibility; has no effect."],
        ["check", None, "Load and validate the application, bind nothing, and exit."],
        ["status", None, "Report whether the daemon of --pidfile runs (LSB exit codes)."],
        ["stop", None, "Stop the daemon of --pidfile (SIGTERM, wait --timeout)."],
        ["reload", None, "Ask the daemon of --pidfile to reload (SIGHUP)."],
        [
            "log-status",
            None,
            "Ask the daemon of --pidfile to log its services' state (SIGUSR2).",
        ],
        ["help-reactors", None, "List the reactors and exit."],
        ["print-systemd-unit", None, "Print a systemd unit running this command, and exit."],
    ]

    optParameters = [
        ["python", "y", None, "Read the application from this .tac file."],
        ["pidfile", None, DEFAULT_PIDFILE, "Pidfile path; an empty value disables it."],
        ["logfile", "l", None, "Log file path; '-' is standard output."],
        ["prefix", None, "loomd", "The ident of syslog lines."],
        ["syslog-facility", None, "daemon", "The syslog facility (daemon, local0, ...)."],
        ["syslog-socket", None, "/dev/log", "The syslog daemon's UNIX socket."],
        ["rundir", "d", ".", "Change to this directory before running."],
        ["chroot", None, None, "Chroot to this directory after binding ports."],
        ["uid", "u", None, "Run as this user (name or number)."],
        ["gid", "g", None, "Run as this group (name or number)."],
        [
            "umask",
            None,
            None,
            "The umask (default 0o077 for a daemon, unchanged otherwise).",
            _octal,
        ],
        ["reactor", "r", None, "The reactor: epoll, poll, select or asyncio."],
        [
            "log-level",
            None,
            "info",
            "The lowest level logged.",
            _choice("debug", "info", "warning", "error", "critical"),
        ],
        ["log-format", None, "text", "Log line format.", _choice("text", "json")],
        ["log-max-bytes", None, 10_000_000, "Rotate the log at this size (0: never by size).", int],
        ["log-backups", None, 10, "How many rotated logs to keep.", int],
        ["log-rotate", None, "size", "When to rotate the log.", _choice("size", "daily", "never")],
        ["shutdown-timeout", None, 30.0, "Seconds to wait for services to stop.", _seconds],
        ["start-timeout", None, 60.0, "Seconds the launcher waits for start-up.", _seconds],
        ["timeout", None, 10.0, "Seconds --stop waits for the daemon to exit.", _seconds],
        ["print-init-script", None, None, "Print an LSB init script named NAME, and exit."],
        [
            "shell",
            None,
            None,
            "Open a Python console into the daemon on unix:PATH (mode 0600; "
            "its user and root only). Off by default.",
        ],
        [
            "shell-blocking-limit",
            None,
            5.0,
            "Report a shell line still running after this many seconds (0: never).",
            _seconds,
        ],
        ["attach", None, None, "Attach to the shell of a running daemon (--shell) at PATH."],
        [
            "workers",
            None,
            None,
            "Serve with N pre-forked worker processes sharing the ports (auto: one per CPU).",
            _workerCount,
        ],
    ]

    optPlaceholders = {
        "python": "FILE.tac",
        "pidfile": "FILE",
        "logfile": "FILE",
        "prefix": "IDENT",
        "syslog-facility": "FACILITY",
        "syslog-socket": "PATH",
        "rundir": "DIR",
        "chroot": "DIR",
        "uid": "USER",
        "gid": "GROUP",
        "umask": "MODE",
        "reactor": "NAME",
        "log-level": "LEVEL",
        "log-format": "FORMAT",
        "log-max-bytes": "BYTES",
        "log-backups": "COUNT",
        "log-rotate": "WHEN",
        "shutdown-timeout": "SECONDS",
        "start-timeout": "SECONDS",
        "timeout": "SECONDS",
        "print-init-script": "NAME",
        "shell": "unix:PATH",
        "shell-blocking-limit": "SECONDS",
        "attach": "PATH",
        "workers": "N",
    }

    def __init__(self):
        Options.__init__(self)
        self.explicitPidfile = False
        self._subCommands = None
        self.pluginFailures = []

    @property
    def subCommands(self):
        # Finding plugins reads the metadata of every installed distribution:
        # done only when a plugin name or --help needs the list, not for -y.
        if self._subCommands is None:
            self._subCommands = self._pluginCommands()
        return self._subCommands

    def _pluginCommands(self):
        try:
            from services.plugins import getPlugins
        except ImportError:
            return []
        makers, failures = getPlugins()
        self.pluginFailures = failures
        return [[m.tapname, None, m.options, m.description] for m in makers]

    def opt_pidfile(self, value):
        """Pidfile path; an empty value disables it."""
        self["pidfile"] = value
        self.explicitPidfile = True

    def opt_version(self):
        """Print the version and exit."""
        print("loomd (Loom) %s" % (_version(),))
        sys.exit(0)

    def postOptions(self):
        modes = [
            m for m in ("check", "status", "stop", "reload", "log_status", "attach") if self[m]
        ]
        if len(modes) > 1:
            raise UsageError("choose one of --%s" % ", --".join(m.replace("_", "-") for m in modes))
        controlOnly = modes and modes[0] != "check"
        informational = (
            self["help_reactors"] or self["print_init_script"] or self["print_systemd_unit"]
        )
        if self["python"] and self.subCommand:
            raise UsageError("give either -y FILE.tac or a plugin name, not both")
        if not (self["python"] or self.subCommand or controlOnly or informational):
            raise UsageError("nothing to run: give -y FILE.tac or a plugin name")
        if self["shell"]:
            self["shell"] = "unix:" + os.path.abspath(_shellPath(self["shell"]))
        self.absolutePaths()

    def pidfilePath(self):
        """
        Return the pidfile this run uses, or None when there is none: an
        empty --pidfile, or loomd running as a container's init (PID 1)
        without an explicit --pidfile.
        """
        path = self["pidfile"]
        if not path:
            return None
        if os.getpid() == 1 and not self.explicitPidfile:
            return None  # a container's init writes no pidfile unless asked
        return path

    def absolutePaths(self):
        # A path on the command line means the same file before and after
        # --rundir and --chroot: resolve it against the launch directory now.
        for key in ("python", "logfile", "pidfile", "chroot", "syslog_socket", "attach"):
            value = self[key]
            if value and value != "-":
                if key == "pidfile" and not self.explicitPidfile:
                    # Only the default lives in the run directory.
                    value = os.path.join(os.path.abspath(self["rundir"]), value)
                self[key] = os.path.abspath(value)
        self["rundir"] = os.path.abspath(self["rundir"])


def _shellPath(description):
    # --shell is unix:PATH and nothing else: the shell never listens on a network.
    kind, colon, path = description.partition(":")
    if kind != "unix" or not colon or not path:
        raise UsageError(
            "--shell takes unix:PATH (the shell listens only on a UNIX socket), not %r"
            % (description,)
        )
    return path


def run(argv):
    """
    Run loomd with argv (without the program name).

    :return: the process exit status.
    """
    options = LoomdOptions()
    try:
        options.parseOptions(argv)
    except UsageError as error:
        sys.stderr.write("loomd: %s\nRun 'loomd --help' for usage.\n" % (error,))
        return 1
    if options["help_reactors"]:
        return _helpReactors()
    explicit = options.explicitPidfile
    if options["status"]:
        return control.status(options["pidfile"], explicit=explicit)
    if options["stop"]:
        return control.stop(options["pidfile"], options["timeout"], explicit=explicit)
    if options["reload"]:
        return control.reload(options["pidfile"], explicit=explicit)
    if options["log_status"]:
        return control.logStatus(options["pidfile"], explicit=explicit)
    if options["attach"]:
        from services.loomd.attach import attach

        return attach(options["attach"])
    if options["print_init_script"] or options["print_systemd_unit"]:
        return _printDeployment(options, argv)
    from services.loomd.launcher import Launcher

    return Launcher(options).start()


def _helpReactors():
    import reactor

    for name in reactor.REACTORS:
        marker = " (default)" if name == reactor.defaultReactorName() else ""
        print("    %-8s%s" % (name, marker))
    return 0


def _printDeployment(options, argv):
    from services.loomd import deploy

    args = _deploymentArguments(argv)
    if options["print_init_script"]:
        sys.stdout.write(
            deploy.initScript(
                options["print_init_script"],
                _withoutNodaemon(args),
                options["pidfile"] or None,
                stopTimeout=math.ceil(options["shutdown_timeout"]) + STOP_MARGIN,
            )
        )
    else:
        application = _loadForDeployment(options)
        endpoints = _systemdEndpoints(options, args, application)
        base = _unitBase(options)
        sockets = deploy.systemdSocketUnits(base, endpoints) if endpoints else []
        unit = deploy.systemdUnit(
            args,
            description="%s (Loom application)" % (_applicationName(options, application),),
            shutdownTimeout=options["shutdown_timeout"],
            socketUnit=[name for name, _ in sockets] or None,
        )
        if not sockets:
            sys.stdout.write(unit)
            return 0
        sys.stdout.write("# --- %s.service ---\n%s" % (base, unit))
        for name, text in sockets:
            sys.stdout.write(
                "\n# --- %s: set each ListenStream=/ListenDatagram= address ---\n%s" % (name, text)
            )
    return 0


def _loadForDeployment(options):
    # The .tac's application, to read its name and its systemd: endpoints;
    # None for a plugin, or a .tac that does not load (the unit is still
    # printed: the start will say what is wrong).
    if not options["python"]:
        return None
    from services.loomd.launcher import buildApplication
    from services.loomd.startup import StartupError

    try:
        return buildApplication(options)
    except StartupError:
        return None


def _applicationName(options, application):
    """What Description= calls the application: its name, else the unit's base name."""
    name = getattr(application, "name", None)
    return name if isinstance(name, str) and name else _unitBase(options)


def _unitBase(options):
    # The unit name the socket units' Service= points at: the .tac's or
    # the plugin's name.
    if options["python"]:
        name = os.path.splitext(os.path.basename(options["python"]))[0]
    else:
        name = options.subCommand or "loomd"
    name = "".join(c if c.isalnum() or c in "_.@-" else "-" for c in name)
    return name or "loomd"


def _systemdEndpoints(options, args, application):
    """
    Return (kind, index, name) for each socket the application takes from
    systemd, in the order found: ``systemd:`` endpoints (kind "stream") of
    the plugin's arguments or of the loaded .tac's services (application,
    or None), and the listenPassedDatagram calls (kind "datagram") written
    in the .tac.
    """
    from services.activation import SystemdEndpoint

    found = []
    for arg in args:
        if arg.startswith("systemd:") or ":systemd:" in arg or "=systemd:" in arg:
            endpoint = _systemdEndpoint(arg[arg.index("systemd:") :])
            if endpoint is not None:
                found.append(("stream", endpoint.index, endpoint.name))
    if options["python"]:
        from services.loomd.lifecycle import walkServices

        for service in walkServices(application) if application is not None else ():
            endpoint = getattr(service, "endpoint", None)
            if isinstance(endpoint, SystemdEndpoint):
                found.append(("stream", endpoint.index, endpoint.name))
        found.extend(("datagram", index, name) for index, name in _passedDatagrams(options))
    unique = []
    for entry in found:
        if entry not in unique and (entry[1] is not None or entry[2] is not None):
            unique.append(entry)
    return unique


def _systemdEndpoint(description):
    # The SystemdEndpoint a description makes, read by the systemd: parser
    # itself (nothing is adopted until it listens); None if it is malformed.
    from reactor.endpoints import serverFromString

    try:
        return serverFromString(None, description)
    except ValueError:
        return None


def _passedDatagrams(options):
    """
    (index, name) of each listenPassedDatagram(...) call in the .tac's text
    with a literal index= or name=: a datagram socket is adopted from a
    service's start, so the loaded application cannot tell.
    """
    import ast

    try:
        with open(options["python"], "rb") as source:
            tree = ast.parse(source.read())
    except (OSError, SyntaxError, ValueError):
        return []
    found = []
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        function = node.func
        called = getattr(function, "id", None) or getattr(function, "attr", None)
        if called != "listenPassedDatagram":
            continue
        keywords = {
            k.arg: k.value.value for k in node.keywords if isinstance(k.value, ast.Constant)
        }
        index, name = keywords.get("index"), keywords.get("name")
        if isinstance(index, int) or isinstance(name, str):
            found.append((index if isinstance(index, int) else None, name))
    return found


STOP_MARGIN = 5
"""Seconds an init script's stop waits beyond --shutdown-timeout before giving up."""


def _valueOptions():
    # loomd's options that take a value: "--logfile" and "l", say.
    longs = {"--" + entry[0] for entry in LoomdOptions.optParameters}
    shorts = {entry[1] for entry in LoomdOptions.optParameters if entry[1]}
    return longs, shorts


def _withoutNodaemon(args):
    """
    Return args without loomd's own -n/--nodaemon (an init script must
    start a daemon).  Option values and the plugin's own arguments (after
    the plugin name) are kept as they are.
    """
    longs, shorts = _valueOptions()
    kept, valueNext = [], False
    for index, arg in enumerate(args):
        if valueNext:
            valueNext = False
        elif arg == "--nodaemon":
            continue
        elif arg.startswith("--"):
            valueNext = arg in longs
        elif arg.startswith("-") and len(arg) > 1:
            arg, valueNext = _withoutShortN(arg, shorts)
            if arg is None:
                continue
        else:
            kept.extend(args[index:])  # the plugin name and its arguments
            break
        kept.append(arg)
    return kept


def _withoutShortN(group, shorts):
    """
    Drop n from a group of short flags ("-nu" -> "-u"); a letter taking a
    value ends the flags (in "-yn" the n is -y's value).  Return (the group
    or None when nothing is left, whether the next argument is a value).
    """
    letters = group[1:]
    for position, letter in enumerate(letters):
        if letter in shorts:
            flags, rest = letters[:position], letters[position:]
            break
    else:
        flags, rest = letters, ""
    letters = flags.replace("n", "") + rest
    valueNext = rest[:1] in shorts and len(rest) == 1
    return ("-" + letters if letters else None), valueNext


_PATH_OPTIONS = (
    "-y",
    "--python",
    "-l",
    "--logfile",
    "--pidfile",
    "-d",
    "--rundir",
    "--chroot",
    "--shell",
)


def _deploymentArguments(argv):
    # The tested command line, minus the printing options themselves, with
    # paths made absolute: init and systemd start the daemon from "/".
    args, skip, pathNext = [], False, False
    for arg in argv:
        if skip:
            skip = False
            continue
        if pathNext:
            pathNext = False
            args.append(_absolute(arg))
            continue
        if arg == "--print-systemd-unit":
            continue
        if arg == "--print-init-script":
            skip = True
            continue
        if arg.startswith("--print-init-script="):
            continue
        option, equals, value = arg.partition("=")
        if equals and option in _PATH_OPTIONS and option.startswith("--"):
            arg = "%s=%s" % (option, _absolute(value))
        pathNext = arg in _PATH_OPTIONS
        args.append(arg)
    return args


def _absolute(path):
    if path.startswith("unix:"):  # --shell unix:PATH
        return "unix:" + _absolute(path[len("unix:") :])
    return os.path.abspath(path) if path and path != "-" else path


def main(argv=None):
    """The console script: run loomd and exit with its status."""
    sys.exit(run(sys.argv[1:] if argv is None else argv))


if __name__ == "__main__":
    main()
