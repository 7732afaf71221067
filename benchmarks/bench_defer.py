"""
Deferred throughput: Loom's reactor.defer against Twisted's, in one process.

Workloads:
  a. create a Deferred, add 3 callbacks, fire it;
  b. "10 deep": a Deferred whose 10 callbacks each return an already-fired
     Deferred (succeed(result));
  c. an inlineCallbacks function yielding 1,000 already-fired Deferreds.

Loom and Twisted rounds are interleaved, each round times a fixed number of
operations (in process CPU time), and the table shows the median ops/s of all
rounds.

    python benchmarks/bench_defer.py [--rounds N] [--quick]
"""

import argparse
import os
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

import twisted.internet.defer  # noqa: E402

import reactor.defer  # noqa: E402


def _identity(result):
    return result


def _check(d, expected):
    # Once per round: a benchmark that silently failed would time nothing.
    if d.result != expected:
        raise AssertionError("benchmark got %r, expected %r" % (d.result, expected))


def makeCreateAddFire(defer):
    """Workload a: create, add 3 callbacks, fire."""
    Deferred = defer.Deferred

    def run(n):
        for i in range(n):
            d = Deferred()
            d.addCallback(_identity)
            d.addCallback(_identity)
            d.addCallback(_identity)
            d.callback(i)
        _check(d, n - 1)

    return run


def makeTenDeep(defer):
    """Workload b: 10 callbacks, each returning an already-fired Deferred."""
    Deferred = defer.Deferred
    succeed = defer.succeed

    def run(n):
        for i in range(n):
            d = Deferred()
            for _ in range(10):
                d.addCallback(succeed)
            d.callback(i)
        _check(d, n - 1)

    return run


def makeInlineCallbacks(defer):
    """Workload c: an inlineCallbacks function yielding 1,000 fired Deferreds."""
    succeed = defer.succeed

    @defer.inlineCallbacks
    def thousand():
        total = 0
        for i in range(1000):
            total += yield succeed(i)
        return total

    def run(n):
        for _ in range(n):
            d = thousand()
        _check(d, sum(range(1000)))

    return run


WORKLOADS = [
    ("a. create + 3 callbacks + fire", makeCreateAddFire, 20000),
    ("b. 10 deep (succeed)", makeTenDeep, 5000),
    ("c. inlineCallbacks x1000 fired", makeInlineCallbacks, 20),
]


def timeRound(run, n):
    """
    Return ops/s for one round of n operations.

    CPU time of this process, not wall time: the work is single-threaded and
    never waits, and on a shared machine wall time also counts the moments
    another process had the CPU.
    """
    start = time.process_time()
    run(n)
    return n / (time.process_time() - start)


def measure(rounds, scale):
    """Return [(name, loomSamples, twistedSamples)] (ops/s) for every workload."""
    rows = []
    for name, make, n in WORKLOADS:
        n = max(1, int(n * scale))
        peers = {
            "loom": make(reactor.defer),
            "twisted": make(twisted.internet.defer),
        }
        for run in peers.values():
            run(max(1, n // 10))  # warm up
        samples = {"loom": [], "twisted": []}
        for i in range(rounds):
            # Alternate which peer goes first, so drift hurts both alike.
            order = ("loom", "twisted") if i % 2 == 0 else ("twisted", "loom")
            for peer in order:
                samples[peer].append(timeRound(peers[peer], n))
        rows.append((name, samples["loom"], samples["twisted"]))
    return rows


def printTable(rows):
    """
    Print workload, median Loom and Twisted ops/s and their ratio; and, as a
    check on noise, the ratio of each peer's best round.
    """
    header = ("workload", "Loom ops/s", "Twisted ops/s", "ratio", "best/best")
    print("%-34s %14s %14s %8s %10s" % header)
    for name, loomSamples, twistedSamples in rows:
        loomRate = statistics.median(loomSamples)
        twistedRate = statistics.median(twistedSamples)
        best = max(loomSamples) / max(twistedSamples)
        print(
            "%-34s %14.0f %14.0f %7.2fx %9.2fx"
            % (name, loomRate, twistedRate, loomRate / twistedRate, best)
        )


def main(argv=None):
    """Run the benchmark and print its table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[1])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--quick", action="store_true", help="tiny run, for smoke tests")
    args = parser.parse_args(argv)
    scale = 0.05 if args.quick else 1.0
    print("Deferred benchmark: median of %d interleaved rounds" % (args.rounds,))
    printTable(measure(args.rounds, scale))


if __name__ == "__main__":
    main()
