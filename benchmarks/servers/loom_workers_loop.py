"""
The cpu point's per-request work in a tight loop, for
benchmarks/bench_workers.py's machine measurement:
``loom_workers_loop.py START STOP``.

Loads benchmarks/servers/loom_workers.tac as BENCH_MODE=cpu, so that its
loop is calibrated at load as the cpu server's is, and hands its Costly
protocol one 64 B message after another (what the server does per request,
without the sockets; the echo goes to a transport that drops it), from
START until STOP, both wall-clock times (``time.time()``, the clock every
process shares, so that processes started together run over the same
span).  Prints ``result units=N iterations=I seconds=T``: the messages
handled, the loop's iterations per message (this process's calibration)
and the seconds from its first message to STOP.
"""

import importlib.machinery
import importlib.util
import os
import sys
import time

HERE = os.path.dirname(os.path.abspath(__file__))
MESSAGE = b"x" * 64


class Discard:
    """A transport that drops what is written to it."""

    def write(self, data):
        pass


def loadApplication():
    """loom_workers.tac as a module, in cpu mode (its loop calibrated)."""
    os.environ["BENCH_MODE"] = "cpu"
    path = os.path.join(HERE, "loom_workers.tac")
    loader = importlib.machinery.SourceFileLoader("loom_workers_tac", path)
    module = importlib.util.module_from_spec(importlib.util.spec_from_loader(loader.name, loader))
    loader.exec_module(module)
    return module


def main():
    """Wait for START, handle messages until STOP, print the count."""
    start, stop = float(sys.argv[1]), float(sys.argv[2])
    application = loadApplication()
    protocol = application.Costly()
    protocol.makeConnection(Discard())
    time.sleep(max(0.0, start - time.time()))
    began = time.time()
    units = 0
    while time.time() < stop:
        protocol.dataReceived(MESSAGE)
        units += 1
    print(
        "result units=%d iterations=%d seconds=%.6f"
        % (units, application.ITERATIONS, time.time() - began),
        flush=True,
    )


if __name__ == "__main__":
    main()
