"""Tests for reactor.logger: Twisted's Logger on reactor.log's stdlib-logging path."""

import logging

import pytest

from reactor import log
from reactor.failure import Failure
from reactor.logger import InvalidLogLevelError, Logger, LogLevel, formatEvent
from tests.reactor.test_log import RecordingHandler


@pytest.fixture
def events():
    """The events logged during the test, as reactor.log's observers see them."""
    collected = []
    log.addObserver(collected.append)
    try:
        yield collected
    finally:
        log.removeObserver(collected.append)


@pytest.fixture
def handler():
    """A RecordingHandler on the stdlib 'loom' logger; its level is put back after."""
    logger = logging.getLogger("loom")
    recording = RecordingHandler()
    savedLevel = logger.level
    logger.addHandler(recording)
    try:
        yield recording
    finally:
        logger.removeHandler(recording)
        logger.setLevel(savedLevel)


class Chat:
    """A class with a Logger attribute, as Twisted code has."""

    log = Logger()

    def __repr__(self):
        return "<Chat>"


class Point:
    x = 3

    def describe(self):
        return "a point"


def test_classAttributeNamesTheClassAndTheInstance():
    chat = Chat()
    assert chat.log.namespace == "%s.Chat" % (__name__,)
    assert chat.log.source is chat
    assert Chat.log.namespace == "%s.Chat" % (__name__,)
    assert Chat.log.source is Chat
    assert repr(chat.log) == "<Logger '%s.Chat'>" % (__name__,)


def test_defaultNamespaceIsTheCallersModule():
    assert Logger().namespace == __name__
    assert Logger(namespace="my.space").namespace == "my.space"


def test_eventHasTwistedKeysAndTheFields(events):
    chat = Chat()
    chat.log.info("user {user} joined", user="bob")
    event = events[0]
    assert event["user"] == "bob"
    assert event["log_format"] == "user {user} joined"
    assert event["log_level"] is LogLevel.info
    assert event["log_namespace"] == "%s.Chat" % (__name__,)
    assert event["log_source"] is chat
    assert event["log_logger"].source is chat
    assert isinstance(event["log_time"], float)
    assert event["time"] == event["log_time"]
    # Outside a connection, the system is Twisted's namespace#level.
    assert event["log_system"] == event["system"] == "%s.Chat#info" % (__name__,)
    assert event["isError"] is False
    assert log.textFromEventDict(event) == "user bob joined"


def test_formatStringsAsTwistedFormatsThem():
    event = {
        "log_format": "{log_source} {p.x} {name!r} {n:>4} {p.describe()} {f()}",
        "log_source": "<Chat>",
        "p": Point(),
        "name": "bob",
        "n": 7,
        "f": lambda: "called",
    }
    assert formatEvent(event) == "<Chat> 3 'bob'    7 a point called"


def test_unformattableEventSaysSoInsteadOfRaising():
    text = formatEvent({"log_format": "{missing} and {0}"})
    assert text.startswith("Unable to format event {'log_format': '{missing} and {0}'}")
    assert formatEvent({"log_format": b"bytes {x}", "x": 1}) == "bytes 1"
    assert formatEvent({"log_format": 42}).startswith("Unable to format event")
    assert formatEvent({}) == ""


def test_anEventWithoutFormatHasNoText(events):
    Chat().log.info(user="bob")
    assert log.textFromEventDict(events[0]) is None
    assert events[0]["user"] == "bob"


def test_legacyObserversCanFormatTheEvent(events):
    # An observer written for twisted.python.log does format % event.
    Chat().log.warn("{count} left", count=2)
    event = events[0]
    assert event["format"] % event == "2 left"
    assert event["message"] == ()


@pytest.mark.parametrize(
    "method, level, stdlibLevel",
    [
        ("debug", LogLevel.debug, logging.DEBUG),
        ("info", LogLevel.info, logging.INFO),
        ("warn", LogLevel.warn, logging.WARNING),
        ("error", LogLevel.error, logging.ERROR),
        ("critical", LogLevel.critical, logging.CRITICAL),
    ],
)
def test_levelsReachStdlibAtTheirStdlibLevel(handler, method, level, stdlibLevel):
    logging.getLogger("loom").setLevel(logging.DEBUG)
    getattr(Chat().log, method)("at {name}", name=method)
    (record,) = handler.records
    assert record.levelno == stdlibLevel
    assert record.name == "loom.%s.Chat" % (__name__,)
    assert record.getMessage() == "at %s" % (method,)
    assert record.loomEvent["log_level"] is level
    assert record.loomEvent["isError"] is (level >= LogLevel.error)


def test_stdlibLevelsFilterLoggerEvents(handler):
    logging.getLogger("loom").setLevel(logging.INFO)
    Chat().log.debug("hidden")
    Chat().log.info("shown")
    assert [record.getMessage() for record in handler.records] == ["shown"]
    # A namespace is a stdlib logger below "loom": its level can be set alone.
    namespaced = logging.getLogger("loom.%s" % (__name__,))
    namespaced.setLevel(logging.DEBUG)
    try:
        Chat().log.debug("now shown")
    finally:
        namespaced.setLevel(logging.NOTSET)
    assert handler.records[-1].getMessage() == "now shown"


def test_logLevelNamesAndOrder():
    assert LogLevel.levelWithName("warn") is LogLevel.warn
    assert LogLevel.lookupByName("error") is LogLevel.error
    with pytest.raises(InvalidLogLevelError):
        LogLevel.levelWithName("warning")
    with pytest.raises(ValueError):
        LogLevel.lookupByName("loud")
    assert list(LogLevel.iterconstants()) == [
        LogLevel.debug,
        LogLevel.info,
        LogLevel.warn,
        LogLevel.error,
        LogLevel.critical,
    ]
    assert LogLevel.debug < LogLevel.info <= LogLevel.info < LogLevel.critical
    assert LogLevel.error > LogLevel.warn >= LogLevel.warn
    assert repr(LogLevel.info) == "<LogLevel=info>"
    assert LogLevel.info.name == "info"


def test_emitWithAnInvalidLevelLogsAFailureInstead(events):
    logger = Logger(namespace="ns")
    logger.emit("loud", "dropped")
    (event,) = events
    assert event["log_level"] is LogLevel.critical
    assert event["log_failure"].check(InvalidLogLevelError)
    assert event["invalidLevel"] == "loud"
    assert log.textFromEventDict(event).startswith(
        "Got invalid log level 'loud' in <Logger 'ns'>.emit().\nTraceback"
    )


def test_failureCapturesTheExceptionBeingHandled(events):
    try:
        {}["key"]
    except KeyError:
        Chat().log.failure("while looking up {what}", what="key")
    (event,) = events
    assert event["log_level"] is LogLevel.critical
    assert event["log_failure"].type is KeyError
    assert event["failure"] is event["log_failure"]
    assert event["isError"] is True
    text = log.textFromEventDict(event)
    assert text.startswith("while looking up key\nTraceback (most recent call last):")
    assert text.endswith("KeyError: 'key'")


def test_failureTakesAGivenFailureAndLevel(events):
    failure = Failure(ValueError("given"))
    Chat().log.failure("it broke", failure, level=LogLevel.error)
    assert events[0]["log_failure"] is failure
    assert events[0]["log_level"] is LogLevel.error


def test_failureReachesStdlibAsAnErrorWithItsTraceback(handler):
    try:
        int("x")
    except ValueError:
        Chat().log.failure("parsing")
    (record,) = handler.records
    assert record.levelno == logging.CRITICAL
    assert record.getMessage().startswith("parsing\nTraceback")


def test_failuresHandledLogsAndGoesOn(events):
    logger = Logger(namespace="ns")
    with logger.failuresHandled("while frobbing {knob}", knob=1) as operation:
        raise ValueError("frob")
    assert operation.failed and not operation.succeeded
    assert operation.failure.type is ValueError
    assert events[0]["knob"] == 1
    with logger.failuresHandled("fine") as operation:
        pass
    assert operation.succeeded and not operation.failed
    hotLoopHandler = logger.failureHandler("in the hot loop")
    with hotLoopHandler:
        raise KeyError("hot")
    assert len(events) == 2
    assert events[1]["log_failure"].type is KeyError


def test_failuresHandledLetsKeyboardInterruptThrough():
    with pytest.raises(KeyboardInterrupt):
        with Logger(namespace="ns", observer=lambda event: None).failuresHandled("x"):
            raise KeyboardInterrupt()


def test_anObserverGivenToTheLoggerGetsItsEventsAlone(events):
    seen = []
    logger = Logger(namespace="ns", source="me", observer=seen.append)
    logger.info("only {here}", here="there")
    assert events == []
    (event,) = seen
    assert event["here"] == "there"
    assert event["log_source"] == "me"
    assert formatEvent(event) == "only there"


def test_descriptorKeepsTheObserver():
    seen = []

    class Watched:
        log = Logger(observer=seen.append)

    Watched().log.info("seen")
    assert len(seen) == 1


def test_fieldsStayStructuredForFormatters(events):
    Chat().log.info("user {user} joined", user="bob", count=3)
    assert log.eventFields(events[0]) == {"user": "bob", "count": 3}
