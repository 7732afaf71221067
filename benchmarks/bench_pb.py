"""
Perspective Broker benchmark (issue 21 item 6): Loom's PB against Twisted's,
each a server with its own client (Loom server + Loom client, Twisted server
+ Twisted client), in the same run.

Points:

- (a) sequential: one connection, one caller: ``callRemote("add", 1, 2)``,
  the next call sent when the answer arrives.  Calls/s.
- (b) concurrent: CONCURRENT_CALLERS connections from one client process,
  each with one call in flight at all times (the same small call): 100
  connections, not 100 calls outstanding on one.  Calls/s.
- (c) bulk: one connection, one caller, ``callRemote("sink", chunks)`` where
  chunks is a list of BULK_CHUNKS distinct byte strings of BULK_CHUNK bytes
  (1 MiB in all: banana refuses a single string over 640 KiB, in Twisted and
  in Loom alike); the server answers with their total length.  MiB/s of
  argument delivered.

For each, the CPU per call of the server (utime + stime of its process from
/proc over the measured interval) and of the client process (getrusage),
and, for (a) and (b), the calls per CPU-second of the two together (judged
against 2x Twisted's too, beside the issue's calls/s targets).  The
sequential point is bound by latency more than by CPU: each call wakes the
server and then the client, on two CPUs (pinned), and on a virtual machine
shared with other work such a wake-up costs as much as the call's Python.

The server (benchmarks/servers/pb_server.py, the same Root on either
framework) runs in its own process, and each point's client in a fresh
interpreter of its own (this file, ``--client``) that imports only its
framework.  Servers run on CPU 1 and clients on CPU 0 unless --no-pin (or
the machine has one CPU).  For every repeat both servers are started and
each point runs against each in turn, the order rotating between repeats;
the targets are judged, as in bench_echo, on the median over repeats of
Loom's figure divided by Twisted's in the same repeat (pairedRatio).

--profile runs Loom's server (or --profile-server twisted) under cProfile
for one point and lists where its CPU per call goes.

    python benchmarks/bench_pb.py [--repeats N] [--duration S] [--quick] [--no-pin]
    python benchmarks/bench_pb.py --no-table --profile [--profile-point concurrent]
"""

import argparse
import json
import os
import pstats
import resource
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _benchlib import (  # noqa: E402
    PIN,
    ROOT,
    SERVERS,
    Server,
    median,
    pairedRatio,
    pinner,
    printTable,
)

NAMES = ["loom", "twisted"]
POINTS = ["sequential", "concurrent", "bulk"]
CONCURRENT_CALLERS = 100
BULK_CHUNKS, BULK_CHUNK = 16, 65536
MIB = 1024 * 1024

# (point, metric, bound on Loom/Twisted, higher is better, what is promised).
# The calls/s targets are the issue's; the calls per CPU-second beside them
# are what the same calls cost, server and client together, which other
# work on a shared machine moves far less than it moves the rates.
TARGETS = [
    ("sequential", "rate", 2.0, True, "(a) Loom calls/s, 1 connection >= 2x Twisted's"),
    ("sequential", "perCPU", 2.0, True, "(a) Loom calls per CPU-s, 1 connection >= 2x"),
    ("concurrent", "rate", 2.0, True, "(b) Loom calls/s, %d callers >= 2x Twisted's"),
    ("concurrent", "perCPU", 2.0, True, "(b) Loom calls per CPU-s, %d callers >= 2x"),
    ("bulk", "rate", 1.0, True, "(c) Loom MiB/s, 1 MiB argument >= Twisted's"),
]


# -- the client side: one point, in a process of its own ------------------------------------


def processCPU(pid):
    """utime + stime of process pid, in seconds (/proc/PID/stat)."""
    with open("/proc/%d/stat" % (pid,)) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def ownCPU():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


def bulkArgument():
    """BULK_CHUNKS distinct byte strings, BULK_CHUNKS * BULK_CHUNK bytes in all."""
    return [bytes([index]) * BULK_CHUNK for index in range(BULK_CHUNKS)]


def runClient(theReactor, pb, port, point, serverPid, warmup, duration):
    """
    Connect, warm up for warmup seconds, count the calls answered in the next
    duration seconds; return the measured figures.  The API is the same on
    Loom and Twisted: theReactor and pb are the framework's.
    """
    connections = CONCURRENT_CALLERS if point == "concurrent" else 1
    if point == "bulk":
        chunks = bulkArgument()
        method, args, expected = "sink", (chunks,), BULK_CHUNKS * BULK_CHUNK
    else:
        method, args, expected = "add", (1, 2), 3
    state = {"count": 0, "measuring": False, "stopped": False, "error": None}
    meter = {}

    def call(root):
        root.callRemote(method, *args).addCallbacks(answered, failed, callbackArgs=(root,))

    def answered(result, root):
        if result != expected:
            failed("a wrong answer: %r" % (result,))
        elif not state["stopped"]:
            state["count"] += state["measuring"]
            call(root)

    def failed(reason):
        # Calls still out when end() stops the reactor fail as it shuts down.
        if not state["stopped"]:
            state["error"] = str(reason)
            state["stopped"] = True
            theReactor.stop()

    def begin():
        state["measuring"] = True
        meter.update(start=time.perf_counter(), server=processCPU(serverPid), client=ownCPU())
        theReactor.callLater(duration, end)

    def end():
        state["stopped"] = True
        meter["elapsed"] = time.perf_counter() - meter["start"]
        meter["serverCPU"] = processCPU(serverPid) - meter["server"]
        meter["clientCPU"] = ownCPU() - meter["client"]
        meter["count"] = state["count"]
        theReactor.stop()

    def connected(roots):
        for root in roots:
            call(root)
        theReactor.callLater(warmup, begin)

    def connect():
        roots = []
        for _ in range(connections):
            factory = pb.PBClientFactory()
            theReactor.connectTCP("127.0.0.1", port, factory)
            roots.append(factory.getRootObject())
        gather(roots).addCallbacks(connected, failed)

    gather = _gatherer(pb)
    theReactor.callWhenRunning(connect)
    theReactor.run()
    if state["error"] is not None:
        raise SystemExit("%s failed: %s" % (point, state["error"]))
    return {key: meter[key] for key in ("elapsed", "serverCPU", "clientCPU", "count")}


def _gatherer(pb):
    """gatherResults of the framework pb belongs to."""
    if pb.__name__.startswith("twisted"):
        from twisted.internet.defer import gatherResults
    else:
        from reactor.defer import gatherResults
    return lambda deferreds: gatherResults(deferreds, consumeErrors=True)


def clientMain(peer, point, port, serverPid, warmup, duration):
    """The --client side: measure point against the server, print one JSON line."""
    if peer == "loom":
        sys.path.insert(0, ROOT)
        import reactor as loom
        from protocols.pb import pb

        theReactor = loom.getReactorClass(loom.defaultReactorName())()
    else:
        from twisted.internet import reactor
        from twisted.spread import pb

        theReactor = reactor
    figures = runClient(theReactor, pb, port, point, serverPid, warmup, duration)
    print(json.dumps(figures), flush=True)


# -- the driver -----------------------------------------------------------------------------


def summarize(point, raw):
    """A client's raw figures as the table's metrics (bulk: MiB/s, CPU per MiB)."""
    count = raw["count"]
    unit = BULK_CHUNKS * BULK_CHUNK / MIB if point == "bulk" else 1
    cpu = raw["serverCPU"] + raw["clientCPU"]
    return {
        "rate": count * unit / raw["elapsed"],
        "serverUs": raw["serverCPU"] * 1e6 / (count * unit) if count else float("nan"),
        "clientUs": raw["clientCPU"] * 1e6 / (count * unit) if count else float("nan"),
        "perCPU": count * unit / cpu if cpu else float("nan"),
    }


def measure(peer, server, point, warmup, duration):
    """Run one point's client in a fresh interpreter against server; return its summary."""
    import subprocess

    argv = [sys.executable, os.path.abspath(__file__), "--client", peer, point]
    argv += [str(server.port), str(server.pid), str(warmup), str(duration)]
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=warmup + duration + 120,
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=ROOT),
        preexec_fn=pinner("client"),
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("{")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            "%s %s failed: %s\nserver log:\n%s"
            % (peer, point, done.stderr.strip()[-2000:], server.logTail())
        )
    return summarize(point, json.loads(lines[-1]))


def startServer(peer, env=None):
    """Start pb_server.py on peer's framework; it listens on an ephemeral port."""
    argv = [sys.executable, os.path.join(SERVERS, "pb_server.py"), peer]
    return Server(peer, argv, logName=peer + "-pb", env=env)


def runRepeat(order, warmup, duration, results, points=POINTS):
    """Start both servers, run each point on each in turn, then stop them."""
    servers = {}
    try:
        for peer in NAMES:
            servers[peer] = startServer(peer)
        for point in points:
            for peer in order:
                sample = measure(peer, servers[peer], point, warmup, duration)
                results[point].setdefault(peer, []).append(sample)
    finally:
        for server in servers.values():
            server.stop()


def tableRows(results, names):
    """The rows of printTable: the medians of each point's metrics."""

    def medians(point, key):
        samples = results.get(point, {})
        return {name: median(samples[name], key) for name in names if samples.get(name)}

    rows = []
    for point, label, unit in (
        ("sequential", "(a) add(1, 2), 1 connection", "call"),
        ("concurrent", "(b) add(1, 2), %d connections" % CONCURRENT_CALLERS, "call"),
        ("bulk", "(c) sink(%d x %d KiB)" % (BULK_CHUNKS, BULK_CHUNK // 1024), "MiB"),
    ):
        rateLabel = "MiB/s" if point == "bulk" else "calls/s"
        rows.append((label, rateLabel, medians(point, "rate")))
        rows.append(("", "server CPU us/%s" % unit, medians(point, "serverUs")))
        rows.append(("", "client CPU us/%s" % unit, medians(point, "clientUs")))
        if point != "bulk":
            # What a core's worth of CPU yields, server and client together:
            # the rate once the wake-ups between them cost nothing.
            rows.append(("", "calls per CPU-s", medians(point, "perCPU")))
    return rows


def checkTargets(results, names):
    """
    Print PASS/MISS for issue 21 item 6's targets; return the number not met.

    Each is judged on the median of the per-repeat ratios (pairedRatio), the
    ratio of the medians printed beside it.  A target whose peers were not
    both measured is printed as MISSING and counted.
    """
    print(
        "\nTargets (issue 21 item 6), Loom/Twisted: median of per-repeat ratios (ratio of medians):"
    )
    missed = 0
    for point, key, bound, higher, what in TARGETS:
        what = what % CONCURRENT_CALLERS if "%d" in what else what
        samples = results.get(point, {})
        absent = [name for name in NAMES if name not in names or not samples.get(name)]
        if absent:
            print("  MISSING %s: %s not measured" % (what, " and ".join(absent)))
            missed += 1
            continue
        paired = pairedRatio(samples, key, "twisted")
        ofMedians = median(samples["loom"], key) / median(samples["twisted"], key)
        ok = paired >= bound if higher else paired <= bound
        missed += not ok
        print(
            "  %-4s %s: %.2fx (%.2fx), bound %.2fx"
            % ("PASS" if ok else "MISS", what, paired, ofMedians, bound)
        )
    return missed


# -- where the server's CPU goes --------------------------------------------------------------


def profileServer(peer, point, seconds):
    """Run peer's server under cProfile for seconds of point; print its costs per call."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "profile.out")
        server = startServer(peer, env={"LOOM_BENCH_PROFILE": path})
        try:
            sample = measure(peer, server, point, 0.5, seconds)
        finally:
            server.stopGently()
        if not os.path.exists(path):
            raise RuntimeError("%s wrote no profile:\n%s" % (peer, server.tail))
        stats = pstats.Stats(path)
    calls = sample["rate"] * seconds
    total = sum(entry[2] for entry in stats.stats.values())
    print(
        "\n%s server under cProfile, %s: ~%d calls measured (plus warm-up), %.0f us of "
        "CPU per measured call overall (cProfile's own cost inflates it)"
        % (peer, point, calls, total * 1e6 / calls)
    )
    functions = sorted(((entry[2], where) for where, entry in stats.stats.items()), reverse=True)[
        :20
    ]
    for selfTime, (filename, line, function) in functions:
        where = "%s:%d(%s)" % (shortPath(filename), line, function)
        print("  %7.2f us  %5.1f%%  %s" % (selfTime * 1e6 / calls, 100 * selfTime / total, where))


def shortPath(filename):
    """filename relative to the repository or to site-packages."""
    if filename.startswith(ROOT + os.sep):
        return os.path.relpath(filename, ROOT)
    return filename.split("site-packages/")[-1]


# -- main -------------------------------------------------------------------------------------


def main(argv=None):
    """Run every point on both frameworks, print the table and the verdicts."""
    parser = argparse.ArgumentParser(description="Loom vs Twisted Perspective Broker benchmark")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=2.0)
    parser.add_argument("--quick", action="store_true", help="1 repeat, short points")
    parser.add_argument("--no-pin", action="store_true", help="let the kernel place processes")
    parser.add_argument("--point", action="append", choices=POINTS, help="only these points")
    parser.add_argument("--no-table", action="store_true", help="only the profile")
    parser.add_argument("--profile", action="store_true", help="profile a server's CPU per call")
    parser.add_argument("--profile-server", choices=NAMES, default="loom")
    parser.add_argument("--profile-point", choices=POINTS, default="sequential")
    parser.add_argument("--client", nargs=6, metavar=("PEER", "POINT", "PORT", "PID", "W", "D"))
    args = parser.parse_args(argv)
    if args.client:
        peer, point, port, pid, warmup, duration = args.client
        clientMain(peer, point, int(port), int(pid), float(warmup), float(duration))
        return 0
    if args.quick:
        args.repeats, args.warmup, args.duration = 1, 0.3, 1.0
    pinned = not args.no_pin and len(os.sched_getaffinity(0)) > 1
    if pinned:
        PIN.update(server=1, client=0)
    print(
        "PB benchmark on 127.0.0.1: Loom server + Loom client vs Twisted server + Twisted "
        "client, each on its default reactor; %s.\nMedian of %d repeats, %.1f s warm-up + "
        "%.1f s measured per point."
        % (
            "servers on CPU 1, clients on CPU 0" if pinned else "not pinned",
            args.repeats,
            args.warmup,
            args.duration,
        ),
        flush=True,
    )
    started = time.monotonic()
    if not args.no_table:
        results = {point: {} for point in POINTS}
        for repeat in range(args.repeats):
            order = NAMES[repeat % 2 :] + NAMES[: repeat % 2]
            runRepeat(order, args.warmup, args.duration, results, args.point or POINTS)
            print(
                "  repeat %d done (%.0f s)" % (repeat + 1, time.monotonic() - started), flush=True
            )
        print()
        printTable(NAMES, tableRows(results, NAMES))
        print("Ratios are Loom / Twisted: higher is better for rates, lower for CPU.")
        checkTargets(results, NAMES)
    if args.profile:
        profileServer(args.profile_server, args.profile_point, max(args.duration, 3.0))
    print("Total %.0f s" % (time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
