"""
Logger: twisted.logger's way of logging, on reactor.log's one path.

    class ChatProtocol(LineReceiver):
        log = Logger()

        def lineReceived(self, line):
            self.log.info("{user} said {line!r}", user=self.user, line=line)

An event is a dict of fields, and its message a PEP 3101 format string
rendered from them only when a line is written (``formatEvent``), so the
fields stay structured: loomd's JSON output carries them as such.  The event
has Twisted's keys (``log_format``, ``log_level``, ``log_namespace``,
``log_source``, ``log_time``, ``log_logger``, ``log_system``, and
``log_failure`` from ``failure()``) and, as Twisted's bridge to its legacy
observers gives them, reactor.log's (``message``, ``time``, ``system``,
``isError``, ``failure``, ``why``, ``format``), so that an observer written
for either kind reads it.  It goes where reactor.log's events go: the
observers, then the stdlib logger ``loom.<namespace>`` at the level's stdlib
equivalent (``LogLevel.warn.value == logging.WARNING``), so loomd's
handlers, ``--log-level`` and formats apply to it.

The event's ``system`` is the connection being handled, when a line is
logged from inside the reactor's dispatch to one (reactor._logcontext);
elsewhere it is Twisted's ``namespace#level``.
"""

from __future__ import annotations

import enum
import logging
import string
import sys
import time
from collections.abc import Callable, Iterator, Mapping
from types import TracebackType
from typing import Any

from reactor import _logcontext, log
from reactor.failure import Failure

__all__ = ["Logger", "LogLevel", "InvalidLogLevelError", "formatEvent"]


class InvalidLogLevelError(Exception):
    """Someone used a log level that does not exist."""

    def __init__(self, level: object) -> None:
        super().__init__(str(level))
        self.level = level


class LogLevel(enum.Enum):
    """
    Twisted's log levels, in increasing order; each one's value is the
    stdlib level it is logged at.
    """

    debug = logging.DEBUG
    info = logging.INFO
    warn = logging.WARNING
    error = logging.ERROR
    critical = logging.CRITICAL

    @classmethod
    def levelWithName(cls, name: str) -> LogLevel:
        """
        Return the level called name.

        :raises InvalidLogLevelError: if there is none.
        """
        try:
            return cls[name]
        except KeyError:
            raise InvalidLogLevelError(name) from None

    @classmethod
    def lookupByName(cls, name: str) -> LogLevel:
        """Return the level called name; ValueError if there is none (constantly's API)."""
        try:
            return cls[name]
        except KeyError:
            raise ValueError(name) from None

    @classmethod
    def iterconstants(cls) -> Iterator[LogLevel]:
        """Iterate over the levels, lowest first."""
        return iter(cls)

    def __lt__(self, other: object) -> bool:
        if type(other) is not LogLevel:
            return NotImplemented
        return self.value < other.value

    def __le__(self, other: object) -> bool:
        if type(other) is not LogLevel:
            return NotImplemented
        return self.value <= other.value

    def __gt__(self, other: object) -> bool:
        if type(other) is not LogLevel:
            return NotImplemented
        return self.value > other.value

    def __ge__(self, other: object) -> bool:
        if type(other) is not LogLevel:
            return NotImplemented
        return self.value >= other.value

    def __repr__(self) -> str:
        return "<LogLevel=%s>" % (self.name,)


# -- formatting -------------------------------------------------------------------

_formatter = string.Formatter()


def formatEvent(event: Mapping[str, Any]) -> str:
    """
    Return the text of event's ``log_format`` rendered with its fields, as
    ``str.format`` does (``{user}``, ``{a.b}``, ``{x!r}``, ``{n:>5}``), plus
    Twisted's ``{f()}``: the field called, and its result formatted.

    Never raises: an event that cannot be rendered gives a text saying so,
    with its fields, rather than losing the line.  No format gives "".
    """
    try:
        format = event.get("log_format")
        if format is None:
            return ""
        if isinstance(format, bytes):
            format = format.decode("utf-8")
        elif not isinstance(format, str):
            raise TypeError("Log format must be str, not %r" % (format,))
        return _formatter.vformat(format, (), _CallMapping(event))
    except Exception as error:
        return _unformattable(event, error)


def _unformattable(event: Mapping[str, Any], error: Exception) -> str:
    try:
        return "Unable to format event %r: %s" % (event, error)
    except Exception:
        fields = ", ".join("%s = %s" % (_safeRepr(k), _safeRepr(v)) for k, v in event.items())
        return "MESSAGE LOST: unformattable object logged: %s\nRecoverable data: %s" % (
            _safeRepr(error),
            fields,
        )


def _safeRepr(value: object) -> str:
    try:
        return repr(value)
    except Exception:
        return "<unrepresentable %s>" % (type(value).__name__,)


def _keycall(key: str, getter: Callable[[str], Any]) -> _Field:
    # "{f()}" calls the field; anything else is looked up as str.format does.
    if key.endswith("()"):
        return _Field(getter(key[:-2])())
    return _Field(getter(key))


class _CallMapping(Mapping[str, Any]):
    """The event, as string.Formatter sees it: keys ending in () are called."""

    __slots__ = ("_event",)

    def __init__(self, event: Mapping[str, Any]) -> None:
        self._event = event

    def __getitem__(self, key: str) -> _Field:
        return _keycall(key, self._event.__getitem__)

    def __iter__(self) -> Iterator[str]:
        return iter(self._event)

    def __len__(self) -> int:
        return len(self._event)


class _Field:
    """A field's value; attributes ending in () are called, as keys are."""

    __slots__ = ("_value",)

    def __init__(self, value: Any) -> None:
        self._value = value

    def __getattr__(self, name: str) -> _Field:
        return _keycall(name, lambda attribute: getattr(self._value, attribute))

    def __getitem__(self, key: Any) -> _Field:
        return _Field(self._value[key])

    def __format__(self, spec: str) -> str:
        return format(self._value, spec)

    def __repr__(self) -> str:
        return repr(self._value)

    def __str__(self) -> str:
        return str(self._value)


class _Legacy:
    """``event["log_legacy"]``: formats a copy of the event when str() is asked."""

    __slots__ = ("_event",)

    def __init__(self, event: dict[str, Any]) -> None:
        self._event = event

    def __str__(self) -> str:
        return formatEvent(self._event)


# -- the Logger ------------------------------------------------------------------

_stdlibLoggers: dict[str, logging.Logger] = {}


def _stdlibLoggerFor(namespace: str) -> logging.Logger:
    logger = _stdlibLoggers.get(namespace)
    if logger is None:
        logger = logging.getLogger("%s.%s" % (log.LOGGER_NAME, namespace))
        _stdlibLoggers[namespace] = logger
    return logger


class Logger:
    """
    Emits events for a namespace, on behalf of a source.

    As a class attribute (``log = Logger()``) it is a descriptor: reached
    through a class or an instance it gives a Logger whose ``namespace`` is
    ``module.Class`` and whose ``source`` is that class or instance.

    :ivar namespace: a dotted name; by default the module that made the Logger.
    :ivar source: the object emitting the events (``log_source``), or None.
    :ivar observer: a callable given each event instead of reactor.log's
        path (for tests), or None.
    """

    __slots__ = ("namespace", "source", "observer")

    def __init__(
        self,
        namespace: str | None = None,
        source: object = None,
        observer: Callable[[dict[str, Any]], object] | None = None,
    ) -> None:
        if namespace is None:
            namespace = sys._getframe(1).f_globals.get("__name__", "<unknown>")
        self.namespace = namespace
        self.source = source
        self.observer = observer

    def __get__(self, instance: object, owner: type | None = None) -> Logger:
        if owner is None:
            owner = type(instance)
        source = owner if instance is None else instance
        return type(self)("%s.%s" % (owner.__module__, owner.__name__), source, self.observer)

    def __repr__(self) -> str:
        return "<%s %r>" % (type(self).__name__, self.namespace)

    def emit(self, level: LogLevel, format: str | None = None, **kwargs: object) -> None:
        """
        Emit an event at level.

        :param level: a LogLevel; any other value is reported as a failure
            (InvalidLogLevelError) and the event dropped, as Twisted does.
        :param format: a PEP 3101 format string rendered with the event's
            fields when a line is written, or None for an event with no text.
        :param kwargs: the event's fields.
        """
        if type(level) is not LogLevel:
            self.failure(
                "Got invalid log level {invalidLevel!r} in {logger}.emit().",
                Failure(InvalidLogLevelError(level)),
                invalidLevel=level,
                logger=self,
            )
            return
        if self.observer is not None:
            kwargs.update(self._twistedKeys(level, format))
            self.observer(kwargs)
            return
        stdlib = _stdlibLoggerFor(self.namespace)
        if not log.wanted(stdlib, level.value):
            return  # nobody would see it: skip building the event
        event = kwargs
        event.update(self._twistedKeys(level, format))
        _addLegacyKeys(event, level)
        log.emit(event, stdlib)

    def _twistedKeys(self, level: LogLevel, format: str | None) -> dict[str, object]:
        return {
            "log_logger": self,
            "log_level": level,
            "log_namespace": self.namespace,
            "log_source": self.source,
            "log_format": format,
            "log_time": time.time(),
        }

    def failure(
        self,
        format: str,
        failure: Failure | None = None,
        level: LogLevel = LogLevel.critical,
        **kwargs: object,
    ) -> None:
        """
        Log a failure with its traceback, at ``critical`` by default.

        :param failure: a Failure; None (the default) captures the exception
            being handled, so call it from an ``except`` block.
        """
        if failure is None:
            failure = Failure()
        self.emit(level, format, log_failure=failure, **kwargs)

    def debug(self, format: str | None = None, **kwargs: object) -> None:
        """Emit an event at LogLevel.debug."""
        self.emit(LogLevel.debug, format, **kwargs)

    def info(self, format: str | None = None, **kwargs: object) -> None:
        """Emit an event at LogLevel.info."""
        self.emit(LogLevel.info, format, **kwargs)

    def warn(self, format: str | None = None, **kwargs: object) -> None:
        """Emit an event at LogLevel.warn."""
        self.emit(LogLevel.warn, format, **kwargs)

    def error(self, format: str | None = None, **kwargs: object) -> None:
        """Emit an event at LogLevel.error."""
        self.emit(LogLevel.error, format, **kwargs)

    def critical(self, format: str | None = None, **kwargs: object) -> None:
        """Emit an event at LogLevel.critical."""
        self.emit(LogLevel.critical, format, **kwargs)

    def failuresHandled(
        self, format: str, level: LogLevel = LogLevel.critical, **kwargs: object
    ) -> _Operation:
        """
        A context manager logging (with ``failure``) any exception its block
        raises, then going on.  It gives an operation whose ``succeeded``,
        ``failed`` and ``failure`` say how the block ended.
        """
        return _Operation(lambda failure: self.failure(format, failure, level, **kwargs))

    def failureHandler(self, staticMessage: str, level: LogLevel = LogLevel.critical) -> _Operation:
        """
        A reusable context manager logging any exception its block raises
        with staticMessage, then going on (for hot paths: make it once).
        """
        return _Operation(lambda failure: self.failure(staticMessage, failure, level))


def _addLegacyKeys(event: dict[str, Any], level: LogLevel) -> None:
    # What Twisted's LegacyLogObserverWrapper adds, for reactor.log's
    # formatters and observers.  log_legacy formats a copy, so that the
    # event does not hold itself.
    # Passing over our frames: this one, emit's (info's is looked at).
    system = event.get("log_system") or _logcontext.currentSystem(2)
    if system is None:
        system = "%s#%s" % (event["log_namespace"], level.name)
    event["log_system"] = system
    event["system"] = system
    event["time"] = event["log_time"]
    event["message"] = ()
    event["logLevel"] = level.value
    if event["log_format"] is not None:
        event["format"] = "%(log_legacy)s"
        event["log_legacy"] = _Legacy(dict(event))
    failure = event.get("log_failure")
    if failure is not None:
        event["failure"] = failure
        event["isError"] = True
        event["why"] = formatEvent(event)
    else:
        event["isError"] = level >= LogLevel.error


class _Operation:
    """What failuresHandled and failureHandler return."""

    def __init__(self, report: Callable[[Failure], None]) -> None:
        self._report = report
        self.succeeded = False
        self.failure: Failure | None = None

    @property
    def failed(self) -> bool:
        """True if the block raised."""
        return self.failure is not None

    def __enter__(self) -> _Operation:
        return self

    def __exit__(
        self,
        excType: type[BaseException] | None,
        excValue: BaseException | None,
        traceback: TracebackType | None,
    ) -> bool:
        if excType is None:
            self.succeeded = True
            return False
        if not issubclass(excType, Exception):
            return False  # KeyboardInterrupt and SystemExit pass through
        self.failure = Failure(excValue, excType, traceback)
        self._report(self.failure)
        return True


_log = Logger(namespace="reactor.logger")


def loggerFor(thing: object) -> Logger:
    """Return the Logger a class attribute would give thing (Twisted's private _loggerFor)."""
    return _log.__get__(thing, type(thing))
