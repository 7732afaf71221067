"""
HTTP dates: the IMF-fixdate of the Date header, the access log's timestamp,
and parsing the three date formats RFC 9110 accepts.

A busy server answers thousands of requests per second and every answer
carries a Date: ``DateCache`` formats each second once and hands out the
same bytes until the clock moves on (test_dateIsFormattedOncePerSecond).
"""

from __future__ import annotations

import calendar
from collections.abc import Callable
from time import gmtime, time

__all__ = [
    "datetimeToString",
    "datetimeToLogString",
    "stringToDatetime",
    "timegm",
    "weekdayname",
    "weekdayname_lower",
    "monthname",
    "monthname_lower",
    "DateCache",
]

weekdayname = ["Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun"]
monthname = [
    None,
    "Jan",
    "Feb",
    "Mar",
    "Apr",
    "May",
    "Jun",
    "Jul",
    "Aug",
    "Sep",
    "Oct",
    "Nov",
    "Dec",
]
weekdayname_lower = [name.lower() for name in weekdayname]
monthname_lower = [name and name.lower() for name in monthname]
_weekdayBytes = [name.encode("ascii") for name in weekdayname]
_monthBytes = [b""] + [name.encode("ascii") for name in monthname[1:] if name]


def datetimeToString(msSinceEpoch: float | None = None) -> bytes:
    """
    Return a time as an HTTP date: ``b"Sun, 06 Nov 1994 08:49:37 GMT"``.

    :param msSinceEpoch: seconds since the epoch (Twisted's misleading
        name is kept), now if None.
    """
    year, month, day, hour, minute, second, weekday, _, _ = gmtime(msSinceEpoch)
    return b"%s, %02d %s %04d %02d:%02d:%02d GMT" % (
        _weekdayBytes[weekday],
        day,
        _monthBytes[month],
        year,
        hour,
        minute,
        second,
    )


def datetimeToLogString(msSinceEpoch: float | None = None) -> str:
    """Return a time as the access log writes it: ``"[06/Nov/1994:08:49:37 +0000]"``."""
    if msSinceEpoch is None:
        msSinceEpoch = time()
    year, month, day, hour, minute, second, _, _, _ = gmtime(msSinceEpoch)
    return "[%02d/%s/%04d:%02d:%02d:%02d +0000]" % (
        day,
        monthname[month],
        year,
        hour,
        minute,
        second,
    )


def timegm(year: int, month: int, day: int, hour: int, minute: int, second: int) -> int:
    """
    Return the seconds since the epoch of a UTC time.

    :raises ValueError: for a year before 1970 or a month outside 1-12.
    """
    if year < 1970:
        raise ValueError("Years prior to 1970 not supported")
    if not 1 <= month <= 12:
        raise ValueError("month must be in 1..12, not %r" % (month,))
    return calendar.timegm((year, month, day, hour, minute, second, 0, 0, 0))


def stringToDatetime(dateString: bytes) -> int:
    """
    Return the seconds since the epoch of an HTTP date in any of its three
    formats: IMF-fixdate (``Sun, 06 Nov 1994 08:49:37 GMT``), RFC 850
    (``Sunday, 06-Nov-94 08:49:37 GMT``) and asctime
    (``Sun Nov  6 08:49:37 1994``); the weekday may be left out.

    :raises ValueError: for anything else.
    """
    try:
        parts = dateString.decode("ascii").split()
    except UnicodeDecodeError:
        raise ValueError("Unknown datetime format %r" % (dateString,)) from None
    if parts and parts[0][:3].lower() not in weekdayname_lower:
        parts.insert(0, "Sun,")
    count = len(parts)
    if count in (5, 6) and parts[1].isdigit():
        day, month, year, clock = parts[1], parts[2], int(parts[3]), parts[4]
    elif count in (3, 4) and "-" in parts[1]:
        day, month, shortYear = parts[1].split("-")
        year = int(shortYear)
        year += 2000 if year < 69 else 1900 if year < 100 else 0
        clock = parts[2]
    elif count == 5:
        day, month, year, clock = parts[2], parts[1], int(parts[4]), parts[3]
    else:
        raise ValueError("Unknown datetime format %r" % (dateString,))
    try:
        monthNumber = monthname_lower.index(month.lower())
        hour, minute, second = map(int, clock.split(":"))
        return timegm(year, monthNumber, int(day), hour, minute, second)
    except (ValueError, TypeError) as e:
        raise ValueError("Unknown datetime format %r: %s" % (dateString, e)) from None


class DateCache:
    """
    The current second's Date header value and access-log timestamp, each
    formatted once per second.

    :param seconds: a callable returning the time (``reactor.seconds``).
    """

    __slots__ = ("seconds", "_second", "_date", "_logSecond", "_logString")

    def __init__(self, seconds: Callable[[], float]) -> None:
        self.seconds = seconds
        self._second = -1
        self._date = b""
        self._logSecond = -1
        self._logString = ""

    def date(self) -> bytes:
        """Return the Date header value for now."""
        now = int(self.seconds())
        if now != self._second:
            self._date = datetimeToString(now)
            self._second = now
        return self._date

    def logString(self) -> str:
        """Return the access log's timestamp for now."""
        now = int(self.seconds())
        if now != self._logSecond:
            self._logString = datetimeToLogString(now)
            self._logSecond = now
        return self._logString
