"""
Slow senders and bad framing against a real ``loomd`` (issue 14, item 7).

Slowloris: many clients each trickle one byte every half second and never
finish their message.  An idle timeout never fires for them; the per-message
deadline of the line receivers must drop every one of them at the deadline,
while a good client is served meanwhile.  Bad framing: many clients send a
malformed netstring or an over-long line; the log must hold one line per
kind per second plus a count of the rest, not a traceback per connection.

Every loop here is bounded in clients (CLIENTS) and in time (each wait).
"""

import re
import select
import socket
import time

from tests.services.loomd_helpers import (
    freePort,
    loomdFixture,  # noqa: F401 - the loomd fixture
    readLog,
    readPid,
    tacFile,
    waitFor,
)

CLIENTS = 200
TRICKLE = 0.5  # seconds between the bytes of a slow client
DEADLINE = 1.0  # --message-timeout
MARGIN = 2.5  # for a loaded 2-core machine: the drop must come by DEADLINE + MARGIN


def startFinger(loomd, tmp_path, *options):
    """
    Run ``loomd finger`` on a free port with a user list; return (port, pid).

    With backlog=256 every connect of the test is queued at once: past the
    default 50, a connect made while the server is briefly descheduled waits
    a second for its SYN to be sent again, which would blur the timings.
    """
    users = tmp_path / "users.txt"
    users.write_text("alice: Happy and well\n")
    port = freePort()
    result = loomd.run(
        "--pidfile",
        loomd.pidfile,
        "-l",
        loomd.logfile,
        "finger",
        "--port",
        "tcp:%d:interface=127.0.0.1:backlog=256" % (port,),
        "--file",
        str(users),
        *options,
    )
    assert result.returncode == 0, (result.stdout, result.stderr, readLog(loomd.logfile))
    pid = readPid(loomd.pidfile)
    loomd.track(pid)
    return port, pid


def finger(port, user=b"alice"):
    """One finger query; return (answer, seconds it took)."""
    start = time.monotonic()
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        client.sendall(user + b"\r\n")
        answer = b""
        while True:
            chunk = client.recv(4096)
            if not chunk:
                break
            answer += chunk
    return answer, time.monotonic() - start


def closed(sock):
    """True if the peer closed or reset sock (it is readable and reads nothing)."""
    try:
        return sock.recv(1) == b""
    except ConnectionError:
        return True
    except BlockingIOError:
        return False


def dropCounts(log, kind, detail):
    """
    For the drops of one kind, whose lines end with detail: (the lines
    logged one by one, their total with the ones only counted).
    """
    logged = len(re.findall(r"Dropping .*: " + re.escape(detail), log))
    summaries = re.findall(re.escape(kind) + r": (\d+) more like this not logged", log)
    return logged, logged + sum(int(count) for count in summaries)


class SlowClients:
    """
    Slowloris clients: each sends one byte of a query line every TRICKLE
    seconds and never ends it.  ``firstByte`` and ``droppedAt`` map each
    socket to when it sent its first byte and when it saw the server close.
    """

    def __init__(self):
        self.firstByte, self.droppedAt = {}, {}

    def connect(self, port):
        """Open one more slow client, and note the drops of the others meanwhile."""
        sock = socket.create_connection(("127.0.0.1", port), timeout=5)
        sock.sendall(b"a")
        self.firstByte[sock] = time.monotonic()
        sock.setblocking(False)
        self.watch(0)

    def waiting(self):
        """The clients the server has not dropped yet."""
        return [sock for sock in self.firstByte if sock not in self.droppedAt]

    def watch(self, timeout):
        """Wait up to timeout seconds for drops; note when they are seen."""
        waiting = self.waiting()
        readable = select.select(waiting, [], [], timeout)[0] if waiting else []
        for sock in readable:
            if closed(sock):
                self.droppedAt[sock] = time.monotonic()

    def trickle(self):
        """Send one more byte from every client still connected."""
        for sock in self.waiting():
            try:
                sock.send(b"x")
            except OSError:
                pass  # dropped: seen by the next watch

    def close(self):
        for sock in self.firstByte:
            sock.close()


def test_slowlorisClientsAreDroppedAtTheMessageDeadline(loomd, tmp_path):
    port, _ = startFinger(loomd, tmp_path, "--message-timeout", str(DEADLINE))
    answer, _ = finger(port)
    assert b"Happy and well" in answer
    clients, latencies = SlowClients(), []
    try:
        for _ in range(CLIENTS):
            clients.connect(port)
        stop = time.monotonic() + DEADLINE + MARGIN
        nextByte = time.monotonic() + TRICKLE
        while clients.waiting() and time.monotonic() < stop:
            clients.watch(0.05)
            if time.monotonic() >= nextByte:
                clients.trickle()
                nextByte += TRICKLE
                answer, latency = finger(port)  # a good client, served meanwhile
                assert b"Happy and well" in answer
                latencies.append(latency)
    finally:
        clients.close()
    assert not clients.waiting(), "%d of %d slow clients still connected" % (
        len(clients.waiting()),
        CLIENTS,
    )
    held = sorted(clients.droppedAt[sock] - clients.firstByte[sock] for sock in clients.firstByte)
    # Not before the deadline (the server saw the first byte after we sent
    # it), and by the deadline plus margin.
    assert held[0] >= DEADLINE - 0.05 and held[-1] <= DEADLINE + MARGIN, held
    assert latencies and max(latencies) < 2.0, latencies
    # One line per second for the drops, and the count of the rest: all 200
    # accounted for, no traceback.
    kind, detail = "message timeout", "message not complete 1 s after its first byte"
    waitFor(
        lambda: dropCounts(readLog(loomd.logfile), kind, detail)[1] == CLIENTS,
        timeout=5,
        what="the drops to be logged and counted",
        context=lambda: readLog(loomd.logfile)[-3000:],
    )
    log = readLog(loomd.logfile)
    logged, total = dropCounts(log, kind, detail)
    spread = max(clients.droppedAt.values()) - min(clients.droppedAt.values())
    assert total == CLIENTS and 1 <= logged <= 2 + spread, log[-3000:]
    assert "Traceback" not in log


BAD_FRAMING_TAC = """
from protocols.basic import LineReceiver, NetstringReceiver
from services.internet import service


class NetstringEcho(NetstringReceiver):
    def stringReceived(self, string):
        self.sendString(string)


class ShortLines(LineReceiver):
    MAX_LENGTH = 100

    def lineReceived(self, line):
        self.sendLine(line)


service("tcp:%(netstrings)d:interface=127.0.0.1:backlog=256", Factory.forProtocol(NetstringEcho)
        ).setServiceParent(application)
service("tcp:%(lines)d:interface=127.0.0.1:backlog=256", Factory.forProtocol(ShortLines)
        ).setServiceParent(application)
"""


def attack(port, data, count=CLIENTS):
    """Open count connections each sending data; return how many the server closed."""
    socks = []
    try:
        for _ in range(count):
            sock = socket.create_connection(("127.0.0.1", port), timeout=5)
            sock.sendall(data)
            socks.append(sock)
        dropped = 0
        for sock in socks:
            try:
                dropped += sock.recv(4096) == b""
            except ConnectionError:
                dropped += 1
        return dropped
    finally:
        for sock in socks:
            sock.close()


def test_badFramingIsLoggedInOneRateLimitedLinePerKind(loomd, tmp_path):
    ports = {"netstrings": freePort(), "lines": freePort()}
    loomd.daemon(tacFile(tmp_path, BAD_FRAMING_TAC % ports))
    assert attack(ports["netstrings"], b"3:abc;") == CLIENTS
    assert attack(ports["lines"], b"x" * 101) == CLIENTS
    with socket.create_connection(("127.0.0.1", ports["netstrings"]), timeout=5) as good:
        good.sendall(b"5:hello,")
        assert good.recv(100) == b"5:hello,"
    kinds = {
        "malformed netstring": "malformed netstring (missing comma after the string)",
        "line too long": "line longer than 100 bytes",
    }

    def counted():
        log = readLog(loomd.logfile)
        return {kind: dropCounts(log, kind, detail) for kind, detail in kinds.items()}

    waitFor(
        lambda: all(total == CLIENTS for _, total in counted().values()),
        timeout=5,
        what="every drop to be logged or counted",
        context=lambda: readLog(loomd.logfile)[-3000:],
    )
    log = readLog(loomd.logfile)
    for kind, (logged, total) in counted().items():
        assert total == CLIENTS and 1 <= logged <= 5, (kind, logged, log[-3000:])
    assert "Traceback" not in log and "NetstringParseError" not in log
    # The whole story of 400 bad peers fits in a few lines of log.
    assert len(log.splitlines()) < 30, log


def test_lifetimeClosesABusyEchoConnection(loomd, tmp_path):
    port = freePort()
    result = loomd.run(
        "--pidfile",
        loomd.pidfile,
        "-l",
        loomd.logfile,
        "echo",
        "--port",
        "tcp:%d:interface=127.0.0.1" % (port,),
        "--lifetime",
        "1",
    )
    assert result.returncode == 0, (result.stdout, result.stderr)
    loomd.track(readPid(loomd.pidfile))
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        start = time.monotonic()
        echoed = 0
        while time.monotonic() - start < 1.0 + MARGIN:  # busy: an echo every 50 ms
            try:
                client.sendall(b"ping")
                data = client.recv(100)
            except ConnectionError:
                break
            if not data:
                break
            echoed += len(data)
            time.sleep(0.05)
        lived = time.monotonic() - start
    assert echoed > 0 and 0.9 <= lived < 1.0 + MARGIN, (echoed, lived)
    waitFor(
        lambda: "connection older than its lifetime of 1 s" in readLog(loomd.logfile),
        timeout=5,
        what="the lifetime close to be logged",
    )
