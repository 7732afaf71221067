"""
The one TLS server policy of benchmarks/bench_tls.py's servers: TLS 1.3 only,
OpenSSL's default ciphersuites (AES-256-GCM is what a default client gets) and
key-exchange groups (X25519), two session tickets sent after each handshake
(OpenSSL's and Python's default), the certificate and key from one PEM file.

Loom and Twisted get it as a pyOpenSSL Context behind an old-style context
factory (``getContext()``); asyncio as the stdlib ssl.SSLContext with the same
settings.  runProfiled() is the servers' hook for bench_tls.py's
--profile-handshake.
"""

import cProfile
import os
import time

# OpenSSL and ssl are imported by the functions that make contexts: the web
# and PB servers import this module only for runProfiled, and a server that
# speaks no TLS should not carry the TLS stack's objects (a third of a web
# server's, walked by each full collection of the garbage collector).


def pyOpenSSLContext(pemPath):
    """A server OpenSSL.SSL.Context with the certificate chain and key of pemPath."""
    from OpenSSL import SSL

    context = SSL.Context(SSL.TLS_SERVER_METHOD)
    context.set_min_proto_version(SSL.TLS1_3_VERSION)
    context.set_max_proto_version(SSL.TLS1_3_VERSION)
    context.use_certificate_chain_file(pemPath)
    context.use_privatekey_file(pemPath)
    context.check_privatekey()
    return context


def stdlibContext(pemPath):
    """A server ssl.SSLContext with the same policy, for asyncio."""
    import ssl

    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.minimum_version = context.maximum_version = ssl.TLSVersion.TLSv1_3
    context.load_cert_chain(pemPath)
    return context


class ContextFactory:
    """An old-style server context factory: one Context, made once, for every connection."""

    def __init__(self, pemPath):
        self._context = pyOpenSSLContext(pemPath)

    def getContext(self):
        """Return the Context."""
        return self._context


def runProfiled(run, *args):
    """
    Call run(*args); under cProfile, counting CPU time, if LOOM_BENCH_PROFILE names a file.

    The statistics are written to that file when run returns or is
    interrupted (SIGINT: the reactors stop, asyncio.run raises
    KeyboardInterrupt).
    """
    path = os.environ.get("LOOM_BENCH_PROFILE")
    if not path:
        return run(*args)
    # CPU time (user + system), not wall time: the loop's wait in epoll is no cost.
    profiler = cProfile.Profile(time.process_time)
    try:
        return profiler.runcall(run, *args)
    except KeyboardInterrupt:
        return None
    finally:
        profiler.dump_stats(path)
