"""
The asyncio reactor beside asyncio code: Deferred <-> Future under one loop.
"""

import asyncio

import pytest

from reactor.asyncioreactor import AsyncioReactor
from reactor.defer import Deferred


@pytest.fixture
def asyncioReactor():
    reactor = AsyncioReactor()
    yield reactor
    reactor.close()


def test_asyncioCoroutineAwaitsDeferredFiredByLoomTimer(asyncioReactor):
    reactor = asyncioReactor

    async def main():
        d = Deferred()
        reactor.callLater(0.01, d.callback, "from Loom")
        return await d.asFuture(reactor.eventloop)

    assert reactor.eventloop.run_until_complete(main()) == "from Loom"


def test_deferredFromFutureUnderReactorRun(asyncioReactor):
    reactor = asyncioReactor
    results = []

    async def sleeper():
        await asyncio.sleep(0.01)
        return "from asyncio"

    def start():
        d = Deferred.fromFuture(asyncio.ensure_future(sleeper(), loop=reactor.eventloop))
        d.addCallback(results.append)
        d.addBoth(lambda _: reactor.stop())

    reactor.callWhenRunning(start)
    reactor.run(installSignalHandlers=False)
    assert results == ["from asyncio"]


def test_timerMovedEarlierRearmsTheLoop(asyncioReactor):
    reactor = asyncioReactor
    fired = []
    call = reactor.callLater(60, fired.append, "moved")

    async def main():
        call.reset(0.01)
        while not fired:
            await asyncio.sleep(0.005)
        return fired

    assert reactor.eventloop.run_until_complete(asyncio.wait_for(main(), 5)) == ["moved"]


def test_sharedEventLoopIsNotClosedByTheReactor():
    loop = asyncio.new_event_loop()
    reactor = AsyncioReactor(loop)
    assert reactor.eventloop is loop
    reactor.close()
    assert not loop.is_closed()
    loop.close()
