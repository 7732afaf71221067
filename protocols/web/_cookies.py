"""
Cookies: the Set-Cookie value addCookie writes, and the Cookie headers a
request's ``received_cookies`` are read from.

CR, LF and ``;`` in any part of a cookie written become spaces, so that no
value can end its header or add attributes of its own.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ["setCookieValue", "parseCookies"]


def _part(value: bytes | str) -> bytes:
    if isinstance(value, str):
        value = value.encode("utf-8")
    return b" ".join(value.splitlines()).replace(b";", b" ")


def setCookieValue(
    name: bytes | str,
    value: bytes | str,
    *,
    expires: bytes | str | None = None,
    domain: bytes | str | None = None,
    path: bytes | str | None = None,
    maxAge: bytes | str | int | None = None,
    comment: bytes | str | None = None,
    secure: bool | None = None,
    httpOnly: bool = False,
    sameSite: bytes | str | None = None,
) -> bytes:
    """
    Return the value of a Set-Cookie header.

    :param sameSite: None, ``"lax"``, ``"strict"`` or ``"none"`` (which
        needs ``secure``).
    :raises ValueError: for another sameSite, or ``"none"`` without secure.
    """
    cookie = _part(name) + b"=" + _part(value)
    for attribute, given in (
        (b"Expires", expires),
        (b"Domain", domain),
        (b"Path", path),
        (b"Max-Age", str(maxAge) if isinstance(maxAge, int) else maxAge),
        (b"Comment", comment),
    ):
        if given is not None:
            cookie += b"; " + attribute + b"=" + _part(given)
    if secure:
        cookie += b"; Secure"
    if httpOnly:
        cookie += b"; HttpOnly"
    if sameSite:
        same = (sameSite.encode("ascii") if isinstance(sameSite, str) else sameSite).lower()
        if same not in (b"lax", b"strict", b"none"):
            raise ValueError("Invalid value for sameSite: %r" % (same,))
        if same == b"none" and not secure:
            raise ValueError(
                'Invalid value for sameSite: %r. Missing the "secure" attribute' % (same,)
            )
        cookie += b"; SameSite=" + same
    return cookie


def parseCookies(headers: Iterable[bytes]) -> dict[bytes, bytes]:
    """Return {name: value} of the Cookie header values given (pairs without "=" skipped)."""
    cookies: dict[bytes, bytes] = {}
    for header in headers:
        for pair in header.split(b";"):
            name, equals, value = pair.lstrip().partition(b"=")
            if equals:
                cookies[name] = value
    return cookies
