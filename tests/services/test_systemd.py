"""
Tests for services.systemd: real notification sockets, real passed descriptors.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap
import time
import uuid

import pytest

from services import systemd

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


def test_listenFdsIgnoresAnotherProcesssDescriptorsButUnsets():
    environ = {"LISTEN_PID": "1", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "a:b", "OTHER": "x"}
    assert systemd.listenFds(environ) == []
    assert environ == {"OTHER": "x"}


def test_listenFdsMalformed():
    environ = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "many"}
    assert systemd.listenFds(environ, unsetEnvironment=False) == []
    assert environ["LISTEN_FDS"] == "many"


# The "tiny launcher" playing systemd: moves the sockets it was given to
# 3, 4, 5..., sets LISTEN_PID to its own pid and execs the probe, which
# keeps that pid.
LAUNCHER = textwrap.dedent(
    """
    import fcntl, os, sys
    fds = [int(fd) for fd in sys.argv[1].split(",")]
    moved = [fcntl.fcntl(fd, fcntl.F_DUPFD, 100) for fd in fds]  # out of the way first
    targets = [3 + index for index in range(len(fds))]
    for fd, target in zip(moved, targets):
        os.dup2(fd, target)
    for fd in set(fds + moved) - set(targets):
        os.close(fd)
    os.environ.update(
        LISTEN_PID=str(os.getpid()), LISTEN_FDS=str(len(fds)), LISTEN_FDNAMES=sys.argv[2])
    os.execv(sys.executable, [sys.executable, "-c", sys.argv[3]])
    """
)

PROBE = textwrap.dedent(
    """
    import fcntl, json, os, socket
    from services.systemd import listenFds
    passed = listenFds()
    report = {"left": [name for name in os.environ if name.startswith("LISTEN_")], "fds": []}
    adopted = {}
    for fd, name in passed:
        adopted[fd] = sock = socket.socket(fileno=fd)
        cloexec = bool(fcntl.fcntl(fd, fcntl.F_GETFD) & fcntl.FD_CLOEXEC)
        report["fds"].append([fd, name, sock.family.name, sock.type.name, cloexec])
    connection, _ = adopted[passed[0].fd].accept()
    connection.sendall(b"adopted")
    connection.close()
    print(json.dumps(report))
    """
)


def test_listenFdsAdoptsPassedSockets(tmp_path):
    tcp = socket.create_server(("127.0.0.1", 0))
    udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    udp.bind(("127.0.0.1", 0))
    unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unix.bind(str(tmp_path / "control"))
    unix.listen()
    sockets = [tcp, udp, unix]
    fds = [sock.fileno() for sock in sockets]
    child = subprocess.Popen(
        [sys.executable, "-c", LAUNCHER, ",".join(map(str, fds)), "web:dns", PROBE],
        pass_fds=fds,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=dict(os.environ, PYTHONPATH=ROOT),
        cwd=ROOT,
    )
    try:
        with socket.create_connection(tcp.getsockname(), timeout=10) as client:
            for sock in sockets:
                sock.close()  # only the child's copies remain
            assert client.recv(100) == b"adopted"
        out, err = child.communicate(timeout=20)
    finally:
        if child.poll() is None:
            child.kill()
            child.communicate()
    assert child.returncode == 0, err
    assert json.loads(out) == {
        "left": [],
        "fds": [
            [3, "web", "AF_INET", "SOCK_STREAM", True],
            [4, "dns", "AF_INET", "SOCK_DGRAM", True],
            [5, "unknown", "AF_UNIX", "SOCK_STREAM", True],
        ],
    }
