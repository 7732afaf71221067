"""
benchmarks/bench_tls.py's pieces: the C TLS load generator drives each point
against a real TLS server, the targets of issue 17 item 7 are judged on paired
per-repeat ratios (a server not measured is MISSING, not a crash), and
callgrind's output is summed by library.  No timings are asserted.
"""

import importlib.util
import os

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))


def _benchTls():
    path = os.path.join(ROOT, "benchmarks", "bench_tls.py")
    spec = importlib.util.spec_from_file_location("bench_tls", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", ["loom", "asyncio"])
def test_clientDrivesEveryPointOverTLS(tmp_path, name):
    benchTls = _benchTls()
    client = benchTls.buildClient()
    pem = benchTls.makeCertificate(str(tmp_path / "server.pem"))
    argv = dict(benchTls.peers(True))[name]
    server = benchTls.Server(name, argv, [pem], logName=name + "-tls-test")
    try:
        samples = {
            point: benchTls.measure(client, server, point, 0.05, 0.2) for point in benchTls.POINTS
        }
    finally:
        server.stop()
    # (bulk: measure() raises unless the client went raw, as documented.)
    for sample in samples.values():
        assert sample["rate"] > 0
        assert sample["errors"] == 0
        assert sample["session"].startswith("TLS_")  # a TLS 1.3 suite


def test_driveCountsTheUnitsOfItsPoint(monkeypatch):
    # What a profile divides its costs by: all of the run's handshakes, or
    # the ping-pong's round trips (not the handshakes of its connections).
    benchTls = _benchTls()
    driven = []

    class Server:
        def stopGently(self):
            driven.append("stopped")

    def runClient(client, server, args, warmup, duration):
        driven.append(args)
        return {"handshakes": 100, "count": 5000}

    monkeypatch.setattr(benchTls, "runClient", runClient)
    assert benchTls.drive("client", Server(), 1.0, "handshake") == 100
    assert benchTls.drive("client", Server(), 1.0, "pingpong") == 5000
    assert benchTls.drive("client", Server(), 1.0, "bulk") == 0.005  # MB: bytes / 10^6
    assert driven == [
        benchTls.POINTS["handshake"],
        "stopped",
        benchTls.POINTS["pingpong"],
        "stopped",
        benchTls.POINTS["bulk"],
        "stopped",
    ]


def _results(loom, twisted, asyncio):
    """
    Per-point samples; each argument holds, per repeat, (server CPU per
    handshake, handshakes/s, server CPU per round trip, MB/s), and server CPU
    per MB is 2000 / MB/s (as if every server used a whole core).
    """
    results = {"handshake": {}, "pingpong": {}, "bulk": {}}
    for name, repeats in (("loom", loom), ("twisted", twisted), ("asyncio", asyncio)):
        if repeats is None:
            continue
        results["handshake"][name] = [{"serverUs": r[0], "rate": r[1]} for r in repeats]
        results["pingpong"][name] = [{"serverUs": r[2]} for r in repeats]
        results["bulk"][name] = [{"rate": r[3], "serverUs": 2000 / r[3]} for r in repeats]
    return results


def _verdicts(capsys, results, names):
    missed = _benchTls().checkTargets(results, names)
    out = capsys.readouterr().out
    lines = [line.split()[0] for line in out.splitlines() if line.startswith("  ")]
    return missed, lines


def test_targetsPassOnPairedRatios(capsys):
    # The third repeat is twice as slow for everyone: paired ratios ignore it.
    results = _results(
        loom=[(500, 1100, 10, 600), (510, 1080, 11, 590), (1000, 550, 20, 300)],
        twisted=[(600, 1000, 25, 350), (620, 980, 24, 340), (1200, 500, 50, 180)],
        asyncio=[(650, 900, 12, 500), (640, 910, 12, 520), (1300, 450, 24, 250)],
    )
    missed, lines = _verdicts(capsys, results, ["loom", "twisted", "asyncio"])
    assert (missed, lines) == (0, ["PASS"] * 6)


def test_targetsMiss(capsys):
    results = _results(
        loom=[(700, 900, 15, 400), (710, 890, 15, 410)],
        twisted=[(600, 1000, 25, 350), (620, 980, 24, 340)],
        asyncio=[(650, 900, 12, 500), (640, 910, 12, 520)],
    )
    missed, lines = _verdicts(capsys, results, ["loom", "twisted", "asyncio"])
    assert (missed, lines) == (6, ["MISS"] * 6)


def test_bulkWindowIsTheBlocksInFlight():
    benchTls = _benchTls()
    assert benchTls.POINTS["bulk"] == benchTls.bulkArgs(benchTls.BULK_WINDOW)
    assert benchTls.bulkArgs(64) == ["-m", "bulk", "-s", "65536", "-k", "64"]


def test_onlyThePointsRunAreJudged(capsys):
    # --points bulk: the two targets of that point, nothing MISSING.
    results = _results(
        loom=[(500, 1100, 10, 600)], twisted=[(600, 1000, 25, 350)], asyncio=[(650, 900, 12, 500)]
    )
    results = {"bulk": results["bulk"]}
    missed, lines = _verdicts(capsys, results, ["loom", "twisted", "asyncio"])
    assert (missed, lines) == (0, ["PASS", "PASS"])


def test_loomNotMeasuredIsMissing(capsys):
    results = _results(loom=None, twisted=[(600, 1000, 25, 350)], asyncio=[(650, 900, 12, 500)])
    missed, lines = _verdicts(capsys, results, ["twisted", "asyncio"])
    assert (missed, lines) == (6, ["MISSING"] * 6)


def test_bulkRowsGiveTheMBOneCoreEchoes():
    sample = {"rate": 300.0, "serverUs": 1250.0, "serverUserUs": 800.0}
    sample.update(serverShare=40.0, clientShare=30.0)
    rows = _benchTls().tableRows({"bulk": {"loom": [sample]}}, ["loom"])
    byMetric = {metric.strip(): values for _, metric, values in rows}
    assert byMetric["server CPU ms/MB"] == {"loom": 1.25}
    assert byMetric["MB/CPU-s"] == {"loom": 800.0}


def test_saturationNamesTheBusierSide(capsys):
    results = {
        "bulk": {
            "loom": [{"serverShare": 97.0, "clientShare": 71.0}],
            "twisted": [{"serverShare": 60.0, "clientShare": 99.0}],
        }
    }
    _benchTls().printSaturation(results, ["loom", "twisted", "asyncio"])
    assert capsys.readouterr().out == (
        "Bulk, the busier side: loom server (server 97%, client 71%); "
        "twisted CLIENT (server 60%, client 99%)\n"
    )


CALLGRIND_OUTPUT = """\
events: Ir
ob=(1) /usr/lib/libpython3.11.so.1.0
fl=(1) Python/ceval.c
fn=(1) _PyEval_EvalFrameDefault
10 100
cob=(2) /venv/cryptography/hazmat/bindings/_rust.abi3.so
cfi=(2) ???
cfn=(2) SSL_do_handshake
calls=1 0
11 5000
ob=(2)
fl=(2)
fn=(2)
0 4000
fn=(3) _ZN4core3ptr13drop_in_place17h0123456789abcdefE
+2 30
ob=(3) /lib/x86_64-linux-gnu/libc.so.6
fn=(4) memcpy
* 7
ob=(1)
fn=(1)
12 3
totals: 4140
"""


def test_callgrindCostsBySelfAndLibrary(tmp_path):
    # The 5000 after calls= is SSL_do_handshake's inclusive cost, counted
    # once already as its own lines: only self costs are summed.
    path = tmp_path / "callgrind.out"
    path.write_text(CALLGRIND_OUTPUT)
    assert _benchTls().callgrindSelfCosts(str(path)) == {
        "Python interpreter (all Python code)": 103,
        "OpenSSL (cryptography's bundled copy)": 4000,
        "Rust (cryptography)": 30,
        "libc": 7,
    }
