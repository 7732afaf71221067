"""
Echo benchmark: Loom, Twisted, asyncio and uvloop TCP echo servers (and a plain
C epoll echo server as the floor), driven one after another by the same C load
generator (benchmarks/echoclient.c).

Each server is its own subprocess listening on an ephemeral port on 127.0.0.1:
Loom's default reactor (benchmarks/servers/loom_echo.py), Twisted's default
reactor (epoll; servers/twisted_echo.py), asyncio.Protocol on the plain asyncio
loop (servers/asyncio_echo.py), the same on uvloop's loop
(servers/uvloop_echo.py; skipped when uvloop is not installed) and
benchmarks/echoserver.c.  The client and the
C server are compiled with ``cc -O2`` into benchmarks/build/ when missing or
older than their source.

Points:

- ping-pong at (1 conn, 64 B), (100 conns, 64 B), (1000 conns, 64 B) and
  (100 conns, 4 KiB): every connection sends a message, waits for its whole
  echo, sends again.  Reported: round trips/s, the server's own CPU time per
  round trip (utime+stime from /proc/PID/stat, read by the client at the very
  start and end of the measured interval; "of which user" is its utime alone,
  the interpreter's part, the rest being the kernel's socket work) and the
  client's and server's CPU share of one core.  On 2 cores the client is close to saturation, so the
  server's CPU per round trip is the figure that compares fairly.
- churn: CHURN_INFLIGHT (4) connections in flight, each connect, send 64 B,
  read the echo, close; reported as connections/s and server CPU per
  connection: the cost of accepting, serving and closing a connection.
- idle: resident memory per idle connection, (VmRSS with IDLE_CONNS idle
  connections established - VmRSS before) / IDLE_CONNS, on a fresh server.

For every repeat all servers are started, each point is run on each server in
turn (the server order rotating between repeats), and medians are printed with
the ratio of Loom to each peer, then whether the issue's targets are met.

Each target is judged on the median over repeats of Loom's figure divided
by the peer's figure *in the same repeat* (pairedRatio): on a shared VM the
machine's speed drifts by tens of per cent between repeats, and it moves
both sides of a ratio taken within seconds.

    python benchmarks/bench_echo.py [--repeats N] [--duration S] [--quick]
    python benchmarks/bench_echo.py --churn-only --repeats 9   # the churn point alone
    python benchmarks/bench_echo.py --baseline ../old-loom     # add another Loom tree
"""

import argparse
import importlib.util
import os
import select
import statistics
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _benchlib import (  # noqa: E402
    BUILD,
    FILE_LIMIT,
    PIN,
    ROOT,
    SERVERS,
    Server,
    build,
    median,
    pairedRatio,
    printTable,
    raiseFileLimit,
    runClient,
    summarize,
)

sys.path.insert(0, ROOT)

CHURN_INFLIGHT = 4
IDLE_CONNS = 10_000

PINGPONG_POINTS = [(1, 64), (100, 64), (1000, 64), (100, 4096)]
TARGET_POINTS = [(100, 64), (1000, 64)]
# Issue 15: Loom's server CPU per churned connection against these peers'.
CHURN_TARGETS = [("uvloop", 1.25), ("twisted", 0.6)]


def peers(withC, baseline=None):
    """
    Return (name, argv) for each server, Loom first.

    :param baseline: another Loom source tree, run as the peer "loom-base"
        (to compare a change against the code before it, repeat by repeat).
    """
    python = sys.executable
    found = [
        ("loom", [python, os.path.join(SERVERS, "loom_echo.py")]),
        ("twisted", [python, os.path.join(SERVERS, "twisted_echo.py")]),
        ("asyncio", [python, os.path.join(SERVERS, "asyncio_echo.py")]),
    ]
    if importlib.util.find_spec("uvloop") is not None:
        found.append(("uvloop", [python, os.path.join(SERVERS, "uvloop_echo.py")]))
    if baseline is not None:
        server = os.path.join(os.path.abspath(baseline), "benchmarks", "servers", "loom_echo.py")
        found.append(("loom-base", [python, server]))
    if withC:
        found.append(("C", [os.path.join(BUILD, "echoserver")]))
    return found


# -- running the client --------------------------------------------------------


def measurePingPong(client, server, conns, size, warmup, duration):
    """Return a dict of rate, server CPU µs per round trip and CPU shares."""
    result = runClient(
        client, server, ["-m", "pingpong", "-c", str(conns), "-s", str(size)], warmup, duration
    )
    return summarize(result)


def measureChurn(client, server, warmup, duration, inflight=CHURN_INFLIGHT):
    """Return a dict of connections/s and server CPU µs per connection."""
    args = ["-m", "churn", "-k", str(inflight), "-s", "64"]
    return summarize(runClient(client, server, args, warmup, duration))


def measureIdle(client, name, argv, conns):
    """Start a fresh server, open conns idle connections; return RSS bytes per connection."""
    server = Server(name, argv)
    try:
        time.sleep(0.2)
        before = server.rss()
        holder = subprocess.Popen(
            [client, "-m", "idle", "-p", str(server.port), "-c", str(conns), "-k", "200"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        try:
            ready, _, _ = select.select([holder.stdout], [], [], 120)
            line = holder.stdout.readline() if ready else ""
            if not line.startswith("ready "):
                raise RuntimeError(
                    "idle client failed on %s: %r\n%s" % (name, line, server.logTail())
                )
            time.sleep(0.2)
            after = server.rss()
        finally:
            holder.stdin.close()
            holder.wait(timeout=30)
        return {"bytesPerConn": (after - before) / conns}
    finally:
        server.stop()


# -- the table -----------------------------------------------------------------


def printPairedChurn(samples, names):
    """Print, for the churn point, each peer's per-repeat ratios and their median."""
    print("\nchurn, server CPU/conn, Loom/peer in each repeat (median):")
    for peer in names:
        if peer == "loom":
            continue
        ratios = [
            ours["serverUs"] / theirs["serverUs"]
            for ours, theirs in zip(samples["loom"], samples[peer], strict=True)
        ]
        print(
            "  %-9s %s  (%.2fx)"
            % (peer, " ".join("%.2f" % r for r in ratios), statistics.median(ratios))
        )


def checkTargets(results, memory, names):
    """
    Print PASS/MISS for the issues' targets; return the number missed.

    Each ratio target is judged on the median of the per-repeat ratios
    (pairedRatio); the ratio of the medians, as in the table, is printed
    beside it.
    """
    checks = []
    for conns, size in TARGET_POINTS:
        samples = results.get(("pingpong", conns, size))
        if not samples:
            continue
        label = "%d conns x %d B" % (conns, size)
        for peer, key, bound, what in (
            ("asyncio", "serverUs", 1.0, "server CPU/rt <= asyncio's"),
            ("C", "serverUs", 1.25, "server CPU/rt <= 1.25x C server's"),
            ("twisted", "rate", 2.0, "round trips/s >= 2x Twisted's"),
        ):
            if peer not in names:
                continue
            paired = pairedRatio(samples, key, peer)
            ofMedians = median(samples["loom"], key) / median(samples[peer], key)
            ok = paired >= bound if key == "rate" else paired <= bound
            checks.append(("%s: Loom %s" % (label, what), ok, paired, ofMedians, bound))
    samples = results.get(("churn",))
    for peer, bound in CHURN_TARGETS:
        if samples and peer in names:
            paired = pairedRatio(samples, "serverUs", peer)
            ofMedians = median(samples["loom"], "serverUs") / median(samples[peer], "serverUs")
            what = "churn: Loom server CPU/conn <= %.2fx %s's" % (bound, peer)
            checks.append((what, paired <= bound, paired, ofMedians, bound))
    if memory and memory.get("twisted"):
        ours = statistics.median(memory["loom"])
        ratio = ours / statistics.median(memory["twisted"])
        checks.append(("idle: Loom bytes/conn <= 0.5x Twisted's", ratio <= 0.5, ratio, ratio, 0.5))
    print("\nTargets (issues 4, 15), Loom/peer: median of per-repeat ratios (ratio of medians):")
    for label, ok, paired, ofMedians, bound in checks:
        print(
            "  %-4s %s: %.2fx (%.2fx), bound %.2fx"
            % ("PASS" if ok else "MISS", label, paired, ofMedians, bound)
        )
    return sum(not ok for _, ok, *_ in checks)


# -- main ----------------------------------------------------------------------


def runRepeat(client, peerList, order, warmup, duration, results, *, pingpong=True, inflight):
    """Start every server, run each ping-pong and churn point on each in turn."""
    servers = {}
    try:
        for name, argv in peerList:
            servers[name] = Server(name, argv)
        for conns, size in PINGPONG_POINTS if pingpong else ():
            for name in order:
                sample = measurePingPong(client, servers[name], conns, size, warmup, duration)
                results[("pingpong", conns, size)].setdefault(name, []).append(sample)
        for name in order:
            sample = measureChurn(client, servers[name], warmup, duration, inflight)
            results[("churn",)].setdefault(name, []).append(sample)
    finally:
        for server in servers.values():
            server.stop()


def main(argv=None):
    """Build the client, run every point on every server, print the table."""
    parser = argparse.ArgumentParser(description="Loom vs Twisted vs asyncio echo benchmark")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=1.5)
    parser.add_argument("--idle-conns", type=int, default=IDLE_CONNS)
    parser.add_argument("--no-c-server", action="store_true", help="skip the C floor")
    parser.add_argument("--pin", action="store_true", help="servers on CPU 1, client on CPU 0")
    parser.add_argument("--quick", action="store_true", help="1 repeat, short points")
    parser.add_argument(
        "--churn-only", action="store_true", help="only the churn point (no ping-pong, no idle)"
    )
    parser.add_argument(
        "--churn-inflight", type=int, default=CHURN_INFLIGHT, help="connections in flight"
    )
    parser.add_argument("--baseline", help="another Loom tree, measured as the peer loom-base")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup, args.duration = 1, 0.2, 0.5
        args.idle_conns = min(args.idle_conns, 2000)
    if args.pin:
        PIN.update(server=1, client=0)
    raiseFileLimit(max(FILE_LIMIT, args.idle_conns + 1000))
    client = build("echoclient", headers=["clientlib.h"])
    withC = not args.no_c_server
    if withC:
        build("echoserver")
    peerList = peers(withC, args.baseline)
    names = [name for name, _ in peerList]
    import reactor as loom

    print(
        "Echo benchmark on 127.0.0.1: Loom (%s reactor), Twisted (default reactor), asyncio "
        "(asyncio.Protocol)%s%s; median of %d repeats, %.1f s warm-up + %.1f s measured per point"
        % (
            loom.defaultReactorName(),
            ", uvloop" if "uvloop" in names else "",
            ", C epoll server" if withC else "",
            args.repeats,
            args.warmup,
            args.duration,
        ),
        flush=True,
    )
    points = [] if args.churn_only else PINGPONG_POINTS
    results = {("pingpong", conns, size): {} for conns, size in points}
    results[("churn",)] = {}
    memory = {name: [] for name in names}
    started = time.monotonic()
    for repeat in range(args.repeats):
        order = names[repeat % len(names) :] + names[: repeat % len(names)]
        runRepeat(
            client,
            peerList,
            order,
            args.warmup,
            args.duration,
            results,
            pingpong=not args.churn_only,
            inflight=args.churn_inflight,
        )
        for name in order if not args.churn_only else ():
            memory[name].append(
                measureIdle(client, name, dict(peerList)[name], args.idle_conns)["bytesPerConn"]
            )
        print("  repeat %d done (%.0f s)" % (repeat + 1, time.monotonic() - started), flush=True)
    rows = []
    for conns, size in points:
        samples = results[("pingpong", conns, size)]
        sizeLabel = "%d B" % size if size < 1024 else "%d KiB" % (size // 1024)
        label = "pingpong %d x %s" % (conns, sizeLabel)
        rows.append((label, "round trips/s", {n: median(samples[n], "rate") for n in names}))
        rows.append(("", "server CPU us/rt", {n: median(samples[n], "serverUs") for n in names}))
        rows.append(("", "  of which user", {n: median(samples[n], "serverUserUs") for n in names}))
        rows.append(("", "server CPU %", {n: median(samples[n], "serverShare") for n in names}))
        rows.append(("", "client CPU %", {n: median(samples[n], "clientShare") for n in names}))
    samples = results[("churn",)]
    label = "churn (%d in flight)" % args.churn_inflight
    rows.append((label, "connections/s", {n: median(samples[n], "rate") for n in names}))
    rows.append(("", "server CPU us/conn", {n: median(samples[n], "serverUs") for n in names}))
    rows.append(("", "  of which user", {n: median(samples[n], "serverUserUs") for n in names}))
    rows.append(("", "server CPU %", {n: median(samples[n], "serverShare") for n in names}))
    rows.append(("", "client CPU %", {n: median(samples[n], "clientShare") for n in names}))
    if not args.churn_only:
        rows.append(
            (
                "idle %d conns" % args.idle_conns,
                "RSS bytes/conn",
                {n: statistics.median(memory[n]) for n in names},
            )
        )
    print()
    printTable(names, rows)
    errors = sum(s["errors"] for point in results.values() for ss in point.values() for s in ss)
    if errors:
        print("\nclient-side errors (churn connects refused/reset): %d" % errors)
    print("Ratios are Loom / peer: higher is better for rates, lower for CPU and memory.")
    if len(results[("churn",)]["loom"]) > 1:
        printPairedChurn(results[("churn",)], names)
    checkTargets(results, memory if not args.churn_only else None, names)
    print("Total %.0f s" % (time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
