"""
A Loom program on StandardIO, run by tests/reactor/test_stdio.py as a child:
``python stdio_child.py REACTOR MODE``.

It runs the named reactor (epoll, poll, select, asyncio) with one protocol
on its standard input and output, chosen by MODE:

- echo: writes back what it reads, upper-cased; not half-closeable, so
  the end of its input ends it.
- count: half-closeable; at the end of its input it writes how many bytes
  it read, then closes its output and keeps going until the reactor stops.
- flood: writes FLOOD_BYTES as fast as backpressure allows (a push producer
  on the transport), then closes; says "paused" on standard error the
  first time it is held back.
- exit: on its first line, sys.exit(3) with the StandardIO still open.

When its connection is lost it writes one line to standard error,
``lost <reason class> <events> stdout=<what fd 1 names now>``, and stops.
"""

import os
import sys

from zope.interface import implementer

import reactor as loom
from protocols.protocol import Protocol
from reactor.interfaces import IHalfCloseableProtocol
from reactor.stdio import StandardIO

FLOOD_BYTES = 8 * 1024 * 1024


class Base(Protocol):
    def __init__(self):
        self.events = []

    def connectionLost(self, reason):
        target = os.readlink("/proc/self/fd/1") if os.path.exists("/proc/self/fd/1") else "-"
        sys.stderr.write(
            "lost %s %s stdout=%s\n"
            % (type(reason.value).__name__, ",".join(self.events) or "-", target)
        )
        sys.stderr.flush()
        theReactor.stop()


class Echo(Base):
    def dataReceived(self, data):
        self.transport.write(data.upper())


@implementer(IHalfCloseableProtocol)
class Count(Base):
    received = 0

    def dataReceived(self, data):
        self.received += len(data)

    def readConnectionLost(self):
        self.events.append("readConnectionLost")
        self.transport.write(b"%d\n" % (self.received,))
        self.transport.loseWriteConnection()

    def writeConnectionLost(self):
        self.events.append("writeConnectionLost")


class Flood(Base):
    chunk = b"x" * 65536

    def connectionMade(self):
        self.sent = 0
        self.paused = False
        self.transport.registerProducer(self, True)
        self.resumeProducing()

    def pauseProducing(self):
        if "paused" not in self.events:
            self.events.append("paused")
            sys.stderr.write("paused\n")
            sys.stderr.flush()
        self.paused = True

    def resumeProducing(self):
        self.paused = False
        while not self.paused and self.sent < FLOOD_BYTES:
            self.transport.write(self.chunk)
            self.sent += len(self.chunk)
        if self.sent >= FLOOD_BYTES:
            self.transport.unregisterProducer()
            self.transport.loseConnection()

    def stopProducing(self):
        self.events.append("stopProducing")


class Exit(Base):
    def dataReceived(self, data):
        sys.exit(3)


MODES = {"echo": Echo, "count": Count, "flood": Flood, "exit": Exit}

if __name__ == "__main__":
    reactorName, mode = sys.argv[1], sys.argv[2]
    theReactor = loom.getReactorClass(reactorName)()
    StandardIO(MODES[mode](), reactor=theReactor)
    theReactor.run(installSignalHandlers=False)
