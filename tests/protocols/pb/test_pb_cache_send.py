"""
Eventual send with Cacheables, between Loom peers over real loopback
sockets on every reactor: ``send(observer).foo()`` from the Cacheable's
side runs ``observe_foo`` on the peer's RemoteCache, as
``observer.callRemote("foo")`` does; ``send(remoteCache).foo()`` calls the
local copy, as for any local object; and a message pipelined to an answer
that is a Cacheable runs on the copy it arrives as.
"""

import pytest

from protocols.pb import pb
from reactor.eventual import send, sendOnly
from reactor.failure import Failure

from .pbhelpers import Connection

pytestmark = pytest.mark.timeout(30)


class Room(pb.Cacheable):
    """A member list kept current on every peer holding a copy."""

    def __init__(self):
        self.members = ["alice"]
        self.observers = []

    def getTypeToCopy(self):
        return b"test_pb_cache_send.Room"

    def getStateToCacheAndObserveFor(self, perspective, observer):
        self.observers.append(observer)
        return {"members": list(self.members)}

    def stoppedObserving(self, perspective, observer):
        self.observers.remove(observer)


class RemoteRoom(pb.RemoteCache):
    def observe_joined(self, name):
        self.members.append(name)
        return len(self.members)

    def observe_refuse(self, name):
        raise ValueError("%s may not join" % (name,))

    def count(self):
        return len(self.members)


pb.setUnjellyableForClass("test_pb_cache_send.Room", RemoteRoom)


class Lobby(pb.Root):
    def __init__(self):
        self.room = Room()

    def remote_room(self):
        return self.room


@pytest.fixture(params=[True, False], ids=["pipelined", "sequential"])
def connection(request, reactor, runUntil):
    connection = Connection(reactor, runUntil, Lobby(), pipelining=request.param)
    yield connection
    connection.close()


def _cached(connection):
    # The client's copy of the room, and the server's observer of it.
    copy = connection.runUntil(connection.reactor, connection.root.callRemote("room"))
    [observer] = connection.serverRoot.room.observers
    return copy, observer


def test_sendToObserverRunsObserveMethod(connection):
    copy, observer = _cached(connection)
    assert connection.outcome(send(observer).joined("bob")) == 2
    sendOnly(observer).joined(name="carol")
    last = send(observer).joined("dave")
    assert connection.outcome(last) == 4
    assert copy.members == ["alice", "bob", "carol", "dave"]
    # What the promise resolves to takes messages in turn, here.
    assert connection.outcome(send(last).bit_length()) == 3


def test_sendToObserverFailures(connection):
    copy, observer = _cached(connection)
    failure = connection.outcome(send(observer).refuse("mallory"))
    assert isinstance(failure, Failure) and failure.check(ValueError)
    assert failure.getErrorMessage() == "mallory may not join"
    failure = connection.outcome(send(observer).vanish())
    assert failure.check(pb.NoSuchMethod)
    assert "observe_vanish" in failure.getErrorMessage()
    # An observer of a Cacheable never given to that peer cannot send.
    broker = connection.serverBrokers[0]
    stranger = pb.RemoteCacheObserver(broker, Room(), None)
    failure = connection.outcome(send(stranger).joined("x"))
    assert failure.check(pb.ProtocolError)
    assert copy.members == ["alice"]


def test_sendToObserverAfterDisconnect(connection):
    copy, observer = _cached(connection)
    connection.close()
    failure = connection.outcome(send(observer).joined("late"))
    assert failure.check(pb.DeadReferenceError)
    sendOnly(observer).joined("later")  # logged, and nothing else
    assert copy.members == ["alice"]


def test_sendToRemoteCacheCallsTheCopy(connection):
    copy, observer = _cached(connection)
    assert connection.outcome(send(copy, reactor=connection.reactor).count()) == 1
    # Pipelined to the answer, before it is known to be a cache: the
    # message runs on the copy too, as sequentially.
    counted = send(send(connection.root).room()).count()
    assert connection.outcome(counted) == 1


def test_sendToEachObserverReachesEveryCopy(reactor, runUntil):
    # Two clients hold copies; the server tells each through its observer.
    lobby = Lobby()
    first = Connection(reactor, runUntil, lobby, pipelining=True)
    second = Connection(reactor, runUntil, lobby, pipelining=True)
    try:
        copies = [
            runUntil(reactor, connection.root.callRemote("room")) for connection in (first, second)
        ]
        assert len(lobby.room.observers) == 2
        promises = [send(observer).joined("zoe") for observer in lobby.room.observers]
        assert [first.outcome(promise) for promise in promises] == [2, 2]
        assert [copy.members for copy in copies] == [["alice", "zoe"]] * 2
    finally:
        first.close()
        second.close()
