"""
The access log's lines: Twisted's combined log format, one line per request.

    "127.0.0.1" - - [22/Nov/2026:10:00:03 +0000] "GET / HTTP/1.1" 200 11 "-" "curl/8.5.0"

A formatter is a callable ``(timestamp, request) -> str`` providing
IAccessLogFormatter.  ``combinedLogFormatter`` names the client by
``request.getClientAddress()``, which already honours X-Forwarded-For from a
Site's trusted proxies (and only from them); ``proxiedLogFormatter`` takes
the first X-Forwarded-For address from anyone, as Twisted's does, for a
server that only ever sits behind a proxy.  Every field is escaped so that
a client cannot forge a line.
"""

from __future__ import annotations

from typing import Any

from zope.interface import provider

from protocols.web.iweb import IAccessLogFormatter

__all__ = ["combinedLogFormatter", "proxiedLogFormatter"]


def _escape(value: bytes | str) -> str:
    # repr() inside double quotes: escapes, never a raw quote or newline.
    if isinstance(value, str):
        value = value.encode("ascii", "backslashreplace")
    text = repr(value)[2:-1]
    if repr(value)[1] == "'":
        return text.replace('"', '\\"').replace("\\'", "'")
    return text


def _line(timestamp: str, request: Any, host: Any) -> str:
    referrer = request.getHeader(b"referer") or b"-"
    agent = request.getHeader(b"user-agent") or b"-"
    return '"%s" - - %s "%s %s %s" %d %s "%s" "%s"' % (
        _escape(host),
        timestamp,
        _escape(request.method),
        _escape(request.uri),
        _escape(request.clientproto),
        request.code,
        request.sentLength or "-",
        _escape(referrer),
        _escape(agent),
    )


@provider(IAccessLogFormatter)
def combinedLogFormatter(timestamp: str, request: Any) -> str:
    """Return the combined log format line for request, at timestamp."""
    address = request.getClientAddress()
    host = getattr(address, "host", None)
    return _line(timestamp, request, host if isinstance(host, (str, bytes)) else "-")


@provider(IAccessLogFormatter)
def proxiedLogFormatter(timestamp: str, request: Any) -> str:
    """Return the line with the first X-Forwarded-For address as the client."""
    forwarded = request.requestHeaders.getRawHeaders(b"X-Forwarded-For", [b"-"])[0]
    return _line(timestamp, request, forwarded.split(b",")[0].strip())
