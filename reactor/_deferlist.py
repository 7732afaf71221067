"""
DeferredList and gatherResults: one Deferred for the results of many.

The one idea: each listed Deferred gets a step that records its outcome at
its index, in the order of the list, whatever the order of firing; the
DeferredList fires once all have (or at the first success or failure when
asked to).

Import them from ``reactor.defer``, which re-exports them.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, TypeVar

from reactor import log
from reactor._deferred import FAILURE, SUCCESS, Deferred
from reactor.failure import Failure

# The result type of the listed Deferreds.
_T = TypeVar("_T")

__all__ = ["DeferredList", "FirstError", "gatherResults"]


class FirstError(Exception):
    """
    The first failure of a DeferredList with fireOnOneErrback.

    :ivar subFailure: the Failure; :ivar index: the position of its Deferred.
    """

    def __init__(self, failure: Failure, index: int) -> None:
        Exception.__init__(self, failure, index)
        self.subFailure = failure
        self.index = index

    def __repr__(self) -> str:
        return "FirstError[#%d, %r]" % (self.index, self.subFailure.value)

    def __str__(self) -> str:
        return "FirstError[#%d, %s]" % (self.index, self.subFailure)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, FirstError):
            return (self.subFailure, self.index) == (other.subFailure, other.index)
        return False

    __hash__ = Exception.__hash__


class DeferredList(Deferred[list[tuple[bool, _T | Failure]]]):
    """
    A Deferred that fires when every Deferred of a list has fired, with a list
    of (success, result) pairs in the original order.

    ``DeferredList[T]`` (at run time too) is a list of ``Deferred[T]``; it
    fires with ``list[tuple[bool, T | Failure]]`` (a failed Deferred's pair
    holds its Failure).  With fireOnOneCallback it fires with a
    ``(result, index)`` pair instead, which its type does not tell.

    :param fireOnOneCallback: fire with (result, index) at the first success.
    :param fireOnOneErrback: errback with FirstError at the first failure.
    :param consumeErrors: stop failures from continuing down the listed
        Deferreds' own chains (so they are not logged as unhandled).
    """

    def __init__(
        self,
        deferredList: Iterable[Deferred[_T]],
        fireOnOneCallback: bool = False,
        fireOnOneErrback: bool = False,
        consumeErrors: bool = False,
    ) -> None:
        self._deferredList = list(deferredList)
        Deferred.__init__(self)
        self.resultList: list[Any] = [None] * len(self._deferredList)
        self.finishedCount = 0
        self.fireOnOneCallback = fireOnOneCallback
        self.fireOnOneErrback = fireOnOneErrback
        self.consumeErrors = consumeErrors
        if not self._deferredList and not fireOnOneCallback:
            self.callback([])
        for index, deferred in enumerate(self._deferredList):
            deferred.addCallbacks(
                self._cbDeferred,
                self._cbDeferred,
                callbackArgs=(index, SUCCESS),
                errbackArgs=(index, FAILURE),
            )

    def _cbDeferred(self, result: Any, index: int, succeeded: bool) -> Any:
        self.resultList[index] = (succeeded, result)
        self.finishedCount += 1
        if not self.called:
            if succeeded and self.fireOnOneCallback:
                self.callback((result, index))  # type: ignore[arg-type]  # see the docstring
            elif not succeeded and self.fireOnOneErrback:
                self.errback(Failure(FirstError(result, index)))
            elif self.finishedCount == len(self.resultList):
                self.callback(self.resultList)
        if not succeeded and self.consumeErrors:
            return None
        return result

    def cancel(self) -> None:
        """Cancel every Deferred of the list that has not fired yet."""
        if self.called:
            return
        for deferred in self._deferredList:
            try:
                deferred.cancel()
            except Exception:
                log.err(None, "Exception raised from user supplied canceller")


def _parseGatheredResults(resultList: list[tuple[bool, Any]]) -> list[Any]:
    return [result for succeeded, result in resultList]


def gatherResults(
    deferredList: Iterable[Deferred[_T]], consumeErrors: bool = False
) -> Deferred[list[_T]]:
    """
    Return a Deferred firing with the list of results, or failing with
    FirstError at the first failure.
    """
    d = DeferredList(deferredList, fireOnOneErrback=True, consumeErrors=consumeErrors)
    # Every pair is a success by then: the first failure errbacks instead.
    return d.addCallback(_parseGatheredResults)
