"""
Finger, step 4: give everyone the same answer.

Whoever is asked about, the answer is "No such user", followed by CRLF, and
then the connection is closed: a complete, if unhelpful, finger server.

    PYTHONPATH=. python doc/examples/finger/finger04.py [PORT]    (default 1079)
"""

import sys

from protocols.basic import LineReceiver
from protocols.protocol import Factory
from reactor import reactor


class FingerProtocol(LineReceiver):
    """Answer every query with the same line."""

    def lineReceived(self, user):
        self.transport.write(b"No such user\r\n")
        self.transport.loseConnection()


class FingerFactory(Factory):
    protocol = FingerProtocol


port = reactor.listenTCP(
    int(sys.argv[1]) if len(sys.argv) > 1 else 1079, FingerFactory(), interface="127.0.0.1"
)
print("listening on 127.0.0.1:%d" % (port.getHost().port,), flush=True)
reactor.run()
