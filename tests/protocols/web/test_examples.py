"""
The .tac files of doc/examples/web/, each started by the real ``loomd`` (as
a daemon, with its pidfile and log) and asked what doc/web.md says it
answers: resources.tac with http.client, site.tac and proxy.tac with curl.
"""

import hashlib
import http.client
import os
import pathlib
import re

import pytest

from tests.services.loomd_helpers import (  # noqa: F401 - loomdFixture: the loomd fixture
    freePort,
    loomdEnvironment,
    loomdFixture,
)
from tests.services.web_helpers import curl, needsCurl, startDaemon, stopDaemon, writeEchoApp

ROOT = pathlib.Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "doc" / "examples" / "web"

pytestmark = pytest.mark.timeout(90)


def ask(port, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheader("Set-Cookie"), response.read()
    finally:
        connection.close()


def startTac(loomd, name, **environment):
    """Run loomd -y doc/examples/web/NAME.tac as a daemon; return its pid."""
    tac = str(EXAMPLES / (name + ".tac"))
    return startDaemon(loomd, name, "-y", tac, env=loomdEnvironment(**environment))


def test_resourcesTacServesWhatTheDocSays(loomd):
    port = freePort()
    pid = startTac(loomd, "resources", LOOM_WEB_PORT=port)
    assert ask(port, "GET", "/hello?name=you")[::2] == (200, b"Hello, you!\n")
    status, cookie, body = ask(port, "GET", "/visits")
    assert (status, body) == (200, b"visit 1\n")
    session = cookie.split(";")[0]
    assert ask(port, "GET", "/visits", headers={"Cookie": session})[2] == b"visit 2\n"
    assert ask(port, "GET", "/later")[::2] == (200, b"later\n")
    data = os.urandom(300_000)
    status, _, body = ask(port, "POST", "/upload", body=data)
    assert status == 200
    assert body == b"300000 bytes, sha256 %s\n" % (hashlib.sha256(data).hexdigest().encode(),)
    assert ask(port, "GET", "/nothing")[0] == 404
    stopDaemon(loomd, "resources", pid)


NOW = re.compile(rb"It is \d\d:\d\d:\d\d\. You came over (https?) from (.*)\.\n")


@needsCurl
def test_siteTacServesFilesAResourceAndAWsgiApplication(loomd):
    port = freePort()
    pid = startTac(loomd, "site", LOOM_WEB_LISTEN="tcp:%d:interface=127.0.0.1" % (port,))
    url = "http://127.0.0.1:%d" % (port,)
    home = curl(url + "/")
    assert home.status == 200
    assert home.body == (EXAMPLES / "static" / "index.html").read_bytes()
    assert home.headers["Content-Type"].startswith("text/html")
    style = curl(url + "/style.css")
    assert style.body == (EXAMPLES / "static" / "style.css").read_bytes()
    assert style.headers["Content-Type"].startswith("text/css")
    assert curl("-H", "If-None-Match: " + style.headers["ETag"], url + "/style.css").status == 304
    now = curl(url + "/now")
    assert now.status == 200
    assert NOW.fullmatch(now.body).groups() == (b"http", b"127.0.0.1")
    application = curl(url + "/app/hello?x=1")
    assert (application.status, application.body) == (200, b"Hello from WSGI: GET /app/hello?x=1\n")
    assert curl(url + "/missing").status == 404
    log = stopDaemon(loomd, "site", pid)
    assert '"GET /app/hello?x=1 HTTP/1.1" 200' in log


@needsCurl
def test_siteTacOverTlsAndAUnixSocket(loomd, tmp_path, tlsCertificates):
    # LOOM_WEB_LISTEN takes any endpoint: over ssl: the resource sees
    # request.isSecure(), and the WSGI application too.
    key, certificate = tlsCertificates.writeFiles(tlsCertificates.server, tmp_path)
    ca = tlsCertificates.writeCA(tmp_path / "ca") / "ca.pem"
    port = freePort()
    description = "ssl:%d:interface=127.0.0.1:privateKey=%s:certKey=%s" % (port, key, certificate)
    pid = startTac(loomd, "site", LOOM_WEB_LISTEN=description)
    now = curl("--cacert", ca, "https://localhost:%d/now" % (port,))
    assert NOW.fullmatch(now.body).groups() == (b"https", b"127.0.0.1")
    home = curl("--cacert", ca, "https://localhost:%d/" % (port,))
    assert home.body == (EXAMPLES / "static" / "index.html").read_bytes()
    stopDaemon(loomd, "site", pid)

    path = tmp_path / "site.sock"
    pid = startTac(loomd, "site", LOOM_WEB_LISTEN="unix:%s" % (path,))
    now = curl("--unix-socket", path, "http://localhost/now")
    assert NOW.fullmatch(now.body).groups() == (b"http", b"a UNIX socket")
    stopDaemon(loomd, "site", pid)


@needsCurl
def test_proxyTacForwardsToALoomBackendPreservingHost(loomd, tmp_path):
    # The backend: loomd web running a WSGI application that answers with
    # what it was sent.
    module = writeEchoApp(tmp_path)
    backendPort, port = freePort(), freePort()
    backend = startDaemon(
        loomd, "backend", "web", "-p", "tcp:%d:interface=127.0.0.1" % (backendPort,),
        "--wsgi", module + ".app",
    )  # fmt: skip
    pid = startTac(
        loomd,
        "proxy",
        LOOM_PROXY_HOST="127.0.0.1",
        LOOM_PROXY_PORT=backendPort,
        LOOM_WEB_PORT=port,
    )
    url = "http://127.0.0.1:%d" % (port,)
    seen = curl("-H", "Host: www.example.com", url + "/a/b?c=d").json()
    assert seen["HTTP_HOST"] == "www.example.com"  # preserveHost
    assert (seen["PATH_INFO"], seen["QUERY_STRING"]) == ("/a/b", "c=d")  # not //a/b
    assert seen["HTTP_X_FORWARDED_FOR"] == "127.0.0.1"
    assert seen["HTTP_X_FORWARDED_PROTO"] == "http"
    assert seen["REQUEST_METHOD"] == "GET"
    seen = curl(url + "/").json()
    assert (seen["HTTP_HOST"], seen["PATH_INFO"]) == ("127.0.0.1:%d" % (port,), "/")
    posted = curl("--data-binary", "x=1", url + "/form").json()
    assert (posted["REQUEST_METHOD"], posted["PATH_INFO"]) == ("POST", "/form")
    stopDaemon(loomd, "proxy", pid)
    stopDaemon(loomd, "backend", backend)


@needsCurl
def test_proxyTacAnswers502WhenTheBackendIsDown(loomd):
    port = freePort()
    pid = startTac(
        loomd, "proxy", LOOM_PROXY_HOST="127.0.0.1", LOOM_PROXY_PORT=freePort(), LOOM_WEB_PORT=port
    )
    assert curl("http://127.0.0.1:%d/" % (port,)).status == 502
    stopDaemon(loomd, "proxy", pid)
