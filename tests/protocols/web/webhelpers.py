"""
What the web tests share: a Site on a MemoryReactorClock, a connection to it
through a StringTransport, and reading the responses it wrote.

Responses are read with the stdlib's http.client (a parser the server does
not share), one after another from the bytes written.
"""

import http.client
import io

from protocols.web import resource, server
from reactor.address import IPv4Address
from reactor.testing import MemoryReactorClock, StringTransport


class Text(resource.Resource):
    """A leaf answering GET (and HEAD) with fixed bytes."""

    isLeaf = True

    def __init__(self, body=b"hello"):
        resource.Resource.__init__(self)
        self.body = body

    def render_GET(self, request):
        return self.body


class Echo(resource.Resource):
    """Answers POST and PUT with what the request carried: method, path, body, args."""

    isLeaf = True

    def render_POST(self, request):
        body = request.content.read()
        return b"%s %s %d:%s" % (request.method, request.path, len(body), body)

    render_PUT = render_POST


class Held(resource.Resource):
    """Answers later: each request waits in ``waiting`` until the test finishes it."""

    isLeaf = True

    def __init__(self):
        resource.Resource.__init__(self)
        self.waiting = []

    def render_GET(self, request):
        self.waiting.append(request)
        return server.NOT_DONE_YET


def makeSite(root, parser=None, **kwargs):
    """A Site for root on its own MemoryReactorClock (``site.reactor``)."""
    kwargs.setdefault("reactor", MemoryReactorClock())
    site = server.Site(root, parser=parser, **kwargs)
    site.noisy = False
    return site


class ClientTransport(StringTransport):
    """A StringTransport that records pauses and half-closes as the channel asks."""

    def __init__(self, peer=None):
        StringTransport.__init__(self, peerAddress=peer or IPv4Address("TCP", "192.0.2.7", 40000))
        self.pauses = 0

    def pauseProducing(self):
        self.pauses += 1
        StringTransport.pauseProducing(self)


class Connection:
    """One client connection to a site, in memory."""

    def __init__(self, site, peer=None):
        self.site = site
        self.clock = site.reactor
        self.channel = site.buildProtocol(None)
        self.transport = ClientTransport(peer)
        self.channel.makeConnection(self.transport)
        self._read = 0

    def send(self, data):
        """Hand data to the channel as one chunk."""
        self.channel.dataReceived(data)

    def get(self, path=b"/", headers=b""):
        """Send one GET request."""
        self.send(b"GET %s HTTP/1.1\r\nHost: example.com\r\n%s\r\n" % (path, headers))

    def output(self):
        """Every byte the server wrote."""
        return self.transport.value()

    def responses(self, method="GET"):
        """The responses written since the last call, as Response objects."""
        data = self.output()[self._read :]
        stream = _Unclosable(data)
        found = []
        while stream.tell() < len(data):
            found.append(Response(stream, method))
        self._read += stream.tell()
        return found

    def response(self, method="GET"):
        """The one response written since the last call."""
        [response] = self.responses(method)
        return response

    @property
    def closed(self):
        """Whether the channel asked the transport to close (or half-close)."""
        return self.transport.disconnecting or self.transport.writeDisconnected


class _Unclosable(io.BytesIO):
    # http.client closes the file at the end of each response.
    def close(self):
        pass


class _Source:
    def __init__(self, stream):
        self.stream = stream

    def makefile(self, mode):
        return self.stream


class Response:
    """A response read with http.client: status, headers, body."""

    def __init__(self, stream, method="GET"):
        parsed = http.client.HTTPResponse(_Source(stream), method=method)
        parsed.begin()
        self.status = parsed.status
        self.version = parsed.version
        self.reason = parsed.reason
        self.headers = parsed.headers
        self.chunked = parsed.chunked
        self.body = parsed.read()

    def header(self, name):
        """The value of header name, or None."""
        return self.headers.get(name)

    def __repr__(self):
        return "<Response %d %r>" % (self.status, self.body[:40])
