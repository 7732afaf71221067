"""
Certificates for the TLS tests, made with trustme when a test session first
asks (the ``tlsCertificates`` fixture of tests/conftest.py).

One CA signs: ``server`` (localhost, 127.0.0.1 and ::1), ``client`` (for
mutual TLS), ``expired`` (localhost, expired yesterday), ``expiringSoon``
(localhost, ten days left), ``otherName`` (other.example only) and
``renewed`` (localhost again, another key: what a renewal brings);
``rsaServer`` is for localhost with an RSA key (the others have ECDSA keys).
``untrusted`` is for localhost too, but signed by ``untrustedCA``, which
nothing trusts.  Each leaf is a trustme LeafCert; ``privateCertificate``,
``caCertificate``, ``writeFiles`` and ``writeCA`` turn them into what reactor.ssl takes.
"""

import datetime

import trustme

from reactor.ssl import Certificate, KeyPair, PrivateCertificate


class CertificateSet:
    """The CAs and leaf certificates the TLS tests use; see the module docstring."""

    def __init__(self):
        now = datetime.datetime.now(datetime.timezone.utc)
        day = datetime.timedelta(days=1)
        self.ca = trustme.CA()
        self.server = self.ca.issue_cert("localhost", "127.0.0.1", "::1")
        self.client = self.ca.issue_cert("client.example", common_name="client.example")
        self.expired = self.ca.issue_cert(
            "localhost", "127.0.0.1", not_before=now - 30 * day, not_after=now - day
        )
        self.expiringSoon = self.ca.issue_cert("localhost", not_after=now + 10 * day)
        self.otherName = self.ca.issue_cert("other.example")
        self.renewed = self.ca.issue_cert("localhost", "127.0.0.1")
        self.rsaServer = self.ca.issue_cert("localhost", key_type=trustme.KeyType.RSA)
        self.untrustedCA = trustme.CA()
        self.untrusted = self.untrustedCA.issue_cert("localhost", "127.0.0.1")

    def privateCertificate(self, leaf):
        """The PrivateCertificate (key and certificate) of a trustme leaf."""
        key = KeyPair.loadPEM(leaf.private_key_pem.bytes())
        return PrivateCertificate.fromCertificateAndKeyPair(
            Certificate.loadPEM(leaf.cert_chain_pems[0].bytes()), key
        )

    def caCertificate(self, ca=None):
        """The Certificate of ``ca`` (by default the CA that signs the rest)."""
        return Certificate.loadPEM((ca or self.ca).cert_pem.bytes())

    def writeFiles(self, leaf, directory, name="server"):
        """
        Write a leaf's key and certificate as ``name``.key and ``name``.pem in
        ``directory`` (a pathlib.Path); return the two paths.
        """
        keyPath = directory / (name + ".key")
        certificatePath = directory / (name + ".pem")
        keyPath.write_bytes(leaf.private_key_pem.bytes())
        certificatePath.write_bytes(leaf.cert_chain_pems[0].bytes())
        return keyPath, certificatePath

    def writeCA(self, directory, ca=None):
        """
        Write the certificate of ``ca`` (by default the CA that signs the
        rest) as ca.pem in ``directory`` (a pathlib.Path, made if missing):
        a directory for caCertsDir= and trustRoots=.  Returns the directory.
        """
        directory.mkdir(parents=True, exist_ok=True)
        (directory / "ca.pem").write_bytes((ca or self.ca).cert_pem.bytes())
        return directory
