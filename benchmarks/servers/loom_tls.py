"""
TLS echo server on Loom's default reactor with ``reactor.listenSSL``, for
benchmarks/bench_tls.py.

Usage: loom_tls.py PORT PEM.  Listens on 127.0.0.1 (PORT 0 for an ephemeral
port) with the certificate and key of PEM (tlscontext.py's policy, the same
pyOpenSSL Context Twisted's server gets), prints "port=N" once listening, and
echoes until killed.

With LOOM_BENCH_PROFILE=PATH in the environment the reactor runs under
cProfile, and the statistics are written to PATH when it stops on SIGINT
(bench_tls.py --profile-handshake).
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from tlscontext import ContextFactory, runProfiled  # noqa: E402

from protocols.protocol import Factory  # noqa: E402
from protocols.wire import Echo  # noqa: E402
from reactor import reactor  # noqa: E402


def main():
    """Listen, announce the port, run the reactor."""
    factory = Factory.forProtocol(Echo)
    factory.noisy = False
    port, pemPath = int(sys.argv[1]), sys.argv[2]
    listening = reactor.listenSSL(
        port, factory, ContextFactory(pemPath), backlog=1024, interface="127.0.0.1"
    )
    print("port=%d" % (listening.getHost().port,), flush=True)
    runProfiled(reactor.run)


if __name__ == "__main__":
    main()
