"""
What the C-client benchmarks share (bench_echo.py, bench_tls.py,
callgrind_echo.py): building a C program into benchmarks/build/, starting a
server subprocess that announces "port=N", running a C load generator
against it and parsing its "result k=v ..." line, and the table of medians
with Loom's ratio to each peer, judged on paired per-repeat ratios.
"""

import os
import resource
import select
import shutil
import signal
import statistics
import subprocess
import threading

HERE = os.path.dirname(os.path.abspath(__file__))
BUILD = os.path.join(HERE, "build")
SERVERS = os.path.join(HERE, "servers")
ROOT = os.path.dirname(HERE)

# With --pin: servers run on CPU 1, the client on CPU 0 (steadier, dearer wake-ups).
PIN = {"server": None, "client": None}
FILE_LIMIT = 65_536


# -- building ------------------------------------------------------------------


def build(name, libs=(), headers=()):
    """
    Compile benchmarks/NAME.c to benchmarks/build/NAME if missing or stale; return its path.

    :param libs: linker flags (``-lssl``), after the source.
    :param headers: benchmarks/ files the source includes: a change to one rebuilds.
    """
    source = os.path.join(HERE, name + ".c")
    target = os.path.join(BUILD, name)
    inputs = [source, *(os.path.join(HERE, header) for header in headers)]
    if os.path.exists(target) and all(
        os.path.getmtime(target) >= os.path.getmtime(path) for path in inputs
    ):
        return target
    compiler = os.environ.get("CC", "cc")
    if shutil.which(compiler) is None:
        raise SystemExit("benchmarks: a C compiler (%s) is needed to build %s" % (compiler, name))
    os.makedirs(BUILD, exist_ok=True)
    subprocess.run([compiler, "-O2", "-std=c99", "-o", target, source, *libs], check=True)
    return target


def raiseFileLimit(wanted=FILE_LIMIT):
    """Raise RLIMIT_NOFILE (soft, and hard when root) so children inherit it."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft >= wanted:
        return
    if hard < wanted:
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, wanted))
            return
        except (ValueError, OSError):
            wanted = hard
    resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, hard))


def pinner(role):
    """A preexec_fn pinning a child to its CPU when --pin was given, else None."""
    cpu = PIN[role]
    if cpu is None:
        return None
    return lambda: os.sched_setaffinity(0, {cpu})


def _serverStart(role):
    """
    The preexec_fn of a server: SIGINT back to its default, then pinned as
    pinner(role) says.  A shell running this in the background (``cmd &``
    in a script) makes its children ignore SIGINT; a server inheriting
    that would never stop on stopGently's SIGINT, and be killed after its
    timeout with its profile (or callgrind_web's counts) lost.
    """
    pin = pinner(role)

    def start():
        signal.signal(signal.SIGINT, signal.SIG_DFL)
        if pin is not None:
            pin()

    return start


# -- servers -------------------------------------------------------------------


class Server:
    """
    One server subprocess, started on an ephemeral port.

    It is run as ``argv + ["0"] + extraArgs`` and must print "port=N" on
    stdout once listening; its stderr goes to benchmarks/build/server-LOGNAME.log.
    """

    startTimeout = 20.0  # seconds to wait for its "port=N" line
    tail = ""  # the end of its log, once stopped

    def __init__(self, name, argv, extraArgs=(), logName=None, env=None):
        self.name = name
        self.logPath = os.path.join(BUILD, "server-%s.log" % (logName or name,))
        os.makedirs(BUILD, exist_ok=True)
        self.log = open(self.logPath, "wb")
        env = dict(os.environ, PYTHONPATH=ROOT, **(env or {}))
        self.process = subprocess.Popen(
            [*argv, "0", *extraArgs],
            stdout=subprocess.PIPE,
            stderr=self.log,
            cwd=ROOT,
            env=env,
            preexec_fn=_serverStart("server"),
        )
        self.pid = self.process.pid
        self.port = self._readPort()
        threading.Thread(target=self._drain, daemon=True).start()

    def _readPort(self):
        ready, _, _ = select.select([self.process.stdout], [], [], self.startTimeout)
        line = self.process.stdout.readline().decode() if ready else ""
        if not line.startswith("port="):
            self.stop()
            raise RuntimeError("%s server did not start: %r\n%s" % (self.name, line, self.tail))
        return int(line.strip().split("=")[1])

    def _drain(self):
        for line in self.process.stdout:
            self.log.write(line)

    def rss(self):
        """The server's resident set size in bytes (VmRSS)."""
        with open("/proc/%d/status" % (self.pid,)) as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) * 1024
        raise RuntimeError("no VmRSS for %s" % (self.name,))

    def logTail(self):
        """The last lines the server wrote to stderr."""
        self.log.flush()
        with open(self.logPath, "rb") as log:
            return log.read()[-2000:].decode(errors="replace")

    def stopGently(self, timeout=120):
        """SIGINT the server (a profiler then writes its output), wait; kill it if it lingers."""
        self.process.send_signal(signal.SIGINT)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        self.tail = self.logTail()
        self.log.close()

    def stop(self):
        """Kill the server and wait for it."""
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(timeout=10)
        self.tail = self.logTail()
        self.log.close()


# -- running the client --------------------------------------------------------


def parseResult(line):
    """Turn 'result k=v k=v ...' into a dict of floats (words such as mode=churn stay strings)."""
    fields = dict(item.split("=", 1) for item in line.split()[1:])
    return {key: _number(value) for key, value in fields.items()}


def _number(value):
    try:
        return float(value)
    except ValueError:
        return value


def runClient(client, server, args, warmup, duration):
    """Run the client against server; return its parsed result line."""
    argv = [client, "-p", str(server.port), "-P", str(server.pid), "-w", str(warmup)]
    argv += ["-d", str(duration), *args]
    done = subprocess.run(
        argv,
        capture_output=True,
        text=True,
        timeout=warmup + duration + 60,
        preexec_fn=pinner("client"),
    )
    lines = [line for line in done.stdout.splitlines() if line.startswith("result ")]
    if done.returncode != 0 or not lines:
        raise RuntimeError(
            "client failed on %s (%s): %s\nserver log:\n%s"
            % (server.name, " ".join(args), done.stderr.strip(), server.logTail())
        )
    return parseResult(lines[-1])


def summarize(result):
    """Rates and per-item CPU from a client result."""
    count, elapsed = result["count"], result["elapsed"]
    return {
        "rate": count / elapsed,
        "serverUs": result["server_cpu"] * 1e6 / count if count else float("nan"),
        "serverUserUs": result["server_user"] * 1e6 / count if count else float("nan"),
        "clientShare": 100.0 * result["client_cpu"] / elapsed,
        "serverShare": 100.0 * result["server_cpu"] / elapsed,
        "errors": result["errors"],
    }


# -- the table -----------------------------------------------------------------


def median(samples, key):
    """Median of one metric over repeats."""
    return statistics.median(sample[key] for sample in samples)


def formatValue(value):
    """Compact number formatting for the table."""
    if value != value:
        return "nan"
    if abs(value) >= 1000:
        return "{:,.0f}".format(value)
    if abs(value) >= 100:
        return "%.0f" % value
    return "%.2f" % value if abs(value) < 10 else "%.1f" % value


def printTable(names, rows):
    """
    rows: (point label, metric label, {peer: value}); ratios are Loom / peer.

    A peer missing from a row's values (it was not measured) shows "-".
    """
    others = [name for name in names if name != "loom"]
    header = ["point", "metric", *names, *["loom/" + name for name in others]]
    table = [header]
    for point, metric, values in rows:
        ratios = [
            "%.2fx" % (values["loom"] / values[name])
            if values.get("loom") is not None and values.get(name)
            else "-"
            for name in others
        ]
        cells = [formatValue(values[name]) if name in values else "-" for name in names]
        table.append([point, metric, *cells, *ratios])
    widths = [max(len(row[i]) for row in table) for i in range(len(header))]
    for index, row in enumerate(table):
        cells = [row[0].ljust(widths[0]), row[1].ljust(widths[1])]
        cells += [cell.rjust(width) for cell, width in zip(row[2:], widths[2:], strict=True)]
        print("  ".join(cells))
        if index == 0:
            print("  ".join("-" * width for width in widths))


def pairedRatio(samples, key, peer):
    """
    Median over repeats of Loom's value / peer's value in the same repeat.

    Both were measured within seconds of each other, so a change of the
    machine's speed between repeats (several tens of per cent on a shared VM)
    moves both sides of each ratio; the ratio of the two medians can pair a
    fast Loom repeat with a slow peer repeat.
    """
    pairs = zip(samples["loom"], samples[peer], strict=True)
    return statistics.median(ours[key] / theirs[key] for ours, theirs in pairs)
