"""
benchmarks/bench_workers.py: a measured point runs against a real
``loomd --workers`` and counts the master's workers in the server's CPU,
and the report judges both targets, printing PASS or MISS for each.
"""

import importlib.util
import os
import sys

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
BENCH = os.path.join(ROOT, "benchmarks", "bench_workers.py")


def _bench():
    spec = importlib.util.spec_from_file_location("bench_workers", BENCH)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(120)
def test_aPointWithTwoWorkersCountsBothWorkersCPU():
    bench = _bench()
    client = bench.build("echoclient", headers=["clientlib.h"])
    figures = bench.measure(client, "echo", "2", ["-m", "pingpong", "-c", "20"], 0.1, 0.5)
    assert figures["rate"] > 0 and figures["errors"] == 0
    assert figures["serverUs"] > 0
    # Two workers' CPU measured: the busiest has between half and all of it.
    assert 0.5 <= figures["busiest"] <= 1.0


def test_theReportJudgesBothTargets(capsys):
    bench = _bench()

    def sample(rate, us):
        return {
            "rate": rate,
            "serverUs": us,
            "serverShare": 50.0,
            "clientShare": 2.0,
            "busiest": 0.5,
        }

    cpu = {"1": [sample(1000, 200)], "2": [sample(1800, 205)]}
    keepalive = {"1": [sample(1000, 200)], "2": [sample(1200, 205)]}
    echo = {"single": [sample(9000, 10)], "1": [sample(9000, 10.2)], "2": [sample(15000, 11)]}
    bench.report(cpu, keepalive, echo)
    out = capsys.readouterr().out
    assert "requests/s of 1 on the cpu point: 1.80x PASS" in out
    assert "2 workers / 1: 1.20x" in out  # keep-alive: shown, not judged
    assert "--workers 1 within 5% of a single process: 1.020x PASS" in out
    assert "--workers 2 within 5% of a single process: 1.100x MISS" in out


def test_theScalingRatioOfEachRepeatIsPrinted(capsys):
    bench = _bench()

    def sample(rate):
        return {
            "rate": rate,
            "serverUs": 200,
            "serverShare": 50.0,
            "clientShare": 2.0,
            "busiest": 0.5,
        }

    points = {
        "1": [sample(1000), sample(2000), sample(1000)],
        "2": [sample(1500), sample(3800), sample(1900)],
    }
    bench._cpuTable("cpu", points, lambda samples, key: "-")
    out = capsys.readouterr().out
    assert "2 workers / 1: 1.90x (each repeat: 1.50x 1.90x 1.90x)" in out


def test_theWebReportPrintsEachServerAndTheRatios(capsys):
    bench = _bench()

    def sample(rate, us, p99=5.0):
        return {"rate": rate, "serverUs": us, "p99": p99, "clientShare": 10.0, "errors": 0}

    web = {
        "keep-alive": {
            ("loom", "1"): [sample(8000, 100, 40.0)],
            ("loom", "2"): [sample(14000, 105)],
            ("gunicorn", "1"): [sample(2000, 400)],
            ("gunicorn", "2"): [sample(3500, 420)],
        }
    }
    bench.webReport(web)
    out = capsys.readouterr().out
    assert "keep-alive (no target)" in out
    assert "  loom              1        8,000            100       40.0" in out
    assert "loom / gunicorn, 1 worker: requests/s 4.00x, CPU per request 0.25x" in out
    assert "loom / gunicorn, 2 workers: requests/s 4.00x, CPU per request 0.25x" in out
    assert "loom, 2 workers / 1: requests/s 1.75x" in out
    assert "gunicorn, 2 workers / 1: requests/s 1.75x" in out
    assert "PASS" not in out and "MISS" not in out


def test_theWebPointSaysHowToGetWhatIsMissing(monkeypatch):
    bench = _bench()
    monkeypatch.setattr(bench.shutil, "which", lambda name: None)
    monkeypatch.setitem(sys.modules, "gunicorn", None)
    notes = bench.webMissing()
    assert any("apt-get install wrk" in note for note in notes)
    assert any("pip install -e '.[bench]'" in note for note in notes)
