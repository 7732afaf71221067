"""
UNIX stream sockets: connections, listening ports and connectors.

They reuse TCP's machinery (reactor.tcp) with AF_UNIX addresses.  What is
particular to them is the file a listening socket puts in the file system,
handled by reactor._socketfile: created with its mode from the first instant
(the umask's choice unless ``mode`` is given), a stale one left by a dead
listener replaced, a live one or anything that is not a socket refused, and
removed at stop only while it is still the one we bound.

- ``wantPID``: a lock file ``<path>.lock`` beside the socket holds the pid of
  the listening process under an flock, so that two listeners starting at
  once cannot both take the path, and clients (``checkPID``) can tell a dead
  listener from a live one.
- Linux abstract-namespace addresses (a leading NUL byte) live in no file
  system: nothing to remove, no mode to set.
"""

import fcntl
import os
import socket

from zope.interface import implementer

from reactor import _logcontext, _socketfile, log
from reactor.address import UNIXAddress
from reactor.error import CannotListenError
from reactor.interfaces import IUNIXTransport
from reactor.tcp import AddressedTransport
from reactor.tcp import Connector as _TCPConnector
from reactor.tcp import Port as _TCPPort


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
class Connection(AddressedTransport):
    """
    A UNIX stream connection (addresses are UNIXAddress; a name may be
    None).  It has TCP's startTLS, without claiming ITLSTransport, which
    is a TCP transport's interface (Twisted's too).
    """

    __slots__ = ()
    _family = socket.AF_UNIX
    logPrefix = _logcontext.clientLogPrefix

    def _makeAddress(self, sockaddr):
        return _unixAddress(sockaddr)

    def __repr__(self):
        return "<UNIX %s fd=%d protocol=%s>" % (type(self).__name__, self.fd, self.logPrefix())


class Server(Connection):
    """
    A UNIX connection accepted by a listening Port (reading pauses as for
    tcp.Server); log lines name it ``Protocol,sessionno,peer name`` (the
    name is usually empty: clients seldom bind theirs), as Twisted does.
    """

    __slots__ = ("_session",)  # see _logcontext.serverLogPrefix
    autoPauseReading = True
    _tlsClientDefault = False
    logPrefix = _logcontext.serverLogPrefix
    sessionno = property(_logcontext.sessionOf, doc="As tcp.Server's.")


class Port(_TCPPort):
    """
    A listening UNIX socket.

    :param mode: the permission bits of the socket file, applied as it is
        created; None (the default) lets the process umask decide.
    :param wantPID: keep a lock file beside the socket naming this process.
    """

    transport = Server
    _kind = "UNIX"

    def __init__(self, path, factory, backlog=50, mode=None, wantPID=False, reactor=None):
        _TCPPort.__init__(self, path, factory, backlog, "", reactor)
        self.path = path
        self.mode = mode
        self.wantPID = wantPID
        self._lock = None
        self._bound = None  # the identity of the socket file we created

    def startListening(self):
        """
        Take the lock file (wantPID), bind (replacing a stale socket), listen, accept.

        :raises CannotListenError: if the path is in use, holds something
            that is not a socket, or cannot be bound; the message says which.
        """
        abstract = _isAbstract(self.path)
        if self.wantPID and not abstract:
            self._takeLock()
        sock = socket.socket(socket.AF_UNIX, self.socketType)
        try:
            if abstract:
                sock.bind(self.path)
            else:
                self._bound = _socketfile.bindPath(sock, self.path, self.mode)
            sock.listen(self.backlog)
        except OSError as error:
            sock.close()
            self._releaseLock()
            raise CannotListenError(None, self.path, error) from None
        sock.setblocking(False)
        self._startAccepting(sock)

    def keepSocketFile(self):
        """
        Leave the socket file in place when this port closes: the process
        that bound it removes it (loomd's master, whose workers each close
        their copy of the port).
        """
        self._bound = None

    def _takeLock(self):
        lock = _socketfile.LockFile("%s.lock" % (os.fsdecode(self.path),))
        try:
            taken = lock.acquire()
        except OSError as error:
            raise CannotListenError(None, self.path, error) from None
        if not taken:
            raise CannotListenError(
                None, self.path, OSError("in use by another process (lock file held)")
            )
        self._lock = lock

    def _releaseLock(self):
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    def connectionLost(self, reason):
        """Close the socket, remove its file (and lock file), tell the factory."""
        if self.socket is not None:
            self._removeSocketFile()
        self._releaseLock()
        _TCPPort.connectionLost(self, reason)

    def _removeSocketFile(self):
        bound, self._bound = self._bound, None
        error = _socketfile.unlinkIfSame(self.path, bound)
        if error is not None:
            # Typically EACCES: privileges were dropped and the directory is
            # root's.  The next listener finds the file stale and replaces it.
            log.msg(
                "could not remove the socket file %s (%s); the next listener "
                "will replace it as stale" % (os.fsdecode(self.path), error.strerror),
            )

    def _peerAddress(self, sockaddr):
        return _unixAddress(sockaddr)

    def _hostAddress(self):
        return UNIXAddress(self.path)

    def _acceptedHost(self):
        # Every connection we accept has the listening socket's name.
        return _unixAddress(self.socket.getsockname())

    def _describe(self):
        return repr(self.path)

    def _logStarting(self):
        name = os.fsdecode(self.path)
        log.msg("%s starting on %r" % (_logcontext.prefixOf(self.factory), name))

    def _logClosed(self):
        log.msg("(UNIX Port %s Closed)" % (os.fsdecode(self.path),))


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
        fd = os.open(lockPath, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC)
    except FileNotFoundError:
        raise OSError(2, "no lock file %s: the listener is not running" % (lockPath,)) from None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return  # held: the listener is alive
    finally:
        os.close(fd)
    raise OSError(111, "the listener of %s is dead (stale lock file)" % (path,))
