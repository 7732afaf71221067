"""
HTTP server on aiohttp (asyncio's default loop, no access log), for
benchmarks/bench_web.py.

Usage: web_aiohttp.py PORT.  /hello answers "Hello, world!";
/static/... is aiohttp's static route over benchmarks/build/web-static/
(its FileResponse, which uses sendfile).
"""

import asyncio
import os
import sys

from aiohttp import web

HERE = os.path.dirname(os.path.abspath(__file__))
STATIC = os.path.join(os.path.dirname(HERE), "build", "web-static")


async def hello(request):
    """The "hello world" handler."""
    return web.Response(body=b"Hello, world!\n", content_type="text/plain")


async def serve(port):
    """Listen, announce the port, serve forever."""
    app = web.Application()
    app.router.add_get("/hello", hello)
    app.router.add_static("/static/", STATIC)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", port, backlog=1024)
    await site.start()
    sockets = site._server.sockets
    print("port=%d" % (sockets[0].getsockname()[1],), flush=True)
    await asyncio.Event().wait()


if __name__ == "__main__":
    try:
        asyncio.run(serve(int(sys.argv[1])))
    except KeyboardInterrupt:
        pass
