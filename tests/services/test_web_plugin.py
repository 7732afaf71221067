"""
The web plugin: its options and their errors, and ``loomd web`` run for
real and asked with curl: static files (with and without listings, over TCP
and a UNIX socket), a WSGI application, a reverse proxy in front of another
``loomd web`` (Host preserved or not, X-Forwarded-For), forwarding headers
believed only from ``--trusted-proxy``, TLS on an ``ssl:`` port, a socket
passed by systemd, and ``--path`` served inside a ``--chroot`` jail (as root).
"""

import os
import socket
import stat
import subprocess
import sys

import pytest

import reactor as loom
from protocols.web.proxy import ReverseProxyResource
from protocols.web.server import Site
from protocols.web.static import File
from protocols.web.wsgi import WSGIResource
from reactor.address import IPv4Address, UNIXAddress
from services.internet import StreamServerEndpointService
from services.loomd.runner import LoomdOptions
from services.plugins import builtinMakers
from services.plugins_builtin import web
from services.service import MultiService
from services.usage import UsageError
from tests.services.loomd_helpers import (  # noqa: F401 - loomdFixture: the loomd fixture
    freePort,
    loomdEnvironment,
    loomdFixture,
    needRoot,
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
        (
            ["--trusted-proxy", "proxy.example", "--path", "."],
            "--trusted-proxy proxy.example: give an IP address (10.0.0.1, ::1), a network"
            " (10.0.0.0/8) or unix; host names are not accepted",
        ),
        (["--trusted-proxy", "10.0.0.0/33", "--path", "."], "--trusted-proxy 10.0.0.0/33:"),
        (["--trusted-proxy", "", "--path", "."], "--trusted-proxy : give an IP address"),
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


def test_trustedProxiesRepeatAndReachTheSite(tmp_path):
    options = parsed(
        "--trusted-proxy", "127.0.0.1", "--trusted-proxy", "10.0.0.0/8",
        "--trusted-proxy", "fd00::/8", "--trusted-proxy", "unix", "--path", str(tmp_path),
    )  # fmt: skip
    assert options["trusted_proxies"] == ["127.0.0.1", "10.0.0.0/8", "fd00::/8", "unix"]
    proxies = web.makeService(options).factory.trustedProxies
    trusted = [
        proxies.trusts(address)
        for address in (
            IPv4Address("TCP", "127.0.0.1", 1),
            IPv4Address("TCP", "10.9.8.7", 1),
            IPv4Address("TCP", "192.0.2.1", 1),
            UNIXAddress(None),
        )
    ]
    assert trusted == [True, True, False, True]
    assert not web.makeService(parsed("--path", str(tmp_path))).factory.trustedProxies


def loomdParsed(*args):
    options = LoomdOptions()
    options.parseOptions(list(args))
    return options.subOptions


def test_pathUnderChrootIsWhereItLiesInsideTheJail(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "jail" / "srv" / "www").mkdir(parents=True)
    (tmp_path / "link").symlink_to(tmp_path / "jail" / "srv")
    jail = str(tmp_path / "jail")
    assert loomdParsed("--chroot", jail, "web", "--path", "jail/srv/www")["path"] == "/srv/www"
    assert loomdParsed("--chroot", "jail", "web", "--path", "link/www")["path"] == "/srv/www"
    assert loomdParsed("--chroot", "jail", "web", "--path", "jail")["path"] == "/"
    assert loomdParsed("web", "--path", "jail/srv")["path"] == jail + "/srv"
    assert web.pathInsideChroot("/srv/www", "/") == "/srv/www"


def test_pathOutsideTheChrootIsRefused(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    (tmp_path / "jail").mkdir()
    (tmp_path / "jail-not").mkdir()  # a name that starts like the jail's is not in it
    (tmp_path / "jail" / "out").symlink_to(tmp_path)
    for path in ("jail-not", ".", "jail/out", "jail/.."):
        with pytest.raises(UsageError) as raised:
            loomdParsed("--chroot", "jail", "web", "--path", path)
        assert str(raised.value) == (
            "--path %s is outside the --chroot directory jail: the daemon could not"
            " reach it there; give a directory inside it" % (os.path.abspath(path),)
        )


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


FORWARDED = ["-H", "X-Forwarded-For: 198.51.100.9, 203.0.113.7", "-H", "X-Forwarded-Proto: https"]


@needsCurl
@pytest.mark.parametrize(
    "trusted, overTcp, overUnix",
    [
        ([], False, False),
        (["--trusted-proxy", "127.0.0.1"], True, False),
        (["--trusted-proxy", "10.0.0.0/8", "--trusted-proxy", "unix"], False, True),
    ],
    ids=["none", "loopback", "unix"],
)
def test_loomdWebBelievesForwardingHeadersOnlyFromTrustedProxies(
    loomd, tmp_path, trusted, overTcp, overUnix
):
    # A request from 127.0.0.1 (or a UNIX socket peer) saying it forwards
    # for 203.0.113.7 over https: the WSGI application is told of that
    # client (REMOTE_ADDR, wsgi.url_scheme) only when the peer is a
    # --trusted-proxy.  The address further left (198.51.100.9) is the
    # client's own claim: never believed.
    module = writeEchoApp(tmp_path)
    port, path = freePort(), tmp_path / "web.sock"
    pid = startDaemon(
        loomd, "web", "web", "-p", "tcp:%d:interface=127.0.0.1" % (port,),
        "-p", "unix:%s" % (path,), *trusted, "--wsgi", module + ":app",
    )  # fmt: skip
    seenOverTcp = curl(*FORWARDED, "http://127.0.0.1:%d/" % (port,)).json()
    seenOverUnix = curl(*FORWARDED, "--unix-socket", path, "http://localhost/").json()
    stopDaemon(loomd, "web", pid)
    believed = ("203.0.113.7", "https")
    seen = [
        (seenOverTcp["REMOTE_ADDR"], seenOverTcp["wsgi.url_scheme"]),
        (seenOverUnix["REMOTE_ADDR"], seenOverUnix["wsgi.url_scheme"]),
    ]
    assert seen == [
        believed if overTcp else ("127.0.0.1", "http"),
        believed if overUnix else ("", "http"),  # a UNIX peer has no address
    ]


@needsCurl
def test_loomdWebLogsTheClientATrustedProxyNames(loomd, tmp_path):
    # The access log's client: the forwarded one from the trusted
    # 127.0.0.1, the peer itself (a UNIX socket's: "-") from anyone else.
    (tmp_path / "www").mkdir()
    (tmp_path / "www" / "hello.txt").write_text("hello\n")
    port, path = freePort(), tmp_path / "web.sock"
    pid = startDaemon(
        loomd, "web", "web", "-p", "tcp:%d:interface=127.0.0.1" % (port,),
        "-p", "unix:%s" % (path,), "--trusted-proxy", "127.0.0.1", "--path", "www",
    )  # fmt: skip
    curl(*FORWARDED, "-A", "over-tcp", "http://127.0.0.1:%d/hello.txt" % (port,))
    curl(*FORWARDED, "-A", "over-unix", "--unix-socket", path, "http://localhost/hello.txt")
    curl("-A", "direct", "http://127.0.0.1:%d/hello.txt" % (port,))
    log = stopDaemon(loomd, "web", pid)
    clients = {}
    for line in log.splitlines():
        if '"GET /hello.txt HTTP/1.1" 200 6 "-"' in line:
            clients[line.rsplit(" ", 1)[1]] = line.split('"', 2)[1]
    assert clients == {'"over-tcp"': "203.0.113.7", '"over-unix"': "-", '"direct"': "127.0.0.1"}


def test_loomdWebRefusesAPathOutsideTheChroot(loomd, tmp_path):
    (tmp_path / "jail").mkdir()
    (tmp_path / "www").mkdir()
    result = loomd.run(
        "--pidfile", loomd.pidfile, "-l", loomd.logfile, "--chroot", str(tmp_path / "jail"),
        "web", "--path", "www",
    )  # fmt: skip
    assert result.returncode == 1
    assert (
        "loomd: --path %s is outside the --chroot directory %s"
        % (tmp_path / "www", tmp_path / "jail")
        in result.stderr
    )
    assert loomd.leftovers() == []


def makeJail(directory):
    """A jail holding only /dev/null (a daemon's streams need it); skip if mknod fails."""
    (directory / "dev").mkdir(parents=True)
    try:
        os.mknod(str(directory / "dev" / "null"), stat.S_IFCHR | 0o666, os.makedev(1, 3))
    except OSError as error:
        pytest.skip("cannot make /dev/null in a jail here: %s" % (error,))
    os.chmod(directory / "dev" / "null", 0o666)
    return directory


@needsCurl
def test_loomdWebServesAPathInsideTheChroot(loomd, tmp_path):
    # loomd --chroot JAIL web --path JAIL/srv/www, as nobody: the files are
    # served from the jail's /srv/www, not from what JAIL/srv/www would name
    # inside the jail (a decoy put there), and nothing outside the jail is
    # reached, not even by a symlink whose target is a path outside it.
    needRoot()
    jail = makeJail(tmp_path / "jail")
    www = jail / "srv" / "www"
    (www / "docs").mkdir(parents=True)
    (www / "index.html").write_text("<h1>jailed</h1>\n")
    (www / "docs" / "notes.txt").write_text("notes from the jail\n")
    (tmp_path / "secret.txt").write_text("secret outside the jail\n")
    (www / "out").symlink_to(tmp_path / "secret.txt")
    decoy = jail / str(www).lstrip("/")
    decoy.mkdir(parents=True)
    (decoy / "index.html").write_text("decoy\n")
    os.chmod(tmp_path / "secret.txt", 0o644)
    port = freePort()
    pid = startDaemon(
        loomd, "web", "--chroot", str(jail), "-u", "nobody", "-g", "nogroup",
        "web", "-p", "tcp:%d:interface=127.0.0.1" % (port,), "--path", str(www), "--listing",
    )  # fmt: skip
    assert os.readlink("/proc/%d/root" % (pid,)) == str(jail)
    url = "http://127.0.0.1:%d" % (port,)
    home = curl(url + "/")
    assert (home.status, home.body) == (200, b"<h1>jailed</h1>\n")
    notes = curl("-r", "6-9", url + "/docs/notes.txt")
    assert (notes.status, notes.body) == (206, b"from")
    listing = curl(url + "/docs/")
    assert (listing.status, b"notes.txt" in listing.body) == (200, True)
    for path in ("/out", "/../../../secret.txt", "/%2e%2e/%2e%2e/%2e%2e/secret.txt"):
        answer = curl("--path-as-is", url + path)
        assert (answer.status, b"secret" in answer.body) == (404, False), path
    log = stopDaemon(loomd, "web", pid)
    assert '"GET /docs/notes.txt HTTP/1.1" 206 4' in log
    assert "Traceback" not in log


@needsCurl
def test_loomdWebProxiesAndRunsWsgiInsideTheChroot(loomd, tmp_path):
    # Both other modes in a jail holding no Python, as nobody: the WSGI
    # application runs in the reactor's thread pool (reactor.threadpool
    # loaded before the chroot), and the proxy in front names its backend
    # with str.encode("idna") (the codec loaded before it too).
    needRoot()
    jail = makeJail(tmp_path / "jail")
    module = writeEchoApp(tmp_path)
    backendPort, frontPort = freePort(), freePort()
    jailed = ["--chroot", str(jail), "-u", "nobody", "-g", "nogroup", "web"]
    backend = startDaemon(
        loomd, "backend", *jailed, "-p", "tcp:%d:interface=127.0.0.1" % (backendPort,),
        "--wsgi", module + ":app",
    )  # fmt: skip
    front = startDaemon(
        loomd, "front", *jailed, "-p", "tcp:%d:interface=127.0.0.1" % (frontPort,),
        "--proxy", "127.0.0.1:%d" % (backendPort,),
    )  # fmt: skip
    for pid in (backend, front):
        assert os.readlink("/proc/%d/root" % (pid,)) == str(jail)
    seen = curl("http://127.0.0.1:%d/app?x=1" % (frontPort,)).json()
    assert (seen["PATH_INFO"], seen["QUERY_STRING"]) == ("/app", "x=1")
    assert seen["HTTP_X_FORWARDED_FOR"] == "127.0.0.1"
    logs = [stopDaemon(loomd, name, pid) for name, pid in [("front", front), ("backend", backend)]]
    assert ["Traceback" in log for log in logs] == [False, False], logs
