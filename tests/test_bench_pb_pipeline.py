"""
benchmarks/bench_pb_pipeline.py runs: both chains give the right answer
over its latency-adding forwarder, pipelining is negotiated, and it prints
the two times, the ratio and its verdict.  (The figures themselves are
not judged here: that is the benchmark's job.)
"""

import os
import re
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benchmarks", "bench_pb_pipeline.py")


@pytest.mark.timeout(60)
def test_quickRunPrintsTimesAndVerdict():
    done = subprocess.run(
        [sys.executable, BENCH, "--quick", "--latency", "0.01"],
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert done.returncode == 0, done.stderr
    assert "pipelining negotiated: True" in done.stdout
    assert re.search(r"three sequential callRemote +[0-9.]+ ms", done.stdout)
    assert re.search(r"pipelined send\(\) chain +[0-9.]+ ms", done.stdout)
    assert re.search(r"pipelined is [0-9.]+x faster \(target >= 2.5x\): (PASS|MISS)", done.stdout)
