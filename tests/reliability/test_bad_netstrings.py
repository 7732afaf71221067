"""
Attack: malformed netstrings.  Many connections each send one kind of
broken netstring (no colon, no comma, a leading zero, a length past
MAX_LENGTH or past what int() takes, a negative length, bytes after the
payload) to a NetstringReceiver server.

NetstringReceiver notices the error as soon as the bytes received cannot
begin a valid netstring and drops that connection only: every attacker is
disconnected, while a good client connected before the attack keeps its
connection and its answers, and new good clients are served.
"""

import socket

from tests.reliability.attack_helpers import (
    Attack,
    GoodClient,
    assertLatencyHeld,
    closedByPeer,
    startServer,
)
from tests.services.loomd_helpers import (
    alive,
    freePort,
    loomdFixture,  # noqa: F401 - the loomd fixture
    tacFile,
)

NETSTRING_ECHO = """
from protocols.basic import NetstringReceiver
from services.internet import TCPServer


class NetstringEcho(NetstringReceiver):
    def stringReceived(self, string):
        self.sendString(string)


TCPServer(%d, Factory.forProtocol(NetstringEcho), interface="127.0.0.1").setServiceParent(
    application)
"""

MALFORMED = [
    b"hello",  # no length at all
    b"5hello,",  # no colon
    b"5:hello!",  # no comma after the payload
    b"05:hello,",  # a leading zero
    b"-1:,",  # a negative length
    b"100000:" + b"x" * 100,  # longer than MAX_LENGTH (99999)
    b"9" * 5000 + b":",  # more digits than int() accepts
    b":hello,",  # an empty length
    b"3:abc,4:abcd;",  # a good netstring, then a broken one
    b"\x00\xff\x00\xff",  # binary noise
]


def sendMalformed(port, index):
    """Send one malformed netstring; return True if the server dropped us."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            sock.sendall(MALFORMED[index % len(MALFORMED)])
        except (ConnectionResetError, BrokenPipeError):
            return True
        return closedByPeer(sock, timeout=5)


def test_malformedNetstringsDropOnlyTheirConnection(loomd, tmp_path):
    port = freePort()
    pid = startServer(loomd, "-y", tacFile(tmp_path, NETSTRING_ECHO % (port,))).pid
    early = GoodClient(port, b"4:ping,")
    baseline = early.medianLatency(count=100, seconds=1.0)
    counter = iter(range(10**6))
    attack = Attack(lambda: sendMalformed(port, next(counter)), threads=2, count=3000, seconds=2.0)
    attack.start()
    during = early.medianLatencyWhile(attack.running)
    dropped = attack.stop()
    late = GoodClient(port, b"10:late hello,")
    lateLatency = late.medianLatency(count=50, seconds=1.0)
    print(
        "bad netstrings: %d of %d connections dropped; median latency %.3f ms baseline, %.3f ms"
        " under attack, %.3f ms for a new client after it"
        % (sum(dropped), len(dropped), baseline * 1000, during * 1000, lateLatency * 1000)
    )
    assert len(dropped) >= len(MALFORMED)
    assert all(dropped), "%d connections were not dropped" % (dropped.count(False),)
    assertLatencyHeld(during, baseline)
    assertLatencyHeld(lateLatency, baseline)
    # The connection made before the attack is still served.
    assert early.roundTrip() > 0
    early.close()
    late.close()
    assert alive(pid)
