"""
Resources: the tree a Site answers from, as twisted.web.resource has it.

A request's path is walked one segment at a time from the Site's root:
``getChildWithDefault(segment, request)`` gives the child (``putChild``'s
static children first, then ``getChild``), until a resource that
``isLeaf`` or the end of the path; that resource's ``render(request)``
answers, through ``render_GET``, ``render_POST``... .  A method with no
``render_`` method raises UnsupportedMethod, which the Site answers with
405 and an Allow header listing the ones there are.

``render`` returns the body as bytes, or NOT_DONE_YET and writes the
response itself later; in Loom it may also return a Deferred (firing with
the body) or be an ``async def``.

Beyond Twisted, a resource says what it accepts of a request body, and the
Site asks it as soon as the request's head has arrived (before the body):
``maxRequestBodySize`` (None: the Site's) and ``streamRequestBody``
(render is called at once and reads the body with
``request.streamBody(consumer)`` as it arrives, instead of finding it in
``request.content``).

ErrorPage, NoResource and ForbiddenResource escape what they are given, so
Twisted's reason to deprecate them (HTML injection) does not apply.
"""

from __future__ import annotations

import html
from typing import Any

from zope.interface import Attribute, Interface, implementer

from protocols.web._encoding import _IEncodingResource
from protocols.web._responses import FORBIDDEN, NOT_FOUND
from protocols.web.error import UnsupportedMethod

__all__ = [
    "IResource",
    "getChildForRequest",
    "Resource",
    "ErrorPage",
    "NoResource",
    "ForbiddenResource",
    "EncodingResourceWrapper",
]


class IResource(Interface):
    """A web resource: something a request can be answered by."""

    isLeaf = Attribute("If true, the rest of the path is the resource's to interpret.")

    def getChildWithDefault(name, request):
        """Return the child called name (one path segment, bytes) for request."""

    def putChild(path, child):
        """Make child the resource at path (one segment, bytes)."""

    def render(request):
        """Answer request: return bytes, or NOT_DONE_YET and finish it later."""


def getChildForRequest(resource: Any, request: Any) -> Any:
    """Walk request's postpath from resource; return the resource found."""
    postpath = request.postpath
    prepath = request.prepath
    while postpath and not resource.isLeaf:
        segment = postpath.pop(0)
        prepath.append(segment)
        resource = resource.getChildWithDefault(segment, request)
    return resource


_RENDER_NAMES = {
    method: "render_" + method.decode("ascii")
    for method in (b"GET", b"HEAD", b"POST", b"PUT", b"DELETE", b"OPTIONS", b"PATCH")
}


def _allowedMethods(resource: Any) -> list[bytes]:
    # The methods resource has render_ methods for, from its class and bases.
    names: set[str] = set()
    for klass in type(resource).__mro__:
        names.update(name[len("render_") :] for name in vars(klass) if name.startswith("render_"))
    return sorted(name.encode("ascii") for name in names)


@implementer(IResource)
class Resource:
    """
    A web resource: a node of the tree, with children and render methods.

    :ivar children: the static children, {segment: resource}.
    :cvar maxRequestBodySize: the largest request body this resource takes
        (None: the Site's limit).
    :cvar streamRequestBody: render as soon as the head has arrived; the
        body is read with ``request.streamBody``.
    """

    entityType = IResource
    server: Any = None
    isLeaf: bool | int = False
    maxRequestBodySize: int | None = None
    streamRequestBody = False

    def __init__(self) -> None:
        self.children: dict[bytes, Any] = {}

    def listStaticNames(self) -> list[bytes]:
        """Return the names of the static children."""
        return list(self.children.keys())

    def listStaticEntities(self) -> list[tuple[bytes, Any]]:
        """Return the (name, child) pairs of the static children."""
        return list(self.children.items())

    def listNames(self) -> list[bytes]:
        """Return the names of all children, static and dynamic."""
        return self.listStaticNames() + self.listDynamicNames()

    def listEntities(self) -> list[tuple[bytes, Any]]:
        """Return the (name, child) pairs of all children."""
        return self.listStaticEntities() + self.listDynamicEntities()

    def listDynamicNames(self) -> list[bytes]:
        """Return the names of dynamic children (none by default)."""
        return []

    def listDynamicEntities(self, request: Any = None) -> list[tuple[bytes, Any]]:
        """Return the (name, child) pairs of dynamic children (none by default)."""
        return []

    def getStaticEntity(self, name: bytes) -> Any:
        """Return the static child called name, or None."""
        return self.children.get(name)

    def getDynamicEntity(self, name: bytes, request: Any) -> Any:
        """Return getChild(name, request) if name is not a static child."""
        if name not in self.children:
            return self.getChild(name, request)
        return None

    def delEntity(self, name: bytes) -> None:
        """Remove the static child called name."""
        del self.children[name]

    def reallyPutEntity(self, name: bytes, entity: Any) -> None:
        """Set a static child without putChild's checks."""
        self.children[name] = entity

    def getChild(self, path: bytes, request: Any) -> Any:
        """
        Return a child made for path (override for dynamic children);
        by default a NoResource (404).
        """
        return NoResource()

    def getChildWithDefault(self, path: bytes, request: Any) -> Any:
        """Return the static child path, else getChild(path, request)."""
        children = self.children
        if path in children:
            return children[path]
        return self.getChild(path, request)

    def putChild(self, path: bytes, child: Any) -> None:
        """
        Make child the resource at path, one segment (b"" is the resource
        reached with a trailing slash).

        :raises TypeError: if path is not bytes.
        """
        if not isinstance(path, bytes):
            raise TypeError("Path segment must be bytes, but %r is %s" % (path, type(path)))
        self.children[path] = child
        child.server = self.server

    def render(self, request: Any) -> Any:
        """
        Answer request with its ``render_<METHOD>`` method.

        :raises UnsupportedMethod: when there is none; its allowedMethods
            are ``self.allowedMethods`` if set, else the render_ methods.
        """
        name = _RENDER_NAMES.get(request.method)
        if name is None:
            name = "render_" + request.method.decode("ascii", "replace")
        method = getattr(self, name, None)
        if method is None:
            try:
                allowed = self.allowedMethods  # type: ignore[attr-defined]
            except AttributeError:
                allowed = _allowedMethods(self)
            raise UnsupportedMethod(allowed)
        return method(request)

    def render_HEAD(self, request: Any) -> Any:
        """Answer HEAD as GET (the body is not sent)."""
        return self.render_GET(request)  # type: ignore[attr-defined]


class ErrorPage(Resource):
    """
    A resource answering every request with one status and a short page.

    :param status: the status code.
    :param brief: the title; :param detail: a sentence (both are escaped).
    """

    template = """
<html>
  <head><title>%(code)s - %(brief)s</title></head>
  <body>
    <h1>%(brief)s</h1>
    <p>%(detail)s</p>
  </body>
</html>
"""

    def __init__(self, status: int, brief: str, detail: str) -> None:
        Resource.__init__(self)
        self.code = status
        self.brief = brief
        self.detail = detail

    def render(self, request: Any) -> bytes:
        """Set the status and return the page."""
        request.setResponseCode(self.code)
        request.setHeader(b"content-type", b"text/html; charset=utf-8")
        page = self.template % {
            "code": self.code,
            "brief": html.escape(str(self.brief)),
            "detail": html.escape(str(self.detail)),
        }
        return page.encode("utf-8")

    def getChild(self, chnam: bytes, request: Any) -> Any:
        """Every child is this page too."""
        return self


class NoResource(ErrorPage):
    """The 404 page."""

    def __init__(self, message: str = "Sorry. No luck finding that resource.") -> None:
        ErrorPage.__init__(self, NOT_FOUND, "No Such Resource", message)


class ForbiddenResource(ErrorPage):
    """The 403 page."""

    def __init__(self, message: str = "Sorry, resource is forbidden.") -> None:
        ErrorPage.__init__(self, FORBIDDEN, "Forbidden Resource", message)


@implementer(IResource, _IEncodingResource)
class EncodingResourceWrapper:
    """
    A resource whose responses the first willing encoder encodes (its
    children are not wrapped).

    :param original: the resource wrapped.
    :param encoders: _IRequestEncoderFactory providers, in order of preference.
    """

    def __init__(self, original: Any, encoders: list[Any]) -> None:
        self.original = original
        self._encoders = encoders

    @property
    def isLeaf(self) -> Any:
        """The wrapped resource's isLeaf."""
        return self.original.isLeaf

    def __getattr__(self, name: str) -> Any:
        # The rest of the wrapped resource (maxRequestBodySize, ...).
        if name == "original":
            raise AttributeError(name)
        return getattr(self.original, name)

    def getChildWithDefault(self, name: bytes, request: Any) -> Any:
        """The wrapped resource's child."""
        return self.original.getChildWithDefault(name, request)

    def putChild(self, path: bytes, child: Any) -> None:
        """Put a child in the wrapped resource."""
        self.original.putChild(path, child)

    def render(self, request: Any) -> Any:
        """Render the wrapped resource."""
        return self.original.render(request)

    def getEncoder(self, request: Any) -> Any:
        """Return the first encoder willing to encode request's response, or None."""
        for factory in self._encoders:
            encoder = factory.encoderForRequest(request)
            if encoder is not None:
                return encoder
        return None
