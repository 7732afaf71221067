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

import sys

__all__ = ["dispatchesTo", "boundary", "currentDescriptor", "currentSystem"]

_getframe = sys._getframe
# id(code object) -> (the code object, kept alive so its id stays its own,
# and the name of the local holding the descriptor, or None for a boundary).
_registered = {}


def dispatchesTo(function, localName):
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


def boundary(function):
    """Register function as one outside any dispatch: the walk stops there."""
    code = function.__code__
    _registered[id(code)] = (code, None)


def currentDescriptor():
    """
    Return the descriptor the reactor is dispatching to in this thread (the
    innermost, if dispatches nest), or None.
    """
    registered = _registered
    frame = _getframe(1)
    while frame is not None:
        entry = registered.get(id(frame.f_code))
        if entry is not None:
            name = entry[1]
            return None if name is None else frame.f_locals.get(name)
        frame = frame.f_back
    return None


def currentSystem():
    """
    Return the logPrefix() of the descriptor being dispatched to in this
    thread, or None outside any dispatch.  Never raises: a logPrefix() that
    fails gives the descriptor's class name.
    """
    descriptor = currentDescriptor()
    if descriptor is None:
        return None
    try:
        return descriptor.logPrefix()
    except Exception:
        return type(descriptor).__name__


# -- the prefixes of connections ------------------------------------------------


def prefixOf(thing):
    """Return thing.logPrefix() if it has one, else its class name (Twisted's rule)."""
    logPrefix = getattr(thing, "logPrefix", None)
    if logPrefix is None:
        return type(thing).__name__
    return logPrefix()


def serverLogPrefix(transport):
    """
    ``Protocol,sessionno,host``: Twisted's prefix of a connection a port
    accepted.  The peer is asked for here, when a line is logged, not kept
    from the accept: an idle connection holds no string for it.
    """
    try:
        peer = transport.getPeer()
        host = getattr(peer, "host", None) or getattr(peer, "name", None) or ""
    except OSError:
        host = "?"
    if isinstance(host, bytes):
        host = host.decode("utf-8", "backslashreplace")
    sessionno = getattr(transport, "sessionno", 0)
    return "%s,%s,%s" % (prefixOf(transport.protocol), sessionno, host)


def clientLogPrefix(transport):
    """``Protocol,client``: Twisted's prefix of a connection we made."""
    return "%s,client" % (prefixOf(transport.protocol),)
