"""
A Site on every server endpoint (``tcp:``, ``unix:``, ``systemd:``,
``ssl:``), built by serverFromString on every reactor and asked by curl:
the same resource answers each, saying whether the request is secure and
where it came from.  Over ``ssl:`` request.isSecure() is true and a session
cookie is Secure; a client without the CA is refused.

curl blocks, so it runs in the reactor's thread pool (deferToThread) while
the test steps the reactor (runUntil); every wait is bounded.
"""

import socket
import subprocess
import time

import pytest

from protocols.web import resource, server
from reactor import _activation
from reactor._activation import ListenFd
from reactor.defer import maybeDeferred
from reactor.endpoints import serverFromString
from reactor.threads import deferToThread
from tests.services.web_helpers import CURL, Response, needsCurl

pytestmark = [pytest.mark.timeout(60), needsCurl]


class Where(resource.Resource):
    """Answers with isSecure(), the client's address and the session cookie's flags."""

    isLeaf = True

    def render_GET(self, request):
        request.getSession()
        peer = request.getClientAddress()
        return b"secure=%r client=%s" % (
            request.isSecure(),
            getattr(peer, "host", "unix").encode() or b"unix",
        )


def curl(*arguments):
    """Run curl -i; return (exit status, Response or None, stderr text)."""
    result = subprocess.run(
        [CURL, "-sS", "-i", "--max-time", "20", *map(str, arguments)],
        capture_output=True,
        timeout=30,
    )
    response = Response(result.stdout) if result.returncode == 0 else None
    return result.returncode, response, result.stderr.decode("utf-8", "replace")


def serve(reactor, runUntil, description, *curlArguments):
    """Listen with a Site where description says; run curl against it; stop listening."""
    site = server.Site(Where(), reactor=reactor)
    site.noisy = False
    port = runUntil(reactor, serverFromString(reactor, description).listen(site))
    try:
        return runUntil(reactor, deferToThread(curl, *curlArguments, _reactor=reactor), 30)
    finally:
        runUntil(reactor, maybeDeferred(port.stopListening))
        for session in list(site.sessions.values()):
            session.expire()
        deadline = time.monotonic() + 5
        while reactor.getReaders() and time.monotonic() < deadline:
            reactor.iterate(0.01)


def freePort():
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def test_tcp(reactor, runUntil):
    port = freePort()
    description = "tcp:%d:interface=127.0.0.1" % (port,)
    status, response, err = serve(reactor, runUntil, description, "http://127.0.0.1:%d/" % port)
    assert status == 0, err
    assert response.body == b"secure=False client=127.0.0.1"


def test_unix(reactor, runUntil, tmp_path):
    path = tmp_path / "web.sock"
    arguments = ("--unix-socket", path, "http://localhost/")
    status, response, err = serve(reactor, runUntil, "unix:%s" % (path,), *arguments)
    assert status == 0, err
    assert response.body == b"secure=False client=unix"


def test_systemd(reactor, runUntil, monkeypatch):
    # The socket systemd would pass, as tests/reactor/test_activation.py
    # makes it; tests/services/test_web_plugin.py passes a real one to loomd.
    listening = socket.create_server(("127.0.0.1", 0))
    monkeypatch.setattr(_activation, "_passed", [ListenFd(listening.fileno(), "web")])
    url = "http://127.0.0.1:%d/" % (listening.getsockname()[1],)
    try:
        status, response, err = serve(reactor, runUntil, "systemd:domain=INET:name=web", url)
    finally:
        listening.close()
    assert status == 0, err
    assert response.body == b"secure=False client=127.0.0.1"


def test_ssl(reactor, runUntil, tmp_path, tlsCertificates):
    key, certificate = tlsCertificates.writeFiles(tlsCertificates.server, tmp_path)
    ca = tlsCertificates.writeCA(tmp_path / "ca") / "ca.pem"
    port = freePort()
    description = "ssl:%d:interface=127.0.0.1:privateKey=%s:certKey=%s" % (port, key, certificate)
    url = "https://localhost:%d/" % (port,)
    status, response, err = serve(reactor, runUntil, description, "--cacert", ca, url)
    assert status == 0, err
    assert response.body == b"secure=True client=127.0.0.1"
    cookie = response.headers["Set-Cookie"]
    assert "; Secure" in cookie and cookie.startswith("TWISTED_SECURE_SESSION=")
    status, response, err = serve(reactor, runUntil, description, url)
    assert status == 60, err  # curl: the peer's certificate cannot be verified
