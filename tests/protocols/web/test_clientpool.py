"""
Agent.usingEndpointFactory and the pool's idle connections, in memory: an
endpoint factory whose connections are StringTransports, answered by the
test, with the pool's timers on a Clock; each on both parsers.
"""

from zope.interface import implementer

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
