"""
A small typed program over Loom's public API, checked by mypy in strict mode.

It is what a typed user's code looks like: Deferred[int] chains, ``await``,
inlineCallbacks, a Protocol, a Service.  ``assert_type`` states what mypy
must infer at each step (it does nothing at run time), so a hint that
regressed to Any or to a wrong type fails tests/typecheck/test_mypy.py.
test_exampleRuns runs it too: the types describe code that works.
"""

from collections.abc import Generator
from typing import Any, assert_type

from protocols.protocol import Factory, Protocol
from reactor.defer import (
    Deferred,
    DeferredList,
    ensureDeferred,
    fail,
    gatherResults,
    inlineCallbacks,
    maybeDeferred,
    succeed,
)
from reactor.failure import Failure
from reactor.interfaces import IReactorTime
from reactor.task import Clock, deferLater
from services.service import MultiService, Service


def fetchCount(clock: IReactorTime) -> Deferred[int]:
    """A count that arrives a second later."""
    return deferLater(clock, 1.0, lambda: 41)


def describe(count: int, unit: str = "items") -> str:
    return "%d %s" % (count, unit)


def fetchDescription(clock: IReactorTime) -> Deferred[str]:
    """A chain: the callbacks' types carry the result's type along."""
    counted = fetchCount(clock).addCallback(lambda count: count + 1)
    assert_type(counted, Deferred[int])
    described = counted.addCallback(describe, unit="lines")
    assert_type(described, Deferred[str])
    return described


def lookUp(count: int) -> Deferred[bytes]:
    """A callback returning a Deferred: the chain waits for it."""
    return succeed(b"x" * count)


def recover(failure: Failure) -> int:
    failure.trap(ZeroDivisionError)
    return 0


def safeRatio(numerator: int, denominator: int) -> Deferred[float | int]:
    """An errback's result joins the result type."""
    d = maybeDeferred(lambda: numerator / denominator)
    assert_type(d, Deferred[float])
    recovered = d.addErrback(recover)
    assert_type(recovered, Deferred[float | int])
    return recovered


async def total(clock: IReactorTime) -> int:
    """``await`` on a Deferred[int] is an int."""
    first = await fetchCount(clock)
    assert_type(first, int)
    payload = await succeed(first).addCallback(lookUp)
    assert_type(payload, bytes)
    return first + len(payload)


@inlineCallbacks
def summary(clock: IReactorTime) -> Generator[Deferred[Any], Any, str]:
    """inlineCallbacks: the decorated function returns Deferred[str]."""
    count = yield fetchCount(clock)
    values = yield gatherResults([succeed(count), succeed(1)])
    return "%d, %r" % (count, values)


def everything(clock: IReactorTime) -> Deferred[list[tuple[bool, object]]]:
    """Each helper's result type, as mypy sees it."""
    asCoroutine = ensureDeferred(total(clock))
    assert_type(asCoroutine, Deferred[int])
    assert_type(summary(clock), Deferred[str])
    assert_type(gatherResults([succeed(1), succeed(2)]), Deferred[list[int]])
    failed: Deferred[int] = fail(ValueError("no"))
    failed.addErrback(lambda failure: None)
    results = DeferredList([asCoroutine, fetchCount(clock)], consumeErrors=True)
    assert_type(results, DeferredList[int])
    return results.addCallback(lambda pairs: [(ok, value) for ok, value in pairs])


class Counter(Protocol):
    """Counts the bytes received and answers with the total."""

    received = 0

    def dataReceived(self, data: bytes) -> None:
        self.received += len(data)
        # transport is None until the connection is made (as in Twisted).
        assert self.transport is not None
        self.transport.write(b"%d\n" % (self.received,))


class CounterService(Service):
    """A service whose start completes later."""

    def __init__(self, clock: IReactorTime) -> None:
        self.clock = clock
        self.factory = Factory.forProtocol(Counter)

    def startService(self) -> Deferred[None]:
        Service.startService(self)
        return deferLater(self.clock, 0.5)


def application(clock: IReactorTime) -> MultiService:
    root = MultiService()
    CounterService(clock).setServiceParent(root)
    return root


def main() -> dict[str, object]:
    """Run everything on a Clock; return what each part produced."""
    clock = Clock()
    outcome: dict[str, object] = {}

    def record(result: object, name: str) -> None:
        outcome[name] = result

    fetchDescription(clock).addCallback(record, "description")
    Deferred.fromCoroutine(total(clock)).addCallback(record, "total")
    summary(clock).addCallback(record, "summary")
    everything(clock).addCallback(record, "everything")
    safeRatio(1, 0).addCallback(record, "ratio")
    root = application(clock)
    started = root.startService()
    started.addCallback(lambda ignored: record(root.running, "started"))
    clock.advance(1.0)
    clock.advance(1.0)
    return outcome
