"""
Echo server on Loom's default reactor, for benchmarks/bench_echo.py.

Listens on 127.0.0.1 (port argv[1], default 0 for an ephemeral port), prints
"port=N" once listening, and echoes until killed.
"""

import os
import sys

sys.path.insert(0, os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__)))))

from protocols.protocol import Factory  # noqa: E402
from protocols.wire import Echo  # noqa: E402
from reactor import reactor  # noqa: E402


def main():
    """Listen, announce the port, run the reactor."""
    factory = Factory.forProtocol(Echo)
    factory.noisy = False
    port = int(sys.argv[1]) if len(sys.argv) > 1 else 0
    listening = reactor.listenTCP(port, factory, backlog=1024, interface="127.0.0.1")
    print("port=%d" % (listening.getHost().port,), flush=True)
    reactor.run()


if __name__ == "__main__":
    main()
