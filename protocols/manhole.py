"""
A Python console into a running process, over a stream connection: what
Twisted's manhole offers, without SSH or a password file.

The one idea: the console runs *in the reactor thread*, where the
application's objects live, so a line can read and change them without
locks, and is as dangerous as any other callback: while it runs, nothing
else is served.  So each line runs under a watchdog thread; a line still
running after ``blockingLimit`` seconds is reported, on the console and in
the log, as blocking the reactor (the reactor thread cannot report itself),
and again when it returns.  Everything else is contained as a callback's
error would be: a raising line prints its traceback to the console, a
``SyntaxError`` its message; ``exit()`` (SystemExit) only closes this
console.  While a line runs, ``print()``, the value of an expression and
tracebacks go to this console's connection, not to the daemon's stdout,
and ``input()`` gets end-of-file rather than reading the daemon's stdin.

Who may connect is decided before the console exists: ``peerCheck`` (by
default ``sameUserOrRoot``, which reads SO_PEERCRED: the kernel's word for
the uid of the process at the other end of a UNIX socket) either passes a
connection or names the reason it is refused, which the peer reads before
the connection closes; the refusal is logged.

The wire format is one JSON object per line (``\\n``) each way, so that
output arriving between prompts (a Deferred that fires later) is told from
a prompt.  From the console: ``{"output": text}``, ``{"prompt": ">>> "}``
(or ``"... "`` inside a block), ``{"refused": reason}``.  To it:
``{"line": text}`` (text holding several lines is taken a line at a
time, as if typed), ``{"interrupt": true}`` (forget a half-typed block, as
Ctrl-C does in Python's own console), ``{"eof": true}`` (run what is
pending, then close), ``{"complete": text}`` (answered with
``{"completions": [...]}``, what Tab offers in Python's own console).
``loomd --attach PATH`` is a client of it.
"""

from __future__ import annotations

import code
import contextlib
import io
import json
import os
import rlcompleter
import socket
import struct
import sys
import threading
import time
import traceback
from collections.abc import Callable
from typing import Any

from protocols.basic import LineReceiver
from protocols.protocol import Factory, connectionDone
from reactor import getReactor, log
from reactor.defer import Deferred
from reactor.failure import Failure

__all__ = ["Manhole", "ManholeFactory", "ManholeInterpreter", "peerCredentials", "sameUserOrRoot"]

PS1, PS2 = ">>> ", "... "

MAX_COMPLETIONS = 500
"""The most completions one Tab gets."""

REFUSED_GRACE = 5.0
"""Seconds a refused peer has to read why and close, before the connection is aborted."""

_CREDENTIALS = struct.Struct("3i")  # struct ucred: pid, uid, gid


def peerCredentials(transport: Any) -> tuple[int, int, int] | None:
    """
    Return (pid, uid, gid) of the process at the other end of a UNIX stream
    transport, as the kernel recorded them when it connected (SO_PEERCRED);
    None for a transport that is no UNIX socket.
    """
    fileno = getattr(transport, "fileno", None)
    if fileno is None or fileno() < 0:
        return None
    sock = socket.socket(fileno=os.dup(fileno()))
    try:
        if sock.family != socket.AF_UNIX:
            return None
        raw = sock.getsockopt(socket.SOL_SOCKET, socket.SO_PEERCRED, _CREDENTIALS.size)
    finally:
        sock.close()
    pid, uid, gid = _CREDENTIALS.unpack(raw)
    return pid, uid, gid


def sameUserOrRoot(transport: Any) -> str | None:
    """
    The default peer check: pass a peer running as this process's
    effective uid or as root; return the reason for refusing anyone else
    (or a connection that is not over a UNIX socket), None to accept.
    """
    credentials = peerCredentials(transport)
    if credentials is None:
        return "not a UNIX socket connection: the peer's user is unknown"
    pid, uid, gid = credentials
    if uid in (0, os.geteuid()):
        return None
    return "uid %d (pid %d) may not attach: only uid %d and root may" % (uid, pid, os.geteuid())


class ManholeInterpreter(code.InteractiveConsole):
    """
    An InteractiveConsole whose output goes to a write function, and whose
    lines run under a blocking watchdog.

    :param namespace: the dictionary the lines run in (``_`` is set there).
    :param write: called with each piece of text the console prints.
    :param blockingLimit: seconds a line may run before it is reported as
        blocking; None for no watchdog.
    """

    def __init__(
        self,
        namespace: dict[str, Any],
        write: Callable[[str], None],
        blockingLimit: float | None = 5.0,
        filename: str = "<shell>",
    ) -> None:
        code.InteractiveConsole.__init__(self, namespace, filename)
        self.namespace = namespace
        self._write = write
        self.blockingLimit = blockingLimit
        self.exited = False
        self._lock = threading.Lock()  # one writer at a time: this thread or the watchdog
        self._running: int | None = None  # the number of the line running, if any
        self._lines = 0
        self._blocked = False
        self._deferreds = 0
        self._thread = threading.get_ident()
        self._watchdog: threading.Timer | None = None

    def write(self, data: str) -> None:
        """Print data to the console (InteractiveConsole's tracebacks come here)."""
        with self._lock:
            self._write(data)

    def runcode(self, code: Any) -> None:
        """
        Run compiled code in the namespace with the console's streams, under
        the watchdog; a SystemExit marks the console exited.
        """
        console = _ConsoleFile(self.write)
        started = time.monotonic()
        self._start()
        saved = sys.displayhook
        try:
            sys.displayhook = self.displayhook
            with (
                contextlib.redirect_stdout(console),
                contextlib.redirect_stderr(console),
                _noStdin(),
            ):
                exec(code, self.namespace)
        except SystemExit:
            self.exited = True
        except BaseException:
            self.showtraceback()
        finally:
            sys.displayhook = saved
            self._finish(time.monotonic() - started)

    def _start(self) -> None:
        source = "\n".join(self.buffer)
        with self._lock:
            self._lines += 1
            self._running, self._blocked = self._lines, False
        self._thread = threading.get_ident()
        if self.blockingLimit is not None:
            watchdog = threading.Timer(self.blockingLimit, self._watch, (self._lines, source))
            watchdog.daemon = True
            watchdog.name = "shell watchdog"
            self._watchdog = watchdog
            watchdog.start()

    def _finish(self, elapsed: float) -> None:
        watchdog, self._watchdog = self._watchdog, None
        if watchdog is not None:
            watchdog.cancel()
        with self._lock:
            blocked, self._running = self._blocked, None
            if blocked:
                message = "*** the line held the reactor thread for %.1fs\n" % (elapsed,)
                self._write(message)
        if blocked:
            log.msg("shell: the line held the reactor thread for %.1fs" % (elapsed,))

    def _watch(self, number: int, source: str, retries: int = 100) -> None:
        # In the watchdog's thread: the reactor thread is inside runcode,
        # and the lock keeps it from writing to the connection meanwhile
        # (or from finishing the line: the stack is the blocked line's).
        with self._lock:
            if self._running != number:
                return  # the line finished as the timer fired
            stack, inLine = self._lineStack()
            if not inLine and retries:
                # Not yet in the line's own code (a loaded machine can take
                # longer than a short limit to get from runcode to exec):
                # look again shortly, so that the stack shows the line.
                again = threading.Timer(0.01, self._watch, (number, source, retries - 1))
                again.daemon = True
                again.name = "shell watchdog"
                self._watchdog = again
                again.start()
                return
            self._blocked = True
            self._write(
                "*** this line has been running for over %ss: it blocks the reactor thread, "
                "and nothing else is served until it returns\n" % (self.blockingLimit,)
            )
        # Outside the lock: a log handler writing to sys.stdout would
        # reach this console (it is sys.stdout while the line runs).
        log.msg(
            "shell: a line has blocked the reactor thread for over %ss: %r\n"
            "Reactor thread stack (most recent call last):\n%s"
            % (self.blockingLimit, source[:200], stack),
            isError=True,
        )

    def _lineStack(self) -> tuple[str, bool]:
        # The reactor thread's stack from the line's own code on (the
        # reactor's frames below it say nothing), and whether the line's
        # code is on it yet.
        frame = sys._current_frames().get(self._thread)
        entries = traceback.extract_stack(frame) if frame is not None else []
        ours = [entry for entry in entries if entry.filename == self.filename]
        if ours:
            entries = entries[entries.index(ours[0]) :]
        return "".join(traceback.format_list(entries)).rstrip("\n"), bool(ours)

    def displayhook(self, value: Any) -> None:
        """Show an expression's value, keep it as ``_``; a Deferred is shown again when it fires."""
        if value is None:
            return
        self.namespace["_"] = value
        if isinstance(value, Deferred) and not value.called:
            self._deferreds += 1
            number = self._deferreds
            self.write("<Deferred #%d>\n" % (number,))
            value.addCallbacks(
                self._cbShown, self._ebShown, callbackArgs=(number,), errbackArgs=(number,)
            )
            return
        self.write(repr(value) + "\n")

    def _cbShown(self, result: Any, number: int) -> Any:
        self.write("Deferred #%d called back: %r\n" % (number, result))
        return result

    def _ebShown(self, failure: Failure, number: int) -> Failure:
        self.write("Deferred #%d failed: %s\n" % (number, failure.getTraceback().rstrip("\n")))
        return failure


def _completions(namespace: dict[str, Any], text: str) -> list[str]:
    # What Python's own console offers at Tab (rlcompleter): names, then
    # attributes of a dotted name.  A property it reads may fail: nothing then.
    completer = rlcompleter.Completer(namespace)
    found: list[str] = []
    try:
        while len(found) < MAX_COMPLETIONS:
            completion = completer.complete(text, len(found))
            if completion is None:
                break
            found.append(completion)
    except Exception:
        return []
    return found


class _ConsoleFile(io.TextIOBase):
    """sys.stdout and sys.stderr while a line runs: text goes to the console."""

    def __init__(self, write: Callable[[str], None]) -> None:
        self._consoleWrite = write

    def writable(self) -> bool:
        return True

    def write(self, text: str) -> int:
        if text:
            self._consoleWrite(text)
        return len(text)


@contextlib.contextmanager
def _noStdin() -> Any:
    # input() in a line would read the daemon's own stdin (a terminal, in
    # the foreground) with the reactor blocked: it gets end-of-file instead.
    saved = sys.stdin
    sys.stdin = io.StringIO()
    try:
        yield
    finally:
        sys.stdin = saved


class Manhole(LineReceiver):
    """
    One console connection: checks the peer, then reads JSON lines and
    runs them in a ManholeInterpreter (see the module's docstring).
    """

    delimiter = b"\n"
    MAX_LENGTH = 1 << 20  # a pasted function is one line per source line; be generous

    factory: ManholeFactory
    transport: Any  # a connected stream transport, from makeConnection on
    interpreter: ManholeInterpreter | None = None
    _abort: Any = None  # closes a refused connection its peer keeps open

    def connectionMade(self) -> None:
        try:
            refusal = self.factory.peerCheck(self.transport)
        except Exception as error:
            # A check that cannot decide refuses (test_peerCheckThatRaisesRefuses).
            refusal = "the peer could not be checked: %s" % (error,)
        if refusal is not None:
            log.msg("shell: refused a connection: %s" % (refusal,))
            self._send({"refused": "loomd shell: refused: %s" % (refusal,)})
            # Half-close and let the peer close: closing with its unread
            # lines in our buffer would reset the connection, and the
            # refusal could be lost before it is read.  Not for ever.
            self.transport.loseWriteConnection()
            self._abort = getReactor(self.factory.reactor).callLater(
                REFUSED_GRACE, self.transport.abortConnection
            )
            return
        credentials = peerCredentials(self.transport)
        self.peer = "uid %d, pid %d" % credentials[1::-1] if credentials else "a peer"
        log.msg("shell: %s attached" % (self.peer,))
        self.interpreter = ManholeInterpreter(
            self.factory.namespace, self._output, self.factory.blockingLimit
        )
        self._output(self.factory.banner)
        self._prompt(more=False)

    def lineReceived(self, line: bytes) -> None:
        """Handle one message from the client."""
        interpreter = self.interpreter
        if interpreter is None:
            return  # refused: the connection is closing
        try:
            message = json.loads(line)
            if not isinstance(message, dict):
                raise ValueError("not an object")
        except ValueError:
            self._output("loomd shell: not a message of the shell's protocol: %r\n" % (line[:80],))
            self._prompt(bool(interpreter.buffer))
            return
        if "complete" in message:
            completions = _completions(self.factory.namespace, str(message["complete"]))
            self._send({"completions": completions})
        elif message.get("interrupt"):
            interpreter.resetbuffer()
            self._output("KeyboardInterrupt\n")
            self._prompt(more=False)
        elif message.get("eof"):
            if interpreter.buffer:
                interpreter.push("")  # an unfinished block runs, as at a blank line
            self.transport.loseConnection()
        else:
            # Several lines in one message (pasted, or a program's) are
            # pushed one by one, as if typed; one prompt follows them.
            more = False
            for typed in str(message.get("line", "")).split("\n"):
                more = interpreter.push(typed)
                if interpreter.exited:
                    self.transport.loseConnection()
                    return
            self._prompt(more)

    def lineLengthExceeded(self, line: bytes) -> None:
        """A line longer than MAX_LENGTH: say so and close."""
        self._output("loomd shell: line too long\n")
        self.transport.loseConnection()

    def connectionLost(self, reason: Failure = connectionDone) -> None:
        """Log the end of an accepted console."""
        if self._abort is not None and self._abort.active():
            self._abort.cancel()
        if self.interpreter is not None:
            log.msg("shell: %s detached" % (self.peer,))
            self.interpreter = None

    def _output(self, text: str) -> None:
        self._send({"output": text})

    def _prompt(self, more: bool) -> None:
        self._send({"prompt": PS2 if more else PS1})

    def _send(self, message: dict[str, Any]) -> None:
        self.transport.write(json.dumps(message).encode("utf-8") + b"\n")


class ManholeFactory(Factory):
    """
    Makes Manhole consoles sharing one namespace.

    :param namespace: the names every console sees (``application``,
        ``reactor``...); a line's assignments stay there for the next.
    :param blockingLimit: seconds a line may run before it is reported as
        blocking the reactor; None for no watchdog.
    :param peerCheck: called with each new transport; returns None to
        accept it, else the reason it is refused.  Defaults to
        sameUserOrRoot.
    :param banner: the text a console starts with.
    :param reactor: the reactor that times refused connections out (the
        global one by default).
    """

    protocol = Manhole
    noisy = False  # the port's own "starting on PATH" line says it

    def __init__(
        self,
        namespace: dict[str, Any],
        *,
        blockingLimit: float | None = 5.0,
        peerCheck: Callable[[Any], str | None] = sameUserOrRoot,
        banner: str | None = None,
        reactor: Any = None,
    ) -> None:
        self.namespace = namespace
        self.reactor = reactor
        self.blockingLimit = blockingLimit
        self.peerCheck = peerCheck
        if banner is None:
            banner = "Python %s in pid %d; names: %s\n" % (
                sys.version.split()[0],
                os.getpid(),
                ", ".join(sorted(name for name in namespace if not name.startswith("_"))),
            )
        self.banner = banner
