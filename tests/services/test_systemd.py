"""
Tests for services.loomd.systemd: real notification sockets.  (The passed
descriptors of socket activation are tests/reactor/test_activation.py.)
"""

import os
import socket
import time
import uuid

import pytest

from services.loomd import systemd

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


@pytest.fixture
def notifySocket(tmp_path):
    """A bound AF_UNIX datagram socket; yields (NOTIFY_SOCKET value, socket)."""
    path = str(tmp_path / "notify")
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind(path)
    receiver.settimeout(5)
    yield path, receiver
    receiver.close()


def test_readyWithStatusReachesThePathSocket(notifySocket):
    address, receiver = notifySocket
    assert systemd.ready("Serving finger on 127.0.0.1:1079", {"NOTIFY_SOCKET": address})
    assert receiver.recv(4096) == b"READY=1\nSTATUS=Serving finger on 127.0.0.1:1079"


def test_abstractNamespaceSocket():
    name = "loom-test-%s" % (uuid.uuid4().hex,)
    receiver = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    receiver.bind("\0" + name)
    receiver.settimeout(5)
    try:
        assert systemd.notify("READY=1", {"NOTIFY_SOCKET": "@" + name})
        assert receiver.recv(4096) == b"READY=1"
    finally:
        receiver.close()


def test_phasesAndWatchdog(notifySocket):
    address, receiver = notifySocket
    environ = {"NOTIFY_SOCKET": address}
    systemd.stopping(environ=environ)
    systemd.reloading("Reloading\nusers", environ=environ)
    systemd.watchdogPing(environ)
    received = [receiver.recv(4096) for _ in range(3)]
    assert received[0] == b"STOPPING=1"
    assert received[1].startswith(b"RELOADING=1\nMONOTONIC_USEC=")
    assert received[1].endswith(b"\nSTATUS=Reloading users")
    assert received[2] == b"WATCHDOG=1"


def test_reloadingCarriesTheMonotonicTime(notifySocket):
    # systemd >= 253 (Type=notify-reload) matches MONOTONIC_USEC against the
    # moment it sent the reload signal: it must be CLOCK_MONOTONIC, in µs.
    address, receiver = notifySocket
    before = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    systemd.reloading(environ={"NOTIFY_SOCKET": address})
    after = time.clock_gettime_ns(time.CLOCK_MONOTONIC) // 1000
    fields = dict(line.split("=", 1) for line in receiver.recv(4096).decode().split("\n"))
    assert fields["RELOADING"] == "1"
    assert before <= int(fields["MONOTONIC_USEC"]) <= after


def test_notifyIsANoOpWithoutTheVariable():
    assert systemd.notify("READY=1", {}) is False
    assert systemd.ready(environ={"NOTIFY_SOCKET": ""}) is False


def test_notifyRefusesANonUnixAddress():
    with pytest.raises(ValueError, match="not a UNIX socket path"):
        systemd.notify("READY=1", {"NOTIFY_SOCKET": "127.0.0.1:9"})


def test_notifyToAMissingSocketRaises(tmp_path):
    with pytest.raises(FileNotFoundError):
        systemd.notify("READY=1", {"NOTIFY_SOCKET": str(tmp_path / "absent")})


@pytest.mark.parametrize(
    "environ, interval",
    [
        ({"WATCHDOG_USEC": "2000000"}, 1.0),
        ({"WATCHDOG_USEC": "30000000", "WATCHDOG_PID": str(os.getpid())}, 15.0),
        ({"WATCHDOG_USEC": "2000000", "WATCHDOG_PID": "1"}, None),
        ({"WATCHDOG_USEC": "soon"}, None),
        ({"WATCHDOG_USEC": "0"}, None),
        ({}, None),
    ],
)
def test_watchdogInterval(environ, interval):
    assert systemd.watchdogInterval(environ) == interval
