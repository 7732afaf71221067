"""
reactor._tlsfast: the TLS layer's hot pyOpenSSL calls made straight into
OpenSSL.  Each scenario runs over a FastCalls and over the pyOpenSSL
Connection itself (the fallback), and both must give the same result, the
same exception included; then when the fast path is taken, and when not.
"""

import socket
import threading

import OpenSSL._util
import pytest
from OpenSSL import SSL
from OpenSSL._util import lib

from reactor import _tlsfast
from reactor._tlsfast import FastCalls, hotCalls, recvEach
from reactor.testing import StringTransport
from reactor.tls import TLSMemoryBIOFactory, TLSMemoryBIOProtocol
from tests.reactor import tlscontexts as tlscerts

pytestmark = pytest.mark.timeout(60)


def _pair(maxVersion=None):
    """A client and a server Connection on memory BIOs, their handshake done."""
    server = SSL.Connection(tlscerts.serverContext(maxVersion=maxVersion), None)
    server.set_accept_state()
    client = SSL.Connection(tlscerts.clientContext(), None)
    client.set_connect_state()
    for _ in range(10):
        for side, other in ((client, server), (server, client)):
            try:
                side.do_handshake()
            except SSL.WantReadError:
                pass
            try:
                other.bio_write(side.bio_read(65536))
            except SSL.WantReadError:
                pass
    for side in (client, server):  # the TLS 1.3 session tickets
        try:
            side.recv(1)
        except SSL.WantReadError:
            pass
    return client, server


def _calls(connection, path):
    if path == "public":
        return connection
    calls = hotCalls(connection)
    assert isinstance(calls, FastCalls)
    return calls


def _outcome(call, *args):
    """What call(*args) did: ("returned", value) or ("raised", type, args)."""
    try:
        return ("returned", call(*args))
    except Exception as error:
        return ("raised", type(error), error.args)


def _bothWays(scenario):
    """scenario(path) run over FastCalls and over the Connection: both outcomes."""
    return [scenario(path) for path in ("fast", "public")]


# -- the same results as pyOpenSSL's methods ---------------------------------------


def test_recordsGoBothWays():
    def scenario(path):
        client, server = _pair()
        calls = _calls(server, path)
        client.send(b"question")
        assert calls.bio_write(client.bio_read(65536)) > 0
        request = calls.recv(65536)
        sent = calls.send(b"answer")
        written = calls.sendall(memoryview(b"x" * 100000))  # seven records
        out = calls.bio_read(65536)  # a pooled buffer full
        out += calls.bio_read(200000)  # a buffer of its own: the rest
        client.bio_write(out)
        answers = b""
        while len(answers) < 100006:
            answers += client.recv(65536)
        return request, sent, written, len(out), answers

    fast, public = _bothWays(scenario)
    assert fast[-1] == b"answer" + b"x" * 100000
    assert fast[:3] == (b"question", 6, 100000)
    assert fast == public


def test_wantReadWhenThereIsNothingToRead():
    def scenario(path):
        _, server = _pair()
        calls = _calls(server, path)
        return _outcome(calls.recv, 65536), _outcome(calls.bio_read, 65536)

    fast, public = _bothWays(scenario)
    assert fast == public == (("raised", SSL.WantReadError, ()),) * 2


def test_closeNotifyIsZeroReturn():
    def scenario(path):
        client, server = _pair()
        calls = _calls(server, path)
        client.shutdown()
        calls.bio_write(client.bio_read(65536))
        return _outcome(calls.recv, 65536)

    fast, public = _bothWays(scenario)
    assert fast == public == ("raised", SSL.ZeroReturnError, ())


def test_endOfFileInTheMiddleIsSysCallError():
    def scenario(path):
        client, server = _pair()
        calls = _calls(server, path)
        client.send(b"x" * 100)
        calls.bio_write(client.bio_read(65536)[:50])  # half a record, then EOF
        server.bio_shutdown()
        return _outcome(calls.recv, 65536)

    fast, public = _bothWays(scenario)
    assert fast == public == ("raised", SSL.SysCallError, (-1, "Unexpected EOF"))


def test_aForgedRecordIsOpenSSLsError():
    def scenario(path):
        client, server = _pair()
        calls = _calls(server, path)
        client.send(b"x" * 100)
        record = bytearray(client.bio_read(65536))
        record[-1] ^= 1
        calls.bio_write(bytes(record))
        return _outcome(calls.recv, 65536)

    fast, public = _bothWays(scenario)
    assert fast == public
    kind, errorType, (reasons,) = fast
    assert (kind, errorType) == ("raised", SSL.Error)
    assert "bad record mac" in str(reasons)


def test_errorQueueIsEmptiedByAFailure():
    # OpenSSL's error queue is the thread's: reasons left in it would be
    # taken for the next failure's, on any connection.
    def scenario(path):
        client, server = _pair()
        calls = _calls(server, path)
        calls.bio_write(b"\x17\x03\x03\x00\x05" + b"forge")
        failure = _outcome(calls.recv, 65536)
        left = lib.ERR_peek_error()
        _, other = _pair()
        return failure[:2], left, _outcome(_calls(other, path).recv, 65536)

    fast, public = _bothWays(scenario)
    assert fast == public == (("raised", SSL.Error), 0, ("raised", SSL.WantReadError, ()))


def test_writeAfterCloseNotifyIsOpenSSLsError():
    def scenario(path):
        _, server = _pair()
        calls = _calls(server, path)
        server.shutdown()
        return _outcome(calls.send, b"late"), _outcome(calls.sendall, b"late")

    fast, public = _bothWays(scenario)
    assert fast == public
    assert fast[0][:2] == ("raised", SSL.Error)


def test_otherArgumentsGoToPyOpenSSL():
    # What the direct calls do not take, the Connection's methods do.
    def scenario(path):
        client, server = _pair()
        calls = _calls(server, path)
        client.send(b"peek at this")
        calls.bio_write(bytearray(client.bio_read(65536)))
        peeked = calls.recv(4, socket.MSG_PEEK)
        large = calls.recv(200000)
        sent = calls.send(memoryview(b"view"))
        sentAll = calls.sendall(bytearray(b"array"))
        client.bio_write(calls.bio_read(200000))
        return peeked, large, sent, sentAll, client.recv(100) + client.recv(100)

    fast, public = _bothWays(scenario)
    assert fast == public == (b"peek", b"peek at this", 4, 5, b"viewarray")


def test_aSmallRecvTakesPartOfARecord():
    def scenario(path):
        client, server = _pair()
        calls = _calls(server, path)
        client.send(b"0123456789")
        calls.bio_write(client.bio_read(65536))
        return calls.recv(4), calls.recv(65536)

    fast, public = _bothWays(scenario)
    assert fast == public == (b"0123", b"456789")


def _recordsOf(calls, records):
    """
    What reading records gave (FastCalls.recvRecords, or recvEach for the
    Connection, as reactor.tls calls them): the data, and the type of the
    exception that ended it.
    """
    if isinstance(calls, FastCalls):
        data, error = calls.recvRecords(records)
    else:
        data, error = recvEach(calls, records)
    return data, type(error)


def test_recordsAreReadTogether():
    # Two records, then one and close_notify: what recv once per record
    # gives (the fallback's recvEach), the fast path gives too.
    def scenario(path):
        client, server = _pair()
        calls = _calls(server, path)
        client.sendall(b"a" * 20000)  # 16384 + 3616: two records
        client.send(b"b" * 100)
        client.shutdown()
        calls.bio_write(client.bio_read(65536))
        return _recordsOf(calls, 2), _recordsOf(calls, 5), _recordsOf(calls, 1)

    fast, public = _bothWays(scenario)
    assert fast == public
    assert fast == (
        (b"a" * 20000, type(None)),
        (b"b" * 100, SSL.ZeroReturnError),
        (b"", SSL.ZeroReturnError),
    )


def test_recordsAreCopiedOutOnce(monkeypatch):
    # Four records decrypted into one buffer, and one bytes made of it.
    client, server = _pair()
    calls = hotCalls(server)
    client.sendall(b"x" * 60000)
    calls.bio_write(client.bio_read(65536))
    unpacked = []
    unpack = _tlsfast._unpack
    monkeypatch.setattr(
        _tlsfast, "_unpack", lambda buffer, size: unpacked.append(size) or unpack(buffer, size)
    )
    assert calls.recvRecords(4) == (b"x" * 60000, None)
    assert unpacked == [60000]


def test_untilWantReadOrTooManyRecordsGoRecordByRecord():
    # -1 (read until OpenSSL wants more), and more records than a pooled
    # buffer holds, take recvEach's way: the same data, the same end.
    def scenario(path):
        client, server = _pair()
        calls = _calls(server, path)
        client.sendall(b"y" * 40000)
        calls.bio_write(client.bio_read(65536))
        first = _recordsOf(calls, -1)
        client.sendall(b"z" * 30000)
        calls.bio_write(client.bio_read(65536))
        return first, _recordsOf(calls, 1000)

    fast, public = _bothWays(scenario)
    assert fast == public
    assert fast == ((b"y" * 40000, SSL.WantReadError), (b"z" * 30000, SSL.WantReadError))


def test_aCallInFlightKeepsItsBuffer(monkeypatch):
    # OpenSSL runs without the GIL, so a call can start while another is in
    # flight: here, one made from inside the other's SSL_read.
    outerClient, outerServer = _pair()
    innerClient, innerServer = _pair()
    outer, inner = hotCalls(outerServer), hotCalls(innerServer)
    outerClient.send(b"outer" * 1000)
    outer.bio_write(outerClient.bio_read(65536))
    innerClient.send(b"inner" * 1000)
    inner.bio_write(innerClient.bio_read(65536))
    read = _tlsfast._SSL_read
    nested = []

    def readingMeanwhile(ssl, buffer, size):
        result = read(ssl, buffer, size)
        if ssl is outerServer._ssl:
            nested.append(inner.recv(65536))
        return result

    monkeypatch.setattr(_tlsfast, "_SSL_read", readingMeanwhile)
    assert outer.recv(65536) == b"outer" * 1000
    assert nested == [b"inner" * 1000]


def test_concurrentCallsInThreadsKeepTheirData():
    # OpenSSL runs without the GIL: calls in flight in several threads at
    # once must not share a buffer.
    failures = []

    def talk(seed):
        try:
            client, server = _pair()
            calls = hotCalls(server)
            for index in range(150):
                message = bytes([(seed * 7 + index) % 256]) * 16384
                client.send(message)
                calls.bio_write(client.bio_read(65536))
                if calls.recv(65536) != message:
                    failures.append((seed, index))
                calls.send(message)
                client.bio_write(calls.bio_read(65536))
                if client.recv(65536) != message:
                    failures.append((seed, index, "back"))
        except Exception as error:
            failures.append(error)

    threads = [threading.Thread(target=talk, args=(seed,)) for seed in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert failures == []


# -- when the fast path is taken ----------------------------------------------------


def test_fastPathIsTaken():
    # With the pyOpenSSL installed, the TLS layer calls OpenSSL directly.
    # Failing here means pyOpenSSL changed what reactor._tlsfast relies on
    # (see its docstring): TLS still works, through the public methods, slower.
    assert _tlsfast.FAST
    layer = TLSMemoryBIOProtocol(
        TLSMemoryBIOFactory(tlscerts.serverOptions(), False, None), _Nothing()
    )
    layer.makeConnection(StringTransport())
    assert isinstance(layer._io, FastCalls)
    assert layer._io.connection is layer.getHandle()


def test_tlsPathChoosesTheWay(tlsPath):
    layer = TLSMemoryBIOProtocol(
        TLSMemoryBIOFactory(tlscerts.serverOptions(), False, None), _Nothing()
    )
    layer.makeConnection(StringTransport())
    if tlsPath == "fast":
        assert isinstance(layer._io, FastCalls)
    else:
        assert layer._io is layer.getHandle()


def test_aSocketConnectionKeepsItsMethods():
    with socket.socket() as sock:
        connection = SSL.Connection(tlscerts.clientContext(), sock)
        assert hotCalls(connection) is connection


def test_aSubclassMethodIsKept():
    class Logging(SSL.Connection):
        def recv(self, bufsiz, flags=None):
            return SSL.Connection.recv(self, bufsiz, flags)

    connection = Logging(tlscerts.clientContext(), None)
    assert hotCalls(connection) is connection
    plain = type("Plain", (SSL.Connection,), {})(tlscerts.clientContext(), None)
    assert isinstance(hotCalls(plain), FastCalls)


def test_aConnectionWithoutThePointersKeepsItsMethods():
    # As a pyOpenSSL that keeps its OpenSSL objects elsewhere would be.
    connection = SSL.Connection(tlscerts.clientContext(), None)
    del connection._into_ssl
    assert hotCalls(connection) is connection
    connection = SSL.Connection(tlscerts.clientContext(), None)
    connection._from_ssl = connection._ssl  # a pointer of another type
    assert hotCalls(connection) is connection


def test_aPyOpenSSLWithoutWhatIsCalledGetsThePublicMethods(monkeypatch):
    assert _tlsfast._library() is not None

    class Without:
        def __init__(self, missing):
            self.missing = missing

        def __getattr__(self, name):
            if name == self.missing:
                raise AttributeError(name)
            return getattr(lib, name)

    for name in ("SSL_read", "SSL_write", "BIO_read", "BIO_write"):
        monkeypatch.setattr(OpenSSL._util, "lib", Without(name))
        assert _tlsfast._library() is None
    monkeypatch.setattr(OpenSSL._util, "lib", lib)
    monkeypatch.delattr(SSL.Connection, "_raise_ssl_error")
    assert _tlsfast._library() is None


def test_aFunctionOfAnotherTypeIsNotCalled(monkeypatch):
    class Retyped:
        def __getattr__(self, name):
            if name == "SSL_read":
                return lib.SSL_get_error  # int(*)(SSL *, int)
            return getattr(lib, name)

    monkeypatch.setattr(OpenSSL._util, "lib", Retyped())
    assert _tlsfast._library() is None


class _Nothing:
    def makeConnection(self, transport):
        pass

    def connectionLost(self, reason):
        pass
