"""
The application of benchmarks/bench_workers.py, run by ``loomd -n -y`` with
or without ``--workers`` (benchmarks/servers/loom_workers.py starts it).
benchmarks/servers/loom_workers_loop.py loads it too, to run Costly's
per-request work in a tight loop for bench_workers.py's machine measurement.

BENCH_MODE=echo: a plain echo.  BENCH_MODE=cpu: every message costs about
BENCH_COST_US microseconds of Python CPU (a loop calibrated at load) before
it is echoed: a request that is all interpreter work.  BENCH_MODE=web: a
"hello world" Site (protocols.web), as benchmarks/servers/web_loom.py's
/hello, answering every path.  Listens on
127.0.0.1:BENCH_PORT (0: any) and prints "port=N" once bound, in the master.
"""

import os
import time

from protocols.protocol import Factory, Protocol
from protocols.web.resource import Resource
from protocols.web.server import Site
from services.internet import TCPServer
from services.service import Application

MODE = os.environ.get("BENCH_MODE", "echo")
COST = float(os.environ.get("BENCH_COST_US", "200")) / 1e6


def _calibrate():
    # Loop iterations per CPU second of this interpreter (CPU time, not wall
    # time: on a busy machine the process is descheduled), the best of a few.
    best = 0.0
    for _ in range(5):
        start = time.process_time()
        for _ in range(500_000):
            pass
        best = max(best, 500_000 / max(time.process_time() - start, 1e-6))
    return int(best * COST)


ITERATIONS = _calibrate() if MODE == "cpu" else 0


class Echo(Protocol):
    def dataReceived(self, data):
        self.transport.write(data)


class Costly(Protocol):
    def dataReceived(self, data):
        for _ in range(ITERATIONS):
            pass
        self.transport.write(data)


class Announced(TCPServer):
    def privilegedStartService(self):
        TCPServer.privilegedStartService(self)
        # Descriptor 1 itself: loomd sends sys.stdout to its log.
        os.write(1, b"port=%d\n" % (self.getHost().port,))


class Hello(Resource):
    isLeaf = True

    def render_GET(self, request):
        request.setHeader(b"Content-Type", b"text/plain")
        return b"Hello, world!\n"


if MODE == "web":
    factory = Site(Hello())
else:
    factory = Factory.forProtocol(Costly if MODE == "cpu" else Echo)
factory.noisy = False
application = Application("bench-workers")
Announced(
    int(os.environ.get("BENCH_PORT", "0")), factory, backlog=1024, interface="127.0.0.1"
).setServiceParent(application)
