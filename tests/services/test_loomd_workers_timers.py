"""
Calls a .tac schedules while it loads (``reactor.callLater`` at module
level) under ``loomd --workers``: each worker of the generation that
loaded it runs them once, and no other generation does
(services.loomd.listeners.Generation; doc/deployment.md, "What to keep
in mind").
"""

import os
import signal

import pytest

from reactor.testing import MemoryReactorClock
from services.loomd.listeners import Generation
from tests.services.loomd_helpers import (
    loomdFixture,  # noqa: F401 - the loomd fixture
    readLog,
    tacFile,
    waitFor,
)
from tests.services.test_loomd_workers import readyPids, setAnswer, workers

pytestmark = pytest.mark.timeout(120)

TIMER_APP = """
import answers

TEXT = answers.TEXT
DIR = %(directory)r


def record():
    with open(os.path.join(DIR, "ran"), "a") as ran:
        ran.write("%%s %%d\\n" %% (TEXT, os.getpid()))


reactor.callLater(0.05, record)
if getattr(answers, "BROKEN", False):
    raise RuntimeError("this release is broken")
EchoService(0).setServiceParent(application)
"""


def generationAlone(loomd, number):
    """True once the master's table holds only 2 ready workers, of generation number."""
    table = workers(loomd)
    return len(table) == 2 and all(g == number and s == "ready" for _, _, g, s in table)


def ranLines(directory):
    """The lines the application's record() has written to directory/ran so far."""
    try:
        with open(os.path.join(str(directory), "ran")) as ran:
            return ran.read().splitlines()
    except FileNotFoundError:
        return []


def runs(directory):
    """[(text, pid)] of each run of the load-time call so far."""
    return [(text, int(pid)) for text, pid in (line.rsplit(" ", 1) for line in ranLines(directory))]


def test_loadTimeCallsRunOnceInEachWorkerOfTheirGeneration(loomd, tmp_path):
    setAnswer(tmp_path, "first")
    tac = tacFile(tmp_path, TIMER_APP % {"directory": str(tmp_path)})
    master = loomd.daemon(tac, "--workers", "2")
    first = readyPids(loomd)
    waitFor(lambda: len(runs(tmp_path)) >= 2, timeout=30, what="the first generation's runs")
    log = readLog(loomd.logfile)
    assert (
        "warning: generation 1: 1 call(s) scheduled while the application loaded "
        "(reactor.callLater outside startService) run in each of the 2 workers, "
        "once per worker: record;"
    ) in log
    setAnswer(tmp_path, "second")
    os.kill(master, signal.SIGHUP)
    waitFor(
        lambda: "reload finished" in readLog(loomd.logfile) and generationAlone(loomd, 2),
        timeout=30,
        what="generation 2 alone",
        context=lambda: readLog(loomd.logfile),
    )
    second = readyPids(loomd, generation=2)
    waitFor(lambda: len(runs(tmp_path)) >= 4, timeout=30, what="the second generation's runs")
    # A replaced worker is a fresh copy of its generation's load: it runs them too.
    victim = [pid for index, pid, _, _ in workers(loomd) if index == 1 and pid in second][0]
    os.kill(victim, signal.SIGKILL)
    waitFor(
        lambda: len(readyPids(loomd)) == 2 and victim not in readyPids(loomd),
        timeout=30,
        what="the replacement",
    )
    replacement = readyPids(loomd) - second
    waitFor(lambda: len(runs(tmp_path)) >= 5, timeout=30, what="the replacement's run")
    # Each worker ran its own generation's call once; the first .tac's call,
    # left in the master's reactor, ran in no worker of the second.
    ran = runs(tmp_path)
    assert sorted(ran) == sorted(
        [("first", pid) for pid in first] + [("second", pid) for pid in second | replacement]
    ), ran
    assert readLog(loomd.logfile).count("warning: generation 2: 1 call(s)") == 1


def test_aReloadThatFailedLeavesNoCallsForTheNextGeneration(loomd, tmp_path):
    # The broken .tac scheduled its call before it raised: no generation
    # was made of it, and the next reload's workers do not run that call.
    setAnswer(tmp_path, "first")
    tac = tacFile(tmp_path, TIMER_APP % {"directory": str(tmp_path)})
    master = loomd.daemon(tac, "--workers", "2")
    first = readyPids(loomd)
    with open(os.path.join(str(tmp_path), "answers.py"), "w") as module:
        module.write("TEXT = 'broken'\nBROKEN = True\n")
    os.kill(master, signal.SIGHUP)
    waitFor(lambda: "reload failed" in readLog(loomd.logfile), timeout=30, what="the failed reload")
    setAnswer(tmp_path, "third")
    os.kill(master, signal.SIGHUP)
    waitFor(
        lambda: "reload finished" in readLog(loomd.logfile) and generationAlone(loomd, 2),
        timeout=30,
        what="the next generation alone",
        context=lambda: readLog(loomd.logfile),
    )
    second = readyPids(loomd, generation=2)
    waitFor(lambda: len(runs(tmp_path)) >= 4, timeout=30, what="the new generation's runs")
    ran = runs(tmp_path)
    assert sorted(ran) == sorted(
        [("first", pid) for pid in first] + [("third", pid) for pid in second]
    ), ran
    assert "warning: generation 2: 1 call(s)" in readLog(loomd.logfile)


def test_aGenerationKeepsItsOwnCallsDueAsLongAfterTheWorkersStart():
    # The master's reactor (a Clock here) holds the calls of every load; a
    # worker (the same reactor, standing for the fork's copy) keeps its
    # generation's, each as far from its start as it was from the load,
    # and cancels the others'.
    reactor = MemoryReactorClock()
    ran = []
    reactor.callLater(10, ran.append, "first load")
    first = Generation(1, None)
    first.claimDelayedCalls(reactor, [])
    reactor.rightNow = 100.0  # a reload, much later: the first call is overdue
    reactor.callLater(5, ran.append, "second load")
    second = Generation(2, None)
    second.claimDelayedCalls(reactor, [first])
    assert [remaining for _, remaining in second.delayedCalls] == [5.0]
    reactor.rightNow = 3600.0  # a replacement worker of generation 1, forked now
    first.adoptDelayedCalls(reactor)
    reactor.advance(9.9)
    assert ran == []
    reactor.advance(0.1)
    assert ran == ["first load"]
    reactor.advance(100)
    assert ran == ["first load"]


def test_theMasterDropsTheCallsOfAGenerationItForgets():
    reactor = MemoryReactorClock()
    reactor.callLater(10, lambda: None)
    generation = Generation(1, None)
    generation.claimDelayedCalls(reactor, [])
    generation.dropDelayedCalls()
    assert reactor.getDelayedCalls() == [] and generation.delayedCalls == []
