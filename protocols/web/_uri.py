"""
URI: an absolute http(s) URI taken apart, as the client's Agent and its
redirects read it (twisted.web.client.URI); protocols.web.client gives it.
"""

from __future__ import annotations

import re
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

        The parts are urllib.parse.urlparse's (test_uriPartsAreUrlparses):
        an http(s) URI is split here at the cost of a regular expression,
        and its authority's host and port read once per authority
        (_authority); any other goes through urlparse itself.
        """
        uri = uri.strip()
        match = _HTTP_URI.match(uri)
        if match is None:
            return cls._fromUrlparse(uri, defaultPort)
        scheme, netloc, path, query, fragment = match.groups()
        scheme = scheme.lower()
        host, port = _authority(netloc)
        if port is None:
            port = defaultPort if defaultPort is not None else (443 if scheme == b"https" else 80)
        params = b""
        if b";" in path:
            # urlparse's: the params of the last segment only.
            semicolon = path.find(b";", max(path.rfind(b"/"), 0))
            if semicolon >= 0:
                path, params = path[:semicolon], path[semicolon + 1 :]
        return cls(scheme, netloc, host, port, path, params, query or b"", fragment or b"")

    @classmethod
    def _fromUrlparse(cls, uri: bytes, defaultPort: int | None) -> URI:
        parsed = parse.urlparse(uri)
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
        target = self.path or b"/"
        if self.params:
            target += b";" + self.params
        if self.query:
            target += b"?" + self.query
        return target


# An http or https URI as urlparse splits it: scheme, authority, path, query,
# fragment.  A URI with what urlparse strips or refuses (spaces, controls,
# bytes beyond ASCII) or a backslash in its authority goes to urlparse itself.
_HTTP_URI = re.compile(
    rb"\A(https?|HTTPS?)://([^/?#\\\x00-\x20\x7f-\xff]*)(?=[/?#]|\Z)([^?#\x00-\x20\x7f-\xff]*)"
    rb"(?:\?([^#\x00-\x20\x7f-\xff]*))?(?:#([^\x00-\x20\x7f-\xff]*))?\Z"
)
_authorities: dict[bytes, tuple[bytes, int | None]] = {}


def _authority(netloc: bytes) -> tuple[bytes, int | None]:
    # (host, port) of an authority as URI._fromUrlparse reads them, kept
    # for the next request to it (a bounded cache: authorities are few).
    known = _authorities.get(netloc)
    if known is None:
        parsed = URI._fromUrlparse(b"http://" + netloc, -1)
        known = (parsed.host, None if parsed.port == -1 else parsed.port)
        if len(_authorities) < 1000:
            _authorities[netloc] = known
    return known
