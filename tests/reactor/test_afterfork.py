"""
reactor.afterFork(): a reactor carried into the child of os.fork() becomes
the child's own, in a subprocess that forks (as loomd's master does).

The parent binds a port and starts its thread pool, then forks; the child
calls afterFork() and serves the inherited port while the parent serves it
too; a thread call in the child finishes (the parent's pool threads do
not exist there: without afterFork it would wait for ever).
"""

import os
import socket
import subprocess
import sys

import pytest

from reactor.pytestplugin import REACTOR_NAMES

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

CHILD = r"""
import os, sys
from reactor import getReactorClass
from protocols.protocol import Factory, Protocol
from reactor.threads import deferToThreadPool

reactor = getReactorClass(sys.argv[1])()

def say(line):
    # One write per line: parent and child share the pipe, and print() may
    # write a line and its newline apart (unbuffered stdout).
    os.write(1, (line + "\n").encode())

class Answer(Protocol):
    def connectionMade(self):
        self.transport.write(b"%d\n" % (os.getpid(),))
        self.transport.loseConnection()

port = reactor.listenTCP(0, Factory.forProtocol(Answer), interface="127.0.0.1")
reactor.callInThread(lambda: None)  # the parent's pool now has a thread
pid = os.fork()
if pid == 0:
    try:
        reactor.afterFork()
    except NotImplementedError as error:
        say("refused: %s" % (error,))
        os._exit(0)
    d = deferToThreadPool(reactor, reactor.getThreadPool(), os.getpid)
    d.addCallback(lambda threadPid: say("thread call done"))
    reactor.callLater(20, reactor.stop)
    d.addCallback(lambda ignored: reactor.callLater(3, reactor.stop))
    reactor.run(installSignalHandlers=False)
    os._exit(0)
say("port %d child %d" % (port.getHost().port, pid))
reactor.callLater(3.5, reactor.stop)
reactor.run(installSignalHandlers=False)
os.waitpid(pid, 0)
say("parent done")
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", REACTOR_NAMES)
def test_forkedChildServesOnItsOwnReactor(name):
    child = subprocess.Popen(
        [sys.executable, "-c", CHILD, name],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        seen = []
        while not seen or not seen[-1].startswith("port "):
            seen.append(child.stdout.readline())
            assert seen[-1], seen
        if name == "asyncio":
            child.wait(timeout=30)
            rest = child.stdout.read()
            assert "refused: the asyncio reactor cannot be carried" in "".join(seen) + rest
            return
        words = seen[-1].split()
        port, childPid = int(words[1]), int(words[3])
        served = set()
        for _ in range(20):
            with socket.create_connection(("127.0.0.1", port), timeout=10) as client:
                client.settimeout(10)
                served.add(int(client.makefile().readline()))
        assert served <= {child.pid, childPid}
        assert childPid in served or child.pid in served
        child.wait(timeout=30)
        rest = child.stdout.read()
        assert "thread call done" in "".join(seen) + rest
        assert rest.endswith("parent done\n")
    finally:
        child.kill()
        child.wait()


HELD = r"""
import os, socket, sys
from reactor import getReactorClass
from protocols.protocol import ClientFactory, Protocol

reactor = getReactorClass(sys.argv[1])()
listener = socket.create_server(("127.0.0.1", 0))
connected = []

class Writer(Protocol):
    holdWrites = True  # (at once otherwise: sent before the fork)

    def connectionMade(self):
        connected.append(self)

reactor.connectTCP("127.0.0.1", listener.getsockname()[1], ClientFactory.forProtocol(Writer))
peer, _ = listener.accept()
while not connected:
    reactor.iterate(0.01)
connected[0].transport.write(b"once")  # held for the end of the turn
pid = os.fork()
if pid == 0:
    reactor.afterFork()
    reactor.iterate(0)  # the child's turn: it must not send the parent's bytes
    os._exit(0)
os.waitpid(pid, 0)
reactor.iterate(0)
peer.settimeout(10)
received = b""
while len(received) < 4:
    received += peer.recv(100)
peer.settimeout(0.5)
try:
    received += peer.recv(100)
except socket.timeout:
    pass
sys.stdout.write(repr(received))
"""


@pytest.mark.timeout(60)
@pytest.mark.parametrize("name", [name for name in REACTOR_NAMES if name != "asyncio"])
def test_bytesHeldAtAForkAreSentByTheParentOnly(name):
    # A write held when the process forks is the parent's to send: the
    # child's afterFork forgets it, so the peer gets it once.
    out = subprocess.run(
        [sys.executable, "-c", HELD, name],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=50,
    )
    assert out.returncode == 0, out.stderr
    assert out.stdout == "b'once'"
