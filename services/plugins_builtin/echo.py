"""The echo plugin: ``loomd echo [--port tcp:8007]``.  Echo every byte back."""

from services.plugins_builtin import listen, portParameter
from services.usage import Options as _BaseOptions


class Options(_BaseOptions):
    """Options of the echo plugin."""

    synopsis = "loomd echo [--port DESCRIPTION]"
    optParameters = [portParameter("tcp:8007")]


def makeService(options, reactor=None):
    """Return a service running protocols.wire.Echo on options["port"]."""
    from protocols.protocol import Factory
    from protocols.wire import Echo

    return listen(options, Factory.forProtocol(Echo), reactor)
