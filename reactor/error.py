"""
The exceptions Loom raises, named as Twisted names them.

Connection-ending reasons (ConnectionDone, ConnectionLost, ...) travel inside a
Failure to ``connectionLost(reason)``; the rest are raised to the caller.
"""

import os
import socket


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


class AlreadyCancelled(ValueError):
    """cancel() or reset() was called on a DelayedCall that was cancelled."""


class NotConnectingError(RuntimeError):
    """stopConnecting() was called on a connector that is not connecting."""


class NotListeningError(RuntimeError):
    """The port is not listening."""


class BindError(Exception):
    """Could not bind an address."""


class CannotListenError(BindError):
    """
    listenTCP/listenUNIX/listenUDP could not listen.

    :ivar interface: the interface asked for; :ivar port: the port;
    :ivar socketError: the underlying OSError.
    """

    def __init__(self, interface, port, socketError):
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
    """A connection attempt failed."""

    def __init__(self, osError=None, string=""):
        self.osError = osError
        Exception.__init__(self, string)

    def __str__(self):
        text = self.__doc__.strip().splitlines()[0]
        if self.osError:
            text = "%s: %s" % (text, self.osError)
        if self.args and self.args[0]:
            text = "%s: %s" % (text, self.args[0])
        return text


class ConnectBindError(ConnectError):
    """Could not bind the local address of an outgoing connection."""


class UnknownHostError(ConnectError):
    """The host name could not be resolved."""


class DNSLookupError(IOError):
    """The host name could not be resolved."""


class NoRouteError(ConnectError):
    """No route to host."""


class ConnectionRefusedError(ConnectError):
    """Connection was refused by the other side."""


class TCPTimedOutError(ConnectError):
    """TCP connection timed out."""


class BadFileError(ConnectError):
    """File used for a UNIX socket is no good."""


class ServiceNameUnknownError(ConnectError):
    """The service name is unknown."""


class UserError(ConnectError):
    """The connection attempt was stopped by the user."""


class TimeoutError(UserError):  # noqa: A001 - Twisted's name
    """User timeout caused connection failure."""


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


class VerifyError(Exception):
    """Could not verify something that was supposed to be signed."""


class PeerVerifyError(VerifyError):
    """The peer rejected our verification."""


class CertificateError(Exception):
    """We did not find a certificate where we expected to find one."""


class ConnectionClosed(Exception):
    """The connection was closed, cleanly or not."""


class ConnectionLost(ConnectionClosed):
    """Connection to the other side was lost in a non-clean fashion."""

    def __str__(self):
        text = self.__doc__.strip()
        if self.args:
            text = "%s: %s" % (text, " ".join(str(a) for a in self.args))
        return text


class ConnectionAborted(ConnectionLost):
    """Connection was aborted locally, using abortConnection."""


class ConnectionDone(ConnectionClosed):
    """Connection was closed cleanly."""

    def __str__(self):
        text = self.__doc__.strip()
        if self.args:
            text = "%s: %s" % (text, " ".join(str(a) for a in self.args))
        return text


class FileDescriptorOverrun(ConnectionLost):
    """Too many file descriptors were passed over a UNIX socket."""


class ConnectionFdescWentAway(ConnectionLost):
    """The file descriptor was closed behind the reactor's back."""


class AlreadyListened(Exception):
    """This port is already listening."""


class MessageLengthError(Exception):
    """A datagram was too long."""


class ProcessDone(ConnectionDone):
    """A process has ended without apparent errors."""

    def __init__(self, status):
        ConnectionDone.__init__(self, "process finished with exit code 0")
        self.exitCode = 0
        self.signal = None
        self.status = status


class ProcessTerminated(ConnectionLost):
    """A process has ended with an error or by a signal."""

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


class ProcessExitedAlready(Exception):
    """The process has already exited."""


def getConnectError(error):
    """
    Turn an OSError from connect() into the matching ConnectError.

    :param error: an OSError, or a (errno, message) tuple.
    """
    if isinstance(error, OSError):
        number, string = error.errno, error.strerror
    else:
        number, string = error
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
del socket


# The reasons a descriptor's doRead/doWrite returns to ask to be disconnected.
# Built once: returning them allocates nothing.
CONNECTION_DONE = ConnectionDone("Connection done")
CONNECTION_LOST = ConnectionLost("Connection lost")
