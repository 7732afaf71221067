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


def runChild(reactorName, mode, signum):
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, reactorName, mode],
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
