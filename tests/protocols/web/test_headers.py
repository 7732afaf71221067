"""Headers: names, values, str and bytes, and what cannot get in."""

import pytest

from protocols.web.http import Headers, InvalidHeaderName


def test_namesAreCaseInsensitiveAndCanonical():
    headers = Headers()
    headers.addRawHeader(b"content-type", b"text/plain")
    headers.addRawHeader(b"CONTENT-TYPE", b"text/html")
    headers.setRawHeaders(b"etag", [b'"x"'])
    headers.setRawHeaders(b"www-authenticate", [b"Basic"])
    assert list(headers.getAllRawHeaders()) == [
        (b"Content-Type", [b"text/plain", b"text/html"]),
        (b"ETag", [b'"x"']),
        (b"WWW-Authenticate", [b"Basic"]),
    ]
    assert headers.hasHeader(b"Content-type")
    assert headers.getRawHeaders(b"CONTENT-type") == [b"text/plain", b"text/html"]


def test_strNamesGiveStrValues():
    headers = Headers({"X-Name": ["Jörg"]})
    assert headers.getRawHeaders(b"x-name") == ["Jörg".encode()]
    assert headers.getRawHeaders("x-name") == ["Jörg"]


def test_defaultForMissing():
    headers = Headers()
    assert headers.getRawHeaders(b"absent") is None
    assert headers.getRawHeaders(b"absent", [b"d"]) == [b"d"]
    assert not headers.hasHeader(b"absent")


def test_removeHeader():
    headers = Headers({b"A": [b"1"], b"B": [b"2"]})
    headers.removeHeader(b"a")
    headers.removeHeader(b"never-there")
    assert list(headers.getAllRawHeaders()) == [(b"B", [b"2"])]


def test_valuesCannotBreakTheLine():
    headers = Headers()
    headers.setRawHeaders(b"X", [b"a\r\nInjected: yes", "b\nc"])
    headers.addRawHeader(b"X", b"d\re")
    assert headers.getRawHeaders(b"X") == [b"a Injected: yes", b"b c", b"d e"]


@pytest.mark.parametrize("name", [b"bad name", b"colon:", b"nul\x00", b"", "non-latin-\u20ac"])
def test_namesMustBeTokens(name):
    with pytest.raises((InvalidHeaderName, UnicodeEncodeError)):
        Headers().setRawHeaders(name, [b"v"])


def test_setRawHeadersWantsASequence():
    with pytest.raises(TypeError):
        Headers().setRawHeaders(b"X", b"not a list")


def test_copyAndEquality():
    headers = Headers({b"A": [b"1"]})
    duplicate = headers.copy()
    assert duplicate == headers
    duplicate.addRawHeader(b"A", b"2")
    assert headers.getRawHeaders(b"A") == [b"1"]
    assert duplicate != headers
    assert Headers({b"a": [b"1"], b"b": [b"2"]}) == Headers({b"B": [b"2"], b"A": [b"1"]})
    assert repr(headers) == "Headers({b'A': [b'1']})"
