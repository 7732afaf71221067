"""
Tests for reactor._activation: the descriptors systemd passes (real passed
sockets, in a child playing systemd) and the ``systemd:`` endpoint, which
reactor.endpoints knows by itself.
"""

import json
import os
import socket
import subprocess
import sys
import textwrap

import pytest

from reactor import _activation
from reactor._activation import ListenFd, SystemdEndpoint, listenFds, passedDescriptor
from reactor.endpoints import clientFromString, connectProtocol, serverFromString
from reactor.testing import MemoryReactor
from tests.reactor.transport_helpers import (
    EchoRecorder,
    Recorder,
    RecordingServerFactory,
    spin,
    wait,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_systemdDescriptionsParseWithoutServicesImported():
    # The parser is the reactor's own: a program that never imports
    # services (nor loomd) can still serve a socket systemd passed.
    probe = (
        "import sys\n"
        "from reactor.endpoints import serverFromString\n"
        "endpoint = serverFromString(None, 'systemd:domain=INET6:name=web')\n"
        "print(type(endpoint).__name__, endpoint.domain, endpoint.index, endpoint.name,\n"
        "      sorted(name for name in sys.modules if name.split('.')[0] == 'services'))\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=ROOT),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.split("\n")[0] == "SystemdEndpoint INET6 None web []"


def test_systemdDescriptionsBuildEndpoints():
    endpoint = serverFromString(MemoryReactor(), "systemd:domain=UNIX:index=1")
    assert isinstance(endpoint, SystemdEndpoint)
    assert (endpoint.domain, endpoint.index, endpoint.name) == ("UNIX", 1, None)
    assert repr(endpoint) == "<SystemdEndpoint index=1>"


@pytest.mark.parametrize(
    "description, message",
    [
        ("systemd:index=0", "need domain=INET, INET6 or UNIX"),
        ("systemd:domain=IPX:index=0", "need domain=INET, INET6 or UNIX"),
        ("systemd:domain=INET", "exactly one of index= or name="),
        ("systemd:domain=INET:index=0:name=web", "exactly one of index= or name="),
        ("systemd:domain=INET:index=first", "index must be an integer"),
        ("systemd:domain=INET:index=0:backlog=5", "unexpected fields"),
    ],
)
def test_malformedSystemdDescriptionsSayWhatIsWrong(description, message):
    with pytest.raises(ValueError) as info:
        serverFromString(MemoryReactor(), description)
    assert message in str(info.value)


@pytest.fixture
def passed(monkeypatch):
    """A listening TCP socket, made the one systemd passed under the name "web"."""
    listening = socket.create_server(("127.0.0.1", 0))
    monkeypatch.setattr(_activation, "_passed", [ListenFd(listening.fileno(), "web")])
    yield listening
    listening.close()


def test_passedDescriptorByIndexOrName(passed):
    assert passedDescriptor(index=0) == passedDescriptor(name="web") == passed.fileno()
    with pytest.raises(ValueError, match="systemd passed 1 socket\\(s\\); there is no index 1"):
        passedDescriptor(index=1)
    with pytest.raises(ValueError, match="systemd passed no socket named 'dns'"):
        passedDescriptor(name="dns")


def test_systemdEndpointServesThePassedSocket(reactor, passed):
    server = RecordingServerFactory(EchoRecorder)
    port = wait(reactor, serverFromString(reactor, "systemd:domain=INET:name=web").listen(server))
    endpoint = clientFromString(reactor, "tcp:host=127.0.0.1:port=%d" % passed.getsockname()[1])
    protocol = Recorder()
    wait(reactor, connectProtocol(endpoint, protocol))
    protocol.transport.write(b"adopted")
    spin(reactor, lambda: bytes(protocol.received) == b"adopted", what="echo")
    protocol.transport.loseConnection()
    spin(reactor, lambda: protocol.lost, what="close")
    wait(reactor, port.stopListening())


def test_aSocketThatWasNotPassedFailsTheListen(reactor, passed):
    endpoint = serverFromString(reactor, "systemd:domain=INET:index=3")
    with pytest.raises(ValueError, match="there is no index 3"):
        wait(reactor, endpoint.listen(RecordingServerFactory()))


def test_listenFdsIgnoresAnotherProcesssDescriptorsButUnsets():
    environ = {"LISTEN_PID": "1", "LISTEN_FDS": "2", "LISTEN_FDNAMES": "a:b", "OTHER": "x"}
    assert listenFds(environ) == []
    assert environ == {"OTHER": "x"}


def test_listenFdsMalformed():
    environ = {"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "many"}
    assert listenFds(environ, unsetEnvironment=False) == []
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
    from reactor._activation import listenFds
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
