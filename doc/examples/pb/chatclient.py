"""
The chat example's client: log in, join a room, say each line typed, print
what the others say.

    python doc/examples/pb/chatclient.py [--connect ENDPOINT] [--password PW] NAME ROOM

ENDPOINT is a client endpoint description (tcp:host=127.0.0.1:port=8789 by
default; unix:path=/run/chat.sock).  Without --password the password is
asked for.  Each line read from standard input is said in the room; the end
of input (Ctrl-D) leaves it and exits.  What others say is printed as
``<name> text``, arrivals and departures as ``* name joined``.  A refused
login prints why on standard error and exits with status 1.
"""

import argparse
import getpass
import sys

from protocols.basic import LineReceiver
from protocols.cred.credentials import UsernamePassword
from protocols.cred.error import UnauthorizedLogin
from protocols.pb import pb
from reactor.defer import Deferred
from reactor.endpoints import clientFromString
from reactor.stdio import StandardIO
from reactor.task import react


def show(text):
    print(text, flush=True)


class RemoteRoom(pb.RemoteCache):
    """The client's copy of a server Room: its name and members, kept up to date."""

    def setCopyableState(self, state):
        self.name = state["name"]
        self.members = set(state["members"])

    def observe_joined(self, name):
        self.members.add(name)
        show("* %s joined #%s" % (name, self.name))

    def observe_left(self, name):
        self.members.discard(name)
        show("* %s left #%s" % (name, self.name))


class RemoteMessage(pb.RemoteCopy):
    """A Message copied from the server: room, sender, text and time."""


pb.setUnjellyableForClass("chat.Room", RemoteRoom)
pb.setUnjellyableForClass("chat.Message", RemoteMessage)


class Listener(pb.Referenceable):
    """The mind: what the server calls to deliver this user's messages."""

    def __init__(self, name):
        self.name = name

    def remote_receive(self, message):
        if message.sender != self.name:
            show("<%s> %s" % (message.sender, message.text))


class Typing(LineReceiver):
    """Standard input: each line is said in the room; its end leaves."""

    delimiter = b"\n"

    def __init__(self, user, room, done):
        self.user, self.room, self.done = user, room, done

    def lineReceived(self, line):
        text = line.decode("utf-8", "replace").rstrip("\r")
        if text:
            self.user.callRemote("say", self.room.name, text).addErrback(self.done.errback)

    def connectionLost(self, reason):
        if not self.done.called:
            self.done.callback(None)


def refused(failure, name):
    """A refused login: say so and exit 1 (other errors go on, and are logged)."""
    # The server's UnauthorizedLogin (Loom's or Twisted's) traps as Loom's.
    failure.trap(UnauthorizedLogin)
    print("login refused: wrong name or password for %s" % (name,), file=sys.stderr)
    raise SystemExit(1)


async def main(reactor, argv):
    parser = argparse.ArgumentParser(description="A PB chat client (doc/examples/pb/chat.tac)")
    parser.add_argument("--connect", default="tcp:host=127.0.0.1:port=8789")
    parser.add_argument("--password")
    parser.add_argument("name")
    parser.add_argument("room")
    args = parser.parse_args(argv)
    password = args.password if args.password is not None else getpass.getpass()
    factory = pb.PBClientFactory()
    await clientFromString(reactor, args.connect).connect(factory)
    credentials = UsernamePassword(args.name.encode("utf-8"), password.encode("utf-8"))
    user = await factory.login(credentials, Listener(args.name)).addErrback(refused, args.name)
    room = await user.callRemote("join", args.room)
    show("* you joined #%s with: %s" % (room.name, ", ".join(sorted(room.members))))
    done = Deferred()
    StandardIO(Typing(user, room, done), reactor=reactor)
    await done
    await user.callRemote("leave", room.name)
    factory.disconnect()


if __name__ == "__main__":
    react(main, [sys.argv[1:]])
