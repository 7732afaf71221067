"""
Echo server on uvloop's event loop (asyncio.Protocol, libuv underneath), for
benchmarks/bench_echo.py: the fastest Python event loop we know of, as a peer.

Listens on 127.0.0.1 (port argv[1], default 0 for an ephemeral port), prints
"port=N" once listening, and echoes until killed.
"""

import os
import sys

import uvloop

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))

from asyncio_echo import serve  # noqa: E402

if __name__ == "__main__":
    uvloop.run(serve(int(sys.argv[1]) if len(sys.argv) > 1 else 0))
