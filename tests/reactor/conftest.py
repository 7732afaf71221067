"""Fixtures shared by the reactor tests."""

import pytest

from tests.reactor.tlscerts import CertificateSet


@pytest.fixture(scope="session")
def tlsCertificates():
    """The trustme CAs and certificates of tests/reactor/tlscerts.py, made once."""
    return CertificateSet()
