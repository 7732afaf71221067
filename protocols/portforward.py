"""
A TCP port forwarder: every connection accepted is relayed, both ways, to a
fixed host and port.

The idea is backpressure through the producer/consumer pairing of the two
transports.  Once both ends are up, each transport is registered as the
*push producer* of the other (``a.registerProducer(b, True)`` and
``b.registerProducer(a, True)``).  When one side's reader is slow, what we
write to it piles up in its transport's buffer; past ``highWater`` that
transport pauses its producer, which is the other transport, which stops
reading from its socket.  The kernel's buffers fill and TCP flow control
reaches the fast sender.  So the forwarder holds at most about ``highWater``
plus one read (64 KiB) per direction, whatever the speeds
(test_slowReaderKeepsForwarderBuffersBounded).

Until the outgoing connection is up, the accepted one is not read at all
(its transport is paused in connectionMade); a transport that delivers
anyway is buffered up to ``ProxyServer.maxPending`` bytes, past which the
connection is dropped.

When either side closes, the other is closed after what is buffered for it
has been sent: its producer is unregistered first, since a transport with a
producer registered waits for it before closing.  Half-closes are not
relayed (as in Twisted): an end-of-file from one side closes both.

Names follow Twisted's twisted.protocols.portforward.
"""

from protocols.protocol import ClientFactory, Protocol, ServerFactory
from reactor import getReactor, log

__all__ = ["Proxy", "ProxyClient", "ProxyClientFactory", "ProxyFactory", "ProxyServer"]


class Proxy(Protocol):
    """
    One end of a relayed connection: what arrives is written to the peer.

    :ivar peer: the Proxy of the other end, once both are connected.
    """

    peer = None
    noisy = False

    def setPeer(self, peer):
        """Relay to peer from now on."""
        self.peer = peer

    def dataReceived(self, data):
        """Write data to the peer's transport."""
        self.peer.transport.write(data)

    def connectionLost(self, reason):
        """Close the peer once what is buffered for it has gone out."""
        peer, self.peer = self.peer, None
        if peer is None:
            return
        peer.peer = None
        transport = peer.transport
        # Our transport was the peer's producer: unregister it, or the
        # peer's close would wait for it for ever.
        transport.unregisterProducer()
        transport.loseConnection()


class ProxyClient(Proxy):
    """The outgoing end: on connection, pairs itself with the waiting server end."""

    def connectionMade(self):
        """Pair with the server end, register the producers, start reading there."""
        server = self.factory.server
        if server.lost:
            # The accepted connection went away while we were connecting.
            self.transport.loseConnection()
            return
        self.setPeer(server)
        server.setPeer(self)
        self.transport.registerProducer(server.transport, True)
        server.transport.registerProducer(self.transport, True)
        pending = server.takePending()
        if pending:
            self.transport.write(pending)
        server.transport.resumeProducing()


class ProxyClientFactory(ClientFactory):
    """Connects the outgoing end for one ProxyServer."""

    protocol = ProxyClient
    noisy = False
    server = None

    def setServer(self, server):
        """Set the ProxyServer this connection is for."""
        self.server = server

    def buildProtocol(self, addr):
        """Build the ProxyClient."""
        protocol = self.protocol()
        protocol.factory = self
        return protocol

    def clientConnectionFailed(self, connector, reason):
        """The destination cannot be reached: close the accepted connection."""
        log.msg(
            "portforward: cannot connect to %s: %s"
            % (connector.getDestination(), reason.getErrorMessage())
        )
        if not self.server.lost:
            self.server.transport.loseConnection()


class ProxyServer(Proxy):
    """
    The accepted end: connects out to the factory's host and port.

    :ivar maxPending: bytes accepted before the outgoing connection is up;
        past it the connection is dropped.
    :ivar lost: True once this end's connection is lost.
    """

    clientProtocolFactory = ProxyClientFactory
    maxPending = 1 << 16
    reactor = None
    lost = False
    connector = None

    def connectionMade(self):
        """Stop reading, and connect to the destination."""
        self._pending = []
        self._pendingSize = 0
        self.transport.pauseProducing()
        client = self.clientProtocolFactory()
        client.setServer(self)
        reactor = getReactor(self.reactor or self.factory.reactor)
        self.connector = reactor.connectTCP(
            self.factory.host, self.factory.port, client, timeout=self.factory.timeout
        )

    def dataReceived(self, data):
        """Relay data, or hold it (bounded) until the destination is connected."""
        if self.peer is not None:
            self.peer.transport.write(data)
            return
        self._pendingSize += len(data)
        if self._pendingSize > self.maxPending:
            log.msg(
                "portforward: more than %d bytes before connecting; dropping" % (self.maxPending,)
            )
            self._pending = []
            self.transport.abortConnection()
            return
        self._pending.append(data)

    def takePending(self):
        """Return (and forget) what arrived before the destination was connected."""
        pending, self._pending, self._pendingSize = b"".join(self._pending), [], 0
        return pending

    def connectionLost(self, reason):
        """Close the outgoing end, or stop connecting it."""
        self.lost = True
        self._pending = []
        if self.peer is None and self.connector is not None:
            if getattr(self.connector, "state", "connecting") == "connecting":
                self.connector.stopConnecting()
        Proxy.connectionLost(self, reason)


class ProxyFactory(ServerFactory):
    """
    Forwards each connection accepted to host:port.

    :param host: the destination host.
    :param port: the destination port.
    :param reactor: the reactor to connect with (the global one by default).
    :param timeout: seconds allowed to connect to the destination.
    """

    protocol = ProxyServer

    def __init__(self, host, port, reactor=None, *, timeout=30):
        self.host = host
        self.port = port
        self.reactor = reactor
        self.timeout = timeout
