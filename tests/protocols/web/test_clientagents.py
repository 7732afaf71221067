"""
CookieAgent, ProxyAgent and HostnameCachingHTTPSPolicy, in memory: agents
and policies that record what they are asked, and connections that are
StringTransports answered by the test.
"""

from http.cookiejar import CookieJar

from protocols.web import client
from reactor.defer import succeed
from reactor.task import Clock
from reactor.testing import StringTransport

OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok"


class FakeResponse:
    def __init__(self, headers):
        self.headers = client.Headers(headers)
        self.code = 200


class Recording:
    """An agent recording each request's Cookie headers, answering with responseHeaders."""

    def __init__(self):
        self.cookies = []
        self.responseHeaders = {}

    def request(self, method, uri, headers=None, bodyProducer=None):
        self.cookies.append(headers.getRawHeaders(b"cookie") if headers else None)
        return succeed(FakeResponse(self.responseHeaders))


def test_cookieAgentKeepsAndSendsCookies():
    recording, jar = Recording(), CookieJar()
    agent = client.CookieAgent(recording, jar)
    recording.responseHeaders = {b"set-cookie": [b"id=42; Path=/", b"other=1; Path=/private"]}
    agent.request(b"GET", b"http://example.com/login")
    recording.responseHeaders = {}
    agent.request(b"GET", b"http://example.com/page")
    agent.request(b"GET", b"http://example.com/private/x")
    agent.request(b"GET", b"http://elsewhere.example.org/page")
    given = client.Headers({b"cookie": [b"mine=1"]})
    agent.request(b"GET", b"http://example.com/page", given)
    assert recording.cookies == [
        None,
        [b"id=42"],
        [b"other=1; id=42"],
        None,
        [b"mine=1"],
    ]
    assert given.getRawHeaders(b"cookie") == [b"mine=1"]  # not changed in place
    assert sorted(cookie.name for cookie in jar) == ["id", "other"]


class Proxy:
    """The proxy's endpoint: each connect is a new StringTransport."""

    def __init__(self):
        self.connections = []

    def connect(self, factory):
        protocol = factory.buildProtocol(None)
        transport = StringTransport()
        protocol.makeConnection(transport)
        self.connections.append((protocol, transport))
        return succeed(protocol)


def test_proxyAgentSendsAbsoluteURIsToTheProxy(parser):
    clock, proxy = Clock(), Proxy()
    pool = client.HTTPConnectionPool(clock, persistent=True, parser=parser)
    agent = client.ProxyAgent(proxy, clock, pool)
    results = []
    for uri in (b"http://example.com:8080/a?b=c", b"http://other.example.org/"):
        agent.request(b"GET", uri).addCallback(client.readBody).addBoth(results.append)
        protocol, transport = proxy.connections[-1]
        protocol.dataReceived(OK)
    [(protocol, transport)] = proxy.connections  # one connection for both
    sent = transport.value().lower()
    assert sent.startswith(b"get http://example.com:8080/a?b=c http/1.1\r\n")
    assert b"host: example.com:8080\r\n" in sent
    assert b"\r\n\r\nget http://other.example.org/ http/1.1\r\nhost: other.example.org\r\n" in sent
    assert results == [b"ok", b"ok"]


class Counting:
    def __init__(self):
        self.asked = []

    def creatorForNetloc(self, hostname, port):
        self.asked.append(hostname)
        return object()


def test_hostnameCachingHTTPSPolicyRemembersTheLastHosts():
    counting = Counting()
    policy = client.HostnameCachingHTTPSPolicy(counting, cacheSize=2)
    a = policy.creatorForNetloc(b"a.example", 443)
    assert policy.creatorForNetloc(b"a.example", 8443) is a
    policy.creatorForNetloc(b"b.example", 443)
    policy.creatorForNetloc(b"a.example", 443)  # a is now the most recent
    policy.creatorForNetloc(b"c.example", 443)  # b is forgotten
    assert policy.creatorForNetloc(b"a.example", 443) is a
    policy.creatorForNetloc(b"b.example", 443)
    assert counting.asked == [b"a.example", b"b.example", b"c.example", b"b.example"]
