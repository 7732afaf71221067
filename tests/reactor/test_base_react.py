"""
react(): run main under a reactor and exit with its outcome (every reactor).
"""

import os
import subprocess
import sys

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


ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# main(reactor) for the global-reactor runs below: fire after a callLater,
# with a result or with an error as argv[1] says.
MAIN = """
import sys

import reactor as loom
from reactor.defer import Deferred
from reactor.task import react

def main(reactor, outcome):
    assert reactor is loom.reactor, "not the global reactor"
    d = Deferred()
    if outcome == "ok":
        reactor.callLater(0.01, d.callback, "fired")
    else:
        reactor.callLater(0.01, d.errback, KeyError("main failed"))
    d.addCallback(print)
    return d

react(main, [sys.argv[1]])
"""


def runReact(outcome):
    """Run MAIN in a fresh process (react installs the global reactor, then exits)."""
    return subprocess.run(
        [sys.executable, "-c", MAIN, outcome],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_reactWithTheGlobalReactorExitsZero():
    result = runReact("ok")
    assert (result.returncode, result.stdout) == (0, "fired\n"), result.stderr


def test_reactWithTheGlobalReactorExitsOneWhenMainFails():
    result = runReact("fail")
    assert result.returncode == 1, result.stderr
    assert result.stdout == ""
    assert "main failed" in result.stderr
