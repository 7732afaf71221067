"""Tests for DeferredList, gatherResults, maybeDeferred, succeed, fail, execute."""

import gc

import pytest

from reactor import log
from reactor.defer import (
    FAILURE,
    SUCCESS,
    CancelledError,
    Deferred,
    DeferredList,
    FirstError,
    execute,
    fail,
    gatherResults,
    maybeDeferred,
    passthru,
    succeed,
)
from reactor.failure import Failure


class MyError(Exception):
    """The error these tests raise."""


@pytest.fixture
def logged():
    events = []
    log.addObserver(events.append)
    try:
        yield events
    finally:
        log.removeObserver(events.append)


def resultOf(d):
    """Return the result d has fired with (consuming it)."""
    results = []
    d.addBoth(results.append)
    assert results, "the Deferred has not fired"
    return results[0]


def test_deferredListFiresWithAllResultsInOrder():
    a, b, c = Deferred(), Deferred(), Deferred()
    dl = DeferredList([a, b, c])
    c.callback("c")
    a.callback("a")
    assert not dl.called
    b.errback(MyError())
    results = resultOf(dl)
    assert results[0] == (SUCCESS, "a")
    assert results[2] == (SUCCESS, "c")
    assert results[1][0] is FAILURE
    assert results[1][1].type is MyError
    b.addErrback(lambda f: None)


def test_deferredListWithFiredDeferreds():
    dl = DeferredList([succeed(1), succeed(2)])
    assert resultOf(dl) == [(True, 1), (True, 2)]


def test_emptyDeferredListFiresAtOnce():
    assert resultOf(DeferredList([])) == []


def test_emptyDeferredListWithFireOnOneCallbackWaits():
    dl = DeferredList([], fireOnOneCallback=True)
    assert not dl.called


def test_fireOnOneCallback():
    a, b = Deferred(), Deferred()
    dl = DeferredList([a, b], fireOnOneCallback=True)
    b.callback("b first")
    assert resultOf(dl) == ("b first", 1)
    a.callback("later")  # ignored by the list


def test_fireOnOneErrback():
    a, b = Deferred(), Deferred()
    dl = DeferredList([a, b], fireOnOneErrback=True, consumeErrors=True)
    b.errback(MyError("second"))
    failure = resultOf(dl)
    assert failure.type is FirstError
    assert failure.value.index == 1
    assert failure.value.subFailure.type is MyError
    assert "FirstError[#1" in repr(failure.value)
    assert "FirstError[#1" in str(failure.value)
    a.errback(MyError("ignored"))


def test_consumeErrorsStopsFailuresInTheirOwnChains(logged):
    a = Deferred()
    DeferredList([a], consumeErrors=True)
    a.errback(MyError())
    assert resultOf(a) is None
    del a
    gc.collect()
    assert [e for e in logged if e.get("isError")] == []


def test_withoutConsumeErrorsFailureStaysInItsChain():
    a = Deferred()
    DeferredList([a])
    a.errback(MyError())
    assert resultOf(a).type is MyError


def test_cancelDeferredListCancelsEveryPendingDeferred():
    a, b = Deferred(), succeed("done")
    dl = DeferredList([a, b], consumeErrors=True)
    dl.cancel()
    results = resultOf(dl)
    assert results[0][0] is FAILURE and results[0][1].type is CancelledError
    assert results[1] == (SUCCESS, "done")


def test_cancelFiredDeferredListDoesNothing():
    a = Deferred()
    dl = DeferredList([succeed(1)])
    dl.cancel()
    assert resultOf(dl) == [(True, 1)]
    assert not a.called


def test_cancelDeferredListLogsRaisingCanceller(logged):
    def badCanceller(d):
        raise MyError("canceller broke")

    a, b = Deferred(badCanceller), Deferred()
    dl = DeferredList([a, b], fireOnOneErrback=True, consumeErrors=True)
    dl.cancel()
    assert any(e.get("why") == "Exception raised from user supplied canceller" for e in logged)
    assert resultOf(dl).value.subFailure.type is CancelledError


def test_firstErrorEquality():
    failure = Failure(MyError())
    assert FirstError(failure, 1) == FirstError(failure, 1)
    assert FirstError(failure, 1) != FirstError(failure, 2)
    assert FirstError(failure, 1) != "FirstError"


def test_gatherResults():
    a, b = Deferred(), Deferred()
    d = gatherResults([a, b])
    b.callback(2)
    a.callback(1)
    assert resultOf(d) == [1, 2]


def test_gatherResultsFailsWithFirstError():
    a, b = Deferred(), Deferred()
    d = gatherResults([a, b], consumeErrors=True)
    a.errback(MyError("first"))
    failure = resultOf(d)
    assert failure.check(FirstError)
    assert failure.value.subFailure.getErrorMessage() == "first"
    assert resultOf(a) is None


def test_gatherResultsWithoutConsumeErrorsLeavesFailure():
    a = Deferred()
    d = gatherResults([a])
    a.errback(MyError())
    assert resultOf(d).check(FirstError)
    assert resultOf(a).type is MyError


def test_gatherResultsOfNothing():
    assert resultOf(gatherResults([])) == []


def test_maybeDeferredWithValue():
    assert resultOf(maybeDeferred(lambda a, b=0: a + b, 1, b=2)) == 3


def test_maybeDeferredWithDeferred():
    d = Deferred()
    assert maybeDeferred(lambda: d) is d


def test_maybeDeferredWithFailure():
    failure = Failure(MyError())
    assert resultOf(maybeDeferred(lambda: failure)) is failure


def test_maybeDeferredWithRaise():
    def broken():
        raise MyError("raised")

    assert resultOf(maybeDeferred(broken)).getErrorMessage() == "raised"


def test_maybeDeferredWithCoroutine():
    async def coroutine(x):
        return await succeed(x * 2)

    assert resultOf(maybeDeferred(coroutine, 4)) == 8


def test_succeedAndFail():
    assert resultOf(succeed("s")) == "s"
    assert resultOf(fail(MyError())).type is MyError
    try:
        raise MyError("current")
    except MyError:
        d = fail()
    assert resultOf(d).getErrorMessage() == "current"


def test_execute():
    assert resultOf(execute(lambda x: x + 1, 1)) == 2
    assert resultOf(execute(lambda: 1 / 0)).type is ZeroDivisionError


def test_passthru():
    marker = object()
    assert passthru(marker) is marker
