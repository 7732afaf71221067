"""
The echo plugin: ``loomd echo [--port tcp:8007]``.  Echo every byte back.

Echo is a diagnostic service, used for seconds or minutes: a connection idle
for 5 minutes, or older than an hour, is closed (``--idle-timeout``,
``--lifetime``), so that idle or trickling clients cannot pile up.
"""

from services.plugins_builtin import listen, portParameter, timeoutParameters
from services.usage import Options as _BaseOptions


class Options(_BaseOptions):
    """Options of the echo plugin."""

    synopsis = "[--port DESCRIPTION]"
    optParameters = [portParameter("tcp:8007"), *timeoutParameters(300.0, 3600.0)]


def makeService(options, reactor=None):
    """Return a service running protocols.wire.Echo on options["port"]."""
    from protocols.protocol import Factory
    from protocols.wire import Echo

    return listen(options, Factory.forProtocol(Echo), reactor)
