"""
Shared test configuration.

Loom's pytest plugin (reactor.pytestplugin: the ``reactor`` fixture,
runUntil, the dirty-reactor check) is registered by the package's
``pytest11`` entry point when Loom is installed (``make test`` installs it).
Running from a source tree where it is not installed, load it here; loading
it both ways would register the module twice, which pytest refuses.

``tlsCertificates`` gives the TLS tests (reactor's and services') their
certificates: tests/reactor/tlscerts.py, made once per session.
"""

import os
from importlib.metadata import entry_points

import pytest


def _pluginLoadedByEntryPoint():
    if os.environ.get("PYTEST_DISABLE_PLUGIN_AUTOLOAD"):
        return False
    return any(entry.value == "reactor.pytestplugin" for entry in entry_points(group="pytest11"))


pytest_plugins = [] if _pluginLoadedByEntryPoint() else ["reactor.pytestplugin"]


@pytest.fixture(scope="session")
def tlsCertificates():
    """The trustme CAs and certificates of tests/reactor/tlscerts.py, made once."""
    from tests.reactor.tlscerts import CertificateSet

    return CertificateSet()
