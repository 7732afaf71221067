"""
The pytest plugin's own helpers: runUntil and the dirty-reactor check.
"""

import threading

import pytest

from reactor.defer import Deferred
from reactor.epollreactor import EPollReactor
from reactor.pytestplugin import DirtyReactorError, checkClean, runUntil
from tests.reactor.reactorhelpers import PairDescriptor


@pytest.fixture
def bareReactor():
    reactor = EPollReactor()
    yield reactor
    reactor.close()


def test_runUntilFailsTheTestOnTimeout(bareReactor):
    with pytest.raises(pytest.fail.Exception, match="still waiting"):
        runUntil(bareReactor, Deferred(), timeout=0.05)


def test_runUntilRaisesTheDeferredsError(bareReactor):
    d = Deferred()
    bareReactor.callLater(0, d.errback, KeyError("nope"))
    with pytest.raises(KeyError):
        runUntil(bareReactor, d)


def test_dirtyReactorIsNamedAndCleaned(bareReactor):
    descriptor = PairDescriptor(bareReactor)
    bareReactor.addReader(descriptor)
    bareReactor.callLater(60, print, "left behind")
    with pytest.raises(DirtyReactorError) as error:
        checkClean(bareReactor)
    assert "PairDescriptor" in str(error.value)
    assert "print('left behind')" in str(error.value)
    assert bareReactor.getReaders() == []
    assert [c for c in bareReactor.getDelayedCalls() if c.active()] == []
    checkClean(bareReactor)  # clean now
    descriptor.close()


def test_busyPoolAndStrayThreadsAreNamed(bareReactor):
    release = threading.Event()
    before = set(threading.enumerate())
    stray = threading.Thread(target=release.wait, args=(5,), name="stray-one")
    stray.start()
    # Busy for longer than the check's 1 s grace, but not for ever.
    bareReactor.callInThread(threading.Event().wait, 1.5)
    with pytest.raises(DirtyReactorError) as error:
        checkClean(bareReactor, before)
    release.set()
    stray.join()
    assert "thread pool busy" in str(error.value)
    assert "stray-one" in str(error.value)
    assert bareReactor.threadpool is None
