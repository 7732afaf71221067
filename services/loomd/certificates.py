"""
The certificates of the application's TLS servers, judged before a start:
``loomd --check`` and the launcher both call ``examineCertificates``, so
they agree, in the same words.

    each TLS server's checkCertificates(): its files read afresh, as the
    user loomd starts as
        errors:   a file that does not load, a key not matching its certificate
        warnings: a certificate expired, or expiring within 14 days
    -> with -u/-g: the same files read as the daemon's user, inside
       --chroot if given, in a child process that really becomes that user

The last step is the one idea.  loomd reads the certificates as root, at
start-up, but reads them again on SIGHUP as the user it then runs as,
maybe inside a chroot: a key only root may read (certbot's are) is served
today and cannot be reloaded after a renewal.  That is a warning: the start
works, the reload would fail, keep the old certificate and log why.
"""

from __future__ import annotations

import datetime
import os
from collections.abc import Iterable
from typing import Any, NoReturn

from services.loomd.lifecycle import walkServices
from services.loomd.preflight import Findings, describeUser

__all__ = ["examineCertificates"]

_UNRELOADABLE = (
    "%s, as %s, who reads the files again on SIGHUP: a reload would fail "
    "and keep the old certificate"
)


def examineCertificates(
    application: Any,
    uid: int | None = None,
    gid: int | None = None,
    *,
    euid: bool = False,
    chroot: str | None = None,
    now: datetime.datetime | None = None,
) -> Findings:
    """
    Judge the certificates of every TLS server of the application.

    :param uid: the user id the daemon will run as (None: unchanged).
    :param gid: the group id the daemon will run as (None: unchanged).
    :param euid: only the effective ids change (``--euid``).
    :param chroot: the directory the daemon will chroot to, or None.
    :param now: the moment expiry is judged at (default: the current time).
    """
    findings = Findings()
    servers = [
        service
        for service in walkServices(application)
        if callable(getattr(service, "checkCertificates", None))
    ]
    for problem in _problems(servers, now):
        kind = findings.errors if problem.severity == "error" else findings.warnings
        kind.append(problem.message)
    if not servers or (uid is None and gid is None and chroot is None):
        return findings
    try:
        asDaemon = _errorsAsDaemon(servers, uid, gid, euid, chroot, now)
    except OSError as error:
        findings.errors.append(str(error))
        return findings
    user = _describeUser(uid, gid, chroot)
    for message in asDaemon:
        if message not in findings.errors:
            findings.warnings.append(_UNRELOADABLE % (message, user))
    return findings


def _problems(servers: Iterable[Any], now: datetime.datetime | None) -> list[Any]:
    return [problem for server in servers for problem in server.checkCertificates(now=now)]


def _describeUser(uid: int | None, gid: int | None, chroot: str | None) -> str:
    who = "the daemon's user (%s)" % (describeUser(uid, gid),)
    return who if chroot is None else "%s inside the chroot %s" % (who, chroot)


def _errorsAsDaemon(
    servers: list[Any],
    uid: int | None,
    gid: int | None,
    euid: bool,
    chroot: str | None,
    now: datetime.datetime | None,
) -> list[str]:
    """
    The error messages of the servers' checks, run as the daemon will run:
    in a child that chroots and sheds privileges first.

    :raises OSError: the child could not become that user.
    """
    readEnd, writeEnd = os.pipe()
    child = os.fork()
    if child == 0:
        os.close(readEnd)
        _checkAsDaemon(writeEnd, servers, uid, gid, euid, chroot, now)
    os.close(writeEnd)
    with os.fdopen(readEnd, "rb") as pipe:
        answer = pipe.read().decode("utf-8", "surrogateescape")
    os.waitpid(child, 0)
    if not answer.startswith("ok\0"):
        raise OSError(answer or "the certificate check as the daemon's user failed")
    return [message for message in answer[3:].split("\0") if message]


def _checkAsDaemon(
    writeEnd: int,
    servers: list[Any],
    uid: int | None,
    gid: int | None,
    euid: bool,
    chroot: str | None,
    now: datetime.datetime | None,
) -> NoReturn:
    # In the child: become the daemon, check, answer "ok\0message\0..." or
    # the error; never return.
    from services.loomd import privileges

    try:
        if chroot is not None:
            privileges.chroot(chroot)
        if uid is not None or gid is not None:
            privileges.shedPrivileges(uid, gid, euid=euid)
        errors = [p.message for p in _problems(servers, now) if p.severity == "error"]
        answer = "ok\0" + "\0".join(errors)
    except Exception as error:
        answer = str(error)
    try:
        os.write(writeEnd, answer.encode("utf-8", "surrogateescape"))
    finally:
        os._exit(0)
