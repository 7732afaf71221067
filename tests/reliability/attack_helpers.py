"""
Helpers for the reliability suite: a real loomd under attack, and the
figures that judge it.

The one idea: every attack is measured against the same server a moment
before.  A test starts a foreground ``loomd -n`` (so the server's pid is the
Popen's and /proc tells its RSS, CPU time and descriptors), measures a good
client's round trips as a baseline, runs a bounded attack, and compares: the
machine is shared and slow, so absolute latencies mean little while the ratio
to a baseline taken seconds earlier on the same machine means a lot.

The daemons themselves are started and cleaned up by the ``loomd`` fixture of
tests/services/loomd_helpers.py; attacks run in threads of the test process
(their sockets block in the kernel, not on the GIL) and stop on a deadline
and a count, whichever comes first.  The good client is paced (a round trip
every millisecond or so) both for the baseline and under attack, so that it
measures the server rather than adding to the load.
"""

import os
import resource
import socket
import statistics
import struct
import threading
import time

import pytest

from tests.services.loomd_helpers import readLog, waitFor

_CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# -- the server -----------------------------------------------------------------


def startServer(loomd, *args, preexec=None):
    """
    Run ``loomd -n`` with the test's pidfile and log and args (``-y TAC`` or
    a plugin and its options); return the Popen once the log says it is
    ready.  preexec runs in the child before exec (to lower a limit, say).
    """
    process = loomd.spawn(
        "-n", "--pidfile", loomd.pidfile, "-l", loomd.logfile, *args, preexec_fn=preexec
    )
    waitFor(
        lambda: "loomd ready" in readLog(loomd.logfile) or process.poll() is not None,
        what="loomd to start",
        context=lambda: readLog(loomd.logfile),
    )
    assert process.poll() is None, (process.communicate(timeout=5), readLog(loomd.logfile))
    return process


def rssKiB(pid):
    """The resident set size of pid, in KiB (VmRSS of /proc/PID/status)."""
    with open("/proc/%d/status" % (pid,)) as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError("no VmRSS for pid %d" % (pid,))


def cpuSeconds(pid):
    """User plus system CPU time pid has used so far, in seconds."""
    with open("/proc/%d/stat" % (pid,)) as stat:
        # The command name may hold spaces and parentheses: split after it.
        fields = stat.read().rsplit(")", 1)[1].split()
    # Fields 14 and 15 of proc(5) (utime, stime) are 11 and 12 after the name.
    return (int(fields[11]) + int(fields[12])) / _CLOCK_TICKS


def cpuUsedDuring(pid, seconds):
    """The CPU time pid uses during the next seconds (wall clock), in seconds."""
    before = cpuSeconds(pid)
    time.sleep(seconds)
    return cpuSeconds(pid) - before


def openDescriptors(pid):
    """How many descriptors pid has open."""
    return len(os.listdir("/proc/%d/fd" % (pid,)))


def logLines(path):
    """The lines of a log file (an empty list before it exists)."""
    return readLog(path).splitlines()


class PeakRss:
    """
    Samples a process's RSS every few milliseconds in a thread, between
    ``start()`` and ``stop()``; ``peak`` is the highest seen, in KiB.
    """

    def __init__(self, pid, interval=0.005):
        self.pid, self.interval, self.peak = pid, interval, 0
        self._stopping = threading.Event()
        self._thread = threading.Thread(target=self._sample, daemon=True)

    def start(self):
        """Start sampling; return self."""
        self.peak = rssKiB(self.pid)
        self._thread.start()
        return self

    def _sample(self):
        while not self._stopping.wait(self.interval):
            self.peak = max(self.peak, rssKiB(self.pid))

    def stop(self):
        """Stop sampling; return the peak RSS in KiB."""
        self._stopping.set()
        self._thread.join(5)
        self.peak = max(self.peak, rssKiB(self.pid))
        return self.peak


# -- the good client --------------------------------------------------------------


class GoodClient:
    """
    A well-behaved client on one persistent connection: it sends a small
    request and times the whole answer.

    :ivar request: the bytes sent each round trip.
    :ivar answer: the bytes expected back.
    """

    def __init__(self, port, request=b"ping\r\n", answer=None, timeout=5.0):
        self.request = request
        self.answer = request if answer is None else answer
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def roundTrip(self):
        """Send the request, read the whole answer; return the seconds it took."""
        start = time.perf_counter()
        self.sock.sendall(self.request)
        received = b""
        while len(received) < len(self.answer):
            chunk = self.sock.recv(65536)
            assert chunk, "the server closed the good client's connection"
            received += chunk
        elapsed = time.perf_counter() - start
        assert received == self.answer, received
        return elapsed

    def medianLatency(self, count=200, seconds=2.0, pause=0.001):
        """
        The median of up to count round trips made within seconds, one every
        pause seconds or so (paced as under attack, so that the two compare).
        """
        samples = []
        for _ in bounded(count, seconds):
            samples.append(self.roundTrip())
            time.sleep(pause)
        return statistics.median(samples)

    def medianLatencyWhile(self, running, pause=0.001, count=10000):
        """
        The median of round trips made, one every pause seconds or so, while
        running() is true (at least one, at most count): the good client's
        latency for as long as an attack lasts.
        """
        samples = [self.roundTrip()]
        while running() and len(samples) < count:
            time.sleep(pause)
            samples.append(self.roundTrip())
        return statistics.median(samples)

    def close(self):
        """Close the connection."""
        self.sock.close()


def assertLatencyHeld(during, baseline, factor=20.0, slack=0.005):
    """
    Fail unless the median latency during an attack stays within factor
    times the baseline plus slack seconds: generous, as two cores shared by
    other work jitter, but a server that stalls or spins is far beyond it.
    """
    bound = baseline * factor + slack
    assert during <= bound, "median latency %.3f ms under attack: baseline %.3f, bound %.3f" % (
        during * 1000,
        baseline * 1000,
        bound * 1000,
    )


# -- bounded attacks ----------------------------------------------------------------


def bounded(count, seconds):
    """Yield 0, 1, ... up to count values, stopping early once seconds have passed."""
    deadline = time.monotonic() + seconds
    for index in range(count):
        if time.monotonic() > deadline:
            return
        yield index


class Attack:
    """
    Run ``attempt()`` again and again in a few threads until a count, a
    deadline or ``stop()``; each call's result is kept (in ``results``) and
    an exception it raises fails the test at ``stop()``.

    :param attempt: a function of no arguments, one attack (one connection).
    :param threads: how many threads run attempts side by side.
    :param count: the most attempts, over all threads.
    :param seconds: the deadline, from ``start()``.
    """

    def __init__(self, attempt, *, threads=1, count=1000, seconds=3.0):
        self.attempt, self.count, self.seconds = attempt, count, seconds
        self.results, self.errors = [], []
        self._stopping = threading.Event()
        self._lock = threading.Lock()
        self._threads = [threading.Thread(target=self._loop, daemon=True) for _ in range(threads)]

    def start(self):
        """Start the threads; return self."""
        self._deadline = time.monotonic() + self.seconds
        for thread in self._threads:
            thread.start()
        return self

    def _claim(self):
        # The index of the next attempt's result, or None when it is time to
        # stop.  The slot is taken at once so that the count holds across
        # threads; stop() joins them, so every slot is filled by then.
        with self._lock:
            if self._stopping.is_set() or time.monotonic() > self._deadline:
                return None
            if len(self.results) + len(self.errors) >= self.count:
                return None
            self.results.append(None)
            return len(self.results) - 1

    def _loop(self):
        while True:
            index = self._claim()
            if index is None:
                return
            try:
                self.results[index] = self.attempt()
            except Exception as error:  # reported by stop()
                self.errors.append(error)
                return

    def running(self):
        """True while some thread still attacks."""
        return any(thread.is_alive() for thread in self._threads)

    def stop(self):
        """Stop and join the threads; fail if an attempt raised; return results."""
        self._stopping.set()
        for thread in self._threads:
            thread.join(self.seconds + 10)
            assert not thread.is_alive(), "an attack thread did not stop"
        assert not self.errors, self.errors
        return self.results


def resetAbruptly(sock):
    """Close sock with SO_LINGER 0: the kernel sends RST, dropping unsent data."""
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    sock.close()


def closedByPeer(sock, timeout=5.0):
    """
    Wait (up to timeout) until the peer closes sock, discarding what it sends;
    return True if it did (EOF or a reset), False on timeout.
    """
    sock.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not sock.recv(65536):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


def raiseOpenFileLimit(wanted):
    """
    Let this process open at least wanted descriptors; return a function
    that puts the old limits back.  Skips the test when the hard limit is
    lower and cannot be raised (not root).
    """
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft != resource.RLIM_INFINITY and soft < wanted:
        newHard = hard if hard == resource.RLIM_INFINITY else max(hard, wanted)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (wanted, newHard))
        except (ValueError, OSError) as error:
            pytest.skip("cannot raise RLIMIT_NOFILE to %d: %s" % (wanted, error))
    return lambda: resource.setrlimit(resource.RLIMIT_NOFILE, (soft, hard))
