"""
Tests for services.loomd.logfile: real files, a real syslog socket, real renames.
"""

import json
import logging
import os
import re
import shutil
import socket
import subprocess
import sys
import tempfile
import textwrap

import pytest

from reactor import log
from services.loomd._loghandlers import DailyLogFile, PlainLogFile, RotatingLogFile
from services.loomd.logfile import (
    LogStream,
    StdoutLog,
    captureStandardStreams,
    chownLogFiles,
    makeLogHandler,
    makeSyslogHandler,
    rebaseForChroot,
)
from services.loomd.logformat import JsonFormatter

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
TEXT_LINE = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4} \[([^\]]*)\] (.*)$")


@pytest.fixture
def attach():
    """Attach handlers to the 'loom' logger (at INFO) for one test."""
    logger = logging.getLogger(log.LOGGER_NAME)
    attached = []
    previousLevel = logger.level
    logger.setLevel(logging.INFO)

    def attachHandler(handler):
        logger.addHandler(handler)
        attached.append(handler)
        return handler

    yield attachHandler
    for handler in attached:
        logger.removeHandler(handler)
        handler.close()
    logger.setLevel(previousLevel)


@pytest.fixture
def events():
    seen = []
    log.addObserver(seen.append)
    yield seen
    log.removeObserver(seen.append)


def test_sizeRotationKeepsTheConfiguredBackups(tmp_path, attach):
    path = tmp_path / "loomd.log"
    attach(makeLogHandler(str(path), maxBytes=300, backups=2))
    for number in range(40):
        log.msg("line number %d" % (number,), system="rotation")
    assert sorted(os.listdir(tmp_path)) == ["loomd.log", "loomd.log.1", "loomd.log.2"]
    for name in os.listdir(tmp_path):
        lines = (tmp_path / name).read_text().splitlines()
        assert lines and all(TEXT_LINE.match(line) for line in lines)
        assert os.path.getsize(tmp_path / name) <= 300
    assert (tmp_path / "loomd.log").read_text().splitlines()[-1].endswith(" line number 39")


def test_zeroMaxBytesNeverRotates(tmp_path, attach):
    path = tmp_path / "loomd.log"
    attach(makeLogHandler(str(path), maxBytes=0))
    for number in range(100):
        log.msg("line number %d" % (number,))
    assert os.listdir(tmp_path) == ["loomd.log"]
    assert len(path.read_text().splitlines()) == 100


def test_noBackupsEmptiesTheFileAtTheSize(tmp_path, attach):
    # The stdlib reopened the same file for every line past the size.
    path = tmp_path / "loomd.log"
    attach(makeLogHandler(str(path), maxBytes=300, backups=0))
    for number in range(40):
        log.msg("line number %d" % (number,))
    assert os.listdir(tmp_path) == ["loomd.log"]
    assert 0 < os.path.getsize(path) <= 300
    assert path.read_text().splitlines()[-1].endswith(" line number 39")


def test_dailyRotationNamesBackupsByDate(tmp_path, attach):
    path = tmp_path / "loomd.log"
    handler = attach(makeLogHandler(str(path), rotate="daily", backups=3))
    assert isinstance(handler, DailyLogFile)
    log.msg("yesterday")
    handler.rolloverAt = 0  # midnight has passed
    log.msg("today")
    names = sorted(os.listdir(tmp_path))
    assert len(names) == 2 and names[0] == "loomd.log"
    assert re.match(r"^loomd\.log\.\d{4}-\d\d-\d\d$", names[1])
    assert (tmp_path / names[1]).read_text().endswith("] yesterday\n")
    assert path.read_text().endswith("] today\n")


@pytest.mark.parametrize(
    "rotate, kind",
    [("size", RotatingLogFile), ("daily", DailyLogFile), ("never", PlainLogFile)],
)
def test_reopenAfterMoveWritesToTheOriginalPath(tmp_path, attach, rotate, kind):
    # logrotate's move-then-signal.
    path = tmp_path / "loomd.log"
    handler = attach(makeLogHandler(str(path), rotate=rotate))
    assert isinstance(handler, kind)
    log.msg("before the move")
    os.rename(path, tmp_path / "loomd.log.moved")
    handler.reopen()
    log.msg("after the move")
    assert [line.split("] ")[1] for line in path.read_text().splitlines()] == ["after the move"]
    moved = (tmp_path / "loomd.log.moved").read_text().splitlines()
    assert [line.split("] ")[1] for line in moved] == ["before the move"]


def test_dashMeansStandardOutput(capsys, attach):
    handler = attach(makeLogHandler("-"))
    assert isinstance(handler, StdoutLog)
    log.msg("to the terminal", system="tty")
    handler.reopen()
    line = capsys.readouterr().out
    assert TEXT_LINE.match(line.rstrip("\n")).groups() == ("tty", "to the terminal")


def test_unknownOptionsAreRefused(tmp_path):
    with pytest.raises(ValueError, match="unknown log rotation 'weekly'"):
        makeLogHandler(str(tmp_path / "x.log"), rotate="weekly")
    with pytest.raises(ValueError, match="unknown log format 'xml'"):
        makeLogHandler(str(tmp_path / "x.log"), logFormat="xml")


def test_textLinesForLoomAndPlainRecords(tmp_path, attach):
    path = tmp_path / "loomd.log"
    attach(makeLogHandler(str(path)))
    log.msg("hello", "world", system="EchoFactory,3,127.0.0.1")
    logging.getLogger("loom.other").warning("plain %s", "record")
    try:
        raise ZeroDivisionError("division by zero")
    except ZeroDivisionError:
        log.err(None, "Computing failed", system="calc")
    lines = path.read_text().splitlines()
    assert TEXT_LINE.match(lines[0]).groups() == ("EchoFactory,3,127.0.0.1", "hello world")
    assert TEXT_LINE.match(lines[1]).groups() == ("loom.other", "plain record")
    assert TEXT_LINE.match(lines[2]).groups() == ("calc", "Computing failed")
    assert lines[3] == "\tTraceback (most recent call last):"
    assert lines[-1] == "\tZeroDivisionError: division by zero"
    assert all(line.startswith("\t") for line in lines[3:])


def test_jsonLinesParse(tmp_path, attach):
    path = tmp_path / "loomd.log"
    attach(makeLogHandler(str(path), logFormat="json"))
    log.msg("started", system="loomd")
    try:
        raise KeyError("missing")
    except KeyError:
        log.err(None, "Lookup failed", system="finger")
    logging.getLogger("loom.x").error(
        "stdlib with exc", exc_info=(ValueError, ValueError("v"), None)
    )
    entries = [json.loads(line) for line in path.read_text().splitlines()]
    assert len(entries) == 3
    first, second, third = entries
    assert set(first) == {"time", "level", "system", "message"}
    assert (first["level"], first["system"], first["message"]) == ("INFO", "loomd", "started")
    assert re.match(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}[+-]\d\d:\d\d$", first["time"])
    assert (second["level"], second["system"], second["message"]) == (
        "ERROR",
        "finger",
        "Lookup failed",
    )
    assert second["traceback"].startswith("Traceback (most recent call last):")
    assert second["traceback"].endswith("KeyError: 'missing'")
    assert (third["system"], third["message"], third["traceback"]) == (
        "loom.x",
        "stdlib with exc",
        "ValueError: v",
    )


def test_jsonErrorWithoutFailureKeepsItsText():
    record = logging.LogRecord("loom", logging.ERROR, "x", 0, "%s", ("text",), None)
    record.loomEvent = {"message": ("text",), "isError": True, "system": "s", "why": None}
    assert json.loads(JsonFormatter().format(record))["message"] == "text"


def test_textAndJsonLinesEscapeAnUnprintableSystem(tmp_path, attach):
    text, json_ = tmp_path / "text.log", tmp_path / "json.log"
    attach(makeLogHandler(str(text)))
    attach(makeLogHandler(str(json_), logFormat="json"))
    log.msg("hello", system="peer\n2026-01-01T00:00:00+0000 [loomd] forged\r")
    (line,) = text.read_text().splitlines()
    assert line.endswith(" [peer\\n2026-01-01T00:00:00+0000 [loomd] forged\\r] hello")
    (entry,) = [json.loads(line) for line in json_.read_text().splitlines()]
    assert entry["system"] == "peer\\n2026-01-01T00:00:00+0000 [loomd] forged\\r"


class Opaque:
    """A value JSON cannot hold."""

    def __repr__(self):
        return "<Opaque>"


def test_jsonFieldsOfLogMsgAndLogger(tmp_path, attach):
    from reactor.logger import Logger

    path = tmp_path / "loomd.log"
    attach(makeLogHandler(str(path), logFormat="json"))
    log.msg("user joined", user="bob", count=3, time=12.5, system="chat")
    Logger(namespace="chat.Room").info("{user} joined {room}", user="eve", room=Opaque())
    try:
        raise KeyError("k")
    except KeyError:
        log.err(None, "lookup failed", key=b"k")
    first, second, third = [json.loads(line) for line in path.read_text().splitlines()]
    # Loom's keys keep their meaning; a program's fields have an object of
    # their own, with what JSON cannot hold given as its repr.
    assert first["fields"] == {"user": "bob", "count": 3}
    assert (first["message"], first["system"]) == ("user joined", "chat")
    assert "namespace" not in first
    assert second["message"] == "eve joined <Opaque>"
    assert second["fields"] == {"user": "eve", "room": "<Opaque>"}
    assert second["namespace"] == "chat.Room"
    assert second["system"] == "chat.Room#info"
    assert not any(key.startswith("log_") for key in second)
    assert third["fields"] == {"key": "b'k'"}
    assert third["traceback"].endswith("KeyError: 'k'")


def test_jsonFieldsJsonCannotHoldBecomeTheirRepr():
    record = logging.LogRecord("loom", logging.INFO, "x", 0, "%s", ("text",), None)
    cycle = []
    cycle.append(cycle)
    record.loomEvent = {
        "message": ("text",),
        "isError": False,
        "system": "s",
        "nan": float("nan"),
        "tupleKeys": {(1, 2): "x"},
        "cycle": cycle,
        "fine": [1, "two", None],
        "log_private": object(),
    }
    entry = json.loads(JsonFormatter().format(record))
    assert entry["fields"] == {
        "nan": "nan",
        "tupleKeys": "{(1, 2): 'x'}",
        "cycle": "[[...]]",
        "fine": [1, "two", None],
    }


def test_jsonFieldsOfStdlibExtra(tmp_path, attach):
    path = tmp_path / "loomd.log"
    attach(makeLogHandler(str(path), logFormat="json"))
    logging.getLogger("loom.app").info("plain %s", "stdlib", extra={"user": "bob"})
    logging.getLogger("loom.app").info("no extra")
    first, second = [json.loads(line) for line in path.read_text().splitlines()]
    assert first["message"] == "plain stdlib"
    assert first["fields"] == {"user": "bob"}
    assert "fields" not in second


SYSLOG_CASES = [
    (logging.DEBUG, 7),
    (logging.INFO, 6),
    (25, 6),
    (logging.WARNING, 4),
    (logging.ERROR, 3),
    (logging.CRITICAL, 2),
]


def test_syslogPrioritiesFollowLevels(tmp_path):
    # twistd sends every error at LOG_ALERT; these must be ERR, WARNING...
    address = str(tmp_path / "log")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(address)
    server.settimeout(5)
    handler = makeSyslogHandler(prefix="finger", facility="local0", address=address)
    try:
        logger = logging.getLogger("loom.syslogtest")
        logger.propagate = False
        logger.setLevel(logging.DEBUG)
        logger.addHandler(handler)
        for level, _ in SYSLOG_CASES:
            logger.log(level, "level %d", level)
        received = [server.recv(4096) for _ in SYSLOG_CASES]
    finally:
        logger.removeHandler(handler)
        handler.close()
        server.close()
    local0 = 16
    expected = [
        b"<%d>finger[%d]: [loom.syslogtest] level %d\x00"
        % (local0 * 8 + severity, os.getpid(), level)
        for level, severity in SYSLOG_CASES
    ]
    assert received == expected


def test_syslogReopenReconnectsAndLoomEventsCarryTheirSystem(tmp_path):
    address = str(tmp_path / "log")
    server = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    server.bind(address)
    server.settimeout(5)
    handler = makeSyslogHandler(address=address)
    try:
        record = logging.LogRecord("loom", logging.ERROR, "x", 0, "%s", ("boom",), None)
        record.loomEvent = {"message": ("boom",), "isError": True, "system": "echo", "why": None}
        handler.reopen()
        handler.handle(record)
        assert server.recv(4096) == b"<27>loomd[%d]: [echo] boom\x00" % (os.getpid(),)
    finally:
        handler.close()
        server.close()


def test_unknownSyslogFacility(tmp_path):
    with pytest.raises(ValueError, match="unknown syslog facility 'nope'"):
        makeSyslogHandler(facility="nope", address=str(tmp_path / "log"))


def test_captureStandardStreamsLogsPrintedLines(events):
    restore = captureStandardStreams()
    try:
        print("hello from a service")
        sys.stdout.write("partial ")
        sys.stderr.write("something bad\n")
        sys.stdout.write("line\nand more\n")
        print("unfinished", end="")
    finally:
        restore()
    seen = [(event["system"], log.textFromEventDict(event), event["isError"]) for event in events]
    assert seen == [
        ("stdout", "hello from a service", False),
        ("stderr", "something bad", True),
        ("stdout", "partial line", False),
        ("stdout", "and more", False),
        ("stdout", "unfinished", False),
    ]


def test_writesWhileLoggingGoToTheFallback():
    fallback = _Collect()
    stream = LogStream("stderr", isError=True, fallback=fallback)

    def noisyObserver(event):
        stream.write("observer complains\n")

    log.addObserver(noisyObserver)
    try:
        stream.write("original\n")
    finally:
        log.removeObserver(noisyObserver)
    assert fallback.written == ["observer complains\n"]


class _Collect:
    def __init__(self):
        self.written = []

    def write(self, text):
        self.written.append(text)


def test_chownedLogFileAndWritableDirectoryGiveNoWarning(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    directory = tmp_path / "logs"
    directory.mkdir()
    os.chown(directory, 65534, 65534)
    handler = makeLogHandler(str(directory / "loomd.log"))
    try:
        assert chownLogFiles(handler, 65534, 65534) == []
        info = os.stat(directory / "loomd.log")
        assert (info.st_uid, info.st_gid) == (65534, 65534)
    finally:
        handler.close()


def test_noFileNothingToChown():
    assert chownLogFiles(StdoutLog(sys.stdout), 65534, 65534) == []


ROTATE_AFTER_DROP = textwrap.dedent(
    """
    import logging, sys
    from reactor import log
    from services.loomd.logfile import chownLogFiles, makeLogHandler
    from services.loomd.privileges import shedPrivileges

    handler = makeLogHandler(sys.argv[1], maxBytes=200, backups=3)
    assert chownLogFiles(handler, 65534, 65534) == []
    shedPrivileges(uid=65534)
    logger = logging.getLogger("loom")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    for number in range(30):
        log.msg("after the drop %d" % number)
    handler.reopen()
    log.msg("reopened")
    """
)


def test_rotationKeepsWorkingAfterThePrivilegeDrop():
    if os.geteuid() != 0:
        pytest.skip("dropping privileges needs root")
    # Not under tmp_path: pytest's base directory is 0700 root, which nobody
    # could not even traverse.
    directory = tempfile.mkdtemp(prefix="loom-logs-")
    try:
        os.chmod(directory, 0o755)
        os.chown(directory, 65534, 65534)
        path = os.path.join(directory, "loomd.log")
        done = subprocess.run(
            [sys.executable, "-c", ROTATE_AFTER_DROP, path],
            capture_output=True,
            text=True,
            env=dict(os.environ, PYTHONPATH=ROOT),
            cwd=ROOT,
            timeout=20,
        )
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        names = sorted(os.listdir(directory))
        assert names == ["loomd.log", "loomd.log.1", "loomd.log.2", "loomd.log.3"]
        with open(path) as current:
            assert current.read().splitlines()[-1].endswith("] reopened")
        assert os.stat(path).st_uid == 65534
    finally:
        shutil.rmtree(directory)


def test_rebaseForChrootGivesThePathInsideTheJail(tmp_path):
    jail = tmp_path / "jail"
    (jail / "var" / "log").mkdir(parents=True)
    handler = makeLogHandler(str(jail / "var" / "log" / ".loomd.log"))
    try:
        assert rebaseForChroot(handler, str(jail)) == []
        assert handler.baseFilename == "/var/log/.loomd.log"
    finally:
        handler.close()


def test_rebaseForChrootWarnsAboutAFileOutsideTheJail(tmp_path, events):
    (tmp_path / "jail").mkdir()
    handler = makeLogHandler(str(tmp_path / "loomd.log"))
    try:
        warnings = rebaseForChroot(handler, str(tmp_path / "jail"))
        assert handler.baseFilename == str(tmp_path / "loomd.log")
    finally:
        handler.close()
    assert warnings == [
        "log file %s is outside the chroot %s: it cannot be rotated or reopened from inside"
        % (tmp_path / "loomd.log", tmp_path / "jail")
    ]
    assert log.textFromEventDict(events[-1]) == warnings[0]


ROTATE_IN_CHROOT = textwrap.dedent(
    """
    import logging, os, sys
    from reactor import log
    from services.loomd.logfile import makeLogHandler, rebaseForChroot
    from services.loomd.privileges import chroot

    jail = sys.argv[1]
    handler = makeLogHandler(os.path.join(jail, "logs", "loomd.log"), maxBytes=200, backups=2)
    logger = logging.getLogger("loom")
    logger.setLevel(logging.INFO)
    logger.addHandler(handler)
    chroot(jail)
    assert rebaseForChroot(handler, jail) == []
    for number in range(20):
        log.msg("inside the jail %d" % number)
    os.rename("/logs/loomd.log", "/logs/moved.log")
    handler.reopen()
    log.msg("reopened")
    """
)


def test_rotationAndReopenWorkInsideAChroot(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("chroot needs root")
    jail = tmp_path / "jail"
    (jail / "logs").mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, "-c", ROTATE_IN_CHROOT, str(jail)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=ROOT),
        cwd=ROOT,
        timeout=20,
    )
    assert done.returncode == 0, done.stderr
    names = sorted(os.listdir(jail / "logs"))
    assert names == ["loomd.log", "loomd.log.1", "loomd.log.2", "moved.log"]
    assert (jail / "logs" / "loomd.log").read_text().splitlines()[-1].endswith("] reopened")


# -- files that must not be opened (issue 14) -----------------------------------


@pytest.fixture
def precious(tmp_path):
    """A root-style 0600 file that a log must never touch: its path."""
    path = tmp_path / "shadow"
    path.write_text("root:secret\n")
    os.chmod(path, 0o600)
    return path


def fileState(path):
    """What must not change about a file: content, mode, owner."""
    info = os.stat(path)
    return path.read_bytes(), info.st_mode, info.st_uid, info.st_gid


def plant(kind, path, target):
    """Put a symlink or a hard link to target, or a FIFO, at path; return its reason."""
    if kind == "symlink":
        os.symlink(target, path)
        return "it is a symbolic link"
    if kind == "hardlink":
        os.link(target, path)
        return "it has 2 hard links"
    os.mkfifo(path)
    return "it is not a regular file (FIFO)"


LINKS = ["symlink", "hardlink", "fifo"]
ROTATIONS = ["size", "daily", "never"]


@pytest.mark.parametrize("rotate", ROTATIONS)
@pytest.mark.parametrize("kind", LINKS)
def test_linkAtLogPathIsRefused(tmp_path, precious, kind, rotate):
    path = tmp_path / "app.log"
    reason = plant(kind, path, precious)
    before = fileState(precious)
    with pytest.raises(OSError) as caught:
        makeLogHandler(str(path), rotate=rotate)
    assert str(caught.value) == "refusing to open log file %s: %s" % (path, reason)
    assert fileState(precious) == before


def lastMessages(path, count):
    """The messages (after ``[system] ``) of the last count lines of a text log."""
    return [line.split("] ", 1)[1] for line in path.read_text().splitlines()[-count:]]


@pytest.mark.parametrize("rotate", ROTATIONS)
@pytest.mark.parametrize("kind", LINKS)
def test_reopenRefusesALinkAndKeepsTheFileAlreadyOpen(tmp_path, attach, precious, kind, rotate):
    # logrotate moved the log; someone planted a link where it was.
    path = tmp_path / "app.log"
    handler = attach(makeLogHandler(str(path), rotate=rotate))
    log.msg("before")
    moved = tmp_path / "app.log.moved"
    os.rename(path, moved)
    reason = plant(kind, path, precious)
    before = fileState(precious)
    assert handler.reopen() is False
    log.msg("after")
    log.msg("still")
    assert lastMessages(moved, 3) == [
        "refusing to open log file %s: %s; still writing to the file already open" % (path, reason),
        "after",
        "still",
    ]
    assert fileState(precious) == before


def plantAfterRename(handler, kind, target, monkeypatch):
    """
    Stage the race a rotation must survive: a link planted at the path
    right after the file was renamed away, before the new one is opened.
    """
    rename = handler._renameForRotation
    planted = []

    def renameThenPlant():
        backup = rename()
        planted.append(plant(kind, handler.baseFilename, target))
        return backup

    monkeypatch.setattr(handler, "_renameForRotation", renameThenPlant)
    return planted


@pytest.mark.parametrize("rotate", ["size", "daily"])
@pytest.mark.parametrize("kind", LINKS)
def test_rotationRefusesALinkAndKeepsLogging(tmp_path, attach, precious, monkeypatch, kind, rotate):
    path = tmp_path / "app.log"
    handler = attach(makeLogHandler(str(path), rotate=rotate, maxBytes=400, backups=3))
    planted = plantAfterRename(handler, kind, precious, monkeypatch)
    before = fileState(precious)
    log.msg("first")
    if rotate == "daily":
        handler.rolloverAt = 0  # midnight has passed
    for number in range(10):
        log.msg("line %d %s" % (number, "x" * 40))
    backup = [name for name in os.listdir(tmp_path) if name.startswith("app.log.")]
    assert len(planted) == 1 and len(backup) == 1  # one rotation tried, then none
    messages = [line.split("] ", 1)[1] for line in (tmp_path / backup[0]).read_text().splitlines()]
    warning = (
        "refusing to open log file %s: %s; log rotation is disabled and the log goes on in %s"
        % (path, planted[0], tmp_path / backup[0])
    )
    assert messages.count(warning) == 1
    # No line lost: all went to the file already open, before and after.
    lines = [message for message in messages if message.startswith("line ")]
    assert lines == ["line %d %s" % (number, "x" * 40) for number in range(10)]
    assert fileState(precious) == before


def test_watchedLogRefusesALinkPlantedAfterAMove(tmp_path, attach, precious):
    # --log-rotate never notices a moved file by itself before each line.
    path = tmp_path / "app.log"
    attach(makeLogHandler(str(path), rotate="never"))
    log.msg("before")
    moved = tmp_path / "app.log.moved"
    os.rename(path, moved)
    os.symlink(precious, path)
    before = fileState(precious)
    for number in range(3):
        log.msg("after %d" % (number,))
    assert lastMessages(moved, 5) == [
        "before",
        "refusing to open log file %s: it is a symbolic link; still writing to the file "
        "already open" % (path,),
        "after 0",
        "after 1",
        "after 2",
    ]
    assert fileState(precious) == before


@pytest.mark.parametrize("rotate", ["size", "daily"])
def test_rotationStaysInTheDirectoryOpenedAtStart(tmp_path, attach, precious, rotate):
    # The log's directory is moved away and a link to another one put in
    # its place: renames and the new file stay in the directory opened at
    # start-up, where the path led then.
    logs, elsewhere = tmp_path / "logs", tmp_path / "elsewhere"
    logs.mkdir()
    elsewhere.mkdir()
    os.symlink(precious, elsewhere / "app.log")
    handler = attach(makeLogHandler(str(logs / "app.log"), rotate=rotate, maxBytes=300))
    log.msg("first")
    os.rename(logs, tmp_path / "logs.moved")
    os.symlink(elsewhere, logs)
    before = fileState(precious)
    if rotate == "daily":
        handler.rolloverAt = 0
    for number in range(10):
        log.msg("line %d %s" % (number, "x" * 40))
    assert os.listdir(elsewhere) == ["app.log"]
    rotated = os.listdir(tmp_path / "logs.moved")
    assert "app.log" in rotated and any(name.startswith("app.log.") for name in rotated)
    assert fileState(precious) == before


def test_chownGoesThroughTheOpenFileNotThePath(tmp_path, precious):
    if os.geteuid() != 0:
        pytest.skip("chown needs root")
    path = tmp_path / "app.log"
    handler = makeLogHandler(str(path))
    try:
        os.rename(path, tmp_path / "app.log.moved")
        os.symlink(precious, path)
        before = fileState(precious)
        chownLogFiles(handler, 65534, 65534)
    finally:
        handler.close()
    assert fileState(precious) == before
    info = os.stat(tmp_path / "app.log.moved")
    assert (info.st_uid, info.st_gid) == (65534, 65534)


UNDER_ROOT = textwrap.dedent(
    """
    import os, sys
    from services.loomd.logfile import makeLogHandler, rebaseForChroot
    from services.loomd.privileges import chroot

    jail = sys.argv[1]
    inside = makeLogHandler(os.path.join(jail, "logs", "in.log"))
    outside = makeLogHandler(os.path.join(os.path.dirname(jail), "out.log"))
    chroot(jail)
    print(rebaseForChroot(inside, jail) == [], inside.directoryFd is not None)
    print(len(rebaseForChroot(outside, jail)), outside.directoryFd)
    print(outside.reopen())
    """
)


def test_aDirectoryOutsideTheJailIsClosedAfterChroot(tmp_path):
    # Its descriptor would lead out of the jail through "..".
    if os.geteuid() != 0:
        pytest.skip("chroot needs root")
    jail = tmp_path / "jail"
    (jail / "logs").mkdir(parents=True)
    done = subprocess.run(
        [sys.executable, "-c", UNDER_ROOT, str(jail)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=ROOT),
        cwd=ROOT,
        timeout=20,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.splitlines() == ["True True", "1 None", "False"]
    assert (
        (tmp_path / "out.log")
        .read_text()
        .splitlines()[-1]
        .endswith(
            "cannot reopen log file %s: it is out of reach after the chroot; still writing to "
            "the file already open" % (tmp_path / "out.log",)
        )
    )
