"""
Process benchmark (issue 18 item 8): Loom's spawnProcess against Twisted's
(its default reactor) and asyncio's ``asyncio.create_subprocess_exec``.

Points:

- (a) spawn: SPAWN_COUNT runs of ``true``, SPAWN_INFLIGHT at a time, each
  started as soon as one has ended.  Each child gets the framework's default
  pipes on its standard input, output and error (Loom's and Twisted's
  spawnProcess default; asyncio is given three PIPEs and ``communicate()``,
  the same work), and counts as done once it is reaped and its pipes are
  closed.  Reported: spawns/s, the parent's own CPU per spawn (what the
  framework costs) and the children's CPU per spawn (``true`` itself: exec,
  the dynamic loader, exit; the same whoever starts it).
- (b) read: one child (``head -c READ_BYTES /dev/zero``) whose output is
  read and counted: MiB/s, and the parent's CPU per MiB.

Every measurement runs in a fresh interpreter (this file, ``--run PEER
POINT``) that imports only its own framework, and reports the wall time of
the run and getrusage deltas: RUSAGE_SELF for the parent, RUSAGE_CHILDREN
for the children it reaped.  For every repeat each point runs on each peer
in turn, the order rotating between repeats; targets are judged, as in
bench_echo, on the median over repeats of Loom's figure divided by the
peer's in the same repeat (pairedRatio).

On a machine with few cores the spawn point is bound by CPU, and most of it
is the children's: ``true`` costs some 0.5 ms of CPU to exec and exit
whatever starts it.  So the table also prints the CPU-bound ceiling of the
spawn rate ratio, (peer's parent + children CPU) / (Loom's parent +
children CPU): the most Loom's wall-clock lead can be once every core is
busy, however cheap its own part.

    python benchmarks/bench_process.py [--repeats N] [--quick]
"""

import argparse
import json
import os
import resource
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _benchlib import ROOT, median, pairedRatio, printTable  # noqa: E402

SPAWN_COUNT = 500
SPAWN_INFLIGHT = 8
READ_BYTES = 100 * 1024 * 1024
MIB = 1024 * 1024

PEERS = ["loom", "twisted", "asyncio"]
POINTS = ["spawn", "read"]
# (point, metric, peer, bound): Loom's rate at least bound times the peer's.
TARGETS = [
    ("spawn", "rate", "twisted", 1.5),
    ("spawn", "rate", "asyncio", 1.0),
    ("read", "rate", "twisted", 1.5),
    ("read", "rate", "asyncio", 1.0),
]


# -- the measured runs, each in a process of its own --------------------------------------


class Meter:
    """Wall time and getrusage deltas (self and reaped children) from begin() to end()."""

    def begin(self):
        self.start = time.perf_counter()
        self.own = resource.getrusage(resource.RUSAGE_SELF)
        self.children = resource.getrusage(resource.RUSAGE_CHILDREN)

    def end(self):
        self.elapsed = time.perf_counter() - self.start
        self.ownCPU = _cpu(resource.getrusage(resource.RUSAGE_SELF), self.own)
        self.childCPU = _cpu(resource.getrusage(resource.RUSAGE_CHILDREN), self.children)


def _cpu(after, before):
    return (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def runProtocols(theReactor, ProcessProtocol, point, count, size, true, env):
    """
    The Loom and Twisted runs (the same API): one ``true`` spawned and ended
    first, unmeasured (the imports and first-time costs), then the point.
    """
    meter = Meter()
    done = {"started": 0, "ended": 0, "bytes": 0}

    def finish():
        meter.end()
        theReactor.stop()

    class Spawned(ProcessProtocol):
        def processEnded(self, reason):
            done["ended"] += 1
            if done["started"] < count:
                spawn()
            elif done["ended"] == count:
                finish()

    class Reader(ProcessProtocol):
        def outReceived(self, data):
            done["bytes"] += len(data)

        def processEnded(self, reason):
            finish()

    class WarmUp(ProcessProtocol):
        def processEnded(self, reason):
            meter.begin()
            if point == "spawn":
                for _ in range(min(SPAWN_INFLIGHT, count)):
                    spawn()
            else:
                argv = ["head", "-c", str(size), "/dev/zero"]
                theReactor.spawnProcess(Reader(), shutil.which("head"), argv, env=env)

    def spawn():
        done["started"] += 1
        theReactor.spawnProcess(Spawned(), true, ["true"], env=env)

    theReactor.callWhenRunning(lambda: theReactor.spawnProcess(WarmUp(), true, ["true"], env=env))
    # With its signal handlers: Twisted reaps its children from SIGCHLD.
    theReactor.run()
    _check(point, done, count, size)
    return meter


def runLoom(point, count, size, true):
    """Run point with Loom's default reactor; return the Meter."""
    sys.path.insert(0, ROOT)
    import reactor as loom
    from protocols.protocol import ProcessProtocol

    theReactor = loom.getReactorClass(loom.defaultReactorName())()
    return runProtocols(theReactor, ProcessProtocol, point, count, size, true, None)


def runTwisted(point, count, size, true):
    """Run point with Twisted's default reactor; return the Meter."""
    from twisted.internet import reactor
    from twisted.internet.protocol import ProcessProtocol

    # Our environment, as the others pass it (Twisted's default is an empty one).
    return runProtocols(reactor, ProcessProtocol, point, count, size, true, dict(os.environ))


def runAsyncio(point, count, size, true):
    """Run point with asyncio.create_subprocess_exec; return the Meter."""
    import asyncio

    pipe = asyncio.subprocess.PIPE
    meter = Meter()
    done = {"ended": 0, "bytes": 0}

    async def one():
        child = await asyncio.create_subprocess_exec(true, stdin=pipe, stdout=pipe, stderr=pipe)
        await child.communicate()
        done["ended"] += 1

    async def spawnAll():
        slots = asyncio.Semaphore(SPAWN_INFLIGHT)

        async def inSlot():
            async with slots:
                await one()

        await asyncio.gather(*[inSlot() for _ in range(count)])

    async def read():
        head = shutil.which("head")
        child = await asyncio.create_subprocess_exec(
            head, "-c", str(size), "/dev/zero", stdout=pipe
        )
        while True:
            chunk = await child.stdout.read(65536)
            if not chunk:
                break
            done["bytes"] += len(chunk)
        await child.wait()

    async def main():
        await one()  # the warm-up, unmeasured
        done["ended"] = 0
        meter.begin()
        await (spawnAll() if point == "spawn" else read())
        meter.end()

    asyncio.run(main())
    _check(point, done, count, size)
    return meter


RUNNERS = {"loom": runLoom, "twisted": runTwisted, "asyncio": runAsyncio}


def _check(point, done, count, size):
    if point == "spawn" and done["ended"] != count:
        raise SystemExit("only %d of %d children ended" % (done["ended"], count))
    if point == "read" and done["bytes"] != size:
        raise SystemExit("read %d bytes of %d" % (done["bytes"], size))


def runOne(peer, point, count, size):
    """The --run side: measure point on peer, print one JSON line."""
    meter = RUNNERS[peer](point, count, size, shutil.which("true"))
    print(
        json.dumps({"elapsed": meter.elapsed, "ownCPU": meter.ownCPU, "childCPU": meter.childCPU}),
        flush=True,
    )


# -- the driver -----------------------------------------------------------------------------


def summarize(point, raw, count, size):
    """Turn a run's raw figures into the table's metrics."""
    if point == "spawn":
        return {
            "rate": count / raw["elapsed"],
            "parentUs": raw["ownCPU"] * 1e6 / count,
            "childUs": raw["childCPU"] * 1e6 / count,
        }
    mebibytes = size / MIB
    return {"rate": mebibytes / raw["elapsed"], "parentUs": raw["ownCPU"] * 1e6 / mebibytes}


def measure(peer, point, count, size):
    """Run one measurement in a fresh interpreter; return its summary."""
    done = subprocess.run(
        [sys.executable, os.path.abspath(__file__), "--run", peer, point, str(count), str(size)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=ROOT,
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError("%s %s failed: %s" % (peer, point, done.stderr.strip()[-2000:]))
    return summarize(point, json.loads(lines[-1]), count, size)


def availablePeers():
    """Loom and asyncio always; Twisted when it is installed (the bench extra)."""
    import importlib.util

    return [peer for peer in PEERS if peer != "twisted" or importlib.util.find_spec("twisted")]


def tableRows(results, names, count=SPAWN_COUNT, size=READ_BYTES):
    """The rows of the printed table: (point, metric, {peer: median})."""

    def medians(point, key):
        return {name: median(results[point][name], key) for name in names}

    parent, children = medians("spawn", "parentUs"), medians("spawn", "childUs")
    spawnLabel = "spawn %d x true, %d at a time" % (count, SPAWN_INFLIGHT)
    return [
        (spawnLabel, "spawns/s", medians("spawn", "rate")),
        ("", "parent CPU us/spawn", parent),
        ("", "children CPU us/spawn", children),
        # Spawns per CPU-second, parent and children: the rate's limit per
        # core once every core is busy.
        ("", "spawns per CPU-s", {n: 1e6 / (parent[n] + children[n]) for n in names}),
        ("read %d MiB" % (size // MIB,), "MiB/s", medians("read", "rate")),
        ("", "parent CPU us/MiB", medians("read", "parentUs")),
    ]


def checkTargets(results, names):
    """
    Print PASS/MISS for issue 18 item 8's targets; return the number not met.

    Each is judged on the median of the per-repeat ratios (pairedRatio), the
    ratio of the medians printed beside it; a peer not measured is MISSING.
    """
    print("\nTargets (issue 18 item 8), Loom/peer: median of per-repeat ratios (ratio of medians):")
    missed = 0
    for point, key, peer, bound in TARGETS:
        unit = "spawns/s" if point == "spawn" else "MiB/s"
        what = "%s: Loom's %s >= %.1fx %s's" % (point, unit, bound, peer)
        samples = results.get(point, {})
        if not samples.get("loom") or not samples.get(peer) or peer not in names:
            print("  MISSING %s: %s not measured" % (what, peer))
            missed += 1
            continue
        paired = pairedRatio(samples, key, peer)
        ofMedians = median(samples["loom"], key) / median(samples[peer], key)
        ok = paired >= bound
        missed += not ok
        print(
            "  %-4s %s: %.2fx (%.2fx), bound %.2fx"
            % ("PASS" if ok else "MISS", what, paired, ofMedians, bound)
        )
    return missed


def printSpawnCosts(results, names):
    """Per peer: its parent CPU per spawn against Loom's, and the CPU-bound ceiling."""
    samples = results.get("spawn", {})
    if "loom" not in samples:
        return
    print("\nspawn, where the CPU goes (medians of per-repeat ratios):")
    for peer in names:
        if peer == "loom":
            continue
        pairs = list(zip(samples["loom"], samples[peer], strict=True))
        parent = statistics.median(theirs["parentUs"] / ours["parentUs"] for ours, theirs in pairs)
        ceiling = statistics.median(
            (theirs["parentUs"] + theirs["childUs"]) / (ours["parentUs"] + ours["childUs"])
            for ours, theirs in pairs
        )
        print(
            "  %s spends %.2fx Loom's parent CPU per spawn; with every core busy, Loom's spawn "
            "rate can be at most %.2fx %s's" % (peer, parent, ceiling, peer)
        )


def main(argv=None):
    """Run every point on every peer, print the table and the verdicts."""
    parser = argparse.ArgumentParser(description="Loom vs Twisted vs asyncio process benchmark")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="1 repeat, smaller points")
    parser.add_argument("--spawns", type=int, default=SPAWN_COUNT)
    parser.add_argument("--read-mib", type=int, default=READ_BYTES // MIB)
    parser.add_argument("--run", nargs=4, metavar=("PEER", "POINT", "COUNT", "BYTES"))
    args = parser.parse_args(argv)
    if args.run:
        peer, point, count, size = args.run
        runOne(peer, point, int(count), int(size))
        return 0
    if args.quick:
        args.repeats, args.spawns, args.read_mib = 1, 200, 32
    names = availablePeers()
    count, size = args.spawns, args.read_mib * MIB
    print(
        "Process benchmark: Loom (%s reactor), Twisted (default reactor), asyncio "
        "(create_subprocess_exec); %d cores; median of %d repeats; %d spawns, %d MiB read"
        % (_loomReactor(), os.cpu_count(), args.repeats, count, args.read_mib),
        flush=True,
    )
    if "twisted" not in names:
        print("Twisted is not installed (pip install -e '.[bench]'): its column is missing.")
    results = {point: {} for point in POINTS}
    started = time.monotonic()
    for repeat in range(args.repeats):
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        for point in POINTS:
            for peer in order:
                sample = measure(peer, point, count, size)
                results[point].setdefault(peer, []).append(sample)
        print("  repeat %d done (%.0f s)" % (repeat + 1, time.monotonic() - started), flush=True)
    print()
    printTable(names, tableRows(results, names, count, size))
    print(
        "Ratios are Loom / peer: higher is better for rates and spawns per CPU-s, lower\n"
        "for CPU.  Spawns per CPU-s (parent and children together) is what one core's\n"
        "worth of CPU yields: the wall rate's limit, per core, once every core is busy."
    )
    printSpawnCosts(results, names)
    checkTargets(results, names)
    print("Total %.0f s" % (time.monotonic() - started))
    return 0


def _loomReactor():
    sys.path.insert(0, ROOT)
    import reactor as loom

    return loom.defaultReactorName()


if __name__ == "__main__":
    sys.exit(main())
