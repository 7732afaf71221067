"""
Tests for the service tree: Service, MultiService, Application, pendingStops.

Order is shown by appending events to one list and comparing it whole; time
is a task.Clock and asynchronous steps are Deferreds fired by hand.
"""

import pytest
from zope.interface.verify import verifyObject

from reactor import log
from reactor.defer import Deferred
from reactor.task import Clock, deferLater
from services.service import (
    Application,
    IProcess,
    IService,
    IServiceCollection,
    MultiService,
    PendingStop,
    Process,
    Service,
    pendingStops,
    stopCallsInProgress,
)


class Recorder(Service):
    """A service recording its calls in a shared list, with scripted results."""

    def __init__(self, name, events, start=None, stop=None):
        self.setName(name)
        self.events = events
        self.startResult = start
        self.stopResult = stop

    def privilegedStartService(self):
        self.events.append(("privileged", self.name))

    def startService(self):
        Service.startService(self)
        self.events.append(("start", self.name))
        return _produce(self.startResult)

    def stopService(self):
        Service.stopService(self)
        self.events.append(("stop", self.name))
        return _produce(self.stopResult)


def _produce(result):
    if isinstance(result, BaseException):
        raise result
    if callable(result):
        return result()
    return result


def tree(events, *children):
    """A MultiService named "root" holding the given Recorders."""
    root = MultiService()
    root.setName("root")
    for child in children:
        child.setServiceParent(root)
    return root


@pytest.fixture
def logged():
    events = []
    log.addObserver(events.append)
    yield events
    log.removeObserver(events.append)


def results(d):
    """Return (successes, failures) lists that fill as d fires."""
    successes, failures = [], []
    d.addCallbacks(successes.append, failures.append)
    return successes, failures


# -- Service ------------------------------------------------------------------


def test_serviceProvidesIServiceWithDefaults():
    service = Service()
    assert verifyObject(IService, service)
    assert (service.name, service.running, service.parent) == (None, False, None)


def test_startAndStopToggleRunning():
    service = Service()
    service.startService()
    assert service.running is True
    assert service.stopService() is None
    assert service.running is False


def test_setNameWithoutParent():
    service = Service()
    service.setName("web")
    assert service.name == "web"


def test_setNameWithParentRaises():
    service = Service()
    service.setServiceParent(MultiService())
    with pytest.raises(RuntimeError, match="cannot change name when parent exists"):
        service.setName("web")


def test_setServiceParentAddsToParent():
    parent, service = MultiService(), Service()
    service.setName("web")
    service.setServiceParent(parent)
    assert service.parent is parent
    assert list(parent) == [service]
    assert parent.getServiceNamed("web") is service


def test_setServiceParentLeavesTheOldParent():
    first, second, service = MultiService(), MultiService(), Service()
    service.setServiceParent(first)
    service.setServiceParent(second)
    assert list(first) == []
    assert list(second) == [service]
    assert service.parent is second


def test_setServiceParentAcceptsAnyCollectionLikeObject():
    class Bag:
        def __init__(self):
            self.added = []

        def addService(self, service):
            self.added.append(service)

    bag, service = Bag(), Service()
    service.setServiceParent(bag)
    assert bag.added == [service]
    assert service.parent is bag


def test_setServiceParentRefusedLeavesNoParent():
    parent, first, second = MultiService(), Service(), Service()
    first.setName("web")
    second.setName("web")
    first.setServiceParent(parent)
    with pytest.raises(RuntimeError):
        second.setServiceParent(parent)
    assert second.parent is None
    assert list(parent) == [first]


def test_disownServiceParentOfStoppedParentReturnsNone():
    parent, service = MultiService(), Service()
    service.setServiceParent(parent)
    assert service.disownServiceParent() is None
    assert service.parent is None
    assert list(parent) == []


def test_disownServiceParentOfRunningParentReturnsStopDeferred():
    events = []
    pending = Deferred()
    child = Recorder("db", events, stop=lambda: pending)
    parent = tree(events, child)
    parent.startService()
    d = child.disownServiceParent()
    successes, failures = results(d)
    assert child.parent is None
    assert events[-1] == ("stop", "db")
    assert successes == []
    pending.callback(None)
    assert successes == [None]


# -- MultiService: structure --------------------------------------------------


def test_multiServiceProvidesBothInterfaces():
    parent = MultiService()
    assert verifyObject(IService, parent)
    assert verifyObject(IServiceCollection, parent)


def test_duplicateNameRaises():
    parent, first, second = MultiService(), Service(), Service()
    first.setName("web")
    second.setName("web")
    parent.addService(first)
    with pytest.raises(RuntimeError, match="same name 'web'"):
        parent.addService(second)
    assert list(parent) == [first]


def test_unnamedServicesMayBeAddedTwice():
    parent, first, second = MultiService(), Service(), Service()
    parent.addService(first)
    parent.addService(second)
    assert list(parent) == [first, second]


def test_getServiceNamedUnknownRaisesKeyError():
    with pytest.raises(KeyError):
        MultiService().getServiceNamed("nope")


def test_iterationIsInInsertionOrder():
    events = []
    children = [Recorder(name, events) for name in "cab"]
    assert list(tree(events, *children)) == children


def test_removeServiceForgetsTheName():
    parent, service = MultiService(), Service()
    service.setName("web")
    parent.addService(service)
    assert parent.removeService(service) is None
    with pytest.raises(KeyError):
        parent.getServiceNamed("web")
    other = Service()
    other.setName("web")
    parent.addService(other)
    assert parent.getServiceNamed("web") is other


# -- MultiService: synchronous start and stop ---------------------------------


def test_privilegedStartServiceInOrder():
    events = []
    root = tree(events, *[Recorder(name, events) for name in "abc"])
    root.privilegedStartService()
    assert events == [("privileged", "a"), ("privileged", "b"), ("privileged", "c")]
    assert root.running is False


def test_startInOrderStopInReverse():
    events = []
    root = tree(events, *[Recorder(name, events) for name in "abc"])
    started = root.startService()
    assert results(started) == ([None], [])
    assert root.running is True
    stopped = root.stopService()
    assert results(stopped) == ([None], [])
    assert root.running is False
    assert events == [
        ("start", "a"),
        ("start", "b"),
        ("start", "c"),
        ("stop", "c"),
        ("stop", "b"),
        ("stop", "a"),
    ]


def test_startOfEmptyTreeHasFired():
    assert results(MultiService().startService()) == ([None], [])


def test_nestedTreeStartsDepthFirst():
    events = []
    inner = tree(events, Recorder("x", events), Recorder("y", events))
    inner.name = "inner"
    root = MultiService()
    Recorder("a", events).setServiceParent(root)
    inner.setServiceParent(root)
    Recorder("b", events).setServiceParent(root)
    assert results(root.startService()) == ([None], [])
    root.stopService()
    assert events == [
        ("start", "a"),
        ("start", "x"),
        ("start", "y"),
        ("start", "b"),
        ("stop", "b"),
        ("stop", "y"),
        ("stop", "x"),
        ("stop", "a"),
    ]


def test_addToRunningParentStartsChildWithoutPrivilegedStart():
    events = []
    root = tree(events)
    root.startService()
    child = Recorder("late", events)
    assert child.setServiceParent(root) is None
    assert events == [("start", "late")]
    assert child.running is True


def test_addToRunningParentReturnsStartDeferred():
    events = []
    pending = Deferred()
    root = tree(events)
    root.startService()
    d = root.addService(Recorder("late", events, start=lambda: pending))
    assert d is pending


def test_addToRunningParentWhoseStartRaisesLeavesTreeUnchanged():
    events = []
    root = tree(events)
    root.startService()
    child = Recorder("late", events, start=ValueError("no"))
    with pytest.raises(ValueError):
        child.setServiceParent(root)
    assert list(root) == []
    assert child.parent is None
    with pytest.raises(KeyError):
        root.getServiceNamed("late")


def test_addToRunningParentWhoseStartFailsLaterIsTakenOut():
    events = []
    pending = Deferred()
    root = tree(events)
    root.startService()
    child = Recorder("late", events, start=lambda: pending)
    d = root.addService(child)
    assert list(root) == [child] and child.running
    failures = []
    d.addErrback(failures.append)
    pending.errback(ValueError("no"))
    assert [f.type for f in failures] == [ValueError]
    assert list(root) == [] and child.parent is None and not child.running
    with pytest.raises(KeyError):
        root.getServiceNamed("late")


def test_addToStoppedParentDoesNotStartChild():
    events = []
    root = tree(events)
    assert root.addService(Recorder("a", events)) is None
    assert events == []


def test_removeFromRunningParentStopsChildAndReturnsDeferred():
    events = []
    pending = Deferred()
    child = Recorder("db", events, stop=lambda: pending)
    root = tree(events, child)
    root.startService()
    d = root.removeService(child)
    successes, failures = results(d)
    assert events == [("start", "db"), ("stop", "db")]
    assert successes == []
    pending.callback("stopped")
    assert successes == ["stopped"]


def test_removeFromRunningParentWithSynchronousStopHasFired():
    events = []
    child = Recorder("db", events)
    root = tree(events, child)
    root.startService()
    assert results(root.removeService(child)) == ([None], [])


# -- MultiService: asynchronous start -----------------------------------------


def test_nextChildStartsOnlyAfterPreviousStartFired():
    events = []
    first = Deferred()
    root = tree(
        events,
        Recorder("a", events, start=lambda: first),
        Recorder("b", events),
    )
    successes, failures = results(root.startService())
    assert events == [("start", "a")]
    assert successes == []
    first.callback(None)
    assert events == [("start", "a"), ("start", "b")]
    assert successes == [None]


def test_asynchronousStartsWithClockRunInOrder():
    events, clock = [], Clock()

    def later(name, delay):
        return lambda: deferLater(clock, delay, events.append, ("ready", name))

    root = tree(
        events,
        Recorder("a", events, start=later("a", 5)),
        Recorder("b", events, start=later("b", 1)),
        Recorder("c", events),
    )
    successes, failures = results(root.startService())
    clock.advance(4)
    assert events == [("start", "a")]
    clock.advance(1)
    assert events[-1] == ("start", "b")
    clock.advance(1)
    assert successes == [None]
    assert events == [
        ("start", "a"),
        ("ready", "a"),
        ("start", "b"),
        ("ready", "b"),
        ("start", "c"),
    ]


def test_failedStartStopsStartedChildrenInReverse():
    events = []
    root = tree(
        events,
        Recorder("a", events),
        Recorder("b", events),
        Recorder("c", events, start=ValueError("port in use")),
        Recorder("d", events),
    )
    successes, failures = results(root.startService())
    assert successes == []
    [failure] = failures
    assert failure.check(ValueError)
    assert str(failure.value) == "port in use"
    assert root.running is False
    assert events == [
        ("start", "a"),
        ("start", "b"),
        ("start", "c"),
        ("stop", "b"),
        ("stop", "a"),
    ]


def test_asynchronousFailedStartReportsAfterRollbackFinishes():
    events = []
    failing, stopping = Deferred(), Deferred()
    root = tree(
        events,
        Recorder("a", events, stop=lambda: stopping),
        Recorder("b", events, start=lambda: failing),
    )
    successes, failures = results(root.startService())
    failing.errback(KeyError("missing"))
    assert events[-1] == ("stop", "a")
    assert failures == []
    stopping.callback(None)
    [failure] = failures
    assert failure.check(KeyError)
    assert root.running is False


def test_rollbackLogsFailingStopAndStillReportsStartFailure(logged):
    events = []
    root = tree(
        events,
        Recorder("a", events, stop=OSError("stuck")),
        Recorder("b", events, start=ValueError("bad")),
    )
    successes, failures = results(root.startService())
    assert [f.type for f in failures] == [ValueError]
    assert [event["failure"].type for event in logged if event["isError"]] == [OSError]


def test_stopDuringAsynchronousStartStartsNoMoreChildren():
    events = []
    first = Deferred()
    root = tree(
        events,
        Recorder("a", events, start=lambda: first),
        Recorder("b", events),
    )
    successes, failures = results(root.startService())
    root.stopService()
    first.callback(None)
    assert ("start", "b") not in events
    assert successes == [None]
    assert root.running is False


def test_failureAfterStopDuringStartIsReportedWithoutSecondRollback():
    events = []
    first = Deferred()
    root = tree(events, Recorder("a", events, start=lambda: first))
    successes, failures = results(root.startService())
    root.stopService()
    first.errback(ValueError("late"))
    assert [f.type for f in failures] == [ValueError]
    assert events == [("start", "a"), ("stop", "a")]


def test_childRemovedDuringAsynchronousStartIsNotStarted():
    events = []
    first = Deferred()
    second = Recorder("b", events)
    root = tree(events, Recorder("a", events, start=lambda: first), second)
    successes, failures = results(root.startService())
    root.removeService(second)
    first.callback(None)
    assert events == [("start", "a"), ("stop", "b")]
    assert successes == [None]


def test_restartIgnoresLeftoverStartChain():
    events = []
    oldStart, newStart = Deferred(), Deferred()
    starts = [oldStart, newStart]
    root = tree(
        events,
        Recorder("a", events, start=lambda: starts.pop(0)),
        Recorder("b", events),
    )
    oldResults = results(root.startService())
    root.stopService()
    newResults = results(root.startService())
    events.clear()
    oldStart.callback(None)
    assert events == []
    assert oldResults == ([None], [])
    newStart.callback(None)
    assert events == [("start", "b")]
    assert newResults == ([None], [])


# -- MultiService: asynchronous stop ------------------------------------------


def test_stopWaitsForEveryChild():
    events = []
    stopA, stopB = Deferred(), Deferred()
    root = tree(
        events,
        Recorder("a", events, stop=lambda: stopA),
        Recorder("b", events, stop=lambda: stopB),
    )
    root.startService()
    successes, failures = results(root.stopService())
    assert events[-2:] == [("stop", "b"), ("stop", "a")]
    stopB.callback(None)
    assert successes == []
    stopA.callback(None)
    assert successes == [None]


def test_failingStopIsLoggedWhileOthersStop(logged):
    events = []
    stopA = Deferred()
    root = tree(
        events,
        Recorder("a", events, stop=lambda: stopA),
        Recorder("b", events, stop=RuntimeError("b broke")),
        Recorder("c", events),
    )
    root.startService()
    successes, failures = results(root.stopService())
    assert events[-3:] == [("stop", "c"), ("stop", "b"), ("stop", "a")]
    errors = [event for event in logged if event["isError"]]
    assert [event["failure"].type for event in errors] == [RuntimeError]
    assert "b" in errors[0]["why"]
    stopA.errback(OSError("a broke too"))
    assert successes == [None]
    assert failures == []
    errors = [event for event in logged if event["isError"]]
    assert [event["failure"].type for event in errors] == [RuntimeError, OSError]


# -- pending stops ------------------------------------------------------------


def test_pendingStopsNamesTheBlocker():
    events = []
    stuck = Deferred()
    app = Application("app")
    web = MultiService()
    web.setName("web")
    web.setServiceParent(app)
    db = Recorder("db", events, stop=lambda: stuck)
    db.setServiceParent(web)
    Recorder("cache", events).setServiceParent(web)
    Recorder("log", events).setServiceParent(app)
    app.startService()
    successes, failures = results(app.stopService())
    pending = pendingStops(app)
    assert [entry.path for entry in pending] == ["app/web", "app/web/db"]
    assert pending[-1] == PendingStop("app/web/db", db)
    assert app.stoppingServices() == [web]
    assert web.stoppingServices() == [db]
    stuck.callback(None)
    assert pendingStops(app) == []
    assert successes == [None]


def test_pendingStopsLabelsUnnamedServicesByClass():
    stuck = Deferred()

    class Stuck(Service):
        def stopService(self):
            Service.stopService(self)
            return stuck

    root = MultiService()
    Stuck().setServiceParent(root)
    root.startService()
    root.stopService()
    assert [entry.path for entry in pendingStops(root)] == ["<MultiService>/<Stuck>"]
    stuck.callback(None)


def test_pendingStopsIncludesRemovedChild():
    events = []
    stuck = Deferred()
    child = Recorder("db", events, stop=lambda: stuck)
    root = tree(events, child)
    root.startService()
    root.removeService(child)
    assert pendingStops(root) == [PendingStop("root/db", child)]
    stuck.callback(None)
    assert pendingStops(root) == []


def test_pendingStopsOfPlainServiceIsEmpty():
    assert pendingStops(Service()) == []


def test_stopCallsInProgressNamesTheCallThatHasNotReturned():
    # What a watchdog thread sees while db's stopService blocks the reactor
    # thread: db and the collections whose calls lead to it, not cache (its
    # stop Deferred is pending, but its call returned).
    seen = []
    slow = Deferred()
    app = Application("app")
    web = MultiService()
    web.setName("web")
    web.setServiceParent(app)
    Recorder("cache", [], stop=lambda: slow).setServiceParent(app)
    db = Recorder("db", [], stop=lambda: seen.append(stopCallsInProgress(app)))
    db.setServiceParent(web)
    app.startService()
    app.stopService()
    assert seen == [[PendingStop("app/web", web), PendingStop("app/web/db", db)]]
    assert stopCallsInProgress(app) == []
    assert [entry.path for entry in pendingStops(app)] == ["app/cache"]
    slow.callback(None)


def test_stopCallsInProgressForgetsACallThatRaised():
    # A SystemExit passes through maybeDeferred: the call still returned.
    root = MultiService()
    Recorder("db", [], stop=SystemExit(3)).setServiceParent(root)
    root.startService()
    with pytest.raises(SystemExit):
        root.stopService()
    assert stopCallsInProgress(root) == []


# -- Application --------------------------------------------------------------


def test_applicationAdaptsToItsProcessComponent():
    app = Application("finger", uid=1000, gid=100)
    process = IProcess(app)
    assert isinstance(process, Process) and process is not app
    assert verifyObject(IProcess, process)
    # processName is None unless set, as in Twisted: leave the name alone.
    assert (process.uid, process.gid, process.processName) == (1000, 100, None)
    assert app.name == "finger"


def test_processComponentCanBeReplacedAndSetThroughTheApplication():
    app = Application("x")
    app.setComponent(IProcess, Process(uid=5, gid=6))
    assert (IProcess(app).uid, IProcess(app).gid) == (5, 6)
    assert app.getComponent(IProcess) is IProcess(app)
    app.gid = 7  # Loom .tac files set these on the application itself
    assert (app.uid, IProcess(app).gid) == (5, 7)
    app.unsetComponent(IProcess)
    assert IProcess(app, None) is None and app.uid is None


def test_applicationDefaultsUidAndGidToNone():
    process = IProcess(Application("x"))
    assert (process.uid, process.gid) == (None, None)


def test_applicationAdaptsToItsOwnService():
    app = Application("x")
    assert IService(app) is app
    assert IServiceCollection(app) is app


def test_applicationIsTheRootOfATree():
    events = []
    app = Application("app")
    Recorder("a", events).setServiceParent(app)
    assert results(app.startService()) == ([None], [])
    assert events == [("start", "a")]
    assert repr(app) == "<Application app>"
