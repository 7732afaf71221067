"""
doc/tls.md's deployment, run as a reader would: its tls-echo.tac under a
real ``loomd`` (certbot's live directory and the port moved into the
test's), then a renewal handed over by the certbot deploy hook it shows,
the shell script itself, which copies the files and reloads: a new client
sees the renewed certificate, an old connection still echoes.
"""

import grp
import os
import re
import stat
import subprocess

import pytest

from tests.services.loomd_helpers import (
    REPO,
    TLSClient,
    fingerprint,
    freePort,
    loomdEnvironment,
    loomdFixture,  # noqa: F401 - the loomd fixture
    readLog,
    waitFor,
)

GUIDE = os.path.join(REPO, "doc", "tls.md")

pytestmark = pytest.mark.timeout(120)


def blocks(language):
    with open(GUIDE) as guide:
        return re.findall(r"^```%s\n(.*?)^```$" % (language,), guide.read(), re.S | re.M)


def theTac():
    [tac] = [block for block in blocks("python") if block.startswith("# tls-echo.tac")]
    return tac


def theHook():
    [hook] = [block for block in blocks("sh") if "renewal-hooks/deploy" in block]
    return hook


def test_theTacServesAndTheDeployHookRenews(loomd, tmp_path, tlsCertificates):
    live = tmp_path / "letsencrypt" / "live" / "example.com"
    live.mkdir(parents=True)
    for leaf, lineage in ((tlsCertificates.server, live), (tlsCertificates.renewed, tmp_path)):
        key, certificate = tlsCertificates.writeFiles(leaf, lineage)
        key.rename(lineage / "privkey.pem")
        certificate.rename(lineage / "fullchain.pem")
    ca = tlsCertificates.writeCA(tmp_path / "cas") / "ca.pem"
    # The hook copies from certbot's lineage into /etc/tls-echo, which the
    # .tac then reads: both moved here.
    copies = tmp_path / "tls-echo"
    copies.mkdir()
    for name in ("privkey.pem", "fullchain.pem"):
        (copies / name).write_bytes((live / name).read_bytes())
    port = freePort()
    tac = theTac().replace('"/etc/letsencrypt/live/example.com"', repr(str(copies)))
    tac = tac.replace("ssl:8443:", "ssl:%d:interface=127.0.0.1:" % (port,))
    assert str(port) in tac and str(copies) in tac
    (tmp_path / "tls-echo.tac").write_text(tac)
    check = loomd.run("--check", "-y", "tls-echo.tac")
    assert check.returncode == 0 and "check passed" in check.stdout, check.stderr
    loomd.daemon(str(tmp_path / "tls-echo.tac"))
    before = TLSClient(port, ca)
    assert before.fingerprint == fingerprint(tlsCertificates.server)
    assert before.echo(b"hello") == b"hello"

    # certbot renewed into RENEWED_LINEAGE (here: tmp_path) and runs the hook.
    group = grp.getgrgid(os.getegid()).gr_name
    hook = theHook().replace("/etc/tls-echo", str(copies)).replace("-g tls-echo", "-g " + group)
    hook = hook.replace("/run/tls-echo/tls-echo.pid", loomd.pidfile)
    script = tmp_path / "hook"
    script.write_text(hook)
    script.chmod(0o755)
    shims = tmp_path / "bin"
    shims.mkdir()
    (shims / "loomd").write_text('#!/bin/sh\nexec %s "$@"\n' % (" ".join(loomd.command()),))
    (shims / "loomd").chmod(0o755)
    env = loomdEnvironment(RENEWED_LINEAGE=tmp_path)
    env["PATH"] = "%s:%s" % (shims, env.get("PATH", "/usr/bin:/bin"))
    done = subprocess.run([str(script)], env=env, capture_output=True, text=True, timeout=30)
    assert done.returncode == 0, done.stderr
    assert done.stdout.startswith("loomd: reload requested")
    assert stat.S_IMODE((copies / "privkey.pem").stat().st_mode) == 0o640
    waitFor(
        lambda: "reloaded certificate for 127.0.0.1:%d" % (port,) in readLog(loomd.logfile),
        what="the reload",
        context=lambda: readLog(loomd.logfile),
    )
    after = TLSClient(port, ca)
    assert after.fingerprint == fingerprint(tlsCertificates.renewed)
    assert before.echo(b"still there") == b"still there"
    before.close()
    after.close()
