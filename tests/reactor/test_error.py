"""
The messages of reactor.error's exceptions: what a user reads when a port
cannot be bound.
"""

import errno

from reactor._safeopen import RefusedFile
from reactor.error import CannotListenError


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
