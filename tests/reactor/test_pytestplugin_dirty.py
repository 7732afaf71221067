"""
The plugin's dirty-reactor check, seen from outside: an inner pytest run
whose test leaves something in its ``reactor`` fixture must report an error
naming it.  This fails if the fixture stops calling the check.
"""

import os
import threading

pytest_plugins = ["pytester"]

# The inner run loads Loom's plugin the way tests/conftest.py does: by entry
# point when Loom is installed, explicitly otherwise (never both).
INNER_CONFTEST = """
import os
from importlib.metadata import entry_points

_byEntryPoint = not os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD") and any(
    entry.value == "reactor.pytestplugin" for entry in entry_points(group="pytest11")
)
pytest_plugins = [] if _byEntryPoint else ["reactor.pytestplugin"]
"""


def runInner(pytester, source):
    """Run source as a test module on the epoll reactor; return the result."""
    pytester.makeconftest(INNER_CONFTEST)
    pytester.makepyfile(test_inner=source)
    return pytester.runpytest_inprocess("-q", "-p", "no:cacheprovider", "-k", "epoll")


def test_pendingDelayedCallFailsTheTestAndIsNamed(pytester):
    result = runInner(
        pytester,
        """
def leftBehind():
    pass

def test_leavesATimer(reactor):
    reactor.callLater(60, leftBehind)
""",
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*DirtyReactorError*delayed calls*leftBehind*"])


def test_runningThreadFailsTheTestAndIsNamed(pytester):
    result = runInner(
        pytester,
        """
import os
import threading

def test_leavesAThread(reactor):
    # Outlives the check's one-second grace, then ends by itself.
    threading.Thread(target=threading.Event().wait, args=(1.5,), name="left-running").start()
""",
    )
    for thread in threading.enumerate():
        if thread.name == "left-running":
            thread.join()
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*DirtyReactorError*threads: left-running*"])


def test_cleanTestPasses(pytester):
    result = runInner(
        pytester,
        """
def test_tidy(reactor):
    reactor.callLater(60, print).cancel()
""",
    )
    result.assert_outcomes(passed=1)


def test_runningChildFailsTheTestAndIsKilled(pytester):
    result = runInner(
        pytester,
        """
import os
from protocols.protocol import ProcessProtocol

def test_leavesAChild(reactor):
    transport = reactor.spawnProcess(ProcessProtocol(), "sleep", ["sleep", "60"])
    with open("pid", "w") as record:
        record.write(str(transport.pid))
""",
    )
    result.assert_outcomes(passed=1, errors=1)
    result.stdout.fnmatch_lines(["*DirtyReactorError*child processes: <Process pid=*"])
    pid = int((pytester.path / "pid").read_text())
    assert not os.path.exists("/proc/%d" % (pid,)), "killed and reaped"
