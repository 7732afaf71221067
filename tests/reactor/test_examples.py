"""
doc/examples/raw_descriptor.py, run on each reactor against a local server.
"""

import os
import socket
import subprocess
import sys
import threading

import pytest

from reactor.pytestplugin import REACTOR_NAMES

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
EXAMPLE = os.path.join(ROOT, "doc", "examples", "raw_descriptor.py")
POEM = "".join("line %d of a poem that goes on for a while\n" % (i,) for i in range(200))


def servePoemOnce(listener):
    listener.settimeout(20)
    connection, _ = listener.accept()
    with connection:
        for line in POEM.splitlines(keepends=True):
            connection.sendall(line.encode())
    listener.close()


@pytest.mark.parametrize("reactorName", REACTOR_NAMES)
def test_rawDescriptorPrintsThePoem(reactorName):
    listener = socket.create_server(("127.0.0.1", 0))
    port = listener.getsockname()[1]
    server = threading.Thread(target=servePoemOnce, args=(listener,))
    server.start()
    result = subprocess.run(
        [sys.executable, EXAMPLE, "--reactor", reactorName, "127.0.0.1:%d" % (port,)],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=ROOT),
        capture_output=True,
        text=True,
        timeout=30,
    )
    server.join(20)
    assert result.returncode == 0, result.stderr
    assert result.stdout == POEM
