"""
Reactor benchmark: Loom's default reactor against Twisted's, in the same run.

Workloads (each on a fresh reactor per repeat, run with installSignalHandlers=False):

- timers: schedule 100,000 callLater calls with random delays in [0, 10 ms],
  run until all have fired;
- timers-half-cancelled: the same, cancelling every other call right away;
  run until the 50,000 left have fired (calls/s counts all 100,000 scheduled);
- callFromThread: 4 threads make 2,500 calls each (10,000 in total) into a
  running reactor; timed from the threads' start until the last call ran.

Peers are interleaved (Loom, Twisted, Twisted, Loom, ...) and the medians of
the repeats are printed as calls/s with the ratio Loom/Twisted.

    python benchmarks/bench_reactor.py [--repeats N]
"""

import argparse
import gc
import os
import random
import statistics
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

TIMERS = 100_000
THREADS = 4
CALLS_PER_THREAD = 2_500


def loomReactor():
    """A fresh instance of Loom's default reactor."""
    import reactor as loom

    return loom.getReactorClass(loom.defaultReactorName())()


def twistedReactor():
    """A fresh twisted.internet.epollreactor.EPollReactor (no global install)."""
    from twisted.internet.epollreactor import EPollReactor

    return EPollReactor()


def benchTimers(makeReactor, cancelHalf=False, seed=1):
    """Return seconds to schedule TIMERS calls and run until the live ones fired."""
    reactor = makeReactor()
    rng = random.Random(seed)
    delays = [rng.uniform(0, 0.01) for _ in range(TIMERS)]
    remaining = [TIMERS // 2 if cancelHalf else TIMERS]

    def fire():
        remaining[0] -= 1
        if not remaining[0]:
            reactor.stop()

    gc.collect()
    started = time.perf_counter()
    callLater = reactor.callLater
    calls = [callLater(delay, fire) for delay in delays]
    if cancelHalf:
        for call in calls[::2]:
            call.cancel()
    del calls
    reactor.run(installSignalHandlers=False)
    elapsed = time.perf_counter() - started
    assert remaining[0] == 0
    _close(reactor)
    return elapsed


def benchCallFromThread(makeReactor):
    """Return seconds for THREADS threads to deliver their calls to a running reactor."""
    reactor = makeReactor()
    total = THREADS * CALLS_PER_THREAD
    remaining = [total]
    times = {}

    def deliver():
        remaining[0] -= 1
        if not remaining[0]:
            times["end"] = time.perf_counter()
            reactor.stop()

    def send():
        callFromThread = reactor.callFromThread
        for _ in range(CALLS_PER_THREAD):
            callFromThread(deliver)

    threads = [threading.Thread(target=send) for _ in range(THREADS)]

    def start():
        times["start"] = time.perf_counter()
        for thread in threads:
            thread.start()

    reactor.callWhenRunning(start)
    gc.collect()
    reactor.run(installSignalHandlers=False)
    for thread in threads:
        thread.join()
    _close(reactor)
    return times["end"] - times["start"]


def _close(reactor):
    close = getattr(reactor, "close", None)
    if close is not None:
        close()


WORKLOADS = [
    ("timers (100,000 callLater, all fire)", lambda make: TIMERS / benchTimers(make)),
    (
        "timers (100,000 callLater, half cancelled)",
        lambda make: TIMERS / benchTimers(make, cancelHalf=True),
    ),
    (
        "callFromThread (4 threads x 2,500 = 10,000)",
        lambda make: THREADS * CALLS_PER_THREAD / benchCallFromThread(make),
    ),
]


def main(argv=None):
    """Run every workload on both reactors, interleaved, and print the table."""
    parser = argparse.ArgumentParser(description="Loom vs Twisted reactor benchmark")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--quick", action="store_true", help="one repeat, for smoke tests")
    args = parser.parse_args(argv)
    if args.quick:
        args.repeats = 1
    peers = [("loom", loomReactor), ("twisted", twistedReactor)]
    import reactor as loom

    print(
        "Reactor benchmark: Loom %s reactor vs Twisted EPollReactor, median of %d repeats"
        % (loom.defaultReactorName(), args.repeats)
    )
    print("%-45s %14s %14s %8s" % ("workload", "loom calls/s", "twisted calls/s", "ratio"))
    for title, workload in WORKLOADS:
        rates = {name: [] for name, _ in peers}
        for repeat in range(args.repeats):
            order = peers if repeat % 2 == 0 else peers[::-1]
            for name, make in order:
                rates[name].append(workload(make))
        loom, twisted = (statistics.median(rates[name]) for name, _ in peers)
        print("%-45s %14.0f %14.0f %8.2f" % (title, loom, twisted, loom / twisted))
        sys.stdout.flush()


if __name__ == "__main__":
    main()
