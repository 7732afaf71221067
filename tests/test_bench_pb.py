"""
benchmarks/bench_pb.py's pieces: a client process drives each point against
a real PB server (Loom's here), the figures become the table's metrics, and
the targets of issue 21 item 6 are judged on paired per-repeat ratios (a
framework not measured is MISSING, not a crash).  No timings are asserted.
"""

import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _benchPb():
    path = os.path.join(ROOT, "benchmarks", "bench_pb.py")
    spec = importlib.util.spec_from_file_location("bench_pb", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(120)
@pytest.mark.parametrize("peer", ["loom", "twisted"])
def test_clientDrivesEveryPoint(peer):
    benchPb = _benchPb()
    server = benchPb.startServer(peer)
    try:
        samples = {
            point: benchPb.measure(peer, server, point, 0.05, 0.3) for point in benchPb.POINTS
        }
    finally:
        server.stop()
    for sample in samples.values():
        assert sample["rate"] > 0
        assert sample["serverUs"] > 0 and sample["clientUs"] > 0


def test_bulkArgumentIsOneMebibyteOfDistinctChunks():
    chunks = _benchPb().bulkArgument()
    assert sum(map(len, chunks)) == 1024 * 1024
    assert len(set(chunks)) == len(chunks)
    assert max(map(len, chunks)) <= 640 * 1024  # banana's limit on one string


def test_summarizePerCallAndPerMebibyte():
    benchPb = _benchPb()
    raw = {"count": 500, "elapsed": 2.0, "serverCPU": 0.01, "clientCPU": 0.02}
    assert benchPb.summarize("sequential", raw) == pytest.approx(
        {"rate": 250.0, "serverUs": 20.0, "clientUs": 40.0, "perCPU": 500 / 0.03}
    )
    # Each bulk call carries 1 MiB: 500 calls in 2 s are 250 MiB/s.
    assert benchPb.summarize("bulk", raw)["rate"] == 250.0
    assert benchPb.summarize("bulk", raw)["serverUs"] == 20.0


def _results(loom, twisted):
    """
    Per-point samples; each argument holds, per repeat, the three points'
    rates, then the calls per CPU-second of the first two.
    """
    results = {"sequential": {}, "concurrent": {}, "bulk": {}}
    for name, repeats in (("loom", loom), ("twisted", twisted)):
        if repeats is None:
            continue
        for index, point in enumerate(results):
            results[point][name] = [
                {"rate": figures[index], "perCPU": figures[3 + index] if index < 2 else None}
                for figures in repeats
            ]
    return results


def _verdicts(capsys, results, names):
    missed = _benchPb().checkTargets(results, names)
    out = capsys.readouterr().out
    lines = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    return missed, lines


def test_targetsPassOnPairedRatios(capsys):
    # The machine slowed down while Twisted's third repeat ran: judged on
    # the ratio of the medians, (a) would miss (2100 / 1100 < 2).
    results = _results(
        loom=[(4100, 8000, 200, 8000, 24000), (2100, 8100, 210, 8100, 24500)]
        + [(1200, 4000, 100, 7900, 23000)],
        twisted=[(2000, 3900, 50, 3900, 9000), (1000, 4000, 52, 4000, 9100)]
        + [(1100, 1950, 25, 3800, 8900)],
    )
    missed, lines = _verdicts(capsys, results, ["loom", "twisted"])
    assert (missed, lines) == (0, ["PASS"] * 5)


def test_ratesAndCPUAreJudgedApart(capsys):
    # Other work slowed Loom's run: its rates miss, its CPU per call passes.
    results = _results(
        loom=[(1500, 7000, 200, 8000, 24000)], twisted=[(1000, 4000, 50, 3900, 9000)]
    )
    missed, lines = _verdicts(capsys, results, ["loom", "twisted"])
    assert (missed, lines) == (2, ["MISS", "PASS", "MISS", "PASS", "PASS"])


def test_targetsMiss(capsys):
    results = _results(loom=[(1500, 7000, 40, 6000, 15000)], twisted=[(1000, 4000, 50, 3900, 9000)])
    missed, lines = _verdicts(capsys, results, ["loom", "twisted"])
    assert (missed, lines) == (5, ["MISS"] * 5)


def test_frameworkNotMeasuredIsMissing(capsys):
    results = _results(loom=[(2100, 8000, 200, 8000, 24000)], twisted=None)
    missed, lines = _verdicts(capsys, results, ["loom"])
    assert (missed, lines) == (5, ["MISSING"] * 5)


def test_tableShowsMediansAndRatios(capsys):
    benchPb = _benchPb()
    results = {
        point: {
            "loom": [{"rate": 300.0, "serverUs": 10.0, "clientUs": 12.0, "perCPU": 45455.0}],
            "twisted": [{"rate": 100.0, "serverUs": 40.0, "clientUs": 36.0, "perCPU": 13158.0}],
        }
        for point in benchPb.POINTS
    }
    benchPb.printTable(benchPb.NAMES, benchPb.tableRows(results, benchPb.NAMES))
    lines = capsys.readouterr().out.splitlines()
    assert lines[0].split() == ["point", "metric", "loom", "twisted", "loom/twisted"]
    assert lines[2].split()[-4:] == ["calls/s", "300", "100", "3.00x"]
    assert lines[3].split()[-3:] == ["10.0", "40.0", "0.25x"]
    assert lines[5].split()[-4:] == ["CPU-s", "45,455", "13,158", "3.45x"]
    assert lines[10].split()[-4:] == ["MiB/s", "300", "100", "3.00x"]
