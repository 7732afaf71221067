"""
Headers: HTTP header names and their values, as Twisted's http_headers has them.

A name is kept once, in canonical capitalisation (``Content-Type``, with
Twisted's exceptions such as ``ETag`` and ``WWW-Authenticate``), with the
list of its values in the order they were added.  Names and values are
bytes; a str name is encoded as ISO-8859-1 and a str value as UTF-8, and
reading with a str name gives str values.  A value is sanitised as it is
stored: a CR or LF becomes a space, so no header can inject another.

The request side is lazy: the channel keeps the parser's raw list of
(name, value) pairs, and a Headers is built from it only when someone asks
(``request.requestHeaders``).  The helpers at the end are the internal
interface of protocols.web's request and channel modules: building from
that raw list, setting a value known to be safe, and writing the headers
out as one list of byte strings.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator, Mapping, Sequence
from operator import attrgetter
from typing import Any, TypeVar, overload

__all__ = ["Headers", "InvalidHeaderName"]

_T = TypeVar("_T")

# RFC 9110's token: what a header name may be made of.
_TOKEN = re.compile(rb"^[!#$%&'*+\-.^_`|~0-9A-Za-z]+\Z")

# Names whose usual spelling is not what capitalising each word gives.
_SPECIAL_CASES = {
    b"Content-Md5": b"Content-MD5",
    b"Dnt": b"DNT",
    b"Etag": b"ETag",
    b"P3p": b"P3P",
    b"Te": b"TE",
    b"Www-Authenticate": b"WWW-Authenticate",
    b"X-Xss-Protection": b"X-XSS-Protection",
}

# Canonical names by spelling.  Bounded: a client can send endless new
# spellings, and the cache must not grow with them.
_canonicalCache: dict[bytes | str, bytes] = {}
_MAX_CACHED_NAMES = 10_000


class InvalidHeaderName(ValueError):
    """A header name that is not an RFC 9110 token (a space, a colon, a NUL)."""


def _canonicalName(name: bytes | str) -> bytes:
    # The canonical bytes spelling of name.
    canonical = _canonicalCache.get(name)
    if canonical is not None:
        return canonical
    raw = name.encode("iso-8859-1") if isinstance(name, str) else name
    if not _TOKEN.match(raw):
        raise InvalidHeaderName(raw)
    canonical = b"-".join([word.capitalize() for word in raw.split(b"-")])
    canonical = _SPECIAL_CASES.get(canonical, canonical)
    if len(_canonicalCache) < _MAX_CACHED_NAMES:
        _canonicalCache[name] = canonical
    return canonical


def _sanitizeValue(value: bytes | str) -> bytes:
    # A value as stored: bytes, with any CR or LF replaced by a space.
    if isinstance(value, str):
        value = value.encode("utf-8")
    if value.find(b"\r") >= 0 or value.find(b"\n") >= 0:  # find: see server.Request
        return b" ".join(value.splitlines())
    return value


class Headers:
    """
    HTTP headers: each name with the list of its values.

    :param rawHeaders: an optional mapping of names to sequences of values
        to start with (as ``setRawHeaders`` for each).
    """

    __slots__ = ("_rawHeaders",)

    def __init__(
        self,
        rawHeaders: Mapping[bytes, Sequence[bytes]] | Mapping[str, Sequence[str]] | None = None,
    ) -> None:
        self._rawHeaders: dict[bytes, list[bytes]] = {}
        if rawHeaders is not None:
            for name, values in rawHeaders.items():
                self.setRawHeaders(name, values)

    def __repr__(self) -> str:
        return "Headers(%r)" % (self._rawHeaders,)

    def __eq__(self, other: object) -> bool:
        # Equal when they hold the same names with the same values.
        if isinstance(other, Headers):
            return self._rawHeaders == other._rawHeaders
        return NotImplemented

    __hash__ = None  # type: ignore[assignment]  # mutable, as Twisted's

    def copy(self) -> Headers:
        """Return a new Headers with the same names and values."""
        duplicate = Headers()
        duplicate._rawHeaders = {name: list(values) for name, values in self._rawHeaders.items()}
        return duplicate

    def hasHeader(self, name: bytes | str) -> bool:
        """Return whether there is a header called name."""
        return _canonicalName(name) in self._rawHeaders

    def removeHeader(self, name: bytes | str) -> None:
        """Remove every value of the header called name (nothing if absent)."""
        self._rawHeaders.pop(_canonicalName(name), None)

    def setRawHeaders(self, name: bytes | str, values: Sequence[bytes | str]) -> None:
        """
        Replace the values of the header called name.

        :param values: a sequence of bytes or str values.
        :raises InvalidHeaderName: if name is not a token.
        :raises TypeError: if values is a single bytes or str rather than
            a sequence of them.
        """
        if isinstance(values, (bytes, str)):
            raise TypeError("Header values must be a sequence of values, not %r" % (values,))
        self._rawHeaders[_canonicalName(name)] = [_sanitizeValue(value) for value in values]

    def addRawHeader(self, name: bytes | str, value: bytes | str) -> None:
        """Add value to the values of the header called name."""
        canonical = _canonicalName(name)
        values = self._rawHeaders.get(canonical)
        if values is None:
            self._rawHeaders[canonical] = [_sanitizeValue(value)]
        else:
            values.append(_sanitizeValue(value))

    @overload
    def getRawHeaders(self, name: bytes) -> list[bytes] | None: ...
    @overload
    def getRawHeaders(self, name: str) -> list[str] | None: ...
    @overload
    def getRawHeaders(self, name: bytes, default: _T) -> list[bytes] | _T: ...
    @overload
    def getRawHeaders(self, name: str, default: _T) -> list[str] | _T: ...

    def getRawHeaders(self, name: bytes | str, default: Any = None) -> Any:
        """
        Return the list of values of the header called name, or default.

        With a str name the values are str (decoded as UTF-8).
        """
        values = self._rawHeaders.get(_canonicalName(name))
        if not values:
            return default
        if isinstance(name, str):
            return [value.decode("utf-8") for value in values]
        return values

    def getAllRawHeaders(self) -> Iterator[tuple[bytes, list[bytes]]]:
        """Return an iterator of (canonical name, values) pairs, as bytes."""
        return iter(self._rawHeaders.items())


# -- the internal interface of protocols.web ---------------------------------------


def _tableFromRaw(raw: Sequence[tuple[bytes, bytes]]) -> dict[bytes, list[bytes]]:
    # {canonical name: [values]} of the (name, value) pairs a parser gave,
    # in order.  The parsers have refused anything that is not a token or
    # has a CR or LF.
    table: dict[bytes, list[bytes]] = {}
    for name, value in raw:
        canonical = _canonicalCache.get(name)
        if canonical is None:
            canonical = _canonicalName(name)
        values = table.get(canonical)
        if values is None:
            table[canonical] = [value]
        else:
            values.append(value)
    return table


def _headersFromRaw(raw: Sequence[tuple[bytes, bytes]]) -> Headers:
    # A Headers of the (name, value) pairs a parser gave (_tableFromRaw).
    headers = Headers.__new__(Headers)
    headers._rawHeaders = _tableFromRaw(raw)
    return headers


def _headersFromTable(table: dict[bytes, list[bytes]]) -> Headers:
    # A Headers holding table, {canonical name: [clean values]}, itself.
    headers = Headers.__new__(Headers)
    headers._rawHeaders = table
    return headers


def _setOne(headers: Headers, name: bytes | str, value: bytes | str) -> None:
    # headers.setRawHeaders(name, [value]) without its checks of a sequence
    # and its list comprehension: Request.setHeader, once or more for
    # every response.  The common case (a cached name, a clean bytes value)
    # is tested here without calling _canonicalName and _sanitizeValue.
    canonical = _canonicalCache.get(name)
    if canonical is None:
        canonical = _canonicalName(name)
    if value.__class__ is not bytes or value.find(b"\r") >= 0 or value.find(b"\n") >= 0:
        value = _sanitizeValue(value)
    headers._rawHeaders[canonical] = [value]


# _table(headers): the dict itself, {canonical name: [values]}, for the
# response path of protocols.web._request, which reads and sets several
# names at once.  An attrgetter: a call into C, not a Python frame.
_table: Callable[[Headers], dict[bytes, list[bytes]]] = attrgetter("_rawHeaders")
