"""
services.loomd.balance: a worker holding clearly more connections than a
free worker leaves the next connection to it, and only then.

Two workers' sides of one table, each on a MemoryReactorClock; "free" is
a worker inside its (wrapped) poll, which a test enters by calling the
wrapper with a poll that runs the test's own checks.  At the end, the same
on a real accept queue: two real reactors' ports on one listening socket,
32 connections queued by the kernel, the wake-ups ordered by the test.
"""

import socket
import struct

import pytest

from protocols.protocol import Factory, Protocol
from reactor import tcp
from reactor.epollreactor import EPollReactor
from reactor.pollreactor import PollReactor
from reactor.task import Clock
from reactor.testing import MemoryReactorClock
from services.loomd.balance import (
    ACCEPTS_PER_WAKEUP,
    SLACK,
    STUCK_SECONDS,
    YIELD_SECONDS,
    AcceptTable,
)
from tests.services.loomd_helpers import waitFor


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


# -- a burst on a real accept queue, the interleaving fixed by the test ----------


class SteppedReactor:
    """
    A real reactor's descriptors (its readers, its open descriptors) with a
    Clock's time: the balancer's yields end when the test advances the
    clock, and its wrapped poll is the test's to call.
    """

    def __init__(self, real):
        self.real = real
        self.clock = Clock()
        self.openDescriptors = real.openDescriptors
        self.addReader = real.addReader
        self.removeReader = real.removeReader
        self.seconds = self.clock.seconds
        self.callLater = self.clock.callLater
        self.wrap = None

    def wrapPoll(self, wrap):
        self.wrap = wrap


class RealWorker:
    """One worker's real reactor and port on the shared listening socket."""

    def __init__(self, reactorClass, table, index, sock, factory):
        self.reactor = reactorClass()
        self.stepped = SteppedReactor(self.reactor)
        self.port = tcp.Port(0, factory, 64, "127.0.0.1", reactor=self.reactor)
        self.port.adoptSocket(sock)
        self.balancer = table.join(self.stepped, index, [self.port])

    def waitIn(self, during):
        """Be inside the poll (free for the other) while during() runs."""
        self.stepped.wrap(lambda *args: during())(0)

    def woken(self):
        """What the reactor does for a readable listening socket it watches."""
        if self.port in self.reactor.getReaders():
            self.port.doRead()

    def held(self):
        return self.port.sessionno

    def close(self):
        for descriptor in list(self.reactor.openDescriptors):
            descriptor.connectionLost(None)
        self.reactor.close()


def acceptQueueLength(listening):
    """How many completed connections wait in a listening socket's queue (Linux)."""
    # For a listening socket, TCP_INFO's tcpi_unacked is the accept queue's length.
    info = listening.getsockopt(socket.IPPROTO_TCP, socket.TCP_INFO, 104)
    return struct.unpack_from("I", info, 24)[0]


@pytest.fixture(params=[EPollReactor, PollReactor], ids=["epoll", "poll"])
def twoRealWorkers(request):
    """Two workers' reactors on dups of one listening socket with 32 connections queued."""
    with socket.socket() as listening:
        listening.bind(("127.0.0.1", 0))
        listening.listen(64)
        table = AcceptTable(2)
        factory = Factory.forProtocol(Protocol)
        workers = [
            RealWorker(request.param, table, index, listening.dup(), factory) for index in (0, 1)
        ]
        clients = [socket.create_connection(listening.getsockname(), timeout=10) for _ in range(32)]
        # connect() returns on the SYN-ACK; the server side queues the
        # connection when it has processed the client's ACK, later on a
        # busy machine.  Start once the kernel's queue holds all 32.
        waitFor(lambda: acceptQueueLength(listening) == 32, timeout=10, what="32 queued")
    try:
        yield workers
    finally:
        for client in clients:
            client.close()
        for worker in workers:
            worker.close()


def test_aBurstOnARealQueueIsSharedWhenBothWorkersRun(twoRealWorkers):
    # Each worker woken in turn while the other waits in its poll (free),
    # as on two idle CPUs: the kernel's one queue of 32 splits within the
    # slack, however the kernel would have ordered the wake-ups.  Without
    # balancing the first worker woken takes all 32.
    first, second = twoRealWorkers
    for _ in range(200):
        if first.held() + second.held() == 32:
            break
        second.waitIn(first.woken)
        first.waitIn(second.woken)
        for worker in (first, second):
            worker.stepped.clock.advance(YIELD_SECONDS)
    assert first.held() + second.held() == 32
    assert abs(first.held() - second.held()) <= SLACK + 1, (first.held(), second.held())


def test_aBurstOnARealQueueGoesToTheWorkerThatRunsWhileTheOtherIsBusy(twoRealWorkers):
    # The other worker is dispatching (or blocked in a slow request), never
    # in its poll: the one that runs takes the whole burst, at once.
    first, second = twoRealWorkers
    second.waitIn(lambda: None)  # it polled once, then got busy
    first.woken()
    assert (first.held(), second.held()) == (ACCEPTS_PER_WAKEUP, 0)
