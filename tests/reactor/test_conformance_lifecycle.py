"""
Conformance: run, stop, crash, iterate and system event triggers, on every reactor.
"""

import pytest

from reactor.defer import Deferred
from reactor.error import ReactorAlreadyRunning, ReactorNotRestartable, ReactorNotRunning
from tests.reactor.reactorhelpers import LoggedErrors


def runBriefly(reactor, *, then=None):
    """Run reactor until it stops (a safety timer stops it after 5 s)."""
    safety = reactor.callLater(5, reactor.stop)
    if then is not None:
        reactor.callWhenRunning(then)
    reactor.run(installSignalHandlers=False)
    if safety.active():
        safety.cancel()


def test_stopWhenNeverRunRaises(reactor):
    with pytest.raises(ReactorNotRunning):
        reactor.stop()


def test_stopTwiceRaises(reactor):
    errors = []

    def stopTwice():
        reactor.stop()
        try:
            reactor.stop()
        except ReactorNotRunning as error:
            errors.append(error)

    runBriefly(reactor, then=stopTwice)
    assert len(errors) == 1
    with pytest.raises(ReactorNotRunning):
        reactor.stop()


def test_cannotRunAgainAfterStop(reactor):
    runBriefly(reactor, then=reactor.stop)
    with pytest.raises(ReactorNotRestartable):
        reactor.run(installSignalHandlers=False)


def test_runWhileRunningRaises(reactor):
    errors = []

    def runAgain():
        try:
            reactor.run(installSignalHandlers=False)
        except ReactorAlreadyRunning as error:
            errors.append(error)
        reactor.stop()

    runBriefly(reactor, then=runAgain)
    assert len(errors) == 1


def test_crashEndsRunWithoutShutdownAndAllowsRunAgain(reactor):
    events = []
    reactor.addSystemEventTrigger("before", "shutdown", events.append, "shutdown")
    reactor.callWhenRunning(reactor.crash)
    reactor.run(installSignalHandlers=False)
    assert events == [] and not reactor.running
    reactor.callWhenRunning(events.append, "running again")
    runBriefly(reactor, then=reactor.stop)
    assert events == ["running again", "shutdown"]


def test_runningIsTrueOnlyWhileRunning(reactor):
    seen = []
    assert not reactor.running
    runBriefly(reactor, then=lambda: (seen.append(reactor.running), reactor.stop()))
    assert seen == [True]
    assert not reactor.running


def test_callWhenRunningRunsAfterStartupOrAtOnce(reactor):
    events = []
    reactor.addSystemEventTrigger("during", "startup", events.append, "during startup")
    reactor.callWhenRunning(events.append, "when running")

    def running():
        reactor.callWhenRunning(events.append, "immediately")
        events.append("after immediately")
        reactor.stop()

    runBriefly(reactor, then=running)
    assert events == ["during startup", "when running", "immediately", "after immediately"]


def test_iterateWorksOnNeverRunReactor(reactor):
    calls = []
    reactor.callLater(0, calls.append, "timer")
    reactor.callFromThread(calls.append, "thread")
    reactor.iterate()
    reactor.iterate()
    assert calls == ["thread", "timer"]
    assert not reactor.running


def test_shutdownPhasesRunInOrder(reactor):
    events = []
    for phase in ("after", "during", "before"):
        reactor.addSystemEventTrigger(phase, "shutdown", events.append, phase)
    runBriefly(reactor, then=reactor.stop)
    assert events == ["before", "during", "after"]


def test_beforeShutdownDeferredHoldsDuringPhase(reactor):
    events = []

    def slowBefore():
        events.append("before")
        d = Deferred()
        reactor.callLater(0.02, lambda: (events.append("fired"), d.callback(None)))
        return d

    reactor.addSystemEventTrigger("before", "shutdown", slowBefore)
    reactor.addSystemEventTrigger("during", "shutdown", events.append, "during")
    reactor.addSystemEventTrigger("after", "shutdown", events.append, "after")
    runBriefly(reactor, then=reactor.stop)
    assert events == ["before", "fired", "during", "after"]


def test_removedTriggerDoesNotRun(reactor):
    events = []
    triggerID = reactor.addSystemEventTrigger("during", "shutdown", events.append, "x")
    reactor.removeSystemEventTrigger(triggerID)
    with pytest.raises(ValueError):
        reactor.removeSystemEventTrigger(triggerID)
    with pytest.raises(ValueError):
        reactor.removeSystemEventTrigger("nonsense")
    runBriefly(reactor, then=reactor.stop)
    assert events == []


def test_failingTriggerIsLoggedAndOthersRun(reactor):
    events = []
    reactor.addSystemEventTrigger("before", "shutdown", lambda: 1 / 0)
    reactor.addSystemEventTrigger("before", "shutdown", events.append, "second")
    reactor.addSystemEventTrigger("after", "shutdown", events.append, "after")
    with LoggedErrors() as logged:
        runBriefly(reactor, then=reactor.stop)
    assert events == ["second", "after"]
    assert [f.type for f in logged.failures()] == [ZeroDivisionError]


def test_customEventFiresItsTriggers(reactor):
    events = []
    reactor.addSystemEventTrigger("after", "reload", events.append, "after")
    reactor.addSystemEventTrigger("before", "reload", events.append, "before")
    reactor.fireSystemEvent("reload")
    reactor.fireSystemEvent("nobody-listens")
    assert events == ["before", "after"]


def test_runWithoutSignalHandlersLeavesThemAlone(reactor):
    import signal

    before = (signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))
    seen = []
    runBriefly(
        reactor,
        then=lambda: (
            seen.append((signal.getsignal(signal.SIGINT), signal.getsignal(signal.SIGTERM))),
            reactor.stop(),
        ),
    )
    assert seen == [before]


def test_triggersAddedSinceAMarkAreListedInOrder(reactor):
    events = []
    old = reactor.addSystemEventTrigger("before", "shutdown", events.append, "old")
    mark = reactor.markSystemEventTriggers()
    reactor.callWhenRunning(events.append, "running")
    reactor.addSystemEventTrigger("during", "reload", events.append, "reloading")
    reactor.addSystemEventTrigger("before", "shutdown", events.append, "new")
    listed = [
        (t.eventType, t.phase, t.callable, t.args, t.kw)
        for t in reactor.getSystemEventTriggers(since=mark)
    ]
    assert listed == [
        ("startup", "after", events.append, ("running",), {}),
        ("reload", "during", events.append, ("reloading",), {}),
        ("shutdown", "before", events.append, ("new",), {}),
    ]
    # Without a mark, every trigger not yet run: the reactor's own too.
    everything = [t.triggerID for t in reactor.getSystemEventTriggers()]
    assert old in everything and len(everything) > 4


def test_triggersListedSinceAMarkCanBeRemovedAndRunOnlyOnce(reactor):
    events = []
    reactor.addSystemEventTrigger("before", "shutdown", events.append, "kept")
    mark = reactor.markSystemEventTriggers()
    reactor.callWhenRunning(events.append, "removed")
    reactor.addSystemEventTrigger("before", "shutdown", events.append, "removed")
    for trigger in reactor.getSystemEventTriggers(since=mark):
        reactor.removeSystemEventTrigger(trigger.triggerID)
    assert reactor.getSystemEventTriggers(since=mark) == []
    mark = reactor.markSystemEventTriggers()
    reactor.addSystemEventTrigger("after", "shutdown", events.append, "ran")
    runBriefly(reactor, then=reactor.stop)
    assert events == ["kept", "ran"]
    # A trigger that ran is no longer listed (crash() adds the reactor's
    # own startup trigger again, for a run after it).
    left = reactor.getSystemEventTriggers(since=mark)
    assert [(t.eventType, t.phase, t.args) for t in left] == [("startup", "during", ())]
