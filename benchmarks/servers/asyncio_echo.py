"""
Echo server on a plain asyncio event loop (asyncio.Protocol, no uvloop), for
benchmarks/bench_echo.py.

Listens on 127.0.0.1 (port argv[1], default 0 for an ephemeral port), prints
"port=N" once listening, and echoes until killed.
"""

import asyncio
import sys


class EchoProtocol(asyncio.Protocol):
    """Write back every chunk received; close when the peer closes."""

    def connection_made(self, transport):
        """Keep the transport."""
        self.transport = transport

    def data_received(self, data):
        """Echo data."""
        self.transport.write(data)


async def serve(port):
    """Listen, announce the port, serve forever."""
    loop = asyncio.get_running_loop()
    server = await loop.create_server(EchoProtocol, "127.0.0.1", port, backlog=1024)
    print("port=%d" % (server.sockets[0].getsockname()[1],), flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(serve(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
