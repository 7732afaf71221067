"""
HTTPChannel in memory, on both parsers: keep-alive, pipelining, bodies,
100-continue, HEAD, closing, and what each limit answers.

Every test here takes the ``parser`` fixture, so it runs against httptools
and against h11: the conformance suite of the server, without sockets.
"""

import pytest

from protocols.web import http, resource, server
from tests.protocols.web.webhelpers import Connection, Echo, Held, Text, makeSite


def test_getIsAnswered(parser):
    connection = Connection(makeSite(Text(b"hello"), parser))
    connection.get()
    response = connection.response()
    assert (response.status, response.body) == (200, b"hello")
    assert response.header("Content-Length") == "5"
    assert response.header("Server") == "Loom"
    assert response.header("Date") == "Thu, 01 Jan 1970 00:00:00 GMT"
    assert not connection.closed


def test_keepAliveServesManyRequests(parser):
    connection = Connection(makeSite(Text(b"x"), parser))
    for _ in range(3):
        connection.get()
        assert connection.response().body == b"x"
    assert not connection.closed


def test_oneWritePerResponse(parser):
    writes = []
    connection = Connection(makeSite(Text(b"body"), parser))
    connection.transport.write = writes.append
    connection.get()
    assert len(writes) == 1
    assert writes[0].endswith(b"\r\n\r\nbody")


def test_pipelinedResponsesComeInRequestOrder(parser):
    root = resource.Resource()
    held = Held()
    root.putChild(b"slow", held)
    root.putChild(b"fast", Text(b"fast"))
    connection = Connection(makeSite(root, parser))
    connection.send(
        b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"
        b"GET /fast HTTP/1.1\r\nHost: a\r\n\r\n"
        b"GET /fast HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    assert connection.output() == b""  # the first is not answered yet
    [slow] = held.waiting
    slow.write(b"slow")
    slow.finish()
    assert [response.body for response in connection.responses()] == [b"slow", b"fast", b"fast"]


def test_manyPipelinedRequestsDoNotRecurse(parser):
    # Each answer, finished at once, starts the next from the channel's
    # loop, not from inside the previous finish(): far more requests than
    # the recursion limit go through.
    connection = Connection(makeSite(Text(b"."), parser, maxPipelinedRequests=5000))
    connection.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" * 3000)
    assert len(connection.responses()) == 3000


def test_tooManyPipelinedRequestsPauseReading(parser):
    held = Held()
    connection = Connection(makeSite(held, parser, maxPipelinedRequests=2))
    connection.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" * 4)
    assert connection.transport.producerState == "paused"
    for _ in range(2):
        held.waiting[0].finish()
        del held.waiting[0]
    assert connection.transport.producerState == "producing"
    while held.waiting:
        held.waiting.pop(0).finish()
    assert [response.status for response in connection.responses()] == [200] * 4


def test_postWithContentLength(parser):
    connection = Connection(makeSite(Echo(), parser))
    connection.send(b"POST /p HTTP/1.1\r\nHost: a\r\nContent-Length: 5\r\n\r\nhel")
    assert connection.output() == b""
    connection.send(b"lo")
    assert connection.response().body == b"POST /p 5:hello"


def test_chunkedRequestBody(parser):
    connection = Connection(makeSite(Echo(), parser))
    connection.send(
        b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n4;ext=1\r\ndefg\r\n0\r\nTrailer: x\r\n\r\n"
    )
    assert connection.response().body == b"POST / 7:abcdefg"


def test_chunkedBodyLargerThanMemoryGoesToAFile(parser):
    seen = []

    class Keeper(resource.Resource):
        isLeaf = True

        def render_POST(self, request):
            seen.append((type(request.content).__name__, request.content.read()))
            return b"ok"

    connection = Connection(makeSite(Keeper(), parser, maxMemoryBodySize=10))
    connection.send(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
    connection.send(b"8\r\n12345678\r\n8\r\nabcdefgh\r\n0\r\n\r\n")
    assert connection.response().body == b"ok"
    [(kind, body)] = seen
    assert body == b"12345678abcdefgh"
    assert kind != "BytesIO"


def test_responseWithoutLengthIsChunked(parser):
    held = Held()
    connection = Connection(makeSite(held, parser))
    connection.get()
    [request] = held.waiting
    request.write(b"part one, ")
    request.write(b"part two")
    request.finish()
    response = connection.response()
    assert response.chunked
    assert response.body == b"part one, part two"
    assert connection.output().endswith(b"0\r\n\r\n")
    assert not connection.closed


def test_finishWithoutBodySendsZeroLength(parser):
    held = Held()
    connection = Connection(makeSite(held, parser))
    connection.get()
    held.waiting[0].finish()
    response = connection.response()
    assert response.header("Content-Length") == "0"
    assert not response.chunked


def test_headHasNoBodyButKeepsLength(parser):
    connection = Connection(makeSite(Text(b"twelve bytes"), parser))
    connection.send(b"HEAD / HTTP/1.1\r\nHost: a\r\n\r\n")
    response = connection.response(method="HEAD")
    assert response.header("Content-Length") == "12"
    assert connection.output().endswith(b"\r\n\r\n")
    connection.get()
    assert connection.response().body == b"twelve bytes"


def test_connectionCloseIsHonoured(parser):
    connection = Connection(makeSite(Text(b"bye"), parser))
    connection.send(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    response = connection.response()
    assert response.header("Connection") == "close"
    assert response.body == b"bye"
    assert connection.transport.disconnecting


def test_http10ClosesByDefault(parser):
    connection = Connection(makeSite(Text(b"old"), parser))
    connection.send(b"GET / HTTP/1.0\r\n\r\n")
    response = connection.response()
    assert response.version == 10
    assert response.body == b"old"
    assert connection.transport.disconnecting


def test_http10KeepAliveWithLength(parser):
    connection = Connection(makeSite(Text(b"old"), parser))
    connection.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    response = connection.response()
    assert response.header("Connection") == "keep-alive"
    assert not connection.closed


@pytest.mark.parametrize(
    "headers",
    [
        b"Connection: keep-alive\r\n",
        b"Connection: close, Keep-Alive\r\n",
        b"Connection: x\r\nConnection: KEEP-ALIVE\r\n",
        b"Proxy-Connection: keep-alive\r\n",
        b"PROXY-CONNECTION: keep-alive\r\n",
    ],
)
def test_http10AskingForKeepAliveStaysHttp10(parser, headers):
    # The httptools parser takes a head its library keeps alive for
    # HTTP/1.1 unless a Connection or Proxy-Connection header could be
    # what keeps it alive: these are HTTP/1.0, which needs no Host.
    held = Held()
    connection = Connection(makeSite(held, parser))
    connection.send(b"GET / HTTP/1.0\r\n" + headers + b"\r\n")
    [request] = held.waiting
    assert request.clientproto == b"HTTP/1.0"
    request.write(b"old")
    request.finish()
    assert connection.output().startswith(b"HTTP/1.0 200 ")


@pytest.mark.parametrize("version", [b"0.9", b"1.2", b"1.9", b"2.0", b"2.1", b"3.0", b"9.9"])
@pytest.mark.parametrize("headers", [b"", b"Connection: keep-alive\r\n", b"Connection: close\r\n"])
def test_versionsOtherThan10And11AreRefused(parser, version, headers):
    # Also what lets the httptools parser take a kept-alive head for
    # HTTP/1.1 without asking: llhttp keeps alive by default only 1.1 of
    # the versions it takes.
    connection = Connection(makeSite(Text(b"x"), parser))
    connection.send(b"GET / HTTP/" + version + b"\r\nHost: a\r\n" + headers + b"\r\n")
    output = connection.output()
    assert output.split(b" ")[1] in (b"400", b"505"), output
    assert connection.closed


def test_http11WithoutConnectionHeaderIsHttp11(parser):
    held = Held()
    connection = Connection(makeSite(held, parser))
    connection.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    [request] = held.waiting
    assert request.clientproto == b"HTTP/1.1"


def test_http10WithoutLengthEndsWithTheConnection(parser):
    held = Held()
    connection = Connection(makeSite(held, parser))
    connection.send(b"GET / HTTP/1.0\r\nConnection: keep-alive\r\n\r\n")
    request = held.waiting[0]
    request.write(b"streamed")
    request.finish()
    assert connection.output().endswith(b"\r\n\r\nstreamed")
    assert connection.transport.disconnecting


def test_shortBodyClosesConnection(parser):
    # A Content-Length the body does not reach: the client would wait for
    # the missing bytes and take the next response for them.
    held = Held()
    connection = Connection(makeSite(held, parser))
    connection.get()
    request = held.waiting[0]
    request.setHeader(b"Content-Length", b"10")
    request.write(b"short")
    request.finish()
    assert connection.transport.disconnecting


def test_longBodyIsCutToItsLength(parser):
    held = Held()
    connection = Connection(makeSite(held, parser))
    connection.get()
    request = held.waiting[0]
    request.setHeader(b"Content-Length", b"3")
    request.write(b"abcdef")
    request.finish()
    assert connection.output().endswith(b"\r\n\r\nabc")
    assert connection.transport.disconnecting


def test_expectContinueIsAnsweredBeforeTheBody(parser):
    connection = Connection(makeSite(Echo(), parser))
    connection.send(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
    )
    assert connection.output() == b"HTTP/1.1 100 Continue\r\n\r\n"
    connection.send(b"abc")
    assert connection.output().endswith(b"POST / 3:abc")


def test_expectContinueIsNotSentForATooLargeBody(parser):
    connection = Connection(makeSite(Echo(), parser, maxRequestBodySize=2))
    connection.send(
        b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n"
    )
    assert connection.response().status == 413
    assert b"100 Continue" not in connection.output()
    assert connection.closed


def test_expectContinueWaitsForEarlierResponses(parser):
    root = resource.Resource()
    held = Held()
    root.putChild(b"slow", held)
    root.putChild(b"echo", Echo())
    connection = Connection(makeSite(root, parser))
    connection.send(
        b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 2\r\nExpect: 100-continue\r\n\r\n"
    )
    assert connection.output() == b""
    held.waiting[0].finish()
    assert connection.output().endswith(b"\r\n\r\nHTTP/1.1 100 Continue\r\n\r\n")


@pytest.mark.parametrize(
    "request_, status",
    [
        (b"GET\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHo st: a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400),
        (b"GET /a b HTTP/1.1\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\n\r\n", 400),
        (b"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400),
        (b"GET / HTTP/1.x\r\nHost: a\r\n\r\n", 400),
        (b"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\n"
            b"Transfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n"
            b"Content-Length: 3\r\n\r\n3\r\nabc\r\n0\r\n\r\n",
            400,
        ),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: -1\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip\r\n\r\nabc", 501),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n", 501),
        (b"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", 400),
        (b"POST / HTTP/1.1\r\nHost: a\r\nExpect: telepathy\r\nContent-Length: 1\r\n\r\nx", 417),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"zz\r\nabc\r\n0\r\n\r\n",
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"-3\r\nabc\r\n0\r\n\r\n",
            400,
        ),
        (
            b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"fffffffffffffffffffffff\r\nabc\r\n0\r\n\r\n",
            400,
        ),
        (b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXY", 400),
    ],
    ids=[
        "bad request line",
        "space in header name",
        "header without colon",
        "NUL in header value",
        "space in target",
        "HTTP/1.1 without Host",
        "two Host headers",
        "bad version",
        "HTTP/2.0",
        "Content-Length then Transfer-Encoding",
        "Transfer-Encoding then Content-Length",
        "two Content-Lengths",
        "negative Content-Length",
        "unknown coding",
        "coding before chunked",
        "chunked in HTTP/1.0",
        "unknown expectation",
        "chunk size not hex",
        "negative chunk size",
        "chunk size overflow",
        "chunk without CRLF",
    ],
)
def test_malformedRequestsAreRefused(parser, request_, status):
    connection = Connection(makeSite(Echo(), parser))
    connection.send(request_)
    response = connection.response()
    assert response.status == status
    assert response.header("Connection") == "close"
    assert connection.closed


def test_refusalComesAfterTheResponsesOwed(parser):
    root = resource.Resource()
    held = Held()
    root.putChild(b"slow", held)
    root.putChild(b"fast", Text(b"fast"))
    connection = Connection(makeSite(root, parser))
    connection.send(
        b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"
        b"GET /fast HTTP/1.1\r\nHost: a\r\n\r\n"
        b"GET / HTTP/1.1\r\nHo st: a\r\n\r\n"
    )
    assert connection.output() == b""
    held.waiting[0].finish()
    assert [response.status for response in connection.responses()] == [200, 200, 400]
    assert connection.closed


def test_refusalClosesLingering(parser):
    # Our FIN goes after the answer, what the client still sends is read
    # and dropped, and the connection is aborted a moment later.
    connection = Connection(makeSite(Echo(), parser, maxRequestBodySize=4))
    connection.send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 100\r\n\r\n")
    assert connection.response().status == 413
    assert connection.transport.writeDisconnected
    assert not connection.transport.disconnecting
    connection.send(b"x" * 50)
    assert connection.output().endswith(b"413 Content Too Large\n")
    connection.clock.advance(connection.channel.lingerTimeout)
    assert connection.transport.aborted


def test_headerFieldsTooLargeInOnePiece(parser):
    connection = Connection(makeSite(Text(), parser, totalHeadersSize=1024))
    connection.send(b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: %s\r\n\r\n" % (b"x" * 1024,))
    assert connection.response().status == 431
    assert connection.closed


def test_headerFieldsTooLargeTrickledIn(parser):
    # An endless header, cut in small pieces: refused once it passes the
    # limit, without waiting for an end that never comes.
    connection = Connection(makeSite(Text(), parser, totalHeadersSize=1024))
    connection.send(b"GET / HTTP/1.1\r\nHost: a\r\nX-Big: ")
    for _ in range(200):
        if connection.output():
            break
        connection.send(b"x" * 10)
    assert connection.response().status == 431


def test_headsAtTheLimitAreAccepted(parser):
    connection = Connection(makeSite(Text(b"ok"), parser, totalHeadersSize=1024))
    head = b"GET / HTTP/1.1\r\nHost: a\r\nX-Pad: "
    head += b"y" * (900 - len(head)) + b"\r\n\r\n"
    for offset in range(0, len(head), 7):
        connection.send(head[offset : offset + 7])
    assert connection.response().body == b"ok"


def test_tooManyHeaders(parser):
    connection = Connection(makeSite(Text(), parser, maxHeaders=10))
    connection.send(b"GET / HTTP/1.1\r\nHost: a\r\n" + b"X: y\r\n" * 10 + b"\r\n")
    assert connection.response().status == 431


def test_bodyTooLargeByContentLength(parser):
    connection = Connection(makeSite(Echo(), parser, maxRequestBodySize=10))
    connection.send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 11\r\n\r\n")
    assert connection.response().status == 413


def test_bodyTooLargeChunked(parser):
    connection = Connection(makeSite(Echo(), parser, maxRequestBodySize=10))
    connection.send(b"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
    connection.send(b"6\r\nabcdef\r\n")
    assert connection.output() == b""
    connection.send(b"6\r\nghijkl\r\n")
    assert connection.response().status == 413


def test_bodyAtTheLimitIsAccepted(parser):
    connection = Connection(makeSite(Echo(), parser, maxRequestBodySize=10))
    connection.send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\n0123456789")
    assert connection.response().body == b"POST / 10:0123456789"


def test_resourceSetsItsOwnBodyLimit(parser):
    class Small(Echo):
        maxRequestBodySize = 3

    class Large(Echo):
        maxRequestBodySize = 100

    root = resource.Resource()
    root.putChild(b"small", Small())
    root.putChild(b"large", Large())
    site = makeSite(root, parser, maxRequestBodySize=10)
    big = Connection(site)
    big.send(b"POST /large HTTP/1.1\r\nHost: a\r\nContent-Length: 50\r\n\r\n" + b"z" * 50)
    assert big.response().status == 200
    small = Connection(site)
    small.send(b"POST /small HTTP/1.1\r\nHost: a\r\nContent-Length: 4\r\n\r\nabcd")
    assert small.response().status == 413


def test_headTimeoutAnswers408(parser):
    connection = Connection(makeSite(Text(), parser, headerTimeout=30))
    connection.send(b"GET / HTTP/1.1\r\n")
    connection.clock.advance(29)
    assert connection.output() == b""
    connection.clock.advance(1)
    assert connection.response().status == 408
    # A client still sending gets the answer before a reset can destroy
    # it: our FIN after it, what it sends dropped, then the abort.
    assert connection.transport.writeDisconnected
    connection.clock.advance(connection.channel.lingerTimeout)
    assert connection.transport.aborted


def test_headTimeoutCountsFromTheFirstByteHoweverSlowTheRest(parser):
    # Slowloris: one byte every ten seconds never resets the deadline.
    connection = Connection(makeSite(Text(), parser, headerTimeout=30))
    head = b"GET / HTTP/1.1\r\nHost: a\r\nX: trickle\r\n"
    for byte in head[:3]:
        connection.send(bytes([byte]))
        connection.clock.advance(10)
    assert connection.response().status == 408


def test_silentNewConnectionIsClosedWithoutAnswer(parser):
    connection = Connection(makeSite(Text(), parser, headerTimeout=30))
    connection.clock.advance(30)
    assert connection.output() == b""
    assert connection.transport.disconnecting


def test_idleKeepAliveConnectionIsClosed(parser):
    connection = Connection(makeSite(Text(), parser, timeout=60, headerTimeout=30))
    connection.get()
    connection.response()
    connection.clock.advance(59)
    assert not connection.transport.disconnecting
    connection.clock.advance(1)
    assert connection.output()[connection._read :] == b""
    assert connection.transport.disconnecting


def test_nextRequestAfterIdleGetsTheHeadDeadline(parser):
    connection = Connection(makeSite(Text(), parser, timeout=60, headerTimeout=30))
    connection.get()
    connection.response()
    connection.clock.advance(50)
    connection.send(b"GET / HT")
    connection.clock.advance(29)
    assert not connection.transport.disconnecting
    connection.clock.advance(1)
    assert connection.response().status == 408


def test_stalledBodyTimesOut(parser):
    connection = Connection(makeSite(Echo(), parser, timeout=20))
    connection.send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 10\r\n\r\nabc")
    connection.clock.advance(15)
    connection.send(b"def")
    connection.clock.advance(15)
    assert not connection.transport.disconnecting
    connection.clock.advance(5)
    assert connection.response().status == 408


def test_slowResponseIsNotTimedOut(parser):
    held = Held()
    connection = Connection(makeSite(held, parser, timeout=60, headerTimeout=30))
    connection.get()
    connection.clock.advance(1000)
    assert not connection.transport.disconnecting
    held.waiting[0].finish()
    assert connection.response().status == 200


def test_timedOutConnectionIsAbortedIfNotClosed(parser):
    connection = Connection(makeSite(Text(), parser, headerTimeout=30, abortTimeout=15))
    connection.clock.advance(30)
    assert connection.transport.disconnecting and not connection.transport.aborted
    connection.clock.advance(15)
    assert connection.transport.aborted


def test_keepAliveRequestsDoNotReschedule(parser):
    # The deadline is a number: serving requests makes no timed calls;
    # the one timed call only wakes when a deadline could have passed.
    site = makeSite(Text(), parser, timeout=60, headerTimeout=30)
    connection = Connection(site)
    calls = site.reactor.getDelayedCalls()
    assert len(calls) == 1
    first = calls[0]
    for _ in range(50):
        connection.get()
    assert site.reactor.getDelayedCalls() == [first]
    assert len(connection.responses()) == 50


def test_upgradeRequestIsAnsweredThenClosed(parser):
    connection = Connection(makeSite(Text(b"plain"), parser))
    connection.send(
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: Upgrade\r\nUpgrade: websocket\r\n\r\n"
        b"\x81\x05hello"
    )
    response = connection.response()
    assert response.body == b"plain"
    assert response.header("Connection") == "close"
    assert connection.transport.disconnecting


def test_connectionLostFailsNotifyFinish(parser):
    held = Held()
    connection = Connection(makeSite(held, parser))
    connection.get()
    outcomes = []
    held.waiting[0].notifyFinish().addBoth(outcomes.append)
    connection.channel.connectionLost(None)
    assert len(outcomes) == 1
    assert outcomes[0].check(Exception)


def test_anHTTPChannelOnItsOwn(parser):
    # An HTTPChannel without a factory, with a Request subclass answering
    # in process(), as Twisted's documentation shows it.
    from reactor.task import Clock
    from reactor.testing import StringTransport

    class Answer(http.Request):
        def process(self):
            self.setHeader(b"Content-Type", b"text/plain")
            self.write(b"path was " + self.path)
            self.finish()

    channel = http.HTTPChannel()
    channel.requestFactory = Answer
    channel.parser = parser
    channel.reactor = Clock()
    transport = StringTransport()
    channel.makeConnection(transport)
    channel.dataReceived(b"GET /x HTTP/1.1\r\nHost: a\r\n\r\n")
    assert transport.value() == (
        b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"b\r\npath was /x\r\n0\r\n\r\n"
    )


def test_unknownMethod(parser):
    # llhttp refuses a method it does not know, h11 lets the Site answer:
    # both say 501.
    connection = Connection(makeSite(Text(), parser))
    connection.send(b"FROB / HTTP/1.1\r\nHost: a\r\n\r\n")
    assert connection.response().status == 501


def test_methodNotAllowedListsAllowed(parser):
    connection = Connection(makeSite(Text(), parser))
    connection.send(b"DELETE / HTTP/1.1\r\nHost: a\r\n\r\n")
    response = connection.response()
    assert response.status == 405
    assert response.header("Allow") == "GET, HEAD"
    assert not connection.closed


def test_optionsStar(parser):
    connection = Connection(makeSite(Text(), parser))
    connection.send(b"OPTIONS * HTTP/1.1\r\nHost: a\r\n\r\n")
    response = connection.response()
    assert (response.status, response.header("Content-Length")) == (200, "0")
    connection.send(b"GET * HTTP/1.1\r\nHost: a\r\n\r\n")
    response = connection.response()
    assert (response.status, response.header("Allow")) == (405, "OPTIONS")


def test_siteIsAServerFactory(parser):
    site = makeSite(Text(), parser)
    assert isinstance(site, http.HTTPFactory)
    assert isinstance(site.buildProtocol(None), http.HTTPChannel)
    assert site.buildProtocol(None).site is site
    assert server.Site.requestFactory is server.Request


def test_pipelinedBodyWaitsInItsContent(parser):
    # A POST arriving while the request before it is still being answered
    # is read into its own content, and answered after.
    root = resource.Resource()
    held = Held()
    root.putChild(b"slow", held)
    root.putChild(b"echo", Echo())
    connection = Connection(makeSite(root, parser))
    connection.send(
        b"GET /slow HTTP/1.1\r\nHost: a\r\n\r\n"
        b"POST /echo HTTP/1.1\r\nHost: a\r\nContent-Length: 6\r\n\r\nabc"
    )
    connection.send(b"def")
    assert connection.output() == b""
    held.waiting[0].finish()
    assert [response.body for response in connection.responses()] == [b"", b"POST /echo 6:abcdef"]


def test_channelIsAPushProducerForTwistedCode(parser):
    connection = Connection(makeSite(Text(b"x"), parser))
    connection.channel.pauseProducing()
    assert connection.transport.producerState == "paused"
    connection.channel.resumeProducing()
    assert connection.transport.producerState == "producing"
    connection.channel.stopProducing()
    assert connection.transport.disconnecting


def test_checkPersistence(parser):
    seen = []

    class Look(resource.Resource):
        isLeaf = True

        def render_GET(self, request):
            channel = request.channel
            seen.append(channel.checkPersistence(request, request.clientproto))
            return b""

    site = makeSite(Look(), parser)
    Connection(site).send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n")
    Connection(site).send(b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\n")
    Connection(site).send(b"GET / HTTP/1.0\r\n\r\n")
    Connection(site).send(b"GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n")
    assert seen == [True, False, False, True]


def test_writeHeadersAsTwistedsChannelDoes(parser):
    connection = Connection(makeSite(Text(), parser))
    headers = http.Headers({b"X-One": [b"1"]})
    connection.channel.writeHeaders(b"HTTP/1.1", b"200", b"OK", headers)
    connection.channel.writeHeaders(b"HTTP/1.1", b"204", b"No Content", [(b"X-Two", b"2")])
    assert connection.output() == (
        b"HTTP/1.1 200 OK\r\nX-One: 1\r\n\r\nHTTP/1.1 204 No Content\r\nX-Two: 2\r\n\r\n"
    )


def test_requestDoneRefusesAnyButTheFirst(parser):
    held = Held()
    connection = Connection(makeSite(held, parser))
    connection.send(b"GET / HTTP/1.1\r\nHost: a\r\n\r\n" * 2)
    (first,) = held.waiting
    second = connection.channel.requests[1]
    with pytest.raises(TypeError):
        connection.channel.requestDone(second)
    first.finish()


def test_nothingIsAnsweredAfterAClosingResponse(parser):
    connection = Connection(makeSite(Text(b"x"), parser))
    connection.send(
        b"GET / HTTP/1.1\r\nHost: a\r\nConnection: close\r\n\r\nGET / HTTP/1.1\r\nHost: a\r\n\r\n"
    )
    assert len(connection.responses()) == 1
    assert connection.transport.disconnecting
    assert connection.channel.requests == []


def test_longRequestLineCountsTowardsTheLimit(parser):
    connection = Connection(makeSite(Text(), parser, totalHeadersSize=1024))
    connection.send(b"GET /%s HTTP/1.1\r\nHost: a\r\n\r\n" % (b"u" * 1100,))
    assert connection.response().status == 431


def test_emptyLinesBeforeARequestAreIgnored(parser):
    connection = Connection(makeSite(Echo(), parser))
    connection.send(b"\r\nPOST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\nx\r\n")
    connection.send(b"\r\n")
    connection.send(b"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\n\r\ny")
    assert [response.body for response in connection.responses()] == [b"POST / 1:x", b"POST / 1:y"]


def test_aChannelsOwnStateIsKeptOutOfItsDict():
    """
    The channel's own state is in slots; its dict holds the settings
    buildProtocol copies and what Protocol keeps, well under the 30 names
    CPython 3.11 shares between a class's instances (beyond them each
    channel would get a dict of its own, and every call to it the generic
    lookup).
    """
    connection = Connection(makeSite(Text()))
    connection.get(b"/")
    assert connection.responses()[0].status == 200
    channel = connection.channel
    assert channel._phase is not None and channel._keepAlives is not None
    names = set(vars(channel))
    assert not {name for name in names if name.startswith("_")}, names
    assert {"factory", "timeOut", "maxRequestBodySize", "transport"} <= names
    assert len(names) <= 24, names
