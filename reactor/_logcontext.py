"""
Which connection a log line belongs to, found when the line is logged.

Twisted wraps every dispatch in ``callWithLogger``, a context pushed and
popped around each event (2.3 µs per event, whether anything is logged or
not), so that a line logged while a protocol runs is prefixed with its
transport's ``logPrefix()``: ``[ChatProtocol,3,127.0.0.1]``.  Loom gives the
same lines for nothing per event.  The few functions through which the
reactor calls a descriptor (the epoll loop, ``_doReadOrWrite``,
``_disconnectSelectable``, ``disconnectAll``, ``startConnection``) are
registered here, each with the name of its local variable holding the
descriptor.  When a line is logged without a ``system`` of its own,
``currentSystem()`` walks up the calling thread's frames to the innermost
registered one and asks that descriptor for its ``logPrefix()``.

So the cost is paid per logged line, not per event: about 0.1 µs a frame,
and a protocol's ``dataReceived`` is a handful of frames above the loop.
The loop's outer functions (``mainLoop``, ``runUntilCurrent``) are
registered as boundaries where the walk stops with no connection, so a line
logged from a timer does not climb the whole stack.  Because the walk is
over the calling thread's own stack, a line logged from a worker thread
never takes the loop's connection, and nothing is left behind after a
dispatch for a later line to pick up by mistake (see tests/reactor/
test_logcontext.py).

Also here: the log prefixes of stream connections, Twisted's
``Protocol,sessionno,peer host`` for a connection a port accepted and
``Protocol,client`` for one we made.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from types import FrameType
from typing import Any

__all__ = ["dispatchesTo", "boundary", "currentDescriptor", "currentSystem"]

_getframe = sys._getframe
# id(code object) -> (the code object, kept alive so its id stays its own,
# and the name of the local holding the descriptor, or None for a boundary).
_registered: dict[int, tuple[Any, str | None]] = {}


def dispatchesTo(function: Callable[..., Any], localName: str) -> None:
    """
    Register function as one through which the reactor calls a descriptor.

    :param localName: the name of function's argument or local variable
        holding the descriptor while it runs.
    :raises ValueError: function has no such local (a rename would otherwise
        silently lose the connection from log lines).
    """
    code = function.__code__
    if localName not in code.co_varnames:
        raise ValueError("%s has no local variable %r" % (code.co_qualname, localName))
    _registered[id(code)] = (code, localName)


def boundary(function: Callable[..., Any]) -> None:
    """Register function as one outside any dispatch: the walk stops there."""
    code = function.__code__
    _registered[id(code)] = (code, None)


def currentDescriptor(skip: int = 0) -> Any:
    """
    Return the descriptor the reactor is dispatching to in this thread (the
    innermost, if dispatches nest), or None.

    :param skip: how many frames of the caller's own to pass over before
        looking (each frame looked at costs some 0.1 µs); none of them may
        be a registered one.
    """
    registered = _registered
    try:
        frame: FrameType | None = _getframe(skip + 1)
    except ValueError:
        return None  # a shorter stack than skip
    while frame is not None:
        entry = registered.get(id(frame.f_code))
        if entry is not None:
            name = entry[1]
            return None if name is None else frame.f_locals.get(name)
        frame = frame.f_back
    return None


def currentSystem(skip: int = 0) -> str | None:
    """
    Return the logPrefix() of the descriptor being dispatched to in this
    thread, or None outside any dispatch.  Never raises: a logPrefix() that
    fails gives the descriptor's class name.

    :param skip: as for currentDescriptor.
    """
    descriptor = currentDescriptor(skip + 1)
    if descriptor is None:
        return None
    try:
        return str(descriptor.logPrefix())
    except Exception:
        return type(descriptor).__name__


# -- the prefixes of connections ------------------------------------------------


def prefixOf(thing: object) -> str:
    """Return thing.logPrefix() if it has one, else its class name (Twisted's rule)."""
    logPrefix = getattr(thing, "logPrefix", None)
    if logPrefix is None:
        return type(thing).__name__
    return str(logPrefix())


def serverLogPrefix(transport: Any) -> str:
    """
    ``Protocol,sessionno,host``: Twisted's prefix of a connection a port
    accepted.

    Made when a line is first logged for the connection, not at the accept
    (an idle connection holds no string for it), and kept with the protocol
    it names: asking the kernel for the peer costs some 5 µs, a line logged
    should not pay it again.  The transport's one slot ``_session`` holds
    the session number, then (number, protocol, prefix): a second slot
    would cost every idle connection 8 bytes more.
    """
    protocol = transport.protocol
    session = getattr(transport, "_session", 0)
    if type(session) is tuple:
        if session[1] is protocol:
            return str(session[2])
        session = session[0]
    try:
        peer = transport.getPeer()
    except OSError:
        return "%s,%s,?" % (prefixOf(protocol), session)
    host = getattr(peer, "host", None) or getattr(peer, "name", None) or ""
    if isinstance(host, bytes):
        host = host.decode("utf-8", "backslashreplace")
    prefix = "%s,%s,%s" % (prefixOf(protocol), session, printable(host))
    transport._session = (session, protocol, prefix)
    return prefix


def printable(text: str) -> str:
    """
    Return text with every unprintable character (a newline, a carriage
    return, a NUL...) written as a backslash escape.

    A UNIX peer names its own socket, and a name may hold a newline: in a
    log line's system it would start a forged line of the peer's choosing.
    """
    if text.isprintable():
        return text
    return "".join(
        c if c.isprintable() else c.encode("unicode_escape").decode("ascii") for c in text
    )


def sessionOf(transport: Any) -> int:
    """Return a server connection's session number (its ``sessionno``)."""
    session = getattr(transport, "_session", 0)
    if type(session) is tuple:
        return int(session[0])
    return int(session)


def clientLogPrefix(transport: Any) -> str:
    """``Protocol,client``: Twisted's prefix of a connection we made."""
    return "%s,client" % (prefixOf(transport.protocol),)
