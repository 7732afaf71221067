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


def test_systemExitAtStartupRestoresSignals(reactor):
    # The handlers and wakeup fd installed by run() must not outlive it.
    import signal

    before = signal.getsignal(signal.SIGTERM), signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(before[1])

    def main(reactor):
        raise SystemExit(4)

    with pytest.raises(SystemExit):
        react(main, _reactor=reactor)
    after = signal.getsignal(signal.SIGTERM), signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(after[1])
    assert after == before
