"""
UNIX stream sockets: connections, listening ports and connectors.

They reuse TCP's machinery (reactor.tcp) with AF_UNIX addresses.  Two things
are particular to them:

- ``wantPID``: a lock file ``<path>.lock`` beside the socket holds the pid of
  the listening process under an flock.  A new listener that can take the lock
  knows the socket left on disk belongs to a dead process and removes it; one
  that cannot refuses to start (the socket is in use).
- Linux abstract-namespace addresses (a leading NUL byte) live in no file
  system: nothing to remove, no mode to set.
"""

import fcntl
import os
import socket
import stat

from zope.interface import implementer

from reactor.address import UNIXAddress
from reactor.error import CannotListenError
from reactor.interfaces import IUNIXTransport
from reactor.tcp import Connector as _TCPConnector
from reactor.tcp import Port as _TCPPort
from reactor.tcp import _AddressedTransport


def _isAbstract(path):
    return (
        isinstance(path, bytes)
        and path[:1] == b"\0"
        or (isinstance(path, str) and path[:1] == "\0")
    )


def _unixAddress(name):
    # The kernel gives abstract names back as bytes; Loom spells them as str.
    if isinstance(name, bytes) and name[:1] == b"\0":
        name = name.decode("utf-8", "surrogateescape")
    return UNIXAddress(name if name else None)


@implementer(IUNIXTransport)
class Connection(_AddressedTransport):
    """A UNIX stream connection (addresses are UNIXAddress; a name may be None)."""

    __slots__ = ()
    _family = socket.AF_UNIX

    def _makeAddress(self, sockaddr):
        return _unixAddress(sockaddr)

    def __repr__(self):
        return "<UNIX %s fd=%d protocol=%s>" % (type(self).__name__, self.fd, self.logPrefix())


class Server(Connection):
    """A UNIX connection accepted by a listening Port (reading pauses as for tcp.Server)."""

    __slots__ = ()
    autoPauseReading = True


class _LockFile:
    # An flock'ed "<path>.lock" holding our pid, for wantPID.
    def __init__(self, path):
        self.path = path
        self.fd = None

    def acquire(self):
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            os.close(fd)
            return False
        os.ftruncate(fd, 0)
        os.write(fd, b"%d\n" % os.getpid())
        self.fd = fd
        return True

    def release(self):
        if self.fd is not None:
            try:
                os.unlink(self.path)
            except OSError:
                pass
            os.close(self.fd)
            self.fd = None


class Port(_TCPPort):
    """
    A listening UNIX socket.

    :param mode: the permission bits of the socket file.
    :param wantPID: keep a lock file beside the socket, and remove a stale
        socket left by a dead process.
    """

    transport = Server
    _kind = "UNIX"

    def __init__(self, path, factory, backlog=50, mode=0o666, wantPID=False, reactor=None):
        _TCPPort.__init__(self, path, factory, backlog, "", reactor)
        self.path = path
        self.mode = mode
        self.wantPID = wantPID
        self._lock = None

    def _makeSocket(self):
        return socket.socket(socket.AF_UNIX, self.socketType), self.path

    def startListening(self):
        """
        Bind (removing a stale socket when wantPID allows it), listen, accept.

        :raises CannotListenError: if the path is in use or cannot be bound.
        """
        if self.wantPID and not _isAbstract(self.path):
            self._lock = _LockFile("%s.lock" % (os.fsdecode(self.path),))
            if not self._lock.acquire():
                self._lock = None
                raise CannotListenError(
                    None, self.path, OSError("in use by another process (lock file held)")
                )
            self._removeStaleSocket()
        try:
            _TCPPort.startListening(self)
        except CannotListenError as error:
            self._releaseLock()
            raise CannotListenError(None, self.path, error.socketError) from None
        if not _isAbstract(self.path):
            os.chmod(self.path, self.mode)

    def _removeStaleSocket(self):
        # We hold the lock, so a socket file left here belongs to nobody alive.
        try:
            if stat.S_ISSOCK(os.lstat(self.path).st_mode):
                os.unlink(self.path)
        except FileNotFoundError:
            pass

    def _releaseLock(self):
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def connectionLost(self, reason):
        """Close the socket, remove its file (and lock file), tell the factory."""
        if self.socket is not None and not _isAbstract(self.path):
            try:
                os.unlink(self.path)
            except OSError:
                pass
        self._releaseLock()
        _TCPPort.connectionLost(self, reason)

    def _peerAddress(self, sockaddr):
        return _unixAddress(sockaddr)

    def _hostAddress(self):
        return UNIXAddress(self.path)

    def _acceptedHost(self):
        # Every connection we accept has the listening socket's name.
        return _unixAddress(self.socket.getsockname())

    def _describe(self):
        return repr(self.path)


class Connector(_TCPConnector):
    """
    An outgoing UNIX connection.

    :param checkPID: refuse to connect when the listener's lock file is not
        held by a live process (the socket is stale).
    """

    def __init__(self, address, factory, timeout=30, checkPID=False, reactor=None):
        _TCPConnector.__init__(self, address, None, factory, timeout, None, reactor)
        self.address = address
        self.checkPID = checkPID

    def _makeTransport(self, fd, protocol, peer):
        return Connection(fd, protocol, self.reactor, self, peer)

    def _resolveAddress(self):
        if self.checkPID and not _isAbstract(self.address):
            _checkListenerAlive(self.address)
        return socket.AF_UNIX, self.address

    def getDestination(self):
        """Return the UNIXAddress being connected to."""
        return UNIXAddress(self.address)

    def _peerAddress(self, sockaddr):
        return UNIXAddress(self.address)

    def __repr__(self):
        return "<%s to %r %s>" % (type(self).__name__, self.address, self.state)


def _checkListenerAlive(path):
    lockPath = "%s.lock" % (os.fsdecode(path),)
    try:
        fd = os.open(lockPath, os.O_RDONLY | os.O_CLOEXEC)
    except FileNotFoundError:
        raise OSError(2, "no lock file %s: the listener is not running" % (lockPath,)) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return  # held: the listener is alive
    finally:
        os.close(fd)
    raise OSError(111, "the listener of %s is dead (stale lock file)" % (path,))
