"""
WSGI: a resource that runs a PEP 3333 application (Flask, Django, ...) in
a thread pool, as twisted.web.wsgi does.

``WSGIResource(reactor, threadpool, application)`` is a leaf: the path
walked to it is ``SCRIPT_NAME``, the rest ``PATH_INFO``.  Each request
calls the application in one of the pool's threads; whatever it does with
the request and the response is handed to the reactor's thread:

- ``wsgi.input`` streams the body as it arrives (the resource sets
  ``streamRequestBody``); the reading thread waits for more, and the
  server stops reading from the client while ``highWater`` bytes wait to
  be read;
- each piece of the response (the iterable's, or the ``write`` callable's)
  waits in its thread while the connection's buffer is full
  (backpressure); once the client has gone, the iterable is no longer
  iterated, and ``write`` raises ``ConnectionLost`` (as does reading
  ``wsgi.input`` when the client went away during the body);
- the iterable's ``close()`` is always called, on the client's going too;
- a response whose ``Content-Length`` has all been written is finished
  there and then, in the reactor's thread: a client that has all it asked
  for may hang up at once, before the application's thread is done, and
  the request still counts as answered (its access log line, notifyFinish's
  success), not as one the client gave up on (twisted.web.wsgi's race:
  test_aWholeResponseIsFinishedAndLoggedThoughTheClientHangsUpAtOnce);
  anything written beyond it is dropped, as Request.write drops it;
- an application that raises gets a 500 (the traceback is logged, shown
  to the client only with the Site's ``displayTracebacks``); after the
  response has begun, the connection is closed instead;
- ``wsgi.errors`` logs each line through Loom's logging, namespace
  ``protocols.web.wsgi``;
- the thread pool's stop (the reactor's shutdown, or a ``pool.stop()``)
  wakes an application waiting for the request body or for the client to
  take the response, with ``ConnectionLost``, so that the pool's workers
  can be joined (test_stoppingThePoolWakesABlockedApplication).  Neither
  wait can rely on the reactor's thread, which is blocked in the join, so
  each looks at the pool's ``joined`` every POLL seconds.  An application
  blocked in its own code still holds the pool's stop.
"""

from __future__ import annotations

import queue
import threading
from collections import deque
from typing import Any, Callable, Iterable, Iterator

from zope.interface import implementer

from protocols.web.resource import IResource
from protocols.web.server import NOT_DONE_YET
from reactor.defer import CancelledError
from reactor.error import ConnectionClosed, ConnectionLost
from reactor.failure import Failure
from reactor.interfaces import IConsumer, IPushProducer
from reactor.logger import Logger

__all__ = ["WSGIResource"]

_log = Logger(namespace="protocols.web.wsgi")

#: Seconds between two looks at the pool's ``joined`` while waiting.
POLL = 0.25


def _joined(threadpool: Any) -> bool:
    # ThreadPool's (and Twisted's) flag, set as stop() begins.
    return bool(getattr(threadpool, "joined", False))


def _stopping(threadpool: Any) -> ConnectionLost:
    return ConnectionLost("the thread pool %s is stopping" % (getattr(threadpool, "name", ""),))


def _native(data: bytes) -> str:
    return data.decode("latin-1")


class _ErrorStream:
    """``wsgi.errors``: text written here is logged a line at a time."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._pending = ""

    def write(self, text: str) -> None:
        if not isinstance(text, str):
            raise TypeError("wsgi.errors takes str, not %s" % (type(text).__name__,))
        with self._lock:
            lines = (self._pending + text).split("\n")
            self._pending = lines.pop()
        for line in lines:
            _log.error("{line}", line=line)

    def writelines(self, lines: Iterable[str]) -> None:
        for line in lines:
            self.write(line)

    def flush(self) -> None:
        with self._lock:
            pending, self._pending = self._pending, ""
        if pending:
            _log.error("{line}", line=pending)


@implementer(IConsumer)
class _InputStream:
    """
    ``wsgi.input``: the request body, read in the application's thread as
    the reactor's thread receives it.

    The body is asked for (``request.streamBody``, which sends a client's
    ``100 Continue``) at the first read.  Pieces wait in a queue; past
    ``highWater`` bytes the body is paused, and resumed once the reader
    has taken them below ``lowWater``.
    """

    highWater = 1 << 18
    lowWater = 1 << 16

    def __init__(self, reactor: Any, threadpool: Any, request: Any) -> None:
        self._reactor = reactor
        self._threadpool = threadpool
        self._request = request
        self._condition = threading.Condition()
        self._chunks: deque[bytes] = deque()
        self._buffered = 0
        self._ended = False
        self._error: BaseException | None = None
        self._started = False
        self._producer: Any = None
        self._paused = False
        content = request.content
        if content is not None:
            # The body was read whole already (no streaming for this
            # request): read it from there.
            content.seek(0)
            self._chunks.append(content.read())
            self._buffered = len(self._chunks[0])
            self._ended = self._started = True

    # -- IConsumer, in the reactor's thread -------------------------------------

    def registerProducer(self, producer: Any, streaming: bool) -> None:
        self._producer = producer

    def unregisterProducer(self) -> None:
        self._producer = None

    def write(self, data: bytes) -> None:
        with self._condition:
            self._chunks.append(data)
            self._buffered += len(data)
            full = self._buffered > self.highWater and not self._paused
            if full:
                self._paused = True
            self._condition.notify_all()
        if full and self._producer is not None:
            self._producer.pauseProducing()

    def _start(self) -> None:
        self._request.streamBody(self).addCallbacks(self._ended_, self._failed)

    def _ended_(self, result: None) -> None:
        with self._condition:
            self._ended = True
            self._condition.notify_all()

    def _failed(self, failure: Failure) -> None:
        with self._condition:
            self._ended = True
            self._error = failure.value
            self._condition.notify_all()

    def _resume(self) -> None:
        if self._producer is not None:
            self._producer.resumeProducing()

    # -- the file, in the application's thread ----------------------------------

    def _take(self, size: int, line: bool) -> bytes:
        """Up to size bytes (all, if size < 0), or to the line's end."""
        if not self._started:
            self._started = True
            self._reactor.callFromThread(self._start)
        pieces: list[bytes] = []
        got = 0
        with self._condition:
            while size < 0 or got < size:
                while not self._chunks and not self._ended:
                    if not self._condition.wait(POLL) and _joined(self._threadpool):
                        raise _stopping(self._threadpool)
                if not self._chunks:
                    error = self._error
                    if isinstance(error, (ConnectionClosed, CancelledError)):
                        raise ConnectionLost("the client went away during the request body")
                    if error is not None:
                        raise OSError("the request body was not received: %s" % (error,))
                    break
                chunk = self._chunks.popleft()
                cut = len(chunk)
                if size >= 0:
                    cut = min(cut, size - got)
                if line:
                    newline = chunk.find(b"\n", 0, cut)
                    if newline >= 0:
                        cut = newline + 1
                if cut < len(chunk):
                    self._chunks.appendleft(chunk[cut:])
                    chunk = chunk[:cut]
                pieces.append(chunk)
                got += len(chunk)
                self._buffered -= len(chunk)
                if line and chunk.endswith(b"\n"):
                    break
            resume = self._paused and self._buffered <= self.lowWater
            if resume:
                self._paused = False
        if resume:
            self._reactor.callFromThread(self._resume)
        return b"".join(pieces)

    def read(self, size: int | None = -1) -> bytes:
        return self._take(-1 if size is None else size, False)

    def readline(self, size: int | None = -1) -> bytes:
        return self._take(-1 if size is None else size, True)

    def readlines(self, hint: int | None = None) -> list[bytes]:
        lines = []
        total = 0
        for line in self:
            lines.append(line)
            total += len(line)
            if hint is not None and 0 < hint <= total:
                break
        return lines

    def __iter__(self) -> Iterator[bytes]:
        while True:
            line = self.readline()
            if not line:
                return
            yield line


@implementer(IPushProducer)
class _WSGIResponse:
    """
    One request's run of the application: the environ, start_response, and
    the response's way back to the reactor's thread.
    """

    def __init__(self, reactor: Any, threadpool: Any, application: Any, request: Any) -> None:
        self._reactor = reactor
        self._threadpool = threadpool
        self._application = application
        self._request = request
        self._status: tuple[int, bytes] | None = None
        self._headers: list[tuple[bytes, bytes]] = []
        self._headersSent = False
        self._disconnected = False
        self._paused = False
        # A write waits in the application's thread for its result here:
        # None (written; or the client went, as the next write says) or an
        # exception.  _held: a write waits for resumeProducing.  _abandoned:
        # a write stopped waiting (the pool is stopping); no more are made.
        self._written: queue.SimpleQueue[BaseException | None] = queue.SimpleQueue()
        self._held = False
        self._abandoned = False
        # The response's Content-Length (None: not given) and the body
        # bytes written so far: the request is finished at the last one.
        self._length: int | None = None
        self._sent = 0
        self.environ = self._environ(request)
        request.defaultContentType = None
        request.notifyFinish().addErrback(self._lost)
        request.registerProducer(self, True)

    def _environ(self, request: Any) -> dict[str, Any]:
        prepath = request.prepath or []
        postpath = request.postpath or []
        script = _native(b"/" + b"/".join(prepath)) if prepath else ""
        pathInfo = _native(b"/" + b"/".join(postpath)) if postpath else ""
        query = request.uri.partition(b"?")[2]
        host = request.getHost()
        client = request.getClientAddress()
        environ: dict[str, Any] = {
            "REQUEST_METHOD": _native(request.method),
            "SCRIPT_NAME": script,
            "PATH_INFO": pathInfo,
            "QUERY_STRING": _native(query),
            "CONTENT_TYPE": _native(request.getHeader(b"content-type") or b""),
            "CONTENT_LENGTH": _native(request.getHeader(b"content-length") or b""),
            "SERVER_NAME": _native(request.getRequestHostname()),
            "SERVER_PORT": str(getattr(host, "port", 0)),
            "SERVER_PROTOCOL": _native(request.clientproto),
            "REMOTE_ADDR": str(getattr(client, "host", "")),
            "wsgi.version": (1, 0),
            "wsgi.url_scheme": "https" if request.isSecure() else "http",
            "wsgi.input": _InputStream(self._reactor, self._threadpool, request),
            "wsgi.errors": _ErrorStream(),
            "wsgi.multithread": True,
            "wsgi.multiprocess": False,
            "wsgi.run_once": False,
            "wsgi.input_terminated": True,
        }
        port = getattr(client, "port", None)
        if port is not None:
            environ["REMOTE_PORT"] = str(port)
        for name, values in request.requestHeaders.getAllRawHeaders():
            key = "HTTP_" + _native(name).upper().replace("-", "_")
            if key in ("HTTP_CONTENT_TYPE", "HTTP_CONTENT_LENGTH"):
                continue
            environ[key] = _native(b",".join(values))
        return environ

    def start(self) -> None:
        """Run the application in a thread of the pool."""
        self._threadpool.callInThread(self._run)

    # -- IPushProducer: the connection's backpressure, in the reactor's thread --

    def pauseProducing(self) -> None:
        self._paused = True

    def resumeProducing(self) -> None:
        self._paused = False
        if self._held:
            self._held = False
            self._written.put(None)

    def stopProducing(self) -> None:
        self._lost(None)

    def _lost(self, reason: Any) -> None:
        self._disconnected = True
        self.resumeProducing()

    # -- in the application's thread --------------------------------------------

    def startResponse(
        self, status: str, headers: list[tuple[str, str]], exc_info: Any = None
    ) -> Callable[[bytes], None]:
        """PEP 3333's start_response."""
        if exc_info is not None:
            try:
                if self._headersSent:
                    raise exc_info[1].with_traceback(exc_info[2])
            finally:
                exc_info = None
        elif self._status is not None:
            raise RuntimeError("start_response was called already")
        if not isinstance(status, str):
            raise TypeError("The status must be a str, not %r" % (status,))
        code, _, phrase = status.partition(" ")
        if len(code) != 3 or not code.isdigit():
            raise ValueError("The status must begin with a 3-digit code: %r" % (status,))
        if not isinstance(headers, list):
            raise TypeError("The headers must be a list, not %r" % (headers,))
        encoded = []
        for header in headers:
            if not (
                isinstance(header, tuple)
                and len(header) == 2
                and isinstance(header[0], str)
                and isinstance(header[1], str)
            ):
                raise TypeError("Each header must be a tuple of two str: %r" % (header,))
            try:
                encoded.append((header[0].encode("latin-1"), header[1].encode("latin-1")))
            except UnicodeEncodeError:
                raise TypeError("A header must be latin-1: %r" % (header,)) from None
        self._status = (int(code), phrase.encode("latin-1"))
        self._headers = encoded
        return self.write

    def write(self, data: bytes) -> None:
        """PEP 3333's write callable, also given each piece of the iterable."""
        if not isinstance(data, bytes):
            raise TypeError("The body must be bytes, not %s" % (type(data).__name__,))
        if self._status is None:
            raise RuntimeError("start_response must be called before the body is written")
        if self._disconnected:
            raise ConnectionLost("the client went away")
        if self._abandoned:
            raise _stopping(self._threadpool)
        self._reactor.callFromThread(self._writeInReactor, data)
        while True:
            try:
                error = self._written.get(timeout=POLL)
                break
            except queue.Empty:
                if _joined(self._threadpool):
                    self._abandoned = True  # its late answer is nobody's
                    raise _stopping(self._threadpool) from None
        if error is not None:
            raise error

    def _run(self) -> None:
        try:
            iterable = self._application(self.environ, self.startResponse)
            try:
                for piece in iterable:
                    if self._disconnected:
                        break
                    if piece:
                        self.write(piece)
            finally:
                close = getattr(iterable, "close", None)
                if close is not None:
                    close()
            if self._status is None:
                raise RuntimeError("The application returned without calling start_response")
        except BaseException:
            failure = Failure()
            self._reactor.callFromThread(self._failed, failure)
        else:
            self._reactor.callFromThread(self._finish)

    # -- in the reactor's thread -------------------------------------------------

    def _sendHead(self) -> None:
        if self._headersSent:
            return
        self._headersSent = True
        assert self._status is not None
        request = self._request
        request.setResponseCode(*self._status)
        for name, value in self._headers:
            request.responseHeaders.addRawHeader(name, value)
            if name.lower() == b"content-length" and value.strip().isdigit():
                self._length = int(value)

    def _writeInReactor(self, data: bytes) -> None:
        if self._disconnected:
            self._written.put(ConnectionLost("the client went away"))
            return
        request = self._request
        if request.finished:
            self._written.put(None)  # past the Content-Length: dropped
            return
        try:
            self._sendHead()
            request.write(data)
            self._sent += len(data)
            if self._length is not None and self._sent >= self._length:
                request.unregisterProducer()
                request.finish()  # before the client, which has it all, can hang up
                self._written.put(None)
                return
        except BaseException as error:
            self._written.put(error)
            return
        if self._paused and not self._disconnected:
            self._held = True  # answered by resumeProducing
        else:
            self._written.put(None)

    def _finish(self) -> None:
        if self._request.finished:
            return  # at its Content-Length's last byte
        self._request.unregisterProducer()
        if self._disconnected:
            return
        self._sendHead()
        self._request.finish()

    def _failed(self, failure: Failure) -> None:
        if self._request.finished:
            _log.failure("WSGI application failed after its response was complete", failure=failure)
            return
        self._request.unregisterProducer()
        if self._disconnected:
            if failure.check(ConnectionLost):
                return
            _log.failure("WSGI application failed after the client went away", failure=failure)
            return
        self._request.processingFailed(failure)


@implementer(IResource)
class WSGIResource:
    """
    A resource answering every request below it with a WSGI application,
    run in threadpool's threads.

    :param reactor: the reactor the server runs on.
    :param threadpool: a started ThreadPool (``reactor.getThreadPool()``).
    :param application: the PEP 3333 application.
    """

    isLeaf = True
    streamRequestBody = True

    def __init__(self, reactor: Any, threadpool: Any, application: Any) -> None:
        self._reactor = reactor
        self._threadpool = threadpool
        self._application = application

    def render(self, request: Any) -> int:
        """Start the application for request; it answers in its own time."""
        _WSGIResponse(self._reactor, self._threadpool, self._application, request).start()
        return NOT_DONE_YET

    def getChildWithDefault(self, name: bytes, request: Any) -> Any:
        """A leaf has no children: never called by the Site."""
        raise RuntimeError("WSGIResource is a leaf; it has no children")

    def putChild(self, path: bytes, child: Any) -> None:
        """A WSGI application has the whole path below it.

        :raises RuntimeError: always.
        """
        raise RuntimeError("Cannot put a child under a WSGIResource")
