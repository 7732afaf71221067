"""The chargen plugin: ``loomd chargen [--port tcp:8019]``.  Send characters until closed."""

from services.plugins_builtin import listen, portParameter
from services.usage import Options as _BaseOptions


class Options(_BaseOptions):
    """Options of the chargen plugin."""

    synopsis = "loomd chargen [--port DESCRIPTION]"
    optParameters = [portParameter("tcp:8019")]


def makeService(options, reactor=None):
    """Return a service running protocols.wire.Chargen on options["port"]."""
    from protocols.protocol import Factory
    from protocols.wire import Chargen

    factory = Factory.forProtocol(Chargen)
    factory.reactor = reactor  # Chargen paces its writes on it (None: the global one)
    return listen(options, factory, reactor)
