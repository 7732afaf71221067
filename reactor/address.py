"""
Addresses of connection endpoints: IPv4Address, IPv6Address, UNIXAddress
and HostnameAddress.

They are small immutable values, as Twisted's are: compared by their fields
(a UNIXAddress by the file it names), hashable, with a repr that shows every
field.  Transports return them from
``getHost()`` and ``getPeer()``; factories receive one in ``buildProtocol``.
"""

import os
import socket

from zope.interface import implementer

from reactor.interfaces import IAddress

__all__ = ["IPv4Address", "IPv6Address", "UNIXAddress", "HostnameAddress"]


def addressFamily(host):
    """
    Return socket.AF_INET or AF_INET6 for a literal IPv4 or IPv6 address
    (an empty host, "all interfaces", is AF_INET as in Twisted), or None for
    a name that must be resolved.  An IPv6 scope ("fe80::1%eth0") is allowed.
    """
    if not host:
        return socket.AF_INET
    for family in (socket.AF_INET, socket.AF_INET6):
        try:
            socket.inet_pton(family, host.split("%", 1)[0])
        except (OSError, ValueError):
            continue
        return family
    return None


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


# The slots' member descriptors, taken from the class dict (where a type
# checker sees them as what they are).
_setType = IPv4Address.__dict__["type"].__set__
_setHost = IPv4Address.__dict__["host"].__set__
_setPort = IPv4Address.__dict__["port"].__set__


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

    Two addresses are equal when they name the same file, as in Twisted:
    the same path (str and bytes spellings alike), or two paths that both
    exist and lead to one file (a symlink and its target, a relative and an
    absolute path).  The hash is the file's (device, inode) while it exists,
    the path's otherwise, so equal addresses hash alike.  Both look at the
    file system: an address compared or hashed before and after its file
    appears may change its answer, as Twisted's does.

    :ivar name: the socket's path (bytes or str), a Linux abstract-namespace
        name starting with a NUL byte, or None for an unnamed socket.
    """

    __slots__ = ("name",)

    def __init__(self, name):
        _Address.__init__(self, name)

    def __eq__(self, other):
        if type(other) is not type(self):
            return NotImplemented
        mine, theirs = _pathBytes(self.name), _pathBytes(other.name)
        if mine == theirs:
            return True
        if mine is None or theirs is None:
            return False
        try:
            return os.path.samefile(mine, theirs)
        except (OSError, ValueError):  # missing, or abstract (a NUL byte)
            return False

    def __hash__(self):
        path = _pathBytes(self.name)
        if path is not None:
            try:
                status = os.stat(path)
            except (OSError, ValueError):
                pass
            else:
                return hash((type(self).__name__, status.st_dev, status.st_ino))
        return hash((type(self).__name__, path))


def _pathBytes(name):
    # str and bytes spellings of one path compare equal.
    return os.fsencode(name) if isinstance(name, str) else name


@implementer(IAddress)
class HostnameAddress(_Address):
    """
    A host name and port: where a HostnameEndpoint connects to.

    It names the destination before it is resolved (in the
    ConnectingCancelledError of a cancelled HostnameEndpoint); a connected
    transport's getPeer() gives the IPv4Address or IPv6Address it reached.

    :ivar hostname: the name, as bytes (IDNA-encoded), as in Twisted.
    :ivar port: the port number, an int.
    """

    __slots__ = ("hostname", "port")

    def __init__(self, hostname, port):
        _Address.__init__(self, hostname, port)
