"""
UNIX socket conformance tests, on every reactor.
"""

import contextlib
import os
import select
import socket
import subprocess
import sys

import pytest

from reactor.address import UNIXAddress
from reactor.error import CannotListenError, ConnectionDone, ConnectionRefusedError
from tests.reactor.transport_helpers import (
    EchoRecorder,
    RecordingClientFactory,
    RecordingServerFactory,
    spin,
    wait,
)


@pytest.fixture
def path(tmp_path):
    return str(tmp_path / "loom.sock")


def _roundTrip(reactor, address, **listenArgs):
    server = RecordingServerFactory(EchoRecorder)
    port = reactor.listenUNIX(address, server, **listenArgs)
    client = RecordingClientFactory()
    connector = reactor.connectUNIX(address, client, timeout=5)
    spin(reactor, lambda: client.built and server.built, what="connect")
    client.built[0].transport.write(b"over unix")
    spin(reactor, lambda: bytes(client.built[0].received) == b"over unix", what="echo")
    assert connector.getDestination() == UNIXAddress(address)
    assert client.built[0].transport.getPeer() == UNIXAddress(address)
    client.built[0].transport.loseConnection()
    spin(reactor, lambda: server.built[0].lost and client.lostReasons, what="close")
    assert server.built[0].lost[0].check(ConnectionDone)
    wait(reactor, port.stopListening())
    return port


def test_unixRoundTrip(reactor, path):
    port = _roundTrip(reactor, path, mode=0o600)
    assert port.getHost() == UNIXAddress(path)
    assert not os.path.exists(path), "the socket file is removed at stopListening"


def test_unixPortDoesNotTellItsQueueLength(reactor, path):
    # The kernel says it of TCP listening sockets only: a UNIX port accepts
    # until accept() finds none.
    port = reactor.listenUNIX(path, RecordingServerFactory())
    try:
        assert port.queuedConnections() is None
    finally:
        wait(reactor, port.stopListening())


def test_modeIsApplied(reactor, path):
    port = reactor.listenUNIX(path, RecordingServerFactory(), mode=0o640)
    try:
        assert os.stat(path).st_mode & 0o777 == 0o640
    finally:
        wait(reactor, port.stopListening())


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="abstract namespace is Linux-only")
def test_abstractNamespaceRoundTrip(reactor):
    name = "\0loom-test-%d-%d" % (os.getpid(), id(reactor))
    _roundTrip(reactor, name)


def _staleSocket(path):
    # A socket file whose listener is gone, as a killed process leaves it.
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()


def test_wantPIDHoldsTheLockFile(reactor, path):
    _staleSocket(path)
    port = reactor.listenUNIX(path, RecordingServerFactory(), wantPID=True)
    try:
        assert os.path.exists(path + ".lock")
        assert open(path + ".lock").read().strip() == str(os.getpid())
        with pytest.raises(CannotListenError) as info:
            reactor.listenUNIX(path, RecordingServerFactory(), wantPID=True)
        assert "in use" in str(info.value)
    finally:
        wait(reactor, port.stopListening())
    assert not os.path.exists(path + ".lock")


def test_checkPIDRefusesDeadListener(reactor, path):
    _staleSocket(path)
    open(path + ".lock", "w").write("99999\n")
    client = RecordingClientFactory()
    reactor.connectUNIX(path, client, checkPID=True)
    spin(reactor, lambda: client.failed, what="refusal")
    assert client.failed[0].check(ConnectionRefusedError)


def test_connectToMissingPathFails(reactor, path):
    client = RecordingClientFactory()
    reactor.connectUNIX(path, client, timeout=5)
    spin(reactor, lambda: client.failed, what="failure")
    assert client.built == []


# A listener in another process: it binds with wantPID=True, says so, and
# waits on stdin (accepting nothing) until it is killed.
_CHILD_LISTENER = """
import sys
import reactor
from protocols.protocol import Factory, Protocol
listener = reactor.getReactorClass("select")()
listener.listenUNIX(sys.argv[1], Factory.forProtocol(Protocol), wantPID=True)
print("listening", flush=True)
sys.stdin.read()
"""


@contextlib.contextmanager
def _childListener(path):
    """Run a wantPID listener on path in a child process; SIGKILL it on exit."""
    root = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    child = subprocess.Popen(
        [sys.executable, "-c", _CHILD_LISTENER, path],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        env=dict(os.environ, PYTHONPATH=root),
    )
    try:
        ready, _, _ = select.select([child.stdout], [], [], 10)
        assert ready, "the child listener did not start within 10s"
        assert child.stdout.readline() == b"listening\n"
        yield child
    finally:
        child.kill()
        child.wait(timeout=10)
        child.stdin.close()
        child.stdout.close()


def test_wantPIDTakesOverFromKilledListener(reactor, path):
    with _childListener(path) as child:
        assert open(path + ".lock").read().strip() == str(child.pid)
        with pytest.raises(CannotListenError):
            reactor.listenUNIX(path, RecordingServerFactory(), wantPID=True)
    # SIGKILL left the socket file and the lock file behind.
    assert os.path.exists(path) and os.path.exists(path + ".lock")
    server = RecordingServerFactory(EchoRecorder)
    port = reactor.listenUNIX(path, server, wantPID=True)
    try:
        assert open(path + ".lock").read().strip() == str(os.getpid())
        client = RecordingClientFactory()
        reactor.connectUNIX(path, client, timeout=5)
        spin(reactor, lambda: client.built and server.built, what="connect")
        client.built[0].transport.loseConnection()
        spin(reactor, lambda: server.built[0].lost, what="close")
    finally:
        wait(reactor, port.stopListening())


def test_checkPIDConnectsToLiveListener(reactor, path):
    with _childListener(path):
        client = RecordingClientFactory()
        reactor.connectUNIX(path, client, timeout=5, checkPID=True)
        spin(reactor, lambda: client.built or client.failed, what="connect")
        assert client.failed == []
    # The child is gone: the connection it never accepted is reset or closed.
    spin(reactor, lambda: client.lostReasons, what="connection lost")


# -- the socket file: its mode, what is in the way, what is removed ---------------


@pytest.fixture
def umask():
    """A function setting the process umask for this test; the old one comes back after."""
    previous = os.umask(0o022)
    os.umask(previous)
    yield os.umask
    os.umask(previous)


def _mode(path):
    return os.lstat(path).st_mode & 0o777


def _currentUmask():
    mask = os.umask(0o077)
    os.umask(mask)
    return mask


def test_defaultModeFollowsTheUmask(reactor, path, umask):
    umask(0o027)
    port = reactor.listenUNIX(path, RecordingServerFactory())
    try:
        assert _mode(path) == 0o750
    finally:
        wait(reactor, port.stopListening())


def test_explicitModeIsExactWhateverTheUmask(reactor, path, umask):
    for mask in (0o077, 0o000):
        umask(mask)
        port = reactor.listenUNIX(path, RecordingServerFactory(), mode=0o660)
        try:
            assert _mode(path) == 0o660
            assert _currentUmask() == mask, "the temporary umask is undone"
        finally:
            wait(reactor, port.stopListening())
    umask(0o022)
    with pytest.raises(CannotListenError):
        reactor.listenUNIX(path + ".d/missing.sock", RecordingServerFactory(), mode=0o600)
    assert _currentUmask() == 0o022, "the temporary umask is undone when bind() fails"


def test_socketIsNeverWiderThanAsked(reactor, path, umask, monkeypatch):
    # What bind() creates, seen before anything can chmod it afterwards; a
    # permissive process umask would make it 0777 for that moment.
    seen = []

    class WatchedSocket(socket.socket):
        def bind(self, address):
            mask = _currentUmask()
            super().bind(address)
            if address == path:
                seen.append((_mode(path), mask))

    umask(0o000)
    monkeypatch.setattr(socket, "socket", WatchedSocket)
    port = reactor.listenUNIX(path, RecordingServerFactory(), mode=0o600)
    try:
        assert seen == [(0o600, 0o177)]
        assert _mode(path) == 0o600
    finally:
        wait(reactor, port.stopListening())


def test_staleSocketIsReplaced(reactor, path):
    _staleSocket(path)
    _roundTrip(reactor, path)
    assert not os.path.exists(path)


def test_liveSocketIsRefused(reactor, path):
    live = socket.socket(socket.AF_UNIX)
    live.bind(path)
    live.listen(5)
    before = os.lstat(path)
    try:
        with pytest.raises(CannotListenError) as info:
            reactor.listenUNIX(path, RecordingServerFactory())
        assert "another process is listening on it" in str(info.value)
        assert os.lstat(path).st_ino == before.st_ino
        client = socket.socket(socket.AF_UNIX)
        client.connect(path)  # the live listener still gets its connections
        client.close()
    finally:
        live.close()


def test_regularFileIsRefusedAndUntouched(reactor, path):
    with open(path, "wb") as precious:
        precious.write(b"not a socket\n")
    before = os.lstat(path)
    with pytest.raises(CannotListenError) as info:
        reactor.listenUNIX(path, RecordingServerFactory())
    assert "holds a regular file, not a socket: left untouched" in str(info.value)
    after = os.lstat(path)
    assert (after.st_ino, after.st_mode) == (before.st_ino, before.st_mode)
    assert open(path, "rb").read() == b"not a socket\n"


def test_symlinkAtSocketPathIsRefused(reactor, path, tmp_path):
    # Even to a stale socket: a symlink is never followed nor removed.
    elsewhere = str(tmp_path / "elsewhere.sock")
    _staleSocket(elsewhere)
    os.symlink(elsewhere, path)
    with pytest.raises(CannotListenError) as info:
        reactor.listenUNIX(path, RecordingServerFactory())
    assert "holds a symbolic link, not a socket" in str(info.value)
    assert os.readlink(path) == elsewhere and os.path.exists(elsewhere)


def test_stopLeavesAReplacedSocketAlone(reactor, path):
    port = reactor.listenUNIX(path, RecordingServerFactory())
    os.unlink(path)
    newer = socket.socket(socket.AF_UNIX)
    newer.bind(path)
    newerInode = os.lstat(path).st_ino
    try:
        wait(reactor, port.stopListening())
        assert os.path.exists(path), "another listener's socket file was removed"
        assert os.lstat(path).st_ino == newerInode
    finally:
        newer.close()


def test_adoptedSocketFileIsKeptAtStop(reactor, path):
    # A socket passed by systemd is systemd's to remove (RemoveOnStop=).
    inherited = socket.socket(socket.AF_UNIX)
    inherited.bind(path)
    inherited.listen(5)
    try:
        port = reactor.adoptStreamPort(inherited.fileno(), socket.AF_UNIX, RecordingServerFactory())
        wait(reactor, port.stopListening())
        assert os.path.exists(path)
    finally:
        inherited.close()


def test_symlinkAtLockPathIsRefused(reactor, path, tmp_path):
    # Planted by whoever may write the directory, to make a listener started
    # as root truncate a file of root's.
    target = tmp_path / "precious"
    target.write_bytes(b"root:secret\n")
    os.symlink(str(target), path + ".lock")
    with pytest.raises(CannotListenError) as info:
        reactor.listenUNIX(path, RecordingServerFactory(), wantPID=True)
    assert "refusing to open lock file %s.lock: it is a symbolic link" % (path,) in str(info.value)
    assert target.read_bytes() == b"root:secret\n"
    assert not os.path.exists(path)


def test_lockFileWithAnotherHardLinkIsRefused(reactor, path, tmp_path):
    target = tmp_path / "precious"
    target.write_bytes(b"root:secret\n")
    os.link(str(target), path + ".lock")
    with pytest.raises(CannotListenError) as info:
        reactor.listenUNIX(path, RecordingServerFactory(), wantPID=True)
    assert "refusing to open lock file %s.lock: it has 2 hard links" % (path,) in str(info.value)
    assert target.read_bytes() == b"root:secret\n"


def test_lockFileIsEmptiedWhenItCannotBeRemoved(reactor, path, monkeypatch):
    # As after dropping privileges in a directory of root's: unlink() fails,
    # and the lock file must not go on naming a process that has exited.
    port = reactor.listenUNIX(path, RecordingServerFactory(), wantPID=True)
    realUnlink = os.unlink

    def refusingUnlink(name, *args, **kwargs):
        if os.fsdecode(name).endswith(".lock"):
            raise PermissionError(13, "Permission denied", name)
        return realUnlink(name, *args, **kwargs)

    monkeypatch.setattr(os, "unlink", refusingUnlink)
    wait(reactor, port.stopListening())
    monkeypatch.undo()
    assert open(path + ".lock").read() == ""
    # The emptied lock file is taken again by the next listener.
    port = reactor.listenUNIX(path, RecordingServerFactory(), wantPID=True)
    try:
        assert open(path + ".lock").read().strip() == str(os.getpid())
    finally:
        wait(reactor, port.stopListening())
