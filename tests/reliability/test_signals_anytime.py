"""
Signals at any moment of a real loomd's life (issue 14, item 4).

SIGHUP, SIGUSR1 and SIGUSR2 kill by default.  loomd blocks them (with SIGTERM and
SIGINT) before it forks the daemon and unblocks them once its handlers are
installed, before the pidfile exists; so a daemon signalled from the moment
it exists, or from the moment its pidfile appears (what logrotate and
``loomd --reload`` do), survives and serves.  A SIGHUP during a slow
start-up is queued until every service has started and then reloads once,
after READY=1; READY=1 after the reload comes only once the reload's
Deferreds fired.  A SIGTERM during start-up aborts it: never READY=1, and
the launcher exits 1 saying why.
"""

import os
import signal
import time

import pytest

from tests.services.loomd_helpers import (
    alive,
    echo,
    freePort,
    loomdEnvironment,
    loomdFixture,  # noqa: F401 - the loomd fixture
    readLog,
    readPid,
    tacFile,
    wait,
    waitFor,
)
from tests.services.test_loomd_systemd import NotifySocket, lines

TRIES = 3
SIGNALS = (signal.SIGHUP, signal.SIGUSR1, signal.SIGUSR2)


@pytest.fixture(name="notifySocket")
def notifySocketFixture(tmp_path):
    """A NOTIFY_SOCKET the test reads, playing systemd."""
    receiver = NotifySocket(str(tmp_path / "notify.sock"))
    yield receiver
    receiver.close()


def children(pid):
    """The pids of pid's children (its main thread's, which is where fork happens)."""
    try:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as listing:
            return [int(child) for child in listing.read().split()]
    except OSError:
        return []


def descendants(pid):
    """pid's children, grandchildren... as far as they can be seen right now."""
    found, level = [], children(pid)
    while level:
        found += level
        level = [grandchild for child in level for grandchild in children(child)]
    return found


def signalWhileStarting(launcher, pidfile, targets, seconds=10.0):
    """
    Send SIGHUP, SIGUSR1 and SIGUSR2 in a tight loop to whatever targets() names,
    until 0.3 s after the launcher exited (at most seconds in all).
    Returns how many signals were delivered.
    """
    deadline = time.monotonic() + seconds
    launcherGone = None
    sent = 0
    while time.monotonic() < deadline:
        for pid in targets(launcher.pid, pidfile):
            for signum in SIGNALS:
                try:
                    os.kill(pid, signum)
                    sent += 1
                except ProcessLookupError:
                    pass
        if launcherGone is None and launcher.poll() is not None:
            launcherGone = time.monotonic()
        if launcherGone is not None and time.monotonic() - launcherGone > 0.3:
            break
    return sent


def everyDescendant(launcherPid, pidfile):
    # From the moment the intermediate process and the daemon exist (they
    # are found through the launcher, before any pidfile).
    pid = readPid(pidfile)
    return descendants(launcherPid) + ([pid] if pid is not None else [])


def pidfileOnly(launcherPid, pidfile):
    # What logrotate and `loomd --reload` do: signal the pid the pidfile names.
    pid = readPid(pidfile)
    return [pid] if pid is not None else []


def startUnderSignals(loomd, targets):
    """Start a daemon serving echo while signalling it; return (pid, port, signals sent)."""
    port = freePort()
    tac = tacFile(loomd.directory, "EchoService(%d).setServiceParent(application)\n" % port)
    if os.path.exists(loomd.pidfile):
        os.unlink(loomd.pidfile)
    launcher = loomd.spawn("-y", tac, "--pidfile", loomd.pidfile, "-l", loomd.logfile)
    sent = signalWhileStarting(launcher, loomd.pidfile, targets)
    code, out, err = wait(launcher)
    assert code == 0, (out, err, readLog(loomd.logfile))
    pid = readPid(loomd.pidfile)
    loomd.track(pid)
    return pid, port, sent


def test_signalsFromTheMomentTheDaemonExistsNeverKillIt(loomd):
    for attempt in range(TRIES):
        pid, port, sent = startUnderSignals(loomd, everyDescendant)
        assert sent > 0
        assertServesThenStops(loomd, pid, port, askStatus=attempt == 0)


def test_signalsFromTheMomentThePidfileAppearsNeverKillTheDaemon(loomd):
    for attempt in range(TRIES):
        pid, port, sent = startUnderSignals(loomd, pidfileOnly)
        assert sent > 0
        assertServesThenStops(loomd, pid, port, askStatus=attempt == 0)


def assertServesThenStops(loomd, pid, port, askStatus):
    assert pid is not None and alive(pid), readLog(loomd.logfile)
    assert echo(port) == b"hello loomd\n"
    if askStatus:  # what init scripts ask; once is enough
        assert loomd.run("--status", "--pidfile", loomd.pidfile).returncode == 0
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the daemon to exit")
    assert not os.path.exists(loomd.pidfile)


# The .tac tells the test (through the same notify socket, so in order with
# loomd's own notifications) when its start and its reloads begin and end.
# Each ends when the test creates a file (start, reload-1, reload-2...) in
# the test's directory, so the test decides what happens during them; a
# stop ends a start still under way.
SLOW_START = """
from reactor.task import LoopingCall
from services import systemd

def mark(text):
    systemd.notify("X-TEST=" + text)

class Gate:
    # A Deferred fired when the file named name appears, or by open().
    def __init__(self, name, text):
        self.path, self.text = os.path.join(%(directory)r, name), text
        self.deferred = Deferred()
        self.poller = LoopingCall(self.poll)
        self.poller.start(0.02)

    def poll(self):
        if os.path.exists(self.path):
            self.open()

    def open(self):
        if self.poller.running:
            self.poller.stop()
            mark(self.text)
            self.deferred.callback(None)

gates = []

def slowStart():
    mark("start begun")
    gates.append(Gate("start", "start fired"))
    return gates[-1].deferred

def slowStop():
    for gate in gates:
        gate.open()
    d = Deferred()
    def stopped():
        mark("stop fired")
        d.callback(None)
    reactor.callLater(0.3, stopped)
    return d

class Reloadable(Service):
    reloads = 0

    def reload(self):
        Reloadable.reloads += 1
        number = Reloadable.reloads
        mark("reload begun %%d" %% (number,))
        return Gate("reload-%%d" %% (number,), "reload fired %%d" %% (number,)).deferred

EchoService(%(port)d).setServiceParent(application)
Reloadable().setServiceParent(application)
CallbackService(onStart=slowStart, onStop=slowStop).setServiceParent(application)
"""

PHASES = ("READY=1", "RELOADING=1", "STOPPING=1")


def phases(messages):
    """The test's marks and loomd's phase notifications, in the order sent."""
    return [line for line in lines(messages) if line.startswith("X-TEST=") or line in PHASES]


def slowStartTac(tmp_path):
    return tacFile(tmp_path, SLOW_START % {"port": freePort(), "directory": str(tmp_path)})


def release(tmp_path, name):
    """End the .tac's start ("start") or reload ("reload-N")."""
    (tmp_path / name).touch()


def test_sighupDuringStartUpReloadsOnceAfterIt(loomd, tmp_path, notifySocket):
    env = loomdEnvironment(NOTIFY_SOCKET=notifySocket.path)
    process = loomd.spawn(
        "-n", "-y", slowStartTac(tmp_path), "--pidfile", loomd.pidfile, "-l", loomd.logfile, env=env
    )
    notifySocket.waitFor(lambda m: "X-TEST=start begun" in lines(m), "the start", loomd.logfile)
    for signum in (signal.SIGHUP, signal.SIGUSR1, signal.SIGHUP, signal.SIGHUP):
        process.send_signal(signum)
    # A signal is pending once kill() returns and interrupts the loop's
    # poll: it is handled before the timer that will see the file.
    release(tmp_path, "start")
    notifySocket.waitFor(lambda m: "X-TEST=reload begun 1" in lines(m), "the reload", loomd.logfile)
    release(tmp_path, "reload-1")
    notifySocket.waitFor(
        lambda m: lines(m).count("READY=1") >= 2, "READY=1 after the reload", loomd.logfile
    )
    process.send_signal(signal.SIGTERM)
    code, _, err = wait(process)
    assert code == 0, err
    assert phases(notifySocket.collect()) == [
        "X-TEST=start begun",
        "X-TEST=start fired",
        "READY=1",
        "RELOADING=1",
        "X-TEST=reload begun 1",
        "X-TEST=reload fired 1",
        "READY=1",
        "STOPPING=1",
        "X-TEST=stop fired",
    ]
    reloading = [m for m in notifySocket.messages if "RELOADING=1" in m][0].split("\n")
    assert [field for field in reloading if field.startswith("MONOTONIC_USEC=")], reloading


def test_sighupDuringAReloadRunsOneMoreAfterIt(loomd, tmp_path, notifySocket):
    # READY=1 comes once, after the last reload's Deferreds fired.
    release(tmp_path, "start")
    env = loomdEnvironment(NOTIFY_SOCKET=notifySocket.path)
    process = loomd.spawn(
        "-n", "-y", slowStartTac(tmp_path), "--pidfile", "", "-l", loomd.logfile, env=env
    )
    notifySocket.waitFor(lambda m: "READY=1" in lines(m), "READY=1", loomd.logfile)
    process.send_signal(signal.SIGHUP)
    notifySocket.waitFor(lambda m: "X-TEST=reload begun 1" in lines(m), "the reload", loomd.logfile)
    process.send_signal(signal.SIGHUP)
    process.send_signal(signal.SIGHUP)
    release(tmp_path, "reload-1")
    notifySocket.waitFor(
        lambda m: "X-TEST=reload begun 2" in lines(m), "the second reload", loomd.logfile
    )
    release(tmp_path, "reload-2")
    notifySocket.waitFor(
        lambda m: lines(m).count("READY=1") >= 2, "READY=1 after the reloads", loomd.logfile
    )
    process.send_signal(signal.SIGTERM)
    code, _, err = wait(process)
    assert code == 0, err
    assert phases(notifySocket.collect()) == [
        "X-TEST=start begun",
        "X-TEST=start fired",
        "READY=1",
        "RELOADING=1",
        "X-TEST=reload begun 1",
        "X-TEST=reload fired 1",
        "RELOADING=1",
        "X-TEST=reload begun 2",
        "X-TEST=reload fired 2",
        "READY=1",
        "STOPPING=1",
        "X-TEST=stop fired",
    ]


def test_sigtermDuringStartUpAbortsIt(loomd, tmp_path, notifySocket):
    # Stopping the starting service ends its start: the start's Deferred
    # fires while the services stop, and must not make the daemon ready.
    env = loomdEnvironment(NOTIFY_SOCKET=notifySocket.path)
    launcher = loomd.spawn(
        "-y", slowStartTac(tmp_path), "--pidfile", loomd.pidfile, "-l", loomd.logfile, env=env
    )
    notifySocket.waitFor(lambda m: "X-TEST=start begun" in lines(m), "the start", loomd.logfile)
    pid = readPid(loomd.pidfile)
    loomd.track(pid)
    os.kill(pid, signal.SIGTERM)
    code, _, err = wait(launcher)
    assert code == 1
    assert "start-up interrupted by SIGTERM" in err
    waitFor(lambda: not alive(pid), what="the daemon to exit")
    assert not os.path.exists(loomd.pidfile)
    assert phases(notifySocket.collect()) == [
        "X-TEST=start begun",
        "STOPPING=1",
        "X-TEST=start fired",
        "X-TEST=stop fired",
    ]
