"""
The exceptions of protocols.web, with twisted.web.error's names.

``Error`` and its redirect subclasses carry an HTTP status; the client
raises them.  ``UnsupportedMethod`` is what a resource raises for a method
it does not implement (server.Request answers 405 with Allow, or 501).
Twisted's template errors are here too, so that code catching them imports.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from protocols.web._responses import RESPONSES

__all__ = [
    "Error",
    "PageRedirect",
    "InfiniteRedirection",
    "RedirectWithNoLocation",
    "UnsupportedMethod",
    "SchemeNotSupported",
    "RenderError",
    "MissingRenderMethod",
    "MissingTemplateLoader",
    "UnexposedMethodError",
    "UnfilledSlot",
    "UnsupportedType",
    "FlattenerError",
    "UnsupportedSpecialHeader",
    "ExcessiveBufferingError",
]


def _codeToMessage(code: int | bytes) -> bytes | None:
    try:
        return RESPONSES.get(int(code))
    except (ValueError, TypeError):
        return None


class Error(Exception):
    """
    An HTTP error.

    :ivar status: the status code, as bytes (``b"404"``).
    :ivar message: a short message; the code's reason phrase by default.
    :ivar response: the response body, if there was one.
    """

    def __init__(
        self, code: int | bytes, message: bytes | None = None, response: bytes | None = None
    ) -> None:
        """
        :param code: the status, an int or three digits as bytes.
        :raises ValueError: for bytes that are not a three-digit code.
        """
        message = message or _codeToMessage(code)
        Exception.__init__(self, code, message, response)
        if isinstance(code, int):
            code = b"%d" % (code,)
        elif len(code) != 3 or not code.isdigit():
            raise ValueError("Not a valid HTTP status code: %r" % (code,))
        self.status = code
        self.message = message
        self.response = response

    def __str__(self) -> str:
        text = self.status
        if self.message:
            text += b" " + self.message
        return text.decode("latin-1")


class PageRedirect(Error):
    """
    A redirect that was not followed.

    :ivar location: where it pointed.
    """

    def __init__(
        self,
        code: int | bytes,
        message: bytes | None = None,
        response: bytes | None = None,
        location: bytes | None = None,
    ) -> None:
        Error.__init__(self, code, message, response)
        if self.message and location:
            self.message = self.message + b" to " + location
        self.location = location


class InfiniteRedirection(Error):
    """
    Redirects that went on for ever.

    :ivar location: the first one not followed.
    """

    def __init__(
        self,
        code: int | bytes,
        message: bytes | None = None,
        response: bytes | None = None,
        location: bytes | None = None,
    ) -> None:
        Error.__init__(self, code, message, response)
        if self.message and location:
            self.message = self.message + b" to " + location
        self.location = location


class RedirectWithNoLocation(Error):
    """
    A redirect without a Location header.

    :ivar uri: the URI that answered so.
    """

    def __init__(self, code: int | bytes, message: bytes, uri: bytes) -> None:
        Error.__init__(self, code, message)
        self.message = (self.message or b"") + b" to " + uri
        self.uri = uri


class UnsupportedMethod(Exception):
    """
    Raised by a resource for a method it does not implement.

    :ivar allowedMethods: the methods it does implement (for Allow).
    """

    allowedMethods: Sequence[bytes] = ()

    def __init__(self, allowedMethods: Sequence[bytes], *args: Any) -> None:
        """:raises TypeError: if allowedMethods is not a sequence."""
        Exception.__init__(self, allowedMethods, *args)
        self.allowedMethods = allowedMethods
        if not isinstance(allowedMethods, Sequence):
            raise TypeError(
                "First argument must be a sequence of supported methods, "
                "but my first argument is not a sequence."
            )

    def __str__(self) -> str:
        return "Expected one of %r" % (self.allowedMethods,)


class SchemeNotSupported(Exception):
    """A URI's scheme the client cannot use."""


class UnsupportedSpecialHeader(Exception):
    """A header the client sets itself was given by the caller."""


class ExcessiveBufferingError(Exception):
    """Too much output was buffered for a connection (Twisted's HTTP/2)."""


class RenderError(Exception):
    """An error while rendering a template."""


class MissingRenderMethod(RenderError):
    """A template named a render method its element does not have."""

    def __init__(self, element: Any, renderName: str) -> None:
        RenderError.__init__(self, element, renderName)
        self.element = element
        self.renderName = renderName

    def __repr__(self) -> str:
        return "%r: %r had no render method named %r" % (
            type(self).__name__,
            self.element,
            self.renderName,
        )


class MissingTemplateLoader(RenderError):
    """An element without a template loader was rendered."""

    def __init__(self, element: Any) -> None:
        RenderError.__init__(self, element)
        self.element = element

    def __repr__(self) -> str:
        return "%r: %r had no loader" % (type(self).__name__, self.element)


class UnexposedMethodError(Exception):
    """A method that was not exposed was asked for."""


class UnfilledSlot(Exception):
    """A template slot had no value."""


class UnsupportedType(Exception):
    """A value a template cannot render."""


class FlattenerError(Exception):
    """An error while flattening a template, with the objects being flattened."""

    def __init__(self, exception: BaseException, roots: list[Any], traceback: list[Any]) -> None:
        self._exception = exception
        self._roots = roots
        self._traceback = traceback
        Exception.__init__(self, exception, roots, traceback)

    def __repr__(self) -> str:
        roots = "".join("  %s\n" % (ascii(root),) for root in self._roots)
        return "Exception while flattening:\n%s%s: %s\n" % (
            roots,
            type(self._exception).__name__,
            self._exception,
        )

    __str__ = __repr__
