"""
Attack: a flood of connections past the server's descriptor limit, and the
recovery after it.  The server runs with RLIMIT_NOFILE at 64; a client opens
300 connections and holds them.

When accept() fails with EMFILE the listening port logs it once, stops
accepting for ``acceptPause`` (0.1 s) and tries again: it does not spin on a
listening socket that stays readable, so the server's CPU stays low while it
sits at the limit, and a good client connected before the flood is still
answered.  Once the flood's connections close, the descriptors come back and
new clients are served again.
"""

import resource
import socket

from tests.reliability.attack_helpers import (
    GoodClient,
    assertLatencyHeld,
    cpuUsedDuring,
    logLines,
    openDescriptors,
    startServer,
)
from tests.services.loomd_helpers import (
    alive,
    echo,
    freePort,
    loomdFixture,  # noqa: F401 - the loomd fixture
    readLog,
    tacFile,
    waitFor,
)

FILE_LIMIT = 64
FLOOD = 300
# A loop spinning on the readable listening socket would use about 1 s of
# CPU per second; pausing between tries uses a few milliseconds.
CPU_BOUND_SECONDS = 0.1
PAUSING = "pausing accepts"

ECHO = """
from protocols.wire import Echo as QuietEcho
from services.internet import TCPServer

TCPServer(%d, Factory.forProtocol(QuietEcho), backlog=%d, interface="127.0.0.1").setServiceParent(
    application)
"""


def lowFileLimit():
    """Run in the server's process before exec: few descriptors allowed."""
    resource.setrlimit(resource.RLIMIT_NOFILE, (FILE_LIMIT, FILE_LIMIT))


def test_fdLimitFloodIsRiddenOutWithoutSpinningAndServedAfter(loomd, tmp_path):
    port = freePort()
    tac = tacFile(tmp_path, ECHO % (port, FLOOD + 50))
    pid = startServer(loomd, "-y", tac, preexec=lowFileLimit).pid
    good = GoodClient(port)
    baseline = good.medianLatency(count=200, seconds=1.0)
    flood = []
    try:
        for _ in range(FLOOD):
            flood.append(socket.create_connection(("127.0.0.1", port), timeout=5))
        waitFor(
            lambda: PAUSING in readLog(loomd.logfile),
            what="accept() to fail for lack of descriptors",
            context=lambda: readLog(loomd.logfile),
        )
        atLimit = openDescriptors(pid)
        linesBefore = len(logLines(loomd.logfile))
        cpu = cpuUsedDuring(pid, 1.0)
        pausedLines = [line for line in logLines(loomd.logfile) if PAUSING in line]
        newLines = logLines(loomd.logfile)[linesBefore:]
        during = good.medianLatency(count=200, seconds=1.0)
    finally:
        for sock in flood:
            sock.close()
    # The descriptors come back: a new client is served.
    recovered = waitFor(lambda: _served(port), timeout=10, what="a new client to be served")
    good.close()
    print(
        "fd flood: limit %d, %d descriptors open at the limit; server CPU %.3f s in 1 s there;"
        " %d '%s' line(s), %d new log lines in that second; median latency of a client"
        " connected before: %.3f ms baseline, %.3f ms at the limit; served after: %s"
        % (
            FILE_LIMIT,
            atLimit,
            cpu,
            len(pausedLines),
            PAUSING,
            len(newLines),
            baseline * 1000,
            during * 1000,
            recovered,
        )
    )
    assert atLimit >= FILE_LIMIT - 1
    assert cpu < CPU_BOUND_SECONDS
    assert len(pausedLines) == 1, pausedLines
    assert "Too many open files" in pausedLines[0]
    assert newLines == []
    assertLatencyHeld(during, baseline)
    assert alive(pid)


def _served(port):
    try:
        return echo(port, b"after the flood\n", timeout=1) == b"after the flood\n"
    except OSError:
        return False
