"""
Signals, in subprocesses: SIGINT and SIGTERM stop each reactor through its
shutdown triggers, and set_wakeup_fd wakes a sleeping loop.
"""

import os
import select
import signal
import subprocess
import sys

import pytest

from reactor.pytestplugin import REACTOR_NAMES

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHILD = r"""
import signal, sys
from reactor import getReactorClass

# A background job may inherit SIGINT ignored; the reactor only replaces
# Python's default handler, so put that back first.
signal.signal(signal.SIGINT, signal.default_int_handler)
reactor = getReactorClass(sys.argv[1])()
say = lambda text: print(text, flush=True)
if sys.argv[2] == "plain-stop":
    # This handler stops the reactor without waking it: only the byte that
    # set_wakeup_fd writes can end the 60 s sleep.
    signal.signal(signal.SIGUSR1, lambda signum, frame: reactor.stop())
reactor.addSystemEventTrigger("before", "shutdown", say, "before-shutdown")
reactor.addSystemEventTrigger("after", "shutdown", say, "after-shutdown")
reactor.callLater(60, say, "timed out")
reactor.callWhenRunning(say, "ready")
reactor.run()
say("exited sigterm-restored=%s" % (signal.getsignal(signal.SIGTERM) is signal.SIG_DFL,))
"""


def _waitUntilInEpollWait(pid, timeout=20):
    # The main thread's kernel wait channel, as /proc shows it: a loaded
    # machine may take a while from printing "ready" to going to sleep.
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with open("/proc/%d/task/%d/wchan" % (pid, pid)) as wchan:
            if wchan.read().strip() == "do_epoll_wait":
                return
        time.sleep(0.005)
    pytest.fail("the child's loop never went to sleep in epoll_wait")


def runChild(reactorName, mode, signum, script=CHILD, asleep=False):
    """
    Run script with its arguments; once it says "ready" (and, with asleep,
    once its main thread sleeps in epoll_wait), send signum.
    """
    child = subprocess.Popen(
        [sys.executable, "-c", script, reactorName, *mode.split()],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        # Bounded wait for the child to be running (a loaded machine is slow).
        ready, _, _ = select.select([child.stdout], [], [], 30)
        assert ready, "child never became ready"
        assert child.stdout.readline() == "ready\n"
        if asleep:
            _waitUntilInEpollWait(child.pid)
        child.send_signal(signum)
        out, err = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    return child.returncode, out, err


@pytest.mark.parametrize("reactorName", REACTOR_NAMES)
@pytest.mark.parametrize("signum", [signal.SIGINT, signal.SIGTERM], ids=["SIGINT", "SIGTERM"])
def test_signalStopsThroughShutdownTriggers(reactorName, signum):
    code, out, err = runChild(reactorName, "handlers", signum)
    assert code == 0, err
    assert out.splitlines() == [
        "before-shutdown",
        "after-shutdown",
        "exited sigterm-restored=True",
    ]


@pytest.mark.parametrize("reactorName", REACTOR_NAMES)
def test_wakeupFDWakesTheSleepingLoop(reactorName):
    code, out, err = runChild(reactorName, "plain-stop", signal.SIGUSR1)
    assert code == 0, err
    assert "after-shutdown" in out.splitlines()
    assert "timed out" not in out


# The main thread blocks SIGTERM, so the kernel must hand it to the other
# thread: the main thread's epoll_wait is never interrupted, and only the
# byte set_wakeup_fd writes can wake it for its Python handler to run.  This
# is, made certain, what happens when a signal arrives just before the loop
# goes to sleep.
OTHER_THREAD_CHILD = r"""
import os, signal, sys, threading
from reactor import getReactorClass

reactor = getReactorClass(sys.argv[1])()
say = lambda text: print(text, flush=True)
released = threading.Event()
threading.Thread(target=released.wait, daemon=True).start()
signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})
if sys.argv[2] == "own-handler":
    # loomd's way: its own handler, run with installSignalHandlers=False.
    signal.signal(signal.SIGTERM, lambda s, f: reactor.callFromThread(reactor.stop))
    if sys.argv[3] == "wakeup":
        reactor.installSignalWakeup()
    install = False
else:
    install = True
reactor.callLater(8, lambda: (say("not woken"), os._exit(3)))
reactor.callWhenRunning(say, "ready")
reactor.run(installSignalHandlers=install)
say("stopped")
"""


def runOtherThreadChild(reactorName, mode, asleep=False):
    return runChild(reactorName, mode, signal.SIGTERM, OTHER_THREAD_CHILD, asleep)


@pytest.mark.parametrize("reactorName", REACTOR_NAMES)
@pytest.mark.parametrize(
    "mode", ["reactor-handlers", "own-handler wakeup"], ids=["run", "installSignalWakeup"]
)
def test_signalTakenByAnotherThreadStillWakesTheLoop(reactorName, mode):
    code, out, err = runOtherThreadChild(reactorName, mode)
    assert (code, out) == (0, "stopped\n"), err


def test_withoutTheWakeupTheLoopSleepsOn():
    # The control: the same child without installSignalWakeup is only woken
    # by its 8 s timer, which shows the test above can fail.  The signal is
    # sent once the loop sleeps: sent before, its handler would run before
    # the loop went to sleep (a loaded machine makes that gap long).
    code, out, err = runOtherThreadChild("epoll", "own-handler none", asleep=True)
    assert (code, out) == (3, "not woken\n"), err


def test_installSignalWakeupBeforeRunIsKeptAndRestored():
    from reactor.epollreactor import EPollReactor

    reactor = EPollReactor()
    previous = signal.set_wakeup_fd(-1)
    signal.set_wakeup_fd(previous)
    seen = []

    def whileRunning():
        current = signal.set_wakeup_fd(-1)
        signal.set_wakeup_fd(current)
        seen.append(current)
        reactor.stop()

    try:
        reactor.installSignalWakeup()
        reactor.installSignalWakeup()  # a second call changes nothing
        wakeupFD = reactor._signalWaker.writeFD
        reactor.callWhenRunning(whileRunning)
        reactor.run()
        assert seen == [wakeupFD] and reactor._signalWaker is None
        assert signal.set_wakeup_fd(previous) == previous
    finally:
        reactor.close()
