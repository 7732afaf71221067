"""
The Site: sessions, trusted proxies, the access log, streamed request
bodies, and URLs.
"""

import logging

import pytest
from zope.interface import Interface, implementer

from protocols.web import error, http, resource, server
from reactor import log
from reactor.address import IPv4Address, IPv6Address, UNIXAddress
from reactor.interfaces import IConsumer
from tests.protocols.web.webhelpers import Connection, Text, makeSite


class Spy(resource.Resource):
    """Calls a test's function with the request and answers what it returns."""

    isLeaf = True

    def __init__(self, look):
        resource.Resource.__init__(self)
        self.look = look

    def render(self, request):
        return self.look(request)


# -- sessions -----------------------------------------------------------------------


def test_sessionIsKeptByItsCookie(noErrors):
    uids = []

    def look(request):
        session = request.getSession()
        uids.append(session.uid)
        assert request.getSession() is session
        return b""

    site = makeSite(Spy(look))
    connection = Connection(site)
    connection.get()
    response = connection.response()
    cookie = response.header("Set-Cookie")
    name, _, rest = cookie.partition("=")
    value = rest.split(";")[0]
    assert name == "TWISTED_SESSION"
    assert value == uids[0].decode()
    assert "HttpOnly" in cookie and "SameSite=lax" in cookie and "Path=/" in cookie
    connection.get(headers=b"Cookie: TWISTED_SESSION=%s\r\n" % (value.encode(),))
    assert connection.response().header("Set-Cookie") is None
    assert uids[1] == uids[0]
    assert list(site.sessions) == [uids[0]]


def test_sessionExpires():
    expired = []

    def look(request):
        session = request.getSession()
        session.notifyOnExpire(lambda: expired.append(session.uid))
        return b""

    site = makeSite(Spy(look))
    connection = Connection(site, peer=None)
    connection.get()
    connection.response()
    [uid] = site.sessions
    site.reactor.advance(server.Session.sessionTimeout - 1)
    assert expired == []
    site.reactor.advance(1)
    assert expired == [uid]
    assert site.sessions == {}


def test_touchPostponesExpiry():
    def look(request):
        request.getSession()
        return b""

    site = makeSite(Spy(look))
    connection = Connection(site)
    connection.get()
    cookie = connection.response().header("Set-Cookie").split(";")[0]
    site.reactor.advance(600)
    connection = Connection(site)
    connection.get(headers=b"Cookie: %s\r\n" % (cookie.encode(),))
    connection.response()
    site.reactor.advance(600)
    assert len(site.sessions) == 1
    site.reactor.advance(300)
    assert site.sessions == {}


def test_unknownSessionCookieGetsANewSession():
    def look(request):
        request.getSession()
        return b""

    site = makeSite(Spy(look))
    connection = Connection(site)
    connection.get(headers=b"Cookie: TWISTED_SESSION=forged\r\n")
    cookie = connection.response().header("Set-Cookie")
    assert "forged" not in cookie
    assert len(site.sessions) == 1


def test_sessionComponents():
    class ICounter(Interface):
        pass

    @implementer(ICounter)
    class Counter:
        count = 0

    seen = []

    def look(request):
        session = request.getSession()
        if session.getComponent(ICounter) is None:
            session.setComponent(ICounter, Counter())
        counter = request.getSession(ICounter)
        counter.count += 1
        seen.append(counter.count)
        return b""

    site = makeSite(Spy(look))
    connection = Connection(site)
    connection.get()
    cookie = connection.response().header("Set-Cookie").split(";")[0]
    connection.get(headers=b"Cookie: %s\r\n" % (cookie.encode(),))
    assert seen == [1, 2]


# -- trusted proxies ----------------------------------------------------------------------


def clientOf(site, peer, headers=b""):
    seen = []
    site.resource.look = lambda request: (
        seen.append((request.getClientAddress(), request.isSecure())) or b""
    )
    connection = Connection(site, peer=peer)
    connection.get(headers=headers)
    connection.response()
    return seen[0]


PROXY = IPv4Address("TCP", "10.0.0.5", 50000)
STRANGER = IPv4Address("TCP", "203.0.113.9", 50000)


def test_forwardedForIsIgnoredFromAnyone():
    site = makeSite(Spy(None))
    headers = b"X-Forwarded-For: 1.2.3.4\r\nX-Forwarded-Proto: https\r\n"
    assert clientOf(site, STRANGER, headers) == (STRANGER, False)


def test_forwardedForIsBelievedFromATrustedProxy():
    site = makeSite(Spy(None), trustedProxies=["10.0.0.0/8"])
    headers = b"X-Forwarded-For: 198.51.100.1\r\nX-Forwarded-Proto: https\r\n"
    assert clientOf(site, PROXY, headers) == (IPv4Address("TCP", "198.51.100.1", 0), True)


def test_forwardedForFromAStrangerWithTrustedProxiesIsIgnored():
    site = makeSite(Spy(None), trustedProxies=["10.0.0.0/8"])
    assert clientOf(site, STRANGER, b"X-Forwarded-For: 1.2.3.4\r\n") == (STRANGER, False)


def test_spoofedHopIsNotBelieved():
    # The client wrote "6.6.6.6" itself; the trusted proxy appended the
    # address it saw.  Read from the right, that address is the client.
    site = makeSite(Spy(None), trustedProxies=["10.0.0.0/8"])
    headers = b"X-Forwarded-For: 6.6.6.6, 198.51.100.1\r\n"
    assert clientOf(site, PROXY, headers)[0] == IPv4Address("TCP", "198.51.100.1", 0)


def test_chainOfTrustedProxies():
    site = makeSite(Spy(None), trustedProxies=["10.0.0.0/8", "192.168.0.0/16"])
    headers = b"X-Forwarded-For: 6.6.6.6, 198.51.100.1, 192.168.1.1\r\n"
    assert clientOf(site, PROXY, headers)[0] == IPv4Address("TCP", "198.51.100.1", 0)


def test_forwardedHeader():
    site = makeSite(Spy(None), trustedProxies=["10.0.0.5"])
    headers = b'Forwarded: for=6.6.6.6, for="[2001:db8::1]:4711";proto=https\r\n'
    assert clientOf(site, PROXY, headers) == (IPv6Address("TCP", "2001:db8::1", 4711), True)


def test_forwardedWinsOverXForwardedFor():
    site = makeSite(Spy(None), trustedProxies=["10.0.0.5"])
    headers = b"Forwarded: for=198.51.100.7\r\nX-Forwarded-For: 198.51.100.8\r\n"
    assert clientOf(site, PROXY, headers)[0] == IPv4Address("TCP", "198.51.100.7", 0)


def test_unparseableHopStopsTheWalk():
    site = makeSite(Spy(None), trustedProxies=["10.0.0.0/8"])
    assert clientOf(site, PROXY, b"X-Forwarded-For: unknown\r\n")[0] == PROXY


def test_protoAloneFromATrustedProxy():
    site = makeSite(Spy(None), trustedProxies=["10.0.0.0/8"])
    assert clientOf(site, PROXY, b"X-Forwarded-Proto: https\r\n") == (PROXY, True)


def test_unixSocketProxy():
    site = makeSite(Spy(None), trustedProxies=["unix"])
    peer = UNIXAddress(b"")
    assert clientOf(site, peer, b"X-Forwarded-For: 198.51.100.1\r\n")[0] == IPv4Address(
        "TCP", "198.51.100.1", 0
    )


def test_badTrustedProxyIsRefused():
    with pytest.raises(ValueError):
        makeSite(Text(), trustedProxies=["not an address"])


# -- the access log ---------------------------------------------------------------------


class Captured(logging.Handler):
    def __init__(self):
        logging.Handler.__init__(self)
        self.lines = []

    def emit(self, record):
        self.lines.append(record.getMessage())


@pytest.fixture
def accessLog():
    """The lines logged to loom.protocols.web.access during the test."""
    logger = logging.getLogger("loom.protocols.web.access")
    handler = Captured()
    logger.addHandler(handler)
    level = logger.level
    logger.setLevel(logging.INFO)
    yield handler.lines
    logger.removeHandler(handler)
    logger.setLevel(level)


def test_accessLogInCombinedFormat(accessLog):
    site = makeSite(Text(b"12345"))
    site.reactor.advance(784111777)
    connection = Connection(site)
    connection.get(
        b"/page?q=1",
        headers=b'Referer: http://example.com/"x"\r\nUser-Agent: tester/1.0\r\n',
    )
    connection.response()
    assert accessLog == [
        '"192.0.2.7" - - [06/Nov/1994:08:49:37 +0000] "GET /page?q=1 HTTP/1.1" 200 5 '
        '"http://example.com/\\"x\\"" "tester/1.0"'
    ]


def test_accessLogUsesTheForwardedClient(accessLog):
    site = makeSite(Text(), trustedProxies=["10.0.0.0/8"])
    connection = Connection(site, peer=PROXY)
    connection.get(headers=b"X-Forwarded-For: 198.51.100.1\r\n")
    connection.response()
    assert accessLog[0].startswith('"198.51.100.1" - - ')


def test_accessLogToAFile(tmp_path):
    path = tmp_path / "access.log"
    site = makeSite(Text(), logPath=str(path))
    site.doStart()
    connection = Connection(site)
    connection.get()
    connection.response()
    site.doStop()
    [line] = path.read_text().splitlines()
    assert '"GET / HTTP/1.1" 200 5 "-" "-"' in line


def test_accessLogNotFormattedWhenNobodyListens(monkeypatch):
    calls = []
    site = makeSite(Text(), logFormatter=lambda timestamp, request: calls.append(1) or "")
    logging.getLogger("loom.protocols.web.access").setLevel(logging.WARNING)
    try:
        connection = Connection(site)
        connection.get()
        connection.response()
    finally:
        logging.getLogger("loom.protocols.web.access").setLevel(logging.NOTSET)
    assert calls == []


def test_proxiedLogFormatter():
    seen = []

    def look(request):
        seen.append(http.proxiedLogFormatter("[t]", request))
        return b"ok"

    connection = Connection(makeSite(Spy(look)))
    connection.get(headers=b"X-Forwarded-For: 1.2.3.4, 5.6.7.8\r\n")
    assert seen == ['"1.2.3.4" - - [t] "GET / HTTP/1.1" 200 - "-" "-"']


# -- streamed request bodies -----------------------------------------------------------


@implementer(IConsumer)
class Collector:
    """A consumer keeping what it is given; the test pauses its producer."""

    def __init__(self):
        self.chunks = []
        self.producer = None
        self.unregistered = False

    def registerProducer(self, producer, streaming):
        assert streaming
        self.producer = producer

    def unregisterProducer(self):
        self.unregistered = True

    def write(self, data):
        self.chunks.append(data)


class Upload(resource.Resource):
    """Streams the body into a Collector, answering when it ends."""

    isLeaf = True
    streamRequestBody = True

    def __init__(self):
        resource.Resource.__init__(self)
        self.collectors = []
        self.outcomes = []

    def render_POST(self, request):
        collector = Collector()
        self.collectors.append(collector)
        done = request.streamBody(collector)
        done.addBoth(self.outcomes.append)

        def answer(_):
            request.write(b"got %d" % (sum(map(len, collector.chunks)),))
            request.finish()

        done.addCallback(answer)
        done.addErrback(lambda failure: None)
        return server.NOT_DONE_YET


def test_streamedBodyArrivesAsItComes(noErrors):
    upload = Upload()
    connection = Connection(makeSite(upload))
    connection.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n")
    [collector] = upload.collectors
    assert collector.chunks == []
    connection.send(b"hello")
    assert collector.chunks == [b"hello"]
    connection.send(b"world")
    assert collector.chunks == [b"hello", b"world"]
    assert collector.unregistered
    assert upload.outcomes == [None]
    assert connection.response().body == b"got 10"
    assert not connection.closed


@pytest.mark.parametrize("head", [b"Content-Length: 0\r\n", b""])
def test_streamedRequestWithoutBodyEndsAtOnce(noErrors, head):
    # No body (a GET through a proxy): streamBody fires at once, its
    # consumer registered and unregistered as for any body, and nothing
    # is held for a stream (there is none).
    upload = Upload()
    connection = Connection(makeSite(upload))
    connection.send(b"POST / HTTP/1.1\r\nHost: h\r\n" + head + b"\r\n")
    [collector] = upload.collectors
    assert upload.outcomes == [None]
    assert collector.chunks == [] and collector.unregistered
    assert collector.producer is not None
    assert connection.response().body == b"got 0"
    assert not connection.closed


def test_pausedConsumerPausesReading(noErrors):
    upload = Upload()
    connection = Connection(makeSite(upload))
    connection.send(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n")
    [collector] = upload.collectors
    collector.producer.pauseProducing()
    assert connection.transport.producerState == "paused"
    connection.send(b"3\r\nabc\r\n")
    assert collector.chunks == []
    connection.send(b"3\r\ndef\r\n0\r\n\r\n")
    collector.producer.resumeProducing()
    assert connection.transport.producerState == "producing"
    assert collector.chunks == [b"abc", b"def"]
    assert connection.response().body == b"got 6"


def test_unattachedBodyPausesReading():
    # A streaming resource that has not asked for the body yet: the body
    # waits, and past highWater reading pauses.
    class Slow(resource.Resource):
        isLeaf = True
        streamRequestBody = True
        requests = []

        def render_POST(self, request):
            self.requests.append(request)
            return server.NOT_DONE_YET

    slow = Slow()
    connection = Connection(makeSite(slow))
    size = 200_000
    connection.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: %d\r\n\r\n" % (size,))
    connection.send(b"x" * 100_000)
    assert connection.transport.producerState == "paused"
    collector = Collector()
    slow.requests[0].streamBody(collector)
    assert connection.transport.producerState == "producing"
    assert sum(map(len, collector.chunks)) == 100_000


@pytest.mark.parametrize(
    "body, outcome",
    [(b"5\r\nhello\r\n0\r\n\r\n", None), (b"5\r\nhello\r\nzz\r\n", b"400")],
)
def test_streamBodyAfterTheBodyEndedStillFires(body, outcome):
    # The whole body came (or failed) before streamBody was called: the
    # Deferred streamBody returns still tells (a proxy's backend connection
    # is made only after the body may be all in).
    class Late(resource.Resource):
        isLeaf = True
        streamRequestBody = True
        requests = []

        def render_POST(self, request):
            self.requests.append(request)
            return server.NOT_DONE_YET

    late = Late()
    connection = Connection(makeSite(late))
    connection.send(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n" + body)
    collector = Collector()
    results = []
    late.requests[0].streamBody(collector).addBoth(results.append)
    assert collector.chunks == [b"hello"]
    if outcome is None:
        assert results == [None]
    else:
        assert results[0].value.status == outcome


def test_streamedBodyTooLargeFailsTheStream(noErrors):
    class Limited(Upload):
        maxRequestBodySize = 5

    upload = Limited()
    connection = Connection(makeSite(upload))
    connection.send(b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n")
    connection.send(b"3\r\ndef\r\n")
    [outcome] = upload.outcomes
    assert outcome.check(error.Error)
    assert outcome.value.status == b"413"


def test_streamedBodyFailureAnswersItsStatus(noErrors):
    class Strict(resource.Resource):
        isLeaf = True
        streamRequestBody = True
        maxRequestBodySize = 5

        def render_POST(self, request):
            return request.streamBody(Collector()).addCallback(lambda _: b"fine")

    connection = Connection(makeSite(Strict()))
    connection.send(
        b"POST / HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n3\r\ndef\r\n"
    )
    response = connection.response()
    assert response.status == 413
    assert connection.closed


def test_expectContinueIsSentWhenTheStreamIsWanted():
    class Deciding(resource.Resource):
        isLeaf = True
        streamRequestBody = True
        requests = []

        def render_POST(self, request):
            self.requests.append(request)
            return server.NOT_DONE_YET

    deciding = Deciding()
    connection = Connection(makeSite(deciding))
    connection.send(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
    )
    assert connection.output() == b""
    deciding.requests[0].streamBody(Collector())
    assert connection.output() == b"HTTP/1.1 100 Continue\r\n\r\n"


def test_refusingWithoutReadingTheBodyClosesAfterward(noErrors):
    class Refuses(resource.Resource):
        isLeaf = True
        streamRequestBody = True

        def render_POST(self, request):
            request.setResponseCode(401)
            return b"no"

    connection = Connection(makeSite(Refuses()))
    connection.send(
        b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
    )
    response = connection.response()
    assert response.status == 401
    assert b"100 Continue" not in connection.output()
    assert connection.closed


def test_streamBodyOfABufferedRequest():
    seen = []

    class Plain(resource.Resource):
        isLeaf = True

        def render_POST(self, request):
            collector = Collector()
            request.streamBody(collector).addCallback(seen.append)
            seen.append(b"".join(collector.chunks))
            return b""

    connection = Connection(makeSite(Plain()))
    connection.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 4\r\n\r\nbody")
    connection.response()
    assert seen == [None, b"body"]


def test_lostConnectionFailsTheStream(noErrors):
    upload = Upload()
    connection = Connection(makeSite(upload))
    connection.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\nabc")
    connection.channel.connectionLost(None)
    [outcome] = upload.outcomes
    assert outcome.check(Exception)


# -- URLs, and the Site as a resource ---------------------------------------------------


def test_prePathURLAndLinks():
    seen = {}

    def look(request):
        seen["pre"] = request.prePathURL()
        seen["child"] = request.childLink(b"kid")
        seen["sibling"] = request.sibLink(b"sib")
        request.rememberRootURL()
        seen["root"] = request.getRootURL()
        return b""

    root = resource.Resource()
    app = resource.Resource()
    root.putChild(b"app", app)
    app.putChild(b"page", Spy(look))
    connection = Connection(makeSite(root))
    connection.send(b"GET /app/page/rest HTTP/1.1\r\nHost: example.com:8080\r\n\r\n")
    connection.response()
    assert seen == {
        "pre": b"http://example.com:12345/app/page",
        "child": b"kid",
        "sibling": b"../sib",
        "root": b"http://example.com:12345/app",
    }


def test_siteMapsNotFound():
    assert isinstance(server.Site(Text()).getSession, object)
    connection = Connection(makeSite(resource.Resource()))
    connection.get(b"/nowhere")
    assert connection.response().status == 404


def test_namesOfServer():
    assert server.supportedMethods == (b"GET", b"HEAD", b"POST")
    assert server.quote(b"a b/c") == b"a%20b/c"
    assert server.NOT_DONE_YET == 1


@pytest.fixture
def noErrors():
    # Errors logged by a test here would otherwise pass unseen.
    seen = []

    def observer(event):
        if event.get("isError"):
            seen.append(event)

    log.addObserver(observer)
    yield
    log.removeObserver(observer)
    assert [event.get("why") for event in seen] == []


def test_bodyEndingWhilePausedResumesReading(noErrors):
    # The consumer paused on the body's last piece: once the body is done,
    # the channel reads again (the next request, or the client's close).
    upload = Upload()
    connection = Connection(makeSite(upload))
    connection.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\nabc")
    [collector] = upload.collectors
    write = collector.write

    def pauseOnIt(data):
        write(data)
        collector.producer.pauseProducing()

    collector.write = pauseOnIt
    connection.send(b"def")
    assert upload.outcomes == [None]
    assert connection.transport.producerState == "producing"
    assert connection.response().body == b"got 6"


def test_pausedBodyIsNotTimedOut():
    # The consumer is slow, not the client: no 408 while reading is paused.
    upload = Upload()
    site = makeSite(upload, timeout=20)
    connection = Connection(site)
    connection.send(b"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 6\r\n\r\nabc")
    [collector] = upload.collectors
    collector.producer.pauseProducing()
    site.reactor.advance(100)
    assert connection.output() == b""
    collector.producer.resumeProducing()
    site.reactor.advance(19)
    connection.send(b"def")
    assert connection.response().body == b"got 6"
