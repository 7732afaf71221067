"""
The agents that wrap an agent, with twisted.web.client's names:
RedirectAgent and BrowserLikeRedirectAgent follow redirects,
ContentDecoderAgent with GzipDecoder decodes gzip bodies, CookieAgent
keeps cookies in a stdlib CookieJar; protocols.web.client gives them.

Each takes any IAgent and is one itself, so they stack:
``ContentDecoderAgent(RedirectAgent(Agent(reactor)), [(b"gzip", GzipDecoder)])``.
"""

from __future__ import annotations

import zlib
from typing import TYPE_CHECKING, Any
from urllib import parse

from zope.interface import implementer

from protocols.protocol import Protocol
from protocols.web import error
from protocols.web._headers import Headers
from protocols.web._newclient import PotentialDataLoss, ResponseDone, ResponseFailed
from protocols.web._readbody import readBody
from protocols.web._uri import URI
from protocols.web.iweb import UNKNOWN_LENGTH, IAgent, IResponse
from reactor.defer import Deferred
from reactor.failure import Failure

if TYPE_CHECKING:
    import email.message

# email and urllib.request (CookieAgent's) are imported when a CookieAgent
# is first used: a web server or proxy that makes none does not carry their
# objects, which every full collection of the garbage collector walks.

__all__ = [
    "RedirectAgent",
    "BrowserLikeRedirectAgent",
    "ContentDecoderAgent",
    "GzipDecoder",
    "CookieAgent",
]


_SENSITIVE_HEADERS = (b"authorization", b"cookie", b"cookie2", b"proxy-authorization",
                      b"www-authenticate")  # fmt: skip


def _discardBody(response: Any) -> None:
    # A redirect's body is read and dropped, so its connection goes back
    # to the pool.
    readBody(response).addErrback(lambda reason: None)


@implementer(IAgent)
class RedirectAgent:
    """
    Follow redirects: 301, 302, 307 and 308 for GET and HEAD (others fail
    with ResponseFailed holding a PageRedirect), 303 with a GET for any
    method.  After redirectLimit, ResponseFailed holding an
    InfiniteRedirection.  Each response after a redirect has the one
    before as previousResponse (whose body was read and dropped).
    Credentials and cookies are not sent on to another origin.
    """

    _redirectResponses: tuple[int, ...] = (301, 302, 307, 308)
    _seeOtherResponses: tuple[int, ...] = (303,)

    def __init__(self, agent: Any, redirectLimit: int = 20) -> None:
        self._agent = agent
        self._redirectLimit = redirectLimit

    def request(
        self, method: bytes, uri: bytes, headers: Headers | None = None, bodyProducer: Any = None
    ) -> Deferred[Any]:
        """Request uri, following redirects; see IAgent.request."""
        deferred = self._agent.request(method, uri, headers, bodyProducer)
        return deferred.addCallback(self._handleResponse, method, uri, headers, 0)

    def _handleResponse(
        self, response: Any, method: bytes, uri: bytes, headers: Any, redirectCount: int
    ) -> Any:
        if response.code in self._redirectResponses:
            if method not in (b"GET", b"HEAD"):
                location = (response.headers.getRawHeaders(b"location") or [None])[0]
                err = error.PageRedirect(response.code, location=location)
                raise ResponseFailed([Failure(err)], response)
            return self._handleRedirect(response, method, uri, headers, redirectCount)
        if response.code in self._seeOtherResponses:
            return self._handleRedirect(response, b"GET", uri, headers, redirectCount)
        return response

    def _handleRedirect(
        self, response: Any, method: bytes, uri: bytes, headers: Any, redirectCount: int
    ) -> Any:
        locations = response.headers.getRawHeaders(b"location", [])
        if not locations:
            err = error.RedirectWithNoLocation(response.code, b"No location header field", uri)
            raise ResponseFailed([Failure(err)], response)
        location = parse.urljoin(uri, locations[0])
        if redirectCount >= self._redirectLimit:
            loop = error.InfiniteRedirection(
                response.code, b"Infinite redirection detected", location=location
            )
            raise ResponseFailed([Failure(loop)], response)
        _discardBody(response)
        old, new = URI.fromBytes(uri), URI.fromBytes(location)
        if headers is not None and (old.scheme, old.host, old.port) != (
            new.scheme,
            new.host,
            new.port,
        ):
            headers = headers.copy()
            for name in _SENSITIVE_HEADERS:
                headers.removeHeader(name)

        def setPrevious(newResponse: Any) -> Any:
            newResponse.setPreviousResponse(response)
            return newResponse

        deferred = self._agent.request(method, location, headers)
        deferred.addCallback(setPrevious)
        return deferred.addCallback(
            self._handleResponse, method, location, headers, redirectCount + 1
        )


class BrowserLikeRedirectAgent(RedirectAgent):
    """A RedirectAgent that, as browsers do, follows 301 and 302 with a GET for any method."""

    _redirectResponses = (307, 308)
    _seeOtherResponses = (301, 302, 303)


class _GzipProtocol(Protocol):
    transport: Any

    def __init__(self, protocol: Any, response: Any) -> None:
        self._protocol = protocol
        self._response = response
        self._decompressor = zlib.decompressobj(16 + zlib.MAX_WBITS)

    def makeConnection(self, transport: Any) -> None:
        self.transport = transport
        self._protocol.makeConnection(transport)

    def dataReceived(self, data: bytes) -> None:
        try:
            decoded = self._decompressor.decompress(data)
        except zlib.error:
            self.transport.stopProducing()
            self._failed = Failure()
            return
        if decoded:
            self._protocol.dataReceived(decoded)

    def connectionLost(self, reason: Failure = None) -> None:  # type: ignore[assignment]
        failed = getattr(self, "_failed", None)
        if failed is not None:
            self._protocol.connectionLost(Failure(ResponseFailed([reason, failed], self._response)))
            return
        if reason.check(ResponseDone, PotentialDataLoss):
            try:
                rest = self._decompressor.flush()
                if not self._decompressor.eof:
                    # zlib takes a cut stream without a word: beyond Twisted,
                    # the body fails (test_badGzipFailsTheBody).
                    raise zlib.error("the gzip stream was cut short")
            except zlib.error:
                self._protocol.connectionLost(Failure(ResponseFailed([Failure()], self._response)))
                return
            if rest:
                self._protocol.dataReceived(rest)
        self._protocol.connectionLost(reason)


@implementer(IResponse)
class GzipDecoder:
    """A Response whose gzip-encoded body is delivered decoded (length unknown)."""

    def __init__(self, response: Any) -> None:
        self.original = response
        self.length = UNKNOWN_LENGTH

    def __getattr__(self, name: str) -> Any:
        return getattr(self.original, name)

    def deliverBody(self, protocol: Any) -> None:
        """Deliver the decoded body to protocol."""
        self.original.deliverBody(_GzipProtocol(protocol, self.original))


@implementer(IAgent)
class ContentDecoderAgent:
    """
    Ask for encoded bodies (Accept-Encoding) and decode them.

    :param decoders: (name, decoder) pairs, most preferred first:
        ``[(b"gzip", GzipDecoder)]``.
    """

    def __init__(self, agent: Any, decoders: list[tuple[bytes, Any]]) -> None:
        self._agent = agent
        self._decoders = dict(decoders)
        self._supported = b",".join(name for name, _ in decoders)

    def request(
        self, method: bytes, uri: bytes, headers: Headers | None = None, bodyProducer: Any = None
    ) -> Deferred[Any]:
        """Request uri with Accept-Encoding; the Response's body comes decoded."""
        headers = Headers() if headers is None else headers.copy()
        headers.addRawHeader(b"accept-encoding", self._supported)
        return self._agent.request(method, uri, headers, bodyProducer).addCallback(self._decode)

    def _decode(self, response: Any) -> Any:
        values = response.headers.getRawHeaders(b"content-encoding", [])
        encodings = [e.strip().lower() for value in values for e in value.split(b",") if e.strip()]
        while encodings and encodings[-1] in self._decoders:
            response = self._decoders[encodings.pop()](response)
        if encodings:
            response.headers.setRawHeaders(b"content-encoding", [b",".join(encodings)])
        else:
            response.headers.removeHeader(b"content-encoding")
        return response


class _CookieResponse:
    """What CookieJar.extract_cookies reads of a response: its headers, by info()."""

    def __init__(self, response: Any) -> None:
        import email.message

        self._message = email.message.Message()
        for name, values in response.headers.getAllRawHeaders():
            for value in values:
                self._message[name.decode("latin-1")] = value.decode("latin-1")

    def info(self) -> email.message.Message:
        return self._message


@implementer(IAgent)
class CookieAgent:
    """
    Send the cookies of cookieJar (an http.cookiejar.CookieJar) that match
    each request, and keep those each response sets, as Twisted's does.
    A Cookie header given with the request is sent instead of the jar's.

    :ivar cookieJar: the jar, read and changed by every request.
    """

    def __init__(self, agent: Any, cookieJar: Any) -> None:
        self._agent = agent
        self.cookieJar = cookieJar

    def request(
        self, method: bytes, uri: bytes, headers: Headers | None = None, bodyProducer: Any = None
    ) -> Deferred[Any]:
        """Request uri with the jar's cookies; see IAgent.request."""
        import urllib.request

        headers = Headers() if headers is None else headers
        asked = urllib.request.Request(uri.decode("ascii"), method=method.decode("ascii"))
        if not headers.hasHeader(b"cookie"):
            self.cookieJar.add_cookie_header(asked)
            cookie = asked.get_header("Cookie")
            if cookie is not None:
                headers = headers.copy()
                headers.addRawHeader(b"cookie", cookie.encode("latin-1"))

        def extract(response: Any) -> Any:
            self.cookieJar.extract_cookies(_CookieResponse(response), asked)
            return response

        return self._agent.request(method, uri, headers, bodyProducer).addCallback(extract)
