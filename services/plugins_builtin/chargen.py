"""
The chargen plugin: ``loomd chargen [--port tcp:8019]``.  Send characters until closed.

Chargen writes for as long as the client reads, so its writes keep a
connection from being idle; a client that stops reading pauses it, and the
idle timeout (5 minutes) then closes the connection.  The lifetime (an hour)
caps the bandwidth any one client can draw from it.
"""

from services.plugins_builtin import listen, portParameter, timeoutParameters
from services.usage import Options as _BaseOptions


class Options(_BaseOptions):
    """Options of the chargen plugin."""

    synopsis = "[--port DESCRIPTION]"
    optParameters = [portParameter("tcp:8019"), *timeoutParameters(300.0, 3600.0)]


def makeService(options, reactor=None):
    """Return a service running protocols.wire.Chargen on options["port"]."""
    from protocols.protocol import Factory
    from protocols.wire import Chargen

    factory = Factory.forProtocol(Chargen)
    factory.reactor = reactor  # Chargen paces its writes on it (None: the global one)
    return listen(options, factory, reactor)
