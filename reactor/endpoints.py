"""
Endpoints: where to listen or connect, as objects or as strings.

``serverFromString(reactor, "tcp:8080:interface=127.0.0.1")`` and
``clientFromString(reactor, "tcp:host=example.org:port=80")`` parse
Twisted's description syntax: fields separated by colons, positional fields
first, then ``key=value`` fields, with a backslash escaping a colon, an equals
sign or a backslash.  Parsers are looked up in two tables keyed by the prefix:
``tcp``, ``tcp6``, ``unix``; for servers ``ssl`` (TLS over TCP) and
``systemd`` (socket activation: reactor._activation), and for clients
``tls`` (TLS to a host name, verified); ``registerServerParser`` and
``registerClientParser`` add more.

TLS: ``SSL4ServerEndpoint`` and ``SSL4ClientEndpoint`` use the reactor's
listenSSL and connectSSL; ``wrapServerTLS`` and ``wrapClientTLS`` put TLS
on any other endpoint (reactor._tlsendpoints, which also reads the TLS
fields of descriptions: their files are loaded when the description is
parsed, and a bad one is a ValueError naming the field).  A ``systemd:``
description given ``privateKey=`` (and the other ``ssl:`` key fields)
serves TLS on the passed socket.

A client endpoint's Deferred fires with the protocol once its connectionMade
has run; the connector tells the endpoint's factory directly, so no wrapper
protocol sits between the transport and the user's protocol.

HostnameEndpoint connects to a name the way browsers do (happy eyeballs:
reactor._happyeyeballs), resolving it through an IHostnameResolver
(reactor._resolver.GAIResolver by default).  ``clientFromString``'s ``tcp:``
builds a TCP4ClientEndpoint, as Twisted's does.  ``quoteStringArgument``
escapes a value for a description.
"""

import socket
import unicodedata

from zope.interface import implementer

from reactor import _activation, _tlsendpoints
from reactor._happyeyeballs import _Race
from reactor._resolver import GAIResolver
from reactor._tlsendpoints import wrapClientTLS, wrapServerTLS
from reactor.address import HostnameAddress, IPv4Address, IPv6Address, UNIXAddress
from reactor.defer import Deferred, execute, fail
from reactor.error import ConnectingCancelledError, NotConnectingError
from reactor.failure import Failure
from reactor.interfaces import IStreamClientEndpoint, IStreamServerEndpoint

__all__ = [
    "TCP4ServerEndpoint",
    "TCP6ServerEndpoint",
    "UNIXServerEndpoint",
    "TCP4ClientEndpoint",
    "TCP6ClientEndpoint",
    "HostnameEndpoint",
    "UNIXClientEndpoint",
    "SSL4ServerEndpoint",
    "SSL4ClientEndpoint",
    "wrapServerTLS",
    "wrapClientTLS",
    "serverFromString",
    "clientFromString",
    "connectProtocol",
    "registerServerParser",
    "registerClientParser",
    "parseDescription",
    "quoteStringArgument",
]


@implementer(IStreamServerEndpoint)
class TCP4ServerEndpoint:
    """
    Listen on a TCP port (IPv4 unless interface is an IPv6 address).

    Its settings are public so that a tool can tell where it would listen
    without binding (``loomd --check``):

    :ivar port: the port number (0: any free port).
    :ivar backlog: the listen() backlog.
    :ivar interface: the address to bind ("" for every IPv4 address).
    """

    def __init__(self, reactor, port, backlog=50, interface=""):
        self._reactor = reactor
        self.port = port
        self.backlog = backlog
        self.interface = interface

    def listen(self, protocolFactory):
        """Return a Deferred firing with the listening port (or CannotListenError)."""
        return execute(
            self._reactor.listenTCP,
            self.port,
            protocolFactory,
            backlog=self.backlog,
            interface=self.interface,
        )

    def __repr__(self):
        return "<%s %s:%s>" % (type(self).__name__, self.interface or "*", self.port)


class TCP6ServerEndpoint(TCP4ServerEndpoint):
    """Listen on a TCP port over IPv6 (interface '::' by default)."""

    def __init__(self, reactor, port, backlog=50, interface="::"):
        TCP4ServerEndpoint.__init__(self, reactor, port, backlog, interface)


class SSL4ServerEndpoint(TCP4ServerEndpoint):
    """
    Listen for TLS connections on a TCP port (the reactor's listenSSL).

    :ivar contextFactory: the server's TLS settings (a CertificateOptions,
        or any context factory reactor.tls takes); the services reload it
        on SIGHUP when it has ``reload()``.
    """

    def __init__(self, reactor, port, sslContextFactory, backlog=50, interface=""):
        TCP4ServerEndpoint.__init__(self, reactor, port, backlog, interface)
        self.contextFactory = sslContextFactory

    def listen(self, protocolFactory):
        """Return a Deferred firing with the listening port (or CannotListenError)."""
        return execute(
            self._reactor.listenSSL,
            self.port,
            protocolFactory,
            self.contextFactory,
            backlog=self.backlog,
            interface=self.interface,
        )


@implementer(IStreamServerEndpoint)
class UNIXServerEndpoint:
    """
    Listen on a UNIX socket path.

    :ivar address: the socket's path.
    :ivar backlog: the listen() backlog.
    :ivar mode: the socket file's permissions (None: the process umask decides).
    :ivar wantPID: whether a lock file guards the path (``lockfile=1``).
    """

    def __init__(self, reactor, address, backlog=50, mode=None, wantPID=False):
        self._reactor = reactor
        self.address = address
        self.backlog = backlog
        self.mode = mode
        self.wantPID = wantPID

    def listen(self, protocolFactory):
        """Return a Deferred firing with the listening port."""
        return execute(
            self._reactor.listenUNIX,
            self.address,
            protocolFactory,
            backlog=self.backlog,
            mode=self.mode,
            wantPID=self.wantPID,
        )

    def __repr__(self):
        return "<%s %r>" % (type(self).__name__, self.address)


class _EndpointFactory:
    # A ClientFactory for one connection attempt of a client endpoint.
    def __init__(self, factory, deferred):
        self.factory = factory
        self.deferred = deferred
        self.protocol = None

    def doStart(self):
        self.factory.doStart()

    def doStop(self):
        self.factory.doStop()

    def startedConnecting(self, connector):
        pass

    def buildProtocol(self, addr):
        self.protocol = self.factory.buildProtocol(addr)
        return self.protocol

    def clientConnectionMade(self, protocol):
        """The connector's call once protocol.makeConnection has run (see tcp.Connector)."""
        if not self.deferred.called:
            self.deferred.callback(protocol)

    def clientConnectionFailed(self, connector, reason):
        if not self.deferred.called:
            self.deferred.errback(reason)

    def clientConnectionLost(self, connector, reason):
        if not self.deferred.called:
            # connectionMade failed: the connection ended before it was made.
            self.deferred.errback(reason)


class _ConnectingEndpoint:
    def connect(self, protocolFactory):
        """
        Connect; return a Deferred firing with the connected protocol.

        Cancelling the Deferred before it fires abandons the attempt: it
        fails with ConnectingCancelledError, whose ``address`` is the
        destination as an address object (IPv4Address, UNIXAddress, ...).
        """
        connector = None

        def cancel(d):
            # Fail first: stopping the attempt makes the connector report a
            # failure of its own (UserError), which must not be the answer.
            d.errback(Failure(ConnectingCancelledError(self._destination())))
            if connector is not None and getattr(connector, "state", "connecting") == "connecting":
                try:
                    connector.stopConnecting()
                except NotConnectingError:
                    pass

        d = Deferred(cancel)
        factory = _EndpointFactory(protocolFactory, d)
        try:
            connector = self._connect(factory)
        except Exception:
            d.errback()
        return d


@implementer(IStreamClientEndpoint)
class TCP4ClientEndpoint(_ConnectingEndpoint):
    """Connect to host:port over TCP (a name is resolved in the thread pool)."""

    def __init__(self, reactor, host, port, timeout=30, bindAddress=None):
        self._reactor = reactor
        self._host = host
        self._port = port
        self._timeout = timeout
        self._bindAddress = bindAddress

    def _connect(self, factory):
        return self._reactor.connectTCP(
            self._host, self._port, factory, timeout=self._timeout, bindAddress=self._bindAddress
        )

    def _destination(self):
        # An address object, as Twisted's connector.getDestination() gives.
        if ":" in self._host:
            return IPv6Address("TCP", self._host, self._port)
        return IPv4Address("TCP", self._host, self._port)

    def __repr__(self):
        return "<%s %s:%s>" % (type(self).__name__, self._host, self._port)


TCP6ClientEndpoint = TCP4ClientEndpoint


class SSL4ClientEndpoint(TCP4ClientEndpoint):
    """
    Connect to host:port over TCP and speak TLS as the client (the
    reactor's connectSSL).  Give it ``optionsForClientTLS(host)``, which
    verifies the server; the ``tls:`` description does.
    """

    def __init__(self, reactor, host, port, sslContextFactory, timeout=30, bindAddress=None):
        TCP4ClientEndpoint.__init__(self, reactor, host, port, timeout, bindAddress)
        self.contextFactory = sslContextFactory

    def _connect(self, factory):
        return self._reactor.connectSSL(
            self._host,
            self._port,
            factory,
            self.contextFactory,
            timeout=self._timeout,
            bindAddress=self._bindAddress,
        )


@implementer(IStreamClientEndpoint)
class HostnameEndpoint:
    """
    Connect to whichever address of a host name answers first (happy eyeballs).

    The name is resolved off the loop by the reactor's ``nameResolver`` if
    it has one (IReactorPluggableNameResolver), else by a GAIResolver
    (getaddrinfo in the thread pool); a literal IP address needs no
    resolving.  Attempts on the addresses, IPv6 and IPv4 interleaved, start
    ``attemptDelay`` seconds apart, or at once after a failure; the first to
    connect wins and the others are cancelled (reactor._happyeyeballs).  The
    connected transport's getPeer() is the IPv4Address or IPv6Address
    reached; a cancelled connect fails with ConnectingCancelledError whose
    ``address`` is a HostnameAddress.

    :param host: the name (str, or IDNA bytes) or a literal address.
    :param timeout: seconds allowed to each attempt.
    :param bindAddress: a local address to connect from: a (host, port), or
        a host alone.
    :param attemptDelay: seconds between the starts of two attempts (0.3,
        as in Twisted, by default).
    """

    _DEFAULT_ATTEMPT_DELAY = 0.3

    def __init__(self, reactor, host, port, timeout=30, bindAddress=None, attemptDelay=None):
        self._reactor = reactor
        self._badHostname, self._hostBytes, self._hostText = _hostForms(host)
        self._port = port
        self._timeout = timeout
        self._bindAddress = _bindingOf(bindAddress)
        if attemptDelay is None:
            attemptDelay = self._DEFAULT_ATTEMPT_DELAY
        self._attemptDelay = attemptDelay

    def connect(self, protocolFactory):
        """
        Connect to the first address that answers.

        :return: a Deferred firing with the connected protocol; failing with
            ValueError for an invalid host name, DNSLookupError when the name
            has no address, the last attempt's error when none connects, or
            ConnectingCancelledError when cancelled.
        """
        if self._badHostname:
            return fail(ValueError("invalid hostname: %s" % (self._hostText,)))
        race = _Race(
            self._reactor,
            self._connectAddress,
            protocolFactory,
            self._attemptDelay,
            HostnameAddress(self._hostBytes, self._port),
        )
        literal = _literalAddress(self._hostText, self._port)
        if literal is not None:
            race.start([literal])
        else:
            race.resolve(self._nameResolver(), self._hostText, self._port)
        return race.deferred

    def _nameResolver(self):
        # Asked at each connect, as in Twisted: the reactor's may change.
        resolver = getattr(self._reactor, "nameResolver", None)
        return resolver if resolver is not None else GAIResolver(self._reactor)

    def _connectAddress(self, address, protocolFactory):
        endpoint = TCP4ClientEndpoint(
            self._reactor, address.host, address.port, self._timeout, self._bindAddress
        )
        return endpoint.connect(protocolFactory)

    def __repr__(self):
        if self._badHostname:
            host = self._hostText
        elif _literalAddress(self._hostText, 0).__class__ is IPv6Address:
            host = "[%s]" % (self._hostText,)
        else:
            host = self._hostBytes.decode("ascii")  # the punycode, to copy and paste
        return "<HostnameEndpoint %s:%s>" % (host, self._port)


def _hostForms(host):
    """
    Return (bad, hostBytes, hostText) for a host given as str or IDNA bytes.

    A name that is not valid IDNA is bad: kept backslash-escaped for messages.
    """
    if isinstance(host, bytes):
        try:
            text = host.decode("idna")
        except UnicodeError:
            text = host.decode("ascii", "backslashreplace")
            return True, text.encode("ascii"), text
        return False, host, text
    text = unicodedata.normalize("NFC", host)
    if _literalAddress(text, 0) is not None:
        return False, text.encode("ascii"), text
    try:
        return False, text.encode("idna"), text
    except UnicodeError:
        text = text.encode("ascii", "backslashreplace").decode("ascii")
        return True, text.encode("ascii"), text


def _literalAddress(host, port):
    """Return an IPv4Address or IPv6Address if host is a literal address, else None."""
    for family, kind in ((socket.AF_INET, IPv4Address), (socket.AF_INET6, IPv6Address)):
        try:
            socket.inet_pton(family, host.split("%", 1)[0])
        except (OSError, ValueError):
            continue
        return kind("TCP", host, port)
    return None


def _bindingOf(bindAddress):
    # Twisted accepts a host alone (str or bytes) or a (host, port) pair.
    if bindAddress is None:
        return None
    if isinstance(bindAddress, (bytes, str)):
        bindAddress = (bindAddress, 0)
    host, port = bindAddress
    return (host.decode() if isinstance(host, bytes) else host, port)


@implementer(IStreamClientEndpoint)
class UNIXClientEndpoint(_ConnectingEndpoint):
    """Connect to a UNIX socket path."""

    def __init__(self, reactor, path, timeout=30, checkPID=False):
        self._reactor = reactor
        self._path = path
        self._timeout = timeout
        self._checkPID = checkPID

    def _connect(self, factory):
        return self._reactor.connectUNIX(
            self._path, factory, timeout=self._timeout, checkPID=self._checkPID
        )

    def _destination(self):
        return UNIXAddress(self._path)

    def __repr__(self):
        return "<%s %r>" % (type(self).__name__, self._path)


def connectProtocol(endpoint, protocol):
    """
    Connect endpoint and attach the given protocol instance to it.

    :return: a Deferred firing with protocol once it is connected.
    """

    class OneShotFactory:
        def doStart(self):
            pass

        def doStop(self):
            pass

        def buildProtocol(self, addr):
            return protocol

    return endpoint.connect(OneShotFactory())


# -- descriptions ----------------------------------------------------------------


def parseDescription(description):
    """
    Split an endpoint description into (prefix, args, kwargs).

    ``"tcp:80:interface=127.0.0.1"`` gives ``("tcp", ["80"], {"interface": "127.0.0.1"})``.

    :raises ValueError: for an empty description, an empty key or a
        positional field after a keyword field.
    """
    if not isinstance(description, str) or not description.strip():
        raise ValueError("empty endpoint description")
    fields, current, escaped = [], [], False
    for char in description:
        if escaped:
            current.append(char)
            escaped = False
        elif char == "\\":
            escaped = True
        elif char == ":":
            fields.append("".join(current))
            current = []
        else:
            current.append(char if char != "=" else "\0")
    fields.append("".join(current))
    prefix, args, kwargs = fields[0], [], {}
    for field in fields[1:]:
        if "\0" in field:
            key, _, value = field.partition("\0")
            if not key:
                raise ValueError("empty key in endpoint description %r" % (description,))
            kwargs[key] = value.replace("\0", "=")
        elif kwargs:
            raise ValueError(
                "positional field %r after keyword fields in %r" % (field, description)
            )
        else:
            args.append(field)
    return prefix, args, kwargs


def quoteStringArgument(argument):
    """
    Escape argument for use as one field of an endpoint description.

    ``serverFromString(reactor, "unix:%s" % quoteStringArgument(path))``
    listens on path whatever it holds.  Backslashes and colons are escaped,
    as Twisted's does, and so is ``=`` (which Twisted leaves alone), so that
    a positional field such as a path holding ``=`` is not taken for a
    ``key=value`` field; both parsers read ``\\=`` as ``=``.
    """
    for special in "\\:=":
        argument = argument.replace(special, "\\" + special)
    return argument


def _integer(name, value, description):
    try:
        return int(value)
    except (TypeError, ValueError):
        raise ValueError(
            "%s must be an integer, not %r, in endpoint description %r" % (name, value, description)
        ) from None


def _bool(name, value, description):
    text = str(value).lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off"):
        return False
    raise ValueError(
        "%s must be 1 or 0 (or yes/no), not %r, in endpoint description %r"
        % (name, value, description)
    )


def _seconds(name, value, description):
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = -1.0
    if not seconds > 0:
        raise ValueError(
            "%s must be a number of seconds above 0, not %r, in endpoint description %r"
            % (name, value, description)
        )
    return seconds


def _serverTCP(reactor, description, args, kwargs, defaultInterface=""):
    port = kwargs.pop("port", None) if not args else args.pop(0)
    if port is None:
        raise ValueError("no port in endpoint description %r" % (description,))
    return {
        "port": _integer("port", port, description),
        "backlog": _integer("backlog", kwargs.pop("backlog", 50), description),
        "interface": kwargs.pop("interface", defaultInterface),
    }


def _parseServerTCP(reactor, description, args, kwargs):
    return TCP4ServerEndpoint(reactor, **_serverTCP(reactor, description, args, kwargs))


def _parseServerTCP6(reactor, description, args, kwargs):
    return TCP6ServerEndpoint(reactor, **_serverTCP(reactor, description, args, kwargs, "::"))


def _parseServerUNIX(reactor, description, args, kwargs):
    address = args.pop(0) if args else kwargs.pop("address", None)
    if not address:
        raise ValueError("no path in endpoint description %r" % (description,))
    mode = kwargs.pop("mode", None)
    try:
        mode = None if mode is None else int(mode, 8)
    except ValueError:
        raise ValueError("mode must be octal in endpoint description %r" % (description,)) from None
    return UNIXServerEndpoint(
        reactor,
        address,
        backlog=_integer("backlog", kwargs.pop("backlog", 50), description),
        mode=mode,
        wantPID=_bool("lockfile", kwargs.pop("lockfile", "0"), description),
    )


def _parseServerSSL(reactor, description, args, kwargs):
    # Twisted's fields and defaults: the key in server.pem unless named,
    # the certificate in the key's file unless certKey names another.  The
    # fields are all checked before a file is read.
    where = _serverTCP(reactor, description, args, kwargs)
    tlsFields = _tlsendpoints.popServerFields(kwargs)
    _refuseLeftovers(description, args, kwargs)
    options = _tlsendpoints.serverOptions(description, tlsFields, defaultKey="server.pem")
    return SSL4ServerEndpoint(reactor, sslContextFactory=options, **where)


def _parseServerSystemd(reactor, description, args, kwargs):
    # ssl:'s key fields on a systemd: description: TLS on the passed socket.
    tlsFields = _tlsendpoints.popServerFields(kwargs)
    endpoint = _activation.parseServer(reactor, description, args, kwargs)
    if not tlsFields:
        return endpoint
    _refuseLeftovers(description, args, kwargs)
    return wrapServerTLS(_tlsendpoints.serverOptions(description, tlsFields), endpoint)


def _parseClientTCP(reactor, description, args, kwargs):
    host = args.pop(0) if args else kwargs.pop("host", None)
    port = args.pop(0) if args else kwargs.pop("port", None)
    if not host or port is None:
        raise ValueError("tcp client endpoints need host and port: %r" % (description,))
    bindAddress = kwargs.pop("bindAddress", None)
    return TCP4ClientEndpoint(
        reactor,
        host,
        _integer("port", port, description),
        timeout=_seconds("timeout", kwargs.pop("timeout", 30), description),
        bindAddress=(bindAddress, 0) if bindAddress else None,
    )


def _parseClientUNIX(reactor, description, args, kwargs):
    path = args.pop(0) if args else kwargs.pop("path", None)
    if not path:
        raise ValueError("unix client endpoints need a path: %r" % (description,))
    return UNIXClientEndpoint(
        reactor,
        path,
        timeout=_seconds("timeout", kwargs.pop("timeout", 30), description),
        checkPID=_bool("checkPID", kwargs.pop("checkPID", "0"), description),
    )


def _parseClientTLS(reactor, description, args, kwargs):
    # Twisted's tls: a HostnameEndpoint (or the endpoint= description given),
    # the server's name always verified, against trustRoots= or the system's.
    host = args.pop(0) if args else kwargs.pop("host", None)
    port = args.pop(0) if args else kwargs.pop("port", None)
    wrapped = kwargs.pop("endpoint", None)
    if not host or (port is None and wrapped is None):
        raise ValueError("tls client endpoints need host and port: %r" % (description,))
    timeout = _seconds("timeout", kwargs.pop("timeout", 30), description)
    bindAddress = kwargs.pop("bindAddress", None)
    tlsFields = _tlsendpoints.popClientFields(kwargs)
    _refuseLeftovers(description, args, kwargs)
    options = _tlsendpoints.clientOptions(host, description, tlsFields)
    if wrapped is not None:
        return wrapClientTLS(options, clientFromString(reactor, wrapped))
    endpoint = HostnameEndpoint(
        reactor,
        host,
        _integer("port", port, description),
        timeout=timeout,
        bindAddress=(bindAddress, 0) if bindAddress else None,
    )
    return wrapClientTLS(options, endpoint)


def _parseClientSSL(reactor, description, args, kwargs):
    raise ValueError(
        "ssl: client endpoints are Twisted's, which check no host name; Loom's is "
        "tls:host=HOST:port=PORT[:trustRoots=DIR], verified: %r" % (description,)
    )


_serverParsers = {
    "tcp": _parseServerTCP,
    "tcp6": _parseServerTCP6,
    "unix": _parseServerUNIX,
    "ssl": _parseServerSSL,
    "systemd": _parseServerSystemd,
}
_clientParsers = {
    "tcp": _parseClientTCP,
    "tcp6": _parseClientTCP,
    "unix": _parseClientUNIX,
    "tls": _parseClientTLS,
    "ssl": _parseClientSSL,
}


def registerServerParser(prefix, parser):
    """Add a server description parser: parser(reactor, description, args, kwargs)."""
    _serverParsers[prefix] = parser


def registerClientParser(prefix, parser):
    """Add a client description parser: parser(reactor, description, args, kwargs)."""
    _clientParsers[prefix] = parser


def _fromString(parsers, kind, reactor, description):
    prefix, args, kwargs = parseDescription(description)
    parser = parsers.get(prefix)
    if parser is None:
        raise ValueError(
            "unknown %s endpoint type %r in %r (known: %s)"
            % (kind, prefix, description, ", ".join(sorted(parsers)))
        )
    endpoint = parser(reactor, description, args, kwargs)
    _refuseLeftovers(description, args, kwargs)
    return endpoint


def _refuseLeftovers(description, args, kwargs):
    # The fields no parser took: misspelt, or not of this kind of endpoint.
    if args or kwargs:
        extra = list(args) + ["%s=%s" % item for item in kwargs.items()]
        raise ValueError("unexpected fields %s in endpoint description %r" % (extra, description))


def serverFromString(reactor, description):
    """
    Return the server endpoint a description names.

    ``tcp:PORT[:interface=IP][:backlog=N]``, ``tcp6:PORT[...]``,
    ``unix:PATH[:mode=660][:backlog=N][:lockfile=1]`` (without mode the
    process umask decides the socket file's permissions),
    ``systemd:domain=INET|INET6|UNIX:index=N`` or ``...:name=NAME`` (a
    socket systemd passed: reactor._activation),
    ``ssl:PORT:privateKey=KEY.pem[:certKey=CERT.pem][:extraCertChain=CHAIN.pem]``
    ``[:caCertsDir=DIR][:interface=IP][:backlog=N]`` (TLS: certKey is the
    certificate, by default in the key's file; caCertsDir requires client
    certificates signed by a CA in it).  A ``systemd:`` description takes
    ssl:'s key fields too, and then serves TLS.

    :raises ValueError: for a malformed description, saying what is wrong
        (for TLS: which file does not load, or that the key does not match).
    """
    return _fromString(_serverParsers, "server", reactor, description)


def clientFromString(reactor, description):
    """
    Return the client endpoint a description names.

    ``tcp:host=HOST:port=PORT[:timeout=S][:bindAddress=IP]`` (or
    ``tcp:HOST:PORT``), ``unix:path=PATH[:timeout=S][:checkPID=1]``,
    ``tls:host=HOST:port=PORT[:trustRoots=DIR][:certificate=CERT.pem]``
    ``[:privateKey=KEY.pem][:timeout=S][:bindAddress=IP][:endpoint=DESC]``
    (TLS to HOST, its certificate checked against the CAs of DIR or the
    system's, and its name always; certificate/privateKey: a client
    certificate; endpoint: connect through that description instead).

    :raises ValueError: for a malformed description, saying what is wrong.
    """
    return _fromString(_clientParsers, "client", reactor, description)
