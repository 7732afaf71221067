"""
UNIX socket conformance tests, on every reactor.
"""

import os
import socket
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
