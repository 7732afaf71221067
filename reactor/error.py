"""
The exceptions Loom raises, named as Twisted names them.

Connection-ending reasons (ConnectionDone, ConnectionLost, ...) travel inside a
Failure to ``connectionLost(reason)``; the rest are raised to the caller.

str() reads as Twisted's, because programs and their tests match on it: the
class's ``MESSAGE``, then ``: `` and the arguments, then one full stop
(``Connection was refused by other side: 111: Connection refused.``).
Two classes keep a message of Loom's own: CannotListenError (one readable
line naming the address) and InvalidAddressError (it names the address,
where Twisted's shows a bare tuple).
"""

import os
from socket import gaierror as _gaierror


def _describe(self):
    # The str() of the exceptions Twisted describes by MESSAGE plus their
    # arguments joined by spaces, with two of its warts left out: a MESSAGE
    # ending in a full stop (FileDescriptorOverrun's) gets no second one, and
    # a number among the arguments is printed (Twisted's join raises
    # TypeError, so its str(AlreadyCalled(1)) fails).
    message = self.MESSAGE.rstrip(".")
    if not self.args:
        return "%s." % (message,)
    return "%s: %s." % (message, " ".join([str(arg) for arg in self.args]))


class ReactorNotRunning(RuntimeError):
    """stop() or crash() was called on a reactor that is not running."""


class ReactorAlreadyRunning(RuntimeError):
    """run() was called on a reactor that is already running."""


class ReactorNotRestartable(RuntimeError):
    """run() was called on a reactor that has already been stopped."""


class ReactorAlreadyInstalledError(AssertionError):
    """reactor.install() was called after a reactor was installed."""


class AlreadyCalled(ValueError):
    """cancel() or reset() was called on a DelayedCall that already ran."""

    MESSAGE = "Tried to cancel an already-called event"
    __str__ = _describe


class AlreadyCancelled(ValueError):
    """cancel() or reset() was called on a DelayedCall that was cancelled."""

    MESSAGE = "Tried to cancel an already-cancelled event"
    __str__ = _describe


class NotConnectingError(RuntimeError):
    """stopConnecting() was called on a connector that is not connecting."""

    MESSAGE = "The Connector was not connecting when it was asked to stop connecting"
    __str__ = _describe


class NotListeningError(RuntimeError):
    """The port is not listening."""

    MESSAGE = "The Port was not listening when it was asked to stop listening"
    __str__ = _describe


class BindError(Exception):
    """Could not bind an address."""

    MESSAGE = "An error occurred binding to an interface"
    __str__ = _describe


class CannotListenError(BindError):
    """
    listenTCP/listenUNIX/listenUDP could not listen.

    :ivar interface: the interface asked for; :ivar port: the port;
    :ivar socketError: the underlying OSError.
    """

    def __init__(self, interface: str | None, port: object, socketError: object) -> None:
        BindError.__init__(self, interface, port, socketError)
        self.interface = interface
        self.port = port
        self.socketError = socketError

    def __str__(self):
        if self.interface is None and isinstance(self.port, (str, bytes)):
            where = os.fsdecode(self.port)  # a UNIX socket's path
        else:
            address = self.interface or "0.0.0.0"
            if ":" in str(address) and not str(address).startswith("["):
                address = "[%s]" % (address,)
            where = address if self.port is None else "%s:%s" % (address, self.port)
        reason = getattr(self.socketError, "strerror", None) or str(self.socketError)
        # "Address already in use" reads as "address already in use" after
        # the colon; the rest may name a path, whose case is its own.
        return "cannot listen on %s: %s" % (where, reason[:1].lower() + reason[1:])


class ConnectError(Exception):
    """
    A connection attempt failed.

    :ivar osError: the errno (or other cause) it failed with, or None.
    """

    MESSAGE = "An error occurred while connecting"

    def __init__(self, osError: object = None, string: str = "") -> None:
        self.osError = osError
        Exception.__init__(self, string)

    def __str__(self):
        text = self.MESSAGE
        if self.osError:
            text = "%s: %s" % (text, self.osError)
        if self.args and self.args[0]:
            text = "%s: %s" % (text, self.args[0])
        return text + "."


class ConnectBindError(ConnectError):
    """Could not bind the local address of an outgoing connection."""

    MESSAGE = "Couldn't bind"


class UnknownHostError(ConnectError):
    """The host name could not be resolved."""

    MESSAGE = "Hostname couldn't be looked up"


class DNSLookupError(OSError, UnknownHostError):
    """
    A host name could not be resolved: what connectTCP, reactor.resolve()
    and the endpoints fail with, as Twisted's do.

    Twisted's DNSLookupError is an IOError and nothing else, and its
    UnknownHostError (a ConnectError) is what getConnectError() makes of a
    socket.gaierror.  Loom's connectors failed with UnknownHostError before
    they failed with this, so this is one too: code that traps either
    catches it.  The one visible difference: it is also a ConnectError.
    """

    MESSAGE = "DNS lookup failed"
    osError = None
    __str__ = _describe

    def __init__(self, *args):
        OSError.__init__(self, *args)


class NoRouteError(ConnectError):
    """No route to host."""

    MESSAGE = "No route to host"


class ConnectionRefusedError(ConnectError):
    """Connection was refused by the other side."""

    MESSAGE = "Connection was refused by other side"


class TCPTimedOutError(ConnectError):
    """TCP connection timed out."""

    MESSAGE = "TCP connection timed out"


class BadFileError(ConnectError):
    """File used for a UNIX socket is no good."""

    MESSAGE = "File used for UNIX socket is no good"


class ServiceNameUnknownError(ConnectError):
    """The service name is unknown."""

    MESSAGE = "Service name given as port is unknown"


class UserError(ConnectError):
    """The connection attempt was stopped by the user."""

    MESSAGE = "User aborted connection"


class TimeoutError(UserError):  # noqa: A001 - Twisted's name
    """User timeout caused connection failure."""

    MESSAGE = "User timeout caused connection failure"


class ConnectingCancelledError(Exception):
    """
    A client endpoint's connection attempt was cancelled.

    :ivar address: where it was connecting to.
    """

    def __init__(self, address):
        Exception.__init__(self, address)
        self.address = address


class InvalidAddressError(ValueError):
    """
    An address is not what the call needs: a host name where only an IP
    address will do, or an address of the other IP family.

    Unlike Twisted's (whose str() is empty), str() names the address and
    says what is wrong with it.

    :ivar address: the address given; :ivar message: what is wrong with it.
    """

    def __init__(self, address, message):
        ValueError.__init__(self, address, message)
        self.address = address
        self.message = message

    def __str__(self):
        return "%r: %s" % (self.address, self.message)


class SSLError(ConnectError):
    """An SSL error occurred."""

    MESSAGE = "An SSL error occurred"


class VerifyError(Exception):
    """Could not verify something that was supposed to be signed."""

    MESSAGE = "Could not verify something that was supposed to be signed."


class PeerVerifyError(VerifyError):
    """The peer rejected our verification."""

    MESSAGE = "The peer rejected our verify error."


class CertificateError(Exception):
    """We did not find a certificate where we expected to find one."""

    MESSAGE = "We did not find a certificate where we expected to find one."


class ConnectionClosed(Exception):
    """The connection was closed, cleanly or not."""


class ConnectionLost(ConnectionClosed):
    """Connection to the other side was lost in a non-clean fashion."""

    MESSAGE = "Connection to the other side was lost in a non-clean fashion"
    __str__ = _describe


class ConnectionAborted(ConnectionLost):
    """Connection was aborted locally, using abortConnection."""

    MESSAGE = "Connection was aborted locally using ITCPTransport.abortConnection"


class ConnectionDone(ConnectionClosed):
    """Connection was closed cleanly."""

    MESSAGE = "Connection was closed cleanly"
    __str__ = _describe


class FileDescriptorOverrun(ConnectionLost):
    """Too many file descriptors were passed over a UNIX socket."""

    MESSAGE = "A mis-use of IUNIXTransport.sendFileDescriptor caused the connection to be closed."


class ConnectionFdescWentAway(ConnectionLost):
    """The file descriptor was closed behind the reactor's back."""

    MESSAGE = "Uh"


class AlreadyListened(Exception):
    """This port is already listening."""


class MessageLengthError(Exception):
    """A datagram was too long."""

    MESSAGE = "Message is too long to send"
    __str__ = _describe


class ProcessDone(ConnectionDone):
    """A process has ended without apparent errors."""

    MESSAGE = "A process has ended without apparent errors"

    def __init__(self, status):
        ConnectionDone.__init__(self, "process finished with exit code 0")
        self.exitCode = 0
        self.signal = None
        self.status = status


class ProcessTerminated(ConnectionLost):
    """A process has ended with an error or by a signal."""

    MESSAGE = "A process has ended with a probable error condition"

    def __init__(self, exitCode=None, signal=None, status=None):
        self.exitCode = exitCode
        self.signal = signal
        self.status = status
        text = "process ended"
        if exitCode is not None:
            text += " with exit code %s" % (exitCode,)
        if signal is not None:
            text += " by signal %s" % (signal,)
        ConnectionLost.__init__(self, text)


class ProcessExecError(ProcessTerminated):
    """
    A child could not run its program: exec failed in it (or, before exec,
    changing to its directory or to its user).

    Not raised: it is the reason processExited and processEnded are given
    when spawnProcess's child could not start (Twisted's child prints a
    traceback and exits 1 instead).  As a ProcessTerminated it has
    ``exitCode``: 127 when the program or a directory was not found
    (ENOENT), 126 otherwise, as a shell reports them; ``status`` is the
    child's real wait status.

    :ivar errno: the errno the child's system call failed with (None when
        the child failed otherwise).
    :ivar strerror: what that errno means, or what went wrong.
    :ivar filename: the program (or the directory) it concerns.
    :ivar step: what failed: 'exec', 'chdir' (to the child's directory),
        'user' (switching to its user and groups), 'setup' (one of those
        two: the child does not say which) or 'preexec' (arranging its
        descriptors or its terminal).
    """

    _DOING = {
        "exec": "cannot run %s",
        "chdir": "cannot change to directory %s",
        "user": "cannot switch user to run %s",
        "setup": "cannot change directory or switch user for %s",
        "preexec": "cannot arrange descriptors or terminal for %s",
    }

    def __init__(
        self,
        errno: int | None = None,
        strerror: str = "",
        filename: "str | bytes | os.PathLike[str] | os.PathLike[bytes] | None" = None,
        step: str = "exec",
        status: int | None = None,
    ) -> None:
        import errno as _errno

        ProcessTerminated.__init__(self, 127 if errno == _errno.ENOENT else 126, None, status)
        self.errno = errno
        self.strerror = strerror
        self.filename = filename
        self.step = step
        self.args = (errno, strerror, filename)

    def osError(self) -> OSError:
        """Return the OSError the child's failure amounts to (FileNotFoundError, ...)."""
        return OSError(self.errno, self.strerror, self.filename)

    def __str__(self) -> str:
        doing = self._DOING.get(self.step, "cannot run %s")
        what = doing % ("?" if self.filename is None else os.fsdecode(self.filename),)
        if self.errno is None:
            return "%s: %s" % (what, self.strerror)
        return "%s: [Errno %d] %s" % (what, self.errno, self.strerror)


class ProcessExitedAlready(Exception):
    """The process has already exited."""


def getConnectError(error):
    """
    Turn an OSError from connect() into the matching ConnectError.

    A socket.gaierror (getaddrinfo found no address) is an
    UnknownHostError, as in Twisted.

    :param error: an OSError, or a (errno, message) tuple.
    """
    if isinstance(error, OSError):
        number, string = error.errno, error.strerror
    else:
        number, string = error
    if isinstance(error, _gaierror):
        return UnknownHostError(number, string)
    klass = _ERRNO_MAP.get(number, ConnectError)
    return klass(number, string)


def _buildErrnoMap():
    import errno

    return {
        errno.ECONNREFUSED: ConnectionRefusedError,
        errno.ENETUNREACH: NoRouteError,
        errno.EHOSTUNREACH: NoRouteError,
        errno.ETIMEDOUT: TCPTimedOutError,
    }


_ERRNO_MAP = _buildErrnoMap()


# The reasons a descriptor's doRead/doWrite returns to ask to be disconnected.
# Built once: returning them allocates nothing.  Without arguments, unlike
# Twisted's ("Connection done"): the reason a protocol's connectionLost gets
# then reads as one sentence, "Connection was closed cleanly.", not
# "Connection was closed cleanly: Connection done."
# (test_cleanCloseReasonReadsAsASentence).
CONNECTION_DONE = ConnectionDone()
CONNECTION_LOST = ConnectionLost()
