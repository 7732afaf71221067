"""
inlineCallbacks and ensureDeferred: the entry points that run a generator (or
``async def`` coroutine) yielding (or awaiting) Deferreds, so that it reads
like blocking code.

Both hand the generator to ``Deferred.fromCoroutine``; the driver itself
lives with Deferred in reactor._deferred, whose docstring says why.  How
cancelling works: the Deferred of a run has a canceller that cancels the
Deferred the generator waits on; when that is the Deferred of another run (a
nested inlineCallbacks function or coroutine), its canceller does the same, so
the cancel reaches the innermost Deferred actually waited on, at any depth;
the CancelledError then climbs back through each generator, which may let it
pass, catch it, or turn it into something else (see
test_inlinecallbacks_nesting).

Import these from ``reactor.defer``, which re-exports them.
"""

from __future__ import annotations

import functools
import types
from collections.abc import Callable, Generator
from typing import Any, ParamSpec, TypeVar, overload

from reactor._deferred import Deferred, _DefGen_Return, _Drivable

# What a generator or coroutine returns, hence what its Deferred fires with.
_T = TypeVar("_T")
# The arguments of a decorated generator function.
_P = ParamSpec("_P")

__all__ = ["inlineCallbacks", "ensureDeferred"]


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
        return Deferred.fromCoroutine(generator)

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
