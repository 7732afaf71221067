"""
The process monitor plugin: loomd supervising programs, Python or not.

    loomd procmon [options] PROGRAM [ARGS...]     # one program, as twistd procmon
    loomd procmon [options] --config FILE         # several, from a file

Each program is run by a services.procmon.ProcessMonitor: started with
loomd, restarted with backoff when it exits, stopped (SIGTERM, then SIGKILL
after ``--killtime``) when loomd stops, every line of its output logged with
its name.  loomd brings the rest: the pidfile, the log and its rotation,
dropping privileges, systemd readiness; SIGUSR2 (``loomd --log-status``)
logs each program's state, pid, uptime and restart count.

The options are twistd procmon's (``--threshold``, ``--killtime``,
``--minrestartdelay``, ``--maxrestartdelay``).  The programs get loomd's
environment (twistd procmon gives them an empty one).

The configuration file is INI (read by configparser, no interpolation): one
section per program, named after it.

    [web]
    command = /usr/bin/python3 -m http.server 8000
    directory = /srv/www
    user = www-data
    environment = LANG=C.UTF-8 PYTHONUNBUFFERED=1

    [worker]
    command = /usr/local/bin/worker --queue "high priority"

``command`` (required) is split as a shell would split it (shlex), but no
shell runs it; ``directory`` is where it runs; ``user`` and ``group`` (names
or numbers) whom it runs as, which needs loomd to stay root (no ``-u``);
``environment`` holds NAME=value pairs added to loomd's environment, and
``clear-environment = yes`` starts from an empty one instead.  Keys in a
``[DEFAULT]`` section apply to every program.  Any other key, a section
without a command, an unknown user or group, or a program that cannot be
found, is an error loomd reports before it starts.
"""

import configparser
import grp
import os
import pwd
import shlex
import shutil

from services.usage import Options as _BaseOptions
from services.usage import UsageError

KEYS = frozenset(["command", "directory", "user", "group", "environment", "clear-environment"])


def _positiveSeconds(value):
    number = float(value)
    if not 0 <= number < float("inf"):
        raise ValueError("not a number of seconds >= 0: %r" % (value,))
    return number


_positiveSeconds.coerceDoc = "In seconds."  # type: ignore[attr-defined]


class Options(_BaseOptions):
    """Options of the procmon plugin."""

    synopsis = "[options] (PROGRAM [ARGS...] | --config FILE)"
    longdesc = (
        "Run programs, and start them again when they exit: at once after a run "
        "longer than --threshold, else after a delay doubling from "
        "--minrestartdelay to --maxrestartdelay.  Stopping one sends SIGTERM, "
        "then SIGKILL after --killtime."
    )
    optParameters = [
        [
            "threshold",
            "t",
            1.0,
            "A run shorter than this many seconds counts as a crash on start.",
            _positiveSeconds,
        ],
        ["killtime", "k", 5.0, "Seconds from SIGTERM to SIGKILL.", _positiveSeconds],
        ["minrestartdelay", "m", 1.0, "The first delay after a crash on start.", _positiveSeconds],
        ["maxrestartdelay", "M", 3600.0, "The longest delay between restarts.", _positiveSeconds],
        ["config", "c", None, "Run the programs of this file (INI; see the docs)."],
        ["name", None, None, "The name of PROGRAM in the log (default: its command line)."],
    ]
    optPlaceholders = {"config": "FILE", "name": "NAME"}

    def parseArgs(self, *args):
        """The program to run and its arguments."""
        self["args"] = list(args)

    def postOptions(self):
        """Read the configuration file; check that there is something to run."""
        if self["minrestartdelay"] > self["maxrestartdelay"]:
            raise UsageError("--minrestartdelay is more than --maxrestartdelay")
        programs = readConfig(self["config"]) if self["config"] else []
        if self["args"]:
            name = self["name"] or " ".join(self["args"])
            if name in [program["name"] for program in programs]:
                raise UsageError("%r names a program of %s too" % (name, self["config"]))
            _checkProgram(self["args"][0], None, None, "PROGRAM")
            programs.append(_program(name, self["args"]))
        elif self["name"]:
            raise UsageError("--name names PROGRAM, and none is given")
        if not programs:
            raise UsageError("nothing to run: give a program (and its arguments) or --config")
        self["programs"] = programs


def _program(name, args, uid=None, gid=None, env=None, cwd=None):
    return {"name": name, "args": args, "uid": uid, "gid": gid, "env": env, "cwd": cwd}


def readConfig(path):
    """
    Read a procmon configuration file; return its programs, in file order,
    as dicts of addProcess's arguments (name, args, uid, gid, env, cwd).

    :raises UsageError: naming the file (and the section and key) for any
        problem: unreadable, not INI, an unknown key, no command, an unknown
        user or group, a program not found.
    """
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str  # type: ignore[assignment, method-assign]  # keys as written
    try:
        with open(path, encoding="utf-8") as config:
            parser.read_file(config)
    except OSError as error:
        raise UsageError("cannot read %s: %s" % (path, error.strerror or error)) from None
    except configparser.Error as error:
        raise UsageError("%s is not a valid configuration file: %s" % (path, error)) from None
    programs = []
    for name in parser.sections():
        where = "%s, [%s]" % (path, name)
        section = parser[name]
        unknown = sorted(set(section) - KEYS)
        if unknown:
            raise UsageError(
                "%s: unknown key %s (known: %s)" % (where, unknown[0], ", ".join(sorted(KEYS)))
            )
        programs.append(_sectionProgram(name, section, where))
    if not programs:
        raise UsageError("%s names no program (one [section] per program)" % (path,))
    return programs


def _sectionProgram(name, section, where):
    try:
        args = shlex.split(section.get("command", ""))
        environment = shlex.split(section.get("environment", ""))
        clear = section.getboolean("clear-environment", False)
    except ValueError as error:
        raise UsageError("%s: %s" % (where, error)) from None
    if not args:
        raise UsageError("%s: no command" % (where,))
    env = None if not (clear or environment) else {} if clear else dict(os.environ)
    for pair in environment:
        variable, equals, value = pair.partition("=")
        if not equals or not variable:
            raise UsageError("%s: environment entry %r is not NAME=value" % (where, pair))
        env[variable] = value
    cwd = section.get("directory") or None
    if cwd is not None and not os.path.isdir(cwd):
        raise UsageError("%s: directory %s does not exist" % (where, cwd))
    uid = _lookup(section.get("user"), pwd.getpwnam, "pw_uid", "user", where)
    gid = _lookup(section.get("group"), grp.getgrnam, "gr_gid", "group", where)
    _checkProgram(args[0], env, cwd, where)
    return _program(name, args, uid, gid, env, cwd)


def _lookup(value, byName, field, what, where):
    # A user or group: a number as it is, a name through the system's database.
    if not value:
        return None
    if value.isdigit():
        return int(value)
    try:
        return getattr(byName(value), field)
    except KeyError:
        raise UsageError("%s: no %s named %r" % (where, what, value)) from None


def _checkProgram(program, env, cwd, where):
    # Found now, so that a typo is an error at start, not a restart loop.
    if os.path.dirname(program):
        path = program if cwd is None else os.path.join(cwd, program)
        if not (os.path.isfile(path) and os.access(path, os.X_OK)):
            raise UsageError("%s: %s is not an executable file" % (where, program))
        return
    search = (env if env is not None else os.environ).get("PATH", os.defpath)
    if shutil.which(program, path=search) is None:
        raise UsageError("%s: program %s not found in PATH" % (where, program))


def makeService(options, reactor=None):
    """Return a ProcessMonitor running options["programs"]."""
    from services.procmon import ProcessMonitor

    monitor = ProcessMonitor(reactor=reactor)
    monitor.threshold = options["threshold"]
    monitor.killTime = options["killtime"]
    monitor.minRestartDelay = options["minrestartdelay"]
    monitor.maxRestartDelay = options["maxrestartdelay"]
    for program in options["programs"]:
        monitor.addProcess(**program)
    return monitor
