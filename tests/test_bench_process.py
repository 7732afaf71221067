"""
benchmarks/bench_process.py: its measured runs work (Loom's and asyncio's,
briefly), and it judges issue 18's targets on the median of the per-repeat
ratios, printing PASS or MISS for each.
"""

import importlib.util
import json
import os
import subprocess
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benchmarks", "bench_process.py")


def _benchProcess():
    spec = importlib.util.spec_from_file_location("bench_process", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(120)
@pytest.mark.parametrize("peer", ["loom", "asyncio"])
@pytest.mark.parametrize("point, count, size", [("spawn", 12, 0), ("read", 0, 3 * 1024 * 1024)])
def test_aMeasuredRunReportsItsFigures(peer, point, count, size):
    done = subprocess.run(
        [sys.executable, BENCH, "--run", peer, point, str(count), str(size)],
        capture_output=True,
        text=True,
        timeout=100,
    )
    assert done.returncode == 0, done.stderr
    figures = json.loads(done.stdout.splitlines()[-1])
    assert figures["elapsed"] > 0 and figures["ownCPU"] > 0
    if point == "spawn":
        assert figures["childCPU"] > 0  # the children were reaped in the measured window


def _samples(rates):
    return [{"rate": rate, "parentUs": 100.0, "childUs": 500.0} for rate in rates]


def _verdicts(capsys, results):
    missed = _benchProcess().checkTargets(results, ["loom", "twisted", "asyncio"])
    lines = [line.strip() for line in capsys.readouterr().out.splitlines()]
    return missed, [line for line in lines if line.startswith(("PASS", "MISS"))]


def test_targetsJudgedOnPairedRatios(capsys):
    # The third repeat is twice as slow for everyone: paired ratios ignore it.
    results = {
        "spawn": {
            "loom": _samples([1600, 1500, 800]),
            "twisted": _samples([1000, 1000, 500]),
            "asyncio": _samples([900, 1100, 450]),
        },
        "read": {
            "loom": _samples([2000, 2100, 1000]),
            "twisted": _samples([1000, 1000, 500]),
            "asyncio": _samples([1000, 1000, 500]),
        },
    }
    missed, lines = _verdicts(capsys, results)
    assert missed == 0
    assert [line.split()[0] for line in lines] == ["PASS"] * 4
    assert "spawn: Loom's spawns/s >= 1.5x twisted's: 1.60x" in lines[0]


def test_targetsMissed(capsys):
    results = {
        "spawn": {
            "loom": _samples([1100, 1200, 1150]),
            "twisted": _samples([1000, 1000, 1000]),
            "asyncio": _samples([1200, 1300, 1250]),
        },
        "read": {
            "loom": _samples([2000]),
            "twisted": _samples([1000]),
            "asyncio": _samples([1000]),
        },
    }
    missed, lines = _verdicts(capsys, results)
    assert missed == 2
    assert [line.split()[0] for line in lines] == ["MISS", "MISS", "PASS", "PASS"]
