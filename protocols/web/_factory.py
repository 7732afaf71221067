"""
HTTPFactory: the settings of an HTTP server, and its access log.

Each channel it builds gets a copy of the factory's limits and timeouts
(the names are HTTPChannel's attributes).  The access log goes, one line
per finished request, to ``logPath`` if one is given (Twisted's file), else
through Loom's logging façade as an info event of the namespace
``protocols.web.access`` (the stdlib logger ``loom.protocols.web.access``),
so that loomd's log gets it; when nothing would see that event, the line is
not even formatted.
"""

from __future__ import annotations

import logging
import os
from typing import Any

from protocols.protocol import ServerFactory
from protocols.web._accesslog import combinedLogFormatter
from protocols.web._channel import DEFAULT_MAX_BODY, HTTPChannel
from protocols.web._dates import DateCache
from protocols.web._parser import parserClass, parserName
from reactor import getReactor, log
from reactor.logger import Logger

__all__ = ["HTTPFactory", "ACCESS_LOG_NAMESPACE"]

ACCESS_LOG_NAMESPACE = "protocols.web.access"
_accessLog = Logger(namespace=ACCESS_LOG_NAMESPACE)
_accessStdlib = logging.getLogger("%s.%s" % (log.LOGGER_NAME, ACCESS_LOG_NAMESPACE))


class HTTPFactory(ServerFactory):
    """
    A factory of HTTPChannels: an HTTP server's settings and access log.

    :ivar timeOut: the idle keep-alive timeout (Twisted's ``timeout``).
    :ivar logPath: the access log file, or None for the logging façade.
    """

    protocol: Any = HTTPChannel
    logPath: str | None = None
    timeOut: float | None = 60

    def __init__(
        self,
        logPath: str | bytes | None = None,
        timeout: float | None = 60,
        logFormatter: Any = None,
        reactor: Any = None,
        *,
        headerTimeout: float | None = 30,
        abortTimeout: float | None = 15,
        maxHeaders: int = 500,
        totalHeadersSize: int = 16384,
        maxRequestBodySize: int | None = DEFAULT_MAX_BODY,
        maxMemoryBodySize: int = 100_000,
        maxPipelinedRequests: int = 16,
        parser: str | None = None,
    ) -> None:
        """
        :param logPath: a file to append the access log to; None (the
            default) logs through the logging façade.
        :param timeout: seconds a kept-alive connection may idle, and a
            request body may pause (None: no limit).
        :param logFormatter: an IAccessLogFormatter; combinedLogFormatter
            by default.
        :param reactor: for timeouts and the time; the global one by default
            (looked up when first needed).
        :param headerTimeout: seconds from a request head's first byte to
            its last (408 after that).
        :param abortTimeout: seconds after a timeout's close before the
            connection is aborted.
        :param maxHeaders: most header lines per request (431).
        :param totalHeadersSize: most bytes of request line and headers (431).
        :param maxRequestBodySize: most bytes of request body (413); None
            for no limit.  A resource may set its own.
        :param maxMemoryBodySize: bodies larger than this are kept in a
            temporary file rather than in memory.
        :param maxPipelinedRequests: requests that may wait behind the one
            being answered before reading pauses.
        :param parser: ``"httptools"`` or ``"h11"``; by default the
            environment's ``LOOM_HTTP_PARSER``, else httptools if it imports.
        :raises ValueError: for an unknown parser name.
        :raises ImportError: if the parser named cannot be imported.
        """
        if isinstance(logPath, bytes):
            logPath = os.fsdecode(logPath)
        self.logPath = os.path.abspath(logPath) if logPath else None
        self.timeOut = timeout
        self._logFormatter = logFormatter or combinedLogFormatter
        self._reactor = reactor
        self._dates: DateCache | None = None
        self._logFile: Any = None
        self.headerTimeout = headerTimeout
        self.abortTimeout = abortTimeout
        self.maxHeaders = maxHeaders
        self.totalHeadersSize = totalHeadersSize
        self.maxRequestBodySize = maxRequestBodySize
        self.maxMemoryBodySize = maxMemoryBodySize
        self.maxPipelinedRequests = maxPipelinedRequests
        self.parser = parserName(parser)
        parserClass(self.parser)  # its module loaded now, before any --chroot

    @property
    def reactor(self) -> Any:
        """The reactor for timeouts and the time."""
        if self._reactor is None:
            self._reactor = getReactor()
        return self._reactor

    @reactor.setter
    def reactor(self, reactor: Any) -> None:
        self._reactor = reactor
        self._dates = None

    @property
    def dates(self) -> DateCache:
        """The Date header and log timestamp of the current second."""
        dates = self._dates
        if dates is None:
            dates = self._dates = DateCache(self.reactor.seconds)
        return dates

    @property
    def logFile(self) -> Any:
        """
        The open access log file (set one to log to it).

        :raises AttributeError: when there is none.
        """
        if self._logFile is None:
            raise AttributeError("no log file present")
        return self._logFile

    @logFile.setter
    def logFile(self, logFile: Any) -> None:
        self._logFile = logFile

    def buildProtocol(self, addr: Any) -> Any:
        """Return an HTTPChannel with this factory's settings."""
        channel = self.protocol()
        channel.factory = self
        channel.reactor = self.reactor
        channel.dates = self.dates
        channel.timeOut = self.timeOut
        channel.headerTimeout = self.headerTimeout
        channel.abortTimeout = self.abortTimeout
        channel.maxHeaders = self.maxHeaders
        channel.totalHeadersSize = self.totalHeadersSize
        channel.maxRequestBodySize = self.maxRequestBodySize
        channel.maxMemoryBodySize = self.maxMemoryBodySize
        channel.maxPipelinedRequests = self.maxPipelinedRequests
        channel.parser = self.parser
        return channel

    def startFactory(self) -> None:
        """Open the access log file, if there is one."""
        if self.logPath and self._logFile is None:
            self._logFile = self._openLogFile(self.logPath)

    def stopFactory(self) -> None:
        """Close the access log file, if one was opened."""
        if self._logFile is not None and self.logPath:
            self._logFile.close()
            self._logFile = None

    def _openLogFile(self, path: str) -> Any:
        return open(path, "a", 1, encoding="utf-8", newline="\n")

    def log(self, request: Any) -> None:
        """Write request's line to the access log."""
        logFile = self._logFile
        if logFile is None:
            if not log.wanted(_accessStdlib, logging.INFO):
                return
            _accessLog.info("{line}", line=self._logFormatter(self.dates.logString(), request))
        else:
            logFile.write(self._logFormatter(self.dates.logString(), request) + "\n")
