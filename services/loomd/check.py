"""
``loomd --check``: load the application, find where it would listen, and
check, as the user it would run as, that everything start-up needs is
usable — binding nothing and starting nothing.

Checked: the .tac or plugin loads; the user and group exist; each TCP port
is free on the interface asked for (read from /proc/net/tcp and tcp6, so
nothing is bound: a port busy on 127.0.0.2 only does not stop 127.0.0.1) and
a port below 1024 is only asked of a loomd started as root; the pidfile is
usable as the real start sees it (not a symlink, readable, not locked by a
running daemon); the pidfile and the log file can be created and written
by the target user (tested in a child process that has really dropped to
that user, so file permissions, ACLs and group membership all count); the
run and chroot directories exist.

UNIX sockets are bound in privilegedStartService, as the user loomd starts
as, and judged the way that bind judges them (reactor._socketfile): the
directory must be writable by that user; a stale socket there is fine (the
start replaces it), a live one or anything that is not a socket is a
failure with the very message the start would give.  When the target user
cannot write the directory, the socket file outlives a stop: a note says
so, and the next start replaces it.
"""

import ipaddress
import os
import sys

__all__ = ["checkApplication", "listeningAddresses"]


def listeningAddresses(service):
    """
    Return (kind, interface, port) for each stream server in the service tree
    whose address is known without binding: TCP and UNIX servers and endpoint
    services.  A UNIX socket is ("unix", path, None).
    """
    from reactor.endpoints import TCP4ServerEndpoint, UNIXServerEndpoint
    from services.internet import TCPServer, UNIXServer
    from services.service import IServiceCollection

    found = []
    endpoint = getattr(service, "endpoint", None)
    if isinstance(endpoint, TCP4ServerEndpoint) and isinstance(endpoint.port, int):
        found.append(("tcp", endpoint.interface, endpoint.port))
    elif isinstance(endpoint, UNIXServerEndpoint):
        found.append(("unix", os.fsdecode(endpoint.address), None))
    elif isinstance(service, TCPServer) and isinstance(getattr(service, "portNumber", None), int):
        found.append(("tcp", service.interface, service.portNumber))
    elif isinstance(service, UNIXServer):
        found.append(("unix", os.fsdecode(service.address), None))
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


def _listeningSockets():
    """
    Return the (address, port) of every TCP socket in state LISTEN (0A), from
    the kernel's tables; the address is an ipaddress object.
    """
    found = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        try:
            with open(table) as lines:
                next(lines)
                for line in lines:
                    fields = line.split()
                    if fields[3] == "0A":
                        address, port = fields[1].rsplit(":", 1)
                        found.add((_kernelAddress(address), int(port, 16)))
        except OSError:
            continue
    return found


def _kernelAddress(text):
    # /proc/net/tcp{,6} print each 32-bit word of the address in host order.
    raw = b"".join(bytes.fromhex(text[i : i + 8])[::-1] for i in range(0, len(text), 8))
    address = ipaddress.ip_address(raw)
    return getattr(address, "ipv4_mapped", None) or address


def _portInUse(interface, port, listening):
    """
    Whether binding interface:port would collide with a listening socket:
    one on the same address, or a wildcard on either side (0.0.0.0 within
    IPv4, and :: which also takes IPv4 on a dual-stack host).
    """
    try:
        wanted = ipaddress.ip_address(interface or "0.0.0.0")
    except ValueError:
        wanted = None  # not a literal address: the start will say so
    for address, busyPort in listening:
        if busyPort != port:
            continue
        if wanted is None or address == wanted or address == ipaddress.IPv6Address("::"):
            return True
        if address.version == wanted.version and (address.is_unspecified or wanted.is_unspecified):
            return True
    return False


def _writableAs(uid, gid, paths, sockets=()):
    """
    Return the problems found trying, as uid/gid, to open each path for
    appending (creating it if missing, then removing what we created), and
    notes ("note: ...") for each UNIX socket whose directory uid/gid cannot
    write (its file will outlive a stop).
    """
    from services.loomd.privileges import shedPrivileges

    readEnd, writeEnd = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(readEnd)
        problems = []
        try:
            if uid is not None or gid is not None:
                shedPrivileges(uid, gid)
            # As the start would: no link followed, no FIFO waited on.
            flags = os.O_WRONLY | os.O_APPEND | os.O_CREAT | os.O_NOFOLLOW | os.O_NONBLOCK
            for path in paths:
                existed = os.path.lexists(path)
                try:
                    os.close(os.open(path, flags | os.O_NOCTTY | os.O_CLOEXEC, 0o644))
                    if not existed:
                        os.unlink(path)
                except OSError as error:
                    problems.append(
                        "%s is not writable by the target user: %s" % (path, error.strerror.lower())
                    )
            for path in sockets:
                if _socketDirectoryProblem(path, "the target user"):
                    problems.append(
                        "note: the target user cannot remove %s at stop; the next "
                        "start replaces it as stale" % (path,)
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


def _socketDirectoryProblem(path, who):
    if path.startswith("\0") or path.startswith("@"):
        return None  # an abstract socket has no directory
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.stat(directory)
    except FileNotFoundError:
        return "directory %s does not exist" % (directory,)
    except OSError as error:
        return "directory %s: %s" % (directory, error.strerror.lower())
    if not os.path.isdir(directory):
        return "%s is not a directory" % (directory,)
    if not os.access(directory, os.W_OK | os.X_OK):
        return "directory %s is not writable by %s" % (directory, who)
    return None


def _socketProblem(path):
    # What the start would say binding path, as the user loomd starts as.
    from reactor import _socketfile
    from reactor.error import CannotListenError

    problem = _socketDirectoryProblem(path, "the user loomd starts as")
    if problem:
        return "cannot listen on %s: %s" % (path, problem)
    if path.startswith("\0") or path.startswith("@"):
        return None
    error = _socketfile.obstacle(path)
    if error is not None:
        return str(CannotListenError(None, path, error))
    return None


def _pidfileProblem(path):
    # The launcher's own pre-check: a symlink, an unreadable file, a daemon
    # holding the lock; and what the daemon's open would refuse.
    from services.loomd.pidfile import startObstacle

    if path is None:
        return None
    obstacle = startObstacle(path)
    if obstacle is not None:
        return obstacle
    if os.path.lexists(path) and not os.path.isfile(path):
        return "pidfile %s is not a regular file" % (path,)
    return None


def _logFileProblem(options):
    """
    What the start would refuse to open as root at the log path: a symbolic
    link, a hard link, anything but a regular file, or a directory reached
    through a link others could have planted (reactor._safeopen).
    """
    from reactor._safeopen import checkPath

    path = options["logfile"]
    if options["syslog"] or path == "-" or (path is None and options["nodaemon"]):
        return None
    if path is None:
        path = os.path.join(options["rundir"], "loomd.log")
    return checkPath(path, "log file")


def checkApplication(options, application, uid=None, gid=None):
    """
    Run the checks and print what they found; return the exit status, 0 or 1.

    :param options: the LoomdOptions.
    :param application: the loaded application.
    :param uid: the user id loomd would run as (None: unchanged).
    :param gid: the group id loomd would run as (None: unchanged).
    """
    problems = []
    for directory in (options["rundir"], options["chroot"]):
        if directory and not os.path.isdir(directory):
            problems.append("directory %s does not exist" % (directory,))
    pidfilePath = options.pidfilePath()
    pidfileProblem = _pidfileProblem(pidfilePath)
    if pidfileProblem:
        problems.append(pidfileProblem)
    logProblem = _logFileProblem(options)
    if logProblem:
        problems.append(logProblem)
    listening = _listeningSockets()
    addresses = listeningAddresses(application)
    sockets = []
    for kind, interface, port in addresses:
        if kind == "unix":
            sockets.append(interface)
            problem = _socketProblem(interface)
            if problem:
                problems.append(problem)
            continue
        where = _where(kind, interface, port)
        if port and _portInUse(interface, port, listening):
            problems.append("cannot listen on %s: address already in use" % (where,))
        if 0 < port < 1024 and os.geteuid() != 0:
            problems.append("cannot listen on %s: ports below 1024 need root" % (where,))
    files = [pidfilePath]
    if not options["syslog"] and options["logfile"] not in (None, "-"):
        files.append(options["logfile"])
    elif not options["syslog"] and options["logfile"] is None and not options["nodaemon"]:
        files.append(os.path.join(options["rundir"], "loomd.log"))
    files = [path for path in files if path]
    notes = []
    if (files or sockets) and not problems:
        found = _writableAs(uid, gid, files, sockets)
        notes = [line for line in found if line.startswith("note: ")]
        problems.extend(line for line in found if not line.startswith("note: "))
    if problems:
        for problem in problems:
            sys.stderr.write("loomd: check failed: %s\n" % (problem,))
        return 1
    for note in notes:
        sys.stdout.write("loomd: %s\n" % (note,))
    listening = ", ".join(_where(*address) for address in addresses) or "nothing known"
    sys.stdout.write("loomd: check passed: application loaded; listens on %s\n" % (listening,))
    return 0


def _where(kind, interface, port):
    if kind == "unix":
        return interface
    return "%s:%d" % (interface or "0.0.0.0", port)
