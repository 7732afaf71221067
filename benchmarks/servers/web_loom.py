"""
HTTP server on Loom's protocols.web, for benchmarks/bench_web.py.

Usage: web_loom.py PORT [BACKEND_PORT].  Listens on 127.0.0.1 (PORT 0 for an
ephemeral port), prints "port=N" once listening, and serves until killed:

- /hello: "Hello, world!" from a leaf Resource;
- /static/...: static.File over benchmarks/build/web-static/;
- with BACKEND_PORT, everything instead goes through a ReverseProxyResource
  to 127.0.0.1:BACKEND_PORT (its pool keeps up to 128 idle connections, so
  that each of wrk's 100 keeps its own backend connection).

With LOOM_BENCH_PROFILE=PATH the reactor runs under cProfile and the
statistics are written to PATH when it stops on SIGINT.
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.dirname(os.path.dirname(HERE)))

from tlscontext import runProfiled  # noqa: E402

from protocols.web import proxy, resource, server, static  # noqa: E402
from protocols.web.client import HTTPConnectionPool  # noqa: E402
from reactor import reactor  # noqa: E402

STATIC = os.path.join(os.path.dirname(HERE), "build", "web-static")


class Hello(resource.Resource):
    """The "hello world" resource."""

    isLeaf = True

    def render_GET(self, request):
        request.setHeader(b"Content-Type", b"text/plain")
        return b"Hello, world!\n"


def main():
    """Listen, announce the port, run the reactor."""
    port = int(sys.argv[1])
    if len(sys.argv) > 2:
        pool = HTTPConnectionPool(reactor, persistent=True)
        pool.maxPersistentPerHost = 128
        root = proxy.ReverseProxyResource("127.0.0.1", int(sys.argv[2]), b"", pool=pool)
    else:
        root = resource.Resource()
        root.putChild(b"hello", Hello())
        root.putChild(b"static", static.File(STATIC))
    site = server.Site(root)
    listening = reactor.listenTCP(port, site, backlog=1024, interface="127.0.0.1")
    print("port=%d" % (listening.getHost().port,), flush=True)
    runProfiled(reactor.run)


if __name__ == "__main__":
    main()
