"""
The interfaces of response encodings (gzip), with Twisted's private names.

Twisted keeps them private (``iweb._IRequestEncoder``,
``iweb._IRequestEncoderFactory``, ``resource._IEncodingResource``), yet
they are how ``EncodingResourceWrapper`` and ``GzipEncoderFactory`` meet.
They live here so that iweb, resource and server can share them; each of
those modules offers them under Twisted's name.
"""

from zope.interface import Interface

__all__ = ["_IRequestEncoder", "_IRequestEncoderFactory", "_IEncodingResource"]


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
