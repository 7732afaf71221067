"""
Response encodings: gzip, and the interfaces an encoding meets its
resource through, with Twisted's private names.

``EncodingResourceWrapper(resource, [GzipEncoderFactory()])`` gzips the
responses of resource for clients that accept it: the Site asks the
wrapper (an ``_IEncodingResource``) for an encoder, and the response's
writes go through it.  Twisted keeps the interfaces private
(``iweb._IRequestEncoder``, ``iweb._IRequestEncoderFactory``,
``resource._IEncodingResource``); they live here so that iweb, resource and
server can share them, and each of those modules offers them under
Twisted's name (server offers ``GzipEncoderFactory``).
"""

from __future__ import annotations

import zlib
from typing import Any

from zope.interface import Interface, implementer

__all__ = [
    "_IRequestEncoder",
    "_IRequestEncoderFactory",
    "_IEncodingResource",
    "GzipEncoderFactory",
]


class _IRequestEncoder(Interface):
    """An encoding of a response body (gzip)."""

    def encode(data):
        """Return data encoded."""

    def finish():
        """Return what is left to write at the end."""


class _IRequestEncoderFactory(Interface):
    """A maker of _IRequestEncoders for the requests that accept them."""

    def encoderForRequest(request):
        """Return an encoder for request, or None."""


class _IEncodingResource(Interface):
    """A resource that may encode its responses."""

    def getEncoder(request):
        """Return an _IRequestEncoder for request, or None."""


@implementer(_IRequestEncoderFactory)
class GzipEncoderFactory:
    """
    Encodes responses with gzip for clients that accept it (with
    EncodingResourceWrapper).

    :cvar compressLevel: zlib's level, 9 by default.
    """

    compressLevel = 9

    def encoderForRequest(self, request: Any) -> Any:
        """Return a gzip encoder if request accepts gzip, else None."""
        accepted = b",".join(request.requestHeaders.getRawHeaders(b"Accept-Encoding", []))
        codings = {coding.split(b";")[0].strip().lower() for coding in accepted.split(b",")}
        if b"gzip" not in codings:
            return None
        encoding = request.responseHeaders.getRawHeaders(b"Content-Encoding")
        value = b",".join(encoding + [b"gzip"]) if encoding else b"gzip"
        request.responseHeaders.setRawHeaders(b"Content-Encoding", [value])
        return _GzipEncoder(self.compressLevel, request)


@implementer(_IRequestEncoder)
class _GzipEncoder:
    def __init__(self, compressLevel: int, request: Any) -> None:
        self._compressor: Any = zlib.compressobj(compressLevel, zlib.DEFLATED, 16 + zlib.MAX_WBITS)
        self._request = request

    def encode(self, data: bytes) -> bytes:
        if not self._request.startedWriting:
            # The length set is the unencoded one: it cannot be kept.
            self._request.responseHeaders.removeHeader(b"Content-Length")
        compressed: bytes = self._compressor.compress(data)
        return compressed

    def finish(self) -> bytes:
        remaining: bytes = self._compressor.flush()
        self._compressor = None
        return remaining
