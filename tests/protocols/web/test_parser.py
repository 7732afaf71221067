"""
Choosing the parser: httptools by default, h11 where httptools cannot be
imported, and either when asked for by the environment or the factory.
"""

import sys

import pytest

from protocols.web import http
from protocols.web._h11parser import H11Parser
from protocols.web._httptoolsparser import HTTPToolsParser
from protocols.web._parser import PARSER_VARIABLE, parserName
from tests.protocols.web.webhelpers import Connection, Text, makeSite


def test_httptoolsIsTheDefault(monkeypatch):
    monkeypatch.delenv(PARSER_VARIABLE, raising=False)
    assert parserName() == "httptools"


def test_h11WhenHttptoolsCannotBeImported(monkeypatch):
    monkeypatch.delenv(PARSER_VARIABLE, raising=False)
    monkeypatch.setitem(sys.modules, "httptools", None)
    assert parserName() == "h11"


def test_theEnvironmentChooses(monkeypatch):
    monkeypatch.setenv(PARSER_VARIABLE, "h11")
    assert parserName() == "h11"
    assert http.HTTPFactory().parser == "h11"
    assert parserName("httptools") == "httptools"


def test_anUnknownParserIsRefused(monkeypatch):
    monkeypatch.delenv(PARSER_VARIABLE, raising=False)
    with pytest.raises(ValueError, match="unknown HTTP parser 'llhttp'"):
        http.HTTPFactory(parser="llhttp")
    monkeypatch.setenv(PARSER_VARIABLE, "fast")
    with pytest.raises(ValueError):
        parserName()


def test_aParserAskedForByNameMustImport(monkeypatch):
    monkeypatch.setitem(sys.modules, "httptools", None)
    with pytest.raises(ImportError):
        parserName("httptools")


@pytest.mark.parametrize("name, kind", [("httptools", HTTPToolsParser), ("h11", H11Parser)])
def test_theChannelUsesTheParserChosen(name, kind):
    connection = Connection(makeSite(Text(b"x"), name))
    assert isinstance(connection.channel._parser, kind)
    connection.get()
    assert connection.response().body == b"x"


@pytest.mark.parametrize("name", ["httptools", "h11"])
def test_theFactoryLoadsItsParserModuleWhenMade(monkeypatch, name):
    # Not at the first connection: by then loomd may have chrooted to a jail
    # without Loom's files (test_loomdWebServesAPathInsideTheChroot).
    module = "protocols.web._%sparser" % (name,)
    monkeypatch.delitem(sys.modules, module)
    http.HTTPFactory(parser=name)
    assert module in sys.modules
