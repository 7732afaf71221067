"""
ProcessMonitor: restarts with backoff, stopping (SIGTERM, then SIGKILL),
status and output logging, on a Clock with a fake spawnProcess; then with
real children on every reactor.
"""

import sys

import pytest

from reactor import log
from reactor.error import ProcessDone, ProcessExitedAlready, ProcessTerminated
from reactor.failure import Failure
from reactor.task import Clock
from services.procmon import MAX_LINE_LENGTH, PIPE_GRACE, ProcessMonitor, ProcessStatus
from tests.reactor.transport_helpers import spin


class FakeProcess:
    """The transport of a child that exists only in the test."""

    def __init__(self, reactor, protocol, pid, spawnArguments):
        self.reactor = reactor
        self.proto = protocol
        self.pid = pid
        self.spawnArguments = spawnArguments
        self.signals = []
        self.ignoresTerm = True

    def signalProcess(self, name):
        if self.pid is None:
            raise ProcessExitedAlready()
        self.signals.append(name)

    def exit(self, reason, pipesOpen=False):
        """The child exits: processExited, then (unless pipesOpen) processEnded."""
        self.pid = None
        self.reason = reason
        self.proto.processExited(Failure(reason))
        if not pipesOpen:
            self.proto.processEnded(Failure(reason))

    def loseConnection(self):
        self.pipesClosed = True
        self.proto.processEnded(Failure(self.reason))


class ProcessClock(Clock):
    """A Clock with a spawnProcess that records its children."""

    def __init__(self):
        Clock.__init__(self)
        self.children = []
        self.failNext = None

    def spawnProcess(self, protocol, executable, args, env=None, path=None, uid=None, gid=None):
        if self.failNext is not None:
            error, self.failNext = self.failNext, None
            raise error
        arguments = dict(executable=executable, args=args, env=env, path=path, uid=uid, gid=gid)
        child = FakeProcess(self, protocol, 1000 + len(self.children), arguments)
        self.children.append((self.seconds(), child))
        protocol.makeConnection(child)
        return child

    def latest(self):
        return self.children[-1][1]

    def startTimes(self):
        return [when for when, _ in self.children]


def crash(code=1):
    return ProcessTerminated(code, None, code << 8)


@pytest.fixture
def clock():
    return ProcessClock()


@pytest.fixture
def monitor(clock):
    monitor = ProcessMonitor(reactor=clock)
    monitor.minRestartDelay = 1
    monitor.maxRestartDelay = 8
    monitor.threshold = 1
    monitor.killTime = 5
    return monitor


@pytest.fixture
def events():
    events = []
    log.addObserver(events.append)
    yield events
    log.removeObserver(events.append)


def messages(events):
    return [log.textFromEventDict(event) for event in events]


def test_crashingChildBacksOffOnTheClock(clock, monitor):
    monitor.startService()
    monitor.addProcess("web", ["server", "--port", "80"])
    for _ in range(6):
        clock.latest().exit(crash())
        clock.advance(max(call.getTime() for call in clock.getDelayedCalls()) - clock.seconds())
    # Started at 0, then 1, 2, 4, 8 and 8 (the ceiling) seconds after each crash.
    assert clock.startTimes() == [0, 1, 3, 7, 15, 23, 31]
    assert monitor.status()[0].restarts == 6


def test_aRunLongerThanTheThresholdResetsTheDelay(clock, monitor):
    monitor.addProcess("web", ["server"])
    monitor.startService()
    clock.latest().exit(crash())
    clock.advance(1)
    clock.latest().exit(crash())
    clock.advance(2)  # started at 3; the next delay would be 4
    clock.advance(1)
    clock.latest().exit(crash())  # ran for 1 s: back at once, the delay reset
    clock.advance(0)
    assert clock.startTimes() == [0, 1, 3, 4]
    clock.latest().exit(crash())
    clock.advance(1)
    assert clock.startTimes() == [0, 1, 3, 4, 5]


def test_exitWithStatusZeroIsRestartedToo(clock, monitor):
    monitor.addProcess("job", ["job"])
    monitor.startService()
    clock.latest().exit(ProcessDone(0))
    clock.advance(1)
    assert clock.startTimes() == [0, 1]


def test_restartedWhenItExitsThoughItsPipesStayOpen(clock, monitor):
    # A grandchild left behind holds the output pipes: processEnded would
    # never come.  The exit (processExited) is what counts.
    monitor.addProcess("forker", ["forker"])
    monitor.startService()
    child = clock.latest()
    child.pid = None
    child.proto.processExited(Failure(crash()))
    clock.advance(1)
    assert clock.startTimes() == [0, 1]


def test_aStopIsOverOnceTheOutputIsRead(clock, monitor):
    monitor.addProcess("forker", ["forker"])
    monitor.startService()
    stopped = []
    monitor.stopProcess("forker").addCallback(stopped.append)
    child = clock.latest()
    child.exit(ProcessTerminated(None, 15, 15), pipesOpen=True)
    assert stopped == [] and monitor.status()[0].state == "stopped"
    child.proto.processEnded(Failure(child.reason))
    assert stopped == [None]
    assert clock.getDelayedCalls() == []


def test_pipesHeldByWhatItLeftBehindAreClosedAfterAGrace(clock, monitor):
    monitor.addProcess("forker", ["forker"])
    monitor.startService()
    stopped = []
    monitor.stopService().addCallback(stopped.append)
    child = clock.latest()
    child.exit(ProcessTerminated(None, 15, 15), pipesOpen=True)
    clock.advance(PIPE_GRACE - 0.1)
    assert stopped == []
    clock.advance(0.1)
    assert child.pipesClosed and stopped == [None]


def test_aStopWaitsForAnEarlierChildsOutputToo(clock, monitor):
    monitor.addProcess("forker", ["forker"])
    monitor.startService()
    first = clock.latest()
    first.exit(crash(), pipesOpen=True)
    clock.advance(1)
    second = clock.latest()
    stopped = []
    monitor.stopService().addCallback(stopped.append)
    second.exit(ProcessTerminated(None, 15, 15))
    assert stopped == []
    clock.advance(PIPE_GRACE)
    assert first.pipesClosed and stopped == [None]
    assert clock.getDelayedCalls() == []


def test_howTheChildIsRun(clock, monitor):
    monitor.addProcess("a", ["prog", "arg"], uid=1, gid=2, env={"K": "v"}, cwd="/srv")
    monitor.addProcess("b", ["other"])
    monitor.addProcess("c", ["third"], env=None)
    monitor.startService()
    arguments = [child.spawnArguments for _, child in clock.children]
    assert arguments[0] == dict(
        executable="prog", args=["prog", "arg"], env={"K": "v"}, path="/srv", uid=1, gid=2
    )
    # As in Twisted, an empty environment by default; None passes ours on.
    assert arguments[1]["env"] == {} and arguments[2]["env"] is None


def test_stopProcessSendsTermThenKillAfterKillTime(clock, monitor):
    monitor.startService()
    monitor.addProcess("stubborn", ["stubborn"])
    child = clock.latest()
    stopped = []
    monitor.stopProcess("stubborn").addCallback(stopped.append)
    assert child.signals == ["TERM"]
    assert monitor.status()[0].state == "stopping"
    clock.advance(4.9)
    assert child.signals == ["TERM"]
    clock.advance(0.1)
    assert child.signals == ["TERM", "KILL"]
    assert stopped == [] and monitor.status()[0].state == "stopping"
    child.exit(ProcessTerminated(None, 9, 9))
    assert stopped == [None]
    # Stopped for good: no restart, nothing scheduled.
    assert clock.getDelayedCalls() == []
    assert monitor.status()[0].state == "stopped"
    assert len(clock.children) == 1


def test_childExitingOnTermIsNotKilled(clock, monitor):
    monitor.startService()
    monitor.addProcess("polite", ["polite"])
    child = clock.latest()
    stopped = []
    monitor.stopProcess("polite").addCallback(stopped.append)
    clock.advance(1)
    child.exit(ProcessTerminated(None, 15, 15))
    assert stopped == [None]
    assert clock.getDelayedCalls() == []
    assert child.signals == ["TERM"]


def test_startProcessAfterStopProcess(clock, monitor):
    monitor.startService()
    monitor.addProcess("p", ["p"])
    monitor.stopProcess("p")
    clock.latest().exit(ProcessTerminated(None, 15, 15))
    monitor.startProcess("p")
    assert clock.startTimes() == [0, 0]
    assert monitor.status()[0].state == "running"


def test_startProcessWhileStoppingStartsItAgainOnExit(clock, monitor):
    monitor.startService()
    monitor.addProcess("p", ["p"])
    monitor.stopProcess("p")
    monitor.startProcess("p")
    clock.advance(0.5)
    clock.latest().exit(ProcessTerminated(None, 15, 15))
    clock.advance(0)
    assert clock.startTimes() == [0, 0.5]


def test_startProcessWhileWaitingStartsItNow(clock, monitor):
    monitor.startService()
    monitor.addProcess("p", ["p"])
    clock.latest().exit(crash())
    assert monitor.status()[0] == ProcessStatus("p", "waiting", None, None, 0, 1.0)
    clock.advance(0.25)
    monitor.startProcess("p")
    assert clock.startTimes() == [0, 0.25]
    assert clock.getDelayedCalls() == []


def test_restartProcessStartsItAtOnceWhateverItsDelay(clock, monitor):
    monitor.startService()
    monitor.addProcess("p", ["p"])
    for delay in (1, 2, 4):
        clock.latest().exit(crash())
        clock.advance(delay)
    restarted = []
    monitor.restartProcess("p").addCallback(restarted.append)
    assert clock.latest().signals == ["TERM"]
    clock.latest().exit(ProcessTerminated(None, 15, 15))
    assert restarted == [None]
    clock.advance(0)  # not the 8 s its next crash would wait
    assert clock.startTimes() == [0, 1, 3, 7, 7]


def test_restartAll(clock, monitor):
    monitor.startService()
    monitor.addProcess("a", ["a"])
    monitor.addProcess("b", ["b"])
    clock.advance(10)
    monitor.restartAll()
    for _, child in list(clock.children):
        assert child.signals == ["TERM"]
        child.exit(ProcessTerminated(None, 15, 15))
    clock.advance(0)
    assert clock.startTimes() == [0, 0, 10, 10]
    assert [status.state for status in monitor.status()] == ["running", "running"]


def test_removeProcessStopsAndForgetsIt(clock, monitor):
    monitor.startService()
    monitor.addProcess("p", ["p"])
    removed = []
    monitor.removeProcess("p").addCallback(removed.append)
    assert monitor.status() == []
    clock.latest().exit(ProcessTerminated(None, 15, 15))
    assert removed == [None]
    assert clock.getDelayedCalls() == []
    with pytest.raises(KeyError):
        monitor.removeProcess("p")
    with pytest.raises(KeyError):
        monitor.stopProcess("nobody")


def test_aNameIsTakenOnceAndArgsAreAList(monitor):
    monitor.addProcess("p", ["p"])
    with pytest.raises(KeyError):
        monitor.addProcess("p", ["q"])
    with pytest.raises(ValueError):
        monitor.addProcess("q", [])
    with pytest.raises(ValueError):
        monitor.addProcess("q", "a string")


def test_nothingRunsBeforeTheServiceStarts(clock, monitor):
    monitor.addProcess("p", ["p"])
    assert clock.children == []
    assert monitor.status()[0].state == "stopped"
    monitor.startService()
    assert clock.startTimes() == [0]


def test_stopServiceEndsEveryChild(clock, monitor):
    monitor.addProcess("a", ["a"])
    monitor.addProcess("b", ["b"])
    monitor.addProcess("c", ["c"])
    monitor.startService()
    clock.children[2][1].exit(crash())  # c waits for its restart
    stopped = []
    monitor.stopService().addCallback(stopped.append)
    assert not monitor.running
    clock.children[0][1].exit(ProcessTerminated(None, 15, 15))
    assert stopped == []
    clock.advance(5)
    assert clock.children[1][1].signals == ["TERM", "KILL"]
    clock.children[1][1].exit(ProcessTerminated(None, 9, 9))
    assert stopped == [None]
    assert clock.getDelayedCalls() == []
    assert len(clock.children) == 3


def test_stopDeadlineBringsTheKillForward(clock, monitor):
    monitor.addProcess("a", ["a"])
    monitor.startService()
    monitor.setStopDeadline(3)
    clock.advance(0.5)
    monitor.stopService()
    clock.advance(1.4)
    assert clock.latest().signals == ["TERM"]
    clock.advance(0.1)  # one KILL_MARGIN before the deadline
    assert clock.latest().signals == ["TERM", "KILL"]
    clock.latest().exit(ProcessTerminated(None, 9, 9))


def test_stopDeadlineShortensAStopUnderWay(clock, monitor):
    monitor.addProcess("a", ["a"])
    monitor.startService()
    monitor.stopProcess("a")  # SIGKILL due in 5 s
    monitor.setStopDeadline(1)
    monitor.stopService()
    clock.advance(0.5)  # half of a deadline shorter than twice KILL_MARGIN
    assert clock.latest().signals == ["TERM", "KILL"]
    clock.latest().exit(ProcessTerminated(None, 9, 9))


def test_startServiceAgainStartsEveryProgram(clock, monitor):
    monitor.addProcess("a", ["a"])
    monitor.startService()
    monitor.stopService()
    clock.latest().exit(ProcessTerminated(None, 15, 15))
    monitor.startService()
    assert clock.startTimes() == [0, 0]


def test_aChildThatCannotBeMadeIsRetriedWithBackoff(clock, monitor, events):
    clock.failNext = OSError(11, "Resource temporarily unavailable")
    monitor.addProcess("p", ["p"])
    monitor.startService()
    assert clock.children == []
    assert any(event.get("isError") and event.get("child") == "p" for event in events)
    clock.advance(1)
    assert clock.startTimes() == [1]


def test_outputLinesAreLoggedWithTheChildsName(clock, monitor, events):
    monitor.addProcess("web", ["web"])
    monitor.startService()
    protocol = clock.latest().proto
    protocol.childDataReceived(1, b"first line\nsecond ")
    protocol.childDataReceived(2, b"an error\r\n")
    protocol.childDataReceived(1, b"line\n\nno newline")
    protocol.childDataReceived(1, b"x" * (MAX_LINE_LENGTH + 10) + b"\n")
    protocol.childDataReceived(2, b"bad \xff byte\n")
    clock.latest().exit(ProcessDone(0))
    lines = [
        (event["stream"], event["message"][0])
        for event in events
        if event.get("stream") and event["system"] == "web" and event["child"] == "web"
    ]
    assert lines == [
        ("stdout", "first line"),
        ("stderr", "an error"),
        ("stdout", "second line"),
        ("stdout", ""),
        ("stdout", "no newline" + "x" * (MAX_LINE_LENGTH - 10)),
        ("stdout", "x" * 20),
        ("stderr", "bad \\xff byte"),
    ]


def test_exitsAreLogged(clock, monitor, events):
    monitor.addProcess("web", ["web"])
    monitor.startService()
    clock.advance(2.5)
    clock.latest().exit(crash(3))
    clock.advance(0)
    clock.latest().exit(ProcessTerminated(None, 11, 11))
    clock.advance(1)
    monitor.stopProcess("web")
    clock.advance(5)
    clock.latest().exit(ProcessTerminated(None, 9, 9))
    assert [m for m in messages(events) if m.startswith("process web")] == [
        "process web exited with status 3 after 2.5s; restarting now",
        "process web was killed by signal 11 after 0.0s; restarting in 1s",
        "process web did not exit after SIGTERM: sending SIGKILL",
        "process web was killed by signal 9 after 5.0s; stopped",
    ]


def test_statusAndLogStatus(clock, monitor, events):
    for name in ("up", "crashing", "ending", "off"):
        monitor.addProcess(name, [name])
    monitor.startService()
    up, crashing, ending, off = [child for _, child in clock.children]
    monitor.stopProcess("off")
    off.exit(ProcessTerminated(None, 15, 15))
    crashing.exit(crash())
    clock.advance(0.5)
    monitor.stopProcess("ending")
    assert monitor.status() == [
        ProcessStatus("up", "running", up.pid, 0.5, 0, None),
        ProcessStatus("crashing", "waiting", None, None, 0, 0.5),
        ProcessStatus("ending", "stopping", ending.pid, 0.5, 0, None),
        ProcessStatus("off", "stopped", None, None, 0, None),
    ]
    del events[:]
    monitor.logStatus()
    assert messages(events) == [
        "process up: running pid=%d uptime=0.5s restarts=0" % (up.pid,),
        "process crashing: waiting restarts=0 next start in 0.5s",
        "process ending: stopping pid=%d uptime=0.5s restarts=0" % (ending.pid,),
        "process off: stopped restarts=0",
    ]
    clock.advance(0.5)
    clock.advance(3600 * 26 + 60)
    del events[:]
    monitor.logStatus()
    assert messages(events)[:2] == [
        "process up: running pid=%d uptime=1d02h01m restarts=0" % (up.pid,),
        "process crashing: running pid=%d uptime=1d02h01m restarts=1" % (clock.latest().pid,),
    ]
    ending.exit(ProcessTerminated(None, 9, 9))
    monitor.stopService()
    up.exit(ProcessTerminated(None, 15, 15))
    clock.latest().exit(ProcessTerminated(None, 15, 15))
    del events[:]
    monitor.removeProcess("up")
    monitor.removeProcess("crashing")
    monitor.removeProcess("ending")
    monitor.removeProcess("off")
    monitor.logStatus()
    assert messages(events) == ["process monitor: no processes"]


# -- real children, on every reactor -----------------------------------------------------


def _realMonitor(reactor, **settings):
    monitor = ProcessMonitor(reactor=reactor)
    for name, value in settings.items():
        setattr(monitor, name, value)
    return monitor


def _stop(reactor, runUntil, monitor):
    runUntil(reactor, monitor.stopService(), timeout=20)


@pytest.mark.timeout(60)
def test_crashingChildIsRestartedAndItsLinesCarryItsName(reactor, runUntil, events):
    monitor = _realMonitor(reactor, minRestartDelay=0.05, maxRestartDelay=0.2, threshold=30)
    monitor.addProcess("crasher", ["sh", "-c", "echo started; echo oops >&2; exit 3"], env=None)
    monitor.startService()
    spin(reactor, lambda: monitor.status()[0].restarts >= 3, 30, "three restarts")
    _stop(reactor, runUntil, monitor)
    lines = [
        (event["stream"], event["message"][0])
        for event in events
        if event.get("child") == "crasher" and event.get("system") == "crasher"
    ]
    assert lines.count(("stdout", "started")) >= 3
    assert lines.count(("stderr", "oops")) >= 3
    exits = [m for m in messages(events) if m.startswith("process crasher exited with status 3")]
    assert len(exits) >= 3
    # The backoff doubled from 0.05 s to its ceiling, 0.2 s.
    assert [m.split("; ")[1] for m in exits[:3]] == [
        "restarting in 0.05s",
        "restarting in 0.1s",
        "restarting in 0.2s",
    ]


@pytest.mark.timeout(60)
def test_childIgnoringTermIsKilledAfterKillTime(reactor, runUntil, events):
    script = (
        "import signal, sys, time\n"
        "signal.signal(signal.SIGTERM, signal.SIG_IGN)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n"
    )
    monitor = _realMonitor(reactor, killTime=0.3)
    monitor.addProcess("stubborn", [sys.executable, "-c", script])
    monitor.startService()
    spin(
        reactor,
        lambda: any(event.get("message") == ("ready",) for event in events),
        30,
        "the child to be ready",
    )
    runUntil(reactor, monitor.stopProcess("stubborn"), timeout=20)
    said = [m for m in messages(events) if m.startswith("process stubborn")]
    assert len(said) == 2, said
    assert said[0] == "process stubborn did not exit after SIGTERM: sending SIGKILL"
    assert said[1].startswith("process stubborn was killed by signal 9 after ")
    assert said[1].endswith("; stopped")
    assert monitor.status()[0].state == "stopped"
    _stop(reactor, runUntil, monitor)
