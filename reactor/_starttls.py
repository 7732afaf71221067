"""
startTLS: TLS inserted into a live TCP or UNIX connection.

The connection's protocol becomes a TLSMemoryBIOProtocol (reactor.tls)
carrying the old one, and the connection itself changes class, to its TLS
twin: the same object with the same descriptor and slots (the twin is a
subclass with no slots of its own), whose ``write``, ``loseConnection``
and the rest go through the TLS layer.  The TLS layer sends its ciphertext
through ``_Below``, which holds the plain class's methods bound to the
connection.  So a plain connection pays nothing for being able to start TLS
(no flag tested on each write), and a transport kept by the protocol or a
producer before the switch writes encrypted after it, as in Twisted.

What was read is never lost across the switch: every read after startTLS
goes to the TLS layer, and bytes the protocol read past its switch point
(the peer's ClientHello, sent right behind its STARTTLS line) are handed
over as ``received`` (test_bytesReadPastTheSwitchAreHandedOver).

Names here are reactor.tcp's internal interface for startTLS.
"""

from __future__ import annotations

from typing import Any

from zope.interface import implementer

from reactor.interfaces import ISSLTransport
from reactor.tls import TLSMemoryBIOFactory, TLSMemoryBIOProtocol


class _TLSStarted:
    """What a connection does differently once TLS is started (the twins' first base)."""

    __slots__ = ()
    protocol: Any

    def write(self, data: bytes) -> None:
        protocol = self.protocol
        if protocol is not None:
            protocol.write(data)

    def writeSequence(self, sequence: Any) -> None:
        protocol = self.protocol
        if protocol is not None:
            protocol.writeSequence(sequence)

    def loseConnection(self) -> None:
        protocol = self.protocol
        if protocol is not None:
            protocol.loseConnection()

    def loseWriteConnection(self) -> None:
        protocol = self.protocol
        if protocol is not None:
            protocol.loseWriteConnection()

    def abortConnection(self) -> None:
        protocol = self.protocol
        if protocol is not None:
            protocol.abortConnection()

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        protocol = self.protocol
        if protocol is None:
            producer.stopProducing()
        else:
            protocol.registerProducer(producer, streaming)

    def unregisterProducer(self) -> None:
        protocol = self.protocol
        if protocol is not None:
            protocol.unregisterProducer()

    @property
    def producer(self) -> Any:
        protocol = self.protocol
        return None if protocol is None else protocol.producer

    def getBufferSize(self) -> int:
        protocol = self.protocol
        return 0 if protocol is None else protocol.getBufferSize()

    def getPeerCertificate(self) -> Any:
        protocol = self.protocol
        return None if protocol is None else protocol.getPeerCertificate()

    def getHandle(self) -> Any:
        protocol = self.protocol
        return None if protocol is None else protocol.getHandle()

    @property
    def negotiatedProtocol(self) -> bytes | None:
        protocol = self.protocol
        return None if protocol is None else protocol.negotiatedProtocol

    def startTLS(self, contextFactory: Any, normal: bool = True, *, received: bytes = b"") -> None:
        raise RuntimeError("TLS is already started on %r" % (self,))


class _Below:
    """The connection as the TLS layer sees it: its plain methods send ciphertext."""

    __slots__ = (
        "connection",
        "write",
        "writeSequence",
        "loseConnection",
        "loseWriteConnection",
        "abortConnection",
        "registerProducer",
        "unregisterProducer",
        "getBufferSize",
    )

    def __init__(self, connection: Any):
        plain: Any = super(_TLSStarted, connection)
        self.connection = connection
        self.write = plain.write
        self.writeSequence = plain.writeSequence
        self.loseConnection = plain.loseConnection
        self.loseWriteConnection = plain.loseWriteConnection
        self.abortConnection = plain.abortConnection
        self.registerProducer = plain.registerProducer
        self.unregisterProducer = plain.unregisterProducer
        self.getBufferSize = plain.getBufferSize

    def __getattr__(self, name: str) -> Any:
        # getHost, getPeer, pauseProducing, reactor...: the connection's own.
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.connection, name)


_twins: dict[type, type] = {}


def _twinOf(cls: type) -> type:
    twin = _twins.get(cls)
    if twin is None:
        twin = type("TLS" + cls.__name__, (_TLSStarted, cls), {"__slots__": ()})
        twin.__module__ = cls.__module__
        implementer(ISSLTransport)(twin)
        _twins[cls] = twin
    return twin


def startTLS(connection: Any, contextFactory: Any, isClient: bool) -> TLSMemoryBIOProtocol:
    """
    Put TLS between connection and its protocol; return the TLS layer.

    :param isClient: whether this side sends the ClientHello.
    :raises RuntimeError: if TLS is started already.
    """
    if isinstance(connection, _TLSStarted):
        raise RuntimeError("TLS is already started on %r" % (connection,))
    factory = TLSMemoryBIOFactory(contextFactory, isClient, None)
    tls = factory.protocol(factory, connection.protocol, _connectWrapped=False)
    connection.protocol = tls
    connection.__class__ = _twinOf(type(connection))
    tls.makeConnection(_Below(connection))
    return tls
