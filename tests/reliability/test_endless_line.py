"""
Attack: a line that never ends.  Clients send up to 8 MiB with no newline to
a line-based server, reconnecting each time they are dropped.

A LineReceiver buffers only the line being read, so without a limit one
peer could make the server hold all it sends.  ``lineLengthExceeded`` drops
the connection once the line is longer than ``MAX_LENGTH`` (16 KiB), so the
server's memory stays bounded and it keeps answering a good client at its
usual speed.  Shown for a LineReceiver echo server and for the shipped finger
plugin.
"""

import socket
import time

import pytest

from tests.reliability.attack_helpers import (
    Attack,
    GoodClient,
    PeakRss,
    assertLatencyHeld,
    rssKiB,
    startServer,
)
from tests.services.loomd_helpers import (
    freePort,
    loomdFixture,  # noqa: F401 - the loomd fixture
    tacFile,
)

ENDLESS = 8 * 1024 * 1024  # what one connection tries to send, without a newline
CHUNK = b"x" * 65536
# One endless line kept whole is ENDLESS bytes; with the 16 KiB limit the
# server grows by less than a tenth of a MiB.
RSS_GROWTH_BOUND_KIB = 8 * 1024

LINE_ECHO = """
from protocols.basic import LineReceiver
from services.internet import TCPServer


class LineEcho(LineReceiver):
    def lineReceived(self, line):
        self.sendLine(line)


TCPServer(%d, Factory.forProtocol(LineEcho), interface="127.0.0.1").setServiceParent(application)
"""


class FingerQuery(GoodClient):
    """A finger client: one query per connection, answered and closed."""

    def __init__(self, port):
        self.port = port

    def roundTrip(self):
        """Connect, ask for alice, read the answer to the close; return the seconds."""
        start = time.perf_counter()
        with socket.create_connection(("127.0.0.1", self.port), timeout=5) as sock:
            sock.sendall(b"alice\r\n")
            answer = b""
            while True:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                answer += chunk
        assert answer, "the finger server answered nothing"
        return time.perf_counter() - start

    def close(self):
        """Nothing stays open between queries."""


def endlessLine(port):
    """
    Send up to ENDLESS bytes without a newline; return how many were sent
    before the server dropped the connection (None if it never did).
    """
    sent = 0
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        try:
            while sent < ENDLESS:
                sock.sendall(CHUNK)
                sent += len(CHUNK)
        except (ConnectionResetError, BrokenPipeError):
            return sent
    return None


def lineEchoServer(loomd, tmp_path):
    port = freePort()
    startServer(loomd, "-y", tacFile(tmp_path, LINE_ECHO % (port,)))
    return port, GoodClient(port, b"a good line\r\n")


def fingerServer(loomd, tmp_path):
    port = freePort()
    users = tmp_path / "users"
    users.write_text("alice:Alice, in the office\n")
    startServer(loomd, "finger", "--port", "tcp:%d:interface=127.0.0.1" % (port,), "--file", users)
    return port, FingerQuery(port)


@pytest.mark.parametrize("server", [lineEchoServer, fingerServer], ids=["lineEcho", "finger"])
def test_endlessLinesAreDroppedAndTheServerStaysSmallAndFast(loomd, tmp_path, server):
    port, good = server(loomd, tmp_path)
    pid = loomd.popens[-1].pid
    baseline = good.medianLatency(count=100, seconds=1.0)
    rssBefore = rssKiB(pid)
    peak = PeakRss(pid).start()
    attack = Attack(lambda: endlessLine(port), threads=2, count=3000, seconds=2.0).start()
    during = good.medianLatencyWhile(attack.running)
    sent = attack.stop()
    rssPeak = peak.stop()
    good.close()
    print(
        "endless line (%s): %d connections dropped after %.0f KiB at most; RSS %d -> peak %d KiB;"
        " median latency %.3f ms baseline, %.3f ms under attack"
        % (
            server.__name__,
            sum(count is not None for count in sent),
            max(count or 0 for count in sent) / 1024,
            rssBefore,
            rssPeak,
            baseline * 1000,
            during * 1000,
        )
    )
    assert rssPeak - rssBefore < RSS_GROWTH_BOUND_KIB
    assertLatencyHeld(during, baseline)
    assert len(sent) >= 4
    assert None not in sent, "a connection sent %d bytes without being dropped" % (ENDLESS,)
