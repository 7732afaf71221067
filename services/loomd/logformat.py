"""
How a log line looks: the formatters of loomd's log destinations.

Loom's events reach the stdlib logger ``loom`` as LogRecords carrying the
event dict as ``record.loomEvent`` (see reactor.log); other records come
from the stdlib ``logging`` of the program.  Either way one record makes
one line:

- TextFormatter: ``TIME [system] message``, continuation lines (a
  traceback) indented with a tab;
- JsonFormatter: one JSON object per line (``--log-format json``);
- SyslogFormatter: ``[system] message`` (syslog adds the time and ident).

The system is escaped so that no record can forge a line of its own.
services.loomd.logfile (files, stdout) and services.loomd._loghandlers
(rotating files, syslog) both use these; this module imports neither.
"""

import logging

from reactor import log
from reactor._logcontext import printable

__all__ = ["TextFormatter", "JsonFormatter", "SyslogFormatter", "FORMATTERS"]


def _systemOf(record):
    # Escaped: a newline in a system would start a line the log did not write.
    event = getattr(record, "loomEvent", None)
    system = event.get("system", "-") if event is not None else record.name
    return printable(str(system))


def _messageAndTraceback(record, formatter):
    """Return (message text, traceback text or None) for a record."""
    event = getattr(record, "loomEvent", None)
    if event is None:
        traceback = None
        if record.exc_info:
            traceback = formatter.formatException(record.exc_info)
        return record.getMessage(), traceback
    failure = event.get("failure")
    if failure is None or not event.get("isError"):
        return log.textFromEventDict(event) or "", None
    text = log.textFromEventDict({key: value for key, value in event.items() if key != "failure"})
    why = event.get("why") or "Unhandled Error"
    message = why if not text or text == why else "%s: %s" % (why, text)
    return message, failure.getTraceback().rstrip("\n")


class TextFormatter(logging.Formatter):
    """
    ``2026-11-22T10:00:00+0000 [system] message``, one event per line;
    continuation lines (a traceback) are indented with a tab.
    """

    def format(self, record):
        """Return the text line for record."""
        message, traceback = _messageAndTraceback(record, self)
        if traceback:
            message = "%s\n%s" % (message, traceback)
        message = message.replace("\n", "\n\t")
        return "%s [%s] %s" % (log.formatTime(record.created), _systemOf(record), message)


class JsonFormatter(logging.Formatter):
    """
    One JSON object per line: ``time`` (ISO 8601, milliseconds, local
    offset), ``level``, ``system``, ``message``; ``namespace`` for an event
    of a reactor.logger Logger; ``fields``, an object holding the fields the
    program gave the event (``log.msg("...", user=name)``,
    ``Logger().info("...", user=name)``, stdlib ``extra={"user": name}``);
    and ``traceback`` for errors that carry one.

    The fields get an object of their own rather than top-level keys: a
    program's field may be called ``time``, ``level`` or ``message`` too, and
    nothing it logs can then change the shape of the line that log readers
    rely on.  A value JSON cannot hold (bytes, an object, NaN, a dict with
    tuple keys, a cycle) is given as its repr.  Twisted's private ``log_*``
    keys are left out.
    """

    def format(self, record):
        """Return the JSON line for record."""
        import datetime

        message, traceback = _messageAndTraceback(record, self)
        when = datetime.datetime.fromtimestamp(record.created).astimezone()
        entry = {
            "time": when.isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "system": _systemOf(record),
            "message": message,
        }
        event = getattr(record, "loomEvent", None)
        if event is not None and "log_namespace" in event:
            entry["namespace"] = event["log_namespace"]
        fields = _fieldsOf(record, event)
        if fields:
            entry["fields"] = fields
        if traceback:
            entry["traceback"] = traceback
        return _jsonLine(entry)


# The attributes every LogRecord has; any other was given through ``extra``.
_RECORD_ATTRIBUTES = frozenset(
    list(logging.LogRecord("", 0, "", 0, "", (), None).__dict__)
    + ["message", "asctime", "taskName", "loomEvent"]
)


def _fieldsOf(record, event):
    if event is not None:
        return log.eventFields(event)
    return {key: value for key, value in record.__dict__.items() if key not in _RECORD_ATTRIBUTES}


def _safeRepr(value):
    try:
        return repr(value)
    except Exception:
        return "<unrepresentable %s>" % (type(value).__name__,)


def _jsonLine(entry):
    import json

    try:
        return json.dumps(entry, ensure_ascii=False, allow_nan=False, default=_safeRepr)
    except (TypeError, ValueError, RecursionError):
        pass
    # One field JSON cannot hold as it is: each such field becomes its repr.
    fields = entry.get("fields", {})
    for key, value in fields.items():
        try:
            json.dumps(value, allow_nan=False, default=_safeRepr)
        except (TypeError, ValueError, RecursionError):
            fields[key] = _safeRepr(value)
    if fields:
        entry["fields"] = {str(key): value for key, value in fields.items()}
    return json.dumps(entry, ensure_ascii=False, allow_nan=False, default=_safeRepr)


class SyslogFormatter(logging.Formatter):
    """``[system] message`` (syslog adds the time and the ident)."""

    def format(self, record):
        """Return the syslog message for record."""
        message, traceback = _messageAndTraceback(record, self)
        if traceback:
            message = "%s\n%s" % (message, traceback)
        return "[%s] %s" % (_systemOf(record), message)


FORMATTERS = {"text": TextFormatter, "json": JsonFormatter}
"""The ``--log-format`` choices and their formatter classes."""
