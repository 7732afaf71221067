"""
TLS settings on pyOpenSSL: what a server presents and asks for, and what a
client checks.

    serverOptions = CertificateOptions.fromFiles(privateKey="key.pem",
                                                 certificate="fullchain.pem")
    clientOptions = optionsForClientTLS("example.com")

A client built by optionsForClientTLS verifies by default: the server's
chain against the system's trust store (``platformTrust()``) or the
``trustRoot`` given, then the host name or IP address against the
certificate with service-identity; it sends the name as SNI.  Turning that
off takes ``insecurelySkipVerification=True``, which logs a warning.  Both
sides speak TLS 1.2 at least, with ECDHE key exchange and AEAD ciphers, and
refuse renegotiation.  A server's options built from files reload them on
``reload()`` (loomd calls it on SIGHUP): new handshakes use the new
certificate, open connections keep the context they started with.

The contract with reactor.tls (and any other user of these options):

- A *context factory* is anything with ``getContext()`` returning an
  ``OpenSSL.SSL.Context``; the user makes ``SSL.Connection(context, None)``
  itself, on every connection (``getContext()`` gives the current context,
  which changes after a ``reload()``).
- A *connection creator* has ``serverConnectionForTLS(tlsProtocol)`` and/or
  ``clientConnectionForTLS(tlsProtocol)``, each returning a new
  ``SSL.Connection(context, None)`` for memory BIOs, without its connect or
  accept state set.  Prefer these when present: only they set the client's
  SNI (``getContext()`` of client options still verifies the chain and the
  name, but sends no server name).  CertificateOptions has both methods and
  getContext; optionsForClientTLS's ClientTLSOptions has
  clientConnectionForTLS and getContext.
- The user calls ``connection.set_app_data(tlsProtocol)`` before the
  handshake.  When this module's verify callback refuses the peer (a chain
  OpenSSL does not accept, a name that does not match), it calls
  ``connection.get_app_data().failVerification(failure)``, if the app data
  has that method, with a Failure wrapping a VerificationError (an
  ``reactor.error.SSLError``) whose message says why:
  ``certificate verify failed (certificate has expired)``, ``certificate
  verify failed (unable to get local issuer certificate)``, ``hostname
  mismatch: ...``.  This happens inside OpenSSL's callback, during
  ``do_handshake()``: failVerification should record the failure and abort
  the transport, not touch the SSL.Connection; the handshake then raises
  ``OpenSSL.SSL.Error`` (certificate verify failed), and the recorded
  Failure is the better reason to lose the connection with.
- Every other handshake failure is OpenSSL's own ``OpenSSL.SSL.Error`` from
  ``do_handshake()``, whose message carries OpenSSL's reason: ``no shared
  cipher``, ``unsupported protocol``, and on the refused side the alert
  (``tlsv1 alert unknown ca``, ``sslv3 alert certificate expired``,
  ``no renegotiation``).
- ALPN is set up in the context (``get_alpn_proto_negotiated()`` gives the
  result); a server with no protocol in common with a client that offered
  ALPN fails the handshake.
"""

from __future__ import annotations

import datetime
import enum
import os
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from cryptography import x509
from OpenSSL import SSL, crypto

from reactor._sslcerts import (
    Certificate,
    CertificateFiles,
    CertificateLoadError,
    CertificateProblem,
    DistinguishedName,
    Identity,
    KeyPair,
    PublicKey,
    StrPath,
    toX509,
)
from reactor._sslverify import (
    VERIFY_PEER,
    ClientTLSOptions,
    VerificationError,
    makeVerifyCallback,
    normalName,
)
from reactor.error import VerifyError
from reactor.logger import Logger

__all__ = [
    "Certificate",
    "CertificateFiles",
    "CertificateLoadError",
    "CertificateOptions",
    "CertificateProblem",
    "ClientTLSOptions",
    "DEFAULT_CIPHERS",
    "DN",
    "DistinguishedName",
    "KeyPair",
    "OpenSSLCertificateAuthorities",
    "OpenSSLDefaultPaths",
    "PrivateCertificate",
    "PublicKey",
    "TLSVersion",
    "VerificationError",
    "optionsForClientTLS",
    "platformTrust",
    "trustRootFromCertificates",
]

_log = Logger(namespace="reactor.ssl")

# ECDHE key exchange and AEAD ciphers, for TLS 1.2; TLS 1.3's suites are all
# AEAD with ephemeral keys, and OpenSSL's default list of them stays.
DEFAULT_CIPHERS = "ECDHE+AESGCM:ECDHE+CHACHA20:!aNULL:!eNULL"

_OPTIONS = (
    SSL.OP_NO_COMPRESSION  # CRIME
    | SSL.OP_CIPHER_SERVER_PREFERENCE
    | SSL.OP_NO_RENEGOTIATION  # neither side asks for it nor accepts it
    | SSL.OP_SINGLE_ECDH_USE
    | SSL.OP_NO_TICKET  # sessions are off, as in Twisted: one process's cache
)


# Twisted's short name for it.
DN = DistinguishedName


class TLSVersion(enum.IntEnum):
    """The TLS versions, ordered, for the minimum and maximum options."""

    TLSv1_0 = SSL.TLS1_VERSION
    TLSv1_1 = SSL.TLS1_1_VERSION
    TLSv1_2 = SSL.TLS1_2_VERSION
    TLSv1_3 = SSL.TLS1_3_VERSION


class OpenSSLCertificateAuthorities:
    """Trust the certificates given, and no others."""

    def __init__(self, caCerts: Iterable[x509.Certificate]) -> None:
        self._caCerts = list(caCerts)

    def _addCACertsToContext(self, context: SSL.Context) -> None:
        store = context.get_cert_store()
        assert store is not None
        for certificate in self._caCerts:
            store.add_cert(toX509(certificate))
            # A server names them to the client, which picks its certificate.
            context.add_client_ca(certificate)


class OpenSSLDefaultPaths:
    """
    Trust what OpenSSL's default verify paths hold: the system's store
    (SSL_CERT_FILE and SSL_CERT_DIR name others).
    """

    def _addCACertsToContext(self, context: SSL.Context) -> None:
        context.set_default_verify_paths()


TrustRoot = OpenSSLCertificateAuthorities | OpenSSLDefaultPaths


def trustRootFromCertificates(certificates: Iterable[Certificate]) -> OpenSSLCertificateAuthorities:
    """
    A trust root accepting a peer certificate signed by one of ``certificates``.

    :raises TypeError: an item is not a Certificate (or PrivateCertificate).
    """
    trusted = []
    for certificate in certificates:
        if not isinstance(certificate, Certificate):
            raise TypeError("trustRootFromCertificates takes Certificates, not %r" % (certificate,))
        trusted.append(certificate.original)
    return OpenSSLCertificateAuthorities(trusted)


def platformTrust() -> OpenSSLDefaultPaths:
    """The system's trust store, through OpenSSL's default verify paths."""
    return OpenSSLDefaultPaths()


def _asTrustRoot(trustRoot: TrustRoot | Certificate) -> TrustRoot:
    if isinstance(trustRoot, Certificate):
        return OpenSSLCertificateAuthorities([trustRoot.original])
    return trustRoot


class PrivateCertificate(Certificate):
    """A certificate and its private key (``privateKey``, a KeyPair)."""

    privateKey: KeyPair

    def __repr__(self) -> str:
        return "%s with %r" % (Certificate.__repr__(self), self.privateKey)

    def _setPrivateKey(self, privateKey: KeyPair) -> PrivateCertificate:
        if not privateKey.matches(self.getPublicKey()):
            raise VerifyError("Certificate public and private keys do not match.")
        self.privateKey = privateKey
        return self

    @classmethod
    def load(  # type: ignore[override]
        cls, data: bytes, privateKey: KeyPair, format: int = crypto.FILETYPE_ASN1
    ) -> PrivateCertificate:
        """
        Load a certificate and pair it with ``privateKey``.

        :raises VerifyError: the key is not the certificate's.
        """
        return cls.fromCertificateAndKeyPair(Certificate.load(data, format), privateKey)

    @classmethod
    def loadPEM(cls, data: bytes) -> PrivateCertificate:
        """Load the certificate and the private key both held in PEM data."""
        return cls.load(data, KeyPair.loadPEM(data), crypto.FILETYPE_PEM)

    @classmethod
    def fromFiles(
        cls, certificatePath: StrPath, keyPath: StrPath | None = None
    ) -> PrivateCertificate:
        """
        Load a certificate and its key from PEM files (one file when
        ``keyPath`` is not given).

        :raises CertificateLoadError: a file cannot be read or parsed, or the
            key does not match the certificate.
        """
        identity = CertificateFiles(keyPath or certificatePath, certificatePath).load()
        return cls.fromCertificateAndKeyPair(Certificate(identity.certificate), identity.key)

    @classmethod
    def fromCertificateAndKeyPair(
        cls, certificateInstance: Certificate, privateKey: KeyPair
    ) -> PrivateCertificate:
        """Pair a Certificate with its KeyPair; VerifyError if they do not match."""
        return cls(certificateInstance.original)._setPrivateKey(privateKey)

    def dumpPEM(self) -> bytes:
        """The certificate then the private key, as PEM."""
        return self.dump(crypto.FILETYPE_PEM) + self.privateKey.dumpPEM()

    def options(self, *authorities: Certificate) -> CertificateOptions:
        """
        Server options presenting this certificate; with ``authorities``,
        clients must present a certificate one of them signed.
        """
        trustRoot = trustRootFromCertificates(authorities) if authorities else None
        return CertificateOptions(self.privateKey, self, trustRoot=trustRoot)


Source = Identity | CertificateFiles


class CertificateOptions:
    """
    TLS settings for a server (and for a client that presents a certificate
    or gives its own trust root; a client checking a server's name uses
    optionsForClientTLS).  A context factory and connection creator as the
    module docstring describes.

    Refusing TLS 1.0 and 1.1, non-ECDHE key exchange, non-AEAD ciphers,
    compression and renegotiation is the default.  Loading the key and
    certificates happens here, so a bad one raises at once.
    """

    def __init__(
        self,
        privateKey: Any = None,
        certificate: Any = None,
        *,
        extraCertChain: Sequence[Any] | None = None,
        trustRoot: TrustRoot | Certificate | None = None,
        acceptableProtocols: Sequence[bytes] | None = None,
        acceptableCiphers: str | None = None,
        raiseMinimumTo: TLSVersion | None = None,
        insecurelyLowerMinimumTo: TLSVersion | None = None,
        lowerMaximumSecurityTo: TLSVersion | None = None,
        verifyDepth: int = 9,
        serverNames: Mapping[str, PrivateCertificate | CertificateFiles] | None = None,
    ) -> None:
        """
        :param privateKey: the server's key: a KeyPair, or a private key of
            cryptography or pyOpenSSL.  Give both or neither of it and
            ``certificate``.
        :param certificate: the server's certificate: a Certificate, or a
            certificate of cryptography or pyOpenSSL.
        :param extraCertChain: the certificates sent after ``certificate``
            (intermediates; not the root, not ``certificate`` itself).
        :param trustRoot: when given, the peer must present a certificate
            this trusts (a server then requires client certificates):
            ``trustRootFromCertificates([...])``, ``platformTrust()`` or a
            Certificate.
        :param acceptableProtocols: ALPN protocols, most preferred first.
        :param acceptableCiphers: an OpenSSL cipher string for TLS 1.2,
            replacing DEFAULT_CIPHERS.
        :param raiseMinimumTo: a minimum TLS version, if above TLS 1.2.
        :param insecurelyLowerMinimumTo: the minimum TLS version, even below
            TLS 1.2.
        :param lowerMaximumSecurityTo: the maximum TLS version.
        :param verifyDepth: the longest peer chain accepted.
        :param serverNames: SNI: for each server name (lower case; a
            ``*.example.com`` entry matches one label), the certificate to
            present to a client asking for it, as a PrivateCertificate or
            CertificateFiles.  Other names, and clients sending none, get
            ``certificate``.
        :raises ValueError: only one of key and certificate, no cipher the
            string allows, a minimum above the maximum.
        :raises CertificateLoadError: a key does not match its certificate,
            or a file (in ``serverNames``) does not load.
        :raises TypeError: both ``raiseMinimumTo`` and ``insecurelyLowerMinimumTo``.
        """
        if (privateKey is None) != (certificate is None):
            raise ValueError("Specify neither or both of privateKey and certificate")
        if extraCertChain and privateKey is None:
            raise ValueError("extraCertChain needs a privateKey and a certificate")
        default: Source | None = None
        if privateKey is not None:
            default = Identity.fromObjects(privateKey, certificate, extraCertChain or ())
        self._configure(
            default,
            serverNames or {},
            trustRoot=trustRoot,
            acceptableProtocols=acceptableProtocols,
            acceptableCiphers=acceptableCiphers,
            versions=(raiseMinimumTo, insecurelyLowerMinimumTo, lowerMaximumSecurityTo),
            verifyDepth=verifyDepth,
        )

    @classmethod
    def fromFiles(
        cls,
        privateKey: StrPath,
        certificate: StrPath,
        extraCertChain: StrPath | None = None,
        **options: Any,
    ) -> CertificateOptions:
        """
        Server options whose key and certificates are PEM files, read now
        and again on ``reload()``.

        :param privateKey: the key's file (it may be ``certificate``'s).
        :param certificate: the certificate's file; certificates after the
            first in it are sent as the chain.
        :param extraCertChain: a file of further chain certificates.
        :param options: CertificateOptions' other keyword arguments.
        :raises CertificateLoadError: naming the file and what is wrong with
            it (missing, no PEM of the right kind, a key not matching).
        """
        self = cls.__new__(cls)
        files = _absolute(CertificateFiles(privateKey, certificate, extraCertChain))
        serverNames = options.pop("serverNames", None) or {}
        versions = tuple(
            options.pop(name, None)
            for name in ("raiseMinimumTo", "insecurelyLowerMinimumTo", "lowerMaximumSecurityTo")
        )
        self._configure(files, serverNames, versions=versions, **options)
        return self

    def _configure(
        self,
        default: Source | None,
        serverNames: Mapping[str, PrivateCertificate | CertificateFiles],
        *,
        trustRoot: TrustRoot | Certificate | None = None,
        acceptableProtocols: Sequence[bytes] | None = None,
        acceptableCiphers: str | None = None,
        versions: tuple[TLSVersion | None, ...] = (None, None, None),
        verifyDepth: int = 9,
    ) -> None:
        self._sources: dict[str | None, Source] = {}
        if default is not None:
            self._sources[None] = default
        for name, value in serverNames.items():
            self._sources[normalName(name)] = _asSource(value)
        self.trustRoot = _asTrustRoot(trustRoot) if trustRoot is not None else None
        self._acceptableProtocols = list(acceptableProtocols or ())
        self._cipherString = (acceptableCiphers or DEFAULT_CIPHERS).encode("ascii")
        self._minimum, self._maximum = _versionRange(*versions)
        self._verifyDepth = verifyDepth
        self._warnedClient = False
        self._context, self._contextsByName = self._buildContexts()

    def getContext(self) -> SSL.Context:
        """The context for a new connection (a new one after ``reload()``)."""
        return self._context

    def serverConnectionForTLS(self, tlsProtocol: object) -> SSL.Connection:
        """A new server connection on the current context."""
        return SSL.Connection(self._context, None)

    def clientConnectionForTLS(self, tlsProtocol: object) -> SSL.Connection:
        """
        A new client connection on the current context.  It checks the
        server's chain only when ``trustRoot`` was given, and never its name
        (a warning says so, once): clients want optionsForClientTLS.
        """
        if not self._warnedClient:
            self._warnedClient = True
            _log.warn(
                "CertificateOptions used for a client connection does not check the "
                "server's name{chain}; optionsForClientTLS(hostname) does",
                chain="" if self.trustRoot is not None else " nor its certificate",
            )
        return SSL.Connection(self._context, None)

    def certificates(self) -> dict[str | None, Certificate]:
        """
        The certificates presented now (as last loaded, or reloaded): None
        for the default one, then one for each name of ``serverNames``.
        """
        return {
            name: Certificate(identity.certificate) for name, identity in self._identities.items()
        }

    def reload(self) -> bool:
        """
        Read the key and certificate files again and use them for new
        connections; open connections keep theirs.

        :return: False when these options were built from no file at all
            (nothing to do), True when the files were read.
        :raises CertificateLoadError: a file does not load or a key does not
            match its certificate: the old certificates stay in use, and the
            message says which file and why.
        """
        if not any(isinstance(source, CertificateFiles) for source in self._sources.values()):
            return False
        self._context, self._contextsByName = self._buildContexts()
        return True

    def check(
        self,
        *,
        now: datetime.datetime | None = None,
        expiryWarning: datetime.timedelta = datetime.timedelta(days=14),
    ) -> list[CertificateProblem]:
        """
        What is wrong with the certificates, files read afresh: an error for
        files that do not load (a key not matching its certificate is one), a
        warning for a certificate expiring within ``expiryWarning`` of
        ``now`` (default: the current time) or expired.
        """
        now = now or datetime.datetime.now(datetime.timezone.utc)
        problems = []
        for source in self._sources.values():
            if isinstance(source, CertificateFiles):
                problems += source.check(now=now, expiryWarning=expiryWarning)
            else:
                problems += source.problems(now, expiryWarning)
        return problems

    def _buildContexts(self) -> tuple[SSL.Context, dict[str, SSL.Context]]:
        # Load everything before building anything, so that a failure leaves
        # the caller's contexts as they were (reload keeps the old ones).
        identities = {name: _load(source) for name, source in self._sources.items()}
        byName = {
            name: self._makeContext(identity)
            for name, identity in identities.items()
            if name is not None
        }
        default = self._makeContext(identities.get(None))
        if byName:
            default.set_tlsext_servername_callback(self._selectContextForServerName)
        # Last: nothing below can fail, so certificates() and the contexts agree.
        self._identities = identities
        return default, byName

    def _selectContextForServerName(self, connection: SSL.Connection) -> None:
        serverName = connection.get_servername()
        if not serverName:
            return
        name = serverName.decode("ascii", "replace").lower()
        context = self._contextsByName.get(name)
        if context is None and "." in name:
            context = self._contextsByName.get("*." + name.split(".", 1)[1])
        if context is not None:
            connection.set_context(context)

    def _makeContext(self, identity: Identity | None) -> SSL.Context:
        context = SSL.Context(SSL.TLS_METHOD)
        context.set_options(_OPTIONS)
        context.set_mode(SSL.MODE_RELEASE_BUFFERS)
        context.set_min_proto_version(self._minimum)
        if self._maximum is not None:
            context.set_max_proto_version(self._maximum)
        try:
            context.set_cipher_list(self._cipherString)
        except SSL.Error as e:
            raise ValueError("no usable cipher in %r: %s" % (self._cipherString, e)) from e
        if identity is not None:
            context.use_certificate(identity.certificate)
            context.use_privatekey(identity.key.original)
            for extra in identity.chain:
                context.add_extra_chain_cert(extra)
        if self.trustRoot is not None:
            context.set_verify(VERIFY_PEER, makeVerifyCallback(None))
            self.trustRoot._addCACertsToContext(context)
        else:
            context.set_verify(SSL.VERIFY_NONE)
        context.set_verify_depth(self._verifyDepth)
        # Required for client certificates, even with the session cache off.
        context.set_session_id(os.urandom(8).hex().encode("ascii"))
        context.set_session_cache_mode(SSL.SESS_CACHE_OFF)
        if self._acceptableProtocols:
            context.set_alpn_protos(self._acceptableProtocols)
            context.set_alpn_select_callback(self._selectProtocol)
        return context

    def _selectProtocol(self, connection: SSL.Connection, offered: list[bytes]) -> bytes:
        for protocol in self._acceptableProtocols:
            if protocol in offered:
                return protocol
        # pyOpenSSL answers an empty choice with a fatal alert: no overlap
        # fails the handshake, as Twisted documents.  test_alpnWithoutOverlapFailsTheHandshake
        return b""


def _asSource(value: PrivateCertificate | CertificateFiles) -> Source:
    if isinstance(value, CertificateFiles):
        return _absolute(value)
    return Identity.fromObjects(value.privateKey, value, ())


def _absolute(files: CertificateFiles) -> CertificateFiles:
    # Read again on reload(), maybe after the process changed its directory
    # (loomd --rundir): relative paths are resolved once, now.
    # test_reloadAfterChangingDirectoryReadsTheSameFiles
    extra = files.extraCertChain
    return CertificateFiles(
        os.path.abspath(files.privateKey),
        os.path.abspath(files.certificate),
        None if extra is None else os.path.abspath(extra),
    )


def _load(source: Source) -> Identity:
    return source.load() if isinstance(source, CertificateFiles) else source


def _versionRange(
    raiseMinimumTo: TLSVersion | None,
    insecurelyLowerMinimumTo: TLSVersion | None,
    lowerMaximumSecurityTo: TLSVersion | None,
) -> tuple[int, int | None]:
    # Twisted's rules: raiseMinimumTo only ever raises the default minimum;
    # insecurelyLowerMinimumTo sets it outright; a maximum below the default
    # minimum pulls the minimum down with it, unless one was asked for.
    if raiseMinimumTo is not None and insecurelyLowerMinimumTo is not None:
        raise TypeError("raiseMinimumTo and insecurelyLowerMinimumTo exclude each other")
    minimum = insecurelyLowerMinimumTo
    if minimum is None:
        minimum = max(TLSVersion.TLSv1_2, raiseMinimumTo or TLSVersion.TLSv1_2)
        if raiseMinimumTo is None and lowerMaximumSecurityTo is not None:
            minimum = min(minimum, lowerMaximumSecurityTo)
    if lowerMaximumSecurityTo is not None and minimum > lowerMaximumSecurityTo:
        raise ValueError("the minimum TLS version is above lowerMaximumSecurityTo")
    return int(minimum), None if lowerMaximumSecurityTo is None else int(lowerMaximumSecurityTo)


def optionsForClientTLS(
    hostname: str,
    trustRoot: TrustRoot | Certificate | None = None,
    clientCertificate: PrivateCertificate | None = None,
    acceptableProtocols: Sequence[bytes] | None = None,
    *,
    insecurelySkipVerification: bool = False,
    sendServerName: bool | None = None,
    extraCertificateOptions: Mapping[str, Any] | None = None,
) -> ClientTLSOptions:
    """
    Client TLS settings that authenticate the server ``hostname``.

    The server's chain must lead to ``trustRoot`` (by default
    ``platformTrust()``, the system's store), and its certificate must name
    ``hostname`` (a DNS name, or an IP address matched against the
    certificate's IP addresses), checked with service-identity; the name is
    sent as SNI.

    :param hostname: the server's name or IP address, as text.
    :param trustRoot: ``trustRootFromCertificates([...])``, a Certificate, or
        ``platformTrust()``.
    :param clientCertificate: presented when the server asks for one.
    :param acceptableProtocols: ALPN protocols, most preferred first.
    :param insecurelySkipVerification: True accepts any server at all;
        every context made so logs a warning.  For tests and debugging.
    :param sendServerName: override when SNI is sent (by default: for names).
    :param extraCertificateOptions: more CertificateOptions keyword
        arguments (``raiseMinimumTo``, ``acceptableCiphers``, ...).
    :raises TypeError: ``hostname`` is not text.
    :raises ValueError: ``insecurelySkipVerification`` with a ``trustRoot``.
    """
    if not isinstance(hostname, str):
        raise TypeError("optionsForClientTLS takes text for the host name, not %r" % (hostname,))
    if insecurelySkipVerification and trustRoot is not None:
        raise ValueError("insecurelySkipVerification makes trustRoot meaningless")
    if trustRoot is None and not insecurelySkipVerification:
        trustRoot = platformTrust()
    keyAndCertificate: dict[str, Any] = {}
    if clientCertificate is not None:
        keyAndCertificate = {
            "privateKey": clientCertificate.privateKey,
            "certificate": clientCertificate,
        }
    options = CertificateOptions(
        trustRoot=trustRoot,
        acceptableProtocols=acceptableProtocols,
        **keyAndCertificate,
        **(extraCertificateOptions or {}),
    )
    return ClientTLSOptions(
        hostname,
        options.getContext(),
        verify=not insecurelySkipVerification,
        sendServerName=sendServerName,
    )
