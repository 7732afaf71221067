"""
The port forwarder: ``loomd portforward --port tcp:6666 --host HOST --dest_port 6665``.

Each connection accepted on ``--port`` is relayed to ``--host``:``--dest_port``
(protocols.portforward).  The option names and defaults are Twisted's.

A forwarded stream (an ssh session, a database connection) legitimately
lasts for hours, so there is no lifetime by default; a connection with
nothing relayed either way for 10 minutes is closed (``--idle-timeout``,
nginx's ``proxy_timeout`` for streams).
"""

from services.plugins_builtin import listen, portParameter, timeoutParameters
from services.usage import Options as _BaseOptions
from services.usage import portCoerce


class Options(_BaseOptions):
    """Options of the portforward plugin."""

    synopsis = "[--port DESCRIPTION] [--host HOST] [--dest_port PORT]"
    optParameters = [
        portParameter("tcp:6666"),
        ["host", "h", "localhost", "The host to forward to."],
        ["dest_port", "d", 6665, "The port to forward to.", portCoerce],
        *timeoutParameters(600.0, None),
    ]


def makeService(options, reactor=None):
    """Return a service forwarding options["port"] to host:dest_port."""
    from protocols.portforward import ProxyFactory

    factory = ProxyFactory(options["host"], options["dest_port"], reactor=reactor)
    return listen(options, factory, reactor)
