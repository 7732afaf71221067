"""
TLS echo server on Twisted's default reactor (epoll on Linux) with
``reactor.listenSSL``, for benchmarks/bench_tls.py.

Usage: twisted_tls.py PORT PEM.  Listens on 127.0.0.1 (PORT 0 for an
ephemeral port) with the certificate and key of PEM (tlscontext.py's policy,
the same pyOpenSSL Context Loom's server gets), prints "port=N" once
listening, and echoes until killed.
"""

import sys

from tlscontext import ContextFactory, runProfiled
from twisted.internet import reactor
from twisted.internet.interfaces import IOpenSSLContextFactory
from twisted.internet.protocol import Factory
from twisted.protocols.wire import Echo
from zope.interface import alsoProvides


def main():
    """Listen, announce the port, run the reactor."""
    factory = Factory.forProtocol(Echo)
    factory.noisy = False
    port, pemPath = int(sys.argv[1]), sys.argv[2]
    contextFactory = ContextFactory(pemPath)
    # Declared, so that Twisted takes it without a LegacyContextFactoryWarning.
    alsoProvides(contextFactory, IOpenSSLContextFactory)
    listening = reactor.listenSSL(
        port, factory, contextFactory, backlog=1024, interface="127.0.0.1"
    )
    print("port=%d" % (listening.getHost().port,), flush=True)
    runProfiled(reactor.run)


if __name__ == "__main__":
    main()
