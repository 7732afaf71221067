"""Fixtures of the web tests: the parser each conformance test runs with."""

import pytest

PARSERS = ("httptools", "h11")


@pytest.fixture(params=PARSERS)
def parser(request):
    """The name of each HTTP parser in turn: every test using it runs on both."""
    return request.param
