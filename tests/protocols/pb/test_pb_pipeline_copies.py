"""
Messages pipelined to an answer that turns out to be a copy (a Copyable, a
number, a Failure), between Loom peers over real loopback sockets on every
reactor: each test runs once with pipelining and once against a server
without the pipelining dialect (the sequential path), and expects the same
results, Failures and order from both.  The chain that goes remote again
after a local step on the copy stays pipelined from there: two round trips
instead of the sequential three.
"""

import pytest

from protocols.pb import banana, pb
from reactor.eventual import send, sendOnly
from reactor.failure import Failure

from .pbhelpers import Builder, Connection

pytestmark = pytest.mark.timeout(30)


class Info(pb.Copyable):
    """What the server sends by copy: a name and a reference to a Builder."""

    def __init__(self, name):
        self.name = name
        self.builder = Builder(name)

    def getTypeToCopy(self):
        return b"test_pb_pipeline_copies.Info"


class RemoteInfo(pb.RemoteCopy):
    """The client's copy: its methods run here, never on the server."""

    def setCopyableState(self, state):
        pb.RemoteCopy.setCopyableState(self, state)
        self.seen = []

    def describe(self):
        return "builder %s" % (self.name,)

    def getBuilder(self):
        return self.builder  # a RemoteReference: the chain goes remote again

    def firstBuild(self):
        return self.builder.callRemote("getBuild", 1)  # a Deferred of one

    def explode(self):
        raise ValueError("no %s here" % (self.name,))

    def record(self, mark):
        self.seen.append(mark)
        return mark


pb.setUnjellyableForClass("test_pb_pipeline_copies.Info", RemoteInfo)


class Status(pb.Root):
    def remote_info(self, name):
        return Info(name)

    def remote_number(self):
        return 7

    def remote_fail(self):
        raise KeyError("no such builder")

    def remote_builder(self, name):
        return Builder(name)


@pytest.fixture(params=[True, False], ids=["pipelined", "sequential"])
def connection(request, reactor, runUntil):
    connection = Connection(reactor, runUntil, Status(), pipelining=request.param)
    yield connection
    connection.close()


def test_messagesToACopyRunOnTheCopy(connection):
    # Before this, a message pipelined to a copy failed with PipelineError
    # where the sequential path called the copy's method.
    root = connection.root
    info = send(root).info("linux")
    described = send(info).describe()
    exploded = send(info).explode()
    afterExplode = send(exploded).describe()
    missing = send(info).noSuchMethod()
    bits = send(send(root).number()).bit_length()
    copy = connection.outcome(info)
    assert isinstance(copy, RemoteInfo) and copy.name == "linux"
    assert connection.outcome(described) == "builder linux"
    failure = connection.outcome(exploded)
    assert isinstance(failure, Failure) and failure.check(ValueError)
    assert failure.getErrorMessage() == "no linux here"
    # A broken promise hands its own Failure on, as locally.
    assert connection.outcome(afterExplode) is failure
    failure = connection.outcome(missing)
    assert isinstance(failure, Failure) and failure.check(AttributeError)
    assert connection.outcome(bits) == 3


def test_messagesToAFailedAnswerGetItsFailure(connection):
    failed = send(connection.root).fail()
    after = send(failed).describe()
    sendOnly(failed).describe()
    failure = connection.outcome(failed)
    assert failure.check(KeyError) and failure.getErrorMessage() == "'no such builder'"
    assert connection.outcome(after) is failure
    assert connection.outcome(send(after).describe()) is failure


def test_chainGoesRemoteAgainAfterACopy(connection):
    # info() is answered with a copy, getBuilder() runs on the copy and
    # returns a reference, getBuild() and getResults() go to the server
    # again.  Pipelined, those last two leave together: two round trips.
    info = send(connection.root).info("arm")
    results = send(send(send(info).getBuilder()).getBuild(4)).getResults()
    assert connection.outcome(results) == "arm build 4: success"
    expectedRoundTrips = 2 if connection.broker.pipelining else 3
    assert connection.broker.roundTrips() == expectedRoundTrips
    # A method of the copy that answers with a Deferred of a reference.
    first = send(send(info).firstBuild()).getResults()
    assert connection.outcome(first) == "arm build 1: success"


def test_orderKeptForACopy(connection):
    # Messages pipelined before the copy arrived, one sent the moment its
    # answer is handled (before the server's refusals of the pipelined
    # ones are read), and more sent later reach the copy in the order sent.
    info = send(connection.root).info("order")
    sendOnly(info).record(0)
    first = send(info).record(1)
    sendOnly(info).record(2)
    broker = connection.broker
    handle = broker.proto_answer

    def proto_answer(requestID, netResult):
        handle(requestID, netResult)
        if not hasattr(broker, "sentAtAnswer"):
            broker.sentAtAnswer = True
            sendOnly(info).record(3)

    broker.proto_answer = proto_answer
    copy = connection.outcome(info)
    sendOnly(info).record(4)
    assert connection.outcome(send(info).record(5)) == 5
    assert connection.outcome(first) == 1
    assert copy.seen == [0, 1, 2, 3, 4, 5]
    assert broker.sentAtAnswer


def test_unsendableArgumentsHeldForTheAnswer(connection):
    # An argument the connection cannot carry (a string over banana's
    # limit) is no reason to fail a message whose target may be a copy: it
    # waits for the answer, with those sent after it, and reaches the copy.
    big = b"x" * (banana.SIZE_LIMIT + 1)
    info = send(connection.root).info("big")
    recorded = send(info).record(big)
    sendOnly(info).record(2)
    copy = connection.outcome(info)
    assert connection.outcome(recorded) == big
    assert connection.outcome(send(info).record(3)) == 3
    assert [len(mark) if mark == big else mark for mark in copy.seen] == [len(big), 2, 3]
    # To a reference, it fails as it would have at once.
    builder = send(connection.root).builder("big")
    failure = connection.outcome(send(builder).getBuild(big))
    assert isinstance(failure, Failure) and failure.check(banana.BananaError)
