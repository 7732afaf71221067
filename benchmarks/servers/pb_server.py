"""
Perspective Broker server for benchmarks/bench_pb.py, on Loom or on Twisted.

Usage: pb_server.py (loom|twisted) PORT.  Serves the same Root on either
framework's default reactor, listening on 127.0.0.1 (PORT 0 for an
ephemeral port); prints "port=N" once listening and serves until killed.
Only the framework named is imported.

With LOOM_BENCH_PROFILE=PATH in the environment the reactor runs under
cProfile, and the statistics are written to PATH when it stops on SIGINT
(bench_pb.py --profile).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))
sys.path.insert(0, HERE)

from tlscontext import runProfiled  # noqa: E402


def makeRoot(pb):
    """The benchmark's Root class, on the pb module given."""

    class Bench(pb.Root):
        def remote_add(self, a, b):
            return a + b

        def remote_sink(self, chunks):
            return sum(len(chunk) for chunk in chunks)

    return Bench()


def main():
    """Listen, announce the port, run the reactor."""
    framework, port = sys.argv[1], int(sys.argv[2])
    if framework == "loom":
        from protocols.pb import pb
        from reactor import reactor
    else:
        from twisted.internet import reactor
        from twisted.spread import pb
    factory = pb.PBServerFactory(makeRoot(pb))
    factory.noisy = False
    listening = reactor.listenTCP(port, factory, backlog=1024, interface="127.0.0.1")
    print("port=%d" % (listening.getHost().port,), flush=True)
    runProfiled(reactor.run)


if __name__ == "__main__":
    main()
