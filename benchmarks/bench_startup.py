"""
Start-up time: from launching a server process until its port accepts a
connection, for `loomd -n -y echo.tac`, `twistd -n -y` with the equivalent
Twisted .tac, a plain asyncio echo script, and the bare interpreter
(`python -c pass`, the floor).  Runs are interleaved; medians of RUNS each.

Loom's modules are byte-compiled first, as `pip install` does for an
installed package (and did for Twisted's): an editable checkout run with
PYTHONDONTWRITEBYTECODE=1 would otherwise compile every module at each start.
"""

import compileall
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
RUNS = int(os.environ.get("BENCH_RUNS", "10"))


def freePort():
    probe = socket.socket()
    probe.bind(("127.0.0.1", 0))
    port = probe.getsockname()[1]
    probe.close()
    return port


def timeToListen(command, env, timeout=20.0):
    """Launch command; return seconds until 127.0.0.1:BENCH_PORT accepts."""
    port = int(env["BENCH_PORT"])
    start = time.perf_counter()
    process = subprocess.Popen(
        command, env=env, cwd=HERE, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
    )
    try:
        while time.perf_counter() - start < timeout:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.05).close()
                return time.perf_counter() - start
            except OSError:
                if process.poll() is not None:
                    raise RuntimeError(
                        "%s exited with %s" % (command[0], process.returncode)
                    ) from None
                time.sleep(0.0005)
        raise RuntimeError("%s did not listen within %ss" % (command, timeout))
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(5)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def timeBare():
    start = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - start


def compileLoom():
    """Write the .pyc files of Loom's packages, as an install would."""
    for package in ("reactor", "protocols", "services"):
        if not compileall.compile_dir(os.path.join(ROOT, package), quiet=1):
            raise RuntimeError("could not byte-compile %s" % (package,))


def main():
    compileLoom()
    python = sys.executable
    twistd = shutil.which("twistd", path=os.path.dirname(python)) or shutil.which("twistd")
    peers = {
        "loomd -n -y": [
            python,
            os.path.join(ROOT, "bin", "loomd"),
            "-n",
            "--pidfile=",
            "-y",
            "startup/loom_echo.tac",
        ],
        "twistd -n -y": [twistd, "-n", "--pidfile=", "-y", "startup/twisted_echo.tac"],
        "asyncio script": [python, "startup/asyncio_echo.py"],
    }
    if twistd is None:
        del peers["twistd -n -y"]
    times = {name: [] for name in peers}
    bare = []
    env = dict(os.environ, PYTHONPATH=ROOT)
    for _ in range(RUNS):
        for name, command in peers.items():
            env["BENCH_PORT"] = str(freePort())
            times[name].append(timeToListen(command, env))
        bare.append(timeBare())
    medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
    floor = statistics.median(bare) * 1000
    print("Start-up to a listening port, median of %d runs (ms)" % (RUNS,))
    print("%-18s %10s %14s" % ("server", "ms", "loomd ratio"))
    loom = medians["loomd -n -y"]
    for name, value in medians.items():
        print("%-18s %10.1f %14.2f" % (name, value, loom / value))
    print("%-18s %10.1f" % ("python -c pass", floor))
    if "twistd -n -y" in medians:
        print(
            "loomd takes %.2f of twistd's time (target: at most 0.33)"
            % (loom / medians["twistd -n -y"],)
        )


if __name__ == "__main__":
    main()
