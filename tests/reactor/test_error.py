"""
The messages of reactor.error's exceptions, as Twisted's read (what a user
reads when a connection fails or a port cannot be bound), and the classes a
failed name lookup is.
"""

import errno
import socket

import pytest

from reactor import error
from reactor._safeopen import RefusedFile
from reactor.error import CannotListenError
from reactor.failure import Failure


def test_cannotListenNamesTheAddressAndLowersOnlyTheFirstLetter():
    error = CannotListenError("127.0.0.1", 80, OSError(errno.EADDRINUSE, "Address already in use"))
    assert str(error) == "cannot listen on 127.0.0.1:80: address already in use"


def test_cannotListenOnIPv6BracketsTheAddress():
    error = CannotListenError("::1", 80, OSError(errno.EACCES, "Permission denied"))
    assert str(error) == "cannot listen on [::1]:80: permission denied"


def test_cannotListenOnAUnixPathNamesThePathAloneAndKeepsItsCase():
    # The reason may name a file: its case is its own (it was lowered whole).
    reason = RefusedFile("lock file", "/run/App/Sock.lock", "it is a symbolic link")
    error = CannotListenError(None, "/run/App/Sock", reason)
    assert str(error) == (
        "cannot listen on /run/App/Sock: "
        "refusing to open lock file /run/App/Sock.lock: it is a symbolic link"
    )


# -- str() as Twisted's: MESSAGE, ": " and the arguments, one full stop ---------

# The connection errors: the errno (osError) and the text, each after ": ".
CONNECT_ERRORS = [
    (error.ConnectError, "An error occurred while connecting"),
    (error.ConnectBindError, "Couldn't bind"),
    (error.UnknownHostError, "Hostname couldn't be looked up"),
    (error.NoRouteError, "No route to host"),
    (error.ConnectionRefusedError, "Connection was refused by other side"),
    (error.TCPTimedOutError, "TCP connection timed out"),
    (error.BadFileError, "File used for UNIX socket is no good"),
    (error.ServiceNameUnknownError, "Service name given as port is unknown"),
    (error.UserError, "User aborted connection"),
    (error.TimeoutError, "User timeout caused connection failure"),
    (error.SSLError, "An SSL error occurred"),
]

# The rest: every argument, joined by spaces.
DESCRIBED_ERRORS = [
    (error.AlreadyCalled, "Tried to cancel an already-called event"),
    (error.AlreadyCancelled, "Tried to cancel an already-cancelled event"),
    (
        error.NotConnectingError,
        "The Connector was not connecting when it was asked to stop connecting",
    ),
    (error.NotListeningError, "The Port was not listening when it was asked to stop listening"),
    (error.BindError, "An error occurred binding to an interface"),
    (error.DNSLookupError, "DNS lookup failed"),
    (error.MessageLengthError, "Message is too long to send"),
    (error.ConnectionDone, "Connection was closed cleanly"),
    (error.ConnectionLost, "Connection to the other side was lost in a non-clean fashion"),
    (
        error.ConnectionAborted,
        "Connection was aborted locally using ITCPTransport.abortConnection",
    ),
    (error.ConnectionFdescWentAway, "Uh"),
    (
        error.FileDescriptorOverrun,
        "A mis-use of IUNIXTransport.sendFileDescriptor caused the connection to be closed",
    ),
]


@pytest.mark.parametrize("klass, message", CONNECT_ERRORS)
def test_connectErrorsReadAsTwisteds(klass, message):
    assert str(klass()) == message + "."
    assert str(klass(string="x")) == message + ": x."
    assert str(klass(111, "Connection refused")) == message + ": 111: Connection refused."


@pytest.mark.parametrize("klass, message", DESCRIBED_ERRORS)
def test_describedErrorsReadAsTwisteds(klass, message):
    assert str(klass()) == message + "."
    assert str(klass("x")) == message + ": x."
    assert str(klass("x", "y")) == message + ": x y."


def test_aNumberAmongTheArgumentsIsPrinted():
    # Twisted's str() raises TypeError here: it joins the arguments as text.
    assert str(error.BindError(98, "in use")) == (
        "An error occurred binding to an interface: 98 in use."
    )


def test_processEndsReadAsTwisteds():
    assert str(error.ProcessDone(0)) == (
        "A process has ended without apparent errors: process finished with exit code 0."
    )
    assert str(error.ProcessTerminated(1, None, 256)) == (
        "A process has ended with a probable error condition: process ended with exit code 1."
    )
    assert str(error.ProcessTerminated(None, 9, 9)) == (
        "A process has ended with a probable error condition: process ended by signal 9."
    )


def test_cannotListenKeepsLoomsOwnMessage():
    # A BindError, whose str() Loom words as one readable line on purpose.
    failed = CannotListenError("", 80, OSError(errno.EACCES, "Permission denied"))
    assert str(failed) == "cannot listen on 0.0.0.0:80: permission denied"


# -- DNSLookupError and UnknownHostError ------------------------------------------------


def test_dnsLookupErrorIsAnOSErrorAndAnUnknownHostError():
    # Twisted's is an IOError; Loom's connectors failed with UnknownHostError
    # before, so code trapping either catches it.
    failure = Failure(error.DNSLookupError("example.invalid"))
    assert failure.check(OSError) is OSError
    assert failure.check(error.UnknownHostError) is error.UnknownHostError
    assert failure.value.args == ("example.invalid",)
    assert failure.value.osError is None


def test_getConnectErrorMakesAGaierrorAnUnknownHostError():
    lookup = socket.gaierror(socket.EAI_NONAME, "Name or service not known")
    made = error.getConnectError(lookup)
    assert type(made) is error.UnknownHostError
    assert (made.osError, made.args) == (socket.EAI_NONAME, ("Name or service not known",))


def test_getConnectErrorMapsErrnos():
    refused = error.getConnectError(OSError(errno.ECONNREFUSED, "Connection refused"))
    assert type(refused) is error.ConnectionRefusedError
    assert type(error.getConnectError((errno.EPERM, "Not permitted"))) is error.ConnectError
