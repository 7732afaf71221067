"""
The HTTP/1.1 request parser behind HTTPChannel: one small interface, two
implementations.

Loom does not parse HTTP by hand.  ``httptools`` (llhttp, Node's strict
parser, which refuses the ambiguities request smuggling lives on) is the
default; ``h11``, pure Python and some forty times slower per request, is
the fallback where httptools cannot be imported, and can be forced with the
environment variable ``LOOM_HTTP_PARSER=h11`` or ``HTTPFactory(parser=
"h11")``.  The conformance tests run against both.

A parser is made for one connection with ``makeParser(name, owner,
limits)`` and
fed bytes with ``feed(data)``.  It calls its owner (the channel) back:

- ``owner.headReceived(headers)`` once a request's head is complete, with
  its headers as the raw list of (name, value) pairs and the parser's
  attributes describing the rest (``method``, ``uri``, ``version``, ``keepAlive``,
  ``contentLength`` (None when chunked), ``chunked``, ``expectContinue``,
  ``upgrade``);
- ``owner.bodyReceived(data)`` for each piece of its body, de-chunked;
- ``owner.messageReceived()`` at its end.

Anything the parser refuses raises ``ParseError`` from ``feed``, carrying
the status to answer with (400, 431, 501, 505); after that the parser is
done and the connection must close.  protocols/web/_head.py holds what the
two share: ParseError, Limits and the checks of a complete head.

Head size: the request line and headers together may not exceed
``totalHeadersSize`` bytes (431).  The complete head is measured exactly;
a head still incomplete after a feed is measured from the bytes fed since
it began, so a client cannot grow one without end however it cuts it.
"""

from __future__ import annotations

import os
from typing import Any

from protocols.web._head import Limits, ParserOwner

__all__ = ["makeParser", "parserClass", "parserName", "PARSER_VARIABLE"]

PARSER_VARIABLE = "LOOM_HTTP_PARSER"


def parserName(requested: str | None = None) -> str:
    """
    Return the parser to use: requested if given, else the environment's
    ``LOOM_HTTP_PARSER``, else httptools when it imports, else h11.

    :raises ValueError: for a name other than ``"httptools"`` and ``"h11"``.
    :raises ImportError: if the parser asked for by name cannot be imported.
    """
    name = requested or os.environ.get(PARSER_VARIABLE) or None
    if name is None:
        try:
            import httptools  # noqa: F401
        except ImportError:
            return "h11"
        return "httptools"
    if name not in ("httptools", "h11"):
        raise ValueError("unknown HTTP parser %r: choose httptools or h11" % (name,))
    __import__(name)
    return name


def parserClass(name: str) -> Any:
    """
    Return the parser class of the kind name (see parserName), importing
    its module if this is the first time.

    HTTPFactory calls it when it is made, so that the module is loaded
    before loomd's ``--chroot`` (inside the jail its file may not be there:
    test_loomdWebServesAPathInsideTheChroot) or a switch to a user who may
    not read it.
    """
    if name == "httptools":
        from protocols.web._httptoolsparser import HTTPToolsParser

        return HTTPToolsParser
    from protocols.web._h11parser import H11Parser

    return H11Parser


def makeParser(name: str, owner: ParserOwner, limits: Limits) -> object:
    """
    Return a new parser of the kind name (see parserName) for one connection.

    The parser has ``feed(data)`` and the attributes listed in the module
    docstring.
    """
    return parserClass(name)(owner, limits)
