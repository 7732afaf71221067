"""
Helpers of the PB tests: an in-memory connection between two factories, a
cred Portal with passwords in memory, and a realm of avatars that count
their logouts.
"""

from protocols.cred import portal
from protocols.cred.checkers import AllowAnonymousAccess, InMemoryUsernamePasswordDatabaseDontUse
from protocols.cred.credentials import Anonymous, UsernamePassword
from protocols.cred.error import UnauthorizedLogin
from protocols.pb import pb
from reactor.testing import connectedPair

__all__ = ["Anonymous", "Portal", "UnauthorizedLogin", "UsernamePassword", "connect", "resultOf"]


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


def Portal(realm, passwords, allowAnonymous=False, failureDelay=0, reactor=None):
    """
    A cred Portal for realm: passwords ({username: password}, bytes) in
    memory, anonymous access if allowed, refusals reported after
    failureDelay (none by default, so in-memory tests need no reactor).
    """
    checker = InMemoryUsernamePasswordDatabaseDontUse()
    for username, password in passwords.items():
        checker.addUser(username, password)
    checkers = [checker, AllowAnonymousAccess()] if allowAnonymous else [checker]
    return portal.Portal(realm, checkers, failureDelay=failureDelay, reactor=reactor)


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
