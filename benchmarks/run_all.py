"""
Run every benchmarks/bench_*.py in turn, each in a fresh process.

Any extra arguments are passed to every benchmark (for example ``--quick``).
Exits non-zero if any benchmark failed, after running all of them.

    python benchmarks/run_all.py [args for each benchmark]
"""

import glob
import os
import subprocess
import sys
import time


def findBenchmarks(directory):
    """Return the bench_*.py files of directory, sorted by name."""
    return sorted(glob.glob(os.path.join(directory, "bench_*.py")))


def runBenchmark(path, args):
    """Run one benchmark file in a new interpreter; return its exit status."""
    print("=== %s" % (os.path.basename(path),), flush=True)
    start = time.monotonic()
    status = subprocess.call([sys.executable, path, *args])
    print(
        "=== %s: exit %d, %.1f s\n" % (os.path.basename(path), status, time.monotonic() - start),
        flush=True,
    )
    return status


def main(argv=None):
    """Run all benchmarks; return 0 if every one exited 0, else 1."""
    args = sys.argv[1:] if argv is None else argv
    directory = os.path.dirname(os.path.abspath(__file__))
    failed = [path for path in findBenchmarks(directory) if runBenchmark(path, args) != 0]
    for path in failed:
        print("FAILED: %s" % (os.path.basename(path),))
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
