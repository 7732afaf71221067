"""
Run by test_tcp.test_emfileDoesNotSpin in a child process: a server whose
descriptor limit runs out while connections wait to be accepted.
"""

import os
import resource
import subprocess
import sys
import time

from protocols.protocol import Factory, Protocol
from reactor import log
from reactor.epollreactor import EPollReactor

messages = []
log.addObserver(lambda e: messages.append(log.textFromEventDict(e) or ""))
served = []


class Hold(Protocol):
    def connectionMade(self):
        served.append(self)


reactor = EPollReactor()
port = reactor.listenTCP(0, Factory.forProtocol(Hold), interface="127.0.0.1", backlog=200)
address = port.getHost()
# A client in another process opens 60 connections and holds them.
CLIENT = (
    "import socket, sys\n"
    "socks = [socket.create_connection(('127.0.0.1', %d)) for _ in range(60)]\n"
    "print('connected', flush=True)\n"
    "sys.stdin.read()\n"
)
client = subprocess.Popen(
    [sys.executable, "-c", CLIENT % address.port],
    stdin=subprocess.PIPE,
    stdout=subprocess.PIPE,
    text=True,
)
assert client.stdout.readline().strip() == "connected"
# Leave room for only 20 more descriptors in this process.
used = len(os.listdir("/proc/self/fd"))
soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
resource.setrlimit(resource.RLIMIT_NOFILE, (used + 20, hard))
start = time.process_time()
wall = time.monotonic()
while time.monotonic() - wall < 1.0:
    reactor.iterate(0.05)
cpu = time.process_time() - start
paused = [m for m in messages if "pausing accepts" in m]
assert paused, messages
assert len(paused) == 1, "logged %d times in one burst" % len(paused)
assert cpu < 0.5, "busy loop: %.2fs CPU in 1s" % cpu
accepted = len(served)
assert 0 < accepted < 60, accepted
# Give descriptors back: accepting resumes and serves the rest.
resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
deadline = time.monotonic() + 10
while len(served) < 60 and time.monotonic() < deadline:
    reactor.iterate(0.05)
assert len(served) == 60, len(served)
client.stdin.close()
client.wait(10)
print("OK paused once, accepted %d then 60, cpu %.3f" % (accepted, cpu))
