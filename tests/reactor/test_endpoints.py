"""
Endpoints: description parsing (no reactor needed) and real listen/connect.
"""

import socket

import pytest

from reactor.address import IPv4Address, IPv6Address, UNIXAddress
from reactor.defer import CancelledError
from reactor.endpoints import (
    TCP4ClientEndpoint,
    TCP4ServerEndpoint,
    TCP6ServerEndpoint,
    UNIXClientEndpoint,
    UNIXServerEndpoint,
    clientFromString,
    connectProtocol,
    parseDescription,
    serverFromString,
)
from reactor.error import (
    CannotListenError,
    ConnectingCancelledError,
    ConnectionRefusedError,
    DNSLookupError,
)
from reactor.testing import MemoryReactor
from tests.reactor.transport_helpers import (
    EchoRecorder,
    Recorder,
    RecordingServerFactory,
    spin,
    wait,
)


def test_parseDescriptionSplitsFieldsAndEscapes():
    assert parseDescription("tcp:8080:interface=127.0.0.1:backlog=100") == (
        "tcp",
        ["8080"],
        {"interface": "127.0.0.1", "backlog": "100"},
    )
    assert parseDescription(r"unix:/tmp/a\:b:mode=660") == ("unix", ["/tmp/a:b"], {"mode": "660"})
    assert parseDescription(r"tcp:80:interface=\:\:1") == ("tcp", ["80"], {"interface": "::1"})


@pytest.mark.parametrize(
    "description, message",
    [
        ("", "empty"),
        ("tcp", "no port"),
        ("tcp:http", "port must be an integer"),
        ("nope:80", "unknown server endpoint type 'nope'"),
        ("tcp:80:colour=blue", "unexpected fields"),
        ("tcp:80:backlog=1:9", "positional field"),
        ("tcp:80:=x", "empty key"),
        ("unix:", "no path"),
        ("unix:/x:mode=999", "octal"),
    ],
)
def test_malformedServerDescriptionsSayWhatIsWrong(description, message):
    with pytest.raises(ValueError) as info:
        serverFromString(MemoryReactor(), description)
    assert message in str(info.value)


def test_serverDescriptionsBuildEndpoints():
    reactor = MemoryReactor()
    tcp = serverFromString(reactor, "tcp:8080:interface=127.0.0.1:backlog=100")
    assert isinstance(tcp, TCP4ServerEndpoint)
    assert (tcp.port, tcp.interface, tcp.backlog) == (8080, "127.0.0.1", 100)
    tcp6 = serverFromString(reactor, "tcp6:8080")
    assert isinstance(tcp6, TCP6ServerEndpoint) and tcp6.interface == "::"
    unix = serverFromString(reactor, "unix:/run/x.sock:mode=660:lockfile=1")
    assert isinstance(unix, UNIXServerEndpoint)
    assert (unix.address, unix.mode, unix.wantPID) == ("/run/x.sock", 0o660, True)
    # Without mode= the umask decides, as for any file the process creates.
    assert serverFromString(reactor, "unix:/run/x.sock").mode is None


def test_clientDescriptionsBuildEndpoints():
    reactor = MemoryReactor()
    tcp = clientFromString(reactor, "tcp:host=example.org:port=80:timeout=5")
    assert isinstance(tcp, TCP4ClientEndpoint)
    assert (tcp._host, tcp._port, tcp._timeout) == ("example.org", 80, 5.0)
    assert clientFromString(reactor, "tcp:example.org:80")._port == 80
    unix = clientFromString(reactor, "unix:path=/run/x.sock:checkPID=1")
    assert isinstance(unix, UNIXClientEndpoint) and unix._checkPID is True
    with pytest.raises(ValueError):
        clientFromString(reactor, "tcp:host=example.org")
    with pytest.raises(ValueError):
        clientFromString(reactor, "unix:timeout=3")


def test_listenAndConnectThroughEndpoints(reactor):
    server = RecordingServerFactory(EchoRecorder)
    port = wait(reactor, serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(server))
    endpoint = clientFromString(reactor, "tcp:host=127.0.0.1:port=%d" % port.getHost().port)
    protocol = Recorder()
    connected = wait(reactor, connectProtocol(endpoint, protocol))
    assert connected is protocol and protocol.events == ["made"]
    protocol.transport.write(b"via endpoints")
    spin(reactor, lambda: bytes(protocol.received) == b"via endpoints", what="echo")
    protocol.transport.loseConnection()
    spin(reactor, lambda: protocol.lost, what="close")
    wait(reactor, port.stopListening())


def test_listenFailureIsAFailedDeferred(reactor):
    server = RecordingServerFactory()
    port = wait(reactor, serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(server))
    try:
        again = serverFromString(reactor, "tcp:%d:interface=127.0.0.1" % port.getHost().port)
        with pytest.raises(CannotListenError):
            wait(reactor, again.listen(server))
    finally:
        wait(reactor, port.stopListening())


def test_connectRefusedIsAFailedDeferred(reactor):
    server = RecordingServerFactory()
    port = wait(reactor, serverFromString(reactor, "tcp:0:interface=127.0.0.1").listen(server))
    number = port.getHost().port
    wait(reactor, port.stopListening())
    endpoint = clientFromString(reactor, "tcp:host=127.0.0.1:port=%d" % number)
    with pytest.raises(ConnectionRefusedError):
        wait(reactor, connectProtocol(endpoint, Recorder()))


def test_connectToAnUnknownHostIsADNSLookupError(reactor, monkeypatch):
    # The resolver's answer for a name that does not exist, without asking DNS.
    def noSuchHost(host, port, *args):
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", noSuchHost)
    for endpoint in (
        clientFromString(reactor, "tcp:host=no-such-host.invalid:port=80"),
        TCP4ClientEndpoint(reactor, "no-such-host.invalid", 80),
    ):
        with pytest.raises(DNSLookupError, match="no-such-host.invalid"):
            wait(reactor, connectProtocol(endpoint, Recorder()))
    spin(reactor, lambda: not reactor.getThreadPool().working, what="idle thread pool")


def test_unixEndpoints(reactor, tmp_path):
    path = str(tmp_path / "e.sock")
    server = RecordingServerFactory(EchoRecorder)
    port = wait(reactor, serverFromString(reactor, "unix:%s:mode=600" % path).listen(server))
    protocol = wait(
        reactor, connectProtocol(clientFromString(reactor, "unix:path=%s" % path), Recorder())
    )
    protocol.transport.write(b"unix")
    spin(reactor, lambda: bytes(protocol.received) == b"unix", what="echo")
    protocol.transport.loseConnection()
    spin(reactor, lambda: protocol.lost, what="close")
    wait(reactor, port.stopListening())


def test_cancelConnectAttempt():
    reactor = MemoryReactor()
    d = TCP4ClientEndpoint(reactor, "192.0.2.1", 80).connect(RecordingServerFactory())
    d.cancel()
    failures = []
    d.addErrback(failures.append)
    assert failures and failures[0].check(ConnectingCancelledError, CancelledError)


@pytest.mark.parametrize(
    "endpoint, address",
    [
        (lambda r: TCP4ClientEndpoint(r, "192.0.2.1", 80), IPv4Address("TCP", "192.0.2.1", 80)),
        (lambda r: TCP4ClientEndpoint(r, "2001:db8::1", 80), IPv6Address("TCP", "2001:db8::1", 80)),
        (lambda r: UNIXClientEndpoint(r, "/run/x.sock"), UNIXAddress("/run/x.sock")),
    ],
)
def test_cancelledErrorCarriesTheDestinationAddress(endpoint, address):
    d = endpoint(MemoryReactor()).connect(RecordingServerFactory())
    d.cancel()
    failures = []
    d.addErrback(failures.append)
    assert failures[0].value.address == address


def test_cancelConnectAttemptOnARealReactor(reactor):
    # Stopping the connector reports a failure of its own (UserError): the
    # Deferred must still fail with ConnectingCancelledError.
    server = RecordingServerFactory()
    port = reactor.listenTCP(0, server, interface="127.0.0.1")
    try:
        endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port)
        d = endpoint.connect(RecordingServerFactory())
        d.cancel()
        failures = []
        d.addErrback(failures.append)
        assert [f.type for f in failures] == [ConnectingCancelledError]
        spin(reactor, lambda: all(p.events[-1:] == ["lost"] for p in server.built), what="close")
    finally:
        wait(reactor, port.stopListening())


@pytest.mark.parametrize(
    "description, words",
    [
        ("tcp:host=127.0.0.1:port=80:timeout=abc", "timeout must be a number of seconds"),
        ("tcp:host=127.0.0.1:port=80:timeout=0", "timeout must be a number of seconds"),
        ("unix:path=/tmp/x:checkPID=maybe", "checkPID must be 1 or 0"),
    ],
)
def test_badClientFieldsNameTheDescription(description, words):
    with pytest.raises(ValueError) as error:
        clientFromString(MemoryReactor(), description)
    assert words in str(error.value) and description in str(error.value)


def test_badLockfileFieldNamesTheDescription():
    with pytest.raises(ValueError, match="lockfile must be 1 or 0"):
        serverFromString(MemoryReactor(), "unix:/tmp/x.sock:lockfile=sure")


def test_tcp6DescriptionListensOnIPv6(reactor):
    from tests.reactor.transport_helpers import ipv6Available

    if not ipv6Available():
        pytest.skip("no IPv6 loopback on this machine")
    server = RecordingServerFactory(EchoRecorder)
    port = wait(reactor, serverFromString(reactor, "tcp6:0:interface=\\:\\:1").listen(server))
    try:
        assert port.getHost().type == "TCP" and port.getHost().host == "::1"
        endpoint = clientFromString(reactor, "tcp6:host=\\:\\:1:port=%d" % port.getHost().port)
        protocol = wait(reactor, connectProtocol(endpoint, Recorder()))
        protocol.transport.write(b"six")
        spin(reactor, lambda: bytes(protocol.received) == b"six", what="echo over IPv6")
        protocol.transport.loseConnection()
        spin(reactor, lambda: protocol.events[-1:] == ["lost"], what="close")
    finally:
        wait(reactor, port.stopListening())


def test_unixLockfileDescriptionKeepsALockFile(reactor, tmp_path):
    import os

    path = str(tmp_path / "locked.sock")
    port = wait(
        reactor,
        serverFromString(reactor, "unix:%s:lockfile=1" % path).listen(RecordingServerFactory()),
    )
    try:
        assert os.path.exists(path + ".lock")
    finally:
        wait(reactor, port.stopListening())
    assert not os.path.exists(path + ".lock")
