"""
Running a remote call's method: the helpers the flavors and perspectives share.

``_call(method, args, kw)`` checks that the peer sent a tuple and a dict,
turns keyword names sent as bytes (by old Twisted peers) into str, and logs
a TypeError's arguments before it becomes the caller's error.
"""

from __future__ import annotations

from typing import Any

from reactor import log


def _methodName(message: Any) -> str:
    return message.decode("utf-8") if isinstance(message, bytes) else message


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
