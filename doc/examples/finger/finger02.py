"""
Finger, step 2: listen, and drop every connection at once.

A factory builds one protocol per connection; this protocol's only act is to
close the connection as soon as it is made.

    PYTHONPATH=. python doc/examples/finger/finger02.py [PORT]    (default 1079)
"""

import sys

from protocols.protocol import Factory, Protocol
from reactor import reactor


class FingerProtocol(Protocol):
    """Hang up as soon as a client connects."""

    def connectionMade(self):
        self.transport.loseConnection()


class FingerFactory(Factory):
    protocol = FingerProtocol


port = reactor.listenTCP(
    int(sys.argv[1]) if len(sys.argv) > 1 else 1079, FingerFactory(), interface="127.0.0.1"
)
print("listening on 127.0.0.1:%d" % (port.getHost().port,), flush=True)
reactor.run()
