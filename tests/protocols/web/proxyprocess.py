"""
A backend and a ReverseProxyResource in front of it, in one process, for
test_proxy's memory tests: ``python -m tests.protocols.web.proxyprocess``
prints the proxy's port and serves until killed.

The backend has /big (``size`` bytes, produced as the connection takes
them) and /slow (a streamed upload read 64 KiB per 10 ms, then answered
with its length), so a fast client uploading or a slow client downloading
pushes far more through the proxy than the bound its memory must keep.
"""

import sys

from zope.interface import implementer

from protocols.web import proxy, resource, server
from reactor.interfaces import IConsumer
from tests.protocols.web.test_sockets import Big


@implementer(IConsumer)
class SlowReader:
    """Takes one write, then pauses the body for 10 ms."""

    def __init__(self, reactor):
        self.reactor = reactor
        self.length = 0
        self.producer = None

    def registerProducer(self, producer, streaming):
        self.producer = producer

    def unregisterProducer(self):
        self.producer = None

    def write(self, data):
        self.length += len(data)
        producer = self.producer
        if producer is not None:
            producer.pauseProducing()
            self.reactor.callLater(0.01, producer.resumeProducing)


class Slow(resource.Resource):
    isLeaf = True
    streamRequestBody = True
    maxRequestBodySize = 1 << 40

    def __init__(self, reactor):
        resource.Resource.__init__(self)
        self.reactor = reactor

    def render_POST(self, request):
        reader = SlowReader(self.reactor)
        return request.streamBody(reader).addCallback(lambda _: b"%d" % (reader.length,))


def main():
    from reactor import reactor

    root = resource.Resource()
    root.putChild(b"big", Big())
    root.putChild(b"slow", Slow(reactor))
    backend = reactor.listenTCP(0, server.Site(root, reactor=reactor), interface="127.0.0.1")
    front = proxy.ReverseProxyResource("127.0.0.1", backend.getHost().port, b"", reactor=reactor)
    port = reactor.listenTCP(0, server.Site(front, reactor=reactor), interface="127.0.0.1")
    print(port.getHost().port, flush=True)
    reactor.run()


if __name__ == "__main__":
    sys.exit(main())
