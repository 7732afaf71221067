"""
Network services: a port, a client connection or a timer that lives in a service tree.

Each service here holds one thing the reactor runs and opens it when the tree
starts, closes it when the tree stops.  The idea to keep in mind is *when*
a server binds: in ``privilegedStartService`` if the daemonizer calls it
(still root, so ports below 1024 can be bound before privileges are shed),
otherwise in ``startService``; never twice.  ``stopService`` returns a
Deferred that fires once the port is really closed (or the client really
disconnected), so a graceful shutdown can wait for it.

- TCPServer, UNIXServer, UDPServer: ``reactor.listenTCP``/``listenUNIX``/
  ``listenUDP`` with the given arguments; ``_port`` is the listening port
  (None when not listening) and ``getHost()`` its address.
- SSLServer: a TCPServer speaking TLS (``reactor.listenSSL``).
- TCPClient, UNIXClient, SSLClient: ``reactor.connectTCP``/``connectUNIX``/
  ``connectSSL`` with the caller's factory itself when started,
  ``connector.disconnect()`` when stopped.
- TimerService: call a function every ``step`` seconds (a LoopingCall).
- StreamServerEndpointService and ``service(description, factory)``: listen
  on an endpoint; a failure to listen (a port in use) makes the start fail.
- ClientService (services._clientservice): keep one connection to an
  endpoint up, reconnecting with jittered exponential back-off.

The reactor defaults to the global one, looked up only when it is needed
(``reactor=`` gives another, a MemoryReactor in tests).

A TLS server (SSLServer, or an endpoint service on ``ssl:`` or on
``systemd:`` with key fields) has ``reloadCertificates()`` and
``checkCertificates()``, which ``loomd`` calls on SIGHUP and for
``--check`` (services._certificates): with settings built from files
(CertificateOptions.fromFiles, the ``ssl:`` description), a renewed
certificate is served to new connections without a restart.
"""

from reactor import getReactor
from reactor.defer import Deferred, fail, maybeDeferred, succeed
from reactor.failure import Failure
from reactor.task import LoopingCall
from services import _certificates
from services._clientservice import ClientService, backoffPolicy
from services.service import Service

__all__ = [
    "TCPServer",
    "TCPClient",
    "UNIXServer",
    "UNIXClient",
    "UDPServer",
    "SSLServer",
    "SSLClient",
    "TimerService",
    "StreamServerEndpointService",
    "ClientService",
    "backoffPolicy",
    "service",
]


class _GlobalReactorProxy:
    """
    Stands for the global reactor until something is asked of it.

    ``service(description, factory)`` gives this to serverFromString, so
    that building a service (a plugin's makeService, a .tac) installs no
    reactor; the endpoint's first listen looks the real one up.
    """

    def __getattr__(self, name):
        return getattr(getReactor(), name)

    def __repr__(self):
        return "<the global reactor>"


# -- servers -------------------------------------------------------------------


class _ListeningService(Service):
    """
    A service holding one listening port, bound once per start.

    Subclasses define ``_listen(reactor)``, returning the port.
    """

    _port = None

    def __init__(self, reactor):
        self._reactor = reactor

    def privilegedStartService(self):
        """Bind now, while privileges are held; an error (CannotListenError) propagates."""
        Service.privilegedStartService(self)
        self._bind()

    def startService(self):
        """
        Bind, unless privilegedStartService already has, and mark the service running.

        If binding fails the error propagates and the service is not running.
        """
        if self._port is None:
            self._bind()
        Service.startService(self)

    def stopService(self):
        """
        Stop listening.

        :return: a Deferred firing once the port is closed (the port's own
            stopListening Deferred when it gives one).
        """
        Service.stopService(self)
        port, self._port = self._port, None
        if port is None:
            return succeed(None)
        return maybeDeferred(port.stopListening)

    def getHost(self):
        """
        Return the address listened on (with the real port number when 0 was asked).

        :raises RuntimeError: if the service is not listening.
        """
        if self._port is None:
            raise RuntimeError("%r is not listening" % (self,))
        return self._port.getHost()

    def _bind(self):
        reactor = getReactor(self._reactor)
        self._port = self._listen(reactor)

    def _listen(self, reactor):
        raise NotImplementedError


class TCPServer(_ListeningService):
    """
    Listen on a TCP port with a protocol factory.

    :param port: the port number (0 picks a free one; see getHost()).
    :param factory: the IProtocolFactory for accepted connections.
    :param backlog: the listen queue length.
    :param interface: the address to bind ('' for every IPv4 address).
    :param reactor: the IReactorTCP to listen with (the global one by default).
    """

    def __init__(self, port, factory, backlog=50, interface="", reactor=None):
        _ListeningService.__init__(self, reactor)
        self.portNumber = port
        self.factory = factory
        self.backlog = backlog
        self.interface = interface

    def _listen(self, reactor):
        return reactor.listenTCP(
            self.portNumber, self.factory, backlog=self.backlog, interface=self.interface
        )


class SSLServer(TCPServer):
    """
    Listen for TLS connections on a TCP port with a protocol factory.

    :param port: the port number (0 picks a free one; see getHost()).
    :param factory: the IProtocolFactory for accepted connections.
    :param contextFactory: the TLS settings: a CertificateOptions (built
        with ``CertificateOptions.fromFiles`` for loomd to reload them on
        SIGHUP), or any context factory reactor.tls takes.
    :param backlog: the listen queue length.
    :param interface: the address to bind ('' for every IPv4 address).
    :param reactor: the IReactorSSL to listen with (the global one by default).
    """

    def __init__(self, port, factory, contextFactory, backlog=50, interface="", reactor=None):
        TCPServer.__init__(self, port, factory, backlog, interface, reactor)
        self.contextFactory = contextFactory

    def _listen(self, reactor):
        return reactor.listenSSL(
            self.portNumber,
            self.factory,
            self.contextFactory,
            backlog=self.backlog,
            interface=self.interface,
        )

    def reloadCertificates(self):
        """
        Read the certificate files again, for new connections; log what is
        served now, or why the old certificate stays (services._certificates).

        :return: the lines logged.
        """
        return _certificates.reloadCertificates(self.contextFactory, self._where())

    def checkCertificates(self, now=None):
        """Return what is wrong with the certificates (CertificateProblems), files read afresh."""
        return _certificates.checkCertificates(self.contextFactory, self._where(), now)

    def _where(self):
        port = self.portNumber
        if self._port is not None:
            port = self._port.getHost().port
        return self.name or _hostAndPort(self.interface, port)


def _hostAndPort(host, port):
    # How the TLS servers' log lines and --check name a server.
    if ":" in host:
        return "[%s]:%s" % (host, port)
    return "%s:%s" % (host or "0.0.0.0", port)


class UNIXServer(_ListeningService):
    """
    Listen on a UNIX socket with a protocol factory.

    :param address: the socket's path.
    :param factory: the IProtocolFactory for accepted connections.
    :param backlog: the listen queue length.
    :param mode: the socket file's permission bits, set as it is created;
        None (the default) lets the process umask decide (loomd's is 0o077
        unless ``--umask`` says otherwise: give 0o660 or 0o666 to let others
        connect).
    :param wantPID: hold a ``path.lock`` file naming this process.
    :param reactor: the IReactorUNIX to listen with (the global one by default).
    """

    def __init__(self, address, factory, backlog=50, mode=None, wantPID=False, reactor=None):
        _ListeningService.__init__(self, reactor)
        self.address = address
        self.factory = factory
        self.backlog = backlog
        self.mode = mode
        self.wantPID = wantPID

    def _listen(self, reactor):
        return reactor.listenUNIX(
            self.address, self.factory, backlog=self.backlog, mode=self.mode, wantPID=self.wantPID
        )


class UDPServer(_ListeningService):
    """
    Listen on a UDP port with a DatagramProtocol.

    :param port: the port number (0 picks a free one).
    :param protocol: the DatagramProtocol receiving the datagrams.
    :param interface: the address to bind ('' for every IPv4 address).
    :param maxPacketSize: the largest datagram read.
    :param reactor: the IReactorUDP to listen with (the global one by default).
    """

    def __init__(self, port, protocol, interface="", maxPacketSize=8192, reactor=None):
        _ListeningService.__init__(self, reactor)
        self.portNumber = port
        self.protocol = protocol
        self.interface = interface
        self.maxPacketSize = maxPacketSize

    def _listen(self, reactor):
        return reactor.listenUDP(
            self.portNumber,
            self.protocol,
            interface=self.interface,
            maxPacketSize=self.maxPacketSize,
        )


# -- clients -------------------------------------------------------------------


class _ConnectingService(Service):
    """
    A service holding one outgoing connection; subclasses define ``_connect``.

    The caller's factory itself is handed to the reactor, as in Twisted
    (``connector.factory is factory``), so the end of the connection is
    learnt from the connector's ``state``, looked at every POLL_INTERVAL
    seconds while stopping: a factory wrapper would hear it at once, but
    would not be the caller's factory.
    """

    POLL_INTERVAL = 0.01
    _connection = None

    def __init__(self, factory, reactor):
        self.factory = factory
        self._reactor = reactor

    def startService(self):
        """Start connecting."""
        reactor = getReactor(self._reactor)
        self._connection = self._connect(reactor, self.factory)
        Service.startService(self)

    def stopService(self):
        """
        Stop connecting, or close the connection.

        A ReconnectingClientFactory is told to stopTrying first, so it does
        not connect again.

        :return: a Deferred firing once the connector is disconnected (the
            factory has been told the attempt failed or the connection was
            lost); at once for a connector without a ``state``.
        """
        Service.stopService(self)
        connector, self._connection = self._connection, None
        if connector is None:
            return succeed(None)
        stopTrying = getattr(self.factory, "stopTrying", None)
        if stopTrying is not None:
            stopTrying()  # also cancels a retry it has scheduled
        connector.disconnect()
        return self._whenDisconnected(connector)

    def _whenDisconnected(self, connector):
        if getattr(connector, "state", "disconnected") == "disconnected":
            return succeed(None)
        d = Deferred()

        def check():
            state = connector.state
            if state == "disconnected":
                poll.stop()
                d.callback(None)
            elif state == "connecting":
                connector.stopConnecting()  # the factory connected again anyway

        poll = LoopingCall(check)
        poll.clock = getReactor(self._reactor)
        poll.start(self.POLL_INTERVAL, now=False)
        return d

    def _connect(self, reactor, factory):
        raise NotImplementedError


class TCPClient(_ConnectingService):
    """
    Connect to host:port over TCP while running; ``_connection`` is the connector.

    :param timeout: seconds allowed to connect.
    :param bindAddress: a (host, port) to connect from, or None.
    :param reactor: the IReactorTCP to connect with (the global one by default).
    """

    def __init__(self, host, port, factory, timeout=30, bindAddress=None, reactor=None):
        _ConnectingService.__init__(self, factory, reactor)
        self.host = host
        self.port = port
        self.timeout = timeout
        self.bindAddress = bindAddress

    def _connect(self, reactor, factory):
        return reactor.connectTCP(
            self.host, self.port, factory, timeout=self.timeout, bindAddress=self.bindAddress
        )


class UNIXClient(_ConnectingService):
    """
    Connect to a UNIX socket while running; ``_connection`` is the connector.

    :param timeout: seconds allowed to connect.
    :param checkPID: refuse to connect unless the server's lock file names a live process.
    :param reactor: the IReactorUNIX to connect with (the global one by default).
    """

    def __init__(self, address, factory, timeout=30, checkPID=False, reactor=None):
        _ConnectingService.__init__(self, factory, reactor)
        self.address = address
        self.timeout = timeout
        self.checkPID = checkPID

    def _connect(self, reactor, factory):
        return reactor.connectUNIX(
            self.address, factory, timeout=self.timeout, checkPID=self.checkPID
        )


class SSLClient(TCPClient):
    """
    Connect to host:port over TCP and speak TLS while running
    (``reactor.connectSSL``); ``_connection`` is the connector.

    :param contextFactory: the TLS settings: ``optionsForClientTLS(host)``,
        which verifies the server.
    :param timeout: seconds allowed to connect.
    :param bindAddress: a (host, port) to connect from, or None.
    :param reactor: the IReactorSSL to connect with (the global one by default).
    """

    def __init__(
        self, host, port, factory, contextFactory, timeout=30, bindAddress=None, reactor=None
    ):
        TCPClient.__init__(self, host, port, factory, timeout, bindAddress, reactor)
        self.contextFactory = contextFactory

    def _connect(self, reactor, factory):
        return reactor.connectSSL(
            self.host,
            self.port,
            factory,
            self.contextFactory,
            timeout=self.timeout,
            bindAddress=self.bindAddress,
        )


# -- TimerService -----------------------------------------------------------------


class TimerService(Service):
    """
    Call ``callable(*args, **kw)`` every ``step`` seconds while running, first at start.

    A call that raises (or whose Deferred fails) is logged and the timer
    stops, as in Twisted; the service stays marked running until stopped.
    stopService waits for a call in progress: if the last call returned a
    Deferred that has not fired, the stop's Deferred fires after it.

    ``reactor`` (keyword only; an IReactorTime such as task.Clock in tests)
    schedules the calls on something other than the global reactor; the
    other keyword arguments go to callable (wrap a callable that itself
    wants a ``reactor`` keyword in functools.partial).  Setting the
    ``clock`` attribute before starting, Twisted's way, does the same.
    """

    clock = None
    _loop = None
    _loopFinished = None

    def __init__(self, step, callable, *args, reactor=None, **kw):
        self.step = step
        self.call = (callable, args, kw)
        if reactor is not None:
            self.clock = reactor

    def startService(self):
        """Start the LoopingCall (calling at once)."""
        Service.startService(self)
        callable, args, kw = self.call
        self._loop = LoopingCall(callable, *args, **kw)
        self._loop.clock = getReactor(self.clock)
        self._loopFinished = self._loop.start(self.step, now=True)
        self._loopFinished.addErrback(self._failed)

    def _failed(self, failure):
        from reactor import log

        log.err(failure, "TimerService %r stopped: its call failed" % (self,))

    def stopService(self):
        """
        Stop calling.

        :return: a Deferred firing once no call is in progress.
        """
        if self._loop is None:
            Service.stopService(self)
            return succeed(None)
        if self._loop.running:
            self._loop.stop()
        d, self._loop = self._loopFinished, None
        d.addCallback(self._cbStopped)
        return d

    def _cbStopped(self, ignored):
        Service.stopService(self)
        return None

    def __repr__(self):
        return "<TimerService %s every %ss>" % (getattr(self.call[0], "__name__", "?"), self.step)


# -- endpoints -----------------------------------------------------------------------


class StreamServerEndpointService(Service):
    """
    Listen on an IStreamServerEndpoint while running.

    Listening starts in privilegedStartService when that is called, else in
    startService.  A listen that has failed by then makes
    privilegedStartService raise; startService returns a Deferred firing
    once the endpoint listens and failing with the error (CannotListenError
    for a port in use) if it cannot, so the failure reaches whoever started
    the tree (``loomd`` reports it and exits non-zero).  Twisted logs such
    an error and carries on without the port unless ``_raiseSynchronously``
    is set; here the start always fails.

    :ivar _port: the IListeningPort once listening, else None.
    :ivar _waitingForPort: the endpoint's listen Deferred while it is pending.
    """

    _port = None
    _waitingForPort = None
    _listenFailure = None

    def __init__(self, endpoint, factory):
        self.endpoint = endpoint
        self.factory = factory
        self._listenWaiters = []

    def privilegedStartService(self):
        """Start listening; raise at once if the endpoint has already failed."""
        Service.privilegedStartService(self)
        self._startListening()
        failure, self._listenFailure = self._listenFailure, None
        if failure is not None:
            failure.raiseException()

    def startService(self):
        """
        Start listening unless already under way, and mark the service running.

        :return: a Deferred firing with None once listening, or failing
            with the listen error (the service is then not running).
        """
        Service.startService(self)
        if self._port is None and self._waitingForPort is None and self._listenFailure is None:
            self._startListening()
        if self._port is not None:
            return succeed(None)
        if self._listenFailure is not None:
            return self._notStarted(self._listenFailure)
        d = Deferred()
        self._listenWaiters.append(d)
        return d.addErrback(self._notStarted)

    def _startListening(self):
        self._listenFailure = None
        d = maybeDeferred(self.endpoint.listen, self.factory)
        if not d.called:
            self._waitingForPort = d
        d.addBoth(self._listenDone)

    def _listenDone(self, result):
        self._waitingForPort = None
        if isinstance(result, Failure):
            self._listenFailure = result
        else:
            self._port = result
        waiters, self._listenWaiters = self._listenWaiters, []
        for d in waiters:
            if self._port is not None:
                d.callback(None)
            else:
                d.errback(result)
        return None

    def _notStarted(self, failure):
        self._listenFailure = None
        Service.stopService(self)
        return fail(failure)

    def stopService(self):
        """
        Stop listening; cancel a listen still pending.

        :return: a Deferred firing once the port is closed.
        """
        Service.stopService(self)
        if self._waitingForPort is not None:
            self._waitingForPort.cancel()
        self._listenFailure = None
        port, self._port = self._port, None
        if port is None:
            return succeed(None)
        return maybeDeferred(port.stopListening)

    def getHost(self):
        """
        Return the address listened on.

        :raises RuntimeError: if not listening.
        """
        if self._port is None:
            raise RuntimeError("%r is not listening" % (self,))
        return self._port.getHost()

    def reloadCertificates(self):
        """
        For a TLS endpoint (``ssl:``, ``systemd:`` with key fields,
        wrapServerTLS): read the certificate files again, for new
        connections; log what is served now, or why the old certificate
        stays (services._certificates).

        :return: the lines logged (none without TLS).
        """
        return _certificates.reloadCertificates(
            _certificates.tlsSettings(self.endpoint), self._where()
        )

    def checkCertificates(self, now=None):
        """Return what is wrong with a TLS endpoint's certificates (CertificateProblems)."""
        return _certificates.checkCertificates(
            _certificates.tlsSettings(self.endpoint), self._where(), now
        )

    def _where(self):
        # The service's name, else where it listens (the real port once
        # bound), else the endpoint itself (a systemd socket, say).
        if self.name:
            return self.name
        address = self._port.getHost() if self._port is not None else self.endpoint
        host = getattr(address, "host", getattr(address, "interface", None))
        port = getattr(address, "port", None)
        if isinstance(port, int) and isinstance(host, str):
            return _hostAndPort(host, port)
        return repr(self.endpoint)

    def __repr__(self):
        return "<StreamServerEndpointService on %r>" % (self.endpoint,)


def service(
    description: str, factory: object, reactor: object = None
) -> "StreamServerEndpointService":
    """
    Return a StreamServerEndpointService listening where description says.

    ``service("tcp:8080:interface=127.0.0.1", factory)``; see
    reactor.endpoints.serverFromString for the syntax.

    :param reactor: the reactor for the endpoint (by default the global
        one, looked up when the service starts listening).
    :raises ValueError: for a malformed description.
    """
    from reactor.endpoints import serverFromString

    if reactor is None:
        reactor = _GlobalReactorProxy()
    return StreamServerEndpointService(serverFromString(reactor, description), factory)
