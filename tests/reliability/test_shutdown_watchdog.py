"""
A stopService that blocks the reactor thread (issue 14, item 6).

The reactor's timers cannot fire while the thread that runs them is stuck,
so --shutdown-timeout is kept by a thread of its own: past the deadline the
log names the service whose stopService has not returned and shows the
reactor thread's stack down to the user's blocking frame, the pidfile is
removed, and loomd exits 1.  (A stop that is merely slow, a Deferred that
never fires, keeps the in-loop path: tests/services/test_loomd_shutdown.py.)
"""

import os
import signal
import time

import pytest

from tests.services.loomd_helpers import (
    freePort,
    loomdFixture,  # noqa: F401 - the loomd fixture
    readLog,
    tacFile,
    wait,
    waitFor,
)

# The stuck service sits one level down, so the log must name the innermost
# service, not only the collection whose stopService is waiting on it.
BLOCKING_STOP = """
import threading
from services.service import MultiService

def blockInSleep():
    time.sleep(600)

def blockOnLock():
    lock = threading.Lock()
    lock.acquire()
    lock.acquire()

EchoService(%(port)d).setServiceParent(application)
group = MultiService()
group.setName("group")
group.setServiceParent(application)
stuck = CallbackService(onStop=%(blocker)s)
stuck.setName("stuck")
stuck.setServiceParent(group)
"""


@pytest.mark.parametrize("blocker", ["blockInSleep", "blockOnLock"])
def test_blockingStopServiceIsNamedAndTheDaemonExits(loomd, tmp_path, blocker):
    tac = tacFile(tmp_path, BLOCKING_STOP % {"port": freePort(), "blocker": blocker})
    process = loomd.spawn(
        "-n", "-y", tac, "--pidfile", loomd.pidfile, "-l", loomd.logfile, "--shutdown-timeout", "1"
    )
    waitFor(
        lambda: "loomd ready" in readLog(loomd.logfile) or process.poll() is not None,
        what="start-up",
    )
    assert process.poll() is None, process.communicate()
    signalled = time.monotonic()
    process.send_signal(signal.SIGTERM)
    code, _, err = wait(process, timeout=15)
    elapsed = time.monotonic() - signalled
    log = readLog(loomd.logfile)
    assert code == 1, (err, log)
    # The deadline (1 s), the loop's chance to answer (1 s), and slack for load.
    assert elapsed < 8, elapsed
    assert not os.path.exists(loomd.pidfile)
    assert "the reactor thread is blocked in the stopService of test/group/stuck" in log, log
    stack = log[log.index("Reactor thread stack") :]
    assert "in %s\n" % (blocker,) in stack, stack
    assert "in stopService\n" in stack, stack


def test_blockingShutdownTriggerIsBoundedToo(loomd, tmp_path):
    # Every stopService returned and fired; what blocks is a shutdown
    # trigger run afterwards.  The deadline covers the whole shutdown.
    tac = tacFile(
        tmp_path,
        """
        def blockInTrigger():
            time.sleep(600)
        reactor.addSystemEventTrigger("before", "shutdown", blockInTrigger)
        """,
    )
    process = loomd.spawn(
        "-n", "-y", tac, "--pidfile", loomd.pidfile, "-l", loomd.logfile, "--shutdown-timeout", "1"
    )
    waitFor(
        lambda: "loomd ready" in readLog(loomd.logfile) or process.poll() is not None,
        what="start-up",
    )
    process.send_signal(signal.SIGTERM)
    code, _, err = wait(process, timeout=15)
    log = readLog(loomd.logfile)
    assert code == 1, (err, log)
    assert not os.path.exists(loomd.pidfile)
    assert "the reactor thread is blocked outside any stopService" in log, log
    assert "in blockInTrigger\n" in log[log.index("Reactor thread stack") :]
