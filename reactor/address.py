"""
Addresses of connection endpoints: IPv4Address, IPv6Address and UNIXAddress.

They are small immutable values, as Twisted's are: compared by their fields,
hashable, with a repr that shows every field.  Transports return them from
``getHost()`` and ``getPeer()``; factories receive one in ``buildProtocol``.
"""

from zope.interface import implementer

from reactor.interfaces import IAddress

__all__ = ["IPv4Address", "IPv6Address", "UNIXAddress"]


class _Address:
    """Immutable value object: fields named by __slots__, set once."""

    __slots__ = ()

    def __init__(self, *values):
        for name, value in zip(self.__slots__, values, strict=True):
            object.__setattr__(self, name, value)

    def __setattr__(self, name, value):
        raise AttributeError("%s is immutable" % (type(self).__name__,))

    def __delattr__(self, name):
        raise AttributeError("%s is immutable" % (type(self).__name__,))

    def _fields(self):
        return tuple(getattr(self, name) for name in self.__slots__)

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        return self._fields() == other._fields()

    def __hash__(self):
        return hash((type(self).__name__,) + self._fields())

    def __repr__(self):
        fields = ", ".join("%s=%r" % (name, getattr(self, name)) for name in self.__slots__)
        return "%s(%s)" % (type(self).__name__, fields)

    def __reduce__(self):
        return (type(self), self._fields())


def _checkType(kind):
    if kind not in ("TCP", "UDP"):
        raise ValueError("address type must be 'TCP' or 'UDP', not %r" % (kind,))
    return kind


@implementer(IAddress)
class IPv4Address(_Address):
    """
    An IPv4 socket address.

    :ivar type: ``"TCP"`` or ``"UDP"``.
    :ivar host: the dotted-quad address, as a str.
    :ivar port: the port number, an int.
    """

    __slots__ = ("type", "host", "port")

    def __init__(self, type, host, port):
        # Each accepted connection builds one for buildProtocol: the fields
        # are set through their slots' own descriptors, under half the cost
        # of the loop of _Address.__init__ (benchmarks/bench_echo.py, churn).
        if type != "TCP" and type != "UDP":
            _checkType(type)
        _setType(self, type)
        _setHost(self, host)
        _setPort(self, port)


_setType = IPv4Address.type.__set__
_setHost = IPv4Address.host.__set__
_setPort = IPv4Address.port.__set__


@implementer(IAddress)
class IPv6Address(_Address):
    """
    An IPv6 socket address.

    :ivar type: ``"TCP"`` or ``"UDP"``.
    :ivar host: the address, as a str (``"::1"``).
    :ivar port: the port number, an int.
    :ivar flowInfo: the IPv6 flow information.
    :ivar scopeID: the scope (interface) id of a link-local address.
    """

    __slots__ = ("type", "host", "port", "flowInfo", "scopeID")

    def __init__(self, type, host, port, flowInfo=0, scopeID=0):
        _Address.__init__(self, _checkType(type), host, port, flowInfo, scopeID)


@implementer(IAddress)
class UNIXAddress(_Address):
    """
    A UNIX socket address.

    :ivar name: the socket's path (bytes or str), a Linux abstract-namespace
        name starting with a NUL byte, or None for an unnamed socket.
    """

    __slots__ = ("name",)

    def __init__(self, name):
        _Address.__init__(self, name)
