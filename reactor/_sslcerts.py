"""
Certificates and keys for reactor.ssl: Certificate, KeyPair, and loading a
server's key and certificates from PEM files, and checking them.

Each class wraps a `cryptography` object in ``original`` (Twisted's wrap
pyOpenSSL's X509 and PKey, which pyOpenSSL now deprecates in favour of
cryptography's); the constructors also take pyOpenSSL's objects, so code
that built them from ``OpenSSL.crypto`` still works.

For reactor.ssl, whose private helper this is, the module's interface is
its public classes (re-exported there), ``Identity`` (a key, its
certificate and the chain sent after it), ``StrPath``, ``asCertificate``
and ``asPrivateKey`` (accept either library's objects) and ``toX509``
(pyOpenSSL's certificate store takes nothing else).
PrivateCertificate is reactor.ssl's own, as its ``options()`` builds a
CertificateOptions.
"""

from __future__ import annotations

import datetime
import hashlib
import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Union

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import dsa, ec, ed448, ed25519, rsa
from cryptography.x509.oid import NameOID
from OpenSSL import crypto

from reactor.error import CertificateError

__all__ = [
    "Certificate",
    "CertificateFiles",
    "CertificateLoadError",
    "CertificateProblem",
    "DistinguishedName",
    "Identity",
    "KeyPair",
    "PublicKey",
]

# The keys OpenSSL can sign a handshake with (pyOpenSSL's use_privatekey).
PrivateKey = Union[
    dsa.DSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
    rsa.RSAPrivateKey,
]
_KEY_CLASSES = (
    dsa.DSAPrivateKey,
    ec.EllipticCurvePrivateKey,
    ed25519.Ed25519PrivateKey,
    ed448.Ed448PrivateKey,
    rsa.RSAPrivateKey,
)
StrPath = Union[str, "os.PathLike[str]"]

_LONG_NAMES = {
    NameOID.COMMON_NAME: "commonName",
    NameOID.ORGANIZATION_NAME: "organizationName",
    NameOID.ORGANIZATIONAL_UNIT_NAME: "organizationalUnitName",
    NameOID.LOCALITY_NAME: "localityName",
    NameOID.STATE_OR_PROVINCE_NAME: "stateOrProvinceName",
    NameOID.COUNTRY_NAME: "countryName",
    NameOID.EMAIL_ADDRESS: "emailAddress",
}
_SHORT_NAMES = {"CN": "commonName", "O": "organizationName", "OU": "organizationalUnitName"}
_SHORT_NAMES.update({"L": "localityName", "ST": "stateOrProvinceName", "C": "countryName"})


class CertificateLoadError(ValueError):
    """
    A key or certificate could not be loaded: a file is missing or holds no
    PEM of the right kind, or the key does not match the certificate.  The
    message names the file and the reason.
    """


class DistinguishedName(dict[str, bytes]):
    """
    A certificate's subject or issuer: Twisted's long attribute names
    (``commonName``, ``organizationName``, ...) to UTF-8 values.  The short
    names (``CN``, ``O``, ``OU``, ``L``, ``ST``, ``C``) read as attributes too.
    """

    @classmethod
    def fromName(cls, name: x509.Name) -> DistinguishedName:
        """Copy the attributes Twisted names out of a cryptography Name."""
        dn = cls()
        for attribute in name:
            longName = _LONG_NAMES.get(attribute.oid)
            if longName is not None and isinstance(attribute.value, str):
                dn[longName] = attribute.value.encode("utf-8")
        return dn

    def __getattr__(self, name: str) -> bytes:
        try:
            return self[_SHORT_NAMES.get(name, name)]
        except KeyError:
            raise AttributeError(name) from None


def asCertificate(certificate: Any) -> x509.Certificate:
    """Return a cryptography certificate for a Certificate, an X509 or one."""
    if isinstance(certificate, Certificate):
        return certificate.original
    if isinstance(certificate, crypto.X509):
        return certificate.to_cryptography()
    if isinstance(certificate, x509.Certificate):
        return certificate
    raise TypeError("not a certificate: %r" % (certificate,))


def asPrivateKey(key: Any) -> PrivateKey:
    """
    Return a cryptography private key for a KeyPair, a PKey or one.

    :raises TypeError: it is none of these, or a key that cannot sign.
    """
    if isinstance(key, KeyPair):
        return key.original
    if isinstance(key, crypto.PKey):
        key = key.to_cryptography_key()
    if not isinstance(key, _KEY_CLASSES):
        raise TypeError("not a private key TLS can use: %r" % (key,))
    return key


def toX509(certificate: x509.Certificate) -> crypto.X509:
    """The pyOpenSSL X509 that OpenSSL.crypto.X509Store.add_cert requires."""
    return crypto.X509.from_cryptography(certificate)


def _publicBytes(key: Any) -> bytes:
    return key.public_bytes(  # type: ignore[no-any-return]
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


class PublicKey:
    """The public half of a key, compared with another by its DER bytes."""

    def __init__(self, original: Any) -> None:
        """:param original: a cryptography public key."""
        self.original = original

    def matches(self, otherKey: PublicKey) -> bool:
        """True when the two are the same public key."""
        return self.keyHash() == otherKey.keyHash()

    def keyHash(self) -> str:
        """A hex SHA-256 of the key's SubjectPublicKeyInfo (Twisted: MD5)."""
        return hashlib.sha256(_publicBytes(self.original)).hexdigest()

    def __repr__(self) -> str:
        return "<%s %s>" % (type(self).__name__, self.keyHash())


class Certificate:
    """An X.509 certificate; ``original`` is a cryptography Certificate."""

    def __init__(self, original: x509.Certificate | crypto.X509) -> None:
        self.original = asCertificate(original)

    def __repr__(self) -> str:
        subject = self.getSubject().get("commonName", b"").decode("utf-8", "replace")
        issuer = self.getIssuer().get("commonName", b"").decode("utf-8", "replace")
        return "<%s Subject=%s Issuer=%s>" % (type(self).__name__, subject, issuer)

    def __eq__(self, other: object) -> bool:
        if isinstance(other, Certificate):
            return self.dump() == other.dump()
        return NotImplemented

    def __hash__(self) -> int:
        return hash(self.dump())

    @classmethod
    def load(cls, requestData: bytes, format: int = crypto.FILETYPE_ASN1) -> Certificate:
        """Load a certificate from DER (the default) or PEM data."""
        if format == crypto.FILETYPE_PEM:
            return cls(x509.load_pem_x509_certificate(requestData))
        return cls(x509.load_der_x509_certificate(requestData))

    @classmethod
    def loadPEM(cls, data: bytes) -> Certificate:
        """Load the first certificate of PEM data."""
        return cls.load(data, crypto.FILETYPE_PEM)

    @classmethod
    def fromFile(cls, path: StrPath) -> Certificate:
        """
        Load the first certificate of a PEM file.

        :raises CertificateLoadError: naming the file and what is wrong.
        """
        return cls(_readCertificates(path)[0])

    def dump(self, format: int = crypto.FILETYPE_ASN1) -> bytes:
        """The certificate as DER (the default) or PEM."""
        if format == crypto.FILETYPE_PEM:
            return self.original.public_bytes(serialization.Encoding.PEM)
        return self.original.public_bytes(serialization.Encoding.DER)

    def dumpPEM(self) -> bytes:
        """The certificate as PEM."""
        return self.dump(crypto.FILETYPE_PEM)

    def getSubject(self) -> DistinguishedName:
        """A copy of the certificate's subject."""
        return DistinguishedName.fromName(self.original.subject)

    def getIssuer(self) -> DistinguishedName:
        """A copy of the certificate's issuer."""
        return DistinguishedName.fromName(self.original.issuer)

    def getPublicKey(self) -> PublicKey:
        """The certificate's public key."""
        return PublicKey(self.original.public_key())

    def serialNumber(self) -> int:
        """The certificate's serial number."""
        return self.original.serial_number

    def digest(self, method: str = "sha256") -> bytes:
        """The certificate's digest as b":"-separated hex pairs (Twisted: MD5)."""
        return crypto.X509.from_cryptography(self.original).digest(method)

    def notAfter(self) -> datetime.datetime:
        """When the certificate expires, an aware UTC datetime."""
        return self.original.not_valid_after_utc

    @classmethod
    def peerFromTransport(cls, transport: Any) -> Certificate:
        """
        The certificate the peer of a TLS transport presented.

        :raises CertificateError: the transport is not TLS (its
            ``getHandle()`` is no OpenSSL connection) or the peer sent none.
        """
        return cls(_handleCertificate(transport, "get_peer_certificate"))

    @classmethod
    def hostFromTransport(cls, transport: Any) -> Certificate:
        """The certificate this side of a TLS transport presented; see peerFromTransport."""
        return cls(_handleCertificate(transport, "get_certificate"))


def _handleCertificate(transport: Any, methodName: str) -> x509.Certificate:
    method = getattr(transport.getHandle(), methodName, None)
    if method is None:
        raise CertificateError("non-TLS transport %r has no certificate" % (transport,))
    certificate = method(as_cryptography=True)
    if certificate is None:
        raise CertificateError("TLS transport %r has no such certificate" % (transport,))
    return certificate  # type: ignore[no-any-return]


class KeyPair(PublicKey):
    """A private key; ``original`` is a cryptography private key."""

    original: PrivateKey

    def __init__(self, original: Any) -> None:
        """:param original: a cryptography private key or a pyOpenSSL PKey."""
        self.original = asPrivateKey(original)

    @classmethod
    def load(cls, data: bytes, format: int = crypto.FILETYPE_ASN1) -> KeyPair:
        """Load an unencrypted private key from DER (the default) or PEM data."""
        if format == crypto.FILETYPE_PEM:
            return cls(serialization.load_pem_private_key(data, password=None))
        return cls(serialization.load_der_private_key(data, password=None))

    @classmethod
    def loadPEM(cls, data: bytes) -> KeyPair:
        """Load the private key of PEM data (which may hold certificates too)."""
        return cls.load(data, crypto.FILETYPE_PEM)

    @classmethod
    def fromFile(cls, path: StrPath) -> KeyPair:
        """
        Load the private key of a PEM file.

        :raises CertificateLoadError: naming the file and what is wrong.
        """
        data = _read(path)
        try:
            return cls.loadPEM(data)
        except (ValueError, TypeError) as e:
            raise CertificateLoadError("%s: no usable PEM private key (%s)" % (path, e)) from e

    def dump(self, format: int = crypto.FILETYPE_ASN1) -> bytes:
        """The private key, unencrypted, as DER (the default) or PEM (PKCS#8)."""
        encoding = serialization.Encoding.DER
        if format == crypto.FILETYPE_PEM:
            encoding = serialization.Encoding.PEM
        return self.original.private_bytes(
            encoding, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )

    def dumpPEM(self) -> bytes:
        """The private key as PEM."""
        return self.dump(crypto.FILETYPE_PEM)

    def keyHash(self) -> str:
        """The keyHash of the public half: a key pair matches its certificate's key."""
        return hashlib.sha256(_publicBytes(self.original.public_key())).hexdigest()


@dataclass(frozen=True)
class Identity:
    """
    What a TLS server presents: a private key, the certificate it matches
    and the chain sent after it; ``source`` says where they came from.
    """

    key: KeyPair
    certificate: x509.Certificate
    chain: tuple[x509.Certificate, ...]
    source: str

    @classmethod
    def fromObjects(cls, privateKey: Any, certificate: Any, chain: Iterable[Any]) -> Identity:
        """
        Build one from either library's objects.

        :raises CertificateLoadError: the key does not match the certificate.
        """
        identity = cls(
            KeyPair(privateKey),
            asCertificate(certificate),
            tuple(asCertificate(extra) for extra in chain),
            "given in memory",
        )
        identity.checkKey()
        return identity

    def problems(
        self, now: datetime.datetime, expiryWarning: datetime.timedelta
    ) -> list[CertificateProblem]:
        """A warning when the certificate has expired or expires within ``expiryWarning``."""
        notAfter = self.certificate.not_valid_after_utc
        if notAfter <= now:
            message = "certificate (%s) expired on %s" % (self.source, _day(notAfter))
        elif notAfter - now <= expiryWarning:
            days = (notAfter - now).days
            message = "certificate (%s) expires on %s, in %d days" % (
                self.source,
                _day(notAfter),
                days,
            )
        else:
            return []
        return [CertificateProblem("warning", message, notAfter)]

    def checkKey(self) -> None:
        """:raises CertificateLoadError: the key is not the certificate's."""
        if not self.key.matches(PublicKey(self.certificate.public_key())):
            raise CertificateLoadError(
                "the private key does not match the certificate (%s)" % (self.source,)
            )


@dataclass(frozen=True)
class CertificateFiles:
    """
    Where a server's key and certificates are: PEM files, read again by
    ``CertificateOptions.reload``.  ``certificate`` may hold the chain after
    the server's own certificate (a "fullchain.pem"); ``extraCertChain``
    names a further file of chain certificates.  ``privateKey`` may be the
    same file as ``certificate``.
    """

    privateKey: StrPath
    certificate: StrPath
    extraCertChain: StrPath | None = None

    def load(self) -> Identity:
        """
        Read the files.

        :raises CertificateLoadError: a file is missing or unreadable, holds
            no PEM of the right kind, or the key does not match the certificate.
        """
        certificates = _readCertificates(self.certificate)
        if self.extraCertChain is not None:
            certificates += _readCertificates(self.extraCertChain)
        source = "key %s, certificate %s" % (self.privateKey, self.certificate)
        key = KeyPair.fromFile(self.privateKey)
        identity = Identity(key, certificates[0], tuple(certificates[1:]), source)
        identity.checkKey()
        return identity

    def check(
        self,
        *,
        now: datetime.datetime | None = None,
        expiryWarning: datetime.timedelta = datetime.timedelta(days=14),
    ) -> list[CertificateProblem]:
        """
        Read the files and say what is wrong with them, without raising: an
        error when they do not load (a key not matching its certificate is
        one), a warning when the certificate expires within ``expiryWarning``
        of ``now`` (by default, the current time) or has expired.
        """
        try:
            identity = self.load()
        except CertificateLoadError as e:
            return [CertificateProblem("error", str(e))]
        return identity.problems(now or _utcNow(), expiryWarning)


@dataclass(frozen=True)
class CertificateProblem:
    """
    One thing ``check()`` found: ``severity`` is "error" (the certificate
    cannot be used) or "warning"; ``notAfter`` is the expiry date, for the
    expiry warnings.
    """

    severity: str
    message: str
    notAfter: datetime.datetime | None = None

    def __str__(self) -> str:
        return "%s: %s" % (self.severity, self.message)


def _utcNow() -> datetime.datetime:
    return datetime.datetime.now(datetime.timezone.utc)


def _day(moment: datetime.datetime) -> str:
    return moment.strftime("%Y-%m-%d %H:%M:%S UTC")


def _read(path: StrPath) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except OSError as e:
        raise CertificateLoadError("cannot read %s: %s" % (path, e.strerror or e)) from e


def _readCertificates(path: StrPath) -> list[x509.Certificate]:
    data = _read(path)
    try:
        certificates = x509.load_pem_x509_certificates(data)
    except ValueError as e:
        raise CertificateLoadError("%s: no usable PEM certificate (%s)" % (path, e)) from e
    return certificates
