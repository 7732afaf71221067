"""
The certificates of TLS servers in a service tree: reloaded when ``loomd``
gets SIGHUP, checked by ``loomd --check``.

services.internet's SSLServer and StreamServerEndpointService (an ``ssl:``
description, or ``systemd:`` with key fields) have two methods that loomd
calls on every service of the tree that has them, so that the services
never import loomd:

    reloadCertificates()          read the files again; log what is served now
    checkCertificates(now=None)   what is wrong: CertificateProblems

Both act on the server's TLS settings (its ``contextFactory``, or its
endpoint's), when these have ``reload()`` and ``check()``: a
CertificateOptions does, and reads its files again when it was built from
files (``CertificateOptions.fromFiles``, the ``ssl:`` description).  A
reload changes what new handshakes present; connections already open keep
the certificate they began with.  A renewal that does not load (a key that
does not match, a file half-written) changes nothing: the old certificate
stays in use and the log says why.

For services.internet, whose private part this is, the interface is the
functions below.
"""

from __future__ import annotations

import datetime
from typing import Any

from reactor import log

__all__ = ["checkCertificates", "describe", "reloadCertificates", "tlsSettings"]


def tlsSettings(endpoint: Any) -> Any | None:
    """
    The TLS settings an endpoint serves with (an SSL4ServerEndpoint's, or a
    wrapServerTLS endpoint's), or None for an endpoint without TLS.
    """
    while endpoint is not None:
        contextFactory = getattr(endpoint, "contextFactory", None)
        if contextFactory is not None:
            return contextFactory
        endpoint = getattr(endpoint, "wrappedEndpoint", None)
    return None


def _reloadable(contextFactory: Any) -> bool:
    return callable(getattr(contextFactory, "reload", None)) and callable(
        getattr(contextFactory, "check", None)
    )


def reloadCertificates(contextFactory: Any, where: str) -> list[str]:
    """
    Reload the certificates of settings that can reload, and log the outcome:
    for each certificate now presented, ``reloaded certificate for WHERE:
    serial X, expires Y``; on failure (the old ones stay in use) why, as an
    error.  Settings given in memory have nothing to reload: a line says so.

    :param where: the server, as the log names it.
    :return: the lines logged (none for settings that cannot reload).
    """
    if not _reloadable(contextFactory):
        return []
    from reactor.ssl import CertificateLoadError

    try:
        fromFiles = contextFactory.reload()
    except CertificateLoadError as error:
        lines = [
            "could not reload the certificate for %s, still serving the old one: %s"
            % (where, error)
        ]
        log.msg(lines[0], isError=True)
        return lines
    if not fromFiles:
        lines = [
            "certificate for %s was given in memory, not read from files: not reloaded" % (where,)
        ]
    else:
        lines = [
            "reloaded certificate for %s%s: %s" % (where, _forName(name), describe(certificate))
            for name, certificate in contextFactory.certificates().items()
        ]
    for line in lines:
        log.msg(line)
    return lines


def _forName(name: str | None) -> str:
    return "" if name is None else " (server name %s)" % (name,)


def describe(certificate: Any) -> str:
    """``serial X, expires Y`` of a reactor.ssl Certificate (X in hex, as openssl prints it)."""
    notAfter = certificate.notAfter().strftime("%Y-%m-%d %H:%M:%S UTC")
    return "serial %X, expires %s" % (certificate.serialNumber(), notAfter)


def checkCertificates(
    contextFactory: Any, where: str, now: datetime.datetime | None = None
) -> list[Any]:
    """
    What ``check()`` of the settings finds, each message starting with
    ``where``: errors (files that do not load, a key not matching its
    certificate) and warnings (a certificate expired or expiring within 14
    days of ``now``, by default the current time).

    :return: reactor.ssl CertificateProblems; none for settings without check().
    """
    if not _reloadable(contextFactory):
        return []
    from reactor.ssl import CertificateProblem

    return [
        CertificateProblem(
            problem.severity, "TLS server %s: %s" % (where, problem.message), problem.notAfter
        )
        for problem in contextFactory.check(now=now)
    ]
