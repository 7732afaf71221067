"""
The web plugin: its options and their errors, and ``loomd web`` run for
real and asked with curl: static files (with and without listings, over TCP
and a UNIX socket), a WSGI application, a reverse proxy in front of another
``loomd web`` (Host preserved or not, X-Forwarded-For), TLS on an ``ssl:``
port, and a socket passed by systemd.
"""

import socket
import subprocess
import sys

import pytest

import reactor as loom
from protocols.web.proxy import ReverseProxyResource
from protocols.web.server import Site
from protocols.web.static import File
from protocols.web.wsgi import WSGIResource
from services.internet import StreamServerEndpointService
from services.plugins import builtinMakers
from services.plugins_builtin import web
from services.service import MultiService
from services.usage import UsageError
from tests.services.loomd_helpers import (  # noqa: F401 - loomdFixture: the loomd fixture
    freePort,
    loomdEnvironment,
    loomdFixture,
    readLog,
    wait,
    waitFor,
)
from tests.services.test_loomd_systemd import WRAPPER
from tests.services.web_helpers import (
    curl,
    needsCurl,
    startDaemon,
    stopDaemon,
    writeEchoApp,
)

pytestmark = pytest.mark.timeout(90)


def parsed(*args):
    options = web.Options()
    options.parseOptions(list(args))
    return options


def test_isABuiltinPlugin():
    [maker] = [maker for maker in builtinMakers() if maker.tapname == "web"]
    assert maker.options is web.Options


def test_portsRepeatAndDefaultToTcp8080(tmp_path):
    assert parsed("--path", str(tmp_path))["ports"] == ["tcp:8080"]
    options = parsed("-p", "8081", "--port", "unix:/run/web.sock", "--path", str(tmp_path))
    assert options["ports"] == ["tcp:8081", "unix:/run/web.sock"]


def test_pathIsMadeAbsolute(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "www").mkdir()
    options = parsed("--path", "www", "--listing")
    assert (options["path"], options["listing"]) == (str(tmp_path / "www"), True)


@pytest.mark.parametrize(
    "value, backend",
    [
        ("127.0.0.1:8000", ("127.0.0.1", 8000)),
        ("backend.example:80", ("backend.example", 80)),
        ("[::1]:8443", ("::1", 8443)),
    ],
)
def test_proxyTakesHostAndPort(value, backend):
    options = parsed("--proxy", value, "--preserve-host")
    assert (options["backend"], options["preserve_host"]) == (backend, True)


@pytest.mark.parametrize(
    "form", ["echoapp:app", "echoapp.app", "pkg.echoapp:app", "pkg.echoapp.app"]
)
def test_wsgiImportsModuleAppFromTheCurrentDirectory(tmp_path, monkeypatch, form):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", [p for p in sys.path if p not in ("", str(tmp_path))])
    for name in ("echoapp", "pkg", "pkg.echoapp"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    writeEchoApp(tmp_path)
    (tmp_path / "pkg").mkdir()
    writeEchoApp(tmp_path / "pkg")
    application = parsed("--wsgi", form)["application"]
    assert application.__name__ == "app"
    assert application.__module__ == form.replace(":", ".").rsplit(".", 1)[0]


def writeModule(directory, name, text):
    (directory / (name + ".py")).write_text(text)


@pytest.mark.parametrize(
    "args, message",
    [
        ([], "nothing to serve: give --path DIR, --proxy HOST:PORT or --wsgi MODULE.APP"),
        (["--path", ".", "--proxy", "h:1"], "--path and --proxy cannot be given together"),
        (
            ["--path", ".", "--proxy", "h:1", "--wsgi", "m.a"],
            "--path and --proxy and --wsgi cannot be given together",
        ),
        (["--proxy", "h:1", "--wsgi", "m.a"], "--proxy and --wsgi cannot be given together"),
        (["--path", "/no/such/dir"], "--path /no/such/dir: no such file or directory"),
        (["--proxy", "h:1", "--listing"], "--listing goes with --path"),
        (["--path", ".", "--preserve-host"], "--preserve-host goes with --proxy"),
        (["--proxy", "backend"], "--proxy backend: give the backend as HOST:PORT"),
        (["--proxy", "backend:http"], "--proxy backend:http: give the backend as HOST:PORT"),
        (["--proxy", ":80"], "--proxy :80: give the backend as HOST:PORT"),
        (["--proxy", "h:70000"], "--proxy h:70000: give the backend as HOST:PORT"),
        (["--wsgi", "app"], "--wsgi app: give MODULE.APP or MODULE:APP"),
        (["--wsgi", "mod:"], "--wsgi mod:: give MODULE.APP or MODULE:APP"),
        (
            ["--wsgi", "no_such_module_here.app"],
            "--wsgi no_such_module_here.app: cannot import no_such_module_here:"
            " ModuleNotFoundError: No module named 'no_such_module_here'",
        ),
        (
            ["--wsgi", "broken.app"],
            "--wsgi broken.app: cannot import broken: RuntimeError: no database",
        ),
        (["--wsgi", "fine:nothing"], "--wsgi fine:nothing: module fine has no nothing"),
        (["--wsgi", "fine.number"], "--wsgi fine.number: 42 is not a WSGI application"),
        (["--port", " ", "--path", "."], "--port ' ': an empty endpoint description"),
    ],
)
def test_badCommandLines(tmp_path, monkeypatch, args, message):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    for name in ("broken", "fine"):
        monkeypatch.delitem(sys.modules, name, raising=False)
    writeModule(tmp_path, "broken", "raise RuntimeError('no database')\n")
    writeModule(tmp_path, "fine", "number = 42\n")
    with pytest.raises(UsageError) as raised:
        parsed(*args)
    assert message in str(raised.value)


def test_makeServiceBuildsTheSiteOfEachMode(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setattr(sys, "path", list(sys.path))
    monkeypatch.delitem(sys.modules, "echoapp", raising=False)
    writeEchoApp(tmp_path)
    before = loom._installed
    files = web.makeService(parsed("--path", ".", "--listing"))
    assert isinstance(files, StreamServerEndpointService)
    assert isinstance(files.factory, Site)
    root = files.factory.resource
    assert isinstance(root, File) and (root.path, root.listDirectories) == (str(tmp_path), True)
    proxy = web.makeService(parsed("--proxy", "[::1]:81", "--preserve-host", "-p", "1", "-p", "2"))
    assert isinstance(proxy, MultiService)
    first, second = list(proxy)
    assert first.factory is second.factory
    root = first.factory.resource
    assert isinstance(root, ReverseProxyResource)
    assert (root.host, root.port, root.path, root.preserveHost) == ("::1", 81, b"", True)
    application = web.makeService(parsed("--wsgi", "echoapp:app"))
    assert isinstance(application.factory.resource, WSGIResource)
    assert loom._installed is before  # no reactor installed, no thread pool started


# -- loomd web, for real ------------------------------------------------------------------


@needsCurl
def test_loomdWebServesFilesOverTcpAndAUnixSocket(loomd, tmp_path):
    www = tmp_path / "www"
    (www / "docs").mkdir(parents=True)
    (www / "index.html").write_text("<h1>home</h1>\n")
    (www / "docs" / "notes.txt").write_text("some notes\n")
    port, path = freePort(), tmp_path / "web.sock"
    pid = startDaemon(
        loomd, "web", "web", "--port", "tcp:%d:interface=127.0.0.1" % (port,),
        "--port", "unix:%s" % (path,), "--path", "www",
    )  # fmt: skip
    url = "http://127.0.0.1:%d" % (port,)
    home = curl(url + "/")
    assert (home.status, home.body) == (200, b"<h1>home</h1>\n")
    assert home.headers["Content-Type"].startswith("text/html")
    notes = curl("--unix-socket", path, "http://localhost/docs/notes.txt")
    assert (notes.status, notes.body) == (200, b"some notes\n")
    assert notes.headers["Content-Type"].startswith("text/plain")
    assert curl(url + "/docs/").status == 403  # no listing without --listing
    assert curl("-r", "5-9", url + "/docs/notes.txt").body == b"notes"
    assert curl("--path-as-is", url + "/../index.html").status == 404
    log = stopDaemon(loomd, "web", pid)
    assert '"GET /docs/notes.txt HTTP/1.1" 200 11' in log


@needsCurl
def test_loomdWebListsDirectoriesWithListing(loomd, tmp_path):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "a <file>.txt").write_text("a\n")
    port = freePort()
    pid = startDaemon(
        loomd, "web", "web", "-p", "tcp:%d:interface=127.0.0.1" % (port,), "--path", "www",
        "--listing",
    )  # fmt: skip
    listing = curl("http://127.0.0.1:%d/" % (port,))
    assert listing.status == 200
    assert b"a &lt;file&gt;.txt" in listing.body
    stopDaemon(loomd, "web", pid)


@needsCurl
def test_loomdWebProxiesToALoomBackend(loomd, tmp_path):
    # The backend is loomd web --wsgi with an application echoing its
    # environ; the front is loomd web --proxy, once with --preserve-host.
    module = writeEchoApp(tmp_path)
    backendPort, plainPort, preservingPort = freePort(), freePort(), freePort()
    backend = startDaemon(
        loomd, "backend", "web", "-p", "tcp:%d:interface=127.0.0.1" % (backendPort,),
        "--wsgi", module + ":app",
    )  # fmt: skip
    backendAddress = "127.0.0.1:%d" % (backendPort,)
    plain = startDaemon(
        loomd, "plain", "web", "-p", "tcp:%d:interface=127.0.0.1" % (plainPort,),
        "--proxy", backendAddress,
    )  # fmt: skip
    preserving = startDaemon(
        loomd, "preserving", "web", "-p", "tcp:%d:interface=127.0.0.1" % (preservingPort,),
        "--proxy", backendAddress, "--preserve-host",
    )  # fmt: skip
    direct = curl("http://127.0.0.1:%d/app/x?y=1" % (backendPort,)).json()
    assert (direct["PATH_INFO"], direct["QUERY_STRING"]) == ("/app/x", "y=1")
    assert direct["HTTP_X_FORWARDED_FOR"] is None

    headers = ["-H", "Host: www.example.com", "-H", "X-Forwarded-For: 203.0.113.7"]
    seen = curl(*headers, "http://127.0.0.1:%d/app/x?y=1" % (plainPort,)).json()
    assert seen["HTTP_HOST"] == backendAddress
    assert (seen["PATH_INFO"], seen["QUERY_STRING"]) == ("/app/x", "y=1")
    assert seen["HTTP_X_FORWARDED_FOR"] == "203.0.113.7, 127.0.0.1"
    assert seen["HTTP_X_FORWARDED_HOST"] == "www.example.com"
    assert seen["HTTP_X_FORWARDED_PROTO"] == "http"

    seen = curl(*headers, "http://127.0.0.1:%d/" % (preservingPort,)).json()
    assert seen["HTTP_HOST"] == "www.example.com"
    assert seen["PATH_INFO"] == "/"
    assert seen["HTTP_X_FORWARDED_FOR"] == "203.0.113.7, 127.0.0.1"
    for name, pid in [("plain", plain), ("preserving", preserving), ("backend", backend)]:
        stopDaemon(loomd, name, pid)


@needsCurl
def test_loomdWebServesWsgiOverTls(loomd, tmp_path, tlsCertificates):
    module = writeEchoApp(tmp_path)
    key, certificate = tlsCertificates.writeFiles(tlsCertificates.server, tmp_path)
    ca = tlsCertificates.writeCA(tmp_path / "ca") / "ca.pem"
    port = freePort()
    pid = startDaemon(
        loomd, "tls", "web", "--port",
        "ssl:%d:interface=127.0.0.1:privateKey=%s:certKey=%s" % (port, key, certificate),
        "--wsgi", module + ".app",
    )  # fmt: skip
    seen = curl("--cacert", ca, "https://localhost:%d/hello" % (port,)).json()
    assert (seen["wsgi.url_scheme"], seen["PATH_INFO"]) == ("https", "/hello")
    result = subprocess.run(
        ["curl", "-sS", "--max-time", "10", "https://localhost:%d/" % (port,)],
        capture_output=True,
        timeout=20,
    )
    assert result.returncode == 60, result  # not trusted without the CA
    stopDaemon(loomd, "tls", pid)


@needsCurl
def test_loomdWebServesASocketSystemdPassed(loomd, tmp_path):
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "hello.txt").write_text("activated\n")
    listening = socket.create_server(("127.0.0.1", 0))
    port = listening.getsockname()[1]
    command = [sys.executable, "-c", WRAPPER, str(listening.fileno()), ""]
    command += loomd.command(
        "-n", "--pidfile", "", "-l", loomd.logfile, "web",
        "--port", "systemd:domain=INET:index=0", "--path", "www",
    )[1:]  # fmt: skip
    process = subprocess.Popen(
        command,
        env=loomdEnvironment(),
        cwd=str(tmp_path),
        pass_fds=(listening.fileno(),),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    loomd.popens.append(process)
    listening.close()  # only loomd holds it now
    waitFor(
        lambda: "loomd ready" in readLog(loomd.logfile) or process.poll() is not None,
        what="start-up",
    )
    assert process.poll() is None, process.communicate()
    answer = curl("http://127.0.0.1:%d/hello.txt" % (port,))
    assert (answer.status, answer.body) == (200, b"activated\n")
    process.terminate()
    assert wait(process, timeout=20)[0] == 0


@pytest.mark.parametrize(
    "args, message",
    [
        (["--path", "/no/such/dir"], "loomd: --path /no/such/dir: no such file or directory"),
        (["--wsgi", "nowhere.app"], "loomd: --wsgi nowhere.app: cannot import nowhere"),
        (["--path", ".", "--wsgi", "m.a"], "loomd: --path and --wsgi cannot be given together"),
        (["-p", "tcp:port=x", "--path", "."], "loomd: plugin web failed to build its service"),
    ],
)
def test_loomdWebRefusesBadArguments(loomd, args, message):
    result = loomd.run("--pidfile", loomd.pidfile, "-l", loomd.logfile, "web", *args)
    assert result.returncode != 0
    assert message in result.stderr
    assert loomd.leftovers() == []


def test_loomdWebReportsAPortInUse(loomd, tmp_path):
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = loomd.run(
            "--pidfile", loomd.pidfile, "-l", loomd.logfile, "web",
            "-p", "tcp:%d:interface=127.0.0.1" % (port,), "--path", str(tmp_path),
        )  # fmt: skip
    assert result.returncode == 1
    assert "Address already in use" in result.stderr or "in use" in result.stderr, result.stderr
