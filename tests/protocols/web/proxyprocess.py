"""
A backend and a ReverseProxyResource in front of it, in one process, for
test_proxy's memory tests: ``python -m tests.protocols.web.proxyprocess``
prints the proxy's port and serves until killed.

The backend has /big (``size`` bytes of a repeated 64 KiB block, produced
as the connection takes them) and /slow (a streamed upload read 64 KiB per
10 ms for its first 16 MiB, then as fast as it comes, and answered with its
length), so a fast client uploading or a slow client downloading pushes
far more through the proxy than the bound its memory must keep, and a
whole GiB still goes through in seconds.
"""

import sys

from zope.interface import implementer

from protocols.web import proxy, resource, server
from reactor.interfaces import IConsumer

BLOCK = bytes(range(256)) * 256  # 64 KiB
SLOW_BYTES = 16 << 20


class Blocks:
    """Writes size bytes of BLOCK to a request, a block each time it is asked."""

    def __init__(self, request, size):
        self.request = request
        self.left = size

    def resumeProducing(self):
        if self.left <= 0:
            self.request.unregisterProducer()
            self.request.finish()
            return
        piece = min(self.left, len(BLOCK))
        self.left -= piece
        self.request.write(BLOCK if piece == len(BLOCK) else BLOCK[:piece])

    def stopProducing(self):
        pass


class Big(resource.Resource):
    isLeaf = True

    def render_GET(self, request):
        size = int(request.args[b"size"][0])
        request.setHeader(b"Content-Length", b"%d" % (size,))
        request.registerProducer(Blocks(request, size), False)
        return server.NOT_DONE_YET


@implementer(IConsumer)
class SlowReader:
    """Takes one write, then pauses the body for 10 ms, for the first SLOW_BYTES."""

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
        if producer is not None and self.length < SLOW_BYTES:
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
