"""
TLS endpoints: TLS added to any stream endpoint, and the TLS settings an
endpoint description names.

    wrapServerTLS(options, endpoint)   listen on endpoint, TLS on every connection
    wrapClientTLS(options, endpoint)   connect through endpoint, then TLS as the client

reactor.endpoints builds its ``ssl:`` servers, TLS on a ``systemd:`` socket
and its ``tls:`` clients on these; this module turns their fields into
options (reactor.ssl):

    serverOptions(description, fields)        privateKey, certKey, extraCertChain, caCertsDir
    clientOptions(host, description, fields)  trustRoots, certificate, privateKey

The one idea: the files a description names are read when it is parsed, so
that a missing file, a file holding no PEM of the right kind or a key not
matching its certificate is a ValueError naming the field and the whole
description at once (in a .tac: when it loads, so ``loomd`` refuses to start
and ``loomd --check`` says why), never a failure at the first handshake.  A
server's options are CertificateOptions.fromFiles, which read the files
again on ``reload()`` (``loomd`` calls it on SIGHUP, through the services).

For reactor.endpoints, whose private part this is, the interface is the
public names below.  reactor.ssl and reactor.tls are imported when first
needed, so that a program using only ``tcp:`` loads no OpenSSL.
"""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any, Callable, TypeVar

from zope.interface import implementer

from reactor.defer import Deferred
from reactor.interfaces import IStreamClientEndpoint, IStreamServerEndpoint

if TYPE_CHECKING:
    from reactor.ssl import CertificateOptions, ClientTLSOptions, OpenSSLCertificateAuthorities

__all__ = [
    "CLIENT_FIELDS",
    "SERVER_FIELDS",
    "TLSClientEndpoint",
    "TLSServerEndpoint",
    "clientOptions",
    "loadTrustRoot",
    "popClientFields",
    "popServerFields",
    "serverOptions",
    "wrapClientTLS",
    "wrapServerTLS",
]

SERVER_FIELDS = ("privateKey", "certKey", "extraCertChain", "caCertsDir")
"""The fields of a description that give a server its TLS settings."""

CLIENT_FIELDS = ("trustRoots", "certificate", "privateKey")
"""The fields of a description that give a client its TLS settings."""

# Twisted's ssl: fields that Loom refuses, and why.
_REFUSED = {
    "sslmethod": "Loom speaks TLS 1.2 and 1.3 only and takes no sslmethod "
    "(CertificateOptions' raiseMinimumTo sets a higher minimum)",
    "dhParameters": "Loom's key exchange is ECDHE and takes no dhParameters",
}

T = TypeVar("T")


@implementer(IStreamServerEndpoint)
class TLSServerEndpoint:
    """
    Listen on another stream server endpoint, with TLS on every connection.

    :ivar wrappedEndpoint: the endpoint that listens.
    :ivar contextFactory: the server's TLS settings (a CertificateOptions,
        or any context factory reactor.tls takes); the services reload it
        on SIGHUP when it has ``reload()``.
    """

    def __init__(self, wrappedEndpoint: Any, contextFactory: Any) -> None:
        self.wrappedEndpoint = wrappedEndpoint
        self.contextFactory = contextFactory

    def listen(self, protocolFactory: Any) -> Deferred[Any]:
        """Listen; return a Deferred firing with the wrapped endpoint's port."""
        from reactor.tls import TLSMemoryBIOFactory

        factory = TLSMemoryBIOFactory(self.contextFactory, False, protocolFactory)
        result: Deferred[Any] = self.wrappedEndpoint.listen(factory)
        return result

    def __repr__(self) -> str:
        return "<TLS on %r>" % (self.wrappedEndpoint,)


@implementer(IStreamClientEndpoint)
class TLSClientEndpoint:
    """
    Connect through another stream client endpoint, then speak TLS as the client.

    :ivar wrappedEndpoint: the endpoint that connects.
    :ivar contextFactory: the client's TLS settings (optionsForClientTLS).
    """

    def __init__(self, wrappedEndpoint: Any, contextFactory: Any) -> None:
        self.wrappedEndpoint = wrappedEndpoint
        self.contextFactory = contextFactory

    def connect(self, protocolFactory: Any) -> Deferred[Any]:
        """
        Connect; return a Deferred firing with your protocol once the
        connection is made, before the handshake (as in Twisted): a refused
        certificate ends the connection, and the protocol's connectionLost
        says why.  Cancelling it cancels the wrapped endpoint's attempt.
        """
        from reactor.tls import TLSMemoryBIOFactory

        factory = TLSMemoryBIOFactory(self.contextFactory, True, protocolFactory)
        connecting: Deferred[Any] = self.wrappedEndpoint.connect(factory)
        return connecting.addCallback(_protocolAbove)

    def __repr__(self) -> str:
        return "<TLS to %r>" % (self.wrappedEndpoint,)


def _protocolAbove(tlsProtocol: Any) -> Any:
    return tlsProtocol.wrappedProtocol


def wrapServerTLS(
    connectionCreator: Any, wrappedEndpoint: Any, clock: Any = None
) -> TLSServerEndpoint:
    """
    An endpoint listening on ``wrappedEndpoint`` with TLS on each connection.

    :param connectionCreator: the server's settings: a CertificateOptions
        (or any context factory reactor.tls takes).
    :param wrappedEndpoint: any IStreamServerEndpoint (TCP, UNIX, systemd).
    :param clock: accepted as Twisted's is; unused (the TLS layer schedules nothing).
    """
    return TLSServerEndpoint(wrappedEndpoint, connectionCreator)


def wrapClientTLS(
    connectionCreator: Any, wrappedEndpoint: Any, clock: Any = None
) -> TLSClientEndpoint:
    """
    An endpoint connecting through ``wrappedEndpoint``, then speaking TLS.

    :param connectionCreator: the client's settings:
        ``optionsForClientTLS(hostname)``, which verifies the server.
    :param wrappedEndpoint: any IStreamClientEndpoint.
    :param clock: accepted as Twisted's is; unused (the TLS layer schedules nothing).
    """
    return TLSClientEndpoint(wrappedEndpoint, connectionCreator)


# -- descriptions ------------------------------------------------------------------


def popServerFields(fields: dict[str, str]) -> dict[str, str]:
    """
    Remove the server TLS fields (SERVER_FIELDS, and Twisted's that Loom
    refuses, for serverOptions to say why) from fields; return them.  The
    parsers take them out first, so that a field left over (a misspelt
    ``privatekey=``) is reported as such before any file is read.
    """
    names = SERVER_FIELDS + tuple(_REFUSED)
    return {name: fields.pop(name) for name in names if name in fields}


def popClientFields(fields: dict[str, str]) -> dict[str, str]:
    """Remove the client TLS fields (CLIENT_FIELDS) from fields; return them."""
    return {name: fields.pop(name) for name in CLIENT_FIELDS if name in fields}


def _wrong(field: str, why: object, description: str) -> ValueError:
    return ValueError("%s: %s, in endpoint description %r" % (field, why, description))


def _loaded(field: str, loader: Callable[[str], T], path: str, description: str) -> T:
    from reactor.ssl import CertificateLoadError

    try:
        return loader(path)
    except CertificateLoadError as error:
        raise _wrong(field, error, description) from None  # the message says it all


def serverOptions(
    description: str, fields: dict[str, str], defaultKey: str | None = None
) -> CertificateOptions:
    """
    Server TLS settings from the fields of a description, removed from fields.

    ``privateKey`` (a PEM key file; ``defaultKey`` when absent), ``certKey``
    (the certificate, maybe followed by its chain; by default the
    privateKey file), ``extraCertChain`` (more chain certificates),
    ``caCertsDir`` (a directory of CA certificates: clients must then
    present a certificate one of them signed).

    :return: a CertificateOptions built from the files, reloadable.
    :raises ValueError: naming the field and the description: no key, a
        file that does not load, a key that does not match the certificate,
        or one of Twisted's fields Loom refuses (sslmethod, dhParameters).
    """
    from reactor.ssl import Certificate, CertificateLoadError, CertificateOptions, KeyPair

    for name, why in _REFUSED.items():
        if name in fields:
            raise _wrong(name, why, description)
    privateKey = fields.pop("privateKey", defaultKey)
    if not privateKey:
        raise _wrong("privateKey", "TLS needs privateKey=KEY.pem", description)
    certKey = fields.pop("certKey", None) or privateKey
    extraCertChain = fields.pop("extraCertChain", None) or None
    caCertsDir = fields.pop("caCertsDir", None)
    # Each file on its own first, so that the error names its field.
    _loaded("privateKey", KeyPair.fromFile, privateKey, description)
    _loaded("certKey", Certificate.fromFile, certKey, description)
    if extraCertChain is not None:
        _loaded("extraCertChain", Certificate.fromFile, extraCertChain, description)
    trustRoot = None
    if caCertsDir is not None:
        trustRoot = loadTrustRoot("caCertsDir", caCertsDir, description)
    try:
        return CertificateOptions.fromFiles(
            privateKey, certKey, extraCertChain, trustRoot=trustRoot
        )
    except CertificateLoadError as error:
        raise _wrong("privateKey", error, description) from None


def clientOptions(host: str, description: str, fields: dict[str, str]) -> ClientTLSOptions:
    """
    Client TLS settings verifying ``host``, from fields (removed from it).

    ``trustRoots`` (a directory of CA certificates; by default the system's
    store, platformTrust()), ``certificate`` (a client certificate, for
    servers asking for one) and ``privateKey`` (its key; by default the
    certificate's file).  The server's name is always checked.

    :raises ValueError: naming the field and the description.
    """
    from reactor.error import VerifyError
    from reactor.ssl import Certificate, KeyPair, PrivateCertificate, optionsForClientTLS

    trustRoots = fields.pop("trustRoots", None)
    certificatePath = fields.pop("certificate", None)
    keyPath = fields.pop("privateKey", None)
    trustRoot = None
    if trustRoots is not None:
        trustRoot = loadTrustRoot("trustRoots", trustRoots, description)
    clientCertificate = None
    if certificatePath:
        certificate = _loaded("certificate", Certificate.fromFile, certificatePath, description)
        keyField = "privateKey" if keyPath else "certificate"
        key = _loaded(keyField, KeyPair.fromFile, keyPath or certificatePath, description)
        try:
            clientCertificate = PrivateCertificate.fromCertificateAndKeyPair(certificate, key)
        except VerifyError:
            why = "the private key in %s does not match the certificate in %s" % (
                keyPath or certificatePath,
                certificatePath,
            )
            raise _wrong(keyField, why, description) from None
    elif keyPath:
        raise _wrong("privateKey", "a client key needs certificate=CERT.pem too", description)
    return optionsForClientTLS(host, trustRoot=trustRoot, clientCertificate=clientCertificate)


def loadTrustRoot(field: str, directory: str, description: str) -> OpenSSLCertificateAuthorities:
    """
    A trust root of the certificates in the ``*.pem`` files of directory
    (as Twisted reads it: other files, and ``.pem`` files holding no
    certificate, are passed over).

    :raises ValueError: naming field and description, when the directory
        cannot be read or holds no certificate at all.
    """
    from cryptography import x509

    from reactor.ssl import Certificate, trustRootFromCertificates

    try:
        names = sorted(os.listdir(directory))
    except OSError as error:
        why = "cannot read directory %s: %s" % (directory, error.strerror or error)
        raise _wrong(field, why, description) from None
    certificates = []
    for name in names:
        if not name.lower().endswith(".pem"):
            continue
        try:
            with open(os.path.join(directory, name), "rb") as pem:
                certificates += x509.load_pem_x509_certificates(pem.read())
        except (OSError, ValueError):
            continue
    if not certificates:
        why = "no PEM certificate in a *.pem file of %s" % (directory,)
        raise _wrong(field, why, description)
    return trustRootFromCertificates(Certificate(each) for each in certificates)
