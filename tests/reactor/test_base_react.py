"""
react(): run main under a reactor and exit with its outcome (every reactor).
"""

import pytest

from reactor._react import react
from reactor.defer import Deferred
from tests.reactor.reactorhelpers import LoggedErrors


def test_successExitsZero(reactor):
    seen = []

    def main(reactor, word):
        d = Deferred()
        reactor.callLater(0, d.callback, word)
        d.addCallback(seen.append)
        return d

    with pytest.raises(SystemExit) as exit:
        react(main, ["hello"], _reactor=reactor)
    assert exit.value.code == 0
    assert seen == ["hello"]
    assert not reactor.running


def test_coroutineFailureExitsOneAndIsLogged(reactor):
    async def main(reactor):
        raise KeyError("lost")

    with LoggedErrors() as logged:
        with pytest.raises(SystemExit) as exit:
            react(main, _reactor=reactor)
    assert exit.value.code == 1
    assert [f.type for f in logged.failures()] == [KeyError]


def test_systemExitCodeIsKept(reactor):
    def main(reactor):
        raise SystemExit(3)

    with pytest.raises(SystemExit) as exit:
        react(main, _reactor=reactor)
    assert exit.value.code == 3
