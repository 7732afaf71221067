"""
Certificates for the TLS tests, made by trustme, and pyOpenSSL contexts
built from them directly (reactor.ssl is not used, so these tests check
reactor.tls on its own).

One CA for the session: ``CA`` signs ``SERVER`` (localhost, 127.0.0.1, ::1)
and ``CLIENT``; ``OTHER_CA`` signs ``STRANGER``, a server nobody trusts;
``EXPIRED`` is CA-signed but out of date.  Keys are ECDSA (trustme's
default), fast to make.
"""

import datetime

import trustme
from OpenSSL import SSL

CA = trustme.CA()
SERVER = CA.issue_cert("localhost", "127.0.0.1", "::1")
CLIENT = CA.issue_cert("client.example")
OTHER_CA = trustme.CA()
STRANGER = OTHER_CA.issue_cert("localhost", "127.0.0.1")
_PAST = datetime.datetime(2020, 1, 1, tzinfo=datetime.timezone.utc)
EXPIRED = CA.issue_cert(
    "localhost", "127.0.0.1", not_before=_PAST, not_after=_PAST + datetime.timedelta(days=1)
)


class ContextFactory:
    """The old-style context factory: any object with getContext()."""

    def __init__(self, context):
        self.context = context

    def getContext(self):
        return self.context


def serverContext(cert=SERVER, *, alpn=None, maxVersion=None, ciphers=None, verifyClients=False):
    """
    Return an SSL.Context presenting cert.

    :param alpn: protocols (bytes) the server accepts, in its order of
        preference, or None for no ALPN.
    :param maxVersion: e.g. SSL.TLS1_2_VERSION, to test TLS 1.2 only things.
    :param ciphers: an OpenSSL cipher string (TLS 1.2 ciphers).
    :param verifyClients: require a client certificate signed by CA.
    """
    context = SSL.Context(SSL.TLS_METHOD)
    context.set_min_proto_version(SSL.TLS1_2_VERSION)
    if maxVersion is not None:
        context.set_max_proto_version(maxVersion)
    if ciphers is not None:
        context.set_cipher_list(ciphers.encode("ascii"))
    cert.configure_cert(context)
    if alpn is not None:

        def select(connection, offered):
            for name in alpn:
                if name in offered:
                    return name
            return SSL.NO_OVERLAPPING_PROTOCOLS

        context.set_alpn_select_callback(select)
    if verifyClients:
        CA.configure_trust(context)
        context.set_verify(SSL.VERIFY_PEER | SSL.VERIFY_FAIL_IF_NO_PEER_CERT)
    return context


def clientContext(*, trust=CA, alpn=None, maxVersion=None, ciphers=None, cert=None):
    """
    Return an SSL.Context that verifies the server's chain against trust
    (None: no verification at all).
    """
    context = SSL.Context(SSL.TLS_METHOD)
    context.set_min_proto_version(SSL.TLS1_2_VERSION)
    if maxVersion is not None:
        context.set_max_proto_version(maxVersion)
    if ciphers is not None:
        context.set_cipher_list(ciphers.encode("ascii"))
    if trust is not None:
        trust.configure_trust(context)
        context.set_verify(SSL.VERIFY_PEER)
    if alpn is not None:
        context.set_alpn_protos(list(alpn))
    if cert is not None:
        cert.configure_cert(context)
    return context


def serverOptions(**kw):
    """A context factory for serverContext(**kw)."""
    return ContextFactory(serverContext(**kw))


def clientOptions(**kw):
    """A context factory for clientContext(**kw)."""
    return ContextFactory(clientContext(**kw))
