"""
A small web site: ``loomd -n -y doc/examples/web/resources.tac``, then

    curl http://127.0.0.1:8080/hello?name=you
    curl -c jar -b jar http://127.0.0.1:8080/visits        (twice)
    curl http://127.0.0.1:8080/later
    curl --data-binary @some-file http://127.0.0.1:8080/upload

The resources show the parts doc/web.md describes: query arguments, a
session, an ``async def`` render, and an upload read as it arrives
(``streamRequestBody``) with a limit of its own.  LOOM_WEB_PORT moves the
port (the tests use it).
"""

import hashlib
import os

from zope.interface import implementer

from protocols.web import resource, server
from reactor import getReactor
from reactor.interfaces import IConsumer
from reactor.task import deferLater
from services.internet import TCPServer
from services.service import Application

port = int(os.environ.get("LOOM_WEB_PORT", "8080"))


class Hello(resource.Resource):
    """GET /hello?name=...: a greeting."""

    isLeaf = True

    def render_GET(self, request):
        name = request.args.get(b"name", [b"world"])[0]
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        return b"Hello, %s!\n" % (name,)


class Visits(resource.Resource):
    """GET /visits: how often this client came, kept in its session."""

    isLeaf = True

    def render_GET(self, request):
        session = request.getSession()
        visits = session.sessionNamespaces.get("visits", 0) + 1
        session.sessionNamespaces["visits"] = visits
        request.setHeader(b"Content-Type", b"text/plain")
        return b"visit %d\n" % (visits,)


class Later(resource.Resource):
    """GET /later: an async render, answering a moment later."""

    isLeaf = True

    async def render_GET(self, request):
        await deferLater(getReactor(), 0.1, lambda: None)
        request.setHeader(b"Content-Type", b"text/plain")
        return b"later\n"


@implementer(IConsumer)
class Digest:
    """Takes a body piece by piece, keeping only its hash and length."""

    def __init__(self):
        self.hash = hashlib.sha256()
        self.length = 0

    def registerProducer(self, producer, streaming):
        pass

    def unregisterProducer(self):
        pass

    def write(self, data):
        self.hash.update(data)
        self.length += len(data)


class Upload(resource.Resource):
    """POST /upload: up to 1 GiB, hashed as it arrives, never held whole."""

    isLeaf = True
    streamRequestBody = True
    maxRequestBodySize = 1 << 30

    async def render_POST(self, request):
        digest = Digest()
        await request.streamBody(digest)
        request.setHeader(b"Content-Type", b"text/plain")
        return b"%d bytes, sha256 %s\n" % (digest.length, digest.hash.hexdigest().encode())


root = resource.Resource()
root.putChild(b"hello", Hello())
root.putChild(b"visits", Visits())
root.putChild(b"later", Later())
root.putChild(b"upload", Upload())

application = Application("web")
TCPServer(port, server.Site(root), interface="127.0.0.1").setServiceParent(application)
