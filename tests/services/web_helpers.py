"""
Helpers for the tests that deploy web sites under the real ``loomd`` (the
``web`` plugin, doc/examples/web/*.tac) and ask them with the real ``curl``.

``startDaemon`` runs loomd daemonized with a pidfile and log of its own
under the test's tmp_path, and returns once the launcher reports the daemon
ready (listening); ``stopDaemon`` sends SIGTERM and waits for it to exit.
``curl`` runs curl with a bounded time and parses what it printed with
``-i``.  ``ECHO_APP`` is a WSGI application answering with the parts of its
environ that show what a proxy forwarded.
"""

import http.client
import io
import json
import os
import shutil
import signal
import subprocess

import pytest

from tests.services.loomd_helpers import alive, readLog, readPid, waitFor

CURL = shutil.which("curl")
needsCurl = pytest.mark.skipif(CURL is None, reason="curl is not installed")

ECHO_APP = '''
import json

SHOWN = ("REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "HTTP_HOST",
         "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO", "HTTP_X_FORWARDED_HOST",
         "REMOTE_ADDR", "wsgi.url_scheme")


def app(environ, start_response):
    """Answer with the environ's request parts, as JSON."""
    body = json.dumps({name: environ.get(name) for name in SHOWN}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]
'''


def writeEchoApp(directory, name="echoapp"):
    """Write ECHO_APP as directory/NAME.py; return the module's name."""
    (directory / (name + ".py")).write_text(ECHO_APP)
    return name


class Response:
    """What curl -i printed: ``status``, ``headers`` (an HTTPMessage), ``body``."""

    def __init__(self, output):
        # With -i and a 100 Continue, curl prints the interim head first.
        while output.startswith(b"HTTP/1.1 100"):
            output = output.split(b"\r\n\r\n", 1)[1]
        head, _, self.body = output.partition(b"\r\n\r\n")
        statusLine, _, fields = head.partition(b"\r\n")
        self.status = int(statusLine.split()[1])
        self.headers = http.client.parse_headers(io.BytesIO(fields + b"\r\n\r\n"))

    def json(self):
        """The body, parsed as JSON."""
        return json.loads(self.body)


def curl(*args, timeout=20):
    """Run ``curl -sS -i ARGS`` (time-bounded); return its Response."""
    result = subprocess.run(
        [CURL, "-sS", "-i", "--max-time", "15", *map(str, args)],
        capture_output=True,
        timeout=timeout,
    )
    assert result.returncode == 0, result.stderr.decode(errors="replace")
    return Response(result.stdout)


def startDaemon(loomd, name, *args, env=None):
    """
    Run ``loomd --pidfile NAME.pid -l NAME.log ARGS`` daemonized from the
    test's directory; fail unless the launcher exits 0 (the daemon is ready).
    Returns the daemon's pid.
    """
    pidfile = os.path.join(loomd.directory, name + ".pid")
    logfile = os.path.join(loomd.directory, name + ".log")
    result = loomd.run("--pidfile", pidfile, "-l", logfile, *args, env=env)
    assert result.returncode == 0, (result.stdout, result.stderr, readLog(logfile))
    pid = readPid(pidfile)
    assert pid is not None and alive(pid)
    loomd.track(pid)
    return pid


def stopDaemon(loomd, name, pid):
    """SIGTERM the daemon; wait (bounded) for it to exit; return its log."""
    os.kill(pid, signal.SIGTERM)
    logfile = os.path.join(loomd.directory, name + ".log")
    waitFor(lambda: not alive(pid), 15, "loomd %s to exit" % (name,), lambda: readLog(logfile))
    return readLog(logfile)
