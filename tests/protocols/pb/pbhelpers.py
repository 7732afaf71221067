"""
Helpers of the PB tests: an in-memory connection between two factories, and
a small stand-in for a cred Portal.

The stand-in has cred's shape (``login(credentials, mind, *interfaces)`` ->
Deferred of ``(interface, avatar, logout)``; checkers call
``credentials.checkPassword(stored)``); the tests use it until
protocols.cred lands (issue 21 item 1), when they can take the real one.
"""

from protocols.pb import pb
from reactor.defer import fail, succeed
from reactor.testing import connectedPair


def connect(serverFactory, clientFactory):
    """Connect the factories' brokers in memory; return (server, client, pump)."""
    server = serverFactory.buildProtocol(None)
    client = clientFactory.buildProtocol(None)
    pump = connectedPair(server, client)
    return server, client, pump


def resultOf(deferred, pump):
    """Flush pump and return deferred's result (a Failure if it failed)."""
    results = []
    deferred.addBoth(results.append)
    pump.flush()
    assert results, "the Deferred did not fire"
    return results[0]


class UnauthorizedLogin(Exception):
    """The stand-in's refusal (cred's error has the same name)."""


class UsernamePassword:
    def __init__(self, username, password):
        self.username = username
        self.password = password


class Anonymous:
    pass


class Portal:
    """cred's Portal, reduced to what PB login needs."""

    def __init__(self, realm, passwords, allowAnonymous=False):
        self.realm = realm
        self.passwords = passwords
        self.allowAnonymous = allowAnonymous

    def login(self, credentials, mind, *interfaces):
        username = getattr(credentials, "username", None)
        if username is None:
            if not self.allowAnonymous:
                return fail(UnauthorizedLogin("no anonymous access"))
        else:
            stored = self.passwords.get(username)
            if stored is None or not credentials.checkPassword(stored):
                return fail(UnauthorizedLogin("bad username or password"))
        return succeed(self.realm.requestAvatar(username, mind, *interfaces))


class User(pb.Avatar):
    """An avatar that knows its name, its mind, and counts its logouts."""

    def __init__(self, name, mind):
        self.name = name
        self.mind = mind
        self.loggedOut = 0

    def perspective_whoami(self):
        return self.name

    def perspective_tellMind(self, text):
        return self.mind.callRemote("note", text)

    def logout(self):
        self.loggedOut += 1


class Realm:
    def __init__(self):
        self.avatars = []

    def requestAvatar(self, avatarId, mind, *interfaces):
        assert pb.IPerspective in interfaces
        avatar = User(avatarId, mind)
        self.avatars.append(avatar)
        return pb.IPerspective, avatar, avatar.logout
