"""
``loomd --workers`` benchmark: what a second worker buys on CPU-bound
requests, and what a worker costs per round trip against a single process.

Servers: benchmarks/servers/loom_workers.tac under ``loomd -n``, as one
plain process ("single") or with ``--workers 1`` / ``--workers 2``, driven
by the echo benchmark's C load generator (benchmarks/echoclient.c), which
counts the master and its workers together in the server's CPU time.

Points:

- cpu: requests costing about 200 us of Python CPU each in the server (a
  calibrated loop) before the 64 B echo, each on its own connection
  (connect, request, reply, close: HTTP without keep-alive), CPU_INFLIGHT
  in flight.  The load generator needs a few us per request, so on a
  2-core machine the server, not the client, is the limit.  Printed:
  requests/s with 1 and 2 workers, their ratio (target: at least 1.7x),
  the server's CPU per request, the client's own CPU share of a core, and
  the busiest worker's part of the workers' CPU time (50% is an even split).
- cpu, keep-alive: the same requests over KEEPALIVE_CONNS connections
  opened at once and kept (ping-pong), not judged: a connection stays with
  the worker that accepted it, and a burst of new connections is taken by
  whichever worker wakes first, so the split can be uneven (the busiest
  worker column shows it; doc/deployment.md).
- echo: 1000 connections ping-ponging 64 B on a plain echo: the server's
  CPU per round trip for single, 1 worker and 2 workers, and the ratio of
  each to single (target: at most 1.05x, "a worker costs no more per round
  trip than a single process").

Each ratio is the median over repeats of the ratio within one repeat
(_benchlib.pairedRatio): the machine is shared and its speed drifts.

    python benchmarks/bench_workers.py [--repeats N] [--duration S] [--quick]
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _benchlib import (  # noqa: E402
    SERVERS,
    Server,
    build,
    formatValue,
    raiseFileLimit,
    runClient,
    summarize,
)

CPU_INFLIGHT = 16
KEEPALIVE_CONNS = 32
ECHO_CONNS = 1000
SCALING_TARGET = 1.7
COST_TARGET = 1.05


def start(mode, workers):
    """A loomd serving the benchmark's .tac in mode, with workers ("single", "1", "2")."""
    script = os.path.join(SERVERS, "loom_workers.py")
    return Server(
        "%s-%s" % (mode, workers),
        [sys.executable, script],
        extraArgs=[mode, workers],
        logName="workers-%s-%s" % (mode, workers),
    )


def measure(client, mode, workers, load, warmup, duration):
    """
    Start the server, run the client with load (its mode arguments), stop
    the server; return summarize()'s figures, with "busiest": the busiest
    worker's part of the workers' CPU time over the whole run (warm-up
    included), 1.0 for one process.
    """
    server = start(mode, workers)
    try:
        children = _children(server.pid, int(workers)) if workers != "single" else []
        before = [_cpu(pid) for pid in children]
        figures = summarize(runClient(client, server, [*load, "-s", "64"], warmup, duration))
        used = [_cpu(pid) - start for pid, start in zip(children, before, strict=True)]
        figures["busiest"] = max(used) / sum(used) if len(used) > 1 and sum(used) else 1.0
        return figures
    finally:
        server.stop()


def _children(pid, count):
    # The master's workers, once count of them have started.
    deadline = time.monotonic() + 10
    while True:
        with open("/proc/%d/task/%d/children" % (pid, pid)) as children:
            found = [int(word) for word in children.read().split()]
        if len(found) >= count or time.monotonic() > deadline:
            return found
        time.sleep(0.05)


def _cpu(pid):
    # utime + stime in seconds, from /proc/PID/stat.
    with open("/proc/%d/stat" % (pid,)) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _cpuTable(title, points, med):
    print("%s, ~200 us of Python CPU per request" % (title,))
    print(
        "  %-10s %12s %14s %14s %12s %16s"
        % (
            "workers",
            "requests/s",
            "server us/req",
            "server CPU %",
            "client CPU %",
            "busiest worker",
        )
    )
    for workers in ("1", "2"):
        samples = points[workers]
        print(
            "  %-10s %12s %14s %14s %12s %15.0f%%"
            % (
                workers,
                med(samples, "rate"),
                med(samples, "serverUs"),
                med(samples, "serverShare"),
                med(samples, "clientShare"),
                100 * statistics.median(sample["busiest"] for sample in samples),
            )
        )
    print("  2 workers / 1: %.2fx" % (paired(points, "rate", "2", "1"),))
    print()


def paired(samples, key, ours, theirs):
    """Median over repeats of samples[ours][key] / samples[theirs][key] within each repeat."""
    pairs = zip(samples[ours], samples[theirs], strict=True)
    return statistics.median(a[key] / b[key] for a, b in pairs)


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--quick", action="store_true", help="1 repeat, short points")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup, args.duration = 1, 0.3, 1.0
    raiseFileLimit()
    client = build("echoclient", headers=["clientlib.h"])
    print(
        "loomd --workers on 127.0.0.1 (%d CPUs usable, load average %.1f): median of %d repeats, "
        "%.1f s warm-up + %.1f s measured per point"
        % (
            len(os.sched_getaffinity(0)),
            os.getloadavg()[0],
            args.repeats,
            args.warmup,
            args.duration,
        ),
        flush=True,
    )
    cpu = {"1": [], "2": []}
    keepalive = {"1": [], "2": []}
    echo = {"single": [], "1": [], "2": []}
    churn = ["-m", "churn", "-k", str(CPU_INFLIGHT)]
    pingpong = ["-m", "pingpong", "-c"]
    began = time.monotonic()
    for repeat in range(args.repeats):
        for workers in ("1", "2") if repeat % 2 == 0 else ("2", "1"):
            cpu[workers].append(measure(client, "cpu", workers, churn, args.warmup, args.duration))
            keepalive[workers].append(
                measure(
                    client,
                    "cpu",
                    workers,
                    pingpong + [str(KEEPALIVE_CONNS)],
                    args.warmup,
                    args.duration,
                )
            )
        order = ["single", "1", "2"]
        for workers in order[repeat % 3 :] + order[: repeat % 3]:
            echo[workers].append(
                measure(
                    client,
                    "echo",
                    workers,
                    pingpong + [str(ECHO_CONNS)],
                    args.warmup,
                    args.duration,
                )
            )
        print("  repeat %d done (%.0f s)" % (repeat + 1, time.monotonic() - began), flush=True)
    report(cpu, keepalive, echo)
    return 0


def report(cpu, keepalive, echo):
    """Print the tables and the targets."""

    def med(samples, key):
        return formatValue(statistics.median(sample[key] for sample in samples))

    print()
    for title, samples in (
        ("cpu: a connection per request, %d in flight" % (CPU_INFLIGHT,), cpu),
        ("cpu, keep-alive: %d conns x 64 B ping-pong (not judged)" % (KEEPALIVE_CONNS,), keepalive),
    ):
        _cpuTable(title, samples, med)
    scaling = paired(cpu, "rate", "2", "1")
    print()
    print("echo: %d conns x 64 B" % (ECHO_CONNS,))
    print(
        "  %-10s %14s %14s %14s %12s"
        % ("server", "round trips/s", "server us/rt", "vs single", "client CPU %")
    )
    costs = {}
    for workers in ("single", "1", "2"):
        samples = echo[workers]
        ratio = (
            "-" if workers == "single" else "%.3fx" % paired(echo, "serverUs", workers, "single")
        )
        if workers != "single":
            costs[workers] = paired(echo, "serverUs", workers, "single")
        label = (
            "single"
            if workers == "single"
            else "%s worker%s" % (workers, "s" if workers == "2" else "")
        )
        print(
            "  %-10s %14s %14s %14s %12s"
            % (
                label,
                med(samples, "rate"),
                med(samples, "serverUs"),
                ratio,
                med(samples, "clientShare"),
            )
        )
    print()
    print(
        "target: 2 workers >= %.1fx the requests/s of 1 on the cpu point: %.2fx %s"
        % (SCALING_TARGET, scaling, "PASS" if scaling >= SCALING_TARGET else "MISS")
    )
    for workers, ratio in costs.items():
        print(
            "target: server CPU per echo round trip with --workers %s within 5%% of a single "
            "process: %.3fx %s" % (workers, ratio, "PASS" if ratio <= COST_TARGET else "MISS")
        )


if __name__ == "__main__":
    sys.exit(main())
