"""Twisted 26 behaviours of reactor.defer that ported code relies on: the
generic classes subscriptable at run time, and addCallbacks taking None for
its argument tuples and keyword dicts; no module of Loom's among its public
names."""

import types
import typing

import pytest

from reactor import defer
from reactor.defer import (
    Deferred,
    DeferredList,
    DeferredQueue,
    fail,
    succeed,
)
from reactor.failure import Failure
from reactor.task import CooperativeTask


class MyError(Exception):
    """The error these tests raise."""


# -- generic classes ------------------------------------------------------------


@pytest.mark.parametrize("klass", [Deferred, DeferredList, DeferredQueue, CooperativeTask])
def test_genericClassesAreSubscriptableAtRunTime(klass):
    alias = klass[int]
    assert typing.get_origin(alias) is klass
    assert typing.get_args(alias) == (int,)


def test_annotationEvaluatedAtImportAcceptsDeferredOfInt():
    # What failed at import in ported code: an annotation is evaluated when
    # the def runs (no ``from __future__ import annotations``).
    def fetch(queue: DeferredQueue[bytes]) -> Deferred[int]:
        return succeed(len(queue.pending))

    hints = typing.get_type_hints(fetch)
    assert hints == {"queue": DeferredQueue[bytes], "return": Deferred[int]}


def test_subscriptedDeferredIsAWorkingDeferred():
    d = Deferred[int]()
    results = []
    d.addCallback(results.append)
    d.callback(3)
    assert results == [3]
    assert isinstance(d, Deferred)


def test_deferredListOfIntFiresWithPairs():
    d = DeferredList[int]([succeed(1), succeed(2)])
    assert d.result == [(True, 1), (True, 2)]


def test_genericBaseAddsNothingPerInstance():
    # The hot path relies on these: isinstance(x, Deferred) stays the plain
    # type check (no ABC metaclass), creating one runs no extra __new__, and
    # a fresh Deferred has nothing beyond its slots.
    assert type(Deferred) is type
    assert Deferred.__new__ is object.__new__
    assert Deferred().__dict__ == {}


# -- addCallbacks with None -------------------------------------------------------


def test_addCallbacksAcceptsNoneArgsOnSuccess():
    seen = []
    d = succeed("value")
    d.addCallbacks(
        lambda result: seen.append(("callback", result)),
        lambda failure: seen.append(("errback", failure)),
        callbackArgs=None,
        callbackKeywords=None,
        errbackArgs=None,
        errbackKeywords=None,
    )
    assert seen == [("callback", "value")]


def test_addCallbacksAcceptsNoneArgsOnFailure():
    seen = []
    d = fail(MyError("bad"))
    d.addCallbacks(
        lambda result: seen.append(("callback", result)),
        lambda failure: seen.append(("errback", failure.type)),
        callbackArgs=None,
        errbackArgs=None,
    )
    assert seen == [("errback", MyError)]


def test_addCallbacksStillPassesGivenArguments():
    seen = []
    d = Deferred()
    d.addCallbacks(
        lambda result, *args, **kwargs: seen.append((result, args, kwargs)),
        None,
        callbackArgs=[1, 2],
        callbackKeywords={"key": "word"},
        errbackArgs=None,
    )
    d.addCallbacks(
        None,
        lambda failure, *args, **kwargs: seen.append((failure.type, args, kwargs)),
        callbackArgs=None,
        errbackArgs=("e",),
        errbackKeywords={"k": 1},
    )
    d.callback("r")
    d2 = Deferred()
    d2.addCallbacks(
        None,
        lambda failure, *args, **kwargs: seen.append((failure.type, args, kwargs)),
        errbackArgs=("e",),
        errbackKeywords={"k": 1},
    )
    d2.errback(Failure(MyError()))
    assert seen == [("r", (1, 2), {"key": "word"}), (MyError, ("e",), {"k": 1})]


# -- the module's public names --------------------------------------------------


def test_deferExposesNoModuleOfLoomsAsAPublicName():
    # Twisted's defer.log is a Logger; reactor.defer.log was the reactor.log
    # module it imports, which a porting user would take for Twisted's.
    leaked = [
        name
        for name, value in vars(defer).items()
        if not name.startswith("_")
        and isinstance(value, types.ModuleType)
        and value.__name__.split(".")[0] in ("reactor", "protocols", "services")
    ]
    assert leaked == []
