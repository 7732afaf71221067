"""The traceback of a Failure raised several inlineCallbacks or coroutine
levels deep: it shows the user's own frames where the error was raised and
every level it went back up through, in ``frames``, ``printTraceback`` and
``getTracebackObject()``, before and after ``cleanFailure()``, and carries no
StopIteration of the driver's as its context."""

import asyncio
import io
import traceback

import pytest

from reactor.defer import (
    Deferred,
    ensureDeferred,
    inlineCallbacks,
    returnValue,
    succeed,
)
from reactor.task import Clock, Cooperator, LoopingCall


class MyError(Exception):
    """The error these tests raise."""


class Wrapped(Exception):
    """What a level turns MyError into."""


USER_FRAMES = ["level1", "level2", "level3", "userRaises"]


def userRaises():
    raise MyError("deep down")


def threeLevels(gate):
    """
    level1 (inlineCallbacks) waits on level2 (a coroutine) which awaits
    level3 (inlineCallbacks) which waits on gate, then raises in
    userRaises(); level1 catches and re-raises.
    """

    @inlineCallbacks
    def level3():
        yield gate
        userRaises()

    async def level2():
        return await level3()

    @inlineCallbacks
    def level1():
        try:
            result = yield ensureDeferred(level2())
        except MyError:
            raise
        return result

    return level1()


def failureOf(d):
    failures = []
    d.addErrback(failures.append)
    assert failures, "the Deferred has not failed"
    return failures[0]


def userNames(names):
    return [name for name in names if name in USER_FRAMES]


def printed(failure):
    output = io.StringIO()
    failure.printTraceback(output)
    return output.getvalue()


# Fired later: the levels wait, and the error climbs through live generators.
# Fired at once: each level's Deferred has failed (and been cleaned) before
# the level above waits on it.
@pytest.fixture(params=["firedLater", "firedAtOnce"])
def deepFailure(request):
    if request.param == "firedAtOnce":
        return failureOf(threeLevels(succeed(None)))
    gate = Deferred()
    d = threeLevels(gate)
    failures = []
    d.addErrback(failures.append)
    gate.callback(None)
    return failures[0]


def test_framesShowEveryUserLevel(deepFailure):
    assert deepFailure.type is MyError
    names = [frame[0] for frame in deepFailure.frames]
    assert userNames(names) == USER_FRAMES
    assert names[-1] == "userRaises"
    for _name, filename, lineno, localsItems, globalsItems in deepFailure.frames:
        assert isinstance(lineno, int) and filename.endswith(".py")
        assert localsItems == () and globalsItems == ()


def test_printTracebackShowsWhereItWasRaisedAndReRaised(deepFailure):
    text = printed(deepFailure)
    assert text.startswith("Traceback (most recent call last):\n")
    for line in [
        "result = yield ensureDeferred(level2())",
        "return await level3()",
        "userRaises()",
        'raise MyError("deep down")',
    ]:
        assert line in text
    assert text.index("in level1") < text.index("in level2") < text.index("in level3")
    assert text.endswith("MyError: deep down\n")
    assert "StopIteration" not in text
    assert "During handling" not in text


def test_cleanFailureKeepsFramesTextAndTracebackObject(deepFailure):
    frames = deepFailure.frames
    text = printed(deepFailure)
    names = [frame.name for frame in traceback.extract_tb(deepFailure.getTracebackObject())]
    deepFailure.cleanFailure()
    assert deepFailure.frames == frames
    assert printed(deepFailure) == text
    tb = deepFailure.getTracebackObject()
    assert [frame.name for frame in traceback.extract_tb(tb)] == names
    assert userNames(names) == USER_FRAMES


def test_causeChainKeepsTheOriginalFrames():
    gate = Deferred()

    @inlineCallbacks
    def level3():
        yield gate
        userRaises()

    async def level2():
        try:
            await level3()
        except MyError as error:
            raise Wrapped("level2 wraps") from error

    @inlineCallbacks
    def level1():
        yield ensureDeferred(level2())

    d = level1()
    failures = []
    d.addErrback(failures.append)
    gate.callback(None)
    failure = failures[0]
    text = printed(failure)
    cause, effect = text.split("The above exception was the direct cause")
    assert "in userRaises" in cause and cause.rstrip().endswith("MyError: deep down")
    assert "in level2" in effect and effect.rstrip().endswith("Wrapped: level2 wraps")
    failure.cleanFailure()
    assert printed(failure) == text


@pytest.mark.parametrize("how", ["return", "returnValue"])
def test_noStopIterationNoiseInTraceback(how):
    # level3 ends normally while level2 waits on it; level2, resumed with
    # the result, then fails.  The driver caught level3's StopIteration (or
    # returnValue's exception): that must not become level2's context.
    gate = Deferred()

    @inlineCallbacks
    def level3():
        value = yield gate
        if how == "returnValue":
            returnValue(value)
        return value

    async def level2():
        value = await level3()
        raise MyError("level2 rejects %r" % (value,))

    @inlineCallbacks
    def level1():
        yield ensureDeferred(level2())

    d = level1()
    failures = []
    d.addErrback(failures.append)
    gate.callback(7)
    failure = failures[0]
    assert failure.value.__context__ is None
    text = printed(failure)
    assert "StopIteration" not in text
    assert "_DefGen_Return" not in text
    assert "During handling" not in text
    assert userNames([frame[0] for frame in failure.frames]) == ["level1", "level2"]


def test_coiterateLeavesNoStopIterationContext():
    # The Cooperator finishes a task when its iterator raises StopIteration;
    # the code waiting on the task runs from there and must not see it.
    clock = Clock()
    cooperator = Cooperator(scheduler=lambda tick: clock.callLater(0, tick))

    @inlineCallbacks
    def waiter():
        yield cooperator.coiterate(iter([None, None]))
        raise MyError("after the task")

    d = waiter()
    failures = []
    d.addErrback(failures.append)
    clock.advance(0)
    clock.advance(0)
    assert failures[0].value.__context__ is None
    assert "StopIteration" not in printed(failures[0])


def test_loopingCallFailureFiresOutsideItsExceptBlock():
    clock = Clock()

    def broken():
        raise MyError("the call")

    loop = LoopingCall(broken)
    loop.clock = clock

    @inlineCallbacks
    def waiter():
        try:
            yield loop.start(1, now=False)
        except MyError:
            pass
        raise KeyError("later, unrelated")

    d = waiter()
    failures = []
    d.addErrback(failures.append)
    clock.advance(1)
    assert failures[0].type is KeyError
    # The MyError was handled in waiter: Python links it as the context of
    # the KeyError raised inside that except block only, not outside it.
    assert failures[0].value.__context__ is None


def test_fromFutureFailureFiresOutsideItsExceptBlock():
    loop = asyncio.new_event_loop()
    try:
        future = loop.create_future()

        @inlineCallbacks
        def waiter():
            try:
                yield Deferred.fromFuture(future)
            except MyError:
                pass
            raise KeyError("later, unrelated")

        d = waiter()
        failures = []
        d.addErrback(failures.append)
        future.set_exception(MyError("from the future"))
        loop.run_until_complete(asyncio.sleep(0))
    finally:
        loop.close()
    assert failures[0].type is KeyError
    assert failures[0].value.__context__ is None
