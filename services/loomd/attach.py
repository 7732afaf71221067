"""
``loomd --attach PATH``: the client of a daemon's shell (``--shell unix:PATH``).

A plain blocking program, no reactor: one thread reads the shell's messages
(protocols.manhole's JSON lines) and prints their output as it comes, so
that a Deferred firing between two lines is shown at once; the main thread
waits for each prompt and reads a line with input(), which gives line
editing, history (kept in ~/.loomd_history, or $LOOMD_HISTORY) and Tab
completion of the daemon's names (readline) on a terminal.  Piped input works too: the
lines are sent one prompt at a time, prompts are not echoed, and at
end-of-file a block still open is run before the shell is left, so
``echo 'len(services)' | loomd --attach PATH`` prints one number.
Ctrl-C at a prompt forgets the block being typed; Ctrl-D (end-of-file) or
``exit()`` leaves the shell, which never stops the daemon.
"""

from __future__ import annotations

import json
import os
import queue
import socket
import sys
import threading
from typing import Any, TextIO

__all__ = ["attach"]

COMPLETION_TIMEOUT = 2.0
"""Seconds Tab waits for the shell's completions."""

HISTORY_LENGTH = 1000
"""Lines of history kept between sessions."""


def historyPath() -> str:
    """Where a terminal session's history is kept: $LOOMD_HISTORY, else ~/.loomd_history."""
    return os.environ.get("LOOMD_HISTORY") or os.path.expanduser("~/.loomd_history")


def attach(path: str, stdin: TextIO | None = None, stdout: TextIO | None = None) -> int:
    """
    Run a console session on the shell socket at path until either side ends it.

    :return: the exit status: 0 after a session, 1 when the connection is
        impossible or refused (the reason is printed on stderr).
    """
    stdin = sys.stdin if stdin is None else stdin
    stdout = sys.stdout if stdout is None else stdout
    sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    try:
        sock.connect(path)
    except OSError as error:
        sock.close()
        sys.stderr.write("loomd: cannot attach to %s: %s\n" % (path, error.strerror or error))
        return 1
    session = _Session(sock, stdin, stdout)
    try:
        return session.run()
    finally:
        sock.close()


class _Session:
    def __init__(self, sock: socket.socket, stdin: TextIO, stdout: TextIO) -> None:
        self.sock = sock
        self.stdin, self.stdout = stdin, stdout
        self.interactive = stdin.isatty()
        self.prompts: queue.Queue[str | None] = queue.Queue()
        self.refused: str | None = None
        self.waitingAt: str | None = None  # the prompt input() shows, while it does
        self.completions: queue.Queue[list[str]] = queue.Queue()
        self._offered: list[str] = []
        self._history: str | None = None

    def run(self) -> int:
        if self.interactive:
            self._setUpReadline()
        reader = threading.Thread(target=self._read, name="shell reader", daemon=True)
        reader.start()
        try:
            while True:
                prompt = self.prompts.get()
                if prompt is None:
                    break  # the shell closed the connection
                if not self._send(self._ask(prompt)):
                    break
        except KeyboardInterrupt:
            # Waiting for a line that runs on: it cannot be interrupted from here.
            self.stdout.write("\nloomd: detached; the daemon may still be running the line\n")
            return 130
        finally:
            self._saveHistory()
        reader.join(10)
        if self.refused is not None:
            sys.stderr.write(self.refused + "\n")
            return 1
        return 0

    def _setUpReadline(self) -> None:
        # input() then edits lines and keeps a history; Tab asks the shell.
        try:
            import readline
        except ImportError:
            return
        readline.set_completer(self._complete)
        readline.parse_and_bind("tab: complete")
        history = historyPath()
        try:
            readline.read_history_file(history)
        except OSError:
            pass  # none yet, or unreadable: start afresh
        readline.set_history_length(HISTORY_LENGTH)
        self._history = history

    def _saveHistory(self) -> None:
        readline = sys.modules.get("readline")
        if readline is None or self._history is None:
            return
        try:
            readline.write_history_file(self._history)
        except OSError:
            pass  # a read-only home: the session still worked

    def _complete(self, text: str, state: int) -> str | None:
        # readline calls this with state 0, 1, ... until it returns None.
        if state == 0:
            self._offered = []
            if self._send({"complete": text}):
                try:
                    # A line of another console may hold the reactor: Tab
                    # then offers nothing rather than hang the prompt.
                    self._offered = self.completions.get(timeout=COMPLETION_TIMEOUT)
                except queue.Empty:
                    pass
        return self._offered[state] if state < len(self._offered) else None

    def _ask(self, prompt: str) -> dict[str, Any]:
        # The message answering one prompt.
        try:
            if self.interactive:
                self.waitingAt = prompt
                try:
                    line = input(prompt)
                finally:
                    self.waitingAt = None
            else:
                line = self.stdin.readline()
                if not line:
                    raise EOFError
                line = line.rstrip("\n")
        except EOFError:
            if self.interactive:
                self.stdout.write("\n")
            return {"eof": True}
        except KeyboardInterrupt:
            self.stdout.write("\n")
            return {"interrupt": True}
        return {"line": line}

    def _send(self, message: dict[str, Any]) -> bool:
        try:
            self.sock.sendall(json.dumps(message).encode("utf-8") + b"\n")
        except OSError:
            return False
        return True

    def _read(self) -> None:
        # The reader thread: print output, hand prompts to the main thread.
        try:
            with self.sock.makefile("rb") as incoming:
                for line in incoming:
                    self._handle(json.loads(line))
        except (OSError, ValueError) as error:
            self.stdout.write("loomd: shell connection lost: %s\n" % (error,))
        finally:
            self.stdout.flush()
            self.prompts.put(None)

    def _handle(self, message: dict[str, Any]) -> None:
        if "output" in message:
            waitingAt = self.waitingAt
            if waitingAt is None:
                self.stdout.write(message["output"])
            else:
                # A Deferred fired while the user types: show it on a line
                # of its own, then the prompt and what was typed again.
                self.stdout.write("\n" + message["output"] + waitingAt + _typedSoFar())
            self.stdout.flush()
        elif "prompt" in message:
            self.prompts.put(message["prompt"])
        elif "completions" in message:
            self.completions.put(list(message["completions"]))
        elif "refused" in message:
            self.refused = message["refused"]


def _typedSoFar() -> str:
    # The line being edited, when readline edits it.
    readline = sys.modules.get("readline")
    return readline.get_line_buffer() if readline is not None else ""
