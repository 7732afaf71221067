"""
The discard plugin: ``loomd discard [--port tcp:8009]``.  Read and drop everything.

Discard is a diagnostic sink (a throughput test runs for minutes): a
connection idle for 5 minutes, or older than an hour, is closed
(``--idle-timeout``, ``--lifetime``).
"""

from services.plugins_builtin import listen, portParameter, timeoutParameters
from services.usage import Options as _BaseOptions


class Options(_BaseOptions):
    """Options of the discard plugin."""

    synopsis = "[--port DESCRIPTION]"
    optParameters = [portParameter("tcp:8009"), *timeoutParameters(300.0, 3600.0)]


def makeService(options, reactor=None):
    """Return a service running protocols.wire.Discard on options["port"]."""
    from protocols.protocol import Factory
    from protocols.wire import Discard

    return listen(options, Factory.forProtocol(Discard), reactor)
