"""
The built-in service makers' options and makeService, one small module each.

services.plugins.builtinMakers() names them; each module holds ``Options``
and ``makeService(options, reactor=None)`` (reactor is for tests; loomd
passes only options and the global reactor is used).  Protocol modules are
imported inside makeService, so listing the plugins stays cheap.

Every ``--port`` is a server endpoint description (``tcp:8007``,
``tcp:8007:interface=127.0.0.1``, ``unix:/run/echo.sock``); a bare number
means TCP on every interface.  The defaults are the well-known port plus
8000 (echo 8007, discard 8009, daytime 8013, chargen 8019, finger 8079),
so that they run without root; pass ``--port tcp:7`` as root for the real one.
"""

__all__ = ["endpointDescription", "portParameter", "listen"]


def endpointDescription(value):
    """Coerce a ``--port`` value: a bare port number becomes ``tcp:NUMBER``."""
    value = value.strip()
    if value.isdigit():
        return "tcp:" + value
    if not value:
        raise ValueError("an empty endpoint description")
    return value


endpointDescription.coerceDoc = "An endpoint description such as tcp:8007 (a number means tcp:N)."


def portParameter(default):
    """The optParameters row of a ``--port``/``-p`` option defaulting to default."""
    return ["port", "p", default, "Where to listen (an endpoint description).", endpointDescription]


def listen(options, factory, reactor=None):
    """Return the service listening where ``options["port"]`` says, with factory."""
    from services.internet import service

    return service(options["port"], factory, reactor=reactor)
