"""
URI: an absolute http(s) URI taken apart, as the client's Agent and its
redirects read it (twisted.web.client.URI); protocols.web.client gives it.
"""

from __future__ import annotations

from urllib import parse

__all__ = ["URI"]


class URI:
    """
    A parsed absolute http(s) URI: scheme, netloc, host, port, path,
    params, query and fragment, all bytes (port an int).
    """

    def __init__(
        self,
        scheme: bytes,
        netloc: bytes,
        host: bytes,
        port: int,
        path: bytes,
        params: bytes,
        query: bytes,
        fragment: bytes,
    ) -> None:
        self.scheme = scheme
        self.netloc = netloc
        self.host = host
        self.port = port
        self.path = path
        self.params = params
        self.query = query
        self.fragment = fragment

    @classmethod
    def fromBytes(cls, uri: bytes, defaultPort: int | None = None) -> URI:
        """
        Parse uri; the port defaults to defaultPort, else 80 for http and
        443 for https.
        """
        parsed = parse.urlparse(uri.strip())
        scheme, netloc = parsed.scheme, parsed.netloc
        host, port = parsed.hostname or b"", None
        try:
            port = parsed.port
        except ValueError:
            port = None
        if port is None:
            port = defaultPort if defaultPort is not None else (443 if scheme == b"https" else 80)
        if not host and netloc:
            host = netloc.rsplit(b":", 1)[0]
        return cls(
            scheme, netloc, host, port, parsed.path, parsed.params, parsed.query, parsed.fragment
        )

    def toBytes(self) -> bytes:
        """The URI, assembled again."""
        return parse.urlunparse(
            (self.scheme, self.netloc, self.path, self.params, self.query, self.fragment)
        )

    @property
    def originForm(self) -> bytes:
        """The request target: the path (b"/" if empty), params and query."""
        path = parse.urlunparse((b"", b"", self.path or b"/", self.params, self.query, b""))
        return path
