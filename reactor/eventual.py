"""
Eventual send: calls run on a later turn of the reactor, and promises of
results that messages can be sent to before they exist (Foolscap's
``foolscap.eventual`` and ``foolscap.promise``).

The one idea: a call made "eventually" never runs inside the code that asked
for it.  `eventually` appends the call to a FIFO queue and the queue empties
itself from one ``callLater(0)``: each turn runs only the calls that were
queued when it began, so a call that queues another starts a new turn (the
reactor looks at I/O in between), and no call is ever made re-entrantly,
halfway through its caller.  An exception in a call is logged and the queue
goes on.

A Promise stands for a result not known yet.  ``send(target).method(*args)``
returns a Promise for what ``target.method(*args)`` will return; ``target``
may be a local object (the call is made on a later turn) or a Promise (the
message waits in the promise and is delivered, in order, once it resolves).
``when(promise)`` gives a Deferred of the resolution.  A promise resolved
with a Failure is broken: everything sent to it, and every ``when``, gets
that Failure.  A promise resolved with another promise follows it; one
resolved with a Deferred waits for it.

The hook for remote objects is `IEventualTarget`: ``send(x)`` hands the
message to ``x.eventualSend(methodName, args, kwargs)`` when x provides it,
instead of calling x on a later turn.  Promise provides it (that is how
messages reach a promise), and Perspective Broker's RemoteReference provides
it by sending the message over the connection; a promise that resolves to
such a target forwards the messages queued in it to the target at once,
which is what lets PB pipeline them.

Each reactor has its own queue (`getEventualQueue`); the module functions
and promises use the global reactor's unless given ``reactor=``, which is
how tests drive them with a Clock.
"""

from __future__ import annotations

import weakref
from collections import deque
from typing import Any, Callable, Generic, TypeVar

from zope.interface import Interface, implementer

from reactor import getReactor, log
from reactor.defer import Deferred, maybeDeferred, succeed
from reactor.failure import Failure

__all__ = [
    "EventualQueue",
    "getEventualQueue",
    "eventually",
    "fireEventually",
    "flushEventualQueue",
    "IEventualTarget",
    "Promise",
    "UsageError",
    "makePromise",
    "resolvedPromise",
    "send",
    "sendOnly",
    "when",
]

_T = TypeVar("_T")
Resolver = Callable[[Any], None]


class EventualQueue:
    """
    A FIFO of calls, each run on a later turn of one reactor.

    :ivar reactor: the reactor (or Clock) whose ``callLater(0)`` runs the turns.
    """

    def __init__(self, reactor: Any) -> None:
        self.reactor = reactor
        self._calls: deque[tuple[Callable[..., object], tuple[Any, ...], dict[str, Any]]]
        self._calls = deque()
        self._timer: Any = None
        self._flushWaiters: list[Deferred[None]] = []

    def eventually(self, f: Callable[..., object], /, *args: Any, **kwargs: Any) -> None:
        """
        Call f(*args, **kwargs) on a later turn, after every call queued before it.

        An exception from f is logged (with f's name) and nothing else happens.
        """
        self._calls.append((f, args, kwargs))
        if self._timer is None:
            self._timer = self.reactor.callLater(0, self._turn)

    def fireEventually(self, value: Any = None) -> Deferred[Any]:
        """Return a Deferred fired with value on a later turn, after the calls queued now."""
        deferred: Deferred[Any] = Deferred()
        self.eventually(deferred.callback, value)
        return deferred

    def flush(self) -> Deferred[None]:
        """
        Return a Deferred fired once the queue is empty: at once if it is,
        else at the end of the first turn that leaves nothing queued (calls
        queued by calls keep it waiting).
        """
        if not self._calls:
            return succeed(None)
        waiter: Deferred[None] = Deferred()
        self._flushWaiters.append(waiter)
        return waiter

    def _turn(self) -> None:
        self._timer = None
        # Only what was queued before this turn: a call queued now lands in
        # the fresh deque and schedules the next turn (test_queuedDuringTurnWaits).
        calls, self._calls = self._calls, deque()
        for f, args, kwargs in calls:
            try:
                f(*args, **kwargs)
            except Exception:
                log.err(None, "Unhandled error in eventual call to %s" % (_describe(f),))
        if not self._calls:
            waiters, self._flushWaiters = self._flushWaiters, []
            for waiter in waiters:
                waiter.callback(None)


def _describe(f: Callable[..., object]) -> str:
    return getattr(f, "__qualname__", None) or repr(f)


_queues: weakref.WeakKeyDictionary[Any, EventualQueue] = weakref.WeakKeyDictionary()


def getEventualQueue(reactor: Any = None) -> EventualQueue:
    """
    Return reactor's eventual queue, made on first use (the global reactor's
    when reactor is None, installing it if none is yet).
    """
    reactor = getReactor(reactor)
    queue = _queues.get(reactor)
    if queue is None:
        queue = _queues[reactor] = EventualQueue(reactor)
    return queue


def eventually(f: Callable[..., object], /, *args: Any, **kwargs: Any) -> None:
    """
    Call f(*args, **kwargs) on a later turn of the global reactor, in FIFO
    order with every other eventual call; never before this call returns.

    An exception from f is logged; f's result is dropped (let f tell whoever
    needs to know).  With another reactor: ``getEventualQueue(r).eventually``.
    Like callLater, it is for the reactor thread only.
    """
    getEventualQueue().eventually(f, *args, **kwargs)


def fireEventually(value: Any = None, *, reactor: Any = None) -> Deferred[Any]:
    """Return a Deferred fired with value on a later turn, after the eventual calls queued now."""
    return getEventualQueue(reactor).fireEventually(value)


def flushEventualQueue(_ignored: object = None, *, reactor: Any = None) -> Deferred[None]:
    """
    Return a Deferred fired once the eventual queue is empty, for the end of
    a test.  It takes (and ignores) one argument so that it can be a
    callback: ``d.addCallback(flushEventualQueue)``.
    """
    return getEventualQueue(reactor).flush()


# -- promises -----------------------------------------------------------------


class UsageError(Exception):
    """A promise used wrongly: resolved twice, or resolved with itself."""


class IEventualTarget(Interface):
    """
    Something that takes eventual sends itself, rather than being called on
    a later turn: a Promise, or a remote reference that sends the message
    over its connection.  ``send(target)`` and ``sendOnly(target)`` call
    these instead of calling target.
    """

    def eventualSend(
        methodName: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Promise[Any]:
        """
        Deliver the message methodName(*args, **kwargs), never before this
        call returns, and return a Promise for its result (broken with the
        Failure if it fails).
        """

    def eventualSendOnly(methodName: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> None:
        """As eventualSend, when nobody wants the result."""


# A promise's states.  FORWARDED: resolved with another promise, which now
# answers for this one.  NEAR: resolved with a value.  BROKEN: with a Failure.
_EVENTUAL, _FORWARDED, _NEAR, _BROKEN = "eventual", "forwarded", "near", "broken"


@implementer(IEventualTarget)
class Promise(Generic[_T]):
    """
    A result not known yet, that messages can be sent to meanwhile.

    Made by `makePromise` (with the resolver that settles it) and by
    `send`.  Messages sent before it resolves wait in it, in order, and are
    delivered on a later turn once it does; `when` gives a Deferred of the
    resolution.  Subclasses may override `eventualSend` and
    `eventualSendOnly` (Perspective Broker's promises for remote answers do,
    to pipeline messages).

    Unlike Foolscap's, a Promise has no "dataflow" calls (``p.foo()`` for
    ``send(p).foo()``): a misspelt attribute is an AttributeError here.
    """

    def __init__(self, *, reactor: Any = None) -> None:
        self._reactor = reactor
        self._state = _EVENTUAL
        self._resolved = False
        self._result: Any = None
        self._pending: list[tuple[str, tuple[Any, ...], dict[str, Any], Resolver | None]] = []
        self._watchers: list[Deferred[Any]] = []

    def __repr__(self) -> str:
        return "<Promise %s at %#x>" % (self._state, id(self))

    def _queue(self) -> EventualQueue:
        return getEventualQueue(self._reactor)

    def eventualSend(
        self, methodName: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> Promise[Any]:
        """Send methodName(*args, **kwargs) to the resolution; return a Promise of its result."""
        promise, resolver = makePromise(reactor=self._reactor)
        self._post(methodName, args, kwargs, resolver)
        return promise

    def eventualSendOnly(
        self, methodName: str, args: tuple[Any, ...], kwargs: dict[str, Any]
    ) -> None:
        """Send methodName(*args, **kwargs) to the resolution; an error it raises is logged."""
        self._post(methodName, args, kwargs, None)

    def _post(
        self, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], resolver: Resolver | None
    ) -> None:
        state = self._state
        if state == _EVENTUAL:
            self._pending.append((name, args, kwargs, resolver))
        elif state == _BROKEN:
            if resolver is not None:
                self._queue().eventually(resolver, self._result)
        elif state == _FORWARDED or IEventualTarget.providedBy(self._result):
            _forward(self._result, name, args, kwargs, resolver)
        else:
            self._queue().eventually(_deliver, self._result, name, args, kwargs, resolver)

    def _whenResolved(self) -> Deferred[_T]:
        deferred: Deferred[_T] = Deferred()
        state = self._state
        if state == _EVENTUAL:
            self._watchers.append(deferred)
        elif state == _FORWARDED:
            self._result._whenResolved().chainDeferred(deferred)
        else:  # NEAR or BROKEN: the result or Failure, on a later turn
            self._queue().eventually(deferred.callback, self._result)
        return deferred

    def _resolve(self, result: Any) -> None:
        if self._resolved:
            raise UsageError("a promise may be resolved only once")
        self._resolved = True
        self._settle(result)

    def _settle(self, result: Any) -> None:
        if isinstance(result, Deferred):
            result.addBoth(self._settle)
            return
        if isinstance(result, Promise):
            end = result
            while end._state == _FORWARDED:
                end = end._result
            if end is self:
                result = Failure(UsageError("a promise cannot be resolved with itself"))
            else:
                self._state, self._result = _FORWARDED, end
        if isinstance(result, Failure):
            self._state, self._result = _BROKEN, result
        elif self._state == _EVENTUAL:
            self._state, self._result = _NEAR, result
        pending, self._pending = self._pending, []
        watchers, self._watchers = self._watchers, []
        for name, args, kwargs, resolver in pending:
            self._post(name, args, kwargs, resolver)
        for watcher in watchers:
            self._whenResolved().chainDeferred(watcher)


def _forward(
    target: Any, name: str, args: tuple[Any, ...], kwargs: dict[str, Any], resolver: Resolver | None
) -> None:
    # target provides IEventualTarget: it delivers the message itself.
    if resolver is None:
        target.eventualSendOnly(name, args, kwargs)
    else:
        resolver(target.eventualSend(name, args, kwargs))


def _deliver(
    target: object,
    name: str,
    args: tuple[Any, ...],
    kwargs: dict[str, Any],
    resolver: Resolver | None,
) -> None:
    # On a later turn: call the near target; the result (or Deferred's result,
    # or error) settles the message's promise.
    result = maybeDeferred(_invoke, target, name, args, kwargs)
    if resolver is None:
        result.addErrback(_logDropped, target, name)
    else:
        result.addBoth(resolver)


def _invoke(target: object, name: str, args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
    return getattr(target, name)(*args, **kwargs)


def _logDropped(failure: Failure, target: object, name: str) -> None:
    log.err(failure, "Unhandled error in sendOnly(%r).%s()" % (target, name))


def makePromise(*, reactor: Any = None) -> tuple[Promise[Any], Resolver]:
    """
    Return a new Promise and its resolver.

    Call the resolver once: with a value (the promise is fulfilled), a
    Failure (broken), another Promise (it follows that one) or a Deferred
    (it waits for it and takes its result).  ``d.addBoth(resolver)`` is the
    usual way.  A second call raises UsageError.

    :param reactor: the reactor whose eventual queue delivers its messages
        (the global one by default).
    """
    promise: Promise[Any] = Promise(reactor=reactor)
    return promise, promise._resolve


def resolvedPromise(value: _T, *, reactor: Any = None) -> Promise[_T]:
    """Return a Promise already resolved with value (a Failure makes it broken)."""
    promise: Promise[_T] = Promise(reactor=reactor)
    promise._resolve(value)
    return promise


class _Sender:
    # send(target): attribute access gives a callable that sends that message.
    def __init__(self, target: Any, wantResult: bool) -> None:
        self._target = target
        self._wantResult = wantResult

    def __getattr__(self, name: str) -> Callable[..., Any]:
        if name.startswith("_"):
            raise AttributeError("refusing to send %s: its name is private" % (name,))
        target = self._target
        if self._wantResult:
            return lambda *args, **kwargs: target.eventualSend(name, args, kwargs)
        return lambda *args, **kwargs: target.eventualSendOnly(name, args, kwargs)


def _targetFor(target: Any, reactor: Any) -> Any:
    if IEventualTarget.providedBy(target):
        return target
    return resolvedPromise(target, reactor=reactor)


def send(target: Any, *, reactor: Any = None) -> Any:
    """
    Eventual send: ``send(target).method(*args, **kwargs)`` returns a
    Promise for the result of calling method on target on a later turn.

    :param target: a local object, a Promise (the message is delivered to
        what it resolves to) or another `IEventualTarget` provider such as a
        PB RemoteReference.
    :param reactor: whose eventual queue calls a local target (the global
        reactor by default; a Promise uses its own).
    :return: an object whose every public attribute is such a method sender.
    """
    return _Sender(_targetFor(target, reactor), wantResult=True)


def sendOnly(target: Any, *, reactor: Any = None) -> Any:
    """
    As `send`, for a message whose result nobody wants: the call returns
    None, and an exception raised by a local target's method is logged.
    """
    return _Sender(_targetFor(target, reactor), wantResult=False)


def when(promise: Promise[_T]) -> Deferred[_T]:
    """
    Return a Deferred fired, on a later turn, with what promise resolves to,
    or with its Failure if it is broken.

    :raises TypeError: promise is not a Promise.
    """
    if not isinstance(promise, Promise):
        raise TypeError("when() needs a Promise, not %r" % (promise,))
    return promise._whenResolved()
