"""Tests for the Deferred engine in reactor.defer: callbacks, firing, chaining,
pausing, cancelling, timeouts, unhandled errors and debug mode."""

import contextlib
import gc
import sys

import pytest

from reactor import _deferred, defer, log
from reactor.defer import (
    AlreadyCalledError,
    CancelledError,
    Deferred,
    TimeoutError,
    fail,
    succeed,
)
from reactor.failure import Failure
from reactor.task import Clock


class MyError(Exception):
    """The error these tests raise."""


@pytest.fixture
def logged():
    """Collect the log events emitted during the test."""
    events = []
    log.addObserver(events.append)
    try:
        yield events
    finally:
        log.removeObserver(events.append)


def unhandledReports(events):
    return [e for e in events if "Unhandled error in Deferred" in (e.get("why") or "")]


def currentDepth():
    depth, frame = 0, sys._getframe()
    while frame is not None:
        depth, frame = depth + 1, frame.f_back
    return depth


@contextlib.contextmanager
def lowRecursionLimit():
    """Run a block with a recursion limit only a little above the current depth."""
    saved = sys.getrecursionlimit()
    sys.setrecursionlimit(currentDepth() + 80)
    try:
        yield
    finally:
        sys.setrecursionlimit(saved)


# -- adding callbacks and firing ------------------------------------------------


def test_callbackPassesResultDownTheChain():
    calls = []
    d = Deferred()
    d.addCallback(lambda r: calls.append(("first", r)) or r + 1)
    d.addCallback(lambda r: calls.append(("second", r)) or r * 10)
    d.callback(1)
    assert calls == [("first", 1), ("second", 2)]
    assert d.result == 20
    assert d.called


def test_addCallbackPassesExtraArgsAndKwargs():
    calls = []
    d = Deferred()
    result = d.addCallback(lambda r, a, b=None: calls.append((r, a, b)), 1, b=2)
    assert result is d
    d.callback("x")
    assert calls == [("x", 1, 2)]


def test_addErrbackPassesExtraArgsAndKwargs():
    calls = []
    d = Deferred()
    d.addErrback(lambda f, a, b=None: calls.append((f.type, a, b)), "a", b="b")
    d.errback(MyError())
    assert calls == [(MyError, "a", "b")]
    assert d.result is None


def test_addBothSeesResultsAndFailures():
    calls = []
    d1, d2 = Deferred(), Deferred()
    d1.addBoth(lambda r, tag: calls.append((tag, r)), "ok")
    d2.addBoth(lambda r, tag: calls.append((tag, r.type)), tag="err")
    d1.callback(5)
    d2.errback(MyError())
    assert calls == [("ok", 5), ("err", MyError)]


def test_addCallbacksWithArgsAndKeywords():
    calls = []

    def cb(result, a, k=None):
        calls.append(("cb", result, a, k))

    def eb(failure, a, k=None):
        calls.append(("eb", failure.type, a, k))

    d1, d2 = Deferred(), Deferred()
    for d in (d1, d2):
        d.addCallbacks(
            cb,
            eb,
            callbackArgs=[1],
            callbackKeywords={"k": 2},
            errbackArgs=(3,),
            errbackKeywords={"k": 4},
        )
    d1.callback("r")
    d2.errback(MyError())
    assert calls == [("cb", "r", 1, 2), ("eb", MyError, 3, 4)]


def test_errbackOfSameStepDoesNotSeeCallbackError():
    calls = []
    d = Deferred()
    d.addCallbacks(lambda r: 1 / 0, lambda f: calls.append("same step"))
    d.addErrback(lambda f: calls.append(f.type))
    d.callback(1)
    assert calls == [ZeroDivisionError]


def test_callbacksAddedAfterFiringRunAtOnce():
    d = succeed(3)
    calls = []
    d.addCallback(calls.append)
    assert calls == [3]
    assert d.result is None


def test_callbackAddedDuringCallbackRunsInOrder():
    calls = []
    d = Deferred()

    def first(result):
        d.addCallback(lambda r: calls.append(("added", r)))
        calls.append("first")
        return "from first"

    d.addCallback(first)
    d.addCallback(lambda r: calls.append(("second", r)) or r)
    d.callback(None)
    assert calls == ["first", ("second", "from first"), ("added", "from first")]


def test_callbackTwiceRaisesAlreadyCalledError():
    d = Deferred()
    d.callback(1)
    with pytest.raises(AlreadyCalledError):
        d.callback(2)
    with pytest.raises(AlreadyCalledError):
        d.errback(MyError())
    assert d.result == 1


def test_errbackTwiceRaisesAlreadyCalledError():
    d = Deferred()
    d.errback(MyError())
    d.addErrback(lambda f: None)
    with pytest.raises(AlreadyCalledError):
        d.errback(MyError())


def test_callbackWithDeferredIsRejected():
    with pytest.raises(AssertionError):
        Deferred().callback(Deferred())


def test_errbackInsideExceptWrapsCurrentException():
    d = Deferred()
    try:
        raise MyError("current")
    except MyError as error:
        d.errback()
        raised = error
    failures = []
    d.addErrback(failures.append)
    assert failures[0].value is raised
    assert failures[0].type is MyError


def test_errbackWithExceptionWrapsIt():
    error = MyError("explicit")
    d = Deferred()
    d.errback(error)
    failures = []
    d.addErrback(failures.append)
    assert isinstance(failures[0], Failure)
    assert failures[0].value is error


def test_errbackWithFailureKeepsIt():
    failure = Failure(MyError())
    d = fail(failure)
    seen = []
    d.addErrback(seen.append)
    assert seen == [failure]


def test_callbackWithFailureRunsErrbacks():
    failure = Failure(MyError())
    d = Deferred()
    seen = []
    d.addCallbacks(lambda r: seen.append("callback"), seen.append)
    d.callback(failure)
    assert seen == [failure]


def test_raisingInCallbackSwitchesToErrbacks():
    calls = []
    d = Deferred()
    d.addCallback(lambda r: calls.append("cb1") or 1 / 0)
    d.addCallback(lambda r: calls.append("skipped"))
    d.addErrback(lambda f: calls.append(f.type) or "recovered")
    d.addCallback(lambda r: calls.append(r))
    d.callback(None)
    assert calls == ["cb1", ZeroDivisionError, "recovered"]


def test_returningFailureSwitchesToErrbacks():
    failure = Failure(MyError())
    calls = []
    d = succeed(1)
    d.addCallback(lambda r: failure)
    d.addCallback(lambda r: calls.append("skipped"))
    d.addErrback(calls.append)
    assert calls == [failure]


def test_errbackReturningValueSwitchesBack():
    d = fail(MyError())
    d.addErrback(lambda f: "fine")
    results = []
    d.addCallback(results.append)
    assert results == ["fine"]


def test_errbackRaisingKeepsFailing():
    d = fail(MyError())
    d.addErrback(lambda f: f.trap(KeyError))
    seen = []
    d.addErrback(seen.append)
    assert seen[0].type is MyError


def test_keyboardInterruptIsNotCaught():
    d = Deferred()

    def interrupt(result):
        raise KeyboardInterrupt()

    d.addCallback(interrupt)
    with pytest.raises(KeyboardInterrupt):
        d.callback(1)


def test_resultsOfManyTypesAreNotMistakenForFailures():
    class Custom:
        pass

    values = [None, 0, 1.5, "s", b"b", (), [], {}, set(), Custom(), object()]
    for value in values:
        seen = []
        d = succeed(value)
        d.addCallbacks(seen.append, lambda f, seen=seen: seen.append("errback"))
        assert seen == [value]


def test_newResultClassesAreRememberedAsPlain(monkeypatch):
    class Custom:
        pass

    monkeypatch.setattr(_deferred, "_PLAIN", set(_deferred._PLAIN))
    d = succeed(None)
    d.addCallback(lambda r: Custom())
    assert Custom in _deferred._PLAIN
    seen = []
    d.addCallbacks(seen.append, lambda f: seen.append("errback"))
    assert isinstance(seen[0], Custom)


def test_plainClassesStayBounded(monkeypatch):
    class Other:
        pass

    monkeypatch.setattr(_deferred, "_PLAIN", set(_deferred._PLAIN))
    monkeypatch.setattr(_deferred, "_PLAIN_LIMIT", len(_deferred._PLAIN))
    d = succeed(None)
    d.addCallback(lambda r: Other())
    assert Other not in _deferred._PLAIN
    seen = []
    d.addCallback(seen.append)
    assert isinstance(seen[0], Other)


# -- returning Deferreds from callbacks -------------------------------------------


def test_returningUnfiredDeferredPausesOuterChain():
    inner = Deferred()
    calls = []
    outer = succeed(1)
    outer.addCallback(lambda r: inner)
    outer.addCallback(lambda r: calls.append(r))
    assert calls == []
    assert outer.result is inner
    assert "waiting on" in repr(outer)
    inner.callback("inner result")
    assert calls == ["inner result"]
    assert inner.result is None
    assert "waiting on" not in repr(outer)


def test_returningFiredDeferredContinuesAtOnce():
    calls = []
    outer = succeed(1)
    outer.addCallback(lambda r: succeed(r + 1))
    outer.addCallback(calls.append)
    assert calls == [2]


def test_innerFailureContinuesOnOuterErrbacks():
    inner = Deferred()
    seen = []
    outer = succeed(1)
    outer.addCallback(lambda r: inner)
    outer.addCallbacks(lambda r: seen.append("callback"), seen.append)
    inner.errback(MyError())
    assert seen[0].type is MyError


def test_returningFailedFiredDeferred():
    seen = []
    inner = fail(MyError())
    outer = succeed(1)
    outer.addCallback(lambda r: inner)
    outer.addErrback(seen.append)
    assert seen[0].type is MyError


def test_returningPausedFiredDeferredWaitsForUnpause():
    inner = succeed("value")
    inner.pause()
    calls = []
    outer = succeed(1)
    outer.addCallback(lambda r: inner)
    outer.addCallback(calls.append)
    assert calls == []
    inner.unpause()
    assert calls == ["value"]


def test_returningItselfFails():
    d = Deferred()
    d.addCallback(lambda r: d)
    seen = []
    d.addErrback(seen.append)
    d.callback(1)
    assert seen[0].type is TypeError


def test_innerWithOwnCallbacksPassesTheirResult():
    inner = Deferred()
    inner.addCallback(lambda r: r * 2)
    calls = []
    outer = succeed(None)
    outer.addCallback(lambda r: inner)
    outer.addCallback(calls.append)
    inner.callback(21)
    assert calls == [42]


def test_callbackFiringAnotherWaitingDeferredInsideChain():
    # inner's chain fires a second Deferred that outer does not wait on.
    a, b = Deferred(), Deferred()
    calls = []
    a.addCallback(lambda r: b.callback(r + 1) or r)
    b.addCallback(lambda r: calls.append(("b", r)))
    a.addCallback(lambda r: calls.append(("a", r)))
    a.callback(1)
    assert calls == [("b", 2), ("a", 1)]


N = 100_000


def test_nestedChainFiredOuterFirstDoesNotRecurse():
    ds = [Deferred() for _ in range(N)]
    for i in range(N - 1):
        ds[i].addCallback(lambda r, inner=ds[i + 1]: inner)
    results = []
    ds[0].addCallback(results.append)
    with lowRecursionLimit():
        for d in ds[:-1]:
            d.callback(None)
        ds[-1].callback("bottom")
    assert results == ["bottom"]


def test_nestedChainFiredInnerFirstDoesNotRecurse():
    ds = [Deferred() for _ in range(N)]
    for i in range(N - 1):
        ds[i].addCallback(lambda r, inner=ds[i + 1]: inner)
    results = []
    ds[0].addCallback(results.append)
    with lowRecursionLimit():
        ds[-1].callback("bottom")
        for d in reversed(ds[:-1]):
            d.callback(None)
    assert results == ["bottom"]


def test_nestedChainOfFailureDoesNotRecurse():
    ds = [Deferred() for _ in range(N)]
    for i in range(N - 1):
        ds[i].addCallback(lambda r, inner=ds[i + 1]: inner)
    seen = []
    ds[0].addErrback(seen.append)
    with lowRecursionLimit():
        for d in ds[:-1]:
            d.callback(None)
        ds[-1].errback(MyError("deep"))
    assert seen[0].getErrorMessage() == "deep"


def test_nestedChainBuiltOnPausedInnerDoesNotRecurse():
    # Every inner has fired but is paused: each outer leaves its marker, and
    # unpausing the innermost runs all of them.
    ds = [succeed(i) for i in range(N)]
    ds[-1].pause()
    results = []
    with lowRecursionLimit():
        for i in reversed(range(N - 1)):
            ds[i].addCallback(lambda r, inner=ds[i + 1]: inner)
        ds[0].addCallback(results.append)
        ds[-1].unpause()
    assert results == [N - 1]


def sequentialSteps(d, inners):
    for inner in inners:
        d.addCallback(lambda r, inner=inner: inner.addCallback(lambda v: v + r))


def test_sequentialChainFiredOuterFirstDoesNotRecurse():
    inners = [Deferred() for _ in range(N)]
    d = Deferred()
    sequentialSteps(d, inners)
    results = []
    d.addCallback(results.append)
    with lowRecursionLimit():
        d.callback(0)
        for inner in inners:
            inner.callback(1)
    assert results == [N]


def test_sequentialChainFiredInnersFirstDoesNotRecurse():
    inners = [Deferred() for _ in range(N)]
    d = Deferred()
    sequentialSteps(d, inners)
    results = []
    d.addCallback(results.append)
    with lowRecursionLimit():
        for inner in inners:
            inner.callback(1)
        d.callback(0)
    assert results == [N]


def test_outerPausedByUserStaysPausedWhenInnerFires():
    inner = Deferred()
    outer = succeed(None)
    outer.addCallback(lambda r: inner)
    calls = []
    outer.addCallback(calls.append)
    outer.pause()
    inner.callback("inner")
    assert calls == []
    assert outer.paused == 1
    outer.unpause()
    assert calls == ["inner"]


def test_innerPausedByOuterCallbackResumesOnUnpause():
    # outer's callback pauses inner while inner's loop is waiting on it.
    inner = Deferred()
    outer = succeed(None)
    outer.addCallback(lambda r: inner)
    outer.addCallback(lambda r: inner.pause())
    calls = []
    inner.addCallback(calls.append)
    inner.callback("x")
    assert calls == []
    inner.unpause()
    assert calls == [None]


# -- pause, chainDeferred ---------------------------------------------------------


def test_pauseAndUnpause():
    calls = []
    d = Deferred()
    d.addCallback(calls.append)
    d.pause()
    d.pause()
    d.callback(1)
    assert calls == []
    d.unpause()
    assert calls == []
    d.unpause()
    assert calls == [1]
    assert d.paused == 0


def test_unpauseBeforeFiringDoesNothing():
    d = Deferred()
    d.pause()
    d.unpause()
    calls = []
    d.addCallback(calls.append)
    d.callback(2)
    assert calls == [2]


def test_pauseInsideCallbackStopsChain():
    calls = []
    d = Deferred()
    d.addCallback(lambda r: d.pause() or r)
    d.addCallback(calls.append)
    d.callback("x")
    assert calls == []
    d.unpause()
    assert calls == ["x"]


def test_chainDeferredPassesResultAndFailure():
    a, b = Deferred(), Deferred()
    a.chainDeferred(b)
    assert "waiting on" in repr(b)
    results = []
    b.addCallback(results.append)
    a.callback(7)
    assert results == [7]
    assert "waiting on" not in repr(b)
    c, e = Deferred(), Deferred()
    c.chainDeferred(e)
    seen = []
    e.addErrback(seen.append)
    c.errback(MyError())
    assert seen[0].type is MyError


def test_longChainDeferredLineDoesNotRecurse():
    ds = [Deferred() for _ in range(N)]
    for first, second in zip(ds, ds[1:], strict=False):
        first.chainDeferred(second)
    results, failures = [], []
    ds[-1].addCallback(results.append)
    with lowRecursionLimit():
        ds[0].callback("end")
    assert results == ["end"]
    assert all(d.result is None for d in ds[:-1])
    es = [Deferred() for _ in range(N)]
    for first, second in zip(es, es[1:], strict=False):
        first.chainDeferred(second)
    es[-1].addErrback(failures.append)
    with lowRecursionLimit():
        es[0].errback(MyError())
    assert [f.type for f in failures] == [MyError]


def test_chainDeferredOrderAndWhatFollows():
    a, b = Deferred(), Deferred()
    events = []
    b.addCallback(lambda r: events.append(("b", r)))
    a.addCallback(lambda r: events.append(("a1", r)) or r)
    a.chainDeferred(b)
    a.addCallback(lambda r: events.append(("a2", r)))
    a.callback(3)
    # b's chain runs before a goes on, and a goes on with None.
    assert events == [("a1", 3), ("b", 3), ("a2", None)]


def test_chainDeferredToAFiredDeferredFailsTheStep():
    a, b = Deferred(), Deferred()
    b.callback("already")
    a.chainDeferred(b)
    failures = []
    a.addErrback(failures.append)
    a.callback(1)
    assert [f.type for f in failures] == [defer.AlreadyCalledError]


def test_chainDeferredToACancelledDeferredIsQuiet():
    a, b = Deferred(), Deferred()
    a.chainDeferred(b)
    b.cancel()
    b.addErrback(lambda f: f.trap(defer.CancelledError))
    results = []
    a.addBoth(results.append)
    a.callback(1)
    assert results == [None]


def test_chainDeferredToAPausedDeferredWaitsForUnpause():
    a, b = Deferred(), Deferred()
    b.pause()
    a.chainDeferred(b)
    seen = []
    b.addCallback(seen.append)
    a.callback("r")
    assert seen == [] and b.called
    b.unpause()
    assert seen == ["r"]


def test_reprShowsState():
    d = Deferred()
    assert repr(d).startswith("<Deferred at 0x")
    d.callback(5)
    assert "current result: 5" in repr(d)
    assert str(d) == repr(d)


# -- cancel ---------------------------------------------------------------------


def test_cancelCallsCanceller():
    cancelled = []

    def canceller(d):
        cancelled.append(d)
        d.callback("cancelled nicely")

    d = Deferred(canceller)
    d.cancel()
    assert cancelled == [d]
    assert d.result == "cancelled nicely"


def test_cancelWithCancellerThatDoesNotFireErrbacks():
    d = Deferred(lambda d: None)
    d.cancel()
    seen = []
    d.addErrback(seen.append)
    assert seen[0].type is CancelledError


def test_cancelWithoutCancellerErrbacksAndIgnoresLateCallback():
    d = Deferred()
    d.cancel()
    seen = []
    d.addErrback(seen.append)
    assert seen[0].type is CancelledError
    d.callback("too late")  # the operation's own answer: dropped quietly
    assert d.result is None
    with pytest.raises(AlreadyCalledError):
        d.callback("twice too late")


def test_cancelFiredDeferredDoesNothing():
    d = succeed(1)
    d.cancel()
    assert d.result == 1


def test_cancelOuterCancelsInner():
    inner = Deferred()
    outer = succeed(None)
    outer.addCallback(lambda r: inner)
    seen = []
    outer.addErrback(seen.append)
    outer.cancel()
    assert inner.called
    assert seen[0].type is CancelledError


def test_errbackAfterCancelIsIgnoredOnce():
    d = Deferred()
    d.cancel()
    d.errback(MyError("late failure"))
    seen = []
    d.addErrback(seen.append)
    assert seen[0].type is CancelledError


# -- addTimeout -------------------------------------------------------------------


def test_addTimeoutRaisesTimeoutError():
    clock = Clock()
    d = Deferred()
    assert d.addTimeout(10, clock) is d
    clock.advance(9)
    assert not d.called
    clock.advance(1)
    seen = []
    d.addErrback(seen.append)
    assert seen[0].type is TimeoutError
    assert isinstance(seen[0].value, defer.TimeoutError)
    assert "10" in seen[0].getErrorMessage()


def test_addTimeoutCancelsTimerWhenFiredFirst():
    clock = Clock()
    d = Deferred()
    d.addTimeout(10, clock)
    assert len(clock.getDelayedCalls()) == 1
    d.callback("in time")
    assert clock.getDelayedCalls() == []
    assert d.result == "in time"


def test_addTimeoutPassesOtherFailures():
    clock = Clock()
    d = Deferred()
    d.addTimeout(10, clock)
    d.errback(MyError())
    seen = []
    d.addErrback(seen.append)
    assert seen[0].type is MyError
    assert clock.getDelayedCalls() == []


def test_addTimeoutWithOnTimeoutCancel():
    clock = Clock()
    calls = []

    def onTimeoutCancel(result, timeout):
        calls.append((result.type, timeout))
        return "timed out politely"

    d = Deferred()
    d.addTimeout(5, clock, onTimeoutCancel=onTimeoutCancel)
    clock.advance(5)
    assert calls == [(CancelledError, 5)]
    assert d.result == "timed out politely"


def test_addTimeoutWhenCancellerFiresWithValue():
    clock = Clock()
    d = Deferred(lambda d: d.callback("canceller's value"))
    d.addTimeout(1, clock)
    clock.advance(1)
    assert d.result == "canceller's value"


# -- unhandled errors -------------------------------------------------------------


def test_unhandledErrorIsLoggedWhenCollected(logged):
    d = Deferred()
    d.errback(MyError("forgotten"))
    del d
    gc.collect()
    reports = unhandledReports(logged)
    assert len(reports) == 1
    assert reports[0]["isError"]
    assert reports[0]["failure"].type is MyError
    text = log.textFromEventDict(reports[0])
    assert "Unhandled error in Deferred" in text
    assert "MyError: forgotten" in text


def test_unhandledErrorReportHasTraceback(logged):
    def broken(result):
        raise MyError("in a callback")

    d = succeed(1)
    d.addCallback(broken)
    del d
    gc.collect()
    text = log.textFromEventDict(unhandledReports(logged)[0])
    assert "Traceback (most recent call last)" in text
    assert "in broken" in text


def test_handledErrorIsNotLogged(logged):
    d = Deferred()
    d.errback(MyError())
    d.addErrback(lambda f: None)
    del d
    fail(MyError()).addErrback(lambda f: None)
    gc.collect()
    assert unhandledReports(logged) == []


def test_errorPassedToOuterIsNotLoggedTwice(logged):
    inner = fail(MyError())
    outer = succeed(None)
    outer.addCallback(lambda r, inner=inner: inner)
    del inner
    seen = []
    outer.addErrback(seen.append)
    del outer
    gc.collect()
    assert len(seen) == 1
    assert unhandledReports(logged) == []


def test_errorReturnedFromPausedInnerIsNotLogged(logged):
    inner = fail(MyError())
    inner.pause()
    outer = succeed(None)
    outer.addCallback(lambda r, inner=inner: inner)
    seen = []
    outer.addErrback(seen.append)
    inner.unpause()
    del inner, outer
    gc.collect()
    assert len(seen) == 1
    assert unhandledReports(logged) == []


def test_successIsNotLogged(logged):
    d = succeed(1)
    del d
    gc.collect()
    assert logged == []


def test_callbackWithFailureAndNoCallbacksIsLogged(logged):
    d = Deferred()
    d.callback(Failure(MyError("via callback")))
    del d
    gc.collect()
    assert unhandledReports(logged)[0]["failure"].getErrorMessage() == "via callback"


def test_brokenLoggingDoesNotBreakCollection(monkeypatch):
    def brokenErr(*args, **kwargs):
        raise RuntimeError("logging is gone")

    monkeypatch.setattr(log, "err", brokenErr)
    d = fail(MyError())
    del d
    gc.collect()  # an escaping exception would fail the test (unraisable)


# -- debug mode -------------------------------------------------------------------


@pytest.fixture
def debugging():
    defer.setDebugging(True)
    try:
        yield
    finally:
        defer.setDebugging(False)


def makeDeferredHere():
    return Deferred()


def fireItHere(d):
    d.callback(1)


def test_getDebuggingFollowsSetDebugging(debugging):
    assert defer.getDebugging() is True
    defer.setDebugging(False)
    assert defer.getDebugging() is False
    assert Deferred.debug is False


def test_debugAlreadyCalledErrorSaysWhereCreatedAndFired(debugging):
    d = makeDeferredHere()
    fireItHere(d)
    with pytest.raises(AlreadyCalledError) as info:
        d.callback(2)
    text = str(info.value)
    created, fired = text.split("first fired at")
    assert "created at" in created and "makeDeferredHere" in created
    assert "fireItHere" in fired


def test_debugSucceedRecordsCreator(debugging):
    d = succeed(1)
    with pytest.raises(AlreadyCalledError) as info:
        d.callback(2)
    assert "test_debugSucceedRecordsCreator" in str(info.value)


def test_debugUnhandledErrorSaysWhereCreatedAndFired(debugging, logged):
    d = makeDeferredHere()
    d.errback(MyError("debugged"))
    del d
    gc.collect()
    why = unhandledReports(logged)[0]["why"]
    assert "created at" in why and "makeDeferredHere" in why
    assert "first fired at" in why and "test_debugUnhandledError" in why


def test_noDebugInfoWithoutDebugging():
    d = makeDeferredHere()
    fireItHere(d)
    with pytest.raises(AlreadyCalledError) as info:
        d.callback(2)
    assert "makeDeferredHere" not in str(info.value)


def test_sameCallbackAddedTwiceResumesAtTheRightStep():
    # addCallback(g) stores g itself, so g appears three times in the list:
    # when the chain waits at the second g, the steps that ran must be found
    # by position, not by identity.
    calls = []
    inner = Deferred()

    def g(result):
        calls.append(result)
        return inner if result == 2 else result + 1

    d = Deferred()
    d.addCallback(g).addCallback(g).addCallback(g)
    d.callback(1)
    assert calls == [1, 2]
    inner.callback(10)
    assert calls == [1, 2, 10]
    assert d.result == 11


def test_sameCallbackAddedTwiceAcrossAPause():
    calls = []
    d = Deferred()

    def g(result):
        calls.append(result)
        if result == 2:
            d.pause()
        return result + 1

    d.addCallback(g).addCallback(g).addCallback(g)
    d.callback(1)
    assert calls == [1, 2]
    d.unpause()
    assert calls == [1, 2, 3]
    assert d.result == 4


def test_chainDeferredOnAFiredDeferredFiresAtOnce():
    a, b = Deferred(), Deferred()
    a.callback("early")
    a.chainDeferred(b)
    assert b.result == "early" and a.result is None


def test_chainedDeferredRecordsWhereItFiredInDebugMode():
    defer.setDebugging(True)
    try:
        a, b = Deferred(), Deferred()
        a.chainDeferred(b)
        a.callback(1)
        with pytest.raises(defer.AlreadyCalledError) as error:
            b.callback(2)
    finally:
        defer.setDebugging(False)
    fired = str(error.value).split("first fired at:")[1]
    assert "a.callback(1)" in fired


# succeed() leaves the callback list unbuilt until a step is added; every way
# of adding one must still run it at once and keep the steps in order.
@pytest.mark.parametrize(
    "add",
    [
        lambda d, seen: d.addCallback(seen.append),
        lambda d, seen: d.addCallback(lambda r, extra: seen.append(r + extra), 0),
        lambda d, seen: d.addCallbacks(seen.append, lambda f: seen.append("errback")),
        lambda d, seen: d.addBoth(seen.append),
        lambda d, seen: d.chainDeferred(Deferred().addCallback(seen.append)),
    ],
    ids=["addCallback", "addCallbackArgs", "addCallbacks", "addBoth", "chainDeferred"],
)
def test_everyAddOnSucceedRunsAtOnce(add):
    seen = []
    d = succeed(5)
    add(d, seen)
    assert seen == [5]
    d.addCallback(lambda r: seen.append("next"))
    assert seen == [5, "next"]


def test_addErrbackOnSucceedPassesTheResultOn():
    d = succeed(5)
    d.addErrback(lambda f: "not called")
    assert d.result == 5
    d.addCallback(lambda r: r + 1)
    assert d.result == 6


def test_pauseAndUnpauseSucceedWithNoCallbacks():
    d = succeed(5)
    d.pause()
    d.unpause()
    assert d.result == 5
    d.pause()
    d.addCallback(lambda r: r + 1)
    assert d.result == 5
    d.unpause()
    assert d.result == 6


def test_pausedSucceedReturnedFromACallbackIsWaitedOn():
    inner = succeed("inner")
    inner.pause()
    outer = Deferred()
    outer.addCallback(lambda r: inner)
    outer.callback(None)
    assert outer.paused
    inner.unpause()
    assert outer.result == "inner" and not outer.paused
    assert inner.result is None  # the outer chain took it
