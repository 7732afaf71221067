"""
Verifying a TLS peer for reactor.ssl: the verify callback OpenSSL calls for
each certificate of the peer's chain, which checks the leaf's name with
service-identity and reports a refusal to the connection's protocol; and
ClientTLSOptions, the client settings (from optionsForClientTLS) that
install it for one server name and send that name as SNI.

For reactor.ssl, whose private helper this is, the interface is
``VerificationError`` and ``ClientTLSOptions`` (public there),
``makeVerifyCallback``, ``normalName`` and ``VERIFY_PEER``; the
contract with the protocol (``failVerification``) is described in
reactor.ssl's docstring.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Callable

from cryptography import x509
from cryptography.hazmat.bindings.openssl.binding import Binding
from OpenSSL import SSL, crypto
from service_identity import CertificateError as _NoIdentitiesError
from service_identity import VerificationError as _MismatchError
from service_identity.cryptography import extract_patterns
from service_identity.hazmat import DNS_ID, IPAddress_ID, ServiceID, verify_service_identity

from reactor.error import SSLError
from reactor.failure import Failure
from reactor.logger import Logger

__all__ = [
    "ClientTLSOptions",
    "VERIFY_PEER",
    "VerificationError",
    "makeVerifyCallback",
    "normalName",
]

_log = Logger(namespace="reactor.ssl")

VERIFY_PEER = SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT | SSL.VERIFY_CLIENT_ONCE


class VerificationError(SSLError):
    """
    The peer's certificate was refused: its chain (the message carries
    OpenSSL's verify error, "certificate verify failed (certificate has
    expired)") or its name ("hostname mismatch: ...").  It reaches the
    connection as the Failure given to ``failVerification``.
    """

    MESSAGE = "TLS peer verification failed"


_binding = Binding()


def _verifyErrorString(errno: int) -> str:
    # OpenSSL's text for an X509_V_ERR_ code: what ``openssl verify`` prints.
    try:
        text = _binding.ffi.string(_binding.lib.X509_verify_cert_error_string(errno))
        return text.decode("ascii", "replace")  # type: ignore[no-any-return]
    except AttributeError:
        return "verify error %d" % (errno,)


def _failVerification(connection: SSL.Connection, message: str) -> None:
    failVerification = getattr(connection.get_app_data(), "failVerification", None)
    if failVerification is not None:
        failVerification(Failure(VerificationError(string=message)))


VerifyCallback = Callable[[SSL.Connection, crypto.X509, int, int, int], bool]


def makeVerifyCallback(serviceID: ServiceID | None, hostname: str = "") -> VerifyCallback:
    """
    A callback for ``Context.set_verify`` that refuses what OpenSSL refuses
    and, given ``serviceID``, a leaf certificate not for it (``hostname`` is
    the name as the user gave it, for the message).  A refusal goes to the
    connection's app data's ``failVerification`` (see reactor.ssl).
    """

    # OpenSSL calls this for each certificate of the chain, root first, with
    # ok false where its own checks failed; returning False fails the
    # handshake.  The name is checked on the leaf (depth 0) once OpenSSL has
    # accepted it.  Nothing may escape: pyOpenSSL would hold the exception
    # until do_handshake, losing which check raised it.
    def verifyCallback(
        connection: SSL.Connection, certificate: crypto.X509, errno: int, depth: int, ok: int
    ) -> bool:
        try:
            if not ok:
                reason = "certificate verify failed (%s)" % (_verifyErrorString(errno),)
                _failVerification(connection, reason)
                return False
            if depth == 0 and serviceID is not None:
                mismatch = _nameMismatch(certificate.to_cryptography(), serviceID, hostname)
                if mismatch is not None:
                    _failVerification(connection, mismatch)
                    return False
            return True
        except Exception:
            _log.failure("Error while verifying a TLS peer certificate")
            return False

    return verifyCallback


def _nameMismatch(certificate: x509.Certificate, serviceID: ServiceID, hostname: str) -> str | None:
    # None when the certificate is for serviceID, else why it is not.
    try:
        verify_service_identity(extract_patterns(certificate), [serviceID], [])
        return None
    except (_MismatchError, _NoIdentitiesError):
        pass
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
        given = [str(name) for name in names.get_values_for_type(x509.DNSName)]
        given += [str(address) for address in names.get_values_for_type(x509.IPAddress)]
    except x509.ExtensionNotFound:
        given = []
    return "hostname mismatch: the certificate is not for %r but for %s" % (
        hostname,
        ", ".join(given) or "no name (it has no subjectAltName)",
    )


def normalName(name: str) -> str:
    """A server name as compared and sent: lower case, IDNA-encoded."""
    return name.encode("idna").decode("ascii").lower() if not name.isascii() else name.lower()


class ClientTLSOptions:
    """
    A client's TLS settings for one server name, from optionsForClientTLS:
    a connection creator (``clientConnectionForTLS``) and context factory.
    """

    def __init__(
        self,
        hostname: str,
        context: SSL.Context,
        *,
        verify: bool = True,
        sendServerName: bool | None = None,
    ) -> None:
        """
        :param hostname: the server's name or IP address.
        :param context: the rest (trust root, client certificate, ALPN),
            made for this object alone: its verification is set here.
        :param verify: False turns verification off, with a warning.
        :param sendServerName: send ``hostname`` as SNI: by default when it
            is a name (RFC 6066 forbids addresses there).
        """
        self._hostname = hostname
        serviceID: ServiceID
        try:
            address = ipaddress.ip_address(hostname)
        except ValueError:
            ascii = normalName(hostname)
            self._serverName: bytes = ascii.encode("ascii")
            serviceID = DNS_ID(ascii)
            isName = True
        else:
            self._serverName = str(address).encode("ascii")
            serviceID = IPAddress_ID(str(address))
            isName = False
        self._sendServerName = isName if sendServerName is None else sendServerName
        self._context = context
        if verify:
            self._context.set_verify(VERIFY_PEER, makeVerifyCallback(serviceID, hostname))
        else:
            _log.warn(
                "TLS verification is off for connections to {hostname} "
                "(insecurelySkipVerification=True): the server is not authenticated",
                hostname=hostname,
            )

    def getContext(self) -> SSL.Context:
        """The context: it verifies the chain and the name, but cannot send SNI."""
        return self._context

    def clientConnectionForTLS(self, tlsProtocol: object) -> SSL.Connection:
        """A new client connection, sending the server name (SNI) when it should."""
        connection = SSL.Connection(self._context, None)
        if self._sendServerName:
            connection.set_tlsext_host_name(self._serverName)
        return connection

    def __repr__(self) -> str:
        return "<ClientTLSOptions for %r>" % (self._hostname,)
