"""
Finger, step 5: answers from a dict held by the factory.

The protocol asks its factory about the user; the factory, shared by every
connection, is where the data lives.  getUser answers at once here.

    PYTHONPATH=. python doc/examples/finger/finger05.py [PORT]    (default 1079)
"""

import sys

from protocols.basic import LineReceiver
from protocols.protocol import Factory
from reactor import reactor


class FingerProtocol(LineReceiver):
    """Ask the factory about the user named in the line; write its answer."""

    def lineReceived(self, user):
        self.transport.write(self.factory.getUser(user.strip()) + b"\r\n")
        self.transport.loseConnection()


class FingerFactory(Factory):
    protocol = FingerProtocol

    def __init__(self, users):
        self.users = users

    def getUser(self, user):
        return self.users.get(user, b"No such user")


users = {b"alice": b"Happy and well", b"bob": b"Out to lunch"}
port = reactor.listenTCP(
    int(sys.argv[1]) if len(sys.argv) > 1 else 1079, FingerFactory(users), interface="127.0.0.1"
)
print("listening on 127.0.0.1:%d" % (port.getHost().port,), flush=True)
reactor.run()
