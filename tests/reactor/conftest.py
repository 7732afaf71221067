"""Fixtures shared by the reactor tests."""

import pytest

from reactor import _tlsfast


@pytest.fixture(params=["fast", "public"])
def tlsPath(request, monkeypatch):
    """
    Run a TLS test over each of reactor.tls's ways into OpenSSL: "fast",
    reactor._tlsfast's direct calls (where this pyOpenSSL allows them:
    test_fastPathIsTaken checks that it does), and "public", pyOpenSSL's
    public methods, the fallback, forced.
    """
    monkeypatch.setattr(_tlsfast, "FAST", _tlsfast.FAST and request.param == "fast")
    return request.param
