"""
Deferred-returning locks, semaphores and queues.

The one idea: ``acquire()`` and ``get()`` return a Deferred that fires when
the lock, a token or an object is available; waiters are served first come,
first served, and cancelling a waiting Deferred takes it out of the line.

Import them from ``reactor.defer``, which re-exports them.
"""

from __future__ import annotations

from collections.abc import Callable
from types import TracebackType
from typing import TYPE_CHECKING, Any, Generic, Literal, ParamSpec, Self, TypeVar

from reactor._deferred import Deferred, maybeDeferred, succeed

__all__ = [
    "DeferredLock",
    "DeferredSemaphore",
    "DeferredQueue",
    "QueueOverflow",
    "QueueUnderflow",
]


# The type of what a DeferredQueue holds, or of what run()'s function returns.
_T = TypeVar("_T")
# The arguments of run()'s function.
_P = ParamSpec("_P")


class QueueOverflow(Exception):
    """DeferredQueue.put() on a queue already holding ``size`` objects."""


class QueueUnderflow(Exception):
    """DeferredQueue.get() with ``backlog`` gets already waiting."""


class _ConcurrencyPrimitive:
    # What a lock and a semaphore share: the line of waiters, run(), and
    # ``async with``.

    def __init__(self) -> None:
        self.waiting: list[Deferred[Any]] = []

    if TYPE_CHECKING:
        # What each subclass defines, for run() and ``async with``.
        def acquire(self) -> Deferred[Any]: ...

        def release(self) -> None: ...

    def _releaseAndReturn(self, result: Any) -> Any:
        self.release()
        return result

    def run(
        self, f: Callable[_P, Deferred[_T] | _T], *args: _P.args, **kwargs: _P.kwargs
    ) -> Deferred[_T]:
        """
        Acquire, call f(*args, **kwargs), release when its result is ready.

        :return: a Deferred firing with f's result (or failing with its error).
        """

        def execute(ignoredSelf: object) -> Deferred[_T]:
            d: Deferred[_T] = maybeDeferred(f, *args, **kwargs)
            d.addBoth(self._releaseAndReturn)
            return d

        return self.acquire().addCallback(execute)

    def _cancelAcquire(self, d: Deferred[Any]) -> None:
        self.waiting.remove(d)

    async def __aenter__(self) -> Self:
        """``async with lock:`` acquires (awaiting the Deferred)."""
        await self.acquire()
        return self

    async def __aexit__(
        self,
        excType: type[BaseException] | None,
        excValue: BaseException | None,
        traceback: TracebackType | None,
    ) -> Literal[False]:
        """Release on leaving the ``async with`` block; exceptions propagate."""
        self.release()
        return False


class DeferredLock(_ConcurrencyPrimitive):
    """
    A lock for Deferred-using code.

    :ivar locked: True while someone holds the lock.
    """

    def __init__(self) -> None:
        _ConcurrencyPrimitive.__init__(self)
        self.locked = False

    def acquire(self) -> Deferred[DeferredLock]:
        """
        Return a Deferred firing with this lock once it is held.

        Cancelling the Deferred before it fires gives up the place in line.
        """
        d: Deferred[DeferredLock] = Deferred(canceller=self._cancelAcquire)
        if self.locked:
            self.waiting.append(d)
        else:
            self.locked = True
            d.callback(self)
        return d

    def release(self) -> None:
        """
        Release the lock, passing it to the next waiter if any.

        :raises AssertionError: if the lock is not held.
        """
        assert self.locked, "tried to release an unlocked lock"
        self.locked = False
        if self.waiting:
            self.locked = True
            self.waiting.pop(0).callback(self)


class DeferredSemaphore(_ConcurrencyPrimitive):
    """
    A semaphore allowing ``tokens`` holders at once.

    :ivar tokens: how many more holders it admits right now.
    :ivar limit: the number it was created with.
    :raises ValueError: if tokens is less than 1.
    """

    def __init__(self, tokens: int) -> None:
        if tokens < 1:
            raise ValueError("DeferredSemaphore requires tokens >= 1")
        _ConcurrencyPrimitive.__init__(self)
        self.tokens = tokens
        self.limit = tokens

    def acquire(self) -> Deferred[DeferredSemaphore]:
        """
        Return a Deferred firing with this semaphore once a token is held.

        Cancelling the Deferred before it fires gives up the place in line.
        """
        d: Deferred[DeferredSemaphore] = Deferred(canceller=self._cancelAcquire)
        if self.tokens:
            self.tokens -= 1
            d.callback(self)
        else:
            self.waiting.append(d)
        return d

    def release(self) -> None:
        """
        Give a token back, passing it to the next waiter if any.

        :raises AssertionError: if more tokens are released than acquired.
        """
        assert self.tokens < self.limit, "someone released me too many times"
        self.tokens += 1
        if self.waiting:
            self.tokens -= 1
            self.waiting.pop(0).callback(self)


class DeferredQueue(Generic[_T]):
    """
    A queue whose get() returns a Deferred.

    ``DeferredQueue[T]`` (at run time too) holds objects of type T.

    :param size: the most objects held before put() raises QueueOverflow
        (None: unbounded).
    :param backlog: the most gets waiting before get() raises QueueUnderflow
        (None: unbounded).
    """

    def __init__(self, size: int | None = None, backlog: int | None = None) -> None:
        self.waiting: list[Deferred[_T]] = []
        self.pending: list[_T] = []
        self.size = size
        self.backlog = backlog

    def _cancelGet(self, d: Deferred[_T]) -> None:
        self.waiting.remove(d)

    def put(self, obj: _T) -> None:
        """
        Hand obj to the oldest waiting get(), or hold it.

        :raises QueueOverflow: if ``size`` objects are already held.
        """
        if self.waiting:
            self.waiting.pop(0).callback(obj)
        elif self.size is None or len(self.pending) < self.size:
            self.pending.append(obj)
        else:
            raise QueueOverflow()

    def get(self) -> Deferred[_T]:
        """
        Return a Deferred firing with the next object.

        Cancelling a waiting get() takes it out of line, so a later put()
        goes to the next one.

        :raises QueueUnderflow: if ``backlog`` gets are already waiting.
        """
        if self.pending:
            return succeed(self.pending.pop(0))
        if self.backlog is None or len(self.waiting) < self.backlog:
            d: Deferred[_T] = Deferred(canceller=self._cancelGet)
            self.waiting.append(d)
            return d
        raise QueueUnderflow()
