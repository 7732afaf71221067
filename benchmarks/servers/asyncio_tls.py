"""
TLS echo server on a plain asyncio event loop (asyncio.Protocol over the
stdlib ssl module's SSLContext, asyncio's own TLS layer), for
benchmarks/bench_tls.py.

Usage: asyncio_tls.py PORT PEM.  Listens on 127.0.0.1 (PORT 0 for an
ephemeral port) with the certificate and key of PEM (tlscontext.py's policy),
prints "port=N" once listening, and echoes until killed.
"""

import asyncio
import sys

from asyncio_echo import EchoProtocol
from tlscontext import runProfiled, stdlibContext


async def serve(port, pemPath):
    """Listen, announce the port, serve forever."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        EchoProtocol, "127.0.0.1", port, backlog=1024, ssl=stdlibContext(pemPath)
    )
    print("port=%d" % (server.sockets[0].getsockname()[1],), flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    runProfiled(asyncio.run, serve(int(sys.argv[1]), sys.argv[2]))
