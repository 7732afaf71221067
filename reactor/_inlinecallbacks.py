"""
inlineCallbacks and coroutines: a generator (or ``async def`` coroutine) that
yields (or awaits) Deferreds, driven so that it reads like blocking code.

The one idea: ``_drive`` is a loop, not a chain of callbacks.  It sends each
result into the generator; an already-fired Deferred's result is taken at
once and the loop goes on (so yielding 10,000 fired Deferreds uses one Python
frame); an unfired one gets ``_resume`` as its callback and the loop returns
until it fires.  A yielded coroutine (or generator) is driven the same way,
by a driver of its own, and waited on through its Deferred.

Cancelling: the Deferred of a run has ``_cancelDriver`` as its canceller,
which cancels the Deferred the generator waits on.  When that is the
Deferred of another run (a nested inlineCallbacks function or coroutine),
its canceller does the same, so the cancel reaches the innermost Deferred
actually waited on, at any depth; the CancelledError then climbs back
through each generator, which may let it pass, catch it, or turn it into
something else (see test_inlinecallbacks_nesting).

A line of generators each waiting on the one before also runs in bounded
stack: past a few dozen nested resumes, ``_resume`` queues the next one for
the outermost to run (see ``_resume``).

Import these from ``reactor.defer``, which re-exports them.  Like
``reactor._defersync``, this module and ``reactor.defer`` import each other at
their bottoms, after their own definitions, so either may be imported first.
"""

from __future__ import annotations

import collections
import functools
import threading
import types
from collections.abc import Callable, Coroutine, Generator
from typing import TYPE_CHECKING, Any, NoReturn, ParamSpec, TypeAlias, TypeVar, overload

from reactor.failure import Failure

if TYPE_CHECKING:
    from reactor.defer import Deferred

# What a generator or coroutine returns, hence what its Deferred fires with.
_T = TypeVar("_T")
# The arguments of a decorated generator function.
_P = ParamSpec("_P")
# A generator or a coroutine returning _T.
_Drivable: TypeAlias = Generator[Any, Any, _T] | Coroutine[Any, Any, _T]

# What a generator may yield besides a Deferred to wait on: a coroutine (the
# call of an ``async def``) or a generator, run as its own inlineCallbacks.
_DRIVABLE = (types.CoroutineType, types.GeneratorType)

__all__ = ["inlineCallbacks", "returnValue", "ensureDeferred"]


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


def inlineCallbacks(f: Callable[_P, Generator[Any, Any, _T]]) -> Callable[_P, Deferred[_T]]:
    """
    Decorate a generator function so it can ``yield`` Deferreds and get
    their results (or have their errors raised) at the yield.

    It may also yield a coroutine (the call of an ``async def``) or a
    generator: it is run as by ensureDeferred, and its result is sent back.
    Any other value yielded is sent back as is.  The decorated function
    returns a Deferred firing with what the generator returns.  Cancelling
    that Deferred cancels the one being waited on, down through nested
    inlineCallbacks functions and coroutines.
    """

    @functools.wraps(f)
    def unwindGenerator(*args: _P.args, **kwargs: _P.kwargs) -> Deferred[_T]:
        try:
            generator = f(*args, **kwargs)
        except _DefGen_Return:
            raise TypeError(
                "inlineCallbacks requires %r to produce a generator; instead "
                "caught returnValue being used in a non-generator" % (f,)
            ) from None
        if not isinstance(generator, types.GeneratorType):
            raise TypeError(
                "inlineCallbacks requires %r to produce a generator; "
                "instead got %r" % (f, generator)
            )
        return _startDriving(generator)

    return unwindGenerator


@overload
def ensureDeferred(coro: Deferred[_T]) -> Deferred[_T]: ...


@overload
def ensureDeferred(coro: _Drivable[_T]) -> Deferred[_T]: ...


def ensureDeferred(coro: Deferred[_T] | _Drivable[_T]) -> Deferred[_T]:
    """
    Return a Deferred for coro: a coroutine is run, a Deferred returned as is.

    :raises NotACoroutineError: for anything else.
    """
    if isinstance(coro, Deferred):
        return coro
    return Deferred.fromCoroutine(coro)


# At the bottom on purpose: see the module docstring.
from reactor.defer import _KEEP_WAITING, Deferred  # noqa: E402
