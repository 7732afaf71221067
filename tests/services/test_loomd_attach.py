"""
Tests for services.loomd.attach, the ``--attach`` client, in-process against
a scripted shell on a UNIX socket (one thread plays the daemon's side).
"""

import io
import json
import os
import socket
import threading

import pytest

from services.loomd.attach import attach

pytestmark = pytest.mark.timeout(30)


def _scriptedShell(path, replies):
    """
    Listen on path; for one connection, send replies[0], then after each
    message received send the next reply.  Return (the thread, the
    messages received).
    """
    server = socket.socket(socket.AF_UNIX)
    server.bind(path)
    server.listen(1)
    received = []

    def serve():
        connection, _ = server.accept()
        with connection, server:
            incoming = connection.makefile("rb")
            for reply in replies:
                connection.sendall(b"".join(json.dumps(m).encode() + b"\n" for m in reply))
                if reply and "prompt" not in reply[-1]:
                    break  # no prompt: the shell closes
                line = incoming.readline()
                if not line:
                    break
                received.append(json.loads(line))

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    return thread, received


def test_pipedLinesAreSentOnePerPromptAndOutputPrinted(tmp_path):
    path = os.path.join(str(tmp_path), "s.sock")
    thread, received = _scriptedShell(
        path,
        [
            [{"output": "banner\n"}, {"prompt": ">>> "}],
            [{"output": "2\n"}, {"prompt": ">>> "}],
            [{"output": "bye\n"}],
        ],
    )
    stdout = io.StringIO()
    assert attach(path, io.StringIO("1 + 1\n"), stdout) == 0
    thread.join(10)
    assert received == [{"line": "1 + 1"}, {"eof": True}]
    assert stdout.getvalue() == "banner\n2\nbye\n"


def test_refusalIsPrintedAndExitsOne(tmp_path, capsys):
    path = os.path.join(str(tmp_path), "s.sock")
    thread, received = _scriptedShell(path, [[{"refused": "loomd shell: refused: uid 7"}]])
    assert attach(path, io.StringIO("1\n"), io.StringIO()) == 1
    thread.join(10)
    assert received == []
    assert capsys.readouterr().err == "loomd shell: refused: uid 7\n"
