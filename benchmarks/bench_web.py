"""
Web benchmark (issue 19 item 9): Loom's protocols.web against twisted.web,
aiohttp and uvicorn (with h11 and with httptools), all driven by the same
load generator, wrk (Debian's package: ``apt-get install wrk``; this
benchmark installs nothing, and without wrk it says so and skips).

wrk runs one thread with 100 keep-alive connections, pinned to one CPU; the
server is pinned to another (the first two CPUs this process may use).
Scenarios:

- (a) hello: GET /hello, a "hello world" resource (14 bytes of text).
- (b) static: GET /static/1MiB.bin, a 1 MiB file of random bytes from each
  server's static file support (Loom's and Twisted's static.File, aiohttp's
  static route; uvicorn has none, so a bare ASGI app reads and sends it in
  64 KiB pieces).
- (c) proxy: GET /hello through a reverse proxy in front of a backend of
  the same framework: Loom's ReverseProxyResource (its pool keeping an idle
  connection per client connection) and Twisted's (a new backend
  connection per request, as Twisted's proxy has no pool).  The backend
  runs on the proxy's CPU, so that wrk keeps its own; the CPU per request
  of each process is measured separately.

Reported per server and scenario: requests/s (wrk's), server CPU per request
(utime+stime of the server process from /proc/PID/stat around the measured
wrk run, divided by wrk's request count), p99 latency (wrk --latency), and
Loom's ratio to each peer.  Every repeat starts all the servers and runs
each scenario on each in turn, the order rotating; the targets are judged on
the median over repeats of Loom's figure / the peer's in the same repeat
(pairedRatio), the ratio of the medians printed beside it.  The servers
share one CPU: a warning names any that used CPU while others were measured.

The uvicorn servers run on asyncio's own loop (not uvloop), as aiohttp,
Twisted and Loom run on their own pure-Python loops.

    python benchmarks/bench_web.py [--repeats N] [--duration S] [--quick]
    python benchmarks/bench_web.py --profile hello   # Loom's server under cProfile
"""

import argparse
import os
import pstats
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _benchlib import (  # noqa: E402
    BUILD,
    PIN,
    SERVERS,
    Server,
    formatValue,
    median,
    pairedRatio,
    raiseFileLimit,
)

STATIC = os.path.join(BUILD, "web-static")
STATIC_NAME = "1MiB.bin"
STATIC_SIZE = 1 << 20
CONNECTIONS = 100

NAMES = ["loom", "twisted", "aiohttp", "uvicorn-h11", "uvicorn-httptools"]
PROXY_NAMES = ["loom", "twisted"]
SCENARIOS = {
    "hello": "/hello",
    "static": "/static/" + STATIC_NAME,
    "proxy": "/hello",
}
LABELS = {
    "hello": "(a) hello world",
    "static": "(b) 1 MiB static file",
    "proxy": "(c) reverse proxy + backend",
}

# (scenario, metric, peer, bound on Loom/peer, higher is better, what is promised).
TARGETS = [
    ("hello", "rate", "twisted", 3.0, True, "(a) Loom requests/s >= 3x twisted.web's"),
    ("hello", "serverUs", "aiohttp", 1.0, False, "(a) Loom server CPU/request <= aiohttp's"),
    (
        "hello",
        "serverUs",
        "uvicorn-httptools",
        1.0,
        False,
        "(a) Loom server CPU/request <= uvicorn+httptools's",
    ),
    (
        "static",
        "rate",
        "twisted",
        2.0,
        True,
        "(b) Loom 1 MiB static requests/s >= 2x twisted.web's",
    ),
]
# (c): the proxy's own CPU per request against its backend's.
PROXY_BOUND = 2.0


# -- servers -------------------------------------------------------------------


def serverArgv(name):
    """(argv, extra arguments after the port) of server name."""
    if name.startswith("uvicorn-"):
        script, extra = "web_uvicorn.py", [name.split("-", 1)[1]]
    else:
        script, extra = "web_%s.py" % (name,), []
    return [sys.executable, os.path.join(SERVERS, script)], extra


def startServer(name, backend=None, env=None):
    """Start server name (a proxy to backend's port when backend is given)."""
    argv, extra = serverArgv(name)
    if backend is not None:
        extra = [str(backend.port)]
    logName = "web-%s%s" % (name, "-proxy" if backend is not None else "")
    return Server(name, argv, extra, logName=logName, env=env)


def available(names):
    """The names whose framework imports here, and a note on each missing one."""
    modules = {
        "twisted": ["twisted.web"],
        "aiohttp": ["aiohttp"],
        "uvicorn-h11": ["uvicorn", "h11"],
        "uvicorn-httptools": ["uvicorn", "httptools"],
    }
    found, missing = [], []
    for name in names:
        if all(importable(module) for module in modules.get(name, [])):
            found.append(name)
        else:
            missing.append("%s (pip install -e '.[bench]')" % (name,))
    return found, missing


def importable(module):
    """Whether module imports in this interpreter."""
    try:
        __import__(module)
    except ImportError:
        return False
    return True


def makeStaticFile(directory=STATIC):
    """Write the 1 MiB file (random bytes) the static scenario fetches, once."""
    os.makedirs(directory, exist_ok=True)
    path = os.path.join(directory, STATIC_NAME)
    if not os.path.exists(path) or os.path.getsize(path) != STATIC_SIZE:
        with open(path, "wb") as target:
            target.write(os.urandom(STATIC_SIZE))
    return path


# -- pinning and CPU -----------------------------------------------------------


def chooseCPUs():
    """(server CPU, wrk CPU): two CPUs this process may run on, or (None, None)."""
    cpus = sorted(os.sched_getaffinity(0))
    if len(cpus) < 2:
        return None, None
    return cpus[1], cpus[0]


def cpuSeconds(pid):
    """utime+stime of process pid so far, in seconds (from /proc/PID/stat)."""
    with open("/proc/%d/stat" % (pid,)) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    ticks = os.sysconf("SC_CLK_TCK")
    return (int(fields[11]) + int(fields[12])) / ticks


# -- wrk -----------------------------------------------------------------------


def findWrk():
    """wrk's path, or None."""
    return shutil.which("wrk")


UNITS = {"us": 1e-3, "ms": 1.0, "s": 1e3, "m": 60e3}


def parseLatency(text):
    """'1.23ms' -> milliseconds."""
    number, unit = re.fullmatch(r"([\d.]+)([a-z]+)", text).groups()
    return float(number) * UNITS[unit]


def parseWrk(output):
    """The figures of wrk --latency's report: requests, rate, p99 (ms), errors."""
    requests = re.search(r"^\s*(\d+) requests in ", output, re.M)
    rate = re.search(r"^Requests/sec:\s*([\d.]+)", output, re.M)
    p99 = re.search(r"^\s*99%\s+(\S+)", output, re.M)
    if not (requests and rate and p99):
        raise RuntimeError("cannot read wrk's output:\n%s" % (output,))
    errors = 0
    bad = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    if bad:
        errors += int(bad.group(1))
    socketErrors = re.search(r"Socket errors: (.*)", output)
    if socketErrors:
        errors += sum(int(count) for count in re.findall(r"\d+", socketErrors.group(1)))
    return {
        "requests": int(requests.group(1)),
        "rate": float(rate.group(1)),
        "p99": parseLatency(p99.group(1)),
        "errors": errors,
    }


def runWrk(wrk, port, path, seconds, cpu, headers=()):
    """
    Run wrk for whole seconds against 127.0.0.1:port/path (on CPU cpu, or
    unpinned when None), sending headers ("Name: value" each) with every
    request; return parseWrk's dict.
    """
    argv = [wrk, "-t1", "-c%d" % CONNECTIONS, "-d%ds" % seconds, "--latency"]
    for header in headers:
        argv += ["-H", header]
    argv.append("http://127.0.0.1:%d%s" % (port, path))
    preexec = None if cpu is None else (lambda: os.sched_setaffinity(0, {cpu}))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.monotonic()
    done = subprocess.run(
        argv, capture_output=True, text=True, timeout=seconds + 60, preexec_fn=preexec
    )
    elapsed = time.monotonic() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if done.returncode != 0:
        raise RuntimeError("wrk failed: %s" % (done.stderr.strip(),))
    result = parseWrk(done.stdout)
    spent = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    result["clientShare"] = 100.0 * spent / elapsed
    return result


def measure(wrk, servers, path, warmup, duration, cpus, others=()):
    """
    Warm up, then drive servers[0] with wrk for duration; return the sample.

    servers: the server wrk talks to, then any behind it (a proxy's backend),
    each of whose CPU per request is in the sample ("serverUs", then
    "backendUs").  others: the servers not measured, whose CPU over the
    run ("othersMs": they share the servers' CPU) should be none.
    """
    serverCPU, wrkCPU = cpus
    if warmup:
        runWrk(wrk, servers[0].port, path, warmup, wrkCPU)
    watched = [*servers, *others]
    before = [cpuSeconds(server.pid) for server in watched]
    result = runWrk(wrk, servers[0].port, path, duration, wrkCPU)
    after = [cpuSeconds(server.pid) for server in watched]
    measured = len(servers)
    theirs = [
        (os.path.basename(other.logPath), 1e3 * (end - start))
        for other, start, end in zip(others, before[measured:], after[measured:], strict=True)
    ]
    busy = ["%s %.0f ms" % (log, ms) for log, ms in theirs if ms > 20 * duration]
    if busy:
        # Another server using the measured ones' CPU skews them: say so.
        print(
            "  warning: other servers used CPU during %s on %s: %s"
            % (servers[0].name, path, ", ".join(busy)),
            flush=True,
        )
    before, after = before[:measured], after[:measured]
    count = max(result["requests"], 1)
    spent = [(end - start) * 1e6 / count for start, end in zip(before, after, strict=True)]
    sample = {
        "rate": result["rate"],
        "p99": result["p99"],
        "errors": result["errors"],
        "serverUs": spent[0],
        "serverShare": (after[0] - before[0]) * 100.0 * result["rate"] / count,
        "clientShare": result["clientShare"],
        "othersMs": sum(ms for _, ms in theirs),
    }
    if len(spent) > 1:
        sample["backendUs"] = spent[1]
        sample["proxyRatio"] = spent[0] / spent[1] if spent[1] else float("nan")
    if result["errors"]:
        print(
            "  warning: %d errors from %s on %s" % (result["errors"], servers[0].name, path),
            flush=True,
        )
    return sample


def startAll(names, proxyNames):
    """Start every server, and each proxy with its backend."""
    started = {"hello": {}, "proxy": {}}
    try:
        for name in names:
            started["hello"][name] = [startServer(name)]
        for name in proxyNames:
            backend = startServer(name)
            started["proxy"][name] = [startServer(name, backend=backend), backend]
    except BaseException:
        stopAll(started)
        raise
    started["static"] = started["hello"]
    return started


def everyServer(started):
    """Every server startAll started (or had started when it failed)."""
    return [
        server
        for key in ("hello", "proxy")
        for servers in started.get(key, {}).values()
        for server in servers
    ]


def stopAll(started):
    """Stop every server startAll started."""
    for server in everyServer(started):
        server.stop()


def runRepeat(wrk, names, proxyNames, repeat, warmup, duration, cpus, results):
    """Start all servers, run each scenario of results on each (order rotating), stop them."""
    direct = names if set(results) - {"proxy"} else []
    started = startAll(direct, proxyNames)
    servers = everyServer(started)
    try:
        for scenario in results:
            path = SCENARIOS[scenario]
            group = proxyNames if scenario == "proxy" else names
            shift = repeat % len(group)
            for name in group[shift:] + group[:shift]:
                measured = started[scenario][name]
                others = [server for server in servers if server not in measured]
                sample = measure(wrk, measured, path, warmup, duration, cpus, others)
                results[scenario].setdefault(name, []).append(sample)
    finally:
        stopAll(started)


# -- the table and the targets -------------------------------------------------


def tableRows(results, names):
    """(scenario label, metric label, {name: value}) rows of medians."""
    rows = []
    for scenario in SCENARIOS:
        samples = results.get(scenario, {})

        def medians(key, samples=samples):
            return {
                name: median(samples[name], key)
                for name in names
                if samples.get(name) and key in samples[name][0]
            }

        label = LABELS[scenario]
        rows.append((label, "requests/s", medians("rate")))
        cpuLabel = "proxy CPU us/request" if scenario == "proxy" else "server CPU us/request"
        rows.append(("", cpuLabel, medians("serverUs")))
        perCore = {name: 1e6 / value for name, value in medians("serverUs").items() if value}
        rows.append(("", "requests/CPU-s", perCore))
        if scenario == "proxy":
            rows.append(("", "backend CPU us/request", medians("backendUs")))
            rows.append(("", "proxy/backend CPU", medians("proxyRatio")))
        rows.append(("", "p99 latency ms", medians("p99")))
        rows.append(("", "server CPU %", medians("serverShare")))
        rows.append(("", "wrk CPU %", medians("clientShare")))
    return rows


def printTable(names, rows):
    """The table, with each peer's figures and their ratio to twisted.web's."""
    header = ["scenario", "metric", *names]
    header += ["%s/twisted" % (name,) for name in names if name != "twisted"]
    table = [header]
    for label, metric, values in rows:
        cells = [formatValue(values[name]) if name in values else "-" for name in names]
        for name in names:
            if name == "twisted":
                continue
            ok = values.get(name) is not None and values.get("twisted")
            cells.append("%.2fx" % (values[name] / values["twisted"]) if ok else "-")
        table.append([label, metric, *cells])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for index, row in enumerate(table):
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(width) for cell, width in zip(row[2:], widths[2:], strict=True)]
        print("  ".join(cells).rstrip())
        if index == 0:
            print("  ".join("-" * width for width in widths))


def checkTargets(results):
    """Print PASS/MISS (or MISSING) for issue 19 item 9's targets; return how many were not met."""
    print("\nTargets (issue 19 item 9), Loom/peer: median of per-repeat ratios (ratio of medians):")
    missed = 0
    for scenario, key, peer, bound, higher, what in TARGETS:
        if scenario not in results:
            print("  (not run: %s)" % (what,))
            continue
        samples = results[scenario]
        if not samples.get("loom") or not samples.get(peer):
            print("  MISSING %s: %s not measured" % (what, peer))
            missed += 1
            continue
        paired = pairedRatio(samples, key, peer)
        ofMedians = median(samples["loom"], key) / median(samples[peer], key)
        ok = paired >= bound if higher else paired <= bound
        missed += not ok
        print(
            "  %-4s %s: %.2fx (%.2fx), bound %.2fx"
            % ("PASS" if ok else "MISS", what, paired, ofMedians, bound)
        )
        if key == "rate" and all("serverUs" in sample for sample in samples["loom"]):
            # What one core of each server does, which a busy machine's
            # stolen CPU does not lower: for information.
            perCore = statistics.median(
                theirs["serverUs"] / ours["serverUs"]
                for ours, theirs in zip(samples["loom"], samples[peer], strict=True)
            )
            print("       (per server CPU-second: %.2fx)" % (perCore,))
        eachRepeat = [
            ours[key] / theirs[key]
            for ours, theirs in zip(samples["loom"], samples[peer], strict=True)
        ]
        print("       (each repeat: %s)" % (_eachRepeat(eachRepeat),))
    what = "(c) Loom proxy CPU/request <= %gx its backend's" % (PROXY_BOUND,)
    if "proxy" not in results:
        print("  (not run: %s)" % (what,))
        return missed
    loom = results["proxy"].get("loom")
    if not loom:
        print("  MISSING %s: not measured" % (what,))
        return missed + 1
    ratio = median(loom, "proxyRatio")
    ok = ratio <= PROXY_BOUND
    print(
        "  %-4s %s: %.2fx (%.1f us / %.1f us)"
        % (
            "PASS" if ok else "MISS",
            what,
            ratio,
            median(loom, "serverUs"),
            median(loom, "backendUs"),
        )
    )
    print("       (each repeat: %s)" % (_eachRepeat(sample["proxyRatio"] for sample in loom),))
    print(
        "       (each repeat's proxy/backend us: %s)"
        % (" ".join("%.1f/%.1f" % (each["serverUs"], each["backendUs"]) for each in loom),)
    )
    return missed + (not ok)


def _eachRepeat(ratios):
    # The ratios a verdict's median is taken of, in the order measured.
    return " ".join("%.2fx" % (ratio,) for ratio in ratios)


# -- profiling -----------------------------------------------------------------


def profile(wrk, scenario, seconds, cpus):
    """Run Loom's server (the proxy, for proxy) under cProfile; print its top functions."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "profile.out")
        env = {"LOOM_BENCH_PROFILE": path}
        backend = startServer("loom") if scenario == "proxy" else None
        server = startServer("loom", backend=backend, env=env)
        try:
            result = runWrk(wrk, server.port, SCENARIOS[scenario], seconds, cpus[1])
        finally:
            server.stopGently()
            if backend is not None:
                backend.stop()
        stats = pstats.Stats(path)
    count = max(result["requests"], 1)
    total = sum(entry[2] for entry in stats.stats.values())
    print(
        "\nLoom %s under cProfile: %d requests, %.1f us of CPU each (cProfile inflates it)"
        % (scenario, count, total * 1e6 / count)
    )
    stats.sort_stats("tottime").print_stats(40)
    stats.sort_stats("cumulative").print_stats(60)


# -- main ----------------------------------------------------------------------


def main(argv=None):
    """Run every scenario on every server, print the table and the verdicts."""
    parser = argparse.ArgumentParser(description="Loom vs twisted.web, aiohttp, uvicorn: HTTP")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--warmup", type=int, default=1, help="seconds of wrk before each point")
    parser.add_argument("--duration", type=int, default=3, help="seconds measured per point")
    parser.add_argument("--quick", action="store_true", help="1 repeat, short points")
    parser.add_argument("--pin", action="store_true", help="accepted for run_all; always pinned")
    parser.add_argument("--only", action="append", help="run only these servers (and loom)")
    parser.add_argument(
        "--scenario", action="append", choices=sorted(SCENARIOS), help="run only these scenarios"
    )
    parser.add_argument(
        "--profile", choices=sorted(SCENARIOS), help="instead: Loom's server under cProfile"
    )
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup, args.duration = 1, 1, 1
    wrk = findWrk()
    if wrk is None:
        print(
            "bench_web: skipped, wrk is not installed: it is the load generator "
            "(Debian/Ubuntu: apt-get install wrk; elsewhere https://github.com/wg/wrk)"
        )
        return 0
    raiseFileLimit()
    makeStaticFile()
    cpus = chooseCPUs()
    PIN["server"] = cpus[0]  # Server's children start there
    if args.profile:
        profile(wrk, args.profile, max(args.duration, 5), cpus)
        return 0
    wanted = NAMES if not args.only else ["loom", *[n for n in NAMES if n in args.only]]
    names, missing = available(wanted)
    proxyNames = [name for name in PROXY_NAMES if name in names]
    where = (
        "server(s) on CPU %d, wrk on CPU %d" % cpus if cpus[0] is not None else "unpinned (one CPU)"
    )
    print(
        "Web benchmark on 127.0.0.1 with %s: 1 thread, %d keep-alive connections; %s.\n"
        "Median of %d repeats, %d s warm-up + %d s measured per point."
        % (wrk, CONNECTIONS, where, args.repeats, args.warmup, args.duration),
        flush=True,
    )
    for note in missing:
        print("  not measured: %s" % (note,))
    results = {scenario: {} for scenario in SCENARIOS if scenario in (args.scenario or SCENARIOS)}
    if "proxy" not in results:
        proxyNames = []
    if set(results) == {"proxy"}:
        names = proxyNames
    started = time.monotonic()
    for repeat in range(args.repeats):
        runRepeat(wrk, names, proxyNames, repeat, args.warmup, args.duration, cpus, results)
        print("  repeat %d done (%.0f s)" % (repeat + 1, time.monotonic() - started), flush=True)
    print()
    printTable(names, tableRows(results, names))
    print(
        "CPU is the server process's utime+stime over the measured run / requests; "
        "(c) runs the backend on the proxy's CPU."
    )
    checkTargets(results)
    print("Total %.0f s" % (time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
