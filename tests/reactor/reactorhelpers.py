"""
Helpers shared by the reactor conformance tests: a log catcher and a
socketpair-backed descriptor that records what the reactor does to it.
"""

import socket

from zope.interface import implementer

from reactor import log
from reactor.error import CONNECTION_DONE
from reactor.interfaces import IReadDescriptor, IWriteDescriptor


class LoggedErrors:
    """A context manager collecting the error events logged while it is open."""

    def __enter__(self):
        self.events = []
        log.addObserver(self._observe)
        return self

    def _observe(self, event):
        if event.get("isError"):
            self.events.append(event)

    def __exit__(self, *exc):
        log.removeObserver(self._observe)

    def failures(self):
        """Return the Failures logged."""
        return [event["failure"] for event in self.events if "failure" in event]


@implementer(IReadDescriptor, IWriteDescriptor)
class PairDescriptor:
    """
    One end of a socketpair as a descriptor; the other end is ``peer``.

    :ivar received: the chunks doRead got.
    :ivar lost: the reasons connectionLost got.
    :ivar toSend: bytes doWrite sends (then it stops writing).
    :ivar onRead: called by doRead after each chunk; its return is doRead's.
    """

    def __init__(self, reactor):
        self.reactor = reactor
        self.sock, self.peer = socket.socketpair()
        self.sock.setblocking(False)
        self.peer.settimeout(5)
        self.received = []
        self.lost = []
        self.reads = 0
        self.toSend = b""
        self.onRead = None

    def fileno(self):
        return self.sock.fileno()

    def doRead(self):
        self.reads += 1
        data = self.sock.recv(65536)
        if not data:
            return CONNECTION_DONE
        self.received.append(data)
        if self.onRead is not None:
            return self.onRead(data)
        return None

    def doWrite(self):
        sent = self.sock.send(self.toSend)
        self.toSend = self.toSend[sent:]
        if not self.toSend:
            self.reactor.removeWriter(self)
        return None

    def connectionLost(self, reason):
        self.lost.append(reason)

    def logPrefix(self):
        return "PairDescriptor"

    def close(self):
        """Close both sockets."""
        self.sock.close()
        self.peer.close()
