"""
URLs, query strings and form bodies, as bytes: what a Request makes of its
URI and, for a POST, of its body.

``parse_qs`` and ``urlparse`` are Twisted's (bytes in, bytes out);
``formArguments`` reads an ``application/x-www-form-urlencoded`` or
``multipart/form-data`` body into the same {name: [values]} shape, with
the stdlib email parser for multipart (as Twisted does).
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any
from urllib.parse import ParseResultBytes, unquote_to_bytes
from urllib.parse import urlparse as _urlparse

__all__ = ["parse_qs", "urlparse", "unquote", "formArguments", "FormError"]

unquote = unquote_to_bytes


class FormError(ValueError):
    """A form body that cannot be read (a broken multipart)."""


def urlparse(url: bytes) -> ParseResultBytes:
    """
    Split a URL into its six parts, all bytes (urllib's urlparse for bytes).

    :raises TypeError: for a str URL.
    """
    if isinstance(url, str):
        raise TypeError("url must be bytes, not unicode")
    return _urlparse(url)


def parse_qs(
    qs: bytes, keep_blank_values: bool = False, strict_parsing: bool = False
) -> dict[bytes, list[bytes]]:
    """
    Return {name: [values]} for a query string such as ``b"a=1&b=2&a=3"``.

    Pairs are separated by ``&`` or ``;``; ``+`` and %-escapes are decoded.

    :param keep_blank_values: keep names given an empty value.
    :param strict_parsing: raise ValueError for a pair without ``=``
        (else it is skipped).
    """
    arguments: dict[bytes, list[bytes]] = {}
    for pair in qs.replace(b";", b"&").split(b"&"):
        name, equals, value = pair.partition(b"=")
        if not equals:
            if strict_parsing:
                raise ValueError("bad query field: %r" % (pair,))
            continue
        if value or keep_blank_values:
            if b"+" in name or b"%" in name:
                name = unquote_to_bytes(name.replace(b"+", b" "))
            if b"+" in value or b"%" in value:
                value = unquote_to_bytes(value.replace(b"+", b" "))
            values = arguments.get(name)
            if values is None:
                arguments[name] = [value]
            else:
                values.append(value)
    return arguments


def contentType(value: bytes) -> bytes:
    """Return the media type of a Content-Type value, lower case, without parameters."""
    return value.split(b";", 1)[0].strip().lower()


def formArguments(body: bytes, contentTypeValue: bytes) -> dict[bytes, list[bytes]]:
    """
    Return the fields of a POSTed form body, or {} if it is not a form.

    :raises FormError: for a multipart body that does not parse.
    """
    kind = contentType(contentTypeValue)
    if kind == b"application/x-www-form-urlencoded":
        return parse_qs(body, True)
    if kind != b"multipart/form-data":
        return {}
    # (The email package is imported for the first multipart body: a
    # server that never reads one does not carry its objects.)
    from email import message_from_bytes
    from email.utils import collapse_rfc2231_value

    head = b"MIME-Version: 1.0\r\nContent-Type: " + contentTypeValue + b"\r\n\r\n"
    try:
        message = message_from_bytes(head + body)
    except Exception as e:  # the email package raises many kinds
        raise FormError(str(e)) from None
    if not message.is_multipart():
        raise FormError("not a multipart body")
    fields: dict[bytes, list[bytes]] = defaultdict(list)
    part: Any
    for part in message.get_payload():
        name = part.get_param("name", header="content-disposition")
        if not name:
            continue
        fields[collapse_rfc2231_value(name).encode("utf-8")].append(
            part.get_payload(decode=True) or b""
        )
    return dict(fields)
