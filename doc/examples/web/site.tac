"""
Static files, a dynamic resource and a WSGI application under one Site:
``loomd -n -y doc/examples/web/site.tac``, then

    curl http://127.0.0.1:8080/                 static/index.html, beside this file
    curl http://127.0.0.1:8080/style.css        another file of static/
    curl http://127.0.0.1:8080/now              a resource answering each request
    curl http://127.0.0.1:8080/app/hello?x=1    the WSGI application, below /app

The Site listens where LOOM_WEB_LISTEN says, an endpoint description
(tcp:8080:interface=127.0.0.1 by default): ``unix:/run/site.sock``,
``ssl:8443:privateKey=key.pem:certKey=cert.pem`` (then /now says https),
``systemd:domain=INET:index=0``.  The tests use it to move the port.
"""

import os
import time

from protocols.web import resource, server, static, wsgi
from reactor import reactor
from services.internet import service
from services.service import Application

here = os.path.dirname(os.path.abspath(__file__))
listen = os.environ.get("LOOM_WEB_LISTEN", "tcp:8080:interface=127.0.0.1")


class Now(resource.Resource):
    """GET /now: the time, and what the server knows of the client."""

    isLeaf = True

    def render_GET(self, request):
        request.setHeader(b"Content-Type", b"text/plain; charset=utf-8")
        request.setHeader(b"Cache-Control", b"no-store")
        scheme = "https" if request.isSecure() else "http"
        text = "It is %s. You came over %s from %s.\n" % (
            time.strftime("%H:%M:%S"),
            scheme,
            getattr(request.getClientAddress(), "host", "a UNIX socket") or "a UNIX socket",
        )
        return text.encode("utf-8")


def hello(environ, start_response):
    """A WSGI application, as Flask or Django would be: it runs in a thread of the pool."""
    text = "Hello from WSGI: %s %s%s?%s\n" % (
        environ["REQUEST_METHOD"],
        environ["SCRIPT_NAME"],
        environ["PATH_INFO"],
        environ["QUERY_STRING"],
    )
    start_response("200 OK", [("Content-Type", "text/plain; charset=utf-8")])
    return [text.encode("utf-8")]


root = static.File(os.path.join(here, "static"))
root.putChild(b"now", Now())
root.putChild(b"app", wsgi.WSGIResource(reactor, reactor.getThreadPool(), hello))

application = Application("site")
service(listen, server.Site(root)).setServiceParent(application)
