"""
Running a remote call's method: the helpers the flavors and perspectives share.

``MethodPrefix("remote_").find(obj, message)`` finds the method a message
names; ``_call(method, args, kw)`` checks that the peer sent a tuple and a
dict, turns keyword names sent as bytes (by old Twisted peers) into str, and
logs a TypeError's arguments before it becomes the caller's error.
"""

from __future__ import annotations

import sys
from typing import Any

from reactor import log


def _methodName(message: Any) -> str:
    return message.decode("utf-8") if isinstance(message, bytes) else message


class MethodPrefix:
    """
    The methods answering messages, named prefix + the message's name.

    A name built afresh for each call is a new str, and an attribute lookup
    through a str that is not interned walks the class's whole MRO (the
    type's method cache keys on interned names); each name that found a
    method is kept here, interned, so later calls hit the cache.  Only
    names that found an attribute are kept: a peer sending made-up names
    cannot grow the table.
    """

    __slots__ = ("prefix", "names")

    def __init__(self, prefix: str) -> None:
        self.prefix = prefix
        self.names: dict[Any, str] = {}

    def find(self, obj: Any, message: Any) -> Any:
        """Return obj's attribute prefix + message (bytes or str), or None."""
        name = self.names.get(message)
        if name is not None:
            return getattr(obj, name, None)
        name = self.prefix + _methodName(message)
        method = getattr(obj, name, None)
        if method is not None:
            self.names[message] = sys.intern(name)
        return method

    def missing(self, message: Any) -> str:
        """The error text for a message naming no method."""
        return "No such method: %s%s" % (self.prefix, _methodName(message))


def _textKeys(kw: dict[Any, Any]) -> dict[str, Any]:
    # A Twisted peer sends str keys as unicode; an old one may send bytes.
    if any(type(key) is not str for key in kw):
        return {_methodName(key): value for key, value in kw.items()}
    return kw


def _call(method: Any, args: Any, kw: Any) -> Any:
    if type(args) is not tuple and type(args) is not list or type(kw) is not dict:
        raise TypeError("remote call arguments must be a tuple and a dict")
    try:
        return method(*args, **_textKeys(kw)) if kw else method(*args)
    except TypeError:
        log.msg("%s didn't accept %r and %r" % (method, args, kw))
        raise
