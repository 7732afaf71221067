"""
Agent.usingEndpointFactory and the pool's idle connections, in memory: an
endpoint factory whose connections are StringTransports, answered by the
test, with the pool's timers on a Clock; each on both parsers.
"""

from zope.interface import implementer

from protocols.protocol import Protocol
from protocols.web import client
from protocols.web.iweb import IAgentEndpointFactory
from reactor.defer import succeed
from reactor.error import ConnectionDone
from reactor.failure import Failure
from reactor.task import Clock
from reactor.testing import StringTransport

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


@implementer(IAgentEndpointFactory)
class Endpoints:
    """Records the URIs it is asked for; each connect is a new StringTransport."""

    def __init__(self):
        self.uris = []
        self.connections = []

    def endpointForURI(self, uri):
        self.uris.append(uri.toBytes())
        return self

    def connect(self, factory):
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.connections.append((protocol, transport))
        return succeed(protocol)


def makeAgent(parser):
    clock, endpoints = Clock(), Endpoints()
    pool = client.HTTPConnectionPool(clock, persistent=True, parser=parser)
    return clock, endpoints, pool, client.Agent.usingEndpointFactory(clock, endpoints, pool)


def answered(deferred, protocol, answer=OK):
    results = []
    deferred.addBoth(results.append)
    protocol.dataReceived(answer)
    [response] = results
    bodies = []
    client.readBody(response).addBoth(bodies.append)
    return response, bodies[0]


def test_usingEndpointFactoryConnectsThroughIt(parser):
    clock, endpoints, pool, agent = makeAgent(parser)
    deferred = agent.request(b"GET", b"http://example.com:8080/a?b=c")
    [(protocol, transport)] = endpoints.connections
    assert endpoints.uris == [b"http://example.com:8080/a?b=c"]
    head = transport.value()
    assert head.startswith(b"GET /a?b=c HTTP/1.1\r\n")
    assert b"host: example.com:8080\r\n" in head.lower()
    response, body = answered(deferred, protocol)
    assert (response.code, body) == (200, b"ok")


def test_anIdleConnectionIsReusedThenExpires(parser):
    clock, endpoints, pool, agent = makeAgent(parser)
    pool.cachedConnectionTimeout = 10
    answered(agent.request(b"GET", b"http://h/"), endpoints.connections[0][0])
    clock.advance(9)
    answered(agent.request(b"GET", b"http://h/"), endpoints.connections[0][0])
    assert len(endpoints.connections) == 1
    # Idle again, from now: ten seconds more.
    [(protocol, transport)] = endpoints.connections
    clock.advance(9.9)
    assert not transport.disconnecting
    clock.advance(0.1)
    assert transport.disconnecting
    protocol.connectionLost(Failure(ConnectionDone()))
    answered(agent.request(b"GET", b"http://h/"), endpoints.connections[-1][0])
    assert len(endpoints.connections) == 2
    assert clock.getDelayedCalls()[0].getTime() == 29.0


def test_idleConnectionsBeyondMaxPersistentPerHostAreClosed(parser):
    clock, endpoints, pool, agent = makeAgent(parser)
    pool.maxPersistentPerHost = 1
    first = agent.request(b"GET", b"http://h/")
    second = agent.request(b"GET", b"http://h/")
    (one, oneTransport), (two, twoTransport) = endpoints.connections
    answered(first, one)
    answered(second, two)
    assert (oneTransport.disconnecting, twoTransport.disconnecting) == (True, False)
    assert len(clock.getDelayedCalls()) == 1


# -- Agent.sendRequest: a prepared request, its answer told without a Deferred -------


class Answer:
    """An answer for sendRequest (and HTTP11ClientProtocol.send): records what it is told."""

    def __init__(self):
        self.called = False
        self.results = []

    def callback(self, response):
        self.called = True
        self.results.append(response)

    def errback(self, reason):
        self.called = True
        self.results.append(reason)


def prepared(target=b"/", host=b"front.example"):
    headers = client.Headers({b"host": [host], b"x-one": [b"1"]})
    return client.Request(b"GET", target, headers, None, True)


def test_sendRequestSendsAPreparedRequestAndTellsItsAnswer(parser):
    clock, endpoints, pool, agent = makeAgent(parser)
    origin = client.URI.fromBytes(b"http://h:8080/")
    answer = Answer()
    agent.sendRequest(origin, prepared(b"/a?b=c"), answer)
    [(protocol, transport)] = endpoints.connections
    assert endpoints.uris == [b"http://h:8080/"]
    # Sent as it is: its target, its own Host (none added), its headers.
    head = transport.value()
    assert head.startswith(b"GET /a?b=c HTTP/1.1\r\n")
    assert head.lower().count(b"host:") == 1 and b"Host: front.example\r\n" in head
    assert b"X-One: 1\r\n" in head
    assert answer.results == []
    protocol.dataReceived(OK)
    [response] = answer.results
    bodies = []
    client.readBody(response).addBoth(bodies.append)
    assert (response.code, bodies) == (200, [b"ok"])
    # The idle connection is reused at once: the answer is told as soon as
    # the response comes, and the endpoint factory is not asked again.
    transport.clear()
    again = Answer()
    agent.sendRequest(origin, prepared(b"/d"), again)
    assert transport.value().startswith(b"GET /d HTTP/1.1\r\n")
    protocol.dataReceived(OK)
    assert [each.code for each in again.results] == [200]
    assert len(endpoints.connections) == 1 and endpoints.uris == [b"http://h:8080/"]


def test_agentRequestAsksForAnEndpointOnlyToConnect(parser):
    # An idle connection is reused without the endpoint factory (for https,
    # the TLS options) being asked for an endpoint it would not use.
    clock, endpoints, pool, agent = makeAgent(parser)
    for _ in range(3):
        answered(agent.request(b"GET", b"http://h/"), endpoints.connections[0][0])
    assert endpoints.uris == [b"http://h/"]


def test_cancellingASendingAbortsItsConnectionAndTellsNothing(parser):
    clock, endpoints, pool, agent = makeAgent(parser)
    answer = Answer()
    sending = agent.sendRequest(client.URI.fromBytes(b"http://h/"), prepared(), answer)
    [(protocol, transport)] = endpoints.connections
    sending.cancel()
    assert transport.aborted
    protocol.connectionLost(Failure(ConnectionDone()))
    assert answer.results == [] and pool._connections.get((b"http", b"h", 80), []) == []


def test_aSendingIsRetriedOnceOnANewConnection(parser):
    # The reused connection closes before answering (the server's keep-alive
    # ran out): the request goes once more, on a new connection; when that
    # one closes too, the answer is told.
    clock, endpoints, pool, agent = makeAgent(parser)
    origin = client.URI.fromBytes(b"http://h/")
    answered(agent.request(b"GET", b"http://h/"), endpoints.connections[0][0])
    answer = Answer()
    agent.sendRequest(origin, prepared(), answer)
    endpoints.connections[0][0].connectionLost(Failure(ConnectionDone()))
    assert len(endpoints.connections) == 2 and answer.results == []
    endpoints.connections[1][0].connectionLost(Failure(ConnectionDone()))
    [reason] = answer.results
    assert reason.check(client.ResponseNeverReceived)
    assert len(endpoints.connections) == 2


def test_sendOnABusyConnectionTellsItsAnswerRequestNotSent(parser):
    protocol = client.HTTP11ClientProtocol(parser=parser)
    protocol.makeConnection(StringTransport())
    first, second = Answer(), Answer()
    protocol.send(prepared(), first)
    protocol.send(prepared(), second)
    [refused] = second.results
    assert refused.check(client.RequestNotSent)
    protocol.dataReceived(OK)
    assert [each.code for each in first.results] == [200]


class Ends(Protocol):
    def __init__(self, reasons):
        self.reasons = reasons

    def connectionLost(self, reason):
        self.reasons.append(reason)


def test_completeBodiesEndWithOneSharedReason(parser):
    # The end of a complete body allocates nothing: one ResponseDone Failure,
    # as the reactor's reasons for a closed connection are.
    clock, endpoints, pool, agent = makeAgent(parser)
    reasons = []
    for _ in range(2):
        responses = []
        agent.request(b"GET", b"http://h/").addCallback(responses.append)
        endpoints.connections[0][0].dataReceived(OK)
        responses[0].deliverBody(Ends(reasons))
    first, second = reasons
    assert first is second and first.check(client.ResponseDone)
