"""
Triggers a .tac registers while it loads (``reactor.callWhenRunning`` and
``reactor.addSystemEventTrigger`` at module level) under ``loomd
--workers``: each worker of the generation that loaded it runs them once,
as a single daemon would, the shutdown triggers when that worker stops; no
other generation runs them, nor the master (services.loomd.listeners.Generation;
doc/deployment.md, "What to keep in mind").
"""

import os
import signal

import pytest

from reactor.selectreactor import SelectReactor
from services.loomd.listeners import Generation
from tests.services.loomd_helpers import (
    alive,
    loomdFixture,  # noqa: F401 - the loomd fixture
    readLog,
    tacFile,
    waitFor,
)
from tests.services.test_loomd_workers import readyPids, setAnswer, workers
from tests.services.test_loomd_workers_timers import generationAlone, ranLines

pytestmark = pytest.mark.timeout(120)

TRIGGER_APP = """
import answers

TEXT = answers.TEXT
DIR = %(directory)r


def record(what):
    with open(os.path.join(DIR, "ran"), "a") as ran:
        ran.write("%%s %%s %%d\\n" %% (what, TEXT, os.getpid()))


def started():
    record("started")


def stopping():
    record("stopping")


reactor.callWhenRunning(started)
reactor.addSystemEventTrigger("before", "shutdown", stopping)
if getattr(answers, "BROKEN", False):
    raise RuntimeError("this release is broken")
EchoService(0).setServiceParent(application)
"""


def runs(directory):
    """[(what, text, pid)] of each run of a load-time trigger so far."""
    lines = ranLines(directory)
    return [(what, text, int(pid)) for what, text, pid in (line.split(" ") for line in lines)]


def expected(text, started, stopped):
    """The runs of generation text: started in the pids started, stopping in those stopped."""
    return [("started", text, pid) for pid in started] + [
        ("stopping", text, pid) for pid in stopped
    ]


def stopMaster(loomd, master):
    os.kill(master, signal.SIGTERM)
    waitFor(
        lambda: not alive(master),
        timeout=60,
        what="the master's exit",
        context=lambda: readLog(loomd.logfile),
    )


def reload(loomd, master, text, number):
    """SIGHUP with answers.TEXT = text; wait for generation number alone; its pids."""
    setAnswer(loomd.directory, text)
    os.kill(master, signal.SIGHUP)
    waitFor(
        lambda: "reload finished" in readLog(loomd.logfile) and generationAlone(loomd, number),
        timeout=30,
        what="generation %d alone" % (number,),
        context=lambda: readLog(loomd.logfile),
    )
    return readyPids(loomd, generation=number)


def test_loadTimeTriggersRunOnceInEachWorkerOfTheirGeneration(loomd, tmp_path):
    setAnswer(tmp_path, "first")
    tac = tacFile(tmp_path, TRIGGER_APP % {"directory": str(tmp_path)})
    master = loomd.daemon(tac, "--workers", "2")
    first = readyPids(loomd)
    # Generation 1's workers stop once generation 2 is ready: each runs the
    # first .tac's shutdown trigger, and generation 2's run only their own.
    second = reload(loomd, master, "second", 2)
    waitFor(lambda: len(runs(tmp_path)) >= 6, timeout=30, what="the second generation's runs")
    # A replaced worker is a fresh copy of its generation's load: it runs
    # the start trigger too (the one killed runs no shutdown trigger).
    victim = [pid for index, pid, _, _ in workers(loomd) if index == 1 and pid in second][0]
    os.kill(victim, signal.SIGKILL)
    waitFor(
        lambda: len(readyPids(loomd)) == 2 and victim not in readyPids(loomd),
        timeout=30,
        what="the replacement",
    )
    replacement = readyPids(loomd) - second
    survivors = second - {victim}
    stopMaster(loomd, master)
    ran = runs(tmp_path)
    assert sorted(ran) == sorted(
        expected("first", first, first)
        + expected("second", second | replacement, survivors | replacement)
    ), ran
    assert master not in {pid for _, _, pid in ran}
    log = readLog(loomd.logfile)
    assert (
        "warning: generation 1: 2 trigger(s) registered while the application loaded "
        "(reactor.callWhenRunning or addSystemEventTrigger outside startService) run in "
        "each of the 2 workers, once per worker: started (after startup), "
        "stopping (before shutdown);"
    ) in log
    assert log.count("warning: generation 2: 2 trigger(s)") == 1


def test_aReloadThatFailedLeavesNoTriggersForTheNextGeneration(loomd, tmp_path):
    # The broken .tac registered its triggers before it raised: no
    # generation was made of it, and the next reload's workers run only
    # their own .tac's.
    setAnswer(tmp_path, "first")
    tac = tacFile(tmp_path, TRIGGER_APP % {"directory": str(tmp_path)})
    master = loomd.daemon(tac, "--workers", "2")
    first = readyPids(loomd)
    with open(os.path.join(str(tmp_path), "answers.py"), "w") as module:
        module.write("TEXT = 'broken'\nBROKEN = True\n")
    os.kill(master, signal.SIGHUP)
    waitFor(lambda: "reload failed" in readLog(loomd.logfile), timeout=30, what="the failed reload")
    third = reload(loomd, master, "third", 2)
    stopMaster(loomd, master)
    ran = runs(tmp_path)
    assert sorted(ran) == sorted(
        expected("first", first, first) + expected("third", third, third)
    ), ran


def loadInto(reactor, number, ran):
    """A Generation whose load registered a start and a shutdown trigger in reactor."""
    mark = reactor.markSystemEventTriggers()
    reactor.callWhenRunning(ran.append, "started %d" % (number,))
    reactor.addSystemEventTrigger("before", "shutdown", ran.append, "stopping %d" % (number,))
    generation = Generation(number, None)
    generation.claimTriggers(reactor, mark)
    return generation


def test_aWorkerRunsOnlyItsOwnGenerationsTriggers():
    # The master's reactor holds the triggers of every load; a worker of
    # generation 2 (the same reactor, standing for the fork's copy) keeps
    # its own and removes the first generation's.  The reactor's own
    # triggers (set up before any load) are no generation's.
    reactor, ran = SelectReactor(), []
    try:
        first = loadInto(reactor, 1, ran)
        second = loadInto(reactor, 2, ran)
        assert [t.args for t in first.triggers] == [("started 1",), ("stopping 1",)]
        second.adoptTriggers(reactor, [first, second])
        reactor.callWhenRunning(reactor.stop)
        reactor.run(installSignalHandlers=False)
    finally:
        reactor.close()
    assert ran == ["started 2", "stopping 2"]


def test_theMasterDropsTheTriggersOfAGenerationItForgets():
    reactor, ran = SelectReactor(), []
    try:
        mark = reactor.markSystemEventTriggers()
        generation = loadInto(reactor, 1, ran)
        generation.dropTriggers(reactor)
        assert reactor.getSystemEventTriggers(since=mark) == [] and generation.triggers == []
        reactor.callWhenRunning(reactor.stop)
        reactor.run(installSignalHandlers=False)
    finally:
        reactor.close()
    assert ran == []
