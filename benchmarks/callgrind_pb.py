"""
Instructions per sequential PB call, server side and client side, counted
by valgrind's callgrind: bench_pb's point (a) (``callRemote("add", 1, 2)``
on one connection, the next call sent when the answer arrives) in figures
that do not depend on the machine's load.

Each side is counted in turn: that side's process runs under ``valgrind
--tool=callgrind``, the other natively, for a short and a longer number of
calls.  The difference of the two runs' instruction totals divided by the
difference in calls is the cost of one call, with the interpreter's
start-up and the connection's set-up cancelled out.  Only the process's own
instructions are counted (not the kernel's).

    python benchmarks/callgrind_pb.py [--peer loom] [--peer twisted]
        [--side server|client] [--short 200] [--long 1200] [--baseline OTHER_LOOM_TREE]

--baseline names another Loom tree (a checkout of an earlier commit), run
as the peer ``loom-base``, for comparing a change with the code before it.
"""

import argparse
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, HERE)

from _benchlib import ROOT, Server  # noqa: E402


def clientMain(root, peer, port, calls):
    """The --client side: make calls sequential calls, print how many were answered."""
    if peer == "twisted":
        from twisted.internet import reactor
        from twisted.spread import pb
    else:
        sys.path.insert(0, root)
        import reactor as loom
        from protocols.pb import pb

        reactor = loom.getReactorClass(loom.defaultReactorName())()
    state = {"left": calls, "answered": 0, "error": None}

    def call(remote):
        remote.callRemote("add", 1, 2).addCallbacks(answered, failed, callbackArgs=(remote,))

    def answered(result, remote):
        if result != 3:
            return failed("a wrong answer: %r" % (result,))
        state["answered"] += 1
        state["left"] -= 1
        if state["left"]:
            call(remote)
        else:
            factory.disconnect()
            reactor.callLater(0.2, reactor.stop)

    def failed(reason):
        state["error"] = str(reason)
        reactor.stop()

    factory = pb.PBClientFactory()
    reactor.connectTCP("127.0.0.1", port, factory)
    factory.getRootObject().addCallbacks(call, failed)
    reactor.run()
    if state["error"] is not None:
        raise SystemExit("callgrind_pb client failed: %s" % (state["error"],))
    print(json.dumps({"count": state["answered"]}), flush=True)


def totalInstructions(path):
    with open(path) as counts:
        found = re.search(r"^(?:summary|totals): (\d+)", counts.read(), re.MULTILINE)
    return int(found.group(1))


def countInstructions(root, peer, side, calls):
    """Run one side under callgrind for calls calls; return (instructions, calls answered)."""
    with tempfile.TemporaryDirectory() as directory:
        out = os.path.join(directory, "callgrind.out")
        valgrind = ["valgrind", "--tool=callgrind", "--callgrind-out-file=" + out]
        framework = "twisted" if peer == "twisted" else "loom"
        serverArgv = [sys.executable, os.path.join(root, "benchmarks/servers/pb_server.py")]
        serverArgv.append(framework)
        if side == "server":
            serverArgv = valgrind + serverArgv
        server = Server(peer, serverArgv, logName="callgrind-pb")
        try:
            clientArgv = [sys.executable, os.path.abspath(__file__), "--client", root, peer]
            clientArgv += [str(server.port), str(calls)]
            if side == "client":
                clientArgv = valgrind + clientArgv
            output = subprocess.run(
                clientArgv, check=True, stdout=subprocess.PIPE, timeout=1800, cwd=root
            ).stdout
        finally:
            server.stopGently(timeout=300)
        return totalInstructions(out), json.loads(output.splitlines()[-1])["count"]


def perCall(root, peer, side, short, long):
    """Instructions per call on side, and the two runs' (instructions, calls)."""
    first = countInstructions(root, peer, side, short)
    second = countInstructions(root, peer, side, long)
    calls = second[1] - first[1]
    if calls <= 0:
        raise RuntimeError("the longer run made no more calls than the shorter one")
    return (second[0] - first[0]) / calls, first, second


def main(argv=None):
    """Print the instructions per call of each side of each peer asked for."""
    parser = argparse.ArgumentParser(description=__doc__.strip().splitlines()[0])
    parser.add_argument("--peer", action="append", help="loom, twisted, loom-base")
    parser.add_argument("--side", action="append", choices=["server", "client"])
    parser.add_argument("--short", type=int, default=200, help="calls in the short run")
    parser.add_argument("--long", type=int, default=1200, help="calls in the long run")
    parser.add_argument("--baseline", help="another Loom tree, as the peer loom-base")
    parser.add_argument("--client", nargs=4, metavar=("ROOT", "PEER", "PORT", "N"))
    args = parser.parse_args(argv)
    if args.client:
        root, peer, port, calls = args.client
        clientMain(root, peer, int(port), int(calls))
        return 0
    if shutil.which("valgrind") is None:
        raise SystemExit("callgrind_pb: valgrind is needed (apt-get install valgrind)")
    Server.startTimeout = 300.0  # an interpreter starting under valgrind
    roots = {"loom": ROOT, "twisted": ROOT}
    if args.baseline:
        roots["loom-base"] = os.path.abspath(args.baseline)
    for peer in args.peer or ["loom"]:
        if peer not in roots:
            raise SystemExit("callgrind_pb: no tree for %s (give --baseline)" % (peer,))
        for side in args.side or ["server", "client"]:
            cost, first, second = perCall(roots[peer], peer, side, args.short, args.long)
            print(
                "%-9s %-6s %9.0f instructions per call  (runs: %d calls in %.4g Ir, %d in %.4g Ir)"
                % (peer, side, cost, first[1], first[0], second[1], second[0]),
                flush=True,
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
