"""
The daytime plugin: ``loomd daytime [--port tcp:8013]``.  Send the date and time, then close.

The connection ends as soon as the answer is written, so no lifetime is
needed; the idle timeout (a minute) is the backstop for a client that never
reads the answer, which would otherwise keep the close waiting for ever.
"""

from services.plugins_builtin import listen, portParameter, timeoutParameters
from services.usage import Options as _BaseOptions


class Options(_BaseOptions):
    """Options of the daytime plugin."""

    synopsis = "[--port DESCRIPTION]"
    optParameters = [portParameter("tcp:8013"), *timeoutParameters(60.0, None)]


def makeService(options, reactor=None):
    """Return a service running protocols.wire.Daytime on options["port"]."""
    from protocols.protocol import Factory
    from protocols.wire import Daytime

    return listen(options, Factory.forProtocol(Daytime), reactor)
