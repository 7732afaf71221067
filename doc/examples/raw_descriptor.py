"""
An asynchronous poetry client with no transport: a raw descriptor.

It connects a non-blocking socket to HOST:PORT, registers itself with
addReader, and prints whatever arrives until the server closes the
connection.  The reactor only needs fileno(), doRead(), connectionLost()
and logPrefix(): any object with those can be driven by the loop.

    python doc/examples/raw_descriptor.py [--reactor NAME] HOST:PORT
"""

import argparse
import errno
import socket
import sys

from zope.interface import implementer

import reactor as loom
from reactor.error import CONNECTION_DONE
from reactor.interfaces import IReadDescriptor


@implementer(IReadDescriptor)
class PoetryReader:
    """Read a poem from a socket, printing each chunk as it arrives."""

    def __init__(self, reactor, address):
        self.reactor = reactor
        self.sock = socket.socket()
        self.sock.setblocking(False)
        error = self.sock.connect_ex(address)
        if error not in (0, errno.EINPROGRESS):
            raise OSError(error, "cannot connect to %s:%s" % address)

    def fileno(self):
        """The socket's fd (-1 once closed)."""
        return self.sock.fileno()

    def doRead(self):
        """Print one chunk; at EOF ask the reactor to drop us."""
        try:
            data = self.sock.recv(4096)
        except BlockingIOError:
            return None  # Woken, but nothing to read after all.
        if not data:
            return CONNECTION_DONE
        sys.stdout.write(data.decode("utf-8", "replace"))
        sys.stdout.flush()
        return None

    def connectionLost(self, reason):
        """The poem is over (or the connection failed): stop the reactor."""
        self.sock.close()
        if not reason.check(type(CONNECTION_DONE)):
            print("connection lost: %s" % (reason.getErrorMessage(),), file=sys.stderr)
        self.reactor.stop()

    def logPrefix(self):
        """Name us in log messages."""
        return "PoetryReader"


def main(argv=None):
    """Parse the command line, read the poem, exit when it is done."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("address", help="HOST:PORT of the poetry server")
    parser.add_argument("--reactor", default=None, choices=sorted(loom.REACTORS))
    args = parser.parse_args(argv)
    host, _, port = args.address.rpartition(":")
    reactor = loom.install(args.reactor)
    reactor.addReader(PoetryReader(reactor, (host or "127.0.0.1", int(port))))
    reactor.run()


if __name__ == "__main__":
    main()
