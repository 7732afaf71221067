"""
HTTP/1.1: the server connection, its requests, headers, status codes and
dates, with the names of twisted.web.http and twisted.web.http_headers.

The parts live in the private modules of this package, one idea each, and
are gathered here:

- ``HTTPChannel`` (protocols/web/_channel.py): a connection, its limits
  and timeouts; parsing is httptools', or h11's (protocols/web/_parser.py);
- ``Request`` (protocols/web/_request.py): a request and its response;
- ``HTTPFactory`` (protocols/web/_factory.py): the settings and the access
  log (``combinedLogFormatter``, protocols/web/_accesslog.py);
- ``Headers`` (protocols/web/_headers.py); the status codes and
  ``RESPONSES`` (protocols/web/_responses.py); HTTP dates
  (protocols/web/_dates.py); URLs and query strings (protocols/web/_forms.py).

doc/web.md says how to serve with them; doc/porting.md what differs from
Twisted.
"""

from __future__ import annotations

from protocols.web._accesslog import combinedLogFormatter, proxiedLogFormatter
from protocols.web._channel import HTTPChannel
from protocols.web._dates import (
    datetimeToLogString,
    datetimeToString,
    monthname,
    monthname_lower,
    stringToDatetime,
    timegm,
    weekdayname,
    weekdayname_lower,
)
from protocols.web._factory import HTTPFactory
from protocols.web._forms import parse_qs, unquote, urlparse
from protocols.web._headers import Headers, InvalidHeaderName
from protocols.web._request import CACHED, NO_BODY_CODES, Request
from protocols.web._responses import (
    ACCEPTED,
    BAD_GATEWAY,
    BAD_REQUEST,
    CONFLICT,
    CREATED,
    EXPECTATION_FAILED,
    FORBIDDEN,
    FOUND,
    GATEWAY_TIMEOUT,
    GONE,
    HTTP_VERSION_NOT_SUPPORTED,
    IM_A_TEAPOT,
    INSUFFICIENT_STORAGE_SPACE,
    INTERNAL_SERVER_ERROR,
    LENGTH_REQUIRED,
    MISDIRECTED_REQUEST,
    MOVED_PERMANENTLY,
    MULTI_STATUS,
    MULTIPLE_CHOICE,
    NETWORK_AUTHENTICATION_REQUIRED,
    NO_CONTENT,
    NON_AUTHORITATIVE_INFORMATION,
    NOT_ACCEPTABLE,
    NOT_ALLOWED,
    NOT_EXTENDED,
    NOT_FOUND,
    NOT_IMPLEMENTED,
    NOT_MODIFIED,
    OK,
    PARTIAL_CONTENT,
    PAYMENT_REQUIRED,
    PERMANENT_REDIRECT,
    PRECONDITION_FAILED,
    PRECONDITION_REQUIRED,
    PROXY_AUTH_REQUIRED,
    REQUEST_ENTITY_TOO_LARGE,
    REQUEST_HEADER_FIELDS_TOO_LARGE,
    REQUEST_TIMEOUT,
    REQUEST_URI_TOO_LONG,
    REQUESTED_RANGE_NOT_SATISFIABLE,
    RESET_CONTENT,
    RESPONSES,
    SEE_OTHER,
    SERVICE_UNAVAILABLE,
    SWITCHING,
    TEMPORARY_REDIRECT,
    TOO_MANY_REQUESTS,
    UNAUTHORIZED,
    UNAVAILABLE_FOR_LEGAL_REASONS,
    UNPROCESSABLE_CONTENT,
    UNSUPPORTED_MEDIA_TYPE,
    UPGRADE_REQUIRED,
    USE_PROXY,
)
from protocols.web.iweb import IAccessLogFormatter, INonQueuedRequestFactory, IRequest

__all__ = [
    "SWITCHING",
    "OK",
    "CREATED",
    "ACCEPTED",
    "NON_AUTHORITATIVE_INFORMATION",
    "NO_CONTENT",
    "RESET_CONTENT",
    "PARTIAL_CONTENT",
    "MULTI_STATUS",
    "MULTIPLE_CHOICE",
    "MOVED_PERMANENTLY",
    "FOUND",
    "SEE_OTHER",
    "NOT_MODIFIED",
    "USE_PROXY",
    "TEMPORARY_REDIRECT",
    "PERMANENT_REDIRECT",
    "BAD_REQUEST",
    "UNAUTHORIZED",
    "PAYMENT_REQUIRED",
    "FORBIDDEN",
    "NOT_FOUND",
    "NOT_ALLOWED",
    "NOT_ACCEPTABLE",
    "PROXY_AUTH_REQUIRED",
    "REQUEST_TIMEOUT",
    "CONFLICT",
    "GONE",
    "LENGTH_REQUIRED",
    "PRECONDITION_FAILED",
    "REQUEST_ENTITY_TOO_LARGE",
    "REQUEST_URI_TOO_LONG",
    "UNSUPPORTED_MEDIA_TYPE",
    "REQUESTED_RANGE_NOT_SATISFIABLE",
    "EXPECTATION_FAILED",
    "IM_A_TEAPOT",
    "INTERNAL_SERVER_ERROR",
    "NOT_IMPLEMENTED",
    "BAD_GATEWAY",
    "SERVICE_UNAVAILABLE",
    "GATEWAY_TIMEOUT",
    "HTTP_VERSION_NOT_SUPPORTED",
    "INSUFFICIENT_STORAGE_SPACE",
    "NOT_EXTENDED",
    "RESPONSES",
    "CACHED",
    "urlparse",
    "parse_qs",
    "datetimeToString",
    "datetimeToLogString",
    "timegm",
    "stringToDatetime",
    "toChunk",
    "fromChunk",
    "parseContentRange",
    "NO_BODY_CODES",
    "Request",
    "PotentialDataLoss",
    "HTTPChannel",
    "HTTPFactory",
    "Headers",
    "InvalidHeaderName",
    "IAccessLogFormatter",
    "INonQueuedRequestFactory",
    "IRequest",
    "combinedLogFormatter",
    "proxiedLogFormatter",
    "unquote",
    "monthname",
    "monthname_lower",
    "weekdayname",
    "weekdayname_lower",
    "MISDIRECTED_REQUEST",
    "UNPROCESSABLE_CONTENT",
    "UPGRADE_REQUIRED",
    "PRECONDITION_REQUIRED",
    "TOO_MANY_REQUESTS",
    "REQUEST_HEADER_FIELDS_TOO_LARGE",
    "UNAVAILABLE_FOR_LEGAL_REASONS",
    "NETWORK_AUTHENTICATION_REQUIRED",
]

responses = RESPONSES
protocol_version = "HTTP/1.1"
# Loom speaks HTTP/1.1 only; Twisted's flag says whether h2 is importable.
H2_ENABLED = False
maxChunkSizeLineLength = 1024


class PotentialDataLoss(Exception):
    """A body may have been cut short: its end was the connection's close."""


def toChunk(data: bytes) -> tuple[bytes, bytes, bytes, bytes]:
    """Return data as the pieces of one chunk of a chunked body."""
    return b"%x" % (len(data),), b"\r\n", data, b"\r\n"


def fromChunk(data: bytes) -> tuple[bytes, bytes]:
    """
    Return (the first chunk's data, what follows it) from a chunked body
    (chunk extensions are not understood, as in Twisted).

    :raises ValueError: if data does not start with a whole, well-formed chunk.
    """
    prefix, rest = data.split(b"\r\n", 1)
    if not prefix or prefix.strip(b"0123456789abcdefABCDEF"):
        raise ValueError("Invalid chunk length %r" % (prefix,))
    length = int(prefix, 16)
    if rest[length : length + 2] != b"\r\n":
        raise ValueError("chunk must end with CRLF")
    return rest[:length], rest[length + 2 :]


def parseContentRange(header: str) -> tuple[int, int, int | None]:
    """
    Return (start, end, total or None) of a Content-Range value such as
    ``"bytes 0-499/1234"`` (``*`` for an unknown total).

    :raises ValueError: for another unit or a malformed value.
    """
    kind, other = header.strip().split()
    if kind.lower() != "bytes":
        raise ValueError("a range of type %r is not supported" % (kind,))
    startEnd, total = other.split("/")
    start, end = map(int, startEnd.split("-"))
    return start, end, None if total == "*" else int(total)
