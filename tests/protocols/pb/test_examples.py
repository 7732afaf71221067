"""
doc/examples/pb/: chat.tac started by the real ``loomd`` (as a daemon, on a
UNIX socket in the test's directory), and chatclient.py run as a user would
run it, one process per user: two users in a room see each other arrive,
talk and leave; a wrong password is refused with a clear message.
"""

import os
import pathlib
import queue
import subprocess
import sys
import threading

import pytest

from tests.services.loomd_helpers import (  # noqa: F401 - loomdFixture: the loomd fixture
    loomdEnvironment,
    loomdFixture,
)
from tests.services.web_helpers import startDaemon, stopDaemon

ROOT = pathlib.Path(__file__).resolve().parents[3]
EXAMPLES = ROOT / "doc" / "examples" / "pb"

pytestmark = pytest.mark.timeout(90)


class ChatClient:
    """chatclient.py in a subprocess: lines to its stdin, its stdout lines read (bounded)."""

    def __init__(self, socketPath, name, password, room="lobby"):
        argv = [sys.executable, str(EXAMPLES / "chatclient.py")]
        argv += ["--connect", "unix:path=" + socketPath, "--password", password, name, room]
        self.process = subprocess.Popen(
            argv,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            env=loomdEnvironment(),
            text=True,
        )
        self.lines = queue.Queue()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.process.stdout:
            self.lines.put(line.rstrip("\n"))

    def nextLine(self, timeout=20):
        """The next line it printed; fails the test after timeout seconds."""
        try:
            return self.lines.get(timeout=timeout)
        except queue.Empty:
            self.process.kill()
            pytest.fail("no line from the chat client; stderr:\n" + self.process.stderr.read())

    def say(self, text):
        self.process.stdin.write(text + "\n")
        self.process.stdin.flush()

    def quit(self):
        """Close its stdin (it leaves the room and exits); return (status, stderr)."""
        self.process.stdin.close()
        status = self.process.wait(timeout=20)
        return status, self.process.stderr.read()

    def kill(self):
        if self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


def startChat(loomd):
    """Run loomd -y chat.tac on a UNIX socket in the test's directory; return (pid, path)."""
    socketPath = os.path.join(loomd.directory, "chat.sock")
    env = loomdEnvironment(LOOM_CHAT_LISTEN="unix:" + socketPath)
    pid = startDaemon(loomd, "chat", "-y", str(EXAMPLES / "chat.tac"), env=env)
    return pid, socketPath


def test_twoUsersTalkInARoom(loomd):
    pid, socketPath = startChat(loomd)
    clients = []
    try:
        bob = ChatClient(socketPath, "bob", "builder")
        clients.append(bob)
        assert bob.nextLine() == "* you joined #lobby with: bob"
        alice = ChatClient(socketPath, "alice", "wonderland")
        clients.append(alice)
        # The room's member list is a Cacheable: alice's copy arrives with
        # both names, bob's copy is told that alice joined.
        assert alice.nextLine() == "* you joined #lobby with: alice, bob"
        assert bob.nextLine() == "* alice joined #lobby"
        # Messages are Copyables, delivered through each user's mind.
        alice.say("hello bob")
        assert bob.nextLine() == "<alice> hello bob"
        bob.say("hi alice")
        assert alice.nextLine() == "<bob> hi alice"
        assert alice.quit() == (0, "")
        assert bob.nextLine() == "* alice left #lobby"
        assert bob.quit() == (0, "")
    finally:
        for client in clients:
            client.kill()
    stopDaemon(loomd, "chat", pid)


def test_wrongPasswordIsRefused(loomd):
    pid, socketPath = startChat(loomd)
    for name, password in [("alice", "builder"), ("mallory", "wonderland")]:
        client = ChatClient(socketPath, name, password)
        try:
            status, errors = client.quit()
        finally:
            client.kill()
        assert (status, errors) == (1, "login refused: wrong name or password for %s\n" % name)
    stopDaemon(loomd, "chat", pid)
