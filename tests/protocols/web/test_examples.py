"""
doc/examples/web.tac, started in a child process as loomd would, and asked
what doc/web.md says it answers.
"""

import hashlib
import http.client
import os
import pathlib

import pytest

from tests.protocols.test_finger_examples import startTac
from tests.reactor.transport_helpers import freePort

ROOT = pathlib.Path(__file__).resolve().parents[3]
TAC = ROOT / "doc" / "examples" / "web.tac"

pytestmark = pytest.mark.timeout(60)


def ask(port, method, path, body=None, headers=None):
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=20)
    try:
        connection.request(method, path, body=body, headers=headers or {})
        response = connection.getresponse()
        return response.status, response.getheader("Set-Cookie"), response.read()
    finally:
        connection.close()


def test_webTacServesWhatTheDocSays():
    port = freePort()
    tac = startTac(TAC, LOOM_WEB_PORT=str(port))
    try:
        assert ask(port, "GET", "/hello?name=you")[::2] == (200, b"Hello, you!\n")
        status, cookie, body = ask(port, "GET", "/visits")
        assert (status, body) == (200, b"visit 1\n")
        session = cookie.split(";")[0]
        assert ask(port, "GET", "/visits", headers={"Cookie": session})[2] == b"visit 2\n"
        assert ask(port, "GET", "/later")[::2] == (200, b"later\n")
        data = os.urandom(300_000)
        status, _, body = ask(port, "POST", "/upload", body=data)
        assert status == 200
        assert body == b"300000 bytes, sha256 %s\n" % (hashlib.sha256(data).hexdigest().encode(),)
        assert ask(port, "GET", "/nothing")[0] == 404
    finally:
        output, errors = tac.stopped()
    assert output == "stopped\n", errors
