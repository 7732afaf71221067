"""
Finger, step 3: read the query line, then hang up.

LineReceiver splits what arrives into lines; the first one is the user
asked about.  No answer yet.

    PYTHONPATH=. python doc/examples/finger/finger03.py [PORT]    (default 1079)
"""

import sys

from protocols.basic import LineReceiver
from protocols.protocol import Factory
from reactor import reactor


class FingerProtocol(LineReceiver):
    """Close the connection once the query line has arrived."""

    def lineReceived(self, user):
        self.transport.loseConnection()


class FingerFactory(Factory):
    protocol = FingerProtocol


port = reactor.listenTCP(
    int(sys.argv[1]) if len(sys.argv) > 1 else 1079, FingerFactory(), interface="127.0.0.1"
)
print("listening on 127.0.0.1:%d" % (port.getHost().port,), flush=True)
reactor.run()
