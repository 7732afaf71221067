"""Tests for reactor.log: events, observers, startLogging and the stdlib bridge."""

import io
import logging
import re

import pytest

from reactor import log
from reactor.failure import Failure


class MyError(Exception):
    """The error these tests log."""


@pytest.fixture
def events():
    """Collect the events logged during the test."""
    collected = []
    log.addObserver(collected.append)
    try:
        yield collected
    finally:
        log.removeObserver(collected.append)


class RecordingHandler(logging.Handler):
    """A stdlib handler keeping the records it receives."""

    def __init__(self):
        logging.Handler.__init__(self)
        self.records = []

    def emit(self, record):
        self.records.append(record)


@pytest.fixture
def handler():
    """A RecordingHandler on the 'loom' logger, at INFO, removed afterwards."""
    logger = logging.getLogger("loom")
    recording = RecordingHandler()
    savedLevel = logger.level
    logger.addHandler(recording)
    logger.setLevel(logging.INFO)
    try:
        yield recording
    finally:
        logger.removeHandler(recording)
        logger.setLevel(savedLevel)


def test_msgEventFields(events, monkeypatch):
    monkeypatch.setattr(log.time, "time", lambda: 1234.5)
    log.msg("hello", 42, system="Echo,1,127.0.0.1", extra="field")
    assert events == [
        {
            "message": ("hello", 42),
            "time": 1234.5,
            "system": "Echo,1,127.0.0.1",
            "isError": False,
            "extra": "field",
        }
    ]
    assert log.textFromEventDict(events[0]) == "hello 42"


def test_msgDefaultsSystem(events):
    log.msg("x")
    assert events[0]["system"] == "-"
    assert isinstance(events[0]["time"], float)


def test_msgWithFormat(events):
    log.msg(format="%(count)d items for %(who)s", count=3, who="you")
    assert log.textFromEventDict(events[0]) == "3 items for you"


def test_msgWithBadFormat(events):
    log.msg(format="%(missing)s")
    text = log.textFromEventDict(events[0])
    assert text.startswith("Invalid format string or unformattable object")


def test_eventWithoutTextGivesNone(events):
    log.msg()
    assert log.textFromEventDict(events[0]) is None


def test_errWithFailure(events):
    try:
        raise MyError("failed")
    except MyError:
        failure = Failure()
    log.err(failure, "while testing", system="tests")
    event = events[0]
    assert event["failure"] is failure
    assert event["isError"] is True
    assert event["why"] == "while testing"
    assert event["system"] == "tests"
    text = log.textFromEventDict(event)
    assert text.startswith("while testing\nTraceback (most recent call last):")
    assert text.endswith("MyError: failed")


def test_errWithException(events):
    error = MyError("plain")
    log.err(error)
    assert events[0]["failure"].value is error
    assert log.textFromEventDict(events[0]).startswith("Unhandled Error\n")


def test_errInsideExceptUsesCurrentException(events):
    try:
        raise MyError("current")
    except MyError as error:
        log.err()
        raised = error
    assert events[0]["failure"].value is raised
    assert events[0]["why"] is None


def test_errWithOtherObject(events):
    log.err("just a string", "why it failed")
    event = events[0]
    assert "failure" not in event
    assert event["isError"]
    assert log.textFromEventDict(event) == "why it failed: 'just a string'"


def test_errWithWhyAndMessage():
    event = {"isError": True, "why": "a reason", "message": ("detail",)}
    assert log.textFromEventDict(event) == "a reason: detail"
    event = {"isError": True, "why": "only a reason", "message": ()}
    assert log.textFromEventDict(event) == "only a reason"
    assert log.textFromEventDict({"isError": True, "message": ("m",)}) == "m"


def test_removedObserverGetsNothing(events):
    other = []
    log.addObserver(other.append)
    log.msg("both")
    log.removeObserver(other.append)
    log.msg("one")
    log.removeObserver(other.append)  # a second removal is harmless
    assert [e["message"] for e in other] == [("both",)]
    assert [e["message"] for e in events] == [("both",), ("one",)]


def test_raisingObserverIsRemovedAndLoggingGoesOn(events):
    calls = []

    def broken(event):
        calls.append(event)
        raise MyError("observer broke")

    log.addObserver(broken)
    try:
        log.msg("first")
        log.msg("second")
    finally:
        log.removeObserver(broken)
    assert len(calls) == 1
    messages = [e.get("message") for e in events]
    assert ("first",) in messages and ("second",) in messages
    reports = [e for e in events if e.get("isError")]
    assert len(reports) == 1
    assert reports[0]["failure"].type is MyError
    assert "failed and was removed" in reports[0]["why"]


def test_startLoggingWritesTimestampedLines():
    output = io.StringIO()
    observer = log.startLogging(output)
    try:
        log.msg("hello world", system="Echo")
        log.msg("no system")
        log.msg()
    finally:
        log.removeObserver(observer)
    lines = output.getvalue().splitlines()
    timestamp = r"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d[+-]\d{4}"
    assert len(lines) == 2
    assert re.fullmatch(timestamp + r" \[Echo\] hello world", lines[0])
    assert re.fullmatch(timestamp + r" \[-\] no system", lines[1])


def test_startLoggingIndentsTracebacks():
    output = io.StringIO()
    observer = log.startLogging(output)
    try:
        log.err(MyError("indented"), "it broke")
    finally:
        observer.stop()
    lines = output.getvalue().splitlines()
    assert lines[0].endswith("[-] it broke")
    assert all(line.startswith("\t") for line in lines[1:])
    assert lines[-1] == "\t%s.MyError: indented" % (__name__,)


def test_fileLogObserverStartAndStop():
    output = io.StringIO()
    observer = log.FileLogObserver(output)
    observer.start()
    log.msg("seen")
    observer.stop()
    log.msg("not seen")
    assert "seen" in output.getvalue()
    assert "not seen" not in output.getvalue()


def test_formatTime(monkeypatch):
    monkeypatch.setenv("TZ", "UTC")
    log.time.tzset()
    try:
        assert log.formatTime(0) == "1970-01-01T00:00:00+0000"
    finally:
        monkeypatch.undo()
        log.time.tzset()


def test_stdlibHandlerReceivesEvents(handler):
    log.msg("to stdlib", system="Echo,3,127.0.0.1")
    log.err(MyError("an error"), "bad thing")
    info, error = handler.records
    assert info.levelno == logging.INFO
    assert info.name == "loom.Echo"
    assert info.getMessage() == "to stdlib"
    assert info.loomEvent["message"] == ("to stdlib",)
    assert error.levelno == logging.ERROR
    assert error.name == "loom"
    assert error.loomEvent["failure"].type is MyError
    assert error.getMessage().startswith("bad thing\nTraceback")


def test_stdlibLevelsApply(handler):
    logging.getLogger("loom").setLevel(logging.ERROR)
    log.msg("filtered out")
    log.err(MyError())
    assert [r.levelno for r in handler.records] == [logging.ERROR]


def test_eventLogLevelIsUsed(handler):
    log.msg("a warning", logLevel=logging.WARNING)
    assert handler.records[0].levelno == logging.WARNING


def test_eventWithoutTextGivesEmptyRecordMessage(handler):
    log.msg()
    assert handler.records[0].getMessage() == ""


def test_recordTimeIsEventTime(handler):
    log.msg("timed", time=1000.0)
    assert handler.records[0].created == 1000.0


def cutOffStdlibHandlers(monkeypatch):
    """
    Leave the 'loom' logger with no handler at all, as in a program that
    never configured stdlib logging.  Called from the test body: pytest
    attaches its capturing handlers when the test's call phase begins.
    """
    logger = logging.getLogger("loom")
    monkeypatch.setattr(logger, "propagate", False)
    monkeypatch.setattr(logger, "handlers", [])
    assert not logger.hasHandlers()


def test_errorsAreNotPrintedTwiceWithAnObserverAndNoHandler(monkeypatch, capsys):
    cutOffStdlibHandlers(monkeypatch)
    output = io.StringIO()
    observer = log.startLogging(output)
    try:
        log.err(MyError("once"))
    finally:
        observer.stop()
    assert "once" in output.getvalue()
    assert "once" not in capsys.readouterr().err


def test_errorsReachStderrWithoutObserverOrHandler(monkeypatch, capsys):
    cutOffStdlibHandlers(monkeypatch)
    log.err(MyError("not lost"))
    assert "not lost" in capsys.readouterr().err


def test_errTakesWhyAsAKeyword(events):
    # Twisted's spelling: log.err(failure, why="...").
    try:
        raise ValueError("bad")
    except ValueError:
        log.err(why="while parsing")
    assert events[0]["why"] == "while parsing"
    assert events[0]["failure"].type is ValueError


def test_eventFieldsLeavesOutReservedAndPrivateKeys(events):
    log.msg("user joined", user="bob", count=3, system="chat", logLevel=logging.INFO)
    log.err(MyError("bad"), "while chatting", user="eve")
    assert log.eventFields(events[0]) == {"user": "bob", "count": 3}
    assert log.eventFields(events[1]) == {"user": "eve"}
    assert log.eventFields({"log_format": "x", "log_source": 1, "a": 2}) == {"a": 2}


def test_whyEqualToTheTextIsSaidOnce():
    # Twisted's legacy form of a Logger failure event says the message as
    # both its why and its format.
    event = {"isError": True, "why": "while x", "format": "while x", "message": ()}
    assert log.textFromEventDict(event) == "while x"
    event["failure"] = Failure(MyError("e"))
    assert log.textFromEventDict(event).startswith("while x\nTraceback")
