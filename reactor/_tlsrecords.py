"""
TLS record framing in a byte stream: how many whole records each chunk read
from the transport completes, so that reactor.tls asks OpenSSL for exactly
that many, never once more just to hear "want read".

A record is a 5-byte header (content type, version, length) and then length
bytes.  A RecordCounter follows the stream across chunks: the bytes still
missing from the record under way, and the start of a header split between
two chunks (test_recordsSplitAnywhere).  Counting reads the headers in
Python, which costs less than a failing OpenSSL call (it raises through
cffi); the common chunk, one whole application data record, reactor.tls
tells by one test of its first header, without calling ``count``.

Two findings ride along: a handshake record after the handshake is the peer
trying to renegotiate (``renegotiating``: reactor.tls refuses it), and a
header that is no TLS record at all loses the framing for good (see
``count``).
"""

from __future__ import annotations

__all__ = ["APPLICATION_DATA", "RecordCounter"]

# TLS record content types: change_cipher_spec, alert, handshake,
# application_data, heartbeat.
_RECORD_TYPES = frozenset([20, 21, 22, 23, 24])
_HANDSHAKE = 22
APPLICATION_DATA = 23


class RecordCounter:
    """
    Counts the whole TLS records of a stream, chunk by chunk.

    :ivar left: bytes until the record under way ends (0: between records;
        -1: the framing is lost).
    :ivar header: the start of a record header split between chunks.
    :ivar renegotiating: a handshake record came after the handshake.
    """

    __slots__ = ("left", "header", "renegotiating")

    def __init__(self) -> None:
        self.left = 0
        self.header = b""
        self.renegotiating = False

    def count(self, data: bytes, handshakeDone: bool) -> int:
        """
        Return how many records data (the next non-empty chunk of the
        stream) completes, or -1 once the framing is lost: a header that is
        no TLS record's (an SSLv2-style ClientHello, where the OpenSSL linked
        still accepts one; garbage).  From then on the caller reads until
        OpenSSL wants more, which is always right, and lets OpenSSL tell
        what is wrong (test_garbageAfterTheHandshakeFailsTheConnection).

        :param handshakeDone: whether a handshake record now means
            renegotiation (sets ``renegotiating``).
        """
        size = len(data)
        left = self.left
        complete = 0
        position = 0
        if left < 0:
            return -1
        if left:
            if left > size:
                self.left = left - size
                return 0
            complete = 1
            position = left
        elif self.header:
            data = self.header + data
            size = len(data)
            self.header = b""
        while position + 5 <= size:
            kind = data[position]
            if kind != APPLICATION_DATA:
                if kind == _HANDSHAKE and handshakeDone:
                    self.renegotiating = True
                elif kind not in _RECORD_TYPES:
                    self.left = -1
                    return -1
            end = position + 5 + (data[position + 3] << 8 | data[position + 4])
            if end > size:
                self.left = end - size
                return complete
            complete += 1
            position = end
        self.left = 0
        if position < size:
            self.header = data[position:]
        return complete
