"""
The TLS layer's hot calls straight into OpenSSL: ``bio_write``, ``recv``,
``send``, ``sendall`` and ``bio_read`` of a pyOpenSSL ``Connection`` on
memory BIOs, each done as pyOpenSSL does it, without its Python wrappers.

reactor.tls makes four of these calls per request and answer.  Each of
pyOpenSSL's methods is a Python function around one OpenSSL function that
cryptography's cffi module exposes, and does more than the TLS layer
needs: str converted, ``ffi.from_buffer`` in a ``with``, a fresh 64 KiB
buffer per ``recv``, three callback helpers asked and ``SSL_get_error``
called after every call, failed or not.  Counted by callgrind, the four
calls of a 64-byte echo take 53,000 instructions through pyOpenSSL's
methods and 26,500 through FastCalls; a Loom TLS echo server, 70,000 and
44,000 per round trip (``bench_tls.py --profile-point pingpong``).

``hotCalls(connection)`` returns what the TLS layer calls: a FastCalls
when this pyOpenSSL has what it uses, else the Connection itself, whose
public methods are the fallback.  FastCalls keeps their contract, method by
method (every TLS test runs both ways: conftest's ``tlsPath``):

- success takes the direct call (``SSL_read``, ``SSL_write``,
  ``BIO_write``, ``BIO_read``), bytes passed as they are;
- a failed call (a result <= 0) goes to the Connection's own
  ``_raise_ssl_error`` or ``_handle_bio_errors``, which pyOpenSSL's methods
  call at the same point: the same exception (WantReadError, the
  ZeroReturnError of close_notify, SysCallError, SSL.Error with OpenSSL's
  reasons), from the same reading of OpenSSL's error queue, which empties
  it (test_errorQueueIsEmptiedByAFailure);
- any other argument (a str, a buffer other than bytes, a size out of
  range, MSG_PEEK) goes to the Connection's method itself.

One difference: after a call that *succeeded*, pyOpenSSL also asks the
context's verify, ALPN and OCSP helpers whether their callback raised, and
raises that.  FastCalls does not: those callbacks run in the handshake,
which reactor.tls drives through the public ``do_handshake``, and one that
raises makes pyOpenSSL's wrapper fail the OpenSSL call it runs in, so the
exception comes back through ``_raise_ssl_error`` all the same.

One method more than the Connection has: ``recvRecords(n)`` decrypts the
n records a chunk completed into one buffer and copies them out once, where
a ``recv`` per record (``recvEach``, what reactor.tls does on the fallback)
copies each out and then joins them: a 64 KiB read of a bulk transfer
holds four records.  It ends as recvEach's loop ends, with what was read
and the exception recv would have raised (test_recordsAreReadTogether).

What OpenSSL decrypts or writes out is copied from a 288 KiB buffer taken
from a pool and put back before the call returns.  cffi lets other threads
run during each OpenSSL call, so no buffer may serve two calls in flight
(test_aCallInFlightKeepsItsBuffer); the pool holds as many buffers as
calls ever ran at once, one per thread, where a buffer per connection
would cost each connection 64 KiB.

What is used, and checked for: ``OpenSSL._util``'s ``ffi`` and ``lib``,
the four functions with the C types in _SIGNATURES, and on each Connection
``_ssl``, ``_into_ssl`` and ``_from_ssl`` (cffi pointers of types ``SSL *``
and ``BIO *``), ``_raise_ssl_error`` and ``_handle_bio_errors``.  A
subclass of Connection that overrides one of the five methods keeps its
own.  All of these are the same in pyOpenSSL 23.0.0, 23.2.0, 24.0.0 and
25.0.0 (their sources read) and 26.4.0.  This module's tests and
reactor.tls's pass, both ways, on 26.4.0 (cryptography 50.0.2, OpenSSL
4.0.3), and on 23.0.0 (cryptography 39.0.2, OpenSSL 3.0.8), 24.0.0 and
25.0.0 given the ``Connection.set_options`` that reactor.tls calls, which
pyOpenSSL has from 26.2.0 on (so setup.cfg asks for pyOpenSSL>=26.2).  A
pyOpenSSL without what is checked for
gets the public methods, and test_fastPathIsTaken fails to say so.
``FAST`` is whether the check passed (tests set it False to force the
fallback).
"""

from __future__ import annotations

from typing import Any

from OpenSSL import SSL

__all__ = ["FAST", "FastCalls", "hotCalls", "recvEach"]

# A pooled buffer holds the most that reactor.tls decrypts from one chunk
# read below (a 256 KiB read completes 17 records) or reads from the BIO in
# one call (a 256 KiB slice encrypted, with its records' overhead).
_BUFFER_SIZE = 294912
_MOST_RECORDS = _BUFFER_SIZE // 16384  # records whose cleartext (16 KiB at most) it holds
_MAX_WRITE = 2147483647  # SSL_write takes an int (pyOpenSSL's limit too)
_FIVE = ("bio_write", "recv", "send", "sendall", "bio_read")
_SIGNATURES = {
    "SSL_read": "int(*)(SSL *, void *, int)",
    "SSL_write": "int(*)(SSL *, void *, int)",
    "BIO_read": "int(*)(BIO *, void *, int)",
    "BIO_write": "int(*)(BIO *, void *, int)",
}


def _library() -> Any:
    # cryptography's cffi module as pyOpenSSL uses it, or None if this
    # pyOpenSSL does not have what FastCalls calls.
    try:
        from OpenSSL._util import ffi, lib
    except ImportError:
        return None
    try:
        for name, signature in _SIGNATURES.items():
            if ffi.typeof(getattr(lib, name)).cname != signature:
                return None
        pointers = (ffi.typeof("SSL *"), ffi.typeof("BIO *"))
    except Exception:  # a name missing, or not a cffi function
        return None
    for name in ("_raise_ssl_error", "_handle_bio_errors"):
        if not callable(getattr(SSL.Connection, name, None)):
            return None
    return ffi, lib, pointers


_found = _library()
FAST = _found is not None
if _found is not None:
    _ffi, _lib, (_SSL_POINTER, _BIO_POINTER) = _found
    _SSL_read = _lib.SSL_read
    _SSL_write = _lib.SSL_write
    _BIO_read = _lib.BIO_read
    _BIO_write = _lib.BIO_write
    _unpack = _ffi.unpack
    _fromBuffer = _ffi.from_buffer
    _allocate = _ffi.new_allocator(should_clear_after_alloc=False)
_buffers: list = []  # free buffers of _BUFFER_SIZE bytes (see the docstring)


def _takeBuffer() -> Any:
    try:
        return _buffers.pop()
    except IndexError:
        return _allocate("char[]", _BUFFER_SIZE)


def recvEach(calls: Any, records: int) -> tuple[bytes, Exception | None]:
    """
    Decrypt the next records records (-1: until OpenSSL wants more) with
    one ``recv`` each, of calls (a FastCalls or a Connection).  Return what
    they held, joined, and the exception that ended the loop early (None
    if none did): WantReadError, ZeroReturnError, or what failed.
    """
    chunks = []
    error = None
    while records:
        try:
            chunks.append(calls.recv(65536))
        except Exception as raised:
            error = raised
            break
        records -= 1
    return b"".join(chunks), error


def hotCalls(connection: Any) -> Any:
    """
    Return what reactor.tls calls for connection's bio_write, recv, send,
    sendall and bio_read: a FastCalls if this pyOpenSSL and connection have
    what it uses (see the module docstring), else connection itself.
    """
    if not FAST:
        return connection
    kind = type(connection)
    if kind is not SSL.Connection:
        for name in _FIVE:
            if getattr(kind, name, None) is not getattr(SSL.Connection, name):
                return connection  # a subclass's own method is kept
    pointers = [getattr(connection, name, None) for name in ("_ssl", "_into_ssl", "_from_ssl")]
    try:
        types = [_ffi.typeof(pointer) for pointer in pointers]
    except TypeError:  # not a cffi pointer: None (a socket Connection) or gone
        return connection
    if types != [_SSL_POINTER, _BIO_POINTER, _BIO_POINTER]:
        return connection
    return FastCalls(connection)


class FastCalls:
    """
    The five hot methods of one pyOpenSSL Connection on memory BIOs, each
    with the contract of the Connection's method of the same name, calling
    OpenSSL directly.  The Connection stays what everything else is called on.
    """

    __slots__ = ("connection", "_pointer", "_incoming", "_outgoing", "_raiseError", "_bioError")

    def __init__(self, connection: Any):
        self.connection = connection
        self._pointer = connection._ssl  # kept, it keeps the BIOs it owns alive
        self._incoming = connection._into_ssl
        self._outgoing = connection._from_ssl
        self._raiseError = connection._raise_ssl_error
        self._bioError = connection._handle_bio_errors

    def bio_write(self, buf: Any) -> int:
        """Put ciphertext into the incoming BIO (Connection.bio_write)."""
        if buf.__class__ is not bytes:
            return self.connection.bio_write(buf)
        result = _BIO_write(self._incoming, buf, len(buf))
        if result <= 0:
            self._bioError(self._incoming, result)
        return result

    def recv(self, bufsiz: int, flags: int | None = None) -> bytes:
        """Decrypt at most bufsiz bytes (Connection.recv)."""
        if flags is not None or bufsiz.__class__ is not int or not 0 < bufsiz <= _BUFFER_SIZE:
            return self.connection.recv(bufsiz, flags)
        buffer = _takeBuffer()
        result = _SSL_read(self._pointer, buffer, bufsiz)
        data = _unpack(buffer, result) if result > 0 else b""
        _buffers.append(buffer)
        if result <= 0:
            self._raiseError(self._pointer, result)  # raises (never SSL_ERROR_NONE then)
        return data

    def recvRecords(self, records: int) -> tuple[bytes, Exception | None]:
        """
        recvEach(self, records), with every record decrypted into one
        pooled buffer and copied out once: one bytes object, where recvEach
        makes one per record and then joins them.
        """
        if not 0 < records <= _MOST_RECORDS:
            return recvEach(self, records)  # -1, or more than a buffer holds: rare
        buffer = _buffers.pop() if _buffers else _allocate("char[]", _BUFFER_SIZE)
        ssl = self._pointer
        filled = 0
        error = None
        while records:
            # One record per call: the room left holds a whole one.
            result = _SSL_read(ssl, buffer + filled, _BUFFER_SIZE - filled)
            if result <= 0:
                try:
                    self._raiseError(ssl, result)  # raises (never SSL_ERROR_NONE then)
                except Exception as raised:
                    error = raised
                break
            filled += result
            records -= 1
        data = _unpack(buffer, filled) if filled else b""
        _buffers.append(buffer)
        return data, error

    def send(self, buf: Any, flags: int = 0) -> int:
        """Encrypt buf, or as much of it as one call takes (Connection.send)."""
        if buf.__class__ is not bytes or len(buf) > _MAX_WRITE:
            return self.connection.send(buf)
        result = _SSL_write(self._pointer, buf, len(buf))
        if result <= 0:
            self._raiseError(self._pointer, result)
        return result

    def sendall(self, buf: Any, flags: int = 0) -> int:
        """Encrypt all of buf (Connection.sendall)."""
        if buf.__class__ is not bytes and buf.__class__ is not memoryview:
            return self.connection.sendall(buf)
        ssl = self._pointer
        with _fromBuffer(buf) as data:
            left = len(buf)
            sent = 0
            while left:
                result = _SSL_write(ssl, data + sent, min(left, _MAX_WRITE))
                if result <= 0:
                    self._raiseError(ssl, result)
                sent += result
                left -= result
            return sent

    def bio_read(self, bufsiz: int) -> bytes:
        """Take at most bufsiz bytes of ciphertext out of the outgoing BIO (Connection.bio_read)."""
        if bufsiz.__class__ is not int or bufsiz <= 0:
            return self.connection.bio_read(bufsiz)
        pooled = bufsiz <= _BUFFER_SIZE
        buffer = _takeBuffer() if pooled else _allocate("char[]", bufsiz)
        result = _BIO_read(self._outgoing, buffer, bufsiz)
        data = _unpack(buffer, result) if result > 0 else b""
        if pooled:
            _buffers.append(buffer)
        if result <= 0:
            self._bioError(self._outgoing, result)  # raises: WantReadError when empty
        return data

    def __repr__(self) -> str:
        return "<FastCalls of %r>" % (self.connection,)
