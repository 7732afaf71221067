"""
Finger, step 6: getUser returns a Deferred.

Real user data may take time to find (a database, a child process, another
server), so getUser returns a Deferred and the protocol writes the answer
when it fires.  maybeDeferred also turns an exception raised by getUser into
a failure, which becomes "Internal error in server" rather than a dropped
connection.  protocols.finger.FingerProtocol is this protocol.

    PYTHONPATH=. python doc/examples/finger/finger06.py [PORT]    (default 1079)
"""

import sys

from protocols.basic import LineReceiver
from protocols.protocol import Factory
from reactor import defer, log, reactor


class FingerProtocol(LineReceiver):
    """Write the answer getUser's Deferred fires with, then close."""

    def lineReceived(self, user):
        d = defer.maybeDeferred(self.factory.getUser, user.strip())
        d.addErrback(self.onError)
        d.addCallback(self.writeAnswer)

    def onError(self, failure):
        log.err(failure, "finger: getUser failed")
        return b"Internal error in server"

    def writeAnswer(self, answer):
        self.transport.write(answer + b"\r\n")
        self.transport.loseConnection()


class FingerFactory(Factory):
    protocol = FingerProtocol

    def __init__(self, users):
        self.users = users

    def getUser(self, user):
        if user == b"crash":
            raise RuntimeError("asked to crash")
        return defer.succeed(self.users.get(user, b"No such user"))


users = {b"alice": b"Happy and well", b"bob": b"Out to lunch"}
port = reactor.listenTCP(
    int(sys.argv[1]) if len(sys.argv) > 1 else 1079, FingerFactory(users), interface="127.0.0.1"
)
print("listening on 127.0.0.1:%d" % (port.getHost().port,), flush=True)
reactor.run()
