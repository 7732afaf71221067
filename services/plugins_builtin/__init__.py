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

Every plugin also bounds how long a connection may hold the server:
``--idle-timeout`` (seconds with nothing read or written) and ``--lifetime``
(seconds in all, whatever is sent), through protocols.policies.TimeoutFactory;
finger, which reads one line, also has ``--message-timeout`` for that line.
The defaults suit each service and are shown by ``loomd PLUGIN --help``; 0
turns a limit off.  Without them one byte every few seconds, or a client that
never reads, holds a connection for ever (the slowloris attack).
"""

__all__ = ["endpointDescription", "portParameter", "listen", "seconds", "timeoutParameters"]


def endpointDescription(value: str) -> str:
    """Coerce a ``--port`` value: a bare port number becomes ``tcp:NUMBER``."""
    value = value.strip()
    if value.isdigit():
        return "tcp:" + value
    if not value:
        raise ValueError("an empty endpoint description")
    return value


endpointDescription.coerceDoc = "An endpoint description such as tcp:8007 (a number means tcp:N)."  # type: ignore[attr-defined]


def portParameter(default):
    """The optParameters row of a ``--port``/``-p`` option defaulting to default."""
    return ["port", "p", default, "Where to listen (an endpoint description).", endpointDescription]


def seconds(value):
    """Coerce a duration option: a number of seconds, 0 meaning off (None)."""
    number = float(value)
    if not 0 <= number < float("inf"):
        raise ValueError("not a number of seconds >= 0: %r" % (value,))
    return number or None


seconds.coerceDoc = "In seconds; 0 turns it off."  # type: ignore[attr-defined]


def timeoutParameters(idle, lifetime):
    """
    The optParameters rows of ``--idle-timeout`` and ``--lifetime``.

    :param idle: the default idle timeout in seconds (None: off).
    :param lifetime: the default lifetime in seconds (None: off).
    """
    return [
        [
            "idle-timeout",
            None,
            idle,
            "Close a connection after this long with nothing read or written."
            + ("" if idle else " Off by default."),
            seconds,
        ],
        [
            "lifetime",
            None,
            lifetime,
            "Close any connection this long after it was made, however active."
            + ("" if lifetime else " Off by default."),
            seconds,
        ],
    ]


def listen(options, factory, reactor=None):
    """
    Return the service listening where ``options["port"]`` says, with factory.

    If the options have ``--idle-timeout``/``--lifetime`` (timeoutParameters)
    and either is on, factory is first wrapped in a TimeoutFactory enforcing them.
    """
    from services.internet import service

    idle, lifetime = options.get("idle_timeout"), options.get("lifetime")
    if idle is not None or lifetime is not None:
        from protocols.policies import TimeoutFactory

        factory = TimeoutFactory(factory, idle, lifetime=lifetime, reactor=reactor)
    return service(options["port"], factory, reactor=reactor)
