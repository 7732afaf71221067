"""
A chat server over Perspective Broker, with cred: ``loomd -n -y doc/examples/pb/chat.tac``,
then, in two terminals, ``python doc/examples/pb/chatclient.py alice lobby`` and
``python doc/examples/pb/chatclient.py bob lobby`` (passwords in chat-users.txt).

- Each user logs in through a cred Portal.  The realm gives each one a
  perspective (ChatUser, a pb.Avatar): its ``perspective_*`` methods are
  what that user may do, and the client's own Referenceable (the *mind*) is
  where the server sends that user's messages.
- A Room is a pb.Cacheable: each client that joins gets a copy of its member
  list, which the server keeps up to date (``observe_joined``/``observe_left``
  on the client's RemoteRoom) until the client drops it or goes away.
- A Message is a pb.Copyable: it crosses by value, and the client rebuilds
  it as the class it registered for the tag ``chat.Message``.

PB's login proves the password with an MD5 challenge, so the checker must
hold the passwords themselves (doc/remote.md, "Logging in"): they are read
from chat-users.txt beside this file (``name:password`` lines), or from the
file LOOM_CHAT_USERS names.  The server listens where LOOM_CHAT_LISTEN says,
an endpoint description (tcp:8789:interface=127.0.0.1 by default;
``unix:/run/chat.sock``, ``ssl:...``).  The tests use it to move the server
to a UNIX socket.
"""

import os
import time

from zope.interface import implementer

from protocols.cred.checkers import InMemoryUsernamePasswordDatabaseDontUse
from protocols.cred.portal import IRealm, Portal
from protocols.pb import pb
from services.internet import service
from services.service import Application

here = os.path.dirname(os.path.abspath(__file__))
listen = os.environ.get("LOOM_CHAT_LISTEN", "tcp:8789:interface=127.0.0.1")
usersFile = os.environ.get("LOOM_CHAT_USERS", os.path.join(here, "chat-users.txt"))


class Message(pb.Copyable):
    """One line said in a room; crosses by value, as ``chat.Message``."""

    def __init__(self, room, sender, text):
        self.room, self.sender, self.text = room, sender, text
        self.time = time.time()

    def getTypeToCopy(self):
        return b"chat.Message"


class Room(pb.Cacheable):
    """
    A room: who is in it, and the observers of the clients holding a copy.

    Crosses as ``chat.Room`` with its name and member names; each change of
    the members is sent to every copy.
    """

    def __init__(self, name):
        self.name = name
        self.members = {}  # name -> ChatUser
        self.observers = []

    def getTypeToCopy(self):
        return b"chat.Room"

    def getStateToCacheAndObserveFor(self, perspective, observer):
        self.observers.append(observer)
        return {"name": self.name, "members": sorted(self.members)}

    def stoppedObserving(self, perspective, observer):
        self.observers.remove(observer)

    def _tellObservers(self, method, name):
        for observer in self.observers:
            observer.callRemote(method, name)

    def add(self, user):
        self.members[user.name] = user
        self._tellObservers("joined", user.name)

    def remove(self, user):
        if self.members.pop(user.name, None) is not None:
            self._tellObservers("left", user.name)

    def say(self, sender, text):
        message = Message(self.name, sender.name, text)
        for member in self.members.values():
            member.mind.callRemote("receive", message)


class ChatUser(pb.Avatar):
    """A logged-in user: the perspective_* methods are what the client may call."""

    def __init__(self, name, mind, server):
        self.name, self.mind, self.server = name, mind, server
        self.rooms = {}

    def perspective_join(self, roomName):
        """Enter a room; return it (a Room, arriving as the client's RemoteRoom)."""
        room = self.server.room(roomName)
        if roomName not in self.rooms:
            self.rooms[roomName] = room
            room.add(self)
        return room

    def perspective_say(self, roomName, text):
        """Say text to everyone in a room this user is in."""
        if roomName not in self.rooms:
            raise pb.Error("you are not in %s" % (roomName,))
        self.rooms[roomName].say(self, text)

    def perspective_leave(self, roomName):
        """Leave a room."""
        room = self.rooms.pop(roomName, None)
        if room is not None:
            room.remove(self)

    def logout(self):
        """Called once, when the client logs out or goes away: leave every room."""
        for roomName in list(self.rooms):
            self.perspective_leave(roomName)


@implementer(IRealm)
class ChatServer:
    """The realm: a ChatUser for each login, and the rooms, made on first use."""

    def __init__(self):
        self.rooms = {}

    def room(self, name):
        if name not in self.rooms:
            self.rooms[name] = Room(name)
        return self.rooms[name]

    def requestAvatar(self, avatarId, mind, *interfaces):
        if pb.IPerspective not in interfaces:
            raise NotImplementedError("the chat server only makes PB perspectives")
        user = ChatUser(avatarId.decode("utf-8"), mind, self)
        return pb.IPerspective, user, user.logout


def readUsers(path):
    """name:password lines (# comments, blank lines skipped) as {name: password} bytes."""
    users = {}
    with open(path, "rb") as lines:
        for line in lines:
            line = line.strip()
            if line and not line.startswith(b"#"):
                name, _, password = line.partition(b":")
                users[name] = password
    return users


checker = InMemoryUsernamePasswordDatabaseDontUse()
for name, password in readUsers(usersFile).items():
    checker.addUser(name, password)
portal = Portal(ChatServer(), [checker])

application = Application("chat")
service(listen, pb.PBServerFactory(portal)).setServiceParent(application)
