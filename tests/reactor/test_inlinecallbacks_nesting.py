"""inlineCallbacks functions and coroutines nested in each other, as Twisted 26
runs them: a generator may yield a coroutine and gets its result, and
cancelling the outermost Deferred cancels the innermost Deferred actually
waited on, the CancelledError then climbing back through every level, each
of which may let it pass, turn it into another error, or into a result."""

import pytest

from reactor.defer import (
    CancelledError,
    Deferred,
    ensureDeferred,
    inlineCallbacks,
    succeed,
)


class MyError(Exception):
    """The error these tests raise."""


class Converted(Exception):
    """What a level turns the CancelledError into."""


def resultOf(d):
    results = []
    d.addBoth(results.append)
    assert results, "the Deferred has not fired"
    return results[0]


# -- yielding a coroutine ---------------------------------------------------------


def test_yieldedCoroutineGivesItsResult():
    waited = Deferred()

    async def double():
        value = await waited
        return value * 2

    @inlineCallbacks
    def f():
        doubled = yield double()
        return doubled + 1

    outer = f()
    assert not outer.called
    waited.callback(20)
    assert resultOf(outer) == 41


def test_yieldedCoroutineThatNeverWaitsGivesItsResultAtOnce():
    async def constant():
        return "ready"

    @inlineCallbacks
    def f():
        value = yield constant()
        return value

    assert resultOf(f()) == "ready"


def test_yieldedCoroutineErrorIsRaisedAtTheYield():
    waited = Deferred()
    caught = []

    async def failing():
        await waited
        raise MyError("from the coroutine")

    @inlineCallbacks
    def f():
        try:
            yield failing()
        except MyError as error:
            caught.append(str(error))
        return "handled"

    outer = f()
    waited.callback(None)
    assert caught == ["from the coroutine"]
    assert resultOf(outer) == "handled"


def test_yieldedGeneratorIsRunLikeAnInlineCallbacksFunction():
    # Twisted 26 also runs a yielded generator object (an undecorated
    # inlineCallbacks-style function's call).
    waited = Deferred()

    def undecorated():
        value = yield waited
        return value + "!"

    @inlineCallbacks
    def f():
        value = yield undecorated()
        return value

    outer = f()
    waited.callback("run")
    assert resultOf(outer) == "run!"


# -- cancelling through nested levels -------------------------------------------------


def nestedLevels(kinds, innermost, events):
    """
    Build a line of nested levels, outermost first: kinds is a string of
    "g" (an inlineCallbacks generator) and "c" (an ``async def``).  The
    innermost level waits on innermost; each level records what reaches it
    and lets it pass.  A generator level yields the level below as is (a
    coroutine, or a Deferred); a coroutine level awaits it.  Returns the
    outermost's Deferred.
    """

    def makeLevel(depth, kind, below):
        def waitOn():
            return innermost if below is None else below()

        if kind == "g":

            @inlineCallbacks
            def level():
                try:
                    result = yield waitOn()
                except CancelledError:
                    events.append((depth, "CancelledError"))
                    raise
                return result

        else:

            async def level():
                try:
                    result = await waitOn()
                except CancelledError:
                    events.append((depth, "CancelledError"))
                    raise
                return result

        return level

    below = None
    for depth in reversed(range(len(kinds))):
        below = makeLevel(depth, kinds[depth], below)
    return ensureDeferred(below())


@pytest.mark.parametrize("kinds", ["ggg", "ccc", "gcgc", "cgcg", "ggcc", "ccgg", "gccgg"])
def test_cancelReachesInnermostAndClimbsEveryLevel(kinds):
    events = []
    innermost = Deferred(lambda d: events.append(("innermost", "cancelled")))
    outer = nestedLevels(kinds, innermost, events)
    assert not outer.called
    outer.cancel()
    depths = list(reversed(range(len(kinds))))
    assert events == [("innermost", "cancelled")] + [(d, "CancelledError") for d in depths]
    assert resultOf(outer).type is CancelledError


@pytest.mark.parametrize("kinds", ["ggg", "gcgc", "cgcg"])
def test_uncancelledNestedLevelsGiveTheInnermostResult(kinds):
    innermost = Deferred()
    outer = nestedLevels(kinds, innermost, [])
    innermost.callback("deep result")
    assert resultOf(outer) == "deep result"


def test_levelsConvertAndRecoverFromTheCancel():
    # Four levels, mixed: the innermost coroutine lets the CancelledError
    # pass, the generator above turns it into Converted, the coroutine above
    # that catches Converted and returns a value, and the outermost
    # generator goes on with that value.
    events = []
    innermost = Deferred(lambda d: events.append("innermost cancelled"))

    async def level4():
        try:
            return await innermost
        except CancelledError:
            events.append("level4 lets CancelledError pass")
            raise

    @inlineCallbacks
    def level3():
        try:
            result = yield level4()
        except CancelledError:
            events.append("level3 converts")
            raise Converted("from level3")  # noqa: B904 - the context is the point
        return result

    async def level2():
        try:
            return await level3()
        except Converted as error:
            events.append("level2 recovers from %s" % (error,))
            return "recovered"

    @inlineCallbacks
    def level1():
        result = yield level2()
        events.append("level1 got %s" % (result,))
        return result + "!"

    outer = level1()
    outer.cancel()
    assert events == [
        "innermost cancelled",
        "level4 lets CancelledError pass",
        "level3 converts",
        "level2 recovers from from level3",
        "level1 got recovered",
    ]
    assert resultOf(outer) == "recovered!"


def test_convertedErrorReachesTheOutermost():
    innermost = Deferred()

    @inlineCallbacks
    def level3():
        yield innermost

    async def level2():
        try:
            await level3()
        except CancelledError:
            raise Converted("by level2") from None

    @inlineCallbacks
    def level1():
        yield level2()

    outer = level1()
    outer.cancel()
    failure = resultOf(outer)
    assert failure.type is Converted
    assert failure.getErrorMessage() == "by level2"


def test_levelThatRecoversAndWaitsAgainKeepsTheOuterWaiting():
    # A middle level catches the CancelledError and waits on something new:
    # the outermost Deferred follows it instead of failing.
    innermost, later = Deferred(), Deferred()

    async def level3():
        await innermost

    @inlineCallbacks
    def level2():
        try:
            yield level3()
        except CancelledError:
            value = yield later
            return value

    async def level1():
        return await level2()

    outer = ensureDeferred(level1())
    results = []
    outer.addBoth(results.append)
    outer.cancel()
    assert innermost.called
    assert results == []
    later.callback("waited again")
    assert results == ["waited again"]


def test_cancelReachesADeferredChainedInsideTheInnermostWait():
    # The innermost level waits on a Deferred whose callback returned
    # another, unfired one: that one is what is actually waited on.
    events = []
    chained = Deferred(lambda d: events.append("chained cancelled"))
    first = succeed(None)
    first.addCallback(lambda ignored: chained)

    async def level2():
        await first

    @inlineCallbacks
    def level1():
        try:
            yield level2()
        except CancelledError:
            events.append("level1 saw CancelledError")
            raise

    outer = level1()
    outer.cancel()
    assert events == ["chained cancelled", "level1 saw CancelledError"]
    assert resultOf(outer).type is CancelledError
