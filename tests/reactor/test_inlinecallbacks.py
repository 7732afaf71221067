"""Tests for inlineCallbacks, returnValue, ensureDeferred, Deferred.fromCoroutine,
and the asyncio bridges Deferred.asFuture / Deferred.fromFuture."""

import asyncio

import pytest

from reactor.defer import (
    CancelledError,
    Deferred,
    NotACoroutineError,
    ensureDeferred,
    fail,
    inlineCallbacks,
    returnValue,
    succeed,
)


class MyError(Exception):
    """The error these tests raise."""


def resultOf(d):
    results = []
    d.addBoth(results.append)
    assert results, "the Deferred has not fired"
    return results[0]


# -- inlineCallbacks ----------------------------------------------------------------


def test_plainReturn():
    @inlineCallbacks
    def f(a):
        x = yield succeed(a)
        y = yield succeed(x + 1)
        return x + y

    assert resultOf(f(1)) == 3


def test_returnValueIsAccepted():
    @inlineCallbacks
    def f():
        yield succeed(None)
        returnValue("returned")

    assert resultOf(f()) == "returned"


def test_yieldingPlainValueHandsItBack():
    @inlineCallbacks
    def f():
        value = yield 5
        return value

    assert resultOf(f()) == 5


def test_waitsForUnfiredDeferred():
    d = Deferred()

    @inlineCallbacks
    def f():
        value = yield d
        return value * 2

    outer = f()
    assert not outer.called
    d.callback(21)
    assert resultOf(outer) == 42
    assert d.result is None


def test_failedYieldedDeferredRaisesInsideGenerator():
    waiting = Deferred()
    caught = []

    @inlineCallbacks
    def f():
        try:
            yield fail(MyError("fired"))
        except MyError as error:
            caught.append(str(error))
        try:
            yield waiting
        except MyError as error:
            caught.append(str(error))
        return "survived"

    outer = f()
    waiting.errback(MyError("later"))
    assert caught == ["fired", "later"]
    assert resultOf(outer) == "survived"


def test_uncaughtErrorFailsOuterDeferred():
    @inlineCallbacks
    def f():
        yield succeed(1)
        raise MyError("escaped")

    assert resultOf(f()).getErrorMessage() == "escaped"


def test_cancellingOuterCancelsWaitedOnDeferred():
    waited = Deferred()

    @inlineCallbacks
    def f():
        yield waited

    outer = f()
    outer.cancel()
    assert resultOf(waited) is None  # consumed by the generator's driver
    assert resultOf(outer).type is CancelledError


def test_generatorCatchingCancelledErrorContinues():
    first, second = Deferred(), Deferred()

    @inlineCallbacks
    def f():
        try:
            yield first
        except CancelledError:
            pass
        value = yield second
        return value

    outer = f()
    outer.cancel()
    assert first.called
    assert not outer.called
    second.callback("after cancel")
    assert resultOf(outer) == "after cancel"


def test_generatorCatchingCancelledErrorAndReturning():
    first = Deferred()

    @inlineCallbacks
    def f():
        try:
            yield first
        except CancelledError:
            return "gave up"

    outer = f()
    outer.cancel()
    assert resultOf(outer) == "gave up"


def test_cancelFromInsideGeneratorDropsItsResult():
    # The generator cancels its own outer Deferred while it runs: the outer
    # fails with CancelledError and what the generator returns is dropped.
    holder = []
    gate = Deferred()

    @inlineCallbacks
    def g():
        yield gate
        holder[0].cancel()
        return "dropped"

    outer = g()
    holder.append(outer)
    gate.callback(None)
    assert resultOf(outer).type is CancelledError


def test_nonGeneratorRaisesTypeError():
    @inlineCallbacks
    def notAGenerator():
        return 1

    with pytest.raises(TypeError, match="generator"):
        notAGenerator()


def test_returnValueInNonGeneratorRaisesTypeError():
    @inlineCallbacks
    def notAGenerator():
        returnValue(1)

    with pytest.raises(TypeError, match="returnValue"):
        notAGenerator()


def test_keepsFunctionName():
    @inlineCallbacks
    def namedFunction():
        yield None

    assert namedFunction.__name__ == "namedFunction"


def test_manyFiredDeferredsDoNotRecurse():
    @inlineCallbacks
    def f():
        total = 0
        for i in range(10_000):
            total += yield succeed(i)
        return total

    assert resultOf(f()) == sum(range(10_000))


def test_yieldedPausedDeferredIsWaitedFor():
    d = succeed("paused value")
    d.pause()

    @inlineCallbacks
    def f():
        return (yield d)

    outer = f()
    assert not outer.called
    d.unpause()
    assert resultOf(outer) == "paused value"


def test_keyboardInterruptEscapes():
    @inlineCallbacks
    def f():
        yield succeed(None)
        raise KeyboardInterrupt()

    with pytest.raises(KeyboardInterrupt):
        f()


# -- coroutines ---------------------------------------------------------------------


def test_ensureDeferredWithFiredAndUnfiredDeferreds():
    later = Deferred()

    async def coroutine():
        a = await succeed(1)
        b = await later
        return a + b

    d = ensureDeferred(coroutine())
    assert not d.called
    later.callback(2)
    assert resultOf(d) == 3


def test_ensureDeferredWithFailingDeferred():
    later = Deferred()

    async def coroutine():
        try:
            await fail(MyError("first"))
        except MyError:
            pass
        await later

    d = ensureDeferred(coroutine())
    later.errback(MyError("second"))
    assert resultOf(d).getErrorMessage() == "second"


def test_ensureDeferredReturnsDeferredAsIs():
    d = Deferred()
    assert ensureDeferred(d) is d


def test_ensureDeferredRejectsOtherThings():
    with pytest.raises(NotACoroutineError):
        ensureDeferred(42)


def test_fromCoroutine():
    async def coroutine():
        return "from coroutine"

    assert resultOf(Deferred.fromCoroutine(coroutine())) == "from coroutine"


def test_fromCoroutineCancelCancelsAwaitedDeferred():
    awaited = Deferred()

    async def coroutine():
        await awaited

    d = Deferred.fromCoroutine(coroutine())
    d.cancel()
    assert awaited.called
    assert resultOf(d).type is CancelledError


def test_deferredIsIterableInYieldFrom():
    def generator():
        value = yield from succeed("via yield from")
        return value

    assert resultOf(Deferred.fromCoroutine(generator())) == "via yield from"


# -- asyncio ------------------------------------------------------------------------


@pytest.fixture
def loop():
    loop = asyncio.new_event_loop()
    try:
        yield loop
    finally:
        loop.close()


def test_asFutureGetsResult(loop):
    d = Deferred()
    future = d.asFuture(loop)
    loop.call_soon(d.callback, "value")
    assert loop.run_until_complete(asyncio.wait_for(future, 5)) == "value"
    assert resultOf(d) is None


def test_asFutureGetsError(loop):
    d = fail(MyError("failed"))
    future = d.asFuture(loop)
    with pytest.raises(MyError, match="failed"):
        loop.run_until_complete(asyncio.wait_for(future, 5))


def test_cancellingFutureCancelsDeferred(loop):
    cancelled = []
    d = Deferred(cancelled.append)
    future = d.asFuture(loop)
    future.cancel()
    loop.run_until_complete(asyncio.sleep(0))
    assert cancelled == [d]
    assert resultOf(d) is None


def test_cancelledFutureLetsOtherResultsThrough(loop):
    d = Deferred(lambda d: d.errback(MyError("not a cancel")))
    future = d.asFuture(loop)
    future.cancel()
    loop.run_until_complete(asyncio.sleep(0))
    assert resultOf(d).type is MyError


def test_fromFutureGetsResult(loop):
    future = loop.create_future()
    d = Deferred.fromFuture(future)
    loop.call_soon(future.set_result, "future value")
    loop.run_until_complete(asyncio.wait_for(future, 5))
    loop.run_until_complete(asyncio.sleep(0))
    assert resultOf(d) == "future value"


def test_fromFutureGetsError(loop):
    async def broken():
        raise MyError("task failed")

    task = loop.create_task(broken())
    d = Deferred.fromFuture(task)
    loop.run_until_complete(asyncio.wait([task], timeout=5))
    loop.run_until_complete(asyncio.sleep(0))
    assert resultOf(d).getErrorMessage() == "task failed"


def test_cancellingDeferredCancelsFuture(loop):
    future = loop.create_future()
    d = Deferred.fromFuture(future)
    errors = []
    loop.set_exception_handler(lambda loop, context: errors.append(context))
    d.cancel()
    assert future.cancelled()
    loop.run_until_complete(asyncio.sleep(0))
    assert resultOf(d).type is CancelledError
    # The future's done-callback must not fire the Deferred a second time.
    assert errors == []


def test_coroutineAwaitingDeferredInsideAsyncio(loop):
    async def main():
        d = Deferred()
        loop.call_soon(d.callback, "bridged")
        return await d.asFuture(loop)

    assert loop.run_until_complete(asyncio.wait_for(main(), 5)) == "bridged"


@inlineCallbacks
def _plusOne(awaited):
    result = yield awaited
    return result + 1


async def _plusOneAsync(awaited):
    return (await awaited) + 1


def test_longLineOfWaitingGeneratorsFiresWithoutRecursion():
    # Each generator waits on the previous one's Deferred; the first fires
    # last, and each finishing generator resumes the next.
    bottom = Deferred()
    d = bottom
    for _ in range(20000):
        d = _plusOne(d)
    results = []
    d.addBoth(results.append)
    bottom.callback(0)
    assert results == [20000]


def test_longLineOfWaitingCoroutinesFiresWithoutRecursion():
    bottom = Deferred()
    d = bottom
    for _ in range(20000):
        d = ensureDeferred(_plusOneAsync(d))
    results = []
    d.addBoth(results.append)
    bottom.callback(0)
    assert results == [20000]


def test_longLineOfWaitingGeneratorsCarriesAFailure():
    bottom = Deferred()
    d = bottom
    for _ in range(5000):
        d = _plusOne(d)
    failures = []
    d.addErrback(failures.append)
    bottom.errback(ZeroDivisionError())
    assert [f.type for f in failures] == [ZeroDivisionError]


def test_shallowNestingResumesTheAwaitingGeneratorAtOnce():
    # A few levels deep the order is Twisted's: the generator waiting on a
    # Deferred runs inside that Deferred's callback() call.
    events = []
    inner = Deferred()

    @inlineCallbacks
    def waiter():
        value = yield inner
        events.append(("resumed", value))

    waiter()
    inner.callback(1)
    events.append("after callback")
    assert events == [("resumed", 1), "after callback"]
