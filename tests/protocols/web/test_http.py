"""protocols.web.http's helpers: dates, chunks, query strings, ranges, the log format."""

import pytest

from protocols.web import error, http
from protocols.web._dates import DateCache


def test_datetimeToString():
    assert http.datetimeToString(784111777) == b"Sun, 06 Nov 1994 08:49:37 GMT"
    assert http.datetimeToLogString(784111777) == "[06/Nov/1994:08:49:37 +0000]"


@pytest.mark.parametrize(
    "text",
    [
        b"Sun, 06 Nov 1994 08:49:37 GMT",
        b"Sunday, 06-Nov-94 08:49:37 GMT",
        b"Sun Nov  6 08:49:37 1994",
        b"06 Nov 1994 08:49:37 GMT",
    ],
)
def test_stringToDatetimeReadsEachFormat(text):
    assert http.stringToDatetime(text) == 784111777


@pytest.mark.parametrize("text", [b"yesterday", b"Sun, 99 Foo 1994 08:49:37 GMT", b"\xff"])
def test_stringToDatetimeRefusesOthers(text):
    with pytest.raises(ValueError):
        http.stringToDatetime(text)


def test_timegm():
    assert http.timegm(1994, 11, 6, 8, 49, 37) == 784111777
    with pytest.raises(ValueError):
        http.timegm(1969, 1, 1, 0, 0, 0)


def test_dateIsFormattedOncePerSecond(monkeypatch):
    now = [100.2]
    cache = DateCache(lambda: now[0])
    first = cache.date()
    now[0] = 100.9
    assert cache.date() is first
    now[0] = 101.0
    assert cache.date() == http.datetimeToString(101)
    assert cache.logString() == http.datetimeToLogString(101)


def test_chunks():
    assert b"".join(http.toChunk(b"hello")) == b"5\r\nhello\r\n"
    assert http.fromChunk(b"5\r\nhello\r\n3\r\nabc\r\n") == (b"hello", b"3\r\nabc\r\n")
    for bad in (b"zz\r\nhello\r\n", b"5\r\nhelloXX", b"-5\r\nhello\r\n"):
        with pytest.raises(ValueError):
            http.fromChunk(bad)


def test_parse_qs():
    assert http.parse_qs(b"a=1&b=2;a=3&c&d=") == {b"a": [b"1", b"3"], b"b": [b"2"]}
    assert http.parse_qs(b"d=&x=%41+b", keep_blank_values=True) == {b"d": [b""], b"x": [b"A b"]}
    with pytest.raises(ValueError):
        http.parse_qs(b"c", strict_parsing=True)


def test_urlparse():
    parsed = http.urlparse(b"http://example.com:80/p;params?q=1#frag")
    assert (parsed.scheme, parsed.netloc, parsed.path, parsed.query) == (
        b"http",
        b"example.com:80",
        b"/p",
        b"q=1",
    )
    with pytest.raises(TypeError):
        http.urlparse("http://text")


def test_parseContentRange():
    assert http.parseContentRange("bytes 0-499/1234") == (0, 499, 1234)
    assert http.parseContentRange("bytes 0-499/*") == (0, 499, None)
    with pytest.raises(ValueError):
        http.parseContentRange("lines 0-4/9")


def test_statusCodesAndPhrases():
    assert http.NOT_FOUND == 404
    phrase = http.RESPONSES[http.REQUEST_HEADER_FIELDS_TOO_LARGE]
    assert phrase == b"Request Header Fields Too Large"
    assert http.responses is http.RESPONSES
    assert http.NO_BODY_CODES == (204, 304)


class FakeRequest:
    method = b"GET"
    uri = b'/a"b\n'
    clientproto = b"HTTP/1.1"
    code = 200
    sentLength = 0

    def __init__(self, host):
        self.host = host

    def getClientAddress(self):
        from reactor.address import IPv4Address

        return IPv4Address("TCP", self.host, 1)

    def getHeader(self, name):
        return {b"user-agent": b'ag"ent'}.get(name)


def test_combinedLogFormatterEscapes():
    line = http.combinedLogFormatter("[ts]", FakeRequest("1.2.3.4"))
    assert line == '"1.2.3.4" - - [ts] "GET /a\\"b\\n HTTP/1.1" 200 - "-" "ag\\"ent"'


def test_errorCarriesItsStatus():
    failure = error.Error(404)
    assert (failure.status, failure.message) == (b"404", b"Not Found")
    assert str(failure) == "404 Not Found"
    assert str(error.PageRedirect(301, location=b"/new")) == "301 Moved Permanently to /new"
    with pytest.raises(ValueError):
        error.Error(b"40")
    with pytest.raises(TypeError):
        error.UnsupportedMethod(None)
    assert error.UnsupportedMethod([b"GET"]).allowedMethods == [b"GET"]
