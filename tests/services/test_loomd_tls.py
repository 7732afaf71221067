"""
A real ``loomd`` serving TLS from an ``ssl:`` description: certificates
renewed on disk and SIGHUP, as certbot's deploy hook does; a new client
sees the renewed certificate (its serial and fingerprint) while a
connection opened before the reload still echoes; a renewal that does not
load keeps the old certificate and the log says why.  ``loomd --check``
and the start judge the certificates alike: a key that does not match
fails, a certificate expiring within 14 days or one the daemon's user
could not read again is a warning.
"""

import os
import pathlib
import shutil
import signal
import tempfile

import pytest

from reactor.ssl import CertificateOptions
from services.internet import SSLServer
from services.loomd.certificates import examineCertificates
from services.service import Application
from tests.services.loomd_helpers import (
    TLSClient,
    alive,
    fingerprint,
    freePort,
    loomdFixture,  # noqa: F401 - the loomd fixture
    needRoot,
    readLog,
    serial,
    tacFile,
    waitFor,
)

pytestmark = pytest.mark.timeout(120)

SSL_SERVICE = """
from services.internet import service
service(%r, Factory.forProtocol(Echo)).setServiceParent(application)
"""


@pytest.fixture
def tlsFiles(tlsCertificates, tmp_path):
    """The server's key and certificate files (tls/server.*) and the CA's file."""
    directory = tmp_path / "tls"
    directory.mkdir()
    key, certificate = tlsCertificates.writeFiles(tlsCertificates.server, directory)
    ca = tlsCertificates.writeCA(tmp_path / "cas") / "ca.pem"
    return directory, key, certificate, ca


def sslTac(tmp_path, port, key, certificate, extra=""):
    description = "ssl:%d:interface=127.0.0.1:privateKey=%s:certKey=%s" % (port, key, certificate)
    return tacFile(tmp_path, SSL_SERVICE % (description,) + extra)


def reloads(loomd, pid, count):
    """Send SIGHUP and wait for reload number count to finish."""
    os.kill(pid, signal.SIGHUP)
    waitFor(
        lambda: readLog(loomd.logfile).count("reload finished") >= count,
        what="reload %d" % (count,),
        context=lambda: readLog(loomd.logfile),
    )
    return readLog(loomd.logfile)


def test_sighupServesTheRenewedCertificateWhileOpenConnectionsGoOn(
    loomd, tmp_path, tlsCertificates, tlsFiles
):
    directory, key, certificate, ca = tlsFiles
    port = freePort()
    pid = loomd.daemon(sslTac(tmp_path, port, key, certificate))
    before = TLSClient(port, ca)
    assert before.fingerprint == fingerprint(tlsCertificates.server)
    assert before.echo(b"before the renewal") == b"before the renewal"
    # What certbot's deploy hook does: the new files are in place, then SIGHUP.
    tlsCertificates.writeFiles(tlsCertificates.renewed, directory)
    log = reloads(loomd, pid, 1)
    assert (
        "reloaded certificate for 127.0.0.1:%d: serial %X, expires "
        % (
            port,
            serial(tlsCertificates.renewed),
        )
        in log
    )
    after = TLSClient(port, ca)
    assert after.certificate.serial_number == serial(tlsCertificates.renewed)
    assert after.fingerprint == fingerprint(tlsCertificates.renewed)
    assert after.echo(b"after") == b"after"
    assert before.echo(b"still here") == b"still here"
    assert before.fingerprint == fingerprint(tlsCertificates.server)
    before.close()
    after.close()
    assert alive(pid)


def test_aRenewalThatDoesNotLoadKeepsTheOldCertificateAndIsLogged(
    loomd, tmp_path, tlsCertificates, tlsFiles
):
    directory, key, certificate, ca = tlsFiles
    port = freePort()
    pid = loomd.daemon(sslTac(tmp_path, port, key, certificate))
    # The certificate renewed, the key not yet copied.
    certificate.write_bytes(tlsCertificates.renewed.cert_chain_pems[0].bytes())
    log = reloads(loomd, pid, 1)
    assert (
        "could not reload the certificate for 127.0.0.1:%d, still serving the old one: "
        "the private key does not match the certificate (key %s, certificate %s)"
        % (port, key, certificate)
    ) in log
    client = TLSClient(port, ca)
    assert client.fingerprint == fingerprint(tlsCertificates.server)
    assert client.echo(b"old") == b"old"
    client.close()
    # Once the key is in place too, the next SIGHUP takes both.
    tlsCertificates.writeFiles(tlsCertificates.renewed, directory)
    reloads(loomd, pid, 2)
    client = TLSClient(port, ca)
    assert client.fingerprint == fingerprint(tlsCertificates.renewed)
    client.close()
    assert alive(pid)


def test_checkAndStartRefuseAKeyThatDoesNotMatch(loomd, tmp_path, tlsCertificates, tlsFiles):
    directory, key, certificate, ca = tlsFiles
    key.write_bytes(tlsCertificates.client.private_key_pem.bytes())
    tac = sslTac(tmp_path, freePort(), key, certificate)
    description = "ssl:"
    for args in (["--check", "-y", tac], ["-y", tac, "--pidfile", loomd.pidfile]):
        result = loomd.run(*args)
        assert result.returncode == 1
        assert "privateKey: the private key does not match the certificate" in result.stderr
        assert description in result.stderr


def test_checkFailsWhenTheKeyChangedAfterLoading(loomd, tmp_path, tlsCertificates, tlsFiles):
    # The files are read afresh by the check: a key replaced by a wrong one
    # (here by the .tac itself, once its service is built) fails it.
    directory, key, certificate, ca = tlsFiles
    port = freePort()
    swap = "\nopen(%r, 'wb').write(%r)\n" % (
        str(key),
        tlsCertificates.client.private_key_pem.bytes(),
    )
    tac = sslTac(tmp_path, port, key, certificate, swap)
    why = "TLS server 127.0.0.1:%d: the private key does not match the certificate (key %s, " % (
        port,
        key,
    ) + "certificate %s)\n" % (certificate,)
    result = loomd.run("--check", "-y", tac)
    assert result.returncode == 1
    assert "loomd: check failed: " + why in result.stderr
    # The start judges alike, before anything is forked.
    tlsCertificates.writeFiles(tlsCertificates.server, directory)
    result = loomd.run("-y", tac, "--pidfile", loomd.pidfile, "-l", loomd.logfile)
    assert result.returncode == 1
    assert result.stderr == "loomd: " + why
    assert not os.path.exists(loomd.pidfile) and not os.path.exists(loomd.logfile)


def test_checkAndStartWarnOfACertificateExpiringSoon(loomd, tmp_path, tlsCertificates, tlsFiles):
    directory, key, certificate, ca = tlsFiles
    tlsCertificates.writeFiles(tlsCertificates.expiringSoon, directory)
    port = freePort()
    tac = sslTac(tmp_path, port, key, certificate)
    result = loomd.run("--check", "-y", tac)
    assert result.returncode == 0, result.stderr
    [warning] = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warning.startswith(
        "loomd: warning: TLS server 127.0.0.1:%d: certificate (key %s, certificate %s) "
        "expires on " % (port, key, certificate)
    )
    assert warning.endswith(" days")
    assert "check passed" in result.stdout
    started = loomd.run("-y", tac, "--pidfile", loomd.pidfile, "-l", loomd.logfile)
    assert started.returncode == 0
    assert warning in started.stderr.splitlines()
    assert warning[len("loomd: warning: ") :] in readLog(loomd.logfile)
    loomd.track(int(open(loomd.pidfile).read()))


@pytest.fixture
def openDirectory():
    """A directory anyone may enter (pytest's tmp_path is under a root-only one)."""
    directory = pathlib.Path(tempfile.mkdtemp(prefix="loom-tls-"))
    directory.chmod(0o755)
    yield directory
    shutil.rmtree(directory)


def test_checkWarnsWhenTheDaemonsUserCouldNotReloadTheKey(
    loomd, tmp_path, tlsCertificates, openDirectory
):
    needRoot()
    key, certificate = tlsCertificates.writeFiles(tlsCertificates.server, openDirectory)
    key.chmod(0o600)  # as certbot leaves it: root's only
    certificate.chmod(0o644)
    port = freePort()
    tac = sslTac(tmp_path, port, key, certificate)
    result = loomd.run("--check", "-y", tac, "--pidfile", "", "-l", "-")
    assert result.returncode == 0 and "warning" not in result.stderr, result.stderr
    result = loomd.run("--check", "-y", tac, "-u", "nobody", "--pidfile", "", "-l", "-")
    assert result.returncode == 0, result.stderr
    [warning] = [line for line in result.stderr.splitlines() if "warning" in line]
    assert warning.startswith(
        "loomd: warning: TLS server 127.0.0.1:%d: cannot read %s: Permission denied, "
        "as the daemon's user (nobody:" % (port, key)
    )
    assert warning.endswith(
        "), who reads the files again on SIGHUP: a reload would fail and keep the old certificate"
    )
    key.chmod(0o644)
    result = loomd.run("--check", "-y", tac, "-u", "nobody", "--pidfile", "", "-l", "-")
    assert result.returncode == 0 and "warning" not in result.stderr, result.stderr


def test_checkReadsTheFilesInsideTheChrootToo(tlsCertificates, openDirectory):
    # Reloads after --chroot read the same paths inside the jail.
    needRoot()
    outside = openDirectory / "etc"
    outside.mkdir()
    key, certificate = tlsCertificates.writeFiles(tlsCertificates.server, outside)
    application = Application("jailed")
    SSLServer(8443, None, CertificateOptions.fromFiles(key, certificate)).setServiceParent(
        application
    )
    jail = openDirectory / "jail"
    jail.mkdir()
    findings = examineCertificates(application, chroot=str(jail))
    assert findings.errors == []
    assert findings.warnings == [
        "TLS server 0.0.0.0:8443: cannot read %s: No such file or directory, as the daemon's "
        "user (root:root) inside the chroot %s, who reads the files again on SIGHUP: a reload "
        "would fail and keep the old certificate" % (certificate, jail)
    ]
    inside = jail / str(outside).lstrip("/")
    inside.mkdir(parents=True)
    tlsCertificates.writeFiles(tlsCertificates.server, inside)
    assert examineCertificates(application, chroot=str(jail)).warnings == []


def test_aReloadOfCertificatesThatRaisesIsLoggedAndTheRestReloads(loomd, tmp_path):
    marker = tmp_path / "reloaded"
    tac = tacFile(
        tmp_path,
        """
        class Broken(Service):
            def reloadCertificates(self):
                raise RuntimeError("no certificates here")

        class Reloadable(Service):
            def reload(self):
                open(%r, "w").write("reloaded")

        Broken().setServiceParent(application)
        Reloadable().setServiceParent(application)
        """
        % (str(marker),),
    )
    pid = loomd.daemon(tac)
    log = reloads(loomd, pid, 1)
    assert "reloadCertificates of <" in log and "RuntimeError: no certificates here" in log
    assert marker.read_text() == "reloaded"
    assert alive(pid)
