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


def test_wantPIDRemovesStaleSocket(reactor, path):
    # A socket file left by a dead process, with no lock held.
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()
    assert os.path.exists(path)
    with pytest.raises(CannotListenError):
        reactor.listenUNIX(path, RecordingServerFactory())
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
    stale = socket.socket(socket.AF_UNIX)
    stale.bind(path)
    stale.close()
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
