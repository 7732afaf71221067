"""
Kept for the path DESIGN.md names: this module only re-exports.

loomd's log destinations live in services.loomd.logfile (and the file and
syslog handler classes in services.loomd._loghandlers), the line formats
in services.loomd.logformat.
"""

from services.loomd._loghandlers import DailyLogFile, PlainLogFile, RotatingLogFile, SyslogHandler
from services.loomd.logfile import (
    LogStream,
    StdoutLog,
    captureStandardStreams,
    chownLogFiles,
    makeLogHandler,
    makeSyslogHandler,
    rebaseForChroot,
)
from services.loomd.logformat import JsonFormatter, SyslogFormatter, TextFormatter

__all__ = [
    "makeLogHandler",
    "makeSyslogHandler",
    "RotatingLogFile",
    "DailyLogFile",
    "PlainLogFile",
    "StdoutLog",
    "SyslogHandler",
    "TextFormatter",
    "JsonFormatter",
    "SyslogFormatter",
    "chownLogFiles",
    "rebaseForChroot",
    "captureStandardStreams",
    "LogStream",
]
