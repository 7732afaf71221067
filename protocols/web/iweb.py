"""
The interfaces of protocols.web, with twisted.web.iweb's names.

IRequest is what a resource may use of a request; IAccessLogFormatter is
a formatter of access log lines; the client's interfaces (IAgent,
IResponse, IBodyProducer, IPolicyForHTTPS, ...) are here too, as in
Twisted, for protocols.web.client.  Twisted's template and credential
interfaces are not: see doc/porting.md.
"""

from __future__ import annotations

from zope.interface import Attribute, Interface

from protocols.web._encoding import _IRequestEncoder, _IRequestEncoderFactory
from reactor.interfaces import IPushProducer

__all__ = [
    "IRequest",
    "IAccessLogFormatter",
    "INonQueuedRequestFactory",
    "IBodyProducer",
    "IResponse",
    "IAgent",
    "IAgentEndpointFactory",
    "IClientRequest",
    "IPolicyForHTTPS",
    "UNKNOWN_LENGTH",
    "_IRequestEncoder",
    "_IRequestEncoderFactory",
]


class IRequest(Interface):
    """An HTTP request, as a resource sees it, and the response being made."""

    method = Attribute("The method, bytes: b'GET'.")
    uri = Attribute("The request target, still encoded, with its query: b'/a%20b?x=1'.")
    path = Attribute("The uri without its query: b'/a%20b'.")
    args = Attribute("The query's (and a POSTed form's) fields: {b'x': [b'1']}.")
    prepath = Attribute("The path segments already traversed, decoded.")
    postpath = Attribute("The path segments still to traverse, decoded.")
    requestHeaders = Attribute("The request's Headers.")
    content = Attribute("A file holding the request body.")
    responseHeaders = Attribute("The response's Headers.")

    def getHeader(key):
        """Return the last value of request header key, or None."""

    def getCookie(key):
        """Return the value of the cookie key the client sent, or None."""

    def getAllHeaders():
        """Return {lower-case name: last value} of the request headers."""

    def getRequestHostname():
        """Return the host name the client asked for, bytes."""

    def getHost():
        """Return the address the client connected to."""

    def getClientAddress():
        """Return the client's address (honouring trusted proxies' headers)."""

    def getClientIP():
        """Return the client's IP address as a str, or None (deprecated in Twisted)."""

    def getUser():
        """Return the user of a Basic Authorization header, or b''."""

    def getPassword():
        """Return the password of a Basic Authorization header, or b''."""

    def isSecure():
        """Return whether the request came over TLS."""

    def getSession(sessionInterface=None):
        """Return the client's session, making one (and its cookie) if needed."""

    def prePathURL():
        """Return the absolute URL of the resource found so far, bytes."""

    def rememberRootURL():
        """Remember the URL of the resource found so far as the root."""

    def getRootURL():
        """Return what rememberRootURL remembered."""

    def finish():
        """End the response."""

    def write(data):
        """Write body bytes (the first write sends the headers with them)."""

    def addCookie(
        k, v, expires=None, domain=None, path=None, max_age=None, comment=None, secure=None
    ):
        """Set a cookie in the response."""

    def setResponseCode(code, message=None):
        """Set the response code (and reason phrase)."""

    def setHeader(k, v):
        """Set a response header, replacing its values."""

    def redirect(url):
        """Answer 302 with Location url."""

    def setLastModified(when):
        """Set Last-Modified; return CACHED if the client's copy is current."""

    def setETag(etag):
        """Set the ETag; return CACHED if the client's copy is current."""

    def setHost(host, port, ssl=0):
        """Say the request came for host:port (behind a reverse proxy)."""


class IAccessLogFormatter(Interface):
    """A callable formatting one access log line."""

    def __call__(timestamp, request):
        """
        Return the line (a str, without newline) for request.

        :param timestamp: the time, formatted as the log wants it.
        """


class INonQueuedRequestFactory(Interface):
    """A factory of requests (HTTPChannel.requestFactory)."""

    def __call__(channel):
        """Return a new request for channel."""


class IBodyProducer(IPushProducer):
    """The body of a client request, produced to a consumer."""

    length = Attribute("The body's length in bytes, or UNKNOWN_LENGTH.")

    def startProducing(consumer):
        """Write the body to consumer; return a Deferred firing when done."""

    def stopProducing():
        """Stop for good: the Deferred of startProducing must not fire."""


class IResponse(Interface):
    """A response received by an HTTP client."""

    version = Attribute("The version, a tuple: (b'HTTP', 1, 1).")
    code = Attribute("The status code, an int.")
    phrase = Attribute("The reason phrase, bytes.")
    headers = Attribute("The response's Headers.")
    length = Attribute("The body's length, or UNKNOWN_LENGTH.")
    request = Attribute("The IClientRequest this answers.")
    previousResponse = Attribute("The response before a redirect, or None.")

    def deliverBody(protocol):
        """Deliver the body to protocol's dataReceived, then connectionLost."""

    def setPreviousResponse(response):
        """Set previousResponse (once)."""


class IAgent(Interface):
    """A maker of HTTP requests."""

    def request(method, uri, headers=None, bodyProducer=None):
        """Send a request; return a Deferred firing with an IResponse."""


class IAgentEndpointFactory(Interface):
    """What an Agent connects with."""

    def endpointForURI(uri):
        """Return the client endpoint to reach uri."""


class IClientRequest(Interface):
    """A request as sent by an HTTP client."""

    method = Attribute("The method, bytes.")
    absoluteURI = Attribute("The absolute URI, bytes, or None.")
    headers = Attribute("The Headers sent.")


class IPolicyForHTTPS(Interface):
    """How an HTTP client makes its TLS connections."""

    def creatorForNetloc(hostname, port):
        """Return the TLS connection creator for hostname and port."""


UNKNOWN_LENGTH = "twisted.web.iweb.UNKNOWN_LENGTH"
