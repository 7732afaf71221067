"""
The web plugin, in the style of ``twistd web``: a Site serving one thing.

    loomd web [--port tcp:8080 ...] --path DIR [--listing]
    loomd web [--port tcp:8080 ...] --proxy HOST:PORT [--preserve-host]
    loomd web [--port tcp:8080 ...] --wsgi MODULE.APP

``--path`` serves a directory (or one file) with protocols.web.static.File,
directory listings off unless ``--listing``; ``--proxy`` forwards every
request to an HTTP backend with protocols.web.proxy.ReverseProxyResource,
sending the backend's own host:port as Host unless ``--preserve-host``;
``--wsgi`` runs a WSGI application with protocols.web.wsgi.WSGIResource in
the reactor's thread pool.  Exactly one of the three is given.

``--port`` may be repeated, each a server endpoint description (``tcp:8080``,
``unix:/run/web.sock``, ``ssl:8443:privateKey=key.pem:certKey=cert.pem``,
``systemd:domain=INET:index=0``); without one, ``tcp:8080``.

``--trusted-proxy`` (repeatable) lists the reverse proxies in front of the
Site (an address, a network such as ``10.0.0.0/8``, or ``unix`` for peers
on a UNIX socket): requests from them are believed about the client in
``Forwarded`` or ``X-Forwarded-For`` and ``X-Forwarded-Proto``, which
``getClientAddress()``, the access log, WSGI's ``REMOTE_ADDR`` and
``wsgi.url_scheme`` then follow.  From anyone else those headers are
ignored, and without the option they are ignored from everyone.

Under loomd's ``--chroot DIR`` (given before ``web``), ``--path`` is read
as the command line names it, before the chroot, and served from where that
lies inside the jail (``--chroot /srv/jail --path /srv/jail/www`` serves
the jail's ``/www``); a path outside DIR is refused, since the daemon could
not reach it there.

Everything that can be wrong is found while the options are parsed, so that
loomd reports it and exits non-zero before it starts: a missing path, a
backend that is not HOST:PORT, a module that does not import (its error is
in the message), two modes at once, a trusted proxy that is not an address
or network, a path outside the chroot.  The Site's own timeouts (a request head
within 30 s, an idle keep-alive connection closed) bound slow clients.
"""

import importlib
import ipaddress
import os
import sys
from typing import Any

from services.plugins_builtin import endpointDescription
from services.usage import Options as _BaseOptions
from services.usage import UsageError

__all__ = [
    "Options",
    "makeService",
    "makeRoot",
    "importApplication",
    "parseBackend",
    "parseTrustedProxy",
    "pathInsideChroot",
]

MODES = ("path", "proxy", "wsgi")


class Options(_BaseOptions):
    """Options of the web plugin."""

    synopsis = (
        "[--port DESCRIPTION ...]"
        " [--trusted-proxy ADDRESS ...]"
        " (--path DIR [--listing] | --proxy HOST:PORT [--preserve-host] | --wsgi MODULE.APP)"
    )
    longdesc = (
        "Serve HTTP: the files under a directory (--path), a reverse proxy to "
        "one backend (--proxy), or a WSGI application (--wsgi).  --port may be "
        "given more than once; the default is tcp:8080.  Behind a reverse proxy, "
        "--trusted-proxy names it, so that the client it reports in Forwarded or "
        "X-Forwarded-For is believed (from it only).  Under loomd --chroot DIR "
        "(given before web), --path is served from where it lies inside DIR."
    )
    optParameters = [
        ["path", None, None, "Serve the files under this directory (or this one file)."],
        ["proxy", None, None, "Forward every request to this HTTP backend."],
        ["wsgi", None, None, "Run this WSGI application (module.app or module:app)."],
    ]
    optFlags = [
        ["listing", None, "With --path: list directories without an index file."],
        ["preserve-host", None, "With --proxy: send the client's Host header, not the backend's."],
    ]
    optPlaceholders = {"path": "DIR", "proxy": "HOST:PORT", "wsgi": "MODULE.APP"}

    def __init__(self) -> None:
        super().__init__()
        self["ports"] = []
        self["trusted_proxies"] = []

    def opt_port(self, description: str) -> None:
        """Where to listen (an endpoint description; repeatable). [default: tcp:8080]"""
        try:
            self["ports"].append(endpointDescription(description))
        except ValueError as error:
            raise UsageError("--port %r: %s" % (description, error)) from None

    opt_p = opt_port

    def opt_trusted_proxy(self, address: str) -> None:
        """
        Believe what this reverse proxy says of the client (X-Forwarded-For,
        Forwarded): an address, a network (10.0.0.0/8) or unix (repeatable).
        """
        self["trusted_proxies"].append(parseTrustedProxy(address))

    def postOptions(self) -> None:
        """Check that one mode is given, and that what it names is there."""
        given = ["--" + mode for mode in MODES if self[mode] is not None]
        if len(given) > 1:
            raise UsageError("%s cannot be given together: choose one" % (" and ".join(given),))
        if not given:
            raise UsageError(
                "nothing to serve: give --path DIR, --proxy HOST:PORT or --wsgi MODULE.APP"
            )
        if self["listing"] and self["path"] is None:
            raise UsageError("--listing goes with --path")
        if self["preserve_host"] and self["proxy"] is None:
            raise UsageError("--preserve-host goes with --proxy")
        if not self["ports"]:
            self["ports"] = ["tcp:8080"]
        if self["path"] is not None:
            if not os.path.exists(self["path"]):
                raise UsageError("--path %s: no such file or directory" % (self["path"],))
            self["path"] = os.path.abspath(self["path"])
            chroot = self._chroot()
            if chroot is not None:
                self["path"] = pathInsideChroot(self["path"], chroot)
        elif self["proxy"] is not None:
            self["backend"] = parseBackend(self["proxy"])
        else:
            self["application"] = importApplication(self["wsgi"])

    def _chroot(self) -> str | None:
        # loomd's --chroot, when this is loomd's plugin and one was given
        # before "web" (and exists: if not, loomd says so itself).
        parent = getattr(self, "parent", None)
        chroot = parent.get("chroot") if parent is not None else None
        if not isinstance(chroot, str) or not os.path.isdir(chroot):
            return None
        return chroot


def parseTrustedProxy(value: str) -> str:
    """
    Check one ``--trusted-proxy``: an IP address (``10.1.2.3``, ``::1``), a
    network (``10.0.0.0/8``, ``fd00::/8``) or ``unix``; return it as given.

    :raises UsageError: for anything else (a host name, a bad mask).
    """
    if value != "unix":
        try:
            ipaddress.ip_network(value, strict=False)
        except ValueError:
            raise UsageError(
                "--trusted-proxy %s: give an IP address (10.0.0.1, ::1), a network"
                " (10.0.0.0/8) or unix; host names are not accepted" % (value,)
            ) from None
    return value


def pathInsideChroot(path: str, chroot: str) -> str:
    """
    Return where path (absolute, seen from outside) is seen from inside a
    chroot to the directory chroot: ``/srv/jail/www`` is ``/www`` in
    ``/srv/jail``.  Both are resolved first (symlinks, ``..``), as the
    kernel will once inside.

    :raises UsageError: if path does not lie inside chroot.
    """
    real, jail = os.path.realpath(path), os.path.realpath(chroot)
    if real == jail:
        return "/"
    if jail == "/":
        return real
    if not real.startswith(jail + os.sep):
        raise UsageError(
            "--path %s is outside the --chroot directory %s: the daemon could not"
            " reach it there; give a directory inside it" % (path, chroot)
        )
    return real[len(jail) :]


def parseBackend(value: str) -> tuple[str, int]:
    """
    Split ``HOST:PORT`` (``[::1]:8080`` for an IPv6 address) into (host, port).

    :raises UsageError: if value is not of that form or the port is not 1-65535.
    """
    host, colon, port = value.rpartition(":")
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    if not colon or not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise UsageError(
            "--proxy %s: give the backend as HOST:PORT (e.g. 127.0.0.1:8000)" % (value,)
        )
    return host, int(port)


def importApplication(name: str) -> Any:
    """
    Import a WSGI application named ``module.app`` or ``module:app``.

    The current directory is put first on sys.path (as ``python -m`` does), so
    that a module beside where loomd is started imports.

    :raises UsageError: naming what failed: the form of name, the module's
        import (with its exception), a missing attribute, or an object that is
        not callable.
    """
    if ":" in name:
        moduleName, _, attribute = name.partition(":")
    else:
        moduleName, _, attribute = name.rpartition(".")
    if not moduleName or not attribute:
        raise UsageError("--wsgi %s: give MODULE.APP or MODULE:APP" % (name,))
    if os.getcwd() not in sys.path:
        sys.path.insert(0, os.getcwd())
    try:
        module = importlib.import_module(moduleName)
    except Exception as error:
        raise UsageError(
            "--wsgi %s: cannot import %s: %s: %s" % (name, moduleName, type(error).__name__, error)
        ) from None
    application: Any = module
    for part in attribute.split("."):
        application = getattr(application, part, None)
        if application is None:
            raise UsageError("--wsgi %s: module %s has no %s" % (name, moduleName, attribute))
    if not callable(application):
        raise UsageError(
            "--wsgi %s: %r is not a WSGI application (not callable)" % (name, application)
        )
    return application


class _GlobalReactor:
    # Stands for the global reactor until something is asked of it, so that
    # makeService installs none (loomd installs the one -r names first).
    def __getattr__(self, name: str) -> Any:
        from reactor import getReactor

        return getattr(getReactor(), name)


class _GlobalThreadPool:
    # The reactor's thread pool, looked up when WSGIResource first uses it.
    def __init__(self, reactor: Any) -> None:
        self._reactor = reactor

    def __getattr__(self, name: str) -> Any:
        return getattr(self._reactor.getThreadPool(), name)


def makeRoot(options: Options, reactor: Any = None) -> Any:
    """Return the resource the options name: a File, a ReverseProxyResource or a WSGIResource."""
    reactor = _GlobalReactor() if reactor is None else reactor
    if options["path"] is not None:
        from protocols.web.static import File

        return File(options["path"], listDirectories=options["listing"])
    if options["proxy"] is not None:
        from protocols.web.proxy import ReverseProxyResource

        host, port = options["backend"]
        return ReverseProxyResource(host, port, b"", reactor, preserveHost=options["preserve_host"])
    from protocols.web.wsgi import WSGIResource

    return WSGIResource(reactor, _GlobalThreadPool(reactor), options["application"])


def makeService(options: Options, reactor: Any = None) -> Any:
    """
    Return the service serving the Site on options["ports"]: one
    StreamServerEndpointService, or a MultiService of one per port.
    """
    from protocols.web.server import Site
    from services.internet import service
    from services.service import MultiService

    site = Site(
        makeRoot(options, reactor), reactor=reactor, trustedProxies=options["trusted_proxies"]
    )
    services = [service(port, site, reactor=reactor) for port in options["ports"]]
    if len(services) == 1:
        return services[0]
    parent = MultiService()
    for child in services:
        child.setServiceParent(parent)
    return parent
