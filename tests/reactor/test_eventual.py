"""
Tests for reactor.eventual: the eventual queue on every reactor, and
promises driven deterministically by a Clock.
"""

import pytest
from zope.interface import implementer

from reactor.defer import Deferred, succeed
from reactor.eventual import (
    EventualQueue,
    IEventualTarget,
    Promise,
    UsageError,
    fireEventually,
    flushEventualQueue,
    getEventualQueue,
    makePromise,
    resolvedPromise,
    send,
    sendOnly,
    when,
)
from reactor.failure import Failure
from reactor.pytestplugin import runUntil
from reactor.task import Clock
from tests.reactor.reactorhelpers import LoggedErrors

pytestmark = pytest.mark.timeout(20)


# -- the queue, on every reactor ----------------------------------------------


def test_eventuallyRunsLaterInOrder(reactor):
    """Calls run after the caller returns, in the order they were queued."""
    queue = EventualQueue(reactor)
    events = []
    queue.eventually(events.append, 1)
    queue.eventually(events.append, 2)
    queue.eventually(lambda *args, **kwargs: events.append((args, kwargs)), 3, f=4)
    events.append("caller done")
    runUntil(reactor, queue.flush())
    assert events == ["caller done", 1, 2, ((3,), {"f": 4})]


def test_queuedDuringTurnWaits(reactor):
    """
    A call queued by a queued call runs on a later turn: after everything
    queued before it, never inside the call that queued it, and after the
    reactor has had a turn of its own (a callLater(0) made during the first
    turn, before the call is queued, runs before it).
    """
    queue = EventualQueue(reactor)
    events = []

    def first():
        reactor.callLater(0, events.append, "timer")
        queue.eventually(events.append, "queued by first")
        events.append("first done")

    queue.eventually(first)
    queue.eventually(events.append, "second")
    runUntil(reactor, queue.flush())
    assert events == ["first done", "second", "timer", "queued by first"]


def test_errorIsLoggedAndQueueGoesOn(reactor):
    """A call that raises is logged with its name; the calls after it still run."""
    queue = EventualQueue(reactor)
    events = []

    def broken():
        raise ZeroDivisionError("boom")

    with LoggedErrors() as logged:
        queue.eventually(broken)
        queue.eventually(events.append, "after")
        runUntil(reactor, queue.flush())
    assert events == ["after"]
    [failure] = logged.failures()
    assert failure.check(ZeroDivisionError)
    assert "broken" in logged.events[0]["why"]


def test_fireEventually(reactor):
    """fireEventually's Deferred fires on a later turn, after calls queued before it."""
    queue = EventualQueue(reactor)
    events = []
    queue.eventually(events.append, "queued first")
    deferred = queue.fireEventually("value")
    deferred.addCallback(events.append)
    assert events == []
    runUntil(reactor, deferred)
    assert events == ["queued first", "value"]


def test_flushWaitsForCallsQueuedByCalls(reactor):
    """flush fires only when a turn leaves nothing queued, and at once when empty."""
    queue = EventualQueue(reactor)
    flushed = []
    queue.flush().addCallback(flushed.append)
    assert flushed == [None]
    events = []
    queue.eventually(lambda: queue.eventually(events.append, "nested"))
    done = queue.flush()
    runUntil(reactor, done)
    assert events == ["nested"]


def test_promiseChainOnEveryReactor(reactor):
    """Promises delivered through a real reactor's queue (found by getEventualQueue)."""

    class Node:
        def __init__(self, depth):
            self.depth = depth

        def child(self):
            return Node(self.depth + 1)

    promise, resolver = makePromise(reactor=reactor)
    deepest = send(send(send(promise).child()).child()).child()
    resolver(Node(0))
    assert runUntil(reactor, when(deepest)).depth == 3
    runUntil(reactor, flushEventualQueue(reactor=reactor))
    assert getEventualQueue(reactor).reactor is reactor


def test_queuePerReactor():
    """getEventualQueue gives one queue per reactor, bound to it."""
    first, second = Clock(), Clock()
    assert getEventualQueue(first) is getEventualQueue(first)
    assert getEventualQueue(first) is not getEventualQueue(second)
    assert getEventualQueue(second).reactor is second


def test_moduleFunctionsUseTheReactorsQueue():
    """fireEventually and flushEventualQueue with reactor= use that reactor's queue."""
    clock = Clock()
    results = []
    fireEventually(5, reactor=clock).addCallback(results.append)
    flushEventualQueue(reactor=clock).addCallback(results.append)
    assert results == []
    clock.advance(0)
    assert results == [5, None]


# -- promises, deterministic ---------------------------------------------------


def spin(clock):
    """Run the clock's due calls until none are left (bounded)."""
    for _ in range(1000):
        if not clock.getDelayedCalls():
            return
        clock.advance(0)
    raise AssertionError("the eventual queue never empties")


def result(deferred):
    """Return what a fired Deferred holds (a Failure handled here)."""
    results = []
    deferred.addBoth(results.append)
    assert results, "the Deferred has not fired"
    return results[0]


class Target:
    """Records the calls made to it."""

    def __init__(self):
        self.calls = []

    def add(self, a, b=0):
        self.calls.append(("add", a, b))
        return a + b

    def fail(self):
        self.calls.append(("fail",))
        raise KeyError("nope")

    def later(self, deferred):
        return deferred

    def child(self):
        return Target()


def test_sendToLocalObjectIsEventual():
    """send(obj).m() calls m on a later turn; when() gives its result."""
    clock, target = Clock(), Target()
    promise = send(target, reactor=clock).add(1, b=2)
    assert isinstance(promise, Promise)
    assert target.calls == []
    done = when(promise)
    spin(clock)
    assert target.calls == [("add", 1, 2)]
    assert result(done) == 3


def test_sendKeepsOrder():
    """Messages to one object are delivered in the order sent."""
    clock, target = Clock(), Target()
    for n in range(5):
        send(target, reactor=clock).add(n)
    spin(clock)
    assert target.calls == [("add", n, 0) for n in range(5)]


def test_errorBreaksResultPromise():
    """A method that raises breaks the promise of its result with that Failure."""
    clock = Clock()
    done = when(send(Target(), reactor=clock).fail())
    spin(clock)
    failure = result(done)
    assert isinstance(failure, Failure) and failure.check(KeyError)


def test_missingMethodBreaksPromise():
    """A message the target has no method for breaks the result with AttributeError."""
    clock = Clock()
    done = when(send(Target(), reactor=clock).noSuchMethod())
    spin(clock)
    assert result(done).check(AttributeError)


def test_privateNamesAreNotSent():
    """send(x)._name is refused at once: private names are not messages."""
    with pytest.raises(AttributeError):
        send(Target(), reactor=Clock())._private()


def test_deferredResultIsWaitedFor():
    """A method returning a Deferred resolves its promise with the Deferred's result."""
    clock, pending = Clock(), Deferred()
    done = when(send(Target(), reactor=clock).later(pending))
    spin(clock)
    assert not done.called
    pending.callback("finally")
    spin(clock)
    assert result(done) == "finally"


def test_messagesWaitInPromiseUntilResolved():
    """Messages sent to an unresolved promise are delivered, in order, once it resolves."""
    clock, target = Clock(), Target()
    promise, resolver = makePromise(reactor=clock)
    first = when(send(promise).add(1))
    sendOnly(promise).add(2)
    spin(clock)
    assert target.calls == []
    resolver(target)
    spin(clock)
    assert target.calls == [("add", 1, 0), ("add", 2, 0)]
    assert result(first) == 1


def test_chainOfDependentSends():
    """send(send(x).child()).add(...) reaches the child, once it exists."""
    clock = Clock()
    root = Target()
    childPromise = send(root, reactor=clock).child()
    done = when(send(childPromise).add(20, b=22))
    spin(clock)
    assert result(done) == 42


def test_brokenPromiseDeliversFailureToEverythingSent():
    """A promise broken by an exception gives that Failure to every message and every when."""
    clock = Clock()
    promise, resolver = makePromise(reactor=clock)
    before = when(send(promise).add(1))
    watcher = when(promise)
    resolver(Failure(ValueError("broken")))
    after = when(send(promise).add(2))
    later = when(promise)
    spin(clock)
    for deferred in (before, watcher, after, later):
        failure = result(deferred)
        assert isinstance(failure, Failure) and failure.check(ValueError)


def test_sendOnlyToBrokenPromiseIsDropped():
    """sendOnly to a broken promise delivers nothing and logs nothing."""
    clock = Clock()
    promise = resolvedPromise(Failure(ValueError("broken")), reactor=clock)
    with LoggedErrors() as logged:
        assert sendOnly(promise).add(1) is None
        spin(clock)
    assert logged.events == []


def test_sendOnlyErrorIsLogged():
    """An exception raised by a method called through sendOnly is logged, not lost."""
    clock, target = Clock(), Target()
    with LoggedErrors() as logged:
        sendOnly(target, reactor=clock).fail()
        spin(clock)
    assert target.calls == [("fail",)]
    [failure] = logged.failures()
    assert failure.check(KeyError)


def test_promiseResolvedWithPromiseFollowsIt():
    """A promise resolved with another promise takes its resolution, value or Failure."""
    clock, target = Clock(), Target()
    outer, resolveOuter = makePromise(reactor=clock)
    inner, resolveInner = makePromise(reactor=clock)
    sent = when(send(outer).add(3))
    resolveOuter(inner)
    watcher = when(outer)
    spin(clock)
    assert not watcher.called and target.calls == []
    resolveInner(target)
    spin(clock)
    assert result(watcher) is target
    assert result(sent) == 3


def test_followerOfBrokenPromiseIsBroken():
    """A promise following one that breaks is broken with the same Failure."""
    clock = Clock()
    broken, resolveBroken = makePromise(reactor=clock)
    follower = resolvedPromise(broken, reactor=clock)
    sent = when(send(follower).add(1))
    resolveBroken(Failure(OSError("gone")))
    watcher = when(follower)
    spin(clock)
    assert result(watcher).check(OSError)
    assert result(sent).check(OSError)


def test_promiseResolvedWithDeferredWaitsForIt():
    """Resolving with a Deferred resolves with its result once it fires."""
    clock = Clock()
    promise, resolver = makePromise(reactor=clock)
    pending = Deferred()
    resolver(pending)
    watcher = when(promise)
    spin(clock)
    assert not watcher.called
    pending.callback(7)
    spin(clock)
    assert result(watcher) == 7


def test_resolveTwiceRefused():
    """A resolver may be called once; a second call raises UsageError."""
    promise, resolver = makePromise(reactor=Clock())
    resolver(1)
    with pytest.raises(UsageError):
        resolver(2)


def test_resolveWithItselfBreaks():
    """A promise resolved with itself (or a chain back to itself) is broken, not a loop."""
    clock = Clock()
    first, resolveFirst = makePromise(reactor=clock)
    second, resolveSecond = makePromise(reactor=clock)
    resolveSecond(first)
    resolveFirst(second)
    watchers = [when(first), when(second)]
    spin(clock)
    for watcher in watchers:
        assert result(watcher).check(UsageError)


def test_whenIsAlwaysEventual():
    """when() of an already resolved promise still fires on a later turn."""
    clock = Clock()
    done = when(resolvedPromise("ready", reactor=clock))
    assert not done.called
    spin(clock)
    assert result(done) == "ready"


def test_whenNeedsPromise():
    """when() of something that is not a Promise is a TypeError."""
    with pytest.raises(TypeError):
        when(succeed(1))


@implementer(IEventualTarget)
class RecordingRemote:
    """An IEventualTarget standing for a remote reference: records what it is sent."""

    def __init__(self, clock):
        self.clock = clock
        self.sent = []

    def eventualSend(self, methodName, args, kwargs):
        self.sent.append((methodName, args, kwargs, True))
        return resolvedPromise("answer to " + methodName, reactor=self.clock)

    def eventualSendOnly(self, methodName, args, kwargs):
        self.sent.append((methodName, args, kwargs, False))


def test_eventualTargetTakesSendsItself():
    """send() and sendOnly() hand messages to an IEventualTarget, which answers."""
    clock = Clock()
    remote = RecordingRemote(clock)
    done = when(send(remote).getBuilder("name"))
    sendOnly(remote).ping(1, x=2)
    assert remote.sent == [("getBuilder", ("name",), {}, True), ("ping", (1,), {"x": 2}, False)]
    spin(clock)
    assert result(done) == "answer to getBuilder"


def test_promiseResolvedToEventualTargetForwardsQueuedMessages():
    """
    Messages queued in a promise are handed to the IEventualTarget it
    resolves to at once, in order (this is what lets PB pipeline them); when()
    gives the target itself.
    """
    clock = Clock()
    remote = RecordingRemote(clock)
    promise, resolver = makePromise(reactor=clock)
    first = when(send(promise).getBuild(-1))
    sendOnly(promise).ping()
    resolver(remote)
    assert remote.sent == [("getBuild", (-1,), {}, True), ("ping", (), {}, False)]
    watcher = when(promise)
    later = when(send(promise).getResults())
    spin(clock)
    assert result(first) == "answer to getBuild"
    assert result(watcher) is remote
    assert result(later) == "answer to getResults"
