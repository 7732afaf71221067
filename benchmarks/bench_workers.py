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
  in flight.  The load generator needs tens of us of CPU per request
  (user and system time: a connect and a close each), so with 1 worker
  the server, not the client, is the limit; with 2 the workers share the
  2 cores with it (the ceiling below).  Printed: requests/s with 1 and 2
  workers, their ratio (target: at least 1.7x), the server's CPU per
  request, the client's own CPU share of a core, and the busiest worker's
  part of the workers' CPU time (50% is an even split).
- machine, in each repeat right after the cpu point (before its
  keep-alive variant): the cpu server's per-request work
  (loom_workers.tac's Costly, calibrated as in the server) in a tight loop
  without sockets (servers/loom_workers_loop.py), in 1 process alone and
  in 2 at once (which goes first alternates by repeat), each for the same
  few seconds (MACHINE_SECONDS, or --duration when shorter).  M is the
  work of the two over the work of one: what a second core gives a second
  process on this machine (2 on two idle, equal cores; less on shared
  vCPUs).
- the ceiling of the cpu point's 2 workers / 1, per repeat: M * S / (S + C),
  S being the server's CPU per request with 1 worker and C the client's.
  With 1 worker the server is the limit and keeps one core busy: 1 / S
  requests/s.  With 2 workers the two cores are shared by both workers and
  the load generator, which runs on the same machine: the two cores do M
  times the work of one, and every request takes S + C of it, so at best
  M / (S + C) requests/s, and the ratio is at most M * S / (S + C).
  Printed beside the target, with the judged ratio as a fraction of it;
  the target and its PASS or MISS are not changed by it.
- cpu, keep-alive: the same requests over KEEPALIVE_CONNS connections
  opened at once and kept (ping-pong), not judged: a connection stays with
  the worker that accepted it, and a burst of new connections is taken by
  whichever worker wakes first, so the split can be uneven (the busiest
  worker column shows it; doc/deployment.md).
- echo: 1000 connections ping-ponging 64 B on a plain echo: the server's
  CPU per round trip for single, 1 worker and 2 workers, and the ratio of
  each to single (target: at most 1.05x, "a worker costs no more per round
  trip than a single process").

- web: a "hello world" Site (loom_workers.tac, BENCH_MODE=web) under
  ``loomd --workers 1`` and ``--workers 2`` against gunicorn with 1 and 2
  sync workers serving the equivalent WSGI app (servers/web_gunicorn.py),
  loaded by wrk (1 thread, 100 connections, unpinned), twice: as wrk asks
  (keep-alive; gunicorn's sync workers close the connection after each
  response all the same) and with ``Connection: close`` on every request
  (both servers then pay a connection per request).  Printed: requests/s,
  the server's CPU per request (master and workers), p99 latency, wrk's CPU
  share, Loom / gunicorn and 2 workers / 1.  Issue 20 sets no target for
  it.  Needs wrk (``apt-get install wrk``) and gunicorn (``pip install -e
  '.[bench]'``); without either, the point says so and is skipped.

Each ratio is the median over repeats of the ratio within one repeat
(_benchlib.pairedRatio): the machine is shared and its speed drifts.

    python benchmarks/bench_workers.py [--repeats N] [--duration S] [--quick] [--no-web]
"""

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _benchlib import (  # noqa: E402
    ROOT,
    SERVERS,
    Server,
    build,
    formatValue,
    parseResult,
    raiseFileLimit,
    runClient,
    summarize,
)
from bench_web import CONNECTIONS as WEB_CONNS  # noqa: E402
from bench_web import runWrk  # noqa: E402

CPU_INFLIGHT = 16
KEEPALIVE_CONNS = 32
ECHO_CONNS = 1000
SCALING_TARGET = 1.7
COST_TARGET = 1.05
MACHINE_SECONDS = 3.0  # each run of the machine measurement, at most
MACHINE_LEAD = 1.0  # seconds the loop processes have to start before they begin together


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
    the server; return summarize()'s figures, with "clientUs": the client's
    CPU per request (us), and "busiest": the busiest worker's part of the
    workers' CPU time over the whole run (warm-up included), 1.0 for one
    process.
    """
    server = start(mode, workers)
    try:
        children = _children(server.pid, int(workers)) if workers != "single" else []
        before = [_cpu(pid) for pid in children]
        result = runClient(client, server, [*load, "-s", "64"], warmup, duration)
        figures = summarize(result)
        count = result["count"]
        figures["clientUs"] = result["client_cpu"] * 1e6 / count if count else float("nan")
        used = [_cpu(pid) - start for pid, start in zip(children, before, strict=True)]
        figures["busiest"] = max(used) / sum(used) if len(used) > 1 and sum(used) else 1.0
        return figures
    finally:
        server.stop()


def machineRate(processes, seconds):
    """
    Run the cpu point's per-request work in a tight loop
    (servers/loom_workers_loop.py) in processes processes at once for
    seconds; return the work they did per second together, in the
    calibrated loop's iterations (each process's messages times its
    iterations per message, so that calibrations differing a little do not
    count as more or less work).
    """
    begin = time.time() + MACHINE_LEAD
    argv = [sys.executable, os.path.join(SERVERS, "loom_workers_loop.py")]
    argv += [repr(begin), repr(begin + seconds)]
    env = dict(os.environ, PYTHONPATH=ROOT)
    children = [
        subprocess.Popen(argv, stdout=subprocess.PIPE, text=True, cwd=ROOT, env=env)
        for _ in range(processes)
    ]
    try:
        outputs = [child.communicate(timeout=MACHINE_LEAD + seconds + 30)[0] for child in children]
    finally:
        for child in children:
            if child.poll() is None:
                child.kill()
                child.wait()
    rate = 0.0
    for child, output in zip(children, outputs, strict=True):
        lines = [line for line in output.splitlines() if line.startswith("result ")]
        if child.returncode != 0 or not lines:
            raise RuntimeError("the machine loop failed (exit %s)" % (child.returncode,))
        result = parseResult(lines[-1])
        rate += result["units"] * result["iterations"] / result["seconds"]
    return rate


def measureMachine(repeat, seconds):
    """
    One repeat of the machine measurement: the loop in 1 process alone and
    in 2 at once (in turn first and second, by repeat); return both rates
    and "ratio", M: the work of the two over the work of one.
    """
    rates = {}
    for processes in (1, 2) if repeat % 2 == 0 else (2, 1):
        rates[processes] = machineRate(processes, seconds)
    return {"alone": rates[1], "together": rates[2], "ratio": rates[2] / rates[1]}


def ceilings(cpu, machine):
    """
    Each repeat's ceiling of 2 workers / 1 on the cpu point: M * S / (S + C),
    with that repeat's M (machine[r]["ratio"]) and the 1-worker cpu point's
    server (S) and client (C) CPU per request.
    """
    pairs = zip(cpu["1"], machine, strict=True)
    return [
        each["ratio"] * one["serverUs"] / (one["serverUs"] + one["clientUs"]) for one, each in pairs
    ]


# The web point's loads: (label, wrk's extra headers).
WEB_LOADS = [("keep-alive", ()), ("Connection: close", ("Connection: close",))]
WEB_SERVERS = [("loom", "1"), ("loom", "2"), ("gunicorn", "1"), ("gunicorn", "2")]


def webMissing():
    """What the web point needs and is not here: a list of notes saying how to get each."""
    missing = []
    if shutil.which("wrk") is None:
        missing.append(
            "wrk is not installed (Debian/Ubuntu: apt-get install wrk; elsewhere "
            "https://github.com/wg/wrk)"
        )
    try:
        import gunicorn  # noqa: F401
    except ImportError:
        missing.append("gunicorn is not installed (pip install -e '.[bench]')")
    return missing


def startWeb(server, workers):
    """A hello-world web server: "loom" (loomd --workers) or "gunicorn" (sync workers)."""
    if server == "loom":
        return start("web", workers)
    return Server(
        "gunicorn-%s" % (workers,),
        [sys.executable, os.path.join(SERVERS, "web_gunicorn.py")],
        extraArgs=[workers],
        logName="workers-gunicorn-%s" % (workers,),
    )


def measureWeb(wrk, server, workers, headers, warmup, duration):
    """
    Start server with workers, warm up and run wrk on it, stop it; return
    requests/s, the server's CPU per request (its master and workers
    together), p99 (ms), wrk's CPU share and errors.
    """
    process = startWeb(server, workers)
    try:
        pids = [process.pid, *_children(process.pid, int(workers))]
        if warmup:
            runWrk(wrk, process.port, "/hello", warmup, None, headers)
        before = sum(_cpu(pid) for pid in pids)
        result = runWrk(wrk, process.port, "/hello", duration, None, headers)
        spent = sum(_cpu(pid) for pid in pids) - before
    finally:
        process.stop()
    count = max(result["requests"], 1)
    if result["errors"]:
        print("  warning: %d errors from %s-%s" % (result["errors"], server, workers), flush=True)
    return {
        "rate": result["rate"],
        "serverUs": spent * 1e6 / count,
        "p99": result["p99"],
        "clientShare": result["clientShare"],
        "errors": result["errors"],
    }


def runWeb(wrk, web, repeat, warmup, duration):
    """One repeat of the web point: every server on every load, the order rotating."""
    warmup, duration = max(0, round(warmup)), max(1, round(duration))
    shift = repeat % len(WEB_SERVERS)
    for label, headers in WEB_LOADS:
        for server, workers in WEB_SERVERS[shift:] + WEB_SERVERS[:shift]:
            sample = measureWeb(wrk, server, workers, headers, warmup, duration)
            web.setdefault(label, {}).setdefault((server, workers), []).append(sample)


def webReport(web):
    """Print the web point's tables: per server and workers, then the ratios."""
    for label, samples in web.items():
        print(
            'web: a "hello world" Site vs gunicorn sync workers, wrk 1 thread x %d conns, %s '
            "(no target)" % (WEB_CONNS, label)
        )
        print(
            "  %-10s %8s %12s %14s %10s %10s"
            % ("server", "workers", "requests/s", "server us/req", "p99 ms", "wrk CPU %")
        )
        for server, workers in WEB_SERVERS:
            points = samples.get((server, workers))
            if not points:
                continue

            def med(key, points=points):
                return formatValue(statistics.median(point[key] for point in points))

            print(
                "  %-10s %8s %12s %14s %10s %10s"
                % (
                    server,
                    workers,
                    med("rate"),
                    med("serverUs"),
                    med("p99"),
                    med("clientShare"),
                )
            )
        for workers in ("1", "2"):
            print(
                "  loom / gunicorn, %s worker%s: requests/s %.2fx, CPU per request %.2fx"
                % (
                    workers,
                    "s" if workers == "2" else "",
                    paired(samples, "rate", ("loom", workers), ("gunicorn", workers)),
                    paired(samples, "serverUs", ("loom", workers), ("gunicorn", workers)),
                )
            )
        for server in ("loom", "gunicorn"):
            print(
                "  %s, 2 workers / 1: requests/s %.2fx"
                % (server, paired(samples, "rate", (server, "2"), (server, "1")))
            )
        print()


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
    each = _ratios(points, "rate", "2", "1")
    print(
        "  2 workers / 1: %.2fx (each repeat: %s)"
        % (statistics.median(each), " ".join("%.2fx" % (ratio,) for ratio in each))
    )
    print()


def _ceilingReport(cpu, machine, seconds):
    """
    Print the machine measurement and each repeat's ceiling of the cpu
    point's 2 workers / 1; return the median ceiling and the median over
    repeats of 2 workers / 1 as a fraction of that repeat's ceiling.
    """
    ratios = [each["ratio"] for each in machine]
    print(
        "machine: the cpu point's per-request work in a tight loop, %.1f s in 1 process alone "
        "and in 2 at once (servers/loom_workers_loop.py)" % (seconds,)
    )
    print(
        "  2 processes / 1: M = %.2fx (each repeat: %s)"
        % (statistics.median(ratios), " ".join("%.2fx" % (ratio,) for ratio in ratios))
    )
    print(
        "ceiling of the cpu point's 2 workers / 1: M * S / (S + C), S and C the server's and "
        "the client's CPU per request with 1 worker"
    )
    limits = ceilings(cpu, machine)
    scalings = _ratios(cpu, "rate", "2", "1")
    fractions = [scaling / limit for scaling, limit in zip(scalings, limits, strict=True)]
    for repeat, one in enumerate(cpu["1"]):
        print(
            "  repeat %d: %.2f * %.0f / (%.0f + %.0f) = %.2fx; 2 workers / 1: %.2fx, %.0f%% of it"
            % (
                repeat + 1,
                ratios[repeat],
                one["serverUs"],
                one["serverUs"],
                one["clientUs"],
                limits[repeat],
                scalings[repeat],
                100 * fractions[repeat],
            )
        )
    ceiling, fraction = statistics.median(limits), statistics.median(fractions)
    print("  median: %.2fx; 2 workers / 1: %.0f%% of it" % (ceiling, 100 * fraction))
    return ceiling, fraction


def _ratios(samples, key, ours, theirs):
    """samples[ours][key] / samples[theirs][key] within each repeat, in order."""
    pairs = zip(samples[ours], samples[theirs], strict=True)
    return [a[key] / b[key] for a, b in pairs]


def paired(samples, key, ours, theirs):
    """Median over repeats of samples[ours][key] / samples[theirs][key] within each repeat."""
    return statistics.median(_ratios(samples, key, ours, theirs))


def main(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=float, default=1.0)
    parser.add_argument("--duration", type=float, default=3.0)
    parser.add_argument("--quick", action="store_true", help="1 repeat, short points")
    parser.add_argument("--no-web", action="store_true", help="skip the web point")
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
    machine = []
    machineSeconds = min(args.duration, MACHINE_SECONDS)
    churn = ["-m", "churn", "-k", str(CPU_INFLIGHT)]
    pingpong = ["-m", "pingpong", "-c"]
    missing = [] if args.no_web else webMissing()
    web = {} if not args.no_web and not missing else None
    for note in missing:
        print("  web point skipped: %s" % (note,), flush=True)
    began = time.monotonic()
    for repeat in range(args.repeats):
        pair = ("1", "2") if repeat % 2 == 0 else ("2", "1")
        for workers in pair:
            cpu[workers].append(measure(client, "cpu", workers, churn, args.warmup, args.duration))
        # Right after the cpu point, which its ceiling is read against: the
        # machine's other users' load changes from one minute to the next.
        machine.append(measureMachine(repeat, machineSeconds))
        for workers in pair:
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
        if web is not None:
            runWeb(shutil.which("wrk"), web, repeat, args.warmup, args.duration)
        print("  repeat %d done (%.0f s)" % (repeat + 1, time.monotonic() - began), flush=True)
    report(cpu, keepalive, echo, machine, machineSeconds)
    if web is not None:
        print()
        webReport(web)
    return 0


def report(cpu, keepalive, echo, machine, machineSeconds):
    """
    Print the tables, the machine's ceiling and the targets.

    :param machine: measureMachine()'s figures, one per repeat.
    :param machineSeconds: how long each machine run lasted.
    """

    def med(samples, key):
        return formatValue(statistics.median(sample[key] for sample in samples))

    print()
    for title, samples in (
        ("cpu: a connection per request, %d in flight" % (CPU_INFLIGHT,), cpu),
        ("cpu, keep-alive: %d conns x 64 B ping-pong (not judged)" % (KEEPALIVE_CONNS,), keepalive),
    ):
        _cpuTable(title, samples, med)
    scaling = paired(cpu, "rate", "2", "1")
    ceiling, fraction = _ceilingReport(cpu, machine, machineSeconds)
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
    print(
        "  beside it (not judged): this machine's ceiling M * S / (S + C) is %.2fx; "
        "2 workers / 1 is %.0f%% of it" % (ceiling, 100 * fraction)
    )
    for workers, ratio in costs.items():
        print(
            "target: server CPU per echo round trip with --workers %s within 5%% of a single "
            "process: %.3fx %s" % (workers, ratio, "PASS" if ratio <= COST_TARGET else "MISS")
        )


if __name__ == "__main__":
    sys.exit(main())
