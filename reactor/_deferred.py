"""
Deferred: a result that is not there yet, and the chain of callbacks that
will process it; and the driver that runs a generator or coroutine over
Deferreds (inlineCallbacks, ``async def``).

A Deferred holds a list of steps.  A step is a callback itself (what
``addCallback(f)`` adds, the common case) or a 6-tuple (callback, its args,
its keywords, errback, its args, its keywords), either half possibly None.
When the Deferred fires, the result runs down the list: a normal value goes to
the next callback, a Failure to the next errback, and whatever each one
returns (or raises) becomes the result for the next.  A callback that returns
another Deferred pauses the outer chain until the inner one fires, and the
inner result continues down the outer chain.

How chaining avoids recursion: an outer Deferred waiting on an inner one
leaves a marker step at the end of the inner's list.  When the inner chain
reaches it, ``_runSteps`` returns the outer Deferred instead of calling into
it, and ``_runOuterChains`` runs it in its own loop, keeping the inner ones on
an explicit stack; so a chain of 100,000 Deferreds waiting on each other uses
one Python frame, not 100,000 (see test_nestedChainFiredOuterFirstDoesNotRecurse).

Errors left at the end of a chain are not lost: a small ``_DebugInfo`` object
is attached only when the chain ends on a Failure, and if the Deferred is
collected while still holding it, its ``__del__`` logs "Unhandled error in
Deferred" with the traceback.  Successful Deferreds pay nothing for this.

The generator driver lives here, not in a module of its own, because the two
are one mechanism: ``Deferred.fromCoroutine`` starts a driver, the driver
makes Deferreds, and it takes an already-fired Deferred's result through the
same fast path as ``_runSteps``.  Import all of this from ``reactor.defer``,
which gathers this module and the ones built on it (reactor._deferlist,
reactor._defersync, reactor._inlinecallbacks), each of which imports this one
and nothing imports back.
"""

from __future__ import annotations

import collections
import functools
import operator
import threading
import traceback
from collections.abc import Callable, Coroutine, Generator
from types import CoroutineType, GeneratorType
from typing import (
    TYPE_CHECKING,
    Any,
    Concatenate,
    Generic,
    NoReturn,
    ParamSpec,
    Protocol,
    TypeAlias,
    TypeVar,
    overload,
)

from reactor import log as _log
from reactor.failure import Failure

if TYPE_CHECKING:
    # For annotations only: importing asyncio costs loomd's start-up
    # milliseconds (tests/services/test_startup_imports.py).
    from asyncio import AbstractEventLoop, Future

SUCCESS = True
FAILURE = False

# The type of a Deferred's result: ``Deferred[int]`` fires with an int.
_T = TypeVar("_T")
# The result of the next step: what a callback returns (or the result of the
# Deferred it returns).
_NextT = TypeVar("_NextT")
# The result type of a function given to succeed, maybeDeferred and the like.
_ResultT = TypeVar("_ResultT")
# The extra arguments a callback takes after the result.
_P = ParamSpec("_P")
# A generator or a coroutine returning _T, which the driver runs.
_Drivable: TypeAlias = Generator[Any, Any, _T] | Coroutine[Any, Any, _T]

# What a generator may yield besides a Deferred to wait on: a coroutine (the
# call of an ``async def``) or a generator, run as its own inlineCallbacks.
_DRIVABLE = (CoroutineType, GeneratorType)


class _Clock(Protocol):
    # What addTimeout needs of its clock: the callLater of an IReactorTime (a
    # reactor, or task.Clock).  Named by shape, so that this module, which
    # reactor.interfaces refers to, does not refer back to it.
    def callLater(self, delay: float, callable: Callable[..., Any], /) -> _TimedCall: ...


class _TimedCall(Protocol):
    def active(self) -> bool: ...

    def cancel(self) -> None: ...


class AlreadyCalledError(Exception):
    """callback() or errback() was called on a Deferred that has already fired."""


class CancelledError(Exception):
    """The Deferred was cancelled."""


class TimeoutError(Exception):  # noqa: A001 - Twisted's name
    """The Deferred timed out (see Deferred.addTimeout)."""


class NotACoroutineError(TypeError):
    """ensureDeferred was given something that is neither a coroutine nor a Deferred."""


def passthru(arg: _ResultT) -> _ResultT:
    """Return arg: the identity callback."""
    return arg


class _DebugInfo:
    """
    What a Deferred knows only when it needs to: where it was created and first
    fired (in debug mode), and the Failure it still holds at the end of its
    chain, which is logged if the Deferred is collected unhandled.
    """

    __slots__ = ("failResult", "creator", "invoker")

    def __init__(self) -> None:
        self.failResult: Failure | None = None
        self.creator: list[str] | None = None
        self.invoker: list[str] | None = None

    def describe(self) -> str:
        lines = []
        if self.creator:
            lines.append("(debug: the Deferred was created at:\n%s)" % "".join(self.creator))
        if self.invoker:
            lines.append("(debug: the Deferred was first fired at:\n%s)" % "".join(self.invoker))
        return "\n".join(lines)

    def __del__(self) -> None:
        failure = self.failResult
        if failure is None:
            return
        why = "Unhandled error in Deferred:"
        described = self.describe()
        if described:
            why = "%s\n%s" % (why, described)
        try:
            _log.err(failure, why)
        except Exception:  # interpreter shutdown: nothing left to log with
            pass


# The marker a chained outer Deferred leaves on the inner one: when the inner
# chain reaches it, the outer Deferred continues with the inner result.
_CONTINUE = object()
# The marker chainDeferred(d) leaves: d fires with the result there.
_CHAIN = object()


class Deferred(Generic[_T]):
    """
    A result that will be available later, and what to do with it.

    Generic in its result, so ``Deferred[int]`` works in annotations and at
    run time.  The Generic base costs nothing per instance: it adds no
    ``__new__``, ``__init__`` or slot, only ``__class_getitem__`` (see
    test_genericBaseAddsNothingPerInstance).

    :ivar called: True once callback() or errback() has been called.
    :ivar paused: how many times the chain is paused (0 when it runs).
    :ivar result: the current result, once called.
    """

    __slots__ = (
        "callbacks",
        "called",
        "paused",
        "result",
        "_runningCallbacks",
        "_debugInfo",
        "__dict__",
        "__weakref__",
    )

    # The steps: a callback itself (addCallback's common case) or a 6-tuple
    # (callback, args, kwargs, errback, args, kwargs); see _runSteps.
    callbacks: list[Any]
    called: bool
    paused: int
    # Any: the result, a Failure, or the Deferred the chain waits on.
    result: Any
    _runningCallbacks: bool
    _debugInfo: _DebugInfo | None

    debug = False
    # Rarely set, so they live in the instance dict only when used and cost
    # nothing in __init__.
    _canceller: Callable[[Deferred[Any]], object] | None = None
    _suppressAlreadyCalled = False
    _chainedTo: Deferred[Any] | None = None

    def __init__(self, canceller: Callable[[Deferred[_T]], object] | None = None) -> None:
        """
        :param canceller: called with this Deferred by cancel() before it
            fires; it should stop the operation and may fire the Deferred.  If
            it does not (or there is none), cancel() errbacks CancelledError.
        """
        self.callbacks = []
        self.called = False
        self.paused = 0
        self._runningCallbacks = False
        self._debugInfo = None
        if canceller is not None:
            self._canceller = canceller
        if _debugging:
            info = self._debugInfo = _DebugInfo()
            info.creator = traceback.format_stack()[:-1]

    # -- adding callbacks ---------------------------------------------------

    # The overloads tell mypy the type of what comes next: a callback that
    # returns a Deferred[X] gives Deferred[X], one that returns X gives X.
    # They exist for type checkers only; the last definition runs.
    @overload
    def addCallbacks(
        self,
        callback: Callable[Concatenate[_T, ...], Deferred[_NextT] | Failure],
        errback: Callable[Concatenate[Failure, ...], Deferred[_NextT] | Failure] | None = None,
        callbackArgs: tuple[Any, ...] | list[Any] | None = None,
        callbackKeywords: dict[str, Any] | None = None,
        errbackArgs: tuple[Any, ...] | list[Any] | None = None,
        errbackKeywords: dict[str, Any] | None = None,
    ) -> Deferred[_NextT]: ...

    @overload
    def addCallbacks(
        self,
        callback: Callable[Concatenate[_T, ...], Deferred[_NextT] | _NextT | Failure],
        errback: Callable[Concatenate[Failure, ...], Deferred[_NextT] | _NextT | Failure]
        | None = None,
        callbackArgs: tuple[Any, ...] | list[Any] | None = None,
        callbackKeywords: dict[str, Any] | None = None,
        errbackArgs: tuple[Any, ...] | list[Any] | None = None,
        errbackKeywords: dict[str, Any] | None = None,
    ) -> Deferred[_NextT]: ...

    def addCallbacks(
        self,
        callback: Any,
        errback: Any = None,
        callbackArgs: Any = None,
        callbackKeywords: Any = None,
        errbackArgs: Any = None,
        errbackKeywords: Any = None,
    ) -> Deferred[Any]:
        """
        Add a callback and an errback as one step of the chain.

        The errback does not see errors raised by this callback (use addBoth
        or a later addErrback for that).  Any of the argument tuples and
        keyword dicts may be None (as in Twisted), meaning none.  Returns
        self, for chaining calls.
        """
        step = (
            callback,
            tuple(callbackArgs) if callbackArgs else (),
            callbackKeywords or _NO_KWARGS,
            errback,
            tuple(errbackArgs) if errbackArgs else (),
            errbackKeywords or _NO_KWARGS,
        )
        if self.called:
            self._addToFired(step)
        else:
            self.callbacks.append(step)
        return self

    @overload
    def addCallback(
        self,
        callback: Callable[Concatenate[_T, _P], Deferred[_NextT] | Failure],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> Deferred[_NextT]: ...

    @overload
    def addCallback(
        self,
        callback: Callable[Concatenate[_T, _P], Deferred[_NextT] | _NextT | Failure],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> Deferred[_NextT]: ...

    def addCallback(self, callback: Any, *args: Any, **kwargs: Any) -> Deferred[Any]:
        """Add callback(result, *args, **kwargs); errors pass it by. Returns self."""
        # The common case is the callback itself: no tuple to build and
        # unpack (_runSteps tells the two apart by class).
        step = (callback, args, kwargs, None, None, None) if args or kwargs else callback
        if self.called:
            self._addToFired(step)
        else:
            self.callbacks.append(step)
        return self

    @overload
    def addErrback(
        self,
        errback: Callable[Concatenate[Failure, _P], Deferred[_NextT] | Failure],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> Deferred[_T | _NextT]: ...

    @overload
    def addErrback(
        self,
        errback: Callable[Concatenate[Failure, _P], Deferred[_NextT] | _NextT | Failure],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> Deferred[_T | _NextT]: ...

    def addErrback(self, errback: Any, *args: Any, **kwargs: Any) -> Deferred[Any]:
        """Add errback(failure, *args, **kwargs); results pass it by. Returns self."""
        step = (None, None, None, errback, args, kwargs)
        if self.called:
            self._addToFired(step)
        else:
            self.callbacks.append(step)
        return self

    @overload
    def addBoth(
        self,
        callback: Callable[Concatenate[_T | Failure, _P], Deferred[_NextT] | Failure],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> Deferred[_NextT]: ...

    @overload
    def addBoth(
        self,
        callback: Callable[Concatenate[_T | Failure, _P], Deferred[_NextT] | _NextT | Failure],
        *args: _P.args,
        **kwargs: _P.kwargs,
    ) -> Deferred[_NextT]: ...

    def addBoth(self, callback: Any, *args: Any, **kwargs: Any) -> Deferred[Any]:
        """Add callback as both callback and errback. Returns self."""
        step = (callback, args, kwargs, callback, args, kwargs)
        if self.called:
            self._addToFired(step)
        else:
            self.callbacks.append(step)
        return self

    def addTimeout(
        self,
        timeout: float,
        clock: _Clock,
        onTimeoutCancel: Callable[[_T | Failure, float], Any] | None = None,
    ) -> Deferred[_T]:
        """
        Cancel this Deferred if it has not fired within timeout seconds.

        On timeout, the CancelledError becomes a reactor.defer.TimeoutError,
        unless onTimeoutCancel(result, timeout) is given to decide instead.

        :param clock: an IReactorTime (a reactor, or task.Clock in tests).
        :return: self.
        """
        timedOut = []

        def timeItOut() -> None:
            timedOut.append(True)
            self.cancel()

        delayedCall = clock.callLater(timeout, timeItOut)

        def convertCancelled(result: Any) -> Any:
            if timedOut:
                return (onTimeoutCancel or _cancelledToTimedOutError)(result, timeout)
            return result

        def cancelTimeout(result: Any) -> Any:
            if delayedCall.active():
                delayedCall.cancel()
            return result

        self.addBoth(convertCancelled)
        self.addBoth(cancelTimeout)
        return self

    def chainDeferred(self, d: Deferred[_T]) -> Deferred[None]:
        """
        Fire d with this Deferred's result, at this point of the chain.

        This chain goes on with None (d takes the result).  Returns self.
        """
        d._chainedTo = self
        # A marker step, run like an outer chain's (see _runSteps), so a long
        # line of chained Deferreds fires in one loop, without recursion.
        step = (_CHAIN, d, None, _CHAIN, d, None)
        if self.called:
            self._addToFired(step)
        else:
            self.callbacks.append(step)
        # The chain goes on with None: the same object, seen with its new type.
        nextStep: Deferred[Any] = self
        return nextStep

    def _addToFired(self, step: Any) -> None:
        # Add a step to a Deferred that has fired, and run it if the chain
        # can run now.
        self._appendStep(step)
        self._runCallbacks()

    def _appendStep(self, step: Any) -> None:
        # succeed() leaves callbacks an empty tuple (most already-fired
        # Deferreds are consumed without ever getting a callback, so they
        # never pay for a list): the first step added makes the list.
        callbacks = self.callbacks
        if callbacks.__class__ is tuple:  # type: ignore[comparison-overlap]  # see succeed()
            self.callbacks = [step]
        else:
            callbacks.append(step)

    # -- firing -------------------------------------------------------------

    def callback(self, result: _T | Failure) -> None:
        """
        Fire the chain with a result.

        :raises AlreadyCalledError: if this Deferred has already fired.
        """
        if self.called:
            self._alreadyCalled()
            return
        if result.__class__ not in _PLAIN and isinstance(result, Deferred):
            raise AssertionError("callback() was given a Deferred: %r" % (result,))
        self.called = True
        self.result = result
        if self._debugInfo is not None:
            self._debugInfo.invoker = traceback.format_stack()[:-1]
        if self.callbacks:
            # _runCallbacks() inlined: this Deferred cannot be running yet.
            if not self.paused:
                outer = self._runSteps()
                if outer is not None:
                    _runOuterChains(self, outer)
        elif result.__class__ not in _PLAIN and isinstance(result, Failure):
            self._finish()

    def errback(self, fail: Failure | BaseException | type[BaseException] | None = None) -> None:
        """
        Fire the chain with an error.

        :param fail: a Failure, or an exception (wrapped in one), or None inside
            an ``except`` block for the exception being handled.
        :raises AlreadyCalledError: if this Deferred has already fired.
        """
        if fail is None:
            fail = Failure()
        elif not isinstance(fail, Failure):
            fail = Failure(fail)
        if self.called:
            self._alreadyCalled()
            return
        self.called = True
        self.result = fail
        if self._debugInfo is not None:
            self._debugInfo.invoker = traceback.format_stack()[:-1]
        self._runCallbacks()

    def _alreadyCalled(self) -> None:
        if self._suppressAlreadyCalled:
            # cancel() had no canceller and errbacked for it; the operation's
            # own late answer is dropped quietly.
            self._suppressAlreadyCalled = False
            return
        text = "Deferred already fired"
        if self._debugInfo is not None:
            text += "\n" + self._debugInfo.describe()
        raise AlreadyCalledError(text)

    def pause(self) -> None:
        """Stop running callbacks until unpause() is called as many times."""
        self.paused += 1

    def unpause(self) -> None:
        """Undo one pause(); run the callbacks once none is left."""
        self.paused -= 1
        if self.paused:
            return
        if self.called:
            self._runCallbacks()

    def cancel(self) -> None:
        """
        Cancel the operation behind this Deferred.

        Before it fires: call the canceller; if that did not fire the
        Deferred, errback CancelledError.  While it waits on another Deferred
        (a callback returned one), cancel that one.  After it fired: nothing.
        """
        if not self.called:
            canceller = self._canceller
            if canceller is not None:
                if canceller(self) is _KEEP_WAITING:
                    return
            else:
                self._suppressAlreadyCalled = True
            if not self.called:
                self.errback(Failure(CancelledError()))
        elif isinstance(self.result, Deferred):
            self.result.cancel()

    # -- the engine ---------------------------------------------------------

    def _runCallbacks(self) -> None:
        # Run the chain if it can run now: not paused, and not already running
        # further up the Python stack (a callback added another callback;
        # the loop that is running will get to it).
        if self._runningCallbacks or self.paused:
            return
        outer = self._runSteps()
        if outer is not None:
            _runOuterChains(self, outer)

    def _runSteps(self) -> Any:
        # Run this Deferred's callbacks until the list is empty, it pauses,
        # it waits on an inner Deferred, or it meets an outer one's marker.
        # Returns that outer Deferred in the last case (this one then stays
        # marked as running, with callbacks left to run), else None.  (Typed
        # Any: the steps are untyped tuples, and naming the outer Deferred's
        # type would cost a store on the hot path.)
        #
        # The hot path of the whole module, so it counts bytecodes: the
        # result stays in a local and is stored back only when the loop
        # stops; steps are not counted (a run to the end clears the list, and
        # one that stops early asks the iterator how many are left); the
        # marker test hides behind the arguments test (a marker always has
        # an argument: the outer Deferred).  A step of addCallback(f) is f
        # itself, not a tuple (see addCallback); one whose callback returns a
        # plain value costs a class test, one call, one set lookup and a few
        # tests.
        self._runningCallbacks = True
        callbacks = self.callbacks
        result = self.result
        failed = result.__class__ not in _PLAIN and isinstance(result, Failure)
        steps = iter(callbacks)
        for step in steps:
            try:
                if step.__class__ is not tuple:
                    # addCallback(f): the step is f itself.
                    if failed:
                        continue
                    result = step(result)
                else:
                    function, args, kwargs, errback, errbackArgs, errbackKwargs = step
                    if failed:
                        if errback is None:
                            continue
                        function, args, kwargs = errback, errbackArgs, errbackKwargs
                    elif function is None:
                        continue
                    if not (args or kwargs):
                        result = function(result)
                    elif function is _CONTINUE:
                        # An outer Deferred was waiting on this one: it takes
                        # the result, and runs next in the caller's loop.
                        args.result = result
                        args._chainedTo = None
                        args.paused -= 1
                        self.result = None
                        _dropRan(callbacks, steps)
                        return args
                    elif function is _CHAIN:
                        # chainDeferred: args takes the result and runs next in
                        # the caller's loop; this chain goes on with None.
                        if args.called:
                            args._alreadyCalled()  # raises, unless a cancel made it quiet
                            result = None
                        else:
                            _takeChainedResult(args, result)
                            self.result = None
                            _dropRan(callbacks, steps)
                            return args
                    else:
                        result = function(result, *args, **kwargs)
            except BaseException as error:
                if isinstance(error, (KeyboardInterrupt, SystemExit)):
                    self.result = result
                    self._runningCallbacks = False
                    _dropRan(callbacks, steps)
                    raise
                result = Failure()
                failed = True
            else:
                if result.__class__ in _PLAIN:
                    failed = False
                elif isinstance(result, Deferred):
                    # A fired Deferred that is neither paused nor running has
                    # run all its callbacks (they would have run, or it would
                    # be paused or still running): its result is final.
                    if result.called and not (result.paused or result._runningCallbacks):
                        # Already fired: take its result now (the common case
                        # of returning succeed(x)).
                        inner = result
                        result = inner.result
                        inner.result = None
                        if result.__class__ in _PLAIN:
                            failed = False
                        else:
                            failed = isinstance(result, Failure)
                            if failed and inner._debugInfo is not None:
                                # Handled here: not an unhandled error of inner.
                                inner._debugInfo.failResult = None
                    elif result is self:
                        result = Failure(TypeError("a callback returned its own Deferred"))
                        failed = True
                    else:
                        # Wait for it: it reaches our marker when it fires.
                        self._waitFor(result)
                        failed = False
                        _dropRan(callbacks, steps)
                        break
                else:
                    failed = isinstance(result, Failure)
                    if not failed and len(_PLAIN) < _PLAIN_LIMIT:
                        _PLAIN.add(result.__class__)
            if self.paused:
                # A callback paused this Deferred: keep its result for unpause.
                self.result = result
                _dropRan(callbacks, steps)
                break
        else:
            # Every step ran (the iterator also saw steps added meanwhile).
            self.result = result
            if callbacks:
                callbacks.clear()
        self._runningCallbacks = False
        if failed:
            self._finish()
        elif self._debugInfo is not None:
            self._debugInfo.failResult = None
        return None

    def _waitFor(self, inner: Deferred[Any]) -> None:
        # A callback returned inner, which has not fired, or is paused, or is
        # running further down the stack: pause until inner reaches the marker
        # appended here (a loop running inner, or its unpause, gets to it).
        self.result = inner
        self.paused += 1
        self._chainedTo = inner
        inner._appendStep((_CONTINUE, self, None, _CONTINUE, self, None))

    def _finish(self) -> None:
        # The chain has run as far as it can.  Remember a Failure it ended on,
        # so that it is logged if nobody ever handles it.
        # Called only when the result is a Failure.
        result = self.result
        result.cleanFailure()
        info = self._debugInfo
        if info is None:
            info = self._debugInfo = _DebugInfo()
        info.failResult = result

    # -- coroutines and asyncio ---------------------------------------------

    def __await__(self) -> Generator[Deferred[_T], _T, _T]:
        # The driver (ensureDeferred/inlineCallbacks) receives this Deferred,
        # waits for it, and sends back its result or throws its error: so
        # ``await d`` is a _T for mypy too.
        return (yield self)

    __iter__ = __await__

    @classmethod
    def fromCoroutine(
        cls,
        coroutine: Coroutine[Any, Any, _T] | Generator[Any, Any, _T],
    ) -> Deferred[_T]:
        """
        Run an ``async def`` coroutine (awaiting Deferreds) and return a
        Deferred for its result.

        :raises NotACoroutineError: if coroutine is not a coroutine or generator.
        """
        if not isinstance(coroutine, (CoroutineType, GeneratorType)):
            raise NotACoroutineError("%r is not a coroutine" % (coroutine,))
        return _startDriving(coroutine, cls)

    def asFuture(self, loop: AbstractEventLoop) -> Future[_T]:
        """
        Return an asyncio Future, bound to loop, that follows this Deferred.

        Cancelling the Future cancels this Deferred.  The Deferred's result is
        consumed (it becomes None), as when a callback takes it.
        """
        future = loop.create_future()

        def adapt(result: _T | Failure) -> _T | Failure | None:
            if future.cancelled():
                if isinstance(result, Failure) and result.check(CancelledError):
                    return None
                return result
            if isinstance(result, Failure):
                # raiseException, not result.value: a Failure may decide what
                # it raises (a PB CopiedFailure holds only text, and raises
                # RemoteError).  See test_copiedFailureAsFuture.
                try:
                    result.raiseException()
                except BaseException as error:
                    future.set_exception(error)
            else:
                future.set_result(result)
            return None

        def cancelDeferred(future: Future[_T]) -> None:
            if future.cancelled():
                self.cancel()

        self.addBoth(adapt)
        future.add_done_callback(cancelDeferred)
        return future

    @classmethod
    def fromFuture(cls, future: Future[_T]) -> Deferred[_T]:
        """
        Return a Deferred that fires when an asyncio Future (or Task) is done.

        Cancelling the Deferred cancels the Future.
        """

        def adapt(future: Future[_T]) -> None:
            if d.called:
                return  # cancelled: the Deferred has its CancelledError already
            try:
                result = future.result()
            except BaseException:
                failure = Failure()
            else:
                d.callback(result)
                return
            # Outside the except block, so that what the callbacks raise does
            # not carry the Future's exception as its __context__.
            d.errback(failure)

        def cancel(d: Deferred[_T]) -> None:
            future.cancel()

        d = cls(cancel)
        future.add_done_callback(adapt)
        return d

    def __repr__(self) -> str:
        name = type(self).__name__
        if self._chainedTo is not None:
            return "<%s at 0x%x waiting on %s>" % (name, id(self), self._chainedTo)
        if self.called:
            return "<%s at 0x%x current result: %r>" % (name, id(self), self.result)
        return "<%s at 0x%x>" % (name, id(self))

    __str__ = __repr__


# A canceller's "cancellation handled, do not errback" (used by inlineCallbacks).
_KEEP_WAITING = object()
_NO_KWARGS: dict[str, Any] = {}

# Classes seen as results that are neither Failures nor Deferreds.  One set
# membership test per callback replaces two isinstance calls on the hot path;
# the set is capped so that classes made on the fly cannot grow it forever.
_PLAIN: set[type] = {type(None), bool, int, float, str, bytes, tuple, list, dict, set}
_PLAIN_LIMIT = 1024
_lengthHint = operator.length_hint
_debugging = False


def _dropRan(callbacks: list[Any], steps: Any) -> None:
    # Remove the steps that ran: all but those the iterator has not reached.
    # Only a chain that stops early pays for this; one that runs to the end
    # clears the list.
    del callbacks[: len(callbacks) - _lengthHint(steps)]


def _runOuterChains(inner: Deferred[Any], outer: Deferred[Any]) -> None:
    """
    Run outer Deferreds that were waiting on inner, without recursion.

    inner's chain reached the marker of outer, so outer runs next; when outer
    in turn reaches the marker of one waiting on it, it goes on the stack too.
    When a chain stops (it ran out of callbacks, paused, or waits again), the
    Deferred below it on the stack goes on with the callbacks it has left.
    So a chain of 100,000 Deferreds waiting on each other uses one Python
    frame (see test_nestedChainFiredOuterFirstDoesNotRecurse).
    """
    stack = [inner]
    current = outer
    while True:
        if current.paused:
            # Left marked as running by _runSteps if it was on the stack.
            current._runningCallbacks = False
        else:
            outer = current._runSteps()
            if outer is not None:
                stack.append(current)
                current = outer
                continue
        if not stack:
            return
        current = stack.pop()


def _takeChainedResult(d: Deferred[Any], result: Any) -> None:
    # chainDeferred's step reached: d fires with result (its callbacks run
    # next, in _runOuterChains).
    d._chainedTo = None
    d.called = True
    d.result = result
    if d._debugInfo is not None:
        d._debugInfo.invoker = traceback.format_stack()[:-1]


def _cancelledToTimedOutError(value: Any, timeout: float) -> Any:
    if isinstance(value, Failure):
        value.trap(CancelledError)
        raise TimeoutError("Deferred timed out after %s seconds" % (timeout,))
    return value


def setDebugging(on: bool) -> None:
    """Turn debug mode on or off: Deferreds then record where they were created and fired."""
    global _debugging
    _debugging = Deferred.debug = bool(on)


def getDebugging() -> bool:
    """Return whether debug mode is on."""
    return _debugging


def succeed(result: _ResultT) -> Deferred[_ResultT]:
    """Return a Deferred that has already fired with result."""
    # Built without __init__: this is on the hot path of every fast API.
    d: Deferred[_ResultT] = _newDeferred(Deferred)
    d.callbacks = ()  # type: ignore[assignment]  # made a list by _appendStep
    d.called = True
    d.paused = 0
    d._runningCallbacks = False
    d._debugInfo = None
    d.result = result
    if _debugging:
        d._debugInfo = _DebugInfo()
        d._debugInfo.creator = d._debugInfo.invoker = traceback.format_stack()[:-1]
    return d


_newDeferred = object.__new__


def fail(
    result: Failure | BaseException | type[BaseException] | None = None,
) -> Deferred[Any]:
    """Return a Deferred that has already failed (result as for errback)."""
    d: Deferred[Any] = Deferred()
    d.errback(result)
    return d


def execute(
    callable: Callable[_P, _ResultT], *args: _P.args, **kwargs: _P.kwargs
) -> Deferred[_ResultT]:
    """Call callable now and return a fired Deferred with its result or error."""
    try:
        result = callable(*args, **kwargs)
    except Exception:
        return fail()
    return succeed(result)


@overload
def maybeDeferred(
    f: Callable[_P, Deferred[_ResultT]], *args: _P.args, **kwargs: _P.kwargs
) -> Deferred[_ResultT]: ...


@overload
def maybeDeferred(
    f: Callable[_P, Coroutine[Any, Any, _ResultT]], *args: _P.args, **kwargs: _P.kwargs
) -> Deferred[_ResultT]: ...


@overload
def maybeDeferred(
    f: Callable[_P, Deferred[_ResultT] | _ResultT | Failure], *args: _P.args, **kwargs: _P.kwargs
) -> Deferred[_ResultT]: ...


def maybeDeferred(f: Callable[..., Any], *args: Any, **kwargs: Any) -> Deferred[Any]:
    """
    Call f and return a Deferred for its result, whatever it returns.

    A Deferred result is returned as is, a coroutine is run with
    ensureDeferred, a Failure or an exception raised becomes a failed Deferred.
    """
    try:
        result = f(*args, **kwargs)
    except Exception:
        return fail(Failure())
    if isinstance(result, Deferred):
        return result
    if isinstance(result, Failure):
        return fail(result)
    if isinstance(result, CoroutineType):
        return Deferred.fromCoroutine(result)
    return succeed(result)


# -- driving generators and coroutines ------------------------------------
#
# The one idea: ``_drive`` is a loop, not a chain of callbacks.  It sends each
# result into the generator; an already-fired Deferred's result is taken at
# once and the loop goes on (so yielding 10,000 fired Deferreds uses one
# Python frame); an unfired one gets ``_resume`` as its callback and the loop
# returns until it fires.  A yielded coroutine (or generator) is driven the
# same way, by a driver of its own, and waited on through its Deferred.  A
# line of generators each waiting on the one before also runs in bounded
# stack: past a few dozen nested resumes, ``_resume`` queues the next one for
# the outermost to run (see ``_resume``).  The entry points, inlineCallbacks
# and ensureDeferred, are in reactor._inlinecallbacks.


class _DefGen_Return(BaseException):  # noqa: N801 - Twisted's name
    def __init__(self, value: object) -> None:
        self.value = value


def returnValue(val: object) -> NoReturn:
    """
    Return val from an inlineCallbacks generator (a plain ``return`` does the
    same and is preferred).
    """
    raise _DefGen_Return(val)


class _DriverStatus:
    # What the outer Deferred of one generator run needs to know.
    __slots__ = ("deferred", "waitingOn", "generator")

    # Any: the Deferred is made right after this status, with it (see
    # _startDriving), and never read before.
    deferred: Any

    def __init__(self, generator: _Drivable[Any]) -> None:
        self.generator = generator
        self.waitingOn: Deferred[Any] | None = None
        self.deferred = None


def _startDriving(
    generator: _Drivable[_T], deferredClass: type[Deferred[Any]] | None = None
) -> Deferred[_T]:
    """
    Run generator (or coroutine) until it first waits, and return the
    Deferred of its result, an instance of deferredClass (default Deferred).
    """
    status = _DriverStatus(generator)
    deferredClass = deferredClass or Deferred
    deferred: Deferred[_T] = deferredClass(functools.partial(_cancelDriver, status))
    status.deferred = deferred
    _drive(None, False, status)
    return deferred


def _cancelDriver(status: _DriverStatus, deferred: Deferred[Any]) -> object:
    waiting = status.waitingOn
    if waiting is None:
        # Cancelled from inside the generator itself: it keeps running, and
        # whatever it returns later is dropped.
        deferred._suppressAlreadyCalled = True
        return None
    waiting.cancel()
    if not deferred.called:
        # The generator caught the CancelledError and goes on waiting for
        # something else; the outer Deferred follows it, not the cancel.
        return _KEEP_WAITING
    return None


def _drive(result: Any, isFailure: bool, status: _DriverStatus) -> None:
    """Run the generator until it waits on an unfired Deferred or finishes."""
    generator = status.generator
    send = generator.send
    while True:
        try:
            if isFailure:
                yielded = result.throwExceptionIntoGenerator(generator)
            else:
                yielded = send(result)
        except StopIteration as stop:
            result, isFailure = stop.value, False
            break
        except _DefGen_Return as returned:
            result, isFailure = returned.value, False
            break
        except BaseException as error:
            if isinstance(error, (KeyboardInterrupt, SystemExit)):
                raise
            result, isFailure = Failure(), True
            break
        if not isinstance(yielded, Deferred):
            if not isinstance(yielded, _DRIVABLE):
                # Yielding a plain value hands it straight back.
                result, isFailure = yielded, False
                continue
            # A coroutine (or generator) yielded: run it as Twisted 26 does,
            # and wait for its Deferred like any other.
            yielded = _startDriving(yielded)
        # Fired, neither paused nor running: its callbacks have all run (see
        # Deferred._runSteps), so its result is final.
        if yielded.called and not (yielded.paused or yielded._runningCallbacks):
            # Already fired: take the result without a round trip through
            # the callback machinery.
            result = yielded.result
            yielded.result = None
            isFailure = isinstance(result, Failure)
            if isFailure and yielded._debugInfo is not None:
                yielded._debugInfo.failResult = None
            continue
        status.waitingOn = yielded
        yielded.addBoth(_resume, status)
        return
    # Fired here, after the except blocks, not inside them: the callbacks run
    # now resume the generators awaiting this one, and an exception one of
    # them raises would otherwise carry the StopIteration (or the error being
    # handled) as its __context__, printed as "During handling of the above
    # exception..." (test_noStopIterationNoiseInTraceback).
    if isFailure:
        status.deferred.errback(result)
    else:
        status.deferred.callback(result)


def _resume(result: Any, status: _DriverStatus) -> None:
    # The Deferred status waited on fired: drive its generator on.  When a
    # generator finishes, its Deferred fires the _resume of the one awaiting
    # it, inside this call: nesting N generators deep, fired innermost first,
    # nests N drives.  Past _MAX_NESTED the resume is queued instead and run
    # by the outermost _resume once the drives above it have returned, so
    # 100,000 nested generators need no deeper stack (while a few levels
    # keep Twisted's order: the awaiting generator runs at once).
    status.waitingOn = None
    nesting = _nesting
    if nesting.depth >= _MAX_NESTED:
        nesting.queued.append((result, status))
        return None
    nesting.depth += 1
    try:
        _drive(result, isinstance(result, Failure), status)
    finally:
        nesting.depth -= 1
    if nesting.depth == 0:
        queued = nesting.queued
        while queued:
            result, status = queued.popleft()
            _resume(result, status)
    return None


class _Nesting(threading.local):
    # Per thread: Deferreds of different threads never run into each other.
    def __init__(self) -> None:
        self.depth = 0
        self.queued: collections.deque[tuple[Any, _DriverStatus]] = collections.deque()


_MAX_NESTED = 50
_nesting = _Nesting()
