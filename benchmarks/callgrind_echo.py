"""
Instructions per connection and per echo, counted by valgrind's callgrind:
figures that do not depend on the machine's load, for comparing a change to
the code before it on a shared machine where timings drift.

The server (one of bench_echo's peers) runs under ``valgrind
--tool=callgrind``; the C load generator (benchmarks/echoclient.c) drives it
twice, for a short and a longer time, in the churn mode (4 connections in
flight: connect, 64 B echoed, close) or the ping-pong mode.  The difference
of the two runs' instruction totals divided by the difference of the work
they did is the cost of one unit, with the interpreter's start-up and the
connections' set-up cancelled out.

    python benchmarks/callgrind_echo.py [--server loom] [--mode churn|pingpong]
        [--conns 100] [--short 4] [--long 12] [--baseline OTHER_LOOM_TREE]

Under valgrind a Python server runs some 50 times slower than natively, so
it serves a few hundred connections a second: each run takes tens of
seconds.  Only the server's own process is counted (not the kernel's work).
"""

import argparse
import os
import re
import shutil
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

import bench_echo  # noqa: E402


def countInstructions(client, argv, mode, conns, seconds):
    """Run argv under callgrind, load it for seconds; return (instructions, units done)."""
    with tempfile.TemporaryDirectory() as directory:
        out = os.path.join(directory, "callgrind.out")
        command = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out, *argv]
        server = bench_echo.Server(mode, command)
        try:
            args = ["-m", mode, "-s", "64"]
            args += ["-k", "4"] if mode == "churn" else ["-c", str(conns)]
            result = bench_echo.runClient(client, server, args, 0, seconds)
        finally:
            server.stopGently()
        with open(out) as counts:
            totals = re.search(r"^(?:summary|totals): (\d+)", counts.read(), re.MULTILINE)
        return int(totals.group(1)), result["count"]


def perUnit(client, argv, mode, conns, short, long):
    """Instructions per connection (churn) or per round trip (pingpong)."""
    first = countInstructions(client, argv, mode, conns, short)
    second = countInstructions(client, argv, mode, conns, long)
    units = second[1] - first[1]
    if units <= 0:
        raise RuntimeError("the longer run did no more work than the shorter one")
    return (second[0] - first[0]) / units, first, second


def main(argv=None):
    """Print the instructions per unit of work for each server asked for."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--server", action="append", help="a bench_echo peer (default: loom)")
    parser.add_argument("--mode", choices=["churn", "pingpong"], default="churn")
    parser.add_argument("--conns", type=int, default=100, help="ping-pong connections")
    parser.add_argument("--short", type=float, default=4.0, help="seconds of the short run")
    parser.add_argument("--long", type=float, default=12.0, help="seconds of the long run")
    parser.add_argument("--baseline", help="another Loom tree, as the server loom-base")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("callgrind_echo: valgrind is needed (apt-get install valgrind)")
    bench_echo.raiseFileLimit()
    bench_echo.Server.startTimeout = 300.0  # an interpreter starting under valgrind
    client = bench_echo.build("echoclient", headers=["clientlib.h"])
    available = dict(bench_echo.peers(False, args.baseline))
    unit = "connection" if args.mode == "churn" else "round trip (%d conns)" % (args.conns,)
    for name in args.server or ["loom"]:
        cost, first, second = perUnit(
            client, available[name], args.mode, args.conns, args.short, args.long
        )
        print(
            "%-9s %10.0f instructions per %s  (runs: %d units in %.3g Ir, %d in %.3g Ir)"
            % (name, cost, unit, first[1], first[0], second[1], second[0]),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
