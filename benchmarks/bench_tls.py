"""
TLS benchmark (issue 17 item 7): Loom, Twisted and asyncio TLS echo servers,
driven one after another by the same C load generator (benchmarks/tlsclient.c,
OpenSSL, TLS 1.3).

The servers (benchmarks/servers/): loom_tls.py (Loom's reactor.listenSSL),
twisted_tls.py (Twisted's reactor.listenSSL: its TLSMemoryBIOProtocol over
pyOpenSSL) and asyncio_tls.py (asyncio's own TLS layer over the stdlib ssl
module).  One policy for all (servers/tlscontext.py): TLS 1.3 only, OpenSSL's
default suites and groups (the output names what was negotiated), and one
ECDSA P-256 certificate made with trustme into benchmarks/build/ on each run.
Loom and Twisted get the very same pyOpenSSL Context, so they run the OpenSSL
that cryptography's wheel bundles; asyncio runs the system's, through _ssl.

Points, in the issue's order:

- (a) handshake: HANDSHAKE_INFLIGHT connections in flight, each: connect, a
  full handshake (never resumed), 1 byte echoed (so the server has finished
  its side), close_notify, close.  Reported: handshakes/s and the server's
  CPU per handshake (utime+stime from /proc/PID/stat over the measured
  interval); 1e6 over that is what one core of the server would do.
- (b) ping-pong, 100 connections x 64 B (their handshakes done before the
  measured interval): round trips/s and server CPU per round trip.
- (c) bulk: one connection, the client writing 64 KiB blocks with at most
  BULK_WINDOW of them not yet echoed back; MB/s echoed (10^6 bytes) and
  server CPU per MB.  MB/s measures the server only if the server is the
  one saturated: a client that decrypted the echo through a socket BIO cost
  as much per MB as Loom's server (98% of its core), so tlsclient counts the
  echo from its record headers after the first block and sends in large
  writes (tlsclient.c, "Bulk without the client's limit"), at 0.8 to 0.9
  ms/MB against the servers' 1.1 to 2.6.  The table's server and client
  CPU % show which side was the busier.  On a machine shared with other
  work neither may come near 100%: a server's MB/s then also depends on the
  share of its core it got and on how soon each side was scheduled again,
  which is why (c) is judged on the server's CPU per MB too, as (a) is.

For every repeat all servers are started and each point is run on each in
turn (the order rotating between repeats).  Each target is judged, like
bench_echo's, on the median over repeats of Loom's figure / the peer's in the
same repeat (pairedRatio): on a shared machine the speed drifts between
repeats and moves both sides of a ratio taken seconds apart.

--profile-handshake shows where a server's CPU per handshake goes: under
cProfile (per part of the Python side, and the C calls into OpenSSL), and
under valgrind's callgrind (instructions per handshake per library: OpenSSL,
the interpreter, the cffi glue), the latter as the difference of a short and
a long run so that start-up cancels out.  --profile-point pingpong profiles
the ping-pong point instead: its cost per round trip; --profile-point bulk,
the bulk point: its cost per MB echoed.

    python benchmarks/bench_tls.py [--repeats N] [--duration S] [--quick] [--pin] [--points bulk]
    python benchmarks/bench_tls.py --profile-handshake [--profile-server twisted]
    python benchmarks/bench_tls.py --no-table --profile-handshake callgrind --profile-point pingpong
"""

import argparse
import os
import pstats
import shutil
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from _benchlib import (  # noqa: E402
    BUILD,
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

PEM = os.path.join(BUILD, "tls-server.pem")
OPENSSL_HEADER = "/usr/include/openssl/ssl.h"
NAMES = ["loom", "twisted", "asyncio"]

HANDSHAKE_INFLIGHT = 16
PINGPONG_CONNS, PINGPONG_SIZE = 100, 64
# 8 MiB in flight in bulk: on a machine shared with other work either side
# may wait a few ms to be scheduled, and a deep window keeps the other busy
# meanwhile (with 1 MiB, Loom's server went idle for want of data while both
# sides used a third of their cores; see the bulk point above).
BULK_SIZE, BULK_WINDOW = 65536, 128


def bulkArgs(window):
    """tlsclient's arguments for the bulk point with window blocks in flight."""
    return ["-m", "bulk", "-s", str(BULK_SIZE), "-k", str(window)]


POINTS = {
    "handshake": ["-m", "handshake", "-k", str(HANDSHAKE_INFLIGHT), "-s", "1"],
    "pingpong": ["-m", "pingpong", "-c", str(PINGPONG_CONNS), "-s", str(PINGPONG_SIZE)],
    "bulk": bulkArgs(BULK_WINDOW),
}

# (point, metric, peer, bound on Loom/peer, higher is better, what is promised).
# (a) and (c) twice: what one core of the server does (its CPU per
# handshake, per MB), and the rate measured, which a stall lowers too, and
# on a shared machine the share of its core the server got (bulk: see the
# module docstring).
TARGETS = [
    ("handshake", "serverUs", "twisted", 1.0, False, "(a) Loom server CPU/handshake <= Twisted's"),
    ("handshake", "rate", "twisted", 1.0, True, "(a) Loom handshakes/s >= Twisted's"),
    ("pingpong", "serverUs", "asyncio", 1.0, False, "(b) Loom server CPU/rt <= asyncio's"),
    ("pingpong", "serverUs", "twisted", 0.5, False, "(b) Loom server CPU/rt <= 0.5x Twisted's"),
    ("bulk", "serverUs", "twisted", 1 / 1.5, False, "(c) Loom server CPU/MB <= Twisted's / 1.5"),
    ("bulk", "rate", "twisted", 1.5, True, "(c) Loom MB/s >= 1.5x Twisted's"),
]


def peers(withLoom):
    """Return (name, argv) for each server, Loom first when it can serve TLS."""
    found = [(name, [sys.executable, os.path.join(SERVERS, name + "_tls.py")]) for name in NAMES]
    return found if withLoom else found[1:]


def loomHasTLS():
    """Whether Loom's default reactor has listenSSL (the TLS layer is merged in)."""
    probe = "import sys\nfrom reactor import reactor\nsys.exit(not hasattr(reactor, 'listenSSL'))"
    done = subprocess.run(
        [sys.executable, "-c", probe], cwd=ROOT, env=dict(os.environ, PYTHONPATH=ROOT)
    )
    return done.returncode == 0


# -- setting up ----------------------------------------------------------------


def ensureOpenSSLHeaders():
    """
    Make sure OpenSSL's headers are there for tlsclient.c.

    As root with apt-get, libssl-dev is installed (and said so); otherwise
    SystemExit says what to install.
    """
    if os.path.exists(OPENSSL_HEADER):
        return
    if os.geteuid() != 0 or shutil.which("apt-get") is None:
        raise SystemExit(
            "bench_tls: OpenSSL's headers (%s) are missing; install libssl-dev as root "
            "(apt-get install libssl-dev) to build benchmarks/tlsclient.c" % (OPENSSL_HEADER,)
        )
    print("bench_tls: installing libssl-dev (OpenSSL headers) with apt-get", flush=True)
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    install = ["apt-get", "install", "-y", "-q", "libssl-dev"]
    if subprocess.run(install, env=env).returncode != 0:
        subprocess.run(["apt-get", "update", "-q"], env=env, check=True)
        subprocess.run(install, env=env, check=True)


def buildClient():
    """Build benchmarks/tlsclient.c (linked with -lssl -lcrypto); return its path."""
    ensureOpenSSLHeaders()
    return build("tlsclient", libs=["-lssl", "-lcrypto"], headers=["clientlib.h"])


def makeCertificate(path=PEM):
    """Write a fresh ECDSA P-256 key and certificate (trustme, for 127.0.0.1) to path."""
    try:
        import trustme
    except ImportError:
        raise SystemExit("bench_tls: trustme is needed (pip install -e '.[bench]')") from None
    authority = trustme.CA(key_type=trustme.KeyType.ECDSA)
    leaf = authority.issue_cert("localhost", "127.0.0.1", key_type=trustme.KeyType.ECDSA)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    leaf.private_key_and_cert_chain_pem.write_to_path(path)
    return path


def startServer(name, argv, env=None, serverClass=Server):
    """Start one TLS server on the run's certificate."""
    return serverClass(name, argv, [PEM], logName=name + "-tls", env=env)


def opensslVersions():
    """The OpenSSL that pyOpenSSL (Loom, Twisted) and the ssl module (asyncio) run."""
    import ssl

    from OpenSSL import SSL

    return SSL.SSLeay_version(SSL.SSLEAY_VERSION).decode(), ssl.OPENSSL_VERSION


# -- measuring -----------------------------------------------------------------


def measure(client, server, point, warmup, duration):
    """Run one point against server; return its sample (bulk: rate in MB/s, CPU per MB)."""
    result = runClient(client, server, POINTS[point], warmup, duration)
    sample = summarize(result)
    if point == "bulk":
        if not result.get("raw"):
            raise RuntimeError("the bulk client did not go raw on %s: %r" % (server.name, result))
        sample["rate"] /= 1e6
        sample["serverUs"] *= 1e6
        sample["serverUserUs"] *= 1e6
    sample["session"] = "%s/%s" % (result["cipher"], result["group"])
    return sample


def runRepeat(client, peerList, order, warmup, duration, results):
    """Start every server, run each point of results on each in turn, then stop them."""
    servers = {}
    try:
        for name, argv in peerList:
            servers[name] = startServer(name, argv)
        for point in results:
            for name in order:
                sample = measure(client, servers[name], point, warmup, duration)
                results[point].setdefault(name, []).append(sample)
    finally:
        for server in servers.values():
            server.stop()


# -- the table and the targets -------------------------------------------------


def tableRows(results, names):
    """The rows of printTable: the medians of each point's metrics."""

    def medians(point, key, scale=1.0):
        samples = results[point]
        return {name: median(samples[name], key) * scale for name in names if name in samples}

    rows = []
    for point, label, unit in (
        ("handshake", "(a) handshake, %d in flight" % HANDSHAKE_INFLIGHT, "handshake"),
        ("pingpong", "(b) pingpong %d x %d B" % (PINGPONG_CONNS, PINGPONG_SIZE), "rt"),
        ("bulk", "(c) bulk, 1 conn, %d KiB writes" % (BULK_SIZE // 1024), "MB"),
    ):
        rateLabel = {"handshake": "handshakes/s", "pingpong": "round trips/s"}
        if point not in results:
            continue  # not asked for (--points)
        if point == "bulk":
            rows.append((label, "MB/s echoed", medians(point, "rate")))
            rows.append(("", "server CPU ms/MB", medians(point, "serverUs", 1e-3)))
            rows.append(("", "  of which user", medians(point, "serverUserUs", 1e-3)))
            perCore = {name: 1e6 / value for name, value in medians(point, "serverUs").items()}
            rows.append(("", "MB/CPU-s", perCore))
        else:
            rows.append((label, rateLabel[point], medians(point, "rate")))
            rows.append(("", "server CPU us/%s" % unit, medians(point, "serverUs")))
            rows.append(("", "  of which user", medians(point, "serverUserUs")))
        if point == "handshake":
            perCore = {name: 1e6 / value for name, value in medians(point, "serverUs").items()}
            rows.append(("", "handshakes/CPU-s", perCore))
        rows.append(("", "server CPU %", medians(point, "serverShare")))
        rows.append(("", "client CPU %", medians(point, "clientShare")))
    return rows


def checkTargets(results, names):
    """
    Print PASS/MISS for issue 17 item 7's targets; return the number not met.

    Each is judged on the median of the per-repeat ratios (pairedRatio), the
    ratio of the medians printed beside it.  A target whose servers were not
    measured (Loom without listenSSL) is printed as MISSING and counted.
    """
    print("\nTargets (issue 17 item 7), Loom/peer: median of per-repeat ratios (ratio of medians):")
    missed = 0
    for point, key, peer, bound, higher, what in TARGETS:
        if point not in results:
            continue  # not asked for (--points)
        samples = results[point]
        if not samples.get("loom") or not samples.get(peer) or peer not in names:
            print("  MISSING %s: %s not measured" % (what, "Loom" if peer in samples else peer))
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
    return missed


def printSaturation(results, names):
    """
    Say, for the bulk point, which side used more of its core: its MB/s
    measures the server only where the server did (see the docstring).
    """
    samples = results.get("bulk", {})
    parts = []
    for name in names:
        if not samples.get(name):
            continue
        server, client = median(samples[name], "serverShare"), median(samples[name], "clientShare")
        side = "server" if server >= client else "CLIENT"
        parts.append("%s %s (server %.0f%%, client %.0f%%)" % (name, side, server, client))
    if parts:
        print("Bulk, the busier side: " + "; ".join(parts))


def printSessions(results):
    """Say which cipher and group each server negotiated (they should all agree)."""
    seen = {}
    for samples in results.values():
        for name, runs in samples.items():
            seen.setdefault(name, set()).update(sample["session"] for sample in runs)
    kinds = set().union(*seen.values()) if seen else set()
    if len(kinds) == 1:
        print("Negotiated on every server: TLS 1.3, %s" % (kinds.pop(),))
    else:
        print("Negotiated (servers disagree!): %s" % (seen,))


# -- where the handshake CPU goes ----------------------------------------------


class SlowServer(Server):
    """A server started under valgrind: its interpreter takes a while to listen."""

    startTimeout = 300.0


# What a profile counts its costs per: the point driven, and its unit.
UNITS = {"handshake": "handshake", "pingpong": "round trip", "bulk": "MB"}


def drive(client, server, seconds, point="handshake"):
    """
    Drive point for seconds, then stop the server gently; return the units
    done: handshakes (all of the run's), round trips (pingpong), or MB
    echoed (bulk).
    """
    try:
        result = runClient(client, server, POINTS[point], 0, seconds)
    finally:
        server.stopGently()
    if point == "handshake":
        return result["handshakes"]
    return result["count"] / 1e6 if point == "bulk" else result["count"]


def profileCategory(filename, function):
    """The part of the server a cProfile entry belongs to."""
    if filename == "~":
        if "_openssl." in function or "_cffi_backend" in function:
            return "OpenSSL calls (cffi, pyOpenSSL's)"
        if "_ssl." in function or "SSLObject" in function or "_SSLSocket" in function:
            return "OpenSSL calls (_ssl, asyncio's)"
        if any(word in function for word in ("socket", "epoll", "select", "posix.")):
            return "system calls (socket, epoll, os)"
        return "other built-ins"
    path = os.path.realpath(filename)
    for folder, label in (
        ("reactor", "Loom (reactor/, protocols/)"),
        ("protocols", "Loom (reactor/, protocols/)"),
    ):
        if path.startswith(os.path.join(ROOT, folder) + os.sep):
            return label
    for part, label in (
        ("/OpenSSL/", "pyOpenSSL (Python)"),
        ("/cryptography/", "cryptography (Python)"),
        ("/twisted/", "Twisted (Python)"),
        ("/zope/interface/", "zope.interface (Python)"),
        ("/asyncio/", "asyncio and ssl.py (Python)"),
        ("/ssl.py", "asyncio and ssl.py (Python)"),
    ):
        if part in path:
            return label
    return "other Python"


def profileWithCProfile(client, name, argv, seconds, point="handshake"):
    """Run server name under cProfile for seconds of point; print where the time went."""
    with tempfile.TemporaryDirectory() as directory:
        path = os.path.join(directory, "profile.out")
        server = startServer(name, argv, env={"LOOM_BENCH_PROFILE": path})
        count = drive(client, server, seconds, point)
        if not os.path.exists(path):
            raise RuntimeError("%s wrote no profile:\n%s" % (name, server.tail))
        stats = pstats.Stats(path)
    byCategory, functions = {}, []
    for (filename, line, function), (_, _, selfTime, _, _) in stats.stats.items():
        category = profileCategory(filename, function)
        byCategory[category] = byCategory.get(category, 0.0) + selfTime
        functions.append((selfTime, category, "%s:%d(%s)" % (shortPath(filename), line, function)))
    total = sum(byCategory.values())
    print(
        "\n%s under cProfile: %d %ss, %.0f us of CPU each (cProfile's own cost "
        "inflates the Python side)" % (name, count, UNITS[point], total * 1e6 / count)
    )
    for category, spent in sorted(byCategory.items(), key=lambda item: -item[1]):
        share = 100 * spent / total
        print("  %-38s %8.1f us/unit  %5.1f%%" % (category, spent * 1e6 / count, share))
    print("  the largest self times:")
    for spent, category, where in sorted(functions, reverse=True)[:12]:
        print("    %7.1f us  %-50s [%s]" % (spent * 1e6 / count, where[-50:], category))


def shortPath(filename):
    """filename relative to the repository or to site-packages, for the profile listing."""
    if filename.startswith(ROOT + os.sep):
        return os.path.relpath(filename, ROOT)
    return filename.split("site-packages/")[-1]


def objectCategory(objectPath, function):
    """The part of the server process a callgrind cost belongs to."""
    base = os.path.basename(objectPath)
    if base.startswith("_rust"):
        # cryptography's extension: its own (statically linked) OpenSSL, the
        # cffi functions pyOpenSSL calls, and its Rust code.
        if function.startswith("_cffi_"):
            return "cffi glue (cryptography's _openssl)"
        if function.startswith(("_ZN", "_R")):
            return "Rust (cryptography)"
        return "OpenSSL (cryptography's bundled copy)"
    if base.startswith(("libssl", "libcrypto")):
        return "OpenSSL (system)"
    if base.startswith("_ssl"):
        return "_ssl module (asyncio's glue)"
    if base.startswith(("libpython", "python")):
        return "Python interpreter (all Python code)"
    if base.startswith("libc."):
        return "libc"
    return "other: %s" % (base.split(".")[0],)


def callgrindSelfCosts(path):
    """Instructions (Ir) of a callgrind output file, summed by objectCategory."""
    # Names are compressed: "(3) /usr/lib/libssl.so.3" the first time, "(3)"
    # after; objects, files and functions number theirs separately.
    names = {"ob": {}, "fl": {}, "fn": {}}
    kinds = {"ob": "ob", "cob": "ob", "fn": "fn", "cfn": "fn"}
    kinds.update(dict.fromkeys(("fl", "fi", "fe", "cfi", "cfl"), "fl"))
    current = {"ob": "", "fn": ""}
    costs = {}
    skipNext = False
    with open(path) as lines:
        for line in lines:
            key, equals, value = line.partition("=")
            if skipNext:  # the inclusive cost of a call, after calls=
                skipNext = False
            elif equals and key in kinds:
                table = names[kinds[key]]
                number, _, name = value.strip().partition(" ")
                if name:
                    table[number] = name
                if key in current:
                    compressed = number[:1] == "("
                    current[key] = table.get(number, number) if compressed else value.strip()
            elif key == "calls":
                skipNext = True
            elif line[:1].isdigit() or line[:1] in "+-*":
                fields = line.split()
                if len(fields) > 1:
                    category = objectCategory(current["ob"], current["fn"])
                    costs[category] = costs.get(category, 0) + int(fields[1])
    return costs


def profileWithCallgrind(client, name, argv, short, long, point="handshake"):
    """Instructions per unit of point by library: (long run - short run) / units between."""
    runs = []
    for seconds in (short, long):
        with tempfile.TemporaryDirectory() as directory:
            out = os.path.join(directory, "callgrind.out")
            command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, *argv]
            server = startServer(name, command, serverClass=SlowServer)
            count = drive(client, server, seconds, point)
            runs.append((count, callgrindSelfCosts(out)))
    (shortCount, shortCosts), (longCount, longCosts) = runs
    done = longCount - shortCount
    if done <= 0:
        raise RuntimeError("the longer callgrind run did no more work than the shorter")
    perUnit = {
        category: (longCosts.get(category, 0) - shortCosts.get(category, 0)) / done
        for category in set(longCosts) | set(shortCosts)
    }
    total = sum(perUnit.values())
    unit = UNITS[point]
    print(
        "\n%s under callgrind: %.0f instructions per %s (runs of %d and %d %ss)"
        % (name, total, unit, shortCount, longCount, unit)
    )
    for category, cost in sorted(perUnit.items(), key=lambda item: -item[1]):
        if abs(cost) >= 0.001 * total:
            print("  %-48s %10.0f  %5.1f%%" % (category, cost, 100 * cost / total))


def profileHandshake(client, peerList, args):
    """The --profile-handshake report for each server asked for."""
    available = dict(peerList)
    for name in args.profile_server or ["loom" if "loom" in available else "twisted"]:
        if name not in available:
            print("\n%s: not available to profile" % (name,))
            continue
        point = args.profile_point
        if args.profile_handshake in ("cprofile", "all"):
            profileWithCProfile(client, name, available[name], args.profile_seconds, point)
        if args.profile_handshake in ("callgrind", "all"):
            if shutil.which("valgrind") is None:
                print("\ncallgrind: valgrind is not installed (apt-get install valgrind)")
                continue
            short = args.profile_seconds
            profileWithCallgrind(client, name, available[name], short, 3 * short, point)


# -- main ----------------------------------------------------------------------


def main(argv=None):
    """Build the client, run every point on every server, print the table and the verdicts."""
    parser = argparse.ArgumentParser(description="Loom vs Twisted vs asyncio TLS benchmark")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--warmup", type=float, default=0.5)
    parser.add_argument("--duration", type=float, default=1.5)
    parser.add_argument("--pin", action="store_true", help="servers on CPU 1, client on CPU 0")
    parser.add_argument("--quick", action="store_true", help="1 repeat, short points")
    parser.add_argument(
        "--bulk-window",
        type=int,
        default=BULK_WINDOW,
        help="bulk: 64 KiB blocks in flight (default %(default)s)",
    )
    parser.add_argument(
        "--points",
        nargs="+",
        choices=list(POINTS),
        default=list(POINTS),
        help="the points to run (default: all)",
    )
    parser.add_argument(
        "--profile-handshake",
        nargs="?",
        const="all",
        choices=["cprofile", "callgrind", "all"],
        help="after the table, show where a server's handshake CPU goes",
    )
    parser.add_argument(
        "--profile-point",
        choices=sorted(UNITS),
        default="handshake",
        help="what --profile-handshake drives: handshakes, ping-pong round trips, or bulk MB",
    )
    parser.add_argument(
        "--profile-server", action="append", help="server to profile (default: loom)"
    )
    parser.add_argument(
        "--profile-seconds", type=float, default=5.0, help="handshake load per profiled run"
    )
    parser.add_argument("--no-table", action="store_true", help="only the profile")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats, args.warmup, args.duration = 1, 0.2, 0.5
        args.profile_seconds = min(args.profile_seconds, 2.0)
    if args.pin:
        PIN.update(server=1, client=0)
    POINTS["bulk"] = bulkArgs(args.bulk_window)
    raiseFileLimit()
    client = buildClient()
    makeCertificate()
    withLoom = loomHasTLS()
    peerList = peers(withLoom)
    names = [name for name, _ in peerList]
    loomState = "listenSSL" if withLoom else "MISSING: its reactor has no listenSSL yet"
    print(
        "TLS benchmark on 127.0.0.1: Loom (%s), Twisted (listenSSL) and asyncio (its ssl "
        "layer); TLS 1.3, ECDSA P-256 certificate.\npyOpenSSL (Loom, Twisted): %s; "
        "ssl module (asyncio): %s" % ((loomState,) + opensslVersions()),
        flush=True,
    )
    if not args.no_table:
        print(
            "Median of %d repeats, %.1f s warm-up + %.1f s measured per point; "
            "%d handshakes in flight, bulk window %d x %d KiB"
            % (
                args.repeats,
                args.warmup,
                args.duration,
                HANDSHAKE_INFLIGHT,
                args.bulk_window,
                BULK_SIZE // 1024,
            ),
            flush=True,
        )
    started = time.monotonic()
    if not args.no_table:
        results = {point: {} for point in POINTS if point in args.points}
        for repeat in range(args.repeats):
            order = names[repeat % len(names) :] + names[: repeat % len(names)]
            runRepeat(client, peerList, order, args.warmup, args.duration, results)
            elapsed = time.monotonic() - started
            print("  repeat %d done (%.0f s)" % (repeat + 1, elapsed), flush=True)
        print()
        printTable(NAMES, tableRows(results, names))
        print("Ratios are Loom / peer: higher is better for rates, lower for CPU.")
        printSessions(results)
        printSaturation(results, names)
        checkTargets(results, names)
    if args.profile_handshake:
        profileHandshake(client, peerList, args)
    print("Total %.0f s" % (time.monotonic() - started))
    return 0


if __name__ == "__main__":
    sys.exit(main())
