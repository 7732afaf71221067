"""
``loomd --check``: load the application, find where it would listen, and
check, as the user it would run as, that everything start-up needs is
usable — binding nothing and starting nothing.

Checked: the .tac or plugin loads; the user and group exist; each TCP port
is free (read from /proc/net/tcp and tcp6, so nothing is bound) and a port
below 1024 is only asked of a loomd started as root; the pidfile and the log
file can be created and written by the target user (tested in a child
process that has really dropped to that user, so file permissions, ACLs and
group membership all count); the run and chroot directories exist.
"""

import os
import sys

__all__ = ["checkApplication", "listeningAddresses"]


def listeningAddresses(service):
    """
    Return (kind, interface, port) for each stream server in the service tree
    whose address is known without binding: TCP servers and endpoint services.
    """
    from services.service import IServiceCollection

    found = []
    endpoint = getattr(service, "endpoint", None)
    port = getattr(endpoint, "_port", None)
    if isinstance(port, int):
        found.append(("tcp", getattr(endpoint, "_interface", ""), port))
    elif _isTCPServer(service) and isinstance(getattr(service, "portNumber", None), int):
        found.append(("tcp", service.interface, service.portNumber))
    elif type(service).__name__ == "TCPServer":
        # A TCPServer-like class of Twisted's shape: (port, factory, backlog, interface).
        args = getattr(service, "args", ())
        kwargs = getattr(service, "kwargs", {})
        if args and isinstance(args[0], int):
            interface = kwargs.get("interface", args[3] if len(args) > 3 else "")
            found.append(("tcp", interface, args[0]))
    if IServiceCollection.providedBy(service):
        for child in service:
            found.extend(listeningAddresses(child))
    return found


def _isTCPServer(service):
    try:
        from services.internet import TCPServer
    except ImportError:
        return False
    return isinstance(service, TCPServer)


def _listeningPorts():
    # Ports in state LISTEN (0A), from the kernel's tables.
    ports = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as lines:
                next(lines)
                for line in lines:
                    fields = line.split()
                    if fields[3] == "0A":
                        ports.add(int(fields[1].rsplit(":", 1)[1], 16))
        except OSError:
            continue
    return ports


def _writableAs(uid, gid, paths):
    """
    Return the problems found trying, as uid/gid, to open each path for
    appending (creating it if missing, then removing what we created).
    """
    from services.privileges import shedPrivileges

    readEnd, writeEnd = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(readEnd)
        problems = []
        try:
            if uid is not None or gid is not None:
                shedPrivileges(uid, gid)
            for path in paths:
                existed = os.path.exists(path)
                try:
                    os.close(os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644))
                    if not existed:
                        os.unlink(path)
                except OSError as error:
                    problems.append(
                        "%s is not writable by the target user: %s" % (path, error.strerror.lower())
                    )
        except Exception as error:
            problems.append("cannot switch to the target user: %s" % (error,))
        os.write(writeEnd, "\n".join(problems).encode())
        os._exit(0)
    os.close(writeEnd)
    with os.fdopen(readEnd, "rb") as pipe:
        text = pipe.read().decode()
    os.waitpid(child, 0)
    return [line for line in text.split("\n") if line]


def checkApplication(launch):
    """Run the checks for a Launch whose application is loaded; return 0 or 1."""
    options = launch.options
    problems = []
    for directory in (options["rundir"], options["chroot"]):
        if directory and not os.path.isdir(directory):
            problems.append("directory %s does not exist" % (directory,))
    busy = _listeningPorts()
    addresses = listeningAddresses(launch.application)
    for _kind, interface, port in addresses:
        where = "%s:%d" % (interface or "0.0.0.0", port)
        if port and port in busy:
            problems.append("cannot listen on %s: address already in use" % (where,))
        if 0 < port < 1024 and os.geteuid() != 0:
            problems.append("cannot listen on %s: ports below 1024 need root" % (where,))
    files = [launch._pidfilePath()]
    if not options["syslog"] and options["logfile"] not in (None, "-"):
        files.append(options["logfile"])
    elif not options["syslog"] and options["logfile"] is None and not options["nodaemon"]:
        files.append(os.path.join(options["rundir"], "loomd.log"))
    files = [path for path in files if path]
    if files and not problems:
        problems.extend(_writableAs(launch.uid, launch.gid, files))
    if problems:
        for problem in problems:
            sys.stderr.write("loomd: check failed: %s\n" % (problem,))
        return 1
    listening = ", ".join("%s:%d" % (i or "0.0.0.0", p) for _, i, p in addresses) or "nothing known"
    sys.stdout.write("loomd: check passed: application loaded; listens on %s\n" % (listening,))
    return 0
