"""
services.loomd.balance: a worker holding clearly more connections than a
free worker leaves the next connection to it, and only then.

Two workers' sides of one table, each on a MemoryReactorClock; "free" is
a worker inside its (wrapped) poll, which a test enters by calling the
wrapper with a poll that runs the test's own checks.
"""

from reactor.testing import MemoryReactorClock
from services.loomd.balance import (
    ACCEPTS_PER_WAKEUP,
    SLACK,
    STUCK_SECONDS,
    YIELD_SECONDS,
    AcceptTable,
)


class Port:
    """
    A listening port with a queue of connections, accepting one per doRead;
    it says how many are queued (as tcp.Port does on Linux) when ``tells``
    is True, else None (as a UNIX port does), and counts the accepts that
    found the queue empty.
    """

    numberAccepts = 128
    connected = True

    def __init__(self, opened):
        self.opened = opened
        self.queued = 0
        self.sessionno = 0
        self.tells = False
        self.emptyAccepts = 0

    def queuedConnections(self):
        return self.queued if self.tells else None

    @property
    def accepts(self):
        return self.sessionno

    def doRead(self):
        if self.queued:
            self.queued -= 1
            self.sessionno += 1
            self.opened.add(object())  # the accepted connection
        else:
            self.emptyAccepts += 1

    def arrive(self, count=1):
        """count connections come in; the reactor calls doRead (as for a readable socket)."""
        self.queued += count
        self.doRead()


class Worker:
    """One worker: a reactor with wrapPoll, its open descriptors and its port."""

    def __init__(self, table, index):
        self.reactor = MemoryReactorClock()
        self.reactor.openDescriptors = set()
        self.reactor.wrapPoll = self._wrapPoll
        self.port = Port(self.reactor.openDescriptors)
        self.reactor.addReader(self.port)
        self.balancer = table.join(self.reactor, index, [self.port])

    def _wrapPoll(self, wrap):
        self.poll = wrap

    def hold(self, count):
        opened = self.reactor.openDescriptors
        opened.clear()
        opened.update(object() for _ in range(count))

    def waitIn(self, during):
        """Be inside the poll (free) while during() runs."""
        self.poll(lambda *args: during())(0)

    def watching(self):
        return self.port in self.reactor.getReaders()


def workers(count=2):
    table = AcceptTable(count)
    return table, [Worker(table, index) for index in range(count)]


def test_aWorkerAcceptsWhatIsQueuedOneAtATime():
    # Where the port cannot say how many are queued: up to ACCEPTS_PER_WAKEUP.
    _, (first, _) = workers()
    assert first.port.numberAccepts == 1
    first.port.arrive(ACCEPTS_PER_WAKEUP + 5)
    assert first.port.accepts == ACCEPTS_PER_WAKEUP


def test_aWorkerTakesWhatIsQueuedWithoutAnAcceptThatFindsNone():
    # The port says how many wait: that many are accepted, and no accept
    # finds the queue empty.
    _, (first, _) = workers()
    first.port.tells = True
    first.port.arrive(5)
    assert (first.port.accepts, first.port.queued, first.port.emptyAccepts) == (5, 0, 0)


def test_aWorkerTakesNoMoreThanAcceptsPerWakeUpOfALongQueue():
    _, (first, _) = workers()
    first.port.tells = True
    first.port.arrive(ACCEPTS_PER_WAKEUP + 5)
    assert (first.port.accepts, first.port.emptyAccepts) == (ACCEPTS_PER_WAKEUP, 0)
    assert first.watching()


def test_aWorkerStopsAcceptingWhenItGetsWellAheadOfAFreeOne():
    # The check is made before each accept of a wake-up.
    _, (first, second) = workers()
    second.hold(3)
    first.hold(3)
    second.waitIn(lambda: first.port.arrive(20))
    assert first.port.accepts == SLACK + 1
    assert not first.watching() and first.port.queued == 20 - SLACK - 1


def test_aWorkerWellAheadOfAFreeOneLeavesTheConnectionToIt():
    table, (first, second) = workers()
    second.hold(3)
    second.waitIn(lambda: None)  # publishes 3
    first.hold(3 + SLACK + 1)
    second.waitIn(first.port.arrive)
    assert first.port.accepts == 0
    assert not first.watching()
    # It watches again after YIELD_SECONDS, and accepts if no longer ahead.
    first.hold(3)
    first.reactor.advance(YIELD_SECONDS)
    assert first.watching()
    second.waitIn(first.port.arrive)
    assert first.port.accepts == 2 and first.port.queued == 0  # the waiting one too


def test_aWorkerAheadByNoMoreThanTheSlackAccepts():
    _, (first, second) = workers()
    second.hold(3)
    first.hold(3 + SLACK)
    second.waitIn(first.port.arrive)
    assert first.port.accepts == 1


def test_aWorkerNeverLeavesTheConnectionToABusyOne():
    _, (first, second) = workers()
    second.waitIn(lambda: None)  # published 0, then left the poll: busy
    first.hold(50)
    first.port.arrive()
    assert first.port.accepts == 1


def test_aWorkerThatNeverLeftItsPollIsPassedOverUntilItRuns():
    _, (first, second) = workers()
    first.hold(10)

    def stuck():
        # second is in its poll the whole time (stopped, starved of CPU):
        # first yields, looking again every YIELD_SECONDS, for STUCK_SECONDS.
        while first.reactor.seconds() < STUCK_SECONDS:
            first.port.arrive()
            assert not first.watching() and first.port.accepts == 0
            first.reactor.advance(YIELD_SECONDS)
        first.port.arrive()

    second.waitIn(stuck)
    assert first.port.queued == 0 and first.port.accepts > 0
    accepted = first.port.accepts
    # Once it has run, it is yielded to again.
    second.waitIn(first.port.arrive)
    assert first.port.accepts == accepted and first.port.queued == 1


def test_aWorkerThatStoppedAcceptingIsNotYieldedTo():
    table, (first, second) = workers()
    first.hold(10)
    second.balancer.leave()
    second.waitIn(first.port.arrive)
    assert first.port.accepts == 1
    assert not table.isFree(1)


def test_theLeastLoadedFreeWorkerIsChosen():
    table, (_, second, third) = workers(3)
    second.hold(5)
    third.hold(1)
    chosen = []
    second.waitIn(lambda: third.waitIn(lambda: chosen.append(table.yieldTo(0, 10))))
    assert chosen == [2]
    assert table.yieldTo(0, 10) == -1  # both have left their polls


def test_theMasterForgetsADeadWorker():
    # A worker killed inside its poll stays odd (free) until the master
    # says otherwise.
    table, (_, second) = workers()
    seen = []

    def killed():
        seen.append(table.isFree(1))
        table.forget(1)
        seen.append(table.isFree(1))

    second.waitIn(killed)
    assert seen == [True, False]


def test_twoWorkersYieldingToEachOtherAcceptAgainAfterYieldSeconds():
    _, (first, second) = workers()
    first.hold(10)
    second.waitIn(first.port.arrive)  # first yields to second, holding fewer
    second.hold(20)
    first.waitIn(second.port.arrive)  # then second to first, holding fewer now
    assert not first.watching() and not second.watching()
    first.reactor.advance(YIELD_SECONDS)
    second.reactor.advance(YIELD_SECONDS)
    assert first.watching() and second.watching()
