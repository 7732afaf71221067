"""
Starts benchmarks/servers/loom_workers.tac under ``loomd -n``, for
benchmarks/bench_workers.py: ``loom_workers.py PORT MODE WORKERS``, WORKERS
being a number for ``--workers`` or ``single`` for one plain process.  The
process execs loomd, so its pid is the master's (or the single daemon's).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(os.path.dirname(HERE))


def main():
    """Exec loomd on the benchmark's .tac."""
    port, mode, workers = sys.argv[1], sys.argv[2], sys.argv[3]
    os.environ.update(BENCH_PORT=port, BENCH_MODE=mode)
    log = os.path.join(ROOT, "benchmarks", "build", "loomd-workers-%s-%s.log" % (mode, workers))
    argv = [sys.executable, os.path.join(ROOT, "bin", "loomd"), "-n", "-y"]
    argv += [os.path.join(HERE, "loom_workers.tac"), "--pidfile", "", "-l", log]
    if workers != "single":
        argv += ["--workers", workers]
    os.execv(sys.executable, argv)


if __name__ == "__main__":
    main()
