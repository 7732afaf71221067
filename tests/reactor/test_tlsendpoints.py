"""
TLS endpoints: the ``ssl:`` and ``tls:`` descriptions and ``systemd:`` with
key fields, parsed (a bad field names itself and the description), then
served over real sockets on every reactor: verified connections, mutual TLS
accepted and refused, and a wrong name, an expired certificate and an
untrusted one refused with the reason.  Certificates: tests/reactor/tlscerts.py.
"""

import socket

import pytest
from OpenSSL import SSL

from reactor import _activation
from reactor._activation import ListenFd, SystemdEndpoint
from reactor.endpoints import (
    HostnameEndpoint,
    SSL4ClientEndpoint,
    SSL4ServerEndpoint,
    UNIXServerEndpoint,
    clientFromString,
    connectProtocol,
    quoteStringArgument,
    serverFromString,
    wrapServerTLS,
)
from reactor.ssl import Certificate, CertificateOptions, ClientTLSOptions, optionsForClientTLS
from reactor.testing import MemoryReactor
from tests.reactor.transport_helpers import (
    EchoRecorder,
    Recorder,
    RecordingServerFactory,
    spin,
    wait,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def files(tlsCertificates, tmp_path):
    """Key and certificate files of each leaf, and a directory holding the CA."""

    class Files:
        def __init__(self):
            self.directory = tmp_path
            self.caDir = tlsCertificates.writeCA(tmp_path / "cas")

        def leaf(self, name):
            """(key path, certificate path) of tlsCertificates.<name>, written once."""
            return tlsCertificates.writeFiles(getattr(tlsCertificates, name), tmp_path, name)

        def server(self, name="server", extra=""):
            key, certificate = self.leaf(name)
            return "ssl:0:interface=127.0.0.1:privateKey=%s:certKey=%s%s" % (
                quoteStringArgument(str(key)),
                quoteStringArgument(str(certificate)),
                extra,
            )

        def client(self, port, extra="", host="localhost"):
            return "tls:host=%s:port=%d:trustRoots=%s%s" % (
                host,
                port,
                quoteStringArgument(str(self.caDir)),
                extra,
            )

    return Files()


# -- parsing -------------------------------------------------------------------------


def test_sslDescriptionBuildsAReloadableServerEndpoint(tlsCertificates, files):
    endpoint = serverFromString(MemoryReactor(), files.server(extra=":backlog=7"))
    assert isinstance(endpoint, SSL4ServerEndpoint)
    assert (endpoint.port, endpoint.interface, endpoint.backlog) == (0, "127.0.0.1", 7)
    options = endpoint.contextFactory
    assert isinstance(options, CertificateOptions)
    assert options.certificates() == {
        None: tlsCertificates.privateCertificate(tlsCertificates.server)
    }
    assert options.trustRoot is None  # no client certificates asked for
    assert options.reload() is True  # built from the files


def test_sslDescriptionReadsKeyAndCertificateFromOneFile(tlsCertificates, files, tmp_path):
    both = tmp_path / "both.pem"
    both.write_bytes(tlsCertificates.privateCertificate(tlsCertificates.server).dumpPEM())
    endpoint = serverFromString(MemoryReactor(), "ssl:8443:privateKey=%s" % (both,))
    assert endpoint.port == 8443 and endpoint.interface == ""
    assert endpoint.contextFactory.certificates()[None] == tlsCertificates.privateCertificate(
        tlsCertificates.server
    )


def test_sslDescriptionListensThroughListenSSL(files):
    reactor = MemoryReactor()
    endpoint = serverFromString(reactor, files.server())
    factory = RecordingServerFactory()
    endpoint.listen(factory)
    [(port, listened, options, backlog, interface)] = reactor.sslServers
    assert (port, listened, options, backlog, interface) == (
        0,
        factory,
        endpoint.contextFactory,
        50,
        "127.0.0.1",
    )


def _damage(tlsCertificates, tmp_path, case):
    """Write the files of a broken server; return (description, field, words)."""
    key, certificate = tlsCertificates.writeFiles(tlsCertificates.server, tmp_path)
    base = "ssl:443:privateKey=%s:certKey=%s" % (key, certificate)
    if case == "missingKey":
        key.unlink()
        return base, "privateKey", "cannot read %s" % (key,)
    if case == "missingCertificate":
        certificate.unlink()
        return base, "certKey", "cannot read %s" % (certificate,)
    if case == "garbageCertificate":
        certificate.write_bytes(b"not a certificate\n")
        return base, "certKey", "no usable PEM certificate"
    if case == "mismatch":
        key.write_bytes(tlsCertificates.client.private_key_pem.bytes())
        return base, "privateKey", "the private key does not match the certificate"
    if case == "garbageChain":
        (tmp_path / "chain.pem").write_bytes(b"nothing\n")
        chain = tmp_path / "chain.pem"
        return base + ":extraCertChain=%s" % (chain,), "extraCertChain", str(chain)
    if case == "missingCADir":
        return base + ":caCertsDir=%s" % (tmp_path / "none",), "caCertsDir", "cannot read"
    if case == "emptyCADir":
        (tmp_path / "empty").mkdir()
        return base + ":caCertsDir=%s" % (tmp_path / "empty",), "caCertsDir", "no PEM"
    if case == "twistedMethod":
        return base + ":sslmethod=TLSv1_METHOD", "sslmethod", "TLS 1.2 and 1.3 only"
    if case == "unknownField":
        return base + ":cert=x.pem", "unexpected fields ['cert=x.pem']", "in endpoint"
    raise AssertionError(case)


@pytest.mark.parametrize(
    "case",
    [
        "missingKey",
        "missingCertificate",
        "garbageCertificate",
        "mismatch",
        "garbageChain",
        "missingCADir",
        "emptyCADir",
        "twistedMethod",
        "unknownField",
    ],
)
def test_aBadServerFieldNamesTheFieldAndTheDescription(tlsCertificates, tmp_path, case):
    description, field, words = _damage(tlsCertificates, tmp_path, case)
    with pytest.raises(ValueError) as raised:
        serverFromString(MemoryReactor(), description)
    message = str(raised.value)
    assert message.startswith(field)
    assert words in message
    assert repr(description) in message


@pytest.mark.parametrize(
    "description, misspelt",
    [
        ("ssl:443:privatekey=/etc/key.pem", "privatekey=/etc/key.pem"),
        (
            "systemd:domain=INET:index=0:privateKey=/etc/key.pem:certkey=/etc/cert.pem",
            "certkey=/etc/cert.pem",
        ),
        ("tls:host=example.com:port=443:trustroots=/etc/cas", "trustroots=/etc/cas"),
    ],
)
def test_aMisspeltFieldIsReportedBeforeAnyFileIsRead(description, misspelt):
    # Not "privateKey: cannot read server.pem", Twisted's default key file.
    parse = clientFromString if description.startswith("tls:") else serverFromString
    with pytest.raises(ValueError) as raised:
        parse(MemoryReactor(), description)
    assert str(raised.value) == "unexpected fields [%r] in endpoint description %r" % (
        misspelt,
        description,
    )


def test_sslWithoutAKeyFileSaysSo(tmp_path, monkeypatch):
    # Twisted's default key file is server.pem, in the current directory.
    monkeypatch.chdir(tmp_path)
    with pytest.raises(ValueError) as raised:
        serverFromString(MemoryReactor(), "ssl:443")
    assert str(raised.value) == (
        "privateKey: cannot read server.pem: No such file or directory, "
        "in endpoint description 'ssl:443'"
    )


def test_tlsDescriptionBuildsAVerifyingClientEndpoint(files):
    endpoint = clientFromString(MemoryReactor(), files.client(443, ":timeout=3"))
    assert isinstance(endpoint.contextFactory, ClientTLSOptions)
    assert isinstance(endpoint.wrappedEndpoint, HostnameEndpoint)
    assert repr(endpoint) == "<TLS to <HostnameEndpoint localhost:443>>"
    positional = clientFromString(MemoryReactor(), "tls:example.com:443")
    assert repr(positional.wrappedEndpoint) == "<HostnameEndpoint example.com:443>"


@pytest.mark.parametrize(
    "fields, field, words",
    [
        (":trustRoots=/nonexistent", "trustRoots", "cannot read directory /nonexistent"),
        (":certificate=/nonexistent.pem", "certificate", "cannot read /nonexistent.pem"),
        (":privateKey={key}", "privateKey", "needs certificate=CERT.pem too"),
        (":certificate={cert}:privateKey={otherKey}", "privateKey", "does not match"),
        (":timeout=soon", "timeout", "must be a number of seconds"),
        (":port=443", "port", "must be an integer"),
    ],
)
def test_aBadClientFieldNamesTheFieldAndTheDescription(
    tlsCertificates, tmp_path, fields, field, words
):
    key, cert = tlsCertificates.writeFiles(tlsCertificates.client, tmp_path, "client")
    otherKey, _ = tlsCertificates.writeFiles(tlsCertificates.server, tmp_path, "server")
    fields = fields.format(key=key, cert=cert, otherKey=otherKey)
    port = "https" if field == "port" else "443"
    description = "tls:host=localhost:port=%s%s" % (port, fields.replace(":port=443", ""))
    with pytest.raises(ValueError) as raised:
        clientFromString(MemoryReactor(), description)
    message = str(raised.value)
    assert message.startswith(field)
    assert words in message
    assert repr(description) in message


def test_anSslClientDescriptionPointsToTls():
    with pytest.raises(ValueError, match="tls:host=HOST:port=PORT"):
        clientFromString(MemoryReactor(), "ssl:host=example.com:port=443")


def test_systemdDescriptionWithKeyFieldsServesTLS(tlsCertificates, files):
    key, certificate = files.leaf("server")
    plain = serverFromString(MemoryReactor(), "systemd:domain=INET:index=0")
    assert isinstance(plain, SystemdEndpoint)
    endpoint = serverFromString(
        MemoryReactor(),
        "systemd:domain=INET:name=web:privateKey=%s:certKey=%s" % (key, certificate),
    )
    assert isinstance(endpoint.wrappedEndpoint, SystemdEndpoint)
    assert endpoint.wrappedEndpoint.name == "web"
    assert endpoint.contextFactory.certificates()[None] == tlsCertificates.privateCertificate(
        tlsCertificates.server
    )
    assert repr(endpoint) == "<TLS on <SystemdEndpoint name=web>>"
    description = "systemd:domain=INET:index=0:certKey=%s" % (certificate,)
    with pytest.raises(ValueError) as raised:
        serverFromString(MemoryReactor(), description)
    assert str(raised.value) == (
        "privateKey: TLS needs privateKey=KEY.pem, in endpoint description %r" % (description,)
    )


# -- over real sockets, on every reactor ----------------------------------------------


def _listen(reactor, description, protocol=EchoRecorder):
    factory = RecordingServerFactory(protocol)
    port = wait(reactor, serverFromString(reactor, description).listen(factory))
    return factory, port


def _connect(reactor, description):
    protocol = Recorder()
    wait(reactor, connectProtocol(clientFromString(reactor, description), protocol))
    return protocol


def _echo(reactor, protocol, data=b"over TLS"):
    protocol.transport.write(data)
    spin(reactor, lambda: bytes(protocol.received) == data, what="the echo")


def _close(reactor, port, *protocols):
    for protocol in protocols:
        if not protocol.lost:
            protocol.transport.abortConnection()
    spin(reactor, lambda: all(protocol.lost for protocol in protocols), what="the close")
    wait(reactor, port.stopListening())


def _refused(reactor, factory, client):
    """Wait until both ends are gone; return the client's reason (a Failure)."""
    spin(reactor, lambda: client.lost, what="the refusal")
    spin(reactor, lambda: factory.built and factory.built[0].lost, what="the server side")
    return client.lost[0]


def test_sslServerAndTlsClientTalkVerified(reactor, tlsCertificates, files):
    factory, port = _listen(reactor, files.server())
    client = _connect(reactor, files.client(port.getHost().port))
    _echo(reactor, client)
    assert Certificate.peerFromTransport(client.transport) == tlsCertificates.privateCertificate(
        tlsCertificates.server
    )
    _close(reactor, port, client, factory.built[0])


def test_tlsClientChecksAnIPAddressToo(reactor, files):
    factory, port = _listen(reactor, files.server())
    client = _connect(reactor, files.client(port.getHost().port, host="127.0.0.1"))
    _echo(reactor, client)
    _close(reactor, port, client, factory.built[0])


def test_mutualTLSAccepted(reactor, tlsCertificates, files):
    caDir = quoteStringArgument(str(files.caDir))
    factory, port = _listen(reactor, files.server(extra=":caCertsDir=" + caDir))
    key, certificate = files.leaf("client")
    client = _connect(
        reactor,
        files.client(port.getHost().port, ":certificate=%s:privateKey=%s" % (certificate, key)),
    )
    _echo(reactor, client)
    [server] = factory.built
    assert Certificate.peerFromTransport(server.transport) == tlsCertificates.privateCertificate(
        tlsCertificates.client
    )
    _close(reactor, port, client, server)


@pytest.mark.parametrize("presented", [None, "untrusted"])
def test_mutualTLSRefusesAClientWithoutATrustedCertificate(reactor, files, presented):
    caDir = quoteStringArgument(str(files.caDir))
    factory, port = _listen(reactor, files.server(extra=":caCertsDir=" + caDir))
    extra = ""
    if presented is not None:
        key, certificate = files.leaf(presented)
        extra = ":certificate=%s:privateKey=%s" % (certificate, key)
    client = Recorder()
    endpoint = clientFromString(reactor, files.client(port.getHost().port, extra))
    wait(reactor, connectProtocol(endpoint, client))
    client.transport.write(b"let me in")  # TLS 1.3: the refusal comes after the handshake
    reason = _refused(reactor, factory, client)
    assert reason.check(SSL.Error)
    expected = "certificate required" if presented is None else "unknown ca"
    assert expected in str(reason.value)
    serverReason = str(factory.built[0].lost[0].value)
    if presented is None:
        assert "peer did not return a certificate" in serverReason
    else:
        assert "certificate verify failed (unable to get local issuer certificate)" in serverReason
    assert factory.built[0].received == b""
    wait(reactor, port.stopListening())


@pytest.mark.parametrize(
    "leaf, reason",
    [
        ("otherName", "hostname mismatch"),
        ("expired", "certificate verify failed (certificate has expired)"),
        ("untrusted", "certificate verify failed (unable to get local issuer certificate)"),
    ],
)
def test_tlsClientRefusesTheServerAndSaysWhy(reactor, files, leaf, reason):
    factory, port = _listen(reactor, files.server(leaf))
    client = _connect(reactor, files.client(port.getHost().port))
    lost = _refused(reactor, factory, client)
    assert reason in str(lost.value)
    assert client.events == ["made", "lost"] and client.received == b""
    assert factory.built[0].received == b""
    wait(reactor, port.stopListening())


@pytest.fixture
def passed(monkeypatch):
    """A listening TCP socket, made the one systemd passed under the name "web"."""
    listening = socket.create_server(("127.0.0.1", 0))
    monkeypatch.setattr(_activation, "_passed", [ListenFd(listening.fileno(), "web")])
    yield listening
    listening.close()


def test_systemdSocketServesTLS(reactor, files, passed):
    key, certificate = files.leaf("server")
    description = "systemd:domain=INET:name=web:privateKey=%s:certKey=%s" % (key, certificate)
    factory, port = _listen(reactor, description)
    client = _connect(reactor, files.client(passed.getsockname()[1]))
    _echo(reactor, client)
    _close(reactor, port, client, factory.built[0])


def test_tlsOverAUNIXSocketThroughEndpointField(reactor, tlsCertificates, files, tmp_path):
    key, certificate = files.leaf("server")
    options = CertificateOptions.fromFiles(key, certificate)
    path = str(tmp_path / "tls.sock")
    factory = RecordingServerFactory(EchoRecorder)
    endpoint = wrapServerTLS(options, UNIXServerEndpoint(reactor, path), clock=reactor)
    port = wait(reactor, endpoint.listen(factory))
    inner = quoteStringArgument("unix:path=%s" % (path,))
    client = _connect(
        reactor,
        "tls:host=localhost:trustRoots=%s:endpoint=%s" % (files.caDir, inner),
    )
    _echo(reactor, client)
    _close(reactor, port, client, factory.built[0])


def test_ssl4ClientEndpoint(reactor, tlsCertificates, files):
    factory, port = _listen(reactor, files.server())
    options = optionsForClientTLS("localhost", tlsCertificates.caCertificate())
    endpoint = SSL4ClientEndpoint(reactor, "127.0.0.1", port.getHost().port, options)
    client = Recorder()
    assert wait(reactor, connectProtocol(endpoint, client)) is client
    _echo(reactor, client)
    _close(reactor, port, client, factory.built[0])
