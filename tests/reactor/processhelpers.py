"""
Helpers shared by the process conformance tests: a ProcessProtocol that
records what it is told, and ways to run a child to its end.
"""

import os

from protocols.protocol import ProcessProtocol
from tests.reactor.transport_helpers import spin


class Recorder(ProcessProtocol):
    """
    Records the events of one child.

    :ivar events: the callbacks in order (data callbacks are not listed,
        so that big outputs do not flood it): 'connectionMade',
        ('childConnectionLost', fd), 'inConnectionLost', 'outConnectionLost',
        'errConnectionLost', 'processExited', 'processEnded'.
    :ivar data: {fd: [chunks]} as childDataReceived got them.
    :ivar exited: the Failure processExited got; :ivar ended: processEnded's.
    """

    def __init__(self):
        self.events = []
        self.data = {}
        self.exited = None
        self.ended = None

    def connectionMade(self):
        self.events.append("connectionMade")

    def childDataReceived(self, childFD, data):
        self.data.setdefault(childFD, []).append(data)
        ProcessProtocol.childDataReceived(self, childFD, data)

    def childConnectionLost(self, childFD):
        self.events.append(("childConnectionLost", childFD))
        ProcessProtocol.childConnectionLost(self, childFD)

    def inConnectionLost(self):
        self.events.append("inConnectionLost")

    def outConnectionLost(self):
        self.events.append("outConnectionLost")

    def errConnectionLost(self):
        self.events.append("errConnectionLost")

    def processExited(self, reason):
        self.events.append("processExited")
        self.exited = reason

    def processEnded(self, reason):
        self.events.append("processEnded")
        self.ended = reason

    def output(self, childFD=1):
        """Return everything read from the child's childFD."""
        return b"".join(self.data.get(childFD, []))


def waitEnded(reactor, protocol, timeout=20.0):
    """Iterate reactor until protocol (a Recorder) has processEnded."""
    spin(reactor, lambda: protocol.ended is not None, timeout, "processEnded")


def run(reactor, executable, args=None, timeout=20.0, **spawnArguments):
    """
    Spawn executable (argv args, default [executable]) with a new Recorder
    and iterate reactor until it has ended; return (recorder, transport).
    """
    protocol = Recorder()
    argv = [executable] if args is None else args
    transport = reactor.spawnProcess(protocol, executable, argv, **spawnArguments)
    waitEnded(reactor, protocol, timeout)
    return protocol, transport


def openDescriptors():
    """Return the set of this process's open descriptor numbers."""
    return set(int(name) for name in os.listdir("/proc/self/fd"))


def zombieChildren():
    """Return the pids of this process's children that are zombies."""
    me = os.getpid()
    zombies = []
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % (name,), "rb") as stat:
                fields = stat.read().rpartition(b")")[2].split()
        except OSError:
            continue
        # After the command: state, then ppid.
        if fields[0] == b"Z" and int(fields[1]) == me:
            zombies.append(int(name))
    return zombies
