"""
Twisted-style logging as a thin façade over stdlib ``logging``.

Every event is a dict (``message``, ``time``, ``system``, ``isError``,
``failure``, ``why`` and any extra fields, which stay structured: loomd's
JSON output carries them, see ``eventFields``).  It goes two ways:

- to the observers added with ``addObserver`` (always, whatever the levels),
- to the stdlib logger ``loom`` (or ``loom.<system>``), as a LogRecord that
  carries the event as ``record.loomEvent``; so a user who configures stdlib
  logging sees Loom's events in their handlers, at INFO or ERROR, subject to
  their own levels.

When stdlib logging has no handler at all, errors still reach stderr through
its last-resort handler, so nothing is lost by default; but once an observer
is added (``startLogging``), that fallback is skipped, so an error is not
printed twice (see test_errorsAreNotPrintedTwiceWithAnObserverAndNoHandler).

An event logged without a ``system`` while the reactor dispatches to a
descriptor takes that descriptor's ``logPrefix()``, as under Twisted's
callWithLogger: ``ChatProtocol,3,127.0.0.1``.  It is found only when a line
is logged, never per event (reactor._logcontext).  reactor.logger's Logger
emits through the same path, to the stdlib logger ``loom.<namespace>``.

No rotation and no syslog here: the daemonizer attaches stdlib handlers for
those.  ``startLogging(file)`` is the one-line way to see events in a file.
"""

import logging
import sys
import time

from reactor import _logcontext
from reactor.failure import Failure

__all__ = [
    "msg",
    "err",
    "addObserver",
    "removeObserver",
    "startLogging",
    "textFromEventDict",
    "eventFields",
    "formatTime",
    "FileLogObserver",
    "LOGGER_NAME",
]

LOGGER_NAME = "loom"
_root = logging.getLogger(LOGGER_NAME)
_loggers: dict[str, logging.Logger] = {}
_observers: list = []


def _loggerFor(system):
    # One child logger per system name (its part before the first comma, so
    # that per-connection prefixes like "Echo,3,127.0.0.1" share a logger).
    key = system.split(",", 1)[0].strip().replace(".", "_") if system else "-"
    logger = _loggers.get(key)
    if logger is None:
        logger = _root if key == "-" else _root.getChild(key)
        _loggers[key] = logger
    return logger


def addObserver(observer):
    """Call observer(event) for every event logged from now on."""
    _observers.append(observer)


def removeObserver(observer):
    """Stop calling observer; a no-op if it was not added."""
    try:
        _observers.remove(observer)
    except ValueError:
        pass


def msg(*message, **fields):
    """
    Log an informational event.

    The positional parts are joined with spaces; a ``format`` field, if given,
    is %-formatted with the event dict instead.  ``system`` names the source
    ("-" by default).  Any other keyword becomes a field of the event.
    """
    event = fields
    event["message"] = message
    event.setdefault("isError", False)
    emit(event)


def err(_stuff=None, _why=None, **fields):
    """
    Log an error.

    :param _stuff: a Failure, an exception, or None inside an ``except`` block
        for the exception being handled.
    :param _why: a sentence saying what went wrong, logged before the traceback
        (also accepted as the keyword ``why``).
    """
    if _why is None:
        _why = fields.pop("why", None)
    if _stuff is None:
        _stuff = Failure()
    if isinstance(_stuff, BaseException) and not isinstance(_stuff, Failure):
        _stuff = Failure(_stuff)
    if isinstance(_stuff, Failure):
        fields["failure"] = _stuff
    else:
        fields["message"] = (repr(_stuff),)
    fields["isError"] = True
    fields["why"] = _why
    fields.setdefault("message", ())
    emit(fields)


def emit(event, logger=None):
    """
    Send a finished event dict to the observers and to stdlib logging.

    msg() and err() build their events and call this; so does
    reactor.logger's Logger, which is why it is not private.  An event
    without ``time`` or ``system`` gets them here.

    :param logger: the stdlib logger for the event; by default the one named
        after its system (reactor.logger passes the one of its namespace).
    """
    if "time" not in event:
        event["time"] = time.time()
    if "system" not in event:
        # Passing over emit's frame and msg's or err's, ours.
        event["system"] = _logcontext.currentSystem(2) or "-"
    for observer in list(_observers):
        try:
            observer(event)
        except Exception:
            # A broken observer must not take logging down with it; drop it
            # and say so through the others and stdlib.
            removeObserver(observer)
            failure = Failure()
            emit(
                {
                    "message": (),
                    "isError": True,
                    "failure": failure,
                    "why": "Log observer %r failed and was removed" % (observer,),
                }
            )
    level = event.get("logLevel") or (logging.ERROR if event["isError"] else logging.INFO)
    if logger is None:
        logger = _loggerFor(event["system"])
    if logger.isEnabledFor(level) and (not _observers or logger.hasHandlers()):
        _toStdlib(logger, level, event)


def wanted(logger, level):
    """
    Return whether an event at level for the stdlib logger would reach
    anyone at all (an observer, or the logger's level): reactor.logger
    skips building an event nobody would see.
    """
    return bool(_observers) or logger.isEnabledFor(level)


def _toStdlib(logger, level, event):
    record = logger.makeRecord(
        logger.name,
        level,
        "(loom)",
        0,
        "%s",
        (_LazyText(event),),
        None,
        extra={"loomEvent": event},
    )
    record.created = event["time"]
    logger.handle(record)


class _LazyText:
    # The record's message is built only if a handler formats it.
    __slots__ = ("event",)

    def __init__(self, event):
        self.event = event

    def __str__(self):
        return textFromEventDict(self.event) or ""


def textFromEventDict(event):
    """
    Return the text of an event: its format or message, then for an error the
    ``why`` line and the traceback.  Returns None for an event with no text.
    """
    text = None
    if "format" in event:
        try:
            text = event["format"] % event
        except Exception as error:
            text = "Invalid format string or unformattable object in log message: %r, %r" % (
                event["format"],
                error,
            )
    elif event.get("message"):
        text = " ".join(str(part) for part in event["message"])
    if not event.get("isError"):
        return text
    why = event.get("why")
    if "failure" in event:
        why = why or "Unhandled Error"
        traceback = event["failure"].getTraceback().rstrip("\n")
        return "%s\n%s" % (_whyAndText(why, text), traceback)
    if why:
        return _whyAndText(why, text)
    return text


def _whyAndText(why, text):
    # A Logger's failure event says its message as both (Twisted's legacy
    # form of it does too): once is enough.
    return why if text is None or text == why else "%s: %s" % (why, text)


# Keys of the event that reactor.log itself reads; Twisted's own are log_*.
_RESERVED = frozenset(
    ["message", "time", "system", "isError", "failure", "why", "format", "logLevel"]
)


def eventFields(event):
    """
    Return the fields a program gave an event (``log.msg("...", user=name)``,
    ``Logger().info("...", user=name)``): every key except reactor.log's own
    (message, time, system, isError, failure, why, format, logLevel) and
    Twisted's private ``log_*`` keys.
    """
    return {
        key: value
        for key, value in event.items()
        if key not in _RESERVED and not (isinstance(key, str) and key.startswith("log_"))
    }


def formatTime(when):
    """Return when (a time.time() value) as 2026-11-22T10:00:00+0000, local time."""
    return time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(when))


class FileLogObserver:
    """
    An observer writing one ``TIME [system] text`` line per event to a file.

    Continuation lines of a multi-line event (a traceback) are indented with a
    tab, so every physical line still belongs visibly to its event.
    """

    def __init__(self, file):
        self.file = file

    def emit(self, event):
        """Write event to the file and flush it."""
        text = textFromEventDict(event)
        if text is None:
            return
        text = text.replace("\n", "\n\t")
        line = "%s [%s] %s\n" % (formatTime(event["time"]), event["system"], text)
        self.file.write(line)
        self.file.flush()

    __call__ = emit

    def start(self):
        """Start receiving events."""
        addObserver(self)

    def stop(self):
        """Stop receiving events."""
        removeObserver(self)


def startLogging(file=None, setStdout=False):
    """
    Start writing every event to file (default sys.stdout).

    setStdout is accepted for compatibility with Twisted, where it redirects
    print() into the log; Loom leaves sys.stdout alone.

    :return: the FileLogObserver added, so it can be removed again.
    """
    observer = FileLogObserver(file if file is not None else sys.stdout)
    observer.start()
    return observer
