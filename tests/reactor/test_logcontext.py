"""
Log lines name the connection being handled, as Twisted's are prefixed with
its logPrefix (``[ChatProtocol,3,127.0.0.1]``); ports log Twisted's
"starting on" and "Closed" lines.  Run on every reactor.
"""

import logging
import os
import pathlib
import shutil
import socket
import tempfile
import threading

import pytest

from protocols.protocol import DatagramProtocol, Factory
from reactor import _logcontext, log
from reactor.address import IPv4Address
from reactor.logger import Logger
from tests.reactor.transport_helpers import (
    Recorder,
    RecordingClientFactory,
    RecordingServerFactory,
    spin,
    wait,
)


@pytest.fixture
def events():
    """The events logged during the test."""
    collected = []
    log.addObserver(collected.append)
    try:
        yield collected
    finally:
        log.removeObserver(collected.append)


def systemsOf(events, text):
    """The systems of the events whose text is text, in order."""
    return [event["system"] for event in events if log.textFromEventDict(event) == text]


class Chatty(Recorder):
    """Logs a line from each callback, through reactor.log and a Logger."""

    log = Logger()

    def connectionMade(self):
        Recorder.connectionMade(self)
        log.msg("made")

    def dataReceived(self, data):
        Recorder.dataReceived(self, data)
        log.msg("received")
        self.log.info("received {count} bytes", count=len(data))
        self.transport.loseConnection()

    def connectionLost(self, reason):
        Recorder.connectionLost(self, reason)
        log.msg("lost")


def serveOne(reactor, port, factory, payload=b"hello"):
    """Connect a blocking client to port, send payload, wait for the server to close."""
    before = len(factory.built)
    client = socket.create_connection(("127.0.0.1", port.getHost().port), timeout=5)
    try:
        client.sendall(payload)
        spin(reactor, lambda: len(factory.built) > before, what="the connection")
        spin(reactor, lambda: factory.built[-1].lost, what="the close")
    finally:
        client.close()


def test_serverLinesNameTheConnection(reactor, events):
    factory = RecordingServerFactory(Chatty)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    try:
        serveOne(reactor, port, factory)
        serveOne(reactor, port, factory)
    finally:
        wait(reactor, port.stopListening())
    first, second = "Chatty,0,127.0.0.1", "Chatty,1,127.0.0.1"
    assert systemsOf(events, "made") == [first, second]
    assert systemsOf(events, "received") == [first, second]
    assert systemsOf(events, "received 5 bytes") == [first, second]
    assert systemsOf(events, "lost") == [first, second]
    assert [protocol.transport.sessionno for protocol in factory.built] == [0, 1]


def test_clientLinesNameTheConnection(reactor, events):
    server = RecordingServerFactory(Recorder)
    port = reactor.listenTCP(0, server, interface="127.0.0.1")
    client = RecordingClientFactory(Chatty)
    connector = reactor.connectTCP("127.0.0.1", port.getHost().port, client)
    try:
        spin(reactor, lambda: server.built, what="the connection")
        server.built[0].transport.write(b"hi")
        spin(reactor, lambda: client.lostReasons, what="the client's close")
        spin(reactor, lambda: server.built[0].lost, what="the server's close")
    finally:
        connector.disconnect()
        wait(reactor, port.stopListening())
    assert systemsOf(events, "made") == ["Chatty,client"]
    assert systemsOf(events, "received") == ["Chatty,client"]
    assert systemsOf(events, "lost") == ["Chatty,client"]


def test_unixServerLinesNameTheConnection(reactor, events, tmp_path):
    path = str(tmp_path / "chat.sock")
    factory = RecordingServerFactory(Chatty)
    port = reactor.listenUNIX(path, factory)
    client = socket.socket(socket.AF_UNIX)
    try:
        client.connect(path)
        client.sendall(b"x")
        spin(reactor, lambda: factory.built and factory.built[0].lost, what="the close")
    finally:
        client.close()
        wait(reactor, port.stopListening())
    # An unnamed client socket: Twisted's prefix ends with the empty name.
    assert systemsOf(events, "received") == ["Chatty,0,"]


def test_anExplicitSystemWins(reactor, events):
    class Explicit(Recorder):
        def dataReceived(self, data):
            log.msg("mine", system="my-system")
            Logger(namespace="ns").info("mine too", log_system="my-other-system")
            self.transport.loseConnection()

    factory = RecordingServerFactory(Explicit)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    try:
        serveOne(reactor, port, factory)
    finally:
        wait(reactor, port.stopListening())
    assert systemsOf(events, "mine") == ["my-system"]
    assert systemsOf(events, "mine too") == ["my-other-system"]


def test_linesOutsideAnyDispatchNameNoConnection(reactor, events):
    factory = RecordingServerFactory(Chatty)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    try:
        serveOne(reactor, port, factory)
        fired = []
        reactor.callLater(0, lambda: (log.msg("timer"), fired.append(True)))
        spin(reactor, lambda: fired, what="the timer")
    finally:
        wait(reactor, port.stopListening())
    log.msg("no reactor")
    Logger(namespace="ns").info("no reactor either")
    assert systemsOf(events, "timer") == ["-"]
    assert systemsOf(events, "no reactor") == ["-"]
    assert systemsOf(events, "no reactor either") == ["ns#info"]


def test_aThreadLoggingDuringADispatchNamesNoConnection(reactor, events):
    # The dispatch is in progress in the loop's thread (dataReceived waits
    # for the thread): the thread's line is not the connection's.
    class Threaded(Recorder):
        def dataReceived(self, data):
            worker = threading.Thread(target=log.msg, args=("from a thread",))
            worker.start()
            worker.join(10)
            log.msg("from the loop")
            self.transport.loseConnection()

    factory = RecordingServerFactory(Threaded)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    try:
        serveOne(reactor, port, factory)
    finally:
        wait(reactor, port.stopListening())
    assert systemsOf(events, "from a thread") == ["-"]
    assert systemsOf(events, "from the loop") == ["Threaded,0,127.0.0.1"]


def test_unhandledErrorNamesTheConnection(reactor, events):
    class Broken(Recorder):
        def dataReceived(self, data):
            raise ZeroDivisionError("broken protocol")

    factory = RecordingServerFactory(Broken)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    try:
        serveOne(reactor, port, factory)
    finally:
        wait(reactor, port.stopListening())
    (error,) = [event for event in events if event.get("isError")]
    assert error["failure"].type is ZeroDivisionError
    assert error["system"] == "Broken,0,127.0.0.1"


def test_connectionLostAtShutdownNamesTheConnection(reactor, events):
    factory = RecordingServerFactory(Chatty)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    client = socket.create_connection(("127.0.0.1", port.getHost().port), timeout=5)
    try:
        spin(reactor, lambda: factory.built, what="the connection")
        reactor.disconnectAll()
    finally:
        client.close()
    assert systemsOf(events, "lost") == ["Chatty,0,127.0.0.1"]


def test_refusedConnectionsTakeNoSessionNumber(reactor):
    class Picky(RecordingServerFactory):
        def buildProtocol(self, addr):
            self.calls = getattr(self, "calls", 0) + 1
            if self.calls == 1:
                return None
            return RecordingServerFactory.buildProtocol(self, addr)

    factory = Picky(Recorder)
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    clients = []
    try:
        for _ in range(2):
            clients.append(socket.create_connection(("127.0.0.1", port.getHost().port), 5))
            spin(reactor, lambda: getattr(factory, "calls", 0) == len(clients), what="accept")
        assert [p.transport.sessionno for p in factory.built] == [0]
        assert port.sessionno == 1
    finally:
        for client in clients:
            client.close()
        spin(reactor, lambda: factory.built[0].lost, what="the close")
        wait(reactor, port.stopListening())


# -- the ports' own lines ---------------------------------------------------------


class EchoFactory(Factory):
    protocol = Recorder


def texts(events):
    return [log.textFromEventDict(event) for event in events]


def test_tcpPortLogsTwistedsLines(reactor, events):
    factory = EchoFactory()
    port = reactor.listenTCP(0, factory, interface="127.0.0.1")
    number = port.getHost().port
    wait(reactor, port.stopListening())
    assert texts(events) == [
        "EchoFactory starting on %d" % (number,),
        "Starting factory %r" % (factory,),
        "(TCP Port %d Closed)" % (number,),
        "Stopping factory %r" % (factory,),
    ]
    # All at info (log.msg's level when an event gives none).
    assert [event.get("logLevel", logging.INFO) for event in events] == [logging.INFO] * 4
    assert not any(event["isError"] for event in events)
    assert events[1]["system"] == "%s.EchoFactory#info" % (__name__,)


def test_unixPortLogsTwistedsLines(reactor, events, tmp_path):
    path = os.path.join(str(tmp_path), "echo.sock")
    factory = EchoFactory()
    factory.noisy = False
    port = reactor.listenUNIX(path, factory)
    wait(reactor, port.stopListening())
    assert texts(events) == ["EchoFactory starting on %r" % (path,), "(UNIX Port %s Closed)" % path]


def test_udpPortLogsTwistedsLines(reactor, events):
    protocol = DatagramProtocol()
    protocol.noisy = False
    port = reactor.listenUDP(0, protocol, interface="127.0.0.1")
    number = port.getHost().port
    wait(reactor, port.stopListening())
    assert texts(events) == [
        "DatagramProtocol starting on %d" % (number,),
        "(UDP Port %d Closed)" % (number,),
    ]


# -- the registry -------------------------------------------------------------------


def test_registeringAFunctionWithoutTheLocalFails():
    def dispatch(selectable):
        return selectable

    with pytest.raises(ValueError, match="has no local variable 'descriptor'"):
        _logcontext.dispatchesTo(dispatch, "descriptor")


def test_aFailingLogPrefixGivesTheClassName():
    class Odd:
        def logPrefix(self):
            raise RuntimeError("no prefix")

    def dispatch(descriptor):
        return _logcontext.currentSystem()

    _logcontext.dispatchesTo(dispatch, "descriptor")
    assert dispatch(Odd()) == "Odd"
    assert _logcontext.currentSystem() is None


def test_serverPrefixIsKeptUntilTheProtocolChanges():
    class Transport:
        _session = 4

        def __init__(self):
            self.protocol = Recorder()
            self.peers = 0
            self.lost = False

        def getPeer(self):
            if self.lost:
                raise OSError("the connection is closed")
            self.peers += 1
            return IPv4Address("TCP", "10.0.0.1", 5)

    transport = Transport()
    assert _logcontext.serverLogPrefix(transport) == "Recorder,4,10.0.0.1"
    assert _logcontext.serverLogPrefix(transport) == "Recorder,4,10.0.0.1"
    assert transport.peers == 1  # the kernel is asked once
    assert _logcontext.sessionOf(transport) == 4
    transport.protocol = Chatty()
    assert _logcontext.serverLogPrefix(transport) == "Chatty,4,10.0.0.1"
    assert transport.peers == 2
    assert _logcontext.sessionOf(transport) == 4
    fresh = Transport()
    fresh.lost = True
    assert _logcontext.serverLogPrefix(fresh) == "Recorder,4,?"


def test_aUnixPeersNameCannotStartALogLine(reactor, events):
    # A local client names its own socket: a newline in the name would
    # forge a log line in the connection's prefix.  The long name must fit
    # sun_path (108 bytes), so the directory is a short one, not tmp_path.
    tmp_path = pathlib.Path(tempfile.mkdtemp(prefix="loom-"))
    path = str(tmp_path / "chat.sock")
    factory = RecordingServerFactory(Chatty)
    port = reactor.listenUNIX(path, factory)
    client = socket.socket(socket.AF_UNIX)
    try:
        client.bind(str(tmp_path / "x\n2026-01-01T00:00:00+0000 [loomd] forged"))
        client.connect(path)
        client.sendall(b"x")
        spin(reactor, lambda: factory.built and factory.built[0].lost, what="the close")
    finally:
        client.close()
        wait(reactor, port.stopListening())
        shutil.rmtree(tmp_path)
    (system,) = systemsOf(events, "received")
    assert "\n" not in system
    assert system.startswith("Chatty,0,") and system.endswith(
        "x\\n2026-01-01T00:00:00+0000 [loomd] forged"
    )
