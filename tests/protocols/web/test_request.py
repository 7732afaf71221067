"""
The Request API through an in-memory transport: what a resource reads of a
request and how it writes the response.
"""

import base64
import gzip

import pytest
from zope.interface import alsoProvides, implementer

from protocols.web import http, iweb, resource, server
from reactor.address import IPv4Address, UNIXAddress
from reactor.interfaces import IPullProducer, IPushProducer, ISSLTransport
from tests.protocols.web.webhelpers import Connection, Held, makeSite


class Spy(resource.Resource):
    """Calls a test's function with the request and answers what it returns."""

    isLeaf = True

    def __init__(self, look):
        resource.Resource.__init__(self)
        self.look = look

    def render(self, request):
        return self.look(request)


def served(look, request_=b"GET / HTTP/1.1\r\nHost: example.com\r\n\r\n", **kwargs):
    """(connection, the response) for one request answered by look(request)."""
    connection = Connection(makeSite(Spy(look), **kwargs))
    connection.send(request_)
    return connection, connection.response(method=request_.split(b" ", 1)[0].decode())


def test_requestAttributes():
    seen = {}

    def look(request):
        seen.update(
            method=request.method,
            uri=request.uri,
            path=request.path,
            args=request.args,
            clientproto=request.clientproto,
            prepath=request.prepath,
            postpath=request.postpath,
        )
        return b""

    root = resource.Resource()
    middle = resource.Resource()
    root.putChild(b"a", middle)
    middle.putChild(b"b c", Spy(look))
    connection = Connection(makeSite(root))
    connection.send(b"GET /a/b%20c/d/e?x=1&y=2&x=3&empty= HTTP/1.1\r\nHost: h\r\n\r\n")
    connection.response()
    assert seen == {
        "method": b"GET",
        "uri": b"/a/b%20c/d/e?x=1&y=2&x=3&empty=",
        "path": b"/a/b%20c/d/e",
        "args": {b"x": [b"1", b"3"], b"y": [b"2"], b"empty": [b""]},
        "clientproto": b"HTTP/1.1",
        "prepath": [b"a", b"b c"],
        "postpath": [b"d", b"e"],
    }


def test_requestHeaders():
    seen = []

    def look(request):
        headers = request.requestHeaders
        seen.append(headers.getRawHeaders(b"x-thing"))
        seen.append(request.getHeader(b"X-THING"))
        seen.append(request.getHeader("x-thing"))
        seen.append(request.getHeader(b"absent"))
        seen.append(request.getAllHeaders()[b"x-thing"])
        return b""

    served(look, b"GET / HTTP/1.1\r\nHost: h\r\nX-Thing: one\r\nx-thing: two\r\n\r\n")
    assert seen == [[b"one", b"two"], b"two", "two", None, b"two"]


def test_setHeaderAndResponseCode():
    def look(request):
        request.setResponseCode(201)
        request.setHeader(b"X-Made", b"yes")
        request.responseHeaders.addRawHeader(b"X-List", b"1")
        request.responseHeaders.addRawHeader(b"X-List", b"2")
        return b"made"

    _, response = served(look)
    assert (response.status, response.reason) == (201, "Created")
    assert response.header("X-Made") == "yes"
    assert response.headers.get_all("X-List") == ["1", "2"]


def test_setHeaderCanonicalizesNamesAndNeutralizesLineBreaks():
    # setHeader replaces what was set under any spelling, takes str or
    # bytes, turns CR and LF in a value into spaces (no header injection),
    # and refuses a name that is not a token.
    refused = []

    def look(request):
        request.setHeader(b"x-made", b"first")
        request.setHeader("X-MADE", "a\r\nInjected: yes")
        try:
            request.setHeader(b"Bad Name", b"x")
        except http.InvalidHeaderName as error:
            refused.append(error)
        return b"made"

    connection, response = served(look)
    assert response.headers.get_all("X-Made") == ["a Injected: yes"]
    assert response.header("Injected") is None
    assert len(refused) == 1


def test_customReasonPhrase():
    def look(request):
        request.setResponseCode(299, b"Quite Fine")
        return b""

    _, response = served(look)
    assert (response.status, response.reason) == (299, "Quite Fine")


def test_headerValuesCannotInjectHeaders():
    def look(request):
        request.setHeader(b"X-Evil", b"a\r\nSet-Cookie: stolen=1")
        return b""

    _, response = served(look)
    assert response.header("X-Evil") == "a Set-Cookie: stolen=1"
    assert response.header("Set-Cookie") is None


def test_redirect():
    def look(request):
        request.redirect(b"/elsewhere")
        request.finish()
        return server.NOT_DONE_YET

    _, response = served(look)
    assert (response.status, response.header("Location")) == (302, "/elsewhere")


def test_defaultContentTypeAndOverride():
    _, response = served(lambda request: b"x")
    assert response.header("Content-Type") == "text/html"

    def look(request):
        request.setHeader(b"Content-Type", b"application/json")
        return b"{}"

    _, response = served(look)
    assert response.header("Content-Type") == "application/json"


def test_notifyFinishFiresWhenFinished():
    held = Held()
    connection = Connection(makeSite(held))
    connection.get()
    request = held.waiting[0]
    outcomes = []
    request.notifyFinish().addBoth(outcomes.append)
    assert outcomes == []
    request.finish()
    assert outcomes == [None]
    late = []
    request.notifyFinish().addBoth(late.append)
    assert late == [None]


def test_notifyFinishFailsWhenTheClientGoes():
    held = Held()
    connection = Connection(makeSite(held))
    connection.get()
    request = held.waiting[0]
    outcomes = []
    request.notifyFinish().addErrback(outcomes.append)
    connection.channel.connectionLost(None)
    assert len(outcomes) == 1
    with pytest.raises(RuntimeError):
        request.finish()
    request.write(b"ignored after the loss")


def test_writeAfterFinishRaises():
    held = Held()
    connection = Connection(makeSite(held))
    connection.get()
    request = held.waiting[0]
    request.finish()
    with pytest.raises(RuntimeError):
        request.write(b"late")


def test_finishTwiceWarns():
    held = Held()
    connection = Connection(makeSite(held))
    connection.get()
    request = held.waiting[0]
    request.finish()
    with pytest.warns(UserWarning, match="finish called twice"):
        request.finish()


@implementer(IPushProducer)
class PushProducer:
    """Writes a chunk each time the test says, and records pauses."""

    def __init__(self, request):
        self.request = request
        self.events = []

    def pauseProducing(self):
        self.events.append("pause")

    def resumeProducing(self):
        self.events.append("resume")

    def stopProducing(self):
        self.events.append("stop")


def test_registerPushProducerGoesToTheTransport():
    held = Held()
    connection = Connection(makeSite(held))
    connection.get()
    request = held.waiting[0]
    producer = PushProducer(request)
    request.registerProducer(producer, True)
    assert connection.transport.producer is producer
    assert connection.transport.streaming is True
    with pytest.raises(ValueError):
        request.registerProducer(PushProducer(request), True)
    request.write(b"data")
    request.unregisterProducer()
    assert connection.transport.producer is None
    request.finish()
    assert connection.response().body == b"data"


def test_pullProducerIsAskedUntilDone():
    # Backpressure through a real write buffer: the in-memory pump asks a
    # pull producer for more each time its buffer is empty.
    from reactor.testing import connectedPair

    chunks = [b"a" * 1000, b"b" * 1000, b"c" * 1000]

    @implementer(IPullProducer)
    class Pull:
        def __init__(self, request):
            self.request = request

        def resumeProducing(self):
            if chunks:
                self.request.write(chunks.pop(0))
            else:
                self.request.unregisterProducer()
                self.request.finish()

        def stopProducing(self):
            pass

    class Streamed(resource.Resource):
        isLeaf = True

        def render_GET(self, request):
            request.setHeader(b"Content-Length", b"3000")
            request.registerProducer(Pull(request), False)
            return server.NOT_DONE_YET

    from reactor.testing import AccumulatingProtocol

    site = makeSite(Streamed())
    channel = site.buildProtocol(None)
    client = AccumulatingProtocol()
    pump = connectedPair(channel, client)
    client.transport.write(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    pump.flush()
    assert client.data.endswith(b"a" * 1000 + b"b" * 1000 + b"c" * 1000)
    assert chunks == []


def test_getClientAddressAndHost():
    seen = []

    def look(request):
        seen.append((request.getClientAddress(), request.getHost(), request.client))
        return b""

    served(look)
    [(client, host, attribute)] = seen
    assert client == IPv4Address("TCP", "192.0.2.7", 40000)
    assert attribute is client
    assert host == IPv4Address("TCP", "10.0.0.1", 12345)


def test_unixPeerIsAnAddressToo():
    seen = []

    def look(request):
        seen.append(request.getClientAddress())
        return b""

    connection = Connection(makeSite(Spy(look)), peer=UNIXAddress(b"/run/x.sock"))
    connection.get()
    assert seen == [UNIXAddress(b"/run/x.sock")]


def test_isSecure():
    seen = []

    def look(request):
        seen.append(request.isSecure())
        return b""

    served(look)
    connection = Connection(makeSite(Spy(look)))
    alsoProvides(connection.transport, ISSLTransport)
    connection.get()
    assert seen == [False, True]


def test_setHostChangesHostAndSecurity():
    seen = []

    def look(request):
        request.setHost(b"www.example.com", 443, ssl=True)
        seen.append((request.isSecure(), request.getHeader(b"Host"), request.getHost().port))
        seen.append(request.prePathURL())
        return b""

    served(look)
    assert seen == [(True, b"www.example.com", 443), b"https://www.example.com/"]


def test_getRequestHostname():
    seen = []

    def look(request):
        seen.append(request.getRequestHostname())
        return b""

    served(look, b"GET / HTTP/1.1\r\nHost: example.com:8080\r\n\r\n")
    served(look, b"GET / HTTP/1.1\r\nHost: [::1]:8080\r\n\r\n")
    served(look, b"GET / HTTP/1.0\r\n\r\n")
    assert seen == [b"example.com", b"::1", b"10.0.0.1"]


def test_cookiesIn():
    seen = []

    def look(request):
        seen.append(request.getCookie(b"a"))
        seen.append(request.getCookie(b"b"))
        seen.append(request.getCookie(b"missing"))
        seen.append(request.received_cookies)
        return b""

    served(look, b"GET / HTTP/1.1\r\nHost: h\r\nCookie: a=1; b=two=2\r\nCookie: junk\r\n\r\n")
    assert seen == [b"1", b"two=2", None, {b"a": b"1", b"b": b"two=2"}]


def test_addCookie():
    def look(request):
        request.addCookie(b"plain", b"v")
        request.addCookie(
            "full",
            "v",
            expires="Wed, 21 Oct 2037 07:28:00 GMT",
            domain="example.com",
            path="/x",
            max_age=60,
            secure=True,
            httpOnly=True,
            sameSite="Strict",
        )
        request.addCookie(b"evil", b"v; Domain=attacker\r\nX: y")
        return b""

    _, response = served(look)
    assert response.headers.get_all("Set-Cookie") == [
        "plain=v",
        "full=v; Expires=Wed, 21 Oct 2037 07:28:00 GMT; Domain=example.com; Path=/x; "
        "Max-Age=60; Secure; HttpOnly; SameSite=strict",
        "evil=v  Domain=attacker X: y",
    ]


def test_addCookieRefusesBadSameSite():
    held = Held()
    connection = Connection(makeSite(held))
    connection.get()
    request = held.waiting[0]
    with pytest.raises(ValueError):
        request.addCookie(b"a", b"b", sameSite="sometimes")
    with pytest.raises(ValueError):
        request.addCookie(b"a", b"b", sameSite="none")
    request.addCookie(b"a", b"b", sameSite="none", secure=True)


def test_basicAuthorization():
    seen = []

    def look(request):
        seen.append((request.getUser(), request.getPassword()))
        return b""

    credentials = base64.b64encode(b"alice:s3:cret")
    served(look, b"GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Basic %s\r\n\r\n" % (credentials,))
    served(look, b"GET / HTTP/1.1\r\nHost: h\r\nAuthorization: Basic !!!\r\n\r\n")
    served(look, b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    assert seen == [(b"alice", b"s3:cret"), (b"", b""), (b"", b"")]


def test_setLastModifiedAnswersNotModified():
    def look(request):
        if request.setLastModified(784111777) is http.CACHED:
            return b""
        return b"fresh"

    _, response = served(look)
    assert response.status == 200
    assert response.header("Last-Modified") == "Sun, 06 Nov 1994 08:49:37 GMT"
    _, response = served(
        look,
        b"GET / HTTP/1.1\r\nHost: h\r\nIf-Modified-Since: Sun, 06 Nov 1994 08:49:37 GMT\r\n\r\n",
    )
    assert response.status == 304
    assert response.body == b""


def test_setETag():
    def look(request):
        if request.setETag(b'"v1"') is http.CACHED:
            return b""
        return b"body"

    _, response = served(look)
    assert (response.status, response.header("ETag")) == (200, '"v1"')
    _, response = served(look, b'GET / HTTP/1.1\r\nHost: h\r\nIf-None-Match: "v1"\r\n\r\n')
    assert response.status == 304
    connection, response = served(
        look,
        b'PUT / HTTP/1.1\r\nHost: h\r\nIf-None-Match: "v1"\r\nContent-Length: 0\r\n\r\n',
    )
    assert response.status == 412


def test_urlencodedFormGoesIntoArgs():
    seen = []

    def look(request):
        seen.append((request.args, request.content.read()))
        return b""

    body = b"name=J%C3%B6rg&x=1+2"
    served(
        look,
        b"POST /?q=s HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body),
    )
    assert seen == [({b"q": [b"s"], b"name": ["Jörg".encode()], b"x": [b"1 2"]}, body)]


def test_multipartFormGoesIntoArgs():
    seen = []

    def look(request):
        seen.append(request.args)
        return b""

    body = (
        b'--XyZ\r\nContent-Disposition: form-data; name="field"\r\n\r\nvalue\r\n'
        b'--XyZ\r\nContent-Disposition: form-data; name="file"; filename="a.txt"\r\n'
        b"Content-Type: text/plain\r\n\r\nfile data\r\n--XyZ--\r\n"
    )
    served(
        look,
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Type: multipart/form-data; boundary=XyZ\r\n"
        b"Content-Length: %d\r\n\r\n%s" % (len(body), body),
    )
    assert seen == [{b"field": [b"value"], b"file": [b"file data"]}]


def test_formParsingCanBeTurnedOff():
    seen = []

    def look(request):
        seen.append(request.args)
        return b""

    body = b"a=1"
    served(
        look,
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Type: application/x-www-form-urlencoded\r\n"
        b"Content-Length: 3\r\n\r\n%s" % (body,),
        parsePOSTFormSubmission=False,
    )
    assert seen == [{}]


def test_contentInMemoryOrInAFile():
    seen = []

    def look(request):
        seen.append((type(request.content).__name__ == "BytesIO", request.content.read()))
        return b""

    small = b"s" * 100
    large = b"L" * 2000
    for body in (small, large):
        served(
            look,
            b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body),
            maxMemoryBodySize=1000,
        )
    assert seen == [(True, small), (False, large)]


def test_requestProvidesIRequest():
    held = Held()
    connection = Connection(makeSite(held))
    connection.get()
    request = held.waiting[0]
    assert iweb.IRequest.providedBy(request)
    request.finish()


def test_gzipEncoding():
    class Big(resource.Resource):
        isLeaf = True

        def render_GET(self, request):
            return b"compress me " * 100

    root = resource.EncodingResourceWrapper(Big(), [server.GzipEncoderFactory()])
    connection = Connection(makeSite(root))
    connection.get(headers=b"Accept-Encoding: gzip, deflate\r\n")
    response = connection.response()
    assert response.header("Content-Encoding") == "gzip"
    assert gzip.decompress(response.body) == b"compress me " * 100
    connection.get()
    response = connection.response()
    assert response.header("Content-Encoding") is None
    assert response.body == b"compress me " * 100


def test_aRequestDrivenByHand():
    # As Twisted's tests do: a Request on a channel, its head given by
    # requestReceived alone.
    from reactor.testing import StringTransport

    seen = []

    class Recording(http.Request):
        def process(self):
            seen.append((self.method, self.path, self.args, self.clientproto))
            self.finish()

    channel = http.HTTPChannel()
    channel.makeConnection(StringTransport())
    channel.reactor = makeSite(Held()).reactor
    request = Recording(channel)
    request.gotLength(0)
    channel.requests.append(request)
    request.requestReceived(b"GET", b"/x?y=1", b"HTTP/1.0")
    assert seen == [(b"GET", b"/x", {b"y": [b"1"]}, b"HTTP/1.0")]


def test_getClientIP():
    seen = []

    def look(request):
        seen.append(request.getClientIP())
        return b""

    served(look)
    connection = Connection(makeSite(Spy(look)), peer=UNIXAddress(b"/run/x.sock"))
    connection.get()
    assert seen == ["192.0.2.7", None]


def test_logFileCanBeSet():
    import io

    site = makeSite(Held())
    with pytest.raises(AttributeError):
        site.logFile  # noqa: B018  (the property raises)
    site.logFile = io.StringIO()
    held = site.resource
    connection = Connection(site)
    connection.get()
    held.waiting[0].finish()
    assert site.logFile.getvalue().endswith('"GET / HTTP/1.1" 200 - "-" "-"\n')


def test_aResponseSetsNoAttributeTheRequestDidNotHaveWhenRendered():
    """
    The response's state (code, reason phrase, what was written, finished)
    is set when the request is made, not first when the response is: a
    request answered many requests later (a proxy's, whose answer comes
    turns after it) would otherwise add names CPython 3.11 no longer takes
    into its class's shared key table (see Request.__init__).
    """
    kept = []

    def look(request):
        kept.append((request, set(vars(request))))
        return server.NOT_DONE_YET

    connection = Connection(makeSite(Spy(look)))
    connection.send(b"GET / HTTP/1.1\r\nHost: h\r\n\r\n")
    request, rendered = kept[0]
    assert {"code", "code_message", "startedWriting", "sentLength", "finished"} <= rendered
    request.setResponseCode(404, b"Not Here")
    request.setHeader(b"Content-Length", b"5")
    request.write(b"gone!")
    request.finish()
    assert set(vars(request)) - rendered == set()
    response = connection.response()
    assert (response.status, response.reason, response.body) == (404, "Not Here", b"gone!")
