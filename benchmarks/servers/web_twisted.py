"""
HTTP server on twisted.web, for benchmarks/bench_web.py.

Usage: web_twisted.py PORT [BACKEND_PORT].  The same resources as
web_loom.py: /hello, /static/... (twisted.web.static.File), or with
BACKEND_PORT a twisted.web.proxy.ReverseProxyResource (which opens a new
connection to the backend for every request: Twisted's proxy has no pool).
"""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from tlscontext import runProfiled  # noqa: E402
from twisted.internet import reactor  # noqa: E402
from twisted.web import proxy, resource, server, static  # noqa: E402

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
        root = proxy.ReverseProxyResource("127.0.0.1", int(sys.argv[2]), b"")
    else:
        root = resource.Resource()
        root.putChild(b"hello", Hello())
        root.putChild(b"static", static.File(STATIC))
    site = server.Site(root)
    site.noisy = False
    listening = reactor.listenTCP(port, site, backlog=1024, interface="127.0.0.1")
    print("port=%d" % (listening.getHost().port,), flush=True)
    runProfiled(reactor.run)


if __name__ == "__main__":
    main()
