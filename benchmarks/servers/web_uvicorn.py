"""
HTTP server on uvicorn (asyncio's default loop, no access log), for
benchmarks/bench_web.py.

Usage: web_uvicorn.py PORT PARSER, PARSER being "h11" or "httptools".  A
bare ASGI application: /hello answers "Hello, world!"; /static/NAME sends
the file from benchmarks/build/web-static/ in 64 KiB ASGI body messages,
read as it goes (as starlette's FileResponse does, minus its thread hop).
"""

import os
import socket
import sys

import uvicorn

HERE = os.path.dirname(os.path.abspath(__file__))
STATIC = os.path.join(os.path.dirname(HERE), "build", "web-static")
CHUNK = 65536


async def app(scope, receive, send):
    """The ASGI application."""
    if scope["type"] != "http":
        return
    path = scope["path"]
    if path == "/hello":
        headers = [(b"content-type", b"text/plain"), (b"content-length", b"14")]
        await send({"type": "http.response.start", "status": 200, "headers": headers})
        await send({"type": "http.response.body", "body": b"Hello, world!\n"})
        return
    name = path[len("/static/") :] if path.startswith("/static/") else ""
    target = os.path.join(STATIC, name)
    if not name or "/" in name or not os.path.isfile(target):
        await send({"type": "http.response.start", "status": 404, "headers": []})
        await send({"type": "http.response.body", "body": b""})
        return
    size = os.path.getsize(target)
    headers = [
        (b"content-type", b"application/octet-stream"),
        (b"content-length", str(size).encode()),
    ]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    with open(target, "rb") as source:
        while True:
            chunk = source.read(CHUNK)
            more = len(chunk) == CHUNK
            await send({"type": "http.response.body", "body": chunk, "more_body": more})
            if not more:
                break


def main():
    """Bind, announce the port, serve."""
    # IPPROTO_TCP named: asyncio sets TCP_NODELAY only on sockets whose
    # proto says TCP (with 0, every response waits out a delayed ACK).
    listening = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("127.0.0.1", int(sys.argv[1])))
    listening.listen(1024)
    print("port=%d" % (listening.getsockname()[1],), flush=True)
    config = uvicorn.Config(
        app,
        http=sys.argv[2],
        loop="asyncio",
        access_log=False,
        log_level="warning",
        lifespan="off",
    )
    uvicorn.Server(config).run(sockets=[listening])


if __name__ == "__main__":
    main()
