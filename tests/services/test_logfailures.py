"""
Tests for a log that cannot be written (services.loomd._logfailures and the file
handlers): no traceback per line, nothing fed back through the captured
stderr, one warning, one count of the lines lost, a cheap probe once a second.

Failing writes come from /dev/full (every write fails with ENOSPC) swapped
in as the handler's stream, and, as root, from a real full tmpfs.
"""

import errno
import logging
import os
import subprocess

import pytest

from reactor import log
from reactor.task import Clock
from services.loomd._logfailures import WriteFailures
from services.loomd.logfile import (
    StdoutLog,
    captureStandardStreams,
    makeLogHandler,
    makeSyslogHandler,
)
from services.loomd.logformat import TextFormatter

ROTATIONS = ["size", "daily", "never"]


@pytest.fixture
def attach():
    """Attach handlers to the root logger (as the daemon does) for one test."""
    root = logging.getLogger()
    attached = []
    previousLevel = root.level
    root.setLevel(logging.INFO)

    def attachHandler(handler):
        root.addHandler(handler)
        attached.append(handler)
        return handler

    yield attachHandler
    for handler in attached:
        root.removeHandler(handler)
        handler.close()
    root.setLevel(previousLevel)


@pytest.fixture
def events():
    seen = []
    log.addObserver(seen.append)
    yield seen
    log.removeObserver(seen.append)


class DiskFull:
    """Swap /dev/full in as handler's stream, and the real file back."""

    def __init__(self, handler):
        self.handler = handler
        self.real = handler.stream
        self.full = open("/dev/full", "ab", buffering=0)

    def fill(self):
        self.handler.stream = self.full

    def free(self):
        self.handler.stream = self.real
        self.full.close()


def messages(path):
    return [line.split("] ", 1)[1] for line in path.read_text().splitlines()]


def test_writeFailuresSkipsUntilARetryIsDue(capfd):
    clock = Clock()
    failures = WriteFailures("log file /x/app.log", clock=clock.seconds)
    failures.syslogAddress = "/nonexistent/log"
    failures.failed(OSError(28, "No space left on device"))
    assert failures.failing and [failures.skip() for _ in range(3)] == [True] * 3
    clock.advance(0.5)
    assert failures.skip() is True
    clock.advance(0.5)
    assert failures.skip() is False  # one real try per second
    failures.failed(OSError(28, "No space left on device"))
    clock.advance(1.5)
    assert failures.report() == (
        "log file /x/app.log could not be written for 2.5 s (No space left on device): 6 lines lost"
    )
    failures.recovered()
    assert (failures.failing, failures.lost) == (False, 0)
    assert capfd.readouterr().err == (
        "loomd: cannot write to log file /x/app.log: No space left on device; its lines are "
        "dropped and counted until it can be written again (tried once a second)\n"
    )


def test_theFirstFailureIsAlsoSentToSyslog(tmp_path, capfd):
    import socket

    address = str(tmp_path / "log")
    with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as syslog:
        syslog.bind(address)
        syslog.settimeout(5)
        failures = WriteFailures("log file /x/app.log")
        failures.syslogAddress = address
        failures.failed(OSError(28, "No space left on device"))
        failures.failed(OSError(28, "No space left on device"))
        datagram = syslog.recv(4096)
        syslog.setblocking(False)
        with pytest.raises(BlockingIOError):
            syslog.recv(4096)  # the second failure says nothing
    assert datagram.startswith(
        b"<28>loomd[%d]: cannot write to log file /x/app.log: " % os.getpid()
    )


@pytest.mark.parametrize("rotate", ROTATIONS)
def test_aFullDiskCostsOneTryASecondAndIsReportedWhenItWorksAgain(tmp_path, attach, capfd, rotate):
    path = tmp_path / "app.log"
    handler = attach(makeLogHandler(str(path), rotate=rotate))
    clock = Clock()
    handler._failures._clock = clock.seconds
    handler._failures.syslogAddress = str(tmp_path / "no-syslog")
    log.msg("before")
    disk = DiskFull(handler)
    disk.fill()
    formatted = []
    format = handler.format
    handler.format = lambda record: formatted.append(record) or format(record)
    for number in range(100):
        log.msg("lost %d" % (number,))
    tried = lambda: [record for record in formatted if record.name == "loom"]  # noqa: E731
    assert len(tried()) == 1  # only the first line was tried
    clock.advance(1)
    log.msg("lost 100")  # tried again: still full
    assert len(tried()) == 2
    disk.free()
    log.msg("lost 101")  # room again, but no retry is due yet
    clock.advance(1)
    log.msg("after")
    log.msg("after 2")
    assert messages(path) == [
        "before",
        "log file %s could not be written for 2.0 s (No space left on device): "
        "102 lines lost" % (path,),
        "after",
        "after 2",
    ]
    errors = capfd.readouterr().err.splitlines()
    assert errors == [
        "loomd: cannot write to log file %s: No space left on device; its lines are dropped "
        "and counted until it can be written again (tried once a second)" % (path,)
    ]


def test_aLineCutShortIsEndedBeforeTheReport(tmp_path, attach, capfd, monkeypatch):
    # The disk filled up in the middle of a line: the report starts a new one.
    path = tmp_path / "app.log"
    handler = attach(makeLogHandler(str(path), rotate="never"))
    handler._failures.retryInterval = 0
    handler._failures.syslogAddress = str(tmp_path / "no-syslog")
    logFd, real, writes = handler.stream.fileno(), os.write, []

    def shortThenFull(fd, data):
        if fd != logFd:
            return real(fd, data)
        writes.append(data)
        if len(writes) == 1:
            return real(fd, bytes(data[:10]))
        if len(writes) == 2:
            raise OSError(28, "No space left on device")
        return real(fd, data)

    monkeypatch.setattr(os, "write", shortThenFull)
    log.msg("torn line")
    log.msg("after")
    monkeypatch.undo()
    lines = path.read_text().splitlines()
    assert len(lines) == 3 and len(lines[0]) == 10
    assert lines[1].endswith(
        "] log file %s could not be written for 0.0 s (No space left on device): 1 lines lost"
        % (path,)
    )
    assert lines[2].endswith("] after")


def test_stdoutThatCannotBeWrittenCountsLinesToo(tmp_path, capfd):
    clock = Clock()
    full = open("/dev/full", "w")
    handler = StdoutLog(full)
    handler.setFormatter(TextFormatter())
    handler._failures._clock = clock.seconds
    handler._failures.syslogAddress = str(tmp_path / "no-syslog")
    logger = logging.getLogger("loom.stdouttest")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        for number in range(50):
            logger.warning("lost %d", number)
        assert handler._failures.lost == 50
        collected = open(tmp_path / "out", "w")
        handler.stream = collected  # setStream would flush the full one
        clock.advance(1)
        logger.warning("back")
    finally:
        logger.removeHandler(handler)
        collected.close()
        try:
            full.close()
        except OSError:
            pass  # its buffer still holds what could not be written
    lines = (tmp_path / "out").read_text().splitlines()
    assert [line.split("] ", 1)[1] for line in lines] == [
        "standard output could not be written for 1.0 s (No space left on device): 50 lines lost",
        "back",
    ]
    assert "Traceback" not in capfd.readouterr().err


@pytest.fixture
def fullDisk(tmp_path):
    """A 64 KiB tmpfs holding an empty app.log, then filled: its path (root only)."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    disk = tmp_path / "disk"
    disk.mkdir()
    subprocess.run(["mount", "-t", "tmpfs", "-o", "size=64k", "tmpfs", str(disk)], check=True)
    try:
        yield disk
    finally:
        subprocess.run(["umount", "-l", str(disk)], check=False)


def fill(directory):
    """Write a file in directory until the file system is full."""
    fd = os.open(directory / "filler", os.O_WRONLY | os.O_CREAT, 0o600)
    try:
        while True:
            os.write(fd, b"x" * 4096)
    except OSError:
        pass
    finally:
        os.close(fd)


@pytest.mark.parametrize("rotate", ROTATIONS)
def test_aFullDiskFeedsNothingBackThroughTheCapturedStderr(fullDisk, attach, events, rotate):
    # The daemon captures stderr into the log: a traceback per failed line
    # used to come back as a dozen more lines that could not be written.
    path = fullDisk / "app.log"
    handler = attach(makeLogHandler(str(path), rotate=rotate))
    log.msg("before")
    fill(fullDisk)
    restore = captureStandardStreams()
    try:
        for number in range(200):
            log.msg("request %d %s" % (number, "x" * 100))
    finally:
        restore()
    assert handler._failures.failing
    fed = [event for event in events if event.get("system") in ("stderr", "stdout")]
    assert fed == []
    os.unlink(fullDisk / "filler")
    handler._failures._retryAt = 0  # no need to wait a second here
    log.msg("after")
    text = path.read_text()
    assert "Traceback" not in text and "Logging error" not in text
    report, after = messages(path)[-2:]
    assert report.startswith("log file %s could not be written for " % (path,))
    assert report.endswith(" lines lost") and after == "after"


def test_syslogThatCannotBeReachedCountsLinesToo(tmp_path, capfd):
    # syslogd went away: every send fails (the stdlib reconnects and fails
    # again); once it is back, the count comes first.
    import socket

    address = str(tmp_path / "log")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(address)
    handler = makeSyslogHandler(address=address)
    clock = Clock()
    handler._failures._clock = clock.seconds
    handler._failures.syslogAddress = str(tmp_path / "no-syslog")
    server.close()
    os.unlink(address)
    logger = logging.getLogger("loom.syslogfailtest")
    logger.propagate = False
    logger.addHandler(handler)
    try:
        for number in range(20):
            logger.warning("lost %d", number)
        assert handler._failures.lost == 20
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as server:
            server.bind(address)
            server.settimeout(5)
            clock.advance(1)
            logger.warning("back")
            received = [server.recv(4096), server.recv(4096)]
    finally:
        logger.removeHandler(handler)
        handler.close()
    assert received[0].endswith(
        b"[loomd] syslog at %s could not be written for 1.0 s (%s): 20 lines lost\x00"
        % (address.encode(), os.strerror(errno.ENOENT).encode())
    )
    assert received[1].endswith(b"[loom.syslogfailtest] back\x00")
    assert "Traceback" not in capfd.readouterr().err
