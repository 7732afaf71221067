"""
TLS services: SSLServer and SSLClient hand their settings to the reactor;
a TLS server's reloadCertificates() serves a renewed certificate to new
connections while open ones go on, logs what it serves (or why it keeps
the old one), and checkCertificates() says what is wrong.  Real sockets
on every reactor; certificates from tests/reactor/tlscerts.py.
"""

import datetime

import pytest

from protocols.protocol import ClientFactory, Factory
from reactor import log
from reactor.endpoints import clientFromString, connectProtocol, quoteStringArgument
from reactor.ssl import Certificate, CertificateFiles, CertificateOptions
from reactor.testing import MemoryReactor
from services._certificates import describe
from services.internet import SSLClient, SSLServer, service
from tests.reactor.transport_helpers import (
    EchoRecorder,
    Recorder,
    RecordingServerFactory,
    spin,
    wait,
)

pytestmark = pytest.mark.timeout(60)


@pytest.fixture
def logged():
    events = []
    log.addObserver(events.append)
    yield events
    log.removeObserver(events.append)


def lines(events):
    """(isError, text) of each log event."""
    return [(bool(event.get("isError")), " ".join(event["message"])) for event in events]


@pytest.fixture
def served(tlsCertificates, tmp_path):
    """The server's files (renewed in place by ``renew``) and its options."""

    class Served:
        key, certificate = tlsCertificates.writeFiles(tlsCertificates.server, tmp_path)
        caDir = tlsCertificates.writeCA(tmp_path / "cas")
        options = CertificateOptions.fromFiles(key, certificate)

        def renew(self, leaf=None):
            tlsCertificates.writeFiles(leaf or tlsCertificates.renewed, tmp_path)

        def connect(self, reactor, port):
            description = "tls:host=localhost:port=%d:trustRoots=%s" % (
                port,
                quoteStringArgument(str(self.caDir)),
            )
            protocol = Recorder()
            wait(reactor, connectProtocol(clientFromString(reactor, description), protocol))
            return protocol

    return Served()


def echoes(reactor, protocol, data):
    before = len(protocol.received)
    protocol.transport.write(data)
    spin(reactor, lambda: bytes(protocol.received[before:]) == data, what="the echo")
    return True


def peer(protocol):
    return Certificate.peerFromTransport(protocol.transport)


def test_sslServerHandsItsSettingsToListenSSL(served):
    reactor = MemoryReactor()
    factory = Factory()
    server = SSLServer(443, factory, served.options, backlog=5, interface="::1", reactor=reactor)
    server.privilegedStartService()
    server.startService()
    assert reactor.sslServers == [(443, factory, served.options, 5, "::1")]
    assert server.getHost().port == 443


def test_sslClientHandsItsSettingsToConnectSSL(served):
    reactor = MemoryReactor()
    factory = ClientFactory()
    client = SSLClient(
        "example.com", 443, factory, served.options, timeout=7, bindAddress=None, reactor=reactor
    )
    client.startService()
    [(host, port, connected, options, timeout, bindAddress)] = reactor.sslClients
    assert (host, port, connected, options, timeout, bindAddress) == (
        "example.com",
        443,
        factory,
        served.options,
        7,
        None,
    )


def test_reloadServesTheRenewedCertificateToNewConnectionsOnly(
    reactor, runUntil, tlsCertificates, served, logged
):
    server = SSLServer(
        0,
        RecordingServerFactory(EchoRecorder),
        served.options,
        interface="127.0.0.1",
        reactor=reactor,
    )
    server.startService()
    port = server.getHost().port
    before = served.connect(reactor, port)
    assert echoes(reactor, before, b"before")
    served.renew()
    renewed = tlsCertificates.privateCertificate(tlsCertificates.renewed)
    assert server.reloadCertificates() == [
        "reloaded certificate for 127.0.0.1:%d: %s" % (port, describe(renewed))
    ]
    assert lines(logged)[-1] == (
        False,
        "reloaded certificate for 127.0.0.1:%d: %s" % (port, describe(renewed)),
    )
    after = served.connect(reactor, port)
    assert echoes(reactor, after, b"after")
    assert peer(after) == renewed
    # The connection made before the reload goes on, with its certificate.
    assert echoes(reactor, before, b"still here")
    assert peer(before) == tlsCertificates.privateCertificate(tlsCertificates.server)
    for protocol in (before, after):
        protocol.transport.loseConnection()
    spin(reactor, lambda: before.lost and after.lost, what="the close")
    runUntil(reactor, server.stopService())


def test_aRenewalThatDoesNotLoadKeepsTheOldCertificateAndSaysWhy(
    reactor, runUntil, tlsCertificates, served, logged
):
    svc = service(
        "ssl:0:interface=127.0.0.1:privateKey=%s:certKey=%s" % (served.key, served.certificate),
        RecordingServerFactory(EchoRecorder),
        reactor=reactor,
    )
    runUntil(reactor, svc.startService())
    port = svc.getHost().port
    # Half a renewal: the new certificate is there, its key not yet.
    served.certificate.write_bytes(tlsCertificates.renewed.cert_chain_pems[0].bytes())
    [line] = svc.reloadCertificates()
    assert line.startswith(
        "could not reload the certificate for 127.0.0.1:%d, still serving the old one: " % (port,)
    )
    assert "the private key does not match the certificate" in line
    assert lines(logged)[-1] == (True, line)
    client = served.connect(reactor, port)
    assert echoes(reactor, client, b"old")
    assert peer(client) == tlsCertificates.privateCertificate(tlsCertificates.server)
    client.transport.loseConnection()
    spin(reactor, lambda: client.lost, what="the close")
    runUntil(reactor, svc.stopService())


def test_reloadNamesEachServerNameAndTheServiceName(tlsCertificates, tmp_path, served):
    otherKey, otherCertificate = tlsCertificates.writeFiles(
        tlsCertificates.otherName, tmp_path, "other"
    )
    options = CertificateOptions.fromFiles(
        served.key,
        served.certificate,
        serverNames={"other.example": CertificateFiles(otherKey, otherCertificate)},
    )
    server = SSLServer(8443, Factory(), options, reactor=MemoryReactor())
    server.setName("web")
    assert server.reloadCertificates() == [
        "reloaded certificate for web: %s"
        % (describe(tlsCertificates.privateCertificate(tlsCertificates.server)),),
        "reloaded certificate for web (server name other.example): %s"
        % (describe(tlsCertificates.privateCertificate(tlsCertificates.otherName)),),
    ]


def test_certificatesGivenInMemoryAreNotReloaded(tlsCertificates, logged):
    options = tlsCertificates.privateCertificate(tlsCertificates.server).options()
    server = SSLServer(8443, Factory(), options, interface="127.0.0.1", reactor=MemoryReactor())
    expected = (
        "certificate for 127.0.0.1:8443 was given in memory, not read from files: not reloaded"
    )
    assert server.reloadCertificates() == [expected]
    assert lines(logged) == [(False, expected)]


def test_serversWithoutTLSHaveNothingToReloadOrCheck(logged):
    svc = service("tcp:8080", Factory(), reactor=MemoryReactor())
    assert svc.reloadCertificates() == []
    assert svc.checkCertificates() == []
    assert logged == []


def test_aSystemdSocketWithKeyFieldsReloadsToo(tlsCertificates, served):
    svc = service(
        "systemd:domain=INET:name=web:privateKey=%s:certKey=%s" % (served.key, served.certificate),
        Factory(),
        reactor=MemoryReactor(),
    )
    served.renew()
    [line] = svc.reloadCertificates()
    assert line == "reloaded certificate for <TLS on <SystemdEndpoint name=web>>: %s" % (
        describe(tlsCertificates.privateCertificate(tlsCertificates.renewed)),
    )


def test_checkCertificatesNamesTheServer(tlsCertificates, served):
    server = SSLServer(8443, Factory(), served.options, reactor=MemoryReactor())
    assert server.checkCertificates() == []
    served.key.write_bytes(tlsCertificates.client.private_key_pem.bytes())
    [problem] = server.checkCertificates()
    assert problem.severity == "error"
    assert problem.message.startswith("TLS server 0.0.0.0:8443: the private key does not match")
    served.renew(tlsCertificates.expiringSoon)
    notAfter = Certificate.fromFile(served.certificate).notAfter()
    [problem] = server.checkCertificates(now=notAfter - datetime.timedelta(days=13))
    assert (problem.severity, problem.notAfter) == ("warning", notAfter)
    assert problem.message.startswith("TLS server 0.0.0.0:8443: certificate (key ")
    assert problem.message.endswith(", in 13 days")
