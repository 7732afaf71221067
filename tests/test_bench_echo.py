"""
benchmarks/bench_echo.py judges issue 15's churn targets (Loom's server CPU per
connection at most 1.25x uvloop's and 0.6x Twisted's) on the median of the
per-repeat ratios, and prints PASS or MISS for each.
"""

import importlib.util
import os

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _benchEcho():
    path = os.path.join(ROOT, "benchmarks", "bench_echo.py")
    spec = importlib.util.spec_from_file_location("bench_echo", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _samples(values):
    return [{"serverUs": value} for value in values]


def _verdicts(capsys, churn):
    benchEcho = _benchEcho()
    names = ["loom", "twisted", "uvloop"]
    missed = benchEcho.checkTargets({("churn",): churn}, None, names)
    lines = [line.strip() for line in capsys.readouterr().out.splitlines() if "churn:" in line]
    return missed, lines


def test_churnTargetsPass(capsys):
    # Each repeat pairs Loom with its peers; the machine's speed drifts from
    # one repeat to the next (the third is twice as slow for everyone).
    churn = {
        "loom": _samples([30, 31, 60]),
        "uvloop": _samples([27, 26, 55]),
        "twisted": _samples([80, 75, 150]),
    }
    missed, lines = _verdicts(capsys, churn)
    assert missed == 0
    assert [line.split()[0] for line in lines] == ["PASS", "PASS"]
    assert "1.25x uvloop's: 1.11x" in lines[0]
    assert "0.60x twisted's: 0.40x" in lines[1]


def test_churnTargetsMiss(capsys):
    churn = {
        "loom": _samples([50, 52, 49]),
        "uvloop": _samples([27, 28, 26]),
        "twisted": _samples([80, 82, 79]),
    }
    missed, lines = _verdicts(capsys, churn)
    assert missed == 2
    assert [line.split()[0] for line in lines] == ["MISS", "MISS"]
