"""
Issue 14, item 5: a full log file system must not slow the server down.

With the log's file system full, each failed write used to print a
traceback to sys.stderr, which loomd captures into the log, where every
line failed again: the server's CPU went from 2% to 52% and a good client's
median latency from 0.16 ms to 37 ms, and the log filled with "Logging
error" tracebacks once there was room.

Here a real loomd serves echo, logging one line per request, with its log
on a 2 MiB tmpfs.  The same client makes the same number of requests on
the same connection while the disk has room (the baseline) and while it is
full; then the disk is freed.  Needs root (mount).
"""

import os
import signal
import socket
import statistics
import subprocess
import time

import pytest

from tests.services.loomd_helpers import (
    alive,
    freePort,
    loomdFixture,  # noqa: F401 - the loomd fixture
    needRoot,
    readLog,
    tacFile,
    waitFor,
)

REQUESTS = 3000  # per phase, on one connection, each phase bounded by PHASE_SECONDS too
PHASE_SECONDS = 5.0

LOGGING_ECHO = """
class LoggingEcho(Echo):
    def dataReceived(self, data):
        log.msg("request " + "x" * 80)
        self.transport.write(data)


class LoggingEchoService(EchoService):
    def privilegedStartService(self):
        Service.privilegedStartService(self)
        self.port = reactor.listenTCP(
            self.portNumber, Factory.forProtocol(LoggingEcho), interface=self.interface)


LoggingEchoService(%d).setServiceParent(application)
"""


@pytest.fixture
def smallDisk(tmp_path):
    """A 2 MiB tmpfs, unmounted at the end: its path."""
    needRoot()
    disk = tmp_path / "disk"
    disk.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(disk)],
        capture_output=True,
        text=True,
    )
    if mounted.returncode != 0:
        pytest.skip("cannot mount a tmpfs here: %s" % (mounted.stderr.strip(),))
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(directory):
    """Write directory/filler until the file system is full."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"x" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


def cpuSeconds(pid):
    """User + system CPU time of pid so far, from /proc/PID/stat."""
    with open("/proc/%d/stat" % (pid,)) as stat:
        fields = stat.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def roundTrips(client, count, seconds=PHASE_SECONDS):
    """
    Make count requests on client (fewer if seconds run out); return their
    round-trip times in seconds.
    """
    times = []
    deadline = time.monotonic() + seconds
    while len(times) < count and time.monotonic() < deadline:
        started = time.perf_counter()
        client.sendall(b"ping\n")
        received = b""
        while len(received) < 5:
            chunk = client.recv(100)
            assert chunk, "the server closed the connection"
            received += chunk
        times.append(time.perf_counter() - started)
    return times


def phase(pid, client):
    """(median round trip, server CPU seconds per request, requests made)."""
    cpu = cpuSeconds(pid)
    times = roundTrips(client, REQUESTS)
    return statistics.median(times), (cpuSeconds(pid) - cpu) / len(times), len(times)


def test_aFullLogDiskDoesNotSlowTheServer(loomd, tmp_path, smallDisk):
    port = freePort()
    logfile = str(smallDisk / "app.log")
    tac = tacFile(tmp_path, LOGGING_ECHO % port)
    with open(tmp_path / "stderr", "w") as stderr:
        daemon = loomd.spawn(
            "-n", "-y", tac, "--pidfile", loomd.pidfile, "-l", logfile, stdout=stderr, stderr=stderr
        )
    waitFor(lambda: "loomd ready" in readLog(logfile), what="the server to start")
    with socket.create_connection(("127.0.0.1", port), timeout=5) as client:
        roundTrips(client, 50)  # warm up
        baseline, baselineCpu, baselineCount = phase(daemon.pid, client)
        fill(smallDisk)
        full, fullCpu, fullCount = phase(daemon.pid, client)
        os.unlink(smallDisk / "filler")
        # The next try (at most a second later) finds room again.
        deadline = time.monotonic() + 5
        while "lines lost" not in readLog(logfile) and time.monotonic() < deadline:
            roundTrips(client, 1)
            time.sleep(0.05)
    daemon.send_signal(signal.SIGTERM)
    daemon.wait(timeout=10)
    assert not alive(daemon.pid)
    print(
        "\nmedian round trip: %.3f ms with room, %.3f ms with the disk full (%.1fx); "
        "server CPU per request: %.1f us with room, %.1f us full (%d and %d requests)"
        % (
            baseline * 1e3,
            full * 1e3,
            full / baseline,
            baselineCpu * 1e6,
            fullCpu * 1e6,
            baselineCount,
            fullCount,
        )
    )
    text = readLog(logfile)
    assert "Traceback" not in text and "Logging error" not in text
    lost = [line for line in text.splitlines() if line.endswith(" lines lost")]
    assert len(lost) == 1, text[-2000:]
    assert " could not be written for " in lost[0]
    # Nearly every request of the full phase was lost (the log's last page
    # may have held a few), so the disk really was full throughout.
    assert int(lost[0].split()[-3]) >= fullCount - 100
    warnings = (tmp_path / "stderr").read_text().splitlines()
    assert len(warnings) == 1 and warnings[0].startswith(
        "loomd: cannot write to log file %s: No space left on device;" % (logfile,)
    ), warnings[:5]
    assert full <= 3 * baseline + 0.001
    # CPU is counted in clock ticks (10 ms): the slack covers a few of them
    # over the requests made.
    assert fullCpu <= 3 * baselineCpu + 0.05 / fullCount
