"""The daytime plugin: ``loomd daytime [--port tcp:8013]``.  Send the date and time, then close."""

from services.plugins_builtin import listen, portParameter
from services.usage import Options as _BaseOptions


class Options(_BaseOptions):
    """Options of the daytime plugin."""

    synopsis = "loomd daytime [--port DESCRIPTION]"
    optParameters = [portParameter("tcp:8013")]


def makeService(options, reactor=None):
    """Return a service running protocols.wire.Daytime on options["port"]."""
    from protocols.protocol import Factory
    from protocols.wire import Daytime

    return listen(options, Factory.forProtocol(Daytime), reactor)
