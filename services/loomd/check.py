"""
``loomd --check``: load the application, find where it would listen, and
check that everything start-up needs is usable, binding nothing and
starting nothing.

Checked: the .tac or plugin loads; the user and group exist; the run and
chroot directories, the pidfile and the log file, judged by
services.loomd.preflight exactly as the real start judges them before it
forks (an error there fails both, a warning is printed by both); each TCP
port is free on the interface asked for (read from /proc/net/tcp and tcp6,
so nothing is bound: a port busy on 127.0.0.2 only does not stop
127.0.0.1), and a port below 1024 is only asked of a process that may bind
it, in the words the start uses when its bind fails
(services.loomd.lowports).

The certificates of TLS servers are judged by services.loomd.certificates,
as the start judges them: one that does not load, or whose key does not
match, fails the check; one expiring within 14 days, or one the daemon's
user could not read again on SIGHUP, is a warning.

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

from services.loomd.certificates import examineCertificates
from services.loomd.lowports import lowPortProblem
from services.loomd.preflight import examine, unwritableDirectories

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


def _socketDirectoryProblem(path):
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
        return "directory %s is not writable by the user loomd starts as" % (directory,)
    return None


def _socketProblem(path):
    # What the start would say binding path, as the user loomd starts as.
    from reactor import _socketfile
    from reactor.error import CannotListenError

    problem = _socketDirectoryProblem(path)
    if problem:
        return "cannot listen on %s: %s" % (path, problem)
    if path.startswith("\0") or path.startswith("@"):
        return None
    error = _socketfile.obstacle(path)
    if error is not None:
        return str(CannotListenError(None, path, error))
    return None


def checkApplication(options, application, uid=None, gid=None):
    """
    Run the checks and print what they found; return the exit status, 0 or 1.

    Warnings (what works now but fails later) go to stderr and do not fail
    the check; the start prints the same ones.

    :param options: the LoomdOptions.
    :param application: the loaded application.
    :param uid: the user id loomd would run as (None: unchanged).
    :param gid: the group id loomd would run as (None: unchanged).
    """
    findings = examine(options, uid, gid)
    certificates = examineCertificates(
        application, uid, gid, euid=options["euid"], chroot=options["chroot"] or None
    )
    findings.errors += certificates.errors
    findings.warnings += certificates.warnings
    addresses = listeningAddresses(application)
    problems = findings.errors + _addressProblems(addresses) + _shellProblems(options, uid)
    notes = []
    if not problems:
        try:
            notes = _socketNotes(addresses, uid, gid, options["euid"])
        except OSError as error:
            problems.append(str(error))
    for warning in findings.warnings:
        sys.stderr.write("loomd: warning: %s\n" % (warning,))
    if problems:
        for problem in problems:
            sys.stderr.write("loomd: check failed: %s\n" % (problem,))
        return 1
    for note in notes:
        sys.stdout.write("loomd: note: %s\n" % (note,))
    listening = ", ".join(_where(*address) for address in addresses) or "nothing known"
    if options["shell"]:
        listening += "; shell on %s" % (options["shell"],)
    sys.stdout.write("loomd: check passed: application loaded; listens on %s\n" % (listening,))
    return 0


def _shellProblems(options, uid):
    """What the start would say opening ``--shell`` (for uid): its socket file, its directory."""
    if not options["shell"]:
        return []
    from services.loomd.shell import directoryProblem

    path = options["shell"].partition(":")[2]
    problem = directoryProblem(path, uid)
    if problem is not None:
        return ["cannot open the shell: cannot listen on %s: %s" % (path, problem)]
    problem = _socketProblem(path)
    return ["cannot open the shell: %s" % (problem,)] if problem else []


def _addressProblems(addresses):
    """Why each address could not be listened on: a socket file, a busy or a low port."""
    problems = []
    listening = _listeningSockets()
    for kind, interface, port in addresses:
        if kind == "unix":
            problem = _socketProblem(interface)
        elif port and _portInUse(interface, port, listening):
            problem = "cannot listen on %s: address already in use" % (
                _where(kind, interface, port),
            )
        else:
            problem = lowPortProblem(interface, port)
        if problem:
            problems.append(problem)
    return problems


def _socketNotes(addresses, uid, gid, euid):
    """A note for each UNIX socket the daemon's user could not remove at stop."""
    paths = [
        interface
        for kind, interface, _ in addresses
        if kind == "unix" and not interface.startswith(("\0", "@"))
    ]
    directories = sorted({os.path.dirname(os.path.abspath(path)) for path in paths})
    unwritable = unwritableDirectories(directories, uid, gid, euid=euid) if directories else []
    return [
        "the target user cannot remove %s at stop; the next start replaces it as stale" % (path,)
        for path in paths
        if os.path.dirname(os.path.abspath(path)) in unwritable
    ]


def _where(kind, interface, port):
    if kind == "unix":
        return interface
    return "%s:%d" % (interface or "0.0.0.0", port)
