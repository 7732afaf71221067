"""
Instructions per request of bench_web's proxy point (c), counted by
valgrind's callgrind: a figure that does not depend on the machine's load,
for comparing a change to the code before it on a shared machine.

One of the two Loom processes of point (c) runs under ``valgrind
--tool=callgrind`` (the proxy by default, or the backend with ``--backend``),
the other natively.  A small client here (wrk cannot stop after a count)
sends GET /hello as wrk does, on ``--conns`` keep-alive connections, one
request at a time on each, twice: a short and a longer run of so many
requests.  The difference of the two runs' instruction totals divided by
the difference of their request counts is the cost of one request, with
the interpreter's start-up and the connections' set-up cancelled out.
The client is far faster than a process under valgrind, so that process
always finds every connection's request waiting, as a saturated server
does under wrk.

    python benchmarks/callgrind_web.py [--backend] [--conns 100]
        [--short 1000] [--long 4000] [--baseline OTHER_LOOM_TREE]

Only the process under valgrind is counted, and not the kernel's work for
it.  Under valgrind the Python process runs some 50 times slower: each run
takes tens of seconds.
"""

import argparse
import os
import re
import selectors
import shutil
import socket
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _benchlib import Server, raiseFileLimit  # noqa: E402


def serverArgv(tree):
    """The argv of web_loom.py in Loom tree (its own directory inserted first on sys.path)."""
    return [sys.executable, os.path.join(tree, "benchmarks", "servers", "web_loom.py")]


def countInstructions(tree, counted, conns, requests):
    """
    Run point (c) with counted ("proxy" or "backend") under callgrind for so
    many requests; return the instructions counted.
    """
    with tempfile.TemporaryDirectory() as directory:
        out = os.path.join(directory, "callgrind.out")
        grind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out]
        argv = serverArgv(tree)
        Server.startTimeout = 300.0
        backendArgv = grind + argv if counted == "backend" else argv
        backend = Server("loom-backend", backendArgv, logName="cg-backend")
        try:
            proxyArgv = grind + argv if counted == "proxy" else argv
            proxy = Server("loom-proxy", proxyArgv, [str(backend.port)], logName="cg-proxy")
            try:
                drive(proxy.port, conns, requests)
            finally:
                proxy.stopGently()
        finally:
            backend.stopGently()
        with open(out) as counts:
            totals = re.search(r"^(?:summary|totals): (\d+)", counts.read(), re.MULTILINE)
        return int(totals.group(1))


def drive(port, conns, requests, timeout=600.0):
    """
    Send requests GET /hello to 127.0.0.1:port on conns keep-alive
    connections, each waiting for its response before the next; check each
    is a 200 with its whole body.
    """
    request = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n\r\n" % (port,)
    selector = selectors.DefaultSelector()
    sockets = [socket.create_connection(("127.0.0.1", port)) for _ in range(conns)]
    sent = 0
    for each in sockets[:requests]:
        each.sendall(request)
        selector.register(each, selectors.EVENT_READ, bytearray())
        sent += 1
    done = 0
    try:
        while done < requests:
            events = selector.select(timeout)
            if not events:
                raise RuntimeError("no response in %g s (%d done)" % (timeout, done))
            for key, _ in events:
                buffer = key.data
                data = key.fileobj.recv(65536)
                if not data:
                    raise RuntimeError("the server closed a connection")
                buffer += data
                end = buffer.find(b"\r\n\r\n")
                if end < 0:
                    continue
                head = bytes(buffer[:end])
                length = re.search(rb"\r\ncontent-length: *(\d+)", head, re.I)
                if not head.startswith(b"HTTP/1.1 200 ") or length is None:
                    raise RuntimeError("unexpected response: %r" % (head,))
                if len(buffer) < end + 4 + int(length.group(1)):
                    continue
                del buffer[:]
                done += 1
                if sent < requests:
                    key.fileobj.sendall(request)
                    sent += 1
    finally:
        selector.close()
        for each in sockets:
            each.close()


def perRequest(tree, counted, conns, short, long):
    """Instructions per request of the counted process, and the two runs' totals."""
    first = countInstructions(tree, counted, conns, short)
    second = countInstructions(tree, counted, conns, long)
    return (second - first) / (long - short), first, second


def main(argv=None):
    """Print the instructions per proxied request for this tree (and a baseline)."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--backend", action="store_true", help="count the backend instead")
    parser.add_argument("--conns", type=int, default=100, help="wrk's connections")
    parser.add_argument("--short", type=int, default=1000, help="requests of the short run")
    parser.add_argument("--long", type=int, default=4000, help="requests of the long run")
    parser.add_argument("--baseline", help="another Loom tree, measured the same way")
    args = parser.parse_args(argv)
    if shutil.which("valgrind") is None:
        raise SystemExit("callgrind_web: valgrind is needed (apt-get install valgrind)")
    if args.long <= args.short:
        raise SystemExit("callgrind_web: --long must be more requests than --short")
    raiseFileLimit()
    counted = "backend" if args.backend else "proxy"
    trees = [("loom", os.path.dirname(HERE))]
    if args.baseline:
        trees.append(("loom-base", os.path.abspath(args.baseline)))
    for name, tree in trees:
        cost, first, second = perRequest(tree, counted, args.conns, args.short, args.long)
        print(
            "%-9s %10.0f instructions per request in the %s  "
            "(runs: %d requests in %.4g Ir, %d in %.4g Ir)"
            % (name, cost, counted, args.short, first, args.long, second),
            flush=True,
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
