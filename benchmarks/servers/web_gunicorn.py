"""
gunicorn with sync workers serving a "hello world" WSGI app, the peer of
the web point of benchmarks/bench_workers.py: ``web_gunicorn.py PORT
WORKERS``.  It binds 127.0.0.1:PORT (0: any) itself, prints "port=N", and
execs gunicorn on that socket (``--bind fd://N``), so its pid is
gunicorn's master.  The app answers every path as web_loom.py's /hello.
"""

import os
import socket
import sys


def app(environ, start_response):
    """The WSGI app: 14 bytes of text, as Loom's hello Resource."""
    body = b"Hello, world!\n"
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "14")])
    return [body]


def main():
    """Bind, announce the port, exec gunicorn with WORKERS sync workers."""
    port, workers = int(sys.argv[1]), sys.argv[2]
    listening = socket.socket()
    listening.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listening.bind(("127.0.0.1", port))
    listening.listen(1024)
    listening.set_inheritable(True)
    print("port=%d" % (listening.getsockname()[1],), flush=True)
    here = os.path.dirname(os.path.abspath(__file__))
    argv = [sys.executable, "-m", "gunicorn", "--chdir", here, "-k", "sync"]
    argv += ["-w", workers, "--bind", "fd://%d" % (listening.fileno(),)]
    argv += ["--log-level", "warning", "--backlog", "1024", "web_gunicorn:app"]
    os.execv(sys.executable, argv)


if __name__ == "__main__":
    main()
