"""
reactor.ssl: handshakes between two OpenSSL connections on memory BIOs,
pumped by hand (no reactor, no socket), with trustme's certificates.
"""

import datetime

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import x25519
from OpenSSL import SSL, crypto

from reactor import log
from reactor.error import CertificateError, SSLError, VerifyError
from reactor.logger import formatEvent
from reactor.ssl import (
    Certificate,
    CertificateFiles,
    CertificateLoadError,
    CertificateOptions,
    KeyPair,
    PrivateCertificate,
    TLSVersion,
    VerificationError,
    optionsForClientTLS,
    platformTrust,
    trustRootFromCertificates,
)

# Every test runs over both of reactor.tls's ways into OpenSSL (conftest's tlsPath).
pytestmark = [pytest.mark.timeout(30), pytest.mark.usefixtures("tlsPath")]


class FakeTLSProtocol:
    """What reactor.tls puts in the connection's app data, as far as ssl.py sees."""

    def __init__(self):
        self.failures = []

    def failVerification(self, failure):
        self.failures.append(failure)


class Pump:
    """
    A client and a server SSL.Connection joined through their memory BIOs.

    ``flush()`` moves bytes both ways, driving the handshake and then reading
    what arrives, until nothing moves; an SSL.Error ends that side (kept in
    ``errors``).  ``received`` holds the application data each side read.
    """

    def __init__(self, client, server):
        self.connections = {"client": client, "server": server}
        self.protocols = {"client": FakeTLSProtocol(), "server": FakeTLSProtocol()}
        self.errors, self.received = {}, {"client": b"", "server": b""}
        client.set_connect_state()
        server.set_accept_state()
        for side, connection in self.connections.items():
            connection.set_app_data(self.protocols[side])

    def _step(self, side):
        connection = self.connections[side]
        try:
            connection.do_handshake()
            while True:
                self.received[side] += connection.recv(65536)
        except (SSL.WantReadError, SSL.ZeroReturnError):
            pass
        except SSL.Error as e:
            self.errors[side] = e

    def flush(self):
        """Run both sides until no byte moves; return self."""
        for _ in range(100):
            for side in self.connections:
                if side not in self.errors:
                    self._step(side)
            moved = False
            for source, destination in (("client", "server"), ("server", "client")):
                try:
                    data = self.connections[source].bio_read(65536)
                except SSL.WantReadError:
                    continue
                self.connections[destination].bio_write(data)
                moved = True
            if not moved:
                return self
        raise AssertionError("the pump never settled")

    def send(self, side, data):
        """Send application data from one side, then flush."""
        self.connections[side].sendall(data)
        return self.flush()

    def error(self, side):
        """The side's SSL.Error as text ('' for none)."""
        return str(self.errors.get(side, ""))

    def verificationFailures(self, side):
        """The messages of the Failures ssl.py gave the side's failVerification."""
        return [str(failure.value) for failure in self.protocols[side].failures]

    def peerCertificate(self, side="client"):
        """The certificate the other side presented, as a Certificate."""
        return Certificate(self.connections[side].get_peer_certificate(as_cryptography=True))


def connect(serverOptions, clientOptions):
    """Handshake through the connection-creator methods; return the Pump."""
    client = clientOptions.clientConnectionForTLS(None)
    return Pump(client, serverOptions.serverConnectionForTLS(None)).flush()


def assertConnected(pump):
    assert pump.errors == {}
    pump.received = {"client": b"", "server": b""}
    assert pump.send("client", b"ping").received["server"] == b"ping"
    assert pump.send("server", b"pong").received["client"] == b"pong"


def serverOptions(certs, leaf=None, **kwargs):
    privateCertificate = certs.privateCertificate(leaf or certs.server)
    return CertificateOptions(privateCertificate.privateKey, privateCertificate, **kwargs)


def clientOptions(certs, hostname="localhost", **kwargs):
    kwargs.setdefault("trustRoot", certs.caCertificate())
    return optionsForClientTLS(hostname, **kwargs)


@pytest.fixture
def warnings():
    """The text of warnings logged while the test runs."""
    collected = []

    def observe(event):
        if event.get("log_level") is not None and event["log_level"].name == "warn":
            collected.append(formatEvent(event))

    log.addObserver(observe)
    yield collected
    log.removeObserver(observe)


# Handshakes and verification


def test_serverAndClientOptionsHandshake(tlsCertificates):
    pump = connect(serverOptions(tlsCertificates), clientOptions(tlsCertificates))
    assertConnected(pump)
    client = pump.connections["client"]
    assert client.get_protocol_version_name() == "TLSv1.3"
    assert pump.peerCertificate() == tlsCertificates.privateCertificate(tlsCertificates.server)
    assert pump.verificationFailures("client") == []


def test_clientSendsServerName(tlsCertificates):
    pump = connect(serverOptions(tlsCertificates), clientOptions(tlsCertificates))
    assert pump.connections["server"].get_servername() == b"localhost"


def test_untrustedCAIsRefused(tlsCertificates):
    server = serverOptions(tlsCertificates, tlsCertificates.untrusted)
    pump = connect(server, clientOptions(tlsCertificates))
    assert "certificate verify failed" in pump.error("client")
    assert pump.verificationFailures("client") == [
        "TLS peer verification failed: certificate verify failed "
        "(unable to get local issuer certificate)."
    ]
    assert "unknown ca" in pump.error("server")


def test_expiredCertificateIsRefused(tlsCertificates):
    pump = connect(
        serverOptions(tlsCertificates, tlsCertificates.expired), clientOptions(tlsCertificates)
    )
    assert "certificate verify failed" in pump.error("client")
    [failure] = pump.verificationFailures("client")
    assert "certificate has expired" in failure
    assert "certificate expired" in pump.error("server")


def test_wrongNameIsRefusedAsHostnameMismatch(tlsCertificates):
    pump = connect(
        serverOptions(tlsCertificates, tlsCertificates.otherName), clientOptions(tlsCertificates)
    )
    assert pump.verificationFailures("client") == [
        "TLS peer verification failed: hostname mismatch: the certificate is not for "
        "'localhost' but for other.example."
    ]
    assert "certificate verify failed" in pump.error("client")
    assert "server" in pump.errors


def test_verificationFailureIsAVerificationErrorAndAnSSLError(tlsCertificates):
    pump = connect(
        serverOptions(tlsCertificates, tlsCertificates.otherName), clientOptions(tlsCertificates)
    )
    [failure] = pump.protocols["client"].failures
    assert failure.check(VerificationError) is VerificationError
    assert isinstance(failure.value, SSLError)


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_ipAddressIsMatchedAgainstTheCertificatesAddresses(tlsCertificates, address):
    pump = connect(serverOptions(tlsCertificates), clientOptions(tlsCertificates, address))
    assertConnected(pump)
    # RFC 6066: no address in SNI.
    assert pump.connections["server"].get_servername() is None


def test_ipAddressNotInTheCertificateIsRefused(tlsCertificates):
    pump = connect(serverOptions(tlsCertificates), clientOptions(tlsCertificates, "127.0.0.2"))
    [failure] = pump.verificationFailures("client")
    assert "hostname mismatch: the certificate is not for '127.0.0.2'" in failure
    assert "client" in pump.errors


def test_contextAloneStillVerifiesTheName(tlsCertificates):
    # A user of getContext() alone gets the name check (without SNI) too.
    options = clientOptions(tlsCertificates, "other.example")
    server = serverOptions(tlsCertificates)
    pump = Pump(
        SSL.Connection(options.getContext(), None), SSL.Connection(server.getContext(), None)
    )
    pump.flush()
    assert "certificate verify failed" in pump.error("client")
    assert "hostname mismatch" in pump.verificationFailures("client")[0]


def test_platformTrustRefusesACANotInTheSystemStore(tlsCertificates):
    pump = connect(serverOptions(tlsCertificates), optionsForClientTLS("localhost"))
    assert "certificate verify failed" in pump.error("client")
    assert "unknown ca" in pump.error("server")


def test_platformTrustReadsOpenSSLsDefaultPaths(tlsCertificates, tmp_path, monkeypatch):
    # SSL_CERT_FILE replaces the default file OpenSSL reads the system's
    # roots from: platformTrust now trusts trustme's CA.
    caFile = tmp_path / "ca.pem"
    caFile.write_bytes(tlsCertificates.ca.cert_pem.bytes())
    monkeypatch.setenv("SSL_CERT_FILE", str(caFile))
    pump = connect(serverOptions(tlsCertificates), optionsForClientTLS("localhost"))
    assertConnected(pump)
    pump = connect(
        serverOptions(tlsCertificates), optionsForClientTLS("localhost", platformTrust())
    )
    assertConnected(pump)


def test_internationalNameIsSentAndCheckedInIDNA(tlsCertificates):
    leaf = tlsCertificates.ca.issue_cert("xn--bcher-kva.example")
    pump = connect(
        serverOptions(tlsCertificates, leaf), clientOptions(tlsCertificates, "Bücher.Example")
    )
    assertConnected(pump)
    assert pump.connections["server"].get_servername() == b"xn--bcher-kva.example"


def test_sendServerNameFalseSendsNone(tlsCertificates):
    pump = connect(
        serverOptions(tlsCertificates), clientOptions(tlsCertificates, sendServerName=False)
    )
    assertConnected(pump)
    assert pump.connections["server"].get_servername() is None


def test_insecurelySkipVerificationConnectsAndWarnsOncePerContext(tlsCertificates, warnings):
    options = optionsForClientTLS("localhost", insecurelySkipVerification=True)
    for _ in range(2):
        assertConnected(connect(serverOptions(tlsCertificates, tlsCertificates.untrusted), options))
    assert len(warnings) == 1
    assert "TLS verification is off for connections to localhost" in warnings[0]
    optionsForClientTLS("example.com", insecurelySkipVerification=True)
    assert len(warnings) == 2


def test_insecurelySkipVerificationWithATrustRootIsAnError(tlsCertificates):
    with pytest.raises(ValueError):
        clientOptions(tlsCertificates, insecurelySkipVerification=True)


def test_hostnameMustBeText():
    with pytest.raises(TypeError):
        optionsForClientTLS(b"localhost")


def test_certificateOptionsAsAClientWarnsThatItChecksNoName(tlsCertificates, warnings):
    options = CertificateOptions(trustRoot=tlsCertificates.caCertificate())
    connect(serverOptions(tlsCertificates), options)
    connect(serverOptions(tlsCertificates), options)
    assert len(warnings) == 1
    assert "does not check the server's name;" in warnings[0]


# Mutual TLS


def test_clientCertificateIsAccepted(tlsCertificates):
    server = serverOptions(tlsCertificates, trustRoot=tlsCertificates.caCertificate())
    clientCertificate = tlsCertificates.privateCertificate(tlsCertificates.client)
    pump = connect(server, clientOptions(tlsCertificates, clientCertificate=clientCertificate))
    assertConnected(pump)
    peer = pump.peerCertificate("server")
    assert peer == clientCertificate
    assert peer.getSubject().commonName == b"client.example"
    assert peer.getSubject().CN == b"client.example"


def test_privateCertificateOptionsRequireAClientCertificate(tlsCertificates):
    server = tlsCertificates.privateCertificate(tlsCertificates.server).options(
        tlsCertificates.caCertificate()
    )
    pump = connect(server, clientOptions(tlsCertificates))
    assert "peer did not return a certificate" in pump.error("server")
    assert "certificate required" in pump.error("client")


def test_clientCertificateFromAnotherCAIsRefused(tlsCertificates):
    server = serverOptions(tlsCertificates, trustRoot=tlsCertificates.caCertificate())
    stranger = tlsCertificates.privateCertificate(tlsCertificates.untrusted)
    pump = connect(server, clientOptions(tlsCertificates, clientCertificate=stranger))
    assert pump.verificationFailures("server") == [
        "TLS peer verification failed: certificate verify failed "
        "(unable to get local issuer certificate)."
    ]
    assert "unknown ca" in pump.error("client")


def test_serverNamesItsCAsToTheClient(tlsCertificates):
    server = serverOptions(tlsCertificates, trustRoot=tlsCertificates.caCertificate())
    pump = connect(server, clientOptions(tlsCertificates))
    names = pump.connections["client"].get_client_ca_list()
    assert [name.der() for name in names] == [
        tlsCertificates.caCertificate().original.subject.public_bytes()
    ]


# ALPN, SNI, versions, ciphers, renegotiation


def test_alpnNegotiatesTheServersFavouriteTheClientOffers(tlsCertificates):
    server = serverOptions(tlsCertificates, acceptableProtocols=[b"h2", b"http/1.1"])
    client = clientOptions(tlsCertificates, acceptableProtocols=[b"http/1.1", b"h2"])
    pump = connect(server, client)
    assertConnected(pump)
    assert pump.connections["client"].get_alpn_proto_negotiated() == b"h2"
    assert pump.connections["server"].get_alpn_proto_negotiated() == b"h2"


def test_alpnWithoutOverlapFailsTheHandshake(tlsCertificates):
    server = serverOptions(tlsCertificates, acceptableProtocols=[b"h2"])
    client = clientOptions(tlsCertificates, acceptableProtocols=[b"http/1.1"])
    pump = connect(server, client)
    assert "server" in pump.errors and "client" in pump.errors


def test_serverNamePicksTheCertificate(tlsCertificates):
    other = tlsCertificates.privateCertificate(tlsCertificates.otherName)
    wild = tlsCertificates.ca.issue_cert("*.wild.example")
    server = serverOptions(
        tlsCertificates,
        serverNames={
            "Other.Example": other,
            "*.wild.example": tlsCertificates.privateCertificate(wild),
        },
    )
    pump = connect(server, clientOptions(tlsCertificates, "other.example"))
    assertConnected(pump)
    assert pump.peerCertificate() == other
    assert pump.connections["server"].get_servername() == b"other.example"
    assertConnected(connect(server, clientOptions(tlsCertificates, "a.wild.example")))
    pump = connect(server, clientOptions(tlsCertificates, "localhost"))
    assertConnected(pump)
    assert pump.peerCertificate() == tlsCertificates.privateCertificate(tlsCertificates.server)


def test_serverNameContextsShareTheSettings(tlsCertificates):
    # The context switched to for a name keeps ALPN and client verification.
    other = tlsCertificates.privateCertificate(tlsCertificates.otherName)
    server = serverOptions(
        tlsCertificates,
        serverNames={"other.example": other},
        acceptableProtocols=[b"h2"],
        trustRoot=tlsCertificates.caCertificate(),
    )
    clientCertificate = tlsCertificates.privateCertificate(tlsCertificates.client)
    client = clientOptions(
        tlsCertificates,
        "other.example",
        acceptableProtocols=[b"h2"],
        clientCertificate=clientCertificate,
    )
    pump = connect(server, client)
    assertConnected(pump)
    assert pump.connections["client"].get_alpn_proto_negotiated() == b"h2"
    assert pump.peerCertificate("server") == clientCertificate
    pump = connect(server, clientOptions(tlsCertificates, "other.example"))
    assert "peer did not return a certificate" in pump.error("server")


def oldClient(maximum, ciphers=b"DEFAULT:@SECLEVEL=0"):
    """A bare client context speaking at most ``maximum``, verifying nothing."""
    context = SSL.Context(SSL.TLS_METHOD)
    context.set_min_proto_version(SSL.TLS1_VERSION)
    context.set_max_proto_version(maximum)
    context.set_cipher_list(ciphers)
    return context


def test_tls11ClientIsRefused(tlsCertificates):
    server = serverOptions(tlsCertificates)
    pump = Pump(
        SSL.Connection(oldClient(SSL.TLS1_1_VERSION), None), server.serverConnectionForTLS(None)
    )
    pump.flush()
    assert "unsupported protocol" in pump.error("server")
    assert "protocol version" in pump.error("client")


def test_tls12MinimumHoldsWhateverTheCiphers(tlsCertificates):
    # OpenSSL's security level refuses TLS 1.1 by itself; with it lowered,
    # the minimum version still does.
    lenient = serverOptions(tlsCertificates, acceptableCiphers="DEFAULT:@SECLEVEL=0")
    pump = Pump(
        SSL.Connection(oldClient(SSL.TLS1_1_VERSION), None), lenient.serverConnectionForTLS(None)
    )
    assert "unsupported protocol" in pump.flush().error("server")
    lowered = serverOptions(
        tlsCertificates,
        acceptableCiphers="DEFAULT:@SECLEVEL=0",
        insecurelyLowerMinimumTo=TLSVersion.TLSv1_1,
    )
    pump = Pump(
        SSL.Connection(oldClient(SSL.TLS1_1_VERSION), None), lowered.serverConnectionForTLS(None)
    )
    assert pump.flush().errors == {}
    assert pump.connections["server"].get_protocol_version_name() == "TLSv1.1"


def test_tls12ClientIsAcceptedWithAnAEADCipher(tlsCertificates):
    server = serverOptions(tlsCertificates)
    client = clientOptions(
        tlsCertificates, extraCertificateOptions={"lowerMaximumSecurityTo": TLSVersion.TLSv1_2}
    )
    pump = connect(server, client)
    assertConnected(pump)
    connection = pump.connections["client"]
    assert connection.get_protocol_version_name() == "TLSv1.2"
    assert connection.get_cipher_name().startswith("ECDHE-")
    assert "GCM" in connection.get_cipher_name() or "CHACHA20" in connection.get_cipher_name()


def test_raiseMinimumToRefusesOlderClients(tlsCertificates):
    server = serverOptions(tlsCertificates, raiseMinimumTo=TLSVersion.TLSv1_3)
    pump = Pump(
        SSL.Connection(oldClient(SSL.TLS1_2_VERSION), None), server.serverConnectionForTLS(None)
    )
    pump.flush()
    assert "unsupported protocol" in pump.error("server")


def test_versionOptionsThatContradictAreRefused(tlsCertificates):
    with pytest.raises(TypeError):
        CertificateOptions(
            raiseMinimumTo=TLSVersion.TLSv1_3, insecurelyLowerMinimumTo=TLSVersion.TLSv1_1
        )
    with pytest.raises(ValueError):
        CertificateOptions(
            raiseMinimumTo=TLSVersion.TLSv1_3, lowerMaximumSecurityTo=TLSVersion.TLSv1_2
        )


@pytest.mark.parametrize(
    "leaf, cipher",
    [
        ("server", b"ECDHE-ECDSA-AES128-SHA"),  # ECDHE, but CBC and SHA-1
        ("rsaServer", b"AES128-GCM-SHA256"),  # AEAD, but RSA key exchange
    ],
)
def test_noSharedCipher(tlsCertificates, leaf, cipher):
    server = serverOptions(tlsCertificates, getattr(tlsCertificates, leaf))
    client = oldClient(SSL.TLS1_2_VERSION, cipher + b":@SECLEVEL=0")
    pump = Pump(SSL.Connection(client, None), server.serverConnectionForTLS(None)).flush()
    assert "no shared cipher" in pump.error("server")
    assert "handshake failure" in pump.error("client")


def test_cipherStringWithNoCipherIsAValueError():
    with pytest.raises(ValueError):
        CertificateOptions(acceptableCiphers="NO-SUCH-CIPHER")


def test_renegotiationAskedByTheClientIsRefused(tlsCertificates):
    # OpenSSL 3 servers refuse it by default too (SSL_OP_ALLOW_CLIENT_RENEGOTIATION).
    server = serverOptions(tlsCertificates)
    pump = Pump(
        SSL.Connection(oldClient(SSL.TLS1_2_VERSION), None), server.serverConnectionForTLS(None)
    )
    pump.flush()
    assert pump.errors == {}
    client = pump.connections["client"]
    assert client.renegotiate()
    pump.flush()
    assert "no renegotiation" in pump.error("client")
    assert pump.connections["server"].total_renegotiations() == 0


def test_renegotiationAskedByTheServerIsRefused(tlsCertificates):
    context = SSL.Context(SSL.TLS_METHOD)
    context.set_max_proto_version(SSL.TLS1_2_VERSION)
    privateCertificate = tlsCertificates.privateCertificate(tlsCertificates.server)
    context.use_certificate(privateCertificate.original)
    context.use_privatekey(privateCertificate.privateKey.original)
    pump = Pump(
        clientOptions(tlsCertificates).clientConnectionForTLS(None), SSL.Connection(context, None)
    )
    pump.flush()
    assert pump.errors == {}
    assert pump.connections["server"].renegotiate()
    pump.flush()
    assert "no renegotiation" in pump.error("server")
    assert pump.connections["client"].total_renegotiations() == 0


# Certificates and keys


def test_certificatePEMAndDERRoundTrip(tlsCertificates):
    pem = tlsCertificates.server.cert_chain_pems[0].bytes()
    certificate = Certificate.loadPEM(pem)
    assert certificate.dumpPEM() == pem
    assert Certificate.load(certificate.dump()) == certificate
    assert hash(Certificate.loadPEM(pem)) == hash(certificate)
    assert certificate.getIssuer() == tlsCertificates.caCertificate().getSubject()
    assert certificate.getIssuer().O == b"trustme v1.2.1"
    assert certificate.serialNumber() > 0
    assert len(certificate.digest().split(b":")) == 32
    assert certificate.notAfter() > datetime.datetime.now(datetime.timezone.utc)


def test_keyPairPEMAndDERRoundTrip(tlsCertificates):
    key = KeyPair.loadPEM(tlsCertificates.server.private_key_pem.bytes())
    assert KeyPair.loadPEM(key.dumpPEM()).dump() == key.dump()
    assert KeyPair.load(key.dump()).keyHash() == key.keyHash()
    certificate = Certificate.loadPEM(tlsCertificates.server.cert_chain_pems[0].bytes())
    assert key.matches(certificate.getPublicKey())


def test_privateCertificatePEMRoundTrip(tlsCertificates):
    privateCertificate = tlsCertificates.privateCertificate(tlsCertificates.server)
    loaded = PrivateCertificate.loadPEM(privateCertificate.dumpPEM())
    assert loaded == privateCertificate
    assert loaded.privateKey.dump() == privateCertificate.privateKey.dump()
    again = PrivateCertificate.load(loaded.dump(), loaded.privateKey)
    assert again == privateCertificate


def test_pyOpenSSLObjectsAreAccepted(tlsCertificates):
    # Twisted's CertificateOptions takes pyOpenSSL's PKey and X509.
    key = crypto.load_privatekey(
        crypto.FILETYPE_PEM, tlsCertificates.server.private_key_pem.bytes()
    )
    certificate = crypto.load_certificate(
        crypto.FILETYPE_PEM, tlsCertificates.server.cert_chain_pems[0].bytes()
    )
    options = CertificateOptions(privateKey=key, certificate=certificate)
    assertConnected(connect(options, clientOptions(tlsCertificates)))
    assert Certificate(certificate) == tlsCertificates.privateCertificate(tlsCertificates.server)


def test_keyThatCannotSignIsRefused(tmp_path):
    pem = x25519.X25519PrivateKey.generate().private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    with pytest.raises(TypeError):
        KeyPair.loadPEM(pem)
    (tmp_path / "x25519.key").write_bytes(pem)
    with pytest.raises(CertificateLoadError):
        KeyPair.fromFile(tmp_path / "x25519.key")


def test_privateCertificateRefusesAnotherKey(tlsCertificates):
    certificate = Certificate.loadPEM(tlsCertificates.server.cert_chain_pems[0].bytes())
    otherKey = KeyPair.loadPEM(tlsCertificates.client.private_key_pem.bytes())
    with pytest.raises(VerifyError):
        PrivateCertificate.fromCertificateAndKeyPair(certificate, otherKey)


def test_loadingFromFiles(tlsCertificates, tmp_path):
    keyPath, certificatePath = tlsCertificates.writeFiles(tlsCertificates.server, tmp_path)
    expected = tlsCertificates.privateCertificate(tlsCertificates.server)
    assert Certificate.fromFile(certificatePath) == expected
    assert KeyPair.fromFile(keyPath).matches(expected.getPublicKey())
    loaded = PrivateCertificate.fromFiles(certificatePath, keyPath)
    assert loaded == expected
    both = tmp_path / "both.pem"
    both.write_bytes(expected.dumpPEM())
    assert PrivateCertificate.fromFiles(both) == expected


@pytest.mark.parametrize(
    "damage, expected",
    [
        ("missing", "cannot read"),
        ("garbage", "no usable PEM certificate"),
        ("keyGarbage", "no usable PEM private key"),
        ("mismatch", "does not match"),
    ],
)
def test_filesThatDoNotLoadSayWhy(tlsCertificates, tmp_path, damage, expected):
    keyPath, certificatePath = tlsCertificates.writeFiles(tlsCertificates.server, tmp_path)
    if damage == "missing":
        certificatePath.unlink()
    elif damage == "garbage":
        certificatePath.write_bytes(b"not a certificate\n")
    elif damage == "keyGarbage":
        keyPath.write_bytes(b"not a key\n")
    else:
        keyPath.write_bytes(tlsCertificates.client.private_key_pem.bytes())
    with pytest.raises(CertificateLoadError) as raised:
        CertificateOptions.fromFiles(privateKey=keyPath, certificate=certificatePath)
    assert expected in str(raised.value)
    assert str(certificatePath if damage != "keyGarbage" else keyPath) in str(raised.value)


def test_peerFromTransport(tlsCertificates):
    pump = connect(serverOptions(tlsCertificates), clientOptions(tlsCertificates))

    class Transport:
        def __init__(self, handle):
            self.handle = handle

        def getHandle(self):
            return self.handle

    client = Transport(pump.connections["client"])
    expected = tlsCertificates.privateCertificate(tlsCertificates.server)
    assert Certificate.peerFromTransport(client) == expected
    assert Certificate.hostFromTransport(Transport(pump.connections["server"])) == expected
    with pytest.raises(CertificateError):
        Certificate.hostFromTransport(client)  # the client presented none
    with pytest.raises(CertificateError):
        Certificate.peerFromTransport(Transport(object()))


def test_trustRootFromCertificatesTakesCertificatesOnly(tlsCertificates):
    with pytest.raises(TypeError):
        trustRootFromCertificates([tlsCertificates.ca.cert_pem.bytes()])


def test_extraCertChainCompletesTheChain(tlsCertificates, tmp_path):
    intermediate = tlsCertificates.ca.create_child_ca()
    leaf = intermediate.issue_cert("localhost")
    leafCertificate = Certificate.loadPEM(leaf.cert_chain_pems[0].bytes())
    key = KeyPair.loadPEM(leaf.private_key_pem.bytes())
    chain = [Certificate.loadPEM(pem.bytes()) for pem in leaf.cert_chain_pems[1:]]
    withChain = CertificateOptions(key, leafCertificate, extraCertChain=chain)
    assertConnected(connect(withChain, clientOptions(tlsCertificates)))
    withoutChain = CertificateOptions(key, leafCertificate)
    pump = connect(withoutChain, clientOptions(tlsCertificates))
    assert "certificate verify failed" in pump.error("client")
    # From files: a fullchain file, or the chain in a file of its own.
    keyPath = tmp_path / "leaf.key"
    keyPath.write_bytes(leaf.private_key_pem.bytes())
    fullChain = tmp_path / "fullchain.pem"
    fullChain.write_bytes(b"".join(pem.bytes() for pem in leaf.cert_chain_pems))
    options = CertificateOptions.fromFiles(privateKey=keyPath, certificate=fullChain)
    assertConnected(connect(options, clientOptions(tlsCertificates)))
    (tmp_path / "leaf.pem").write_bytes(leaf.cert_chain_pems[0].bytes())
    (tmp_path / "chain.pem").write_bytes(leaf.cert_chain_pems[1].bytes())
    options = CertificateOptions.fromFiles(
        privateKey=keyPath, certificate=tmp_path / "leaf.pem", extraCertChain=tmp_path / "chain.pem"
    )
    assertConnected(connect(options, clientOptions(tlsCertificates)))


def test_keyAndCertificateGoTogether(tlsCertificates):
    with pytest.raises(ValueError):
        CertificateOptions(
            privateKey=KeyPair.loadPEM(tlsCertificates.server.private_key_pem.bytes())
        )
    with pytest.raises(ValueError):
        CertificateOptions(extraCertChain=[tlsCertificates.caCertificate()])
    mismatched = tlsCertificates.privateCertificate(tlsCertificates.client)
    with pytest.raises(CertificateLoadError):
        CertificateOptions(mismatched.privateKey, tlsCertificates.caCertificate())


# Reloading and checking


def test_reloadServesTheNewCertificateToNewConnectionsOnly(tlsCertificates, tmp_path):
    keyPath, certificatePath = tlsCertificates.writeFiles(tlsCertificates.server, tmp_path)
    options = CertificateOptions.fromFiles(privateKey=keyPath, certificate=certificatePath)
    established = connect(options, clientOptions(tlsCertificates))
    assertConnected(established)
    tlsCertificates.writeFiles(tlsCertificates.renewed, tmp_path)
    assert options.reload() is True
    renewed = connect(options, clientOptions(tlsCertificates))
    assertConnected(renewed)
    assert renewed.peerCertificate() == tlsCertificates.privateCertificate(tlsCertificates.renewed)
    # The connection made before goes on, with the certificate it had.
    assertConnected(established)
    assert established.peerCertificate() == tlsCertificates.privateCertificate(
        tlsCertificates.server
    )


def test_certificatesSayWhatIsPresentedAfterEachReload(tlsCertificates, tmp_path):
    keyPath, certificatePath = tlsCertificates.writeFiles(tlsCertificates.server, tmp_path)
    otherKey, otherCertificate = tlsCertificates.writeFiles(
        tlsCertificates.otherName, tmp_path, "other"
    )
    options = CertificateOptions.fromFiles(
        privateKey=keyPath,
        certificate=certificatePath,
        serverNames={"other.example": CertificateFiles(otherKey, otherCertificate)},
    )
    server = tlsCertificates.privateCertificate(tlsCertificates.server)
    other = tlsCertificates.privateCertificate(tlsCertificates.otherName)
    assert options.certificates() == {None: server, "other.example": other}
    tlsCertificates.writeFiles(tlsCertificates.renewed, tmp_path)
    options.reload()
    renewed = tlsCertificates.privateCertificate(tlsCertificates.renewed)
    assert options.certificates() == {None: renewed, "other.example": other}
    keyPath.write_bytes(tlsCertificates.client.private_key_pem.bytes())
    with pytest.raises(CertificateLoadError):
        options.reload()
    assert options.certificates() == {None: renewed, "other.example": other}
    assert serverOptions(tlsCertificates).certificates() == {None: server}


def test_reloadAfterChangingDirectoryReadsTheSameFiles(tlsCertificates, tmp_path, monkeypatch):
    # loomd changes to --rundir after the .tac built its options.
    keyPath, certificatePath = tlsCertificates.writeFiles(tlsCertificates.server, tmp_path)
    monkeypatch.chdir(tmp_path)
    options = CertificateOptions.fromFiles(privateKey="server.key", certificate="server.pem")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    tlsCertificates.writeFiles(tlsCertificates.renewed, tmp_path)
    assert options.reload() is True
    renewed = tlsCertificates.privateCertificate(tlsCertificates.renewed)
    assert options.certificates()[None] == renewed
    assert options.check() == []


def test_failedReloadKeepsTheOldCertificate(tlsCertificates, tmp_path):
    keyPath, certificatePath = tlsCertificates.writeFiles(tlsCertificates.server, tmp_path)
    options = CertificateOptions.fromFiles(privateKey=keyPath, certificate=certificatePath)
    # A renewal half-copied: the new certificate, the old key.
    certificatePath.write_bytes(tlsCertificates.renewed.cert_chain_pems[0].bytes())
    with pytest.raises(CertificateLoadError) as raised:
        options.reload()
    assert "does not match" in str(raised.value)
    pump = connect(options, clientOptions(tlsCertificates))
    assertConnected(pump)
    assert pump.peerCertificate() == tlsCertificates.privateCertificate(tlsCertificates.server)


def test_reloadRereadsTheServerNamesFiles(tlsCertificates, tmp_path):
    keyPath, certificatePath = tlsCertificates.writeFiles(tlsCertificates.server, tmp_path)
    otherKey, otherCertificate = tlsCertificates.writeFiles(
        tlsCertificates.otherName, tmp_path, "other"
    )
    options = CertificateOptions.fromFiles(
        privateKey=keyPath,
        certificate=certificatePath,
        serverNames={"other.example": CertificateFiles(otherKey, otherCertificate)},
    )
    wanted = clientOptions(tlsCertificates, "other.example")
    assert connect(options, wanted).peerCertificate() == tlsCertificates.privateCertificate(
        tlsCertificates.otherName
    )
    renewed = tlsCertificates.ca.issue_cert("other.example")
    tlsCertificates.writeFiles(renewed, tmp_path, "other")
    options.reload()
    pump = connect(options, wanted)
    assertConnected(pump)
    assert pump.peerCertificate() == tlsCertificates.privateCertificate(renewed)


def test_reloadWithoutFilesDoesNothing(tlsCertificates):
    options = serverOptions(tlsCertificates)
    context = options.getContext()
    assert options.reload() is False
    assert options.getContext() is context


def test_checkFindsNothingWrongWithAGoodCertificate(tlsCertificates, tmp_path):
    keyPath, certificatePath = tlsCertificates.writeFiles(tlsCertificates.server, tmp_path)
    options = CertificateOptions.fromFiles(privateKey=keyPath, certificate=certificatePath)
    assert options.check() == []
    assert serverOptions(tlsCertificates).check() == []


def test_checkReportsAMismatchedKeyAsAnError(tlsCertificates, tmp_path):
    keyPath, certificatePath = tlsCertificates.writeFiles(tlsCertificates.server, tmp_path)
    options = CertificateOptions.fromFiles(privateKey=keyPath, certificate=certificatePath)
    keyPath.write_bytes(tlsCertificates.client.private_key_pem.bytes())
    [problem] = options.check()
    assert problem.severity == "error"
    assert "the private key does not match the certificate" in problem.message
    assert str(keyPath) in problem.message
    [problem] = CertificateFiles(keyPath, certificatePath).check()
    assert problem.severity == "error"


def test_checkWarnsOfExpiryWithinTheGivenDays(tlsCertificates, tmp_path):
    keyPath, certificatePath = tlsCertificates.writeFiles(tlsCertificates.expiringSoon, tmp_path)
    options = CertificateOptions.fromFiles(privateKey=keyPath, certificate=certificatePath)
    notAfter = Certificate.fromFile(certificatePath).notAfter()
    [problem] = options.check()  # ten days left, at most
    assert (problem.severity, problem.notAfter) == ("warning", notAfter)
    [problem] = options.check(now=notAfter - datetime.timedelta(days=14))
    assert problem.message == "certificate (key %s, certificate %s) expires on %s, in 14 days" % (
        keyPath,
        certificatePath,
        notAfter.strftime("%Y-%m-%d %H:%M:%S UTC"),
    )
    assert options.check(now=notAfter - datetime.timedelta(days=14, seconds=1)) == []
    assert options.check(expiryWarning=datetime.timedelta(days=5)) == []
    [problem] = options.check(now=notAfter + datetime.timedelta(seconds=1))
    assert "expired on" in problem.message


def test_checkWarnsOfAnExpiredInMemoryCertificate(tlsCertificates):
    [problem] = serverOptions(tlsCertificates, tlsCertificates.expired).check()
    assert problem.severity == "warning"
    assert "expired on" in str(problem)
