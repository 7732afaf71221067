"""
Tests for protocols.manhole: the console on a StringTransport (lines in,
JSON messages out), the watchdog made deterministic with an Event that the
blocking line waits for, and the peer check over a real socketpair.
"""

import contextlib
import json
import os
import socket
import subprocess
import sys
import threading

import pytest

from protocols.manhole import REFUSED_GRACE, ManholeFactory, peerCredentials, sameUserOrRoot
from reactor import log
from reactor.defer import Deferred
from reactor.task import Clock
from reactor.testing import StringTransport


def _console(namespace=None, **kwargs):
    kwargs.setdefault("peerCheck", lambda transport: None)
    kwargs.setdefault("blockingLimit", None)
    factory = ManholeFactory({} if namespace is None else namespace, banner="hi\n", **kwargs)
    protocol = factory.buildProtocol(None)
    transport = StringTransport()
    protocol.makeConnection(transport)
    return protocol, transport


def _messages(transport):
    messages = [json.loads(line) for line in transport.value().splitlines()]
    transport.clear()
    return messages


def _send(protocol, transport, *lines):
    """Send each line; return (all the output text, the last prompt)."""
    for line in lines:
        protocol.dataReceived(json.dumps({"line": line}).encode() + b"\n")
    messages = _messages(transport)
    output = "".join(m["output"] for m in messages if "output" in m)
    prompts = [m["prompt"] for m in messages if "prompt" in m]
    return output, prompts[-1] if prompts else None


def test_consoleStartsWithBannerAndPrompt():
    protocol, transport = _console()
    assert _messages(transport) == [{"output": "hi\n"}, {"prompt": ">>> "}]


def test_expressionValueIsShownAndKeptAsUnderscore():
    namespace = {"answer": 41}
    protocol, transport = _console(namespace)
    _messages(transport)
    assert _send(protocol, transport, "answer + 1") == ("42\n", ">>> ")
    assert namespace["_"] == 42
    assert _send(protocol, transport, "answer = _") == ("", ">>> ")
    assert namespace["answer"] == 42


def test_multiLineBlockWaitsForBlankLine():
    protocol, transport = _console()
    _messages(transport)
    assert _send(protocol, transport, "def double(x):") == ("", "... ")
    assert _send(protocol, transport, "    return 2 * x") == ("", "... ")
    assert _send(protocol, transport, "") == ("", ">>> ")
    assert _send(protocol, transport, "for i in range(3):", "    print(double(i))", "") == (
        "0\n2\n4\n",
        ">>> ",
    )


def test_severalLinesInOneMessageRunAsIfTyped():
    namespace = {}
    protocol, transport = _console(namespace)
    _messages(transport)
    source = "def triple(x):\n    return 3 * x\n\ny = triple(2)\nfor i in range(2):\n    print(i)"
    assert _send(protocol, transport, source) == ("", "... ")
    assert _send(protocol, transport, "") == ("0\n1\n", ">>> ")
    assert namespace["y"] == 6
    assert _send(protocol, transport, "x = 1\nexit()\nx = 2") == ("", None)
    assert transport.disconnecting and namespace["x"] == 1


def test_completionOffersNamesAndAttributes():
    class Thing:
        colour = "red"
        count = 2

    protocol, transport = _console({"thing": Thing(), "things": []})
    _messages(transport)
    protocol.dataReceived(b'{"complete": "thi"}\n')
    protocol.dataReceived(b'{"complete": "thing.co"}\n')
    protocol.dataReceived(b'{"complete": "nothing.at"}\n')
    assert _messages(transport) == [
        {"completions": ["thing", "things"]},
        {"completions": ["thing.colour", "thing.count"]},
        {"completions": []},
    ]


def test_completionThatRaisesOffersNothing():
    class Touchy:
        @property
        def __dict__(self):
            raise RuntimeError("do not look")

    protocol, transport = _console({"touchy": Touchy()})
    _messages(transport)
    protocol.dataReceived(b'{"complete": "touchy.x"}\n')
    assert _messages(transport) == [{"completions": []}]


def test_raisingLinePrintsTracebackAndConsoleGoesOn(capsys):
    protocol, transport = _console()
    _messages(transport)
    output, prompt = _send(protocol, transport, "1 / 0")
    assert output.startswith("Traceback (most recent call last):\n")
    assert output.endswith("ZeroDivisionError: division by zero\n")
    assert prompt == ">>> "
    output, prompt = _send(protocol, transport, "1 +")
    assert "SyntaxError" in output
    assert _send(protocol, transport, "'still here'") == ("'still here'\n", ">>> ")
    assert capsys.readouterr() == ("", "")


def test_printGoesToTheConsoleNotToStdout(capsys):
    protocol, transport = _console()
    _messages(transport)
    output, _ = _send(
        protocol, transport, "import sys; print('out'); print('err', file=sys.stderr)"
    )
    assert output == "out\nerr\n"
    assert capsys.readouterr() == ("", "")


def test_inputGetsEndOfFileNotTheDaemonsStdin():
    protocol, transport = _console()
    _messages(transport)
    output, _ = _send(protocol, transport, "input()")
    assert output.endswith("EOFError: EOF when reading a line\n")


def test_exitClosesOnlyTheConsole():
    protocol, transport = _console()
    _messages(transport)
    assert _send(protocol, transport, "exit()") == ("", None)
    assert transport.disconnecting


def test_interruptForgetsTheBlockBeingTyped():
    protocol, transport = _console()
    _messages(transport)
    _send(protocol, transport, "for i in range(3):")
    protocol.dataReceived(b'{"interrupt": true}\n')
    assert _messages(transport) == [{"output": "KeyboardInterrupt\n"}, {"prompt": ">>> "}]
    assert _send(protocol, transport, "1") == ("1\n", ">>> ")


def test_endOfFileRunsThePendingBlockThenCloses():
    protocol, transport = _console()
    _messages(transport)
    _send(protocol, transport, "for i in range(2):", "    print(i)")
    protocol.dataReceived(b'{"eof": true}\n')
    messages = _messages(transport)
    assert "".join(m["output"] for m in messages) == "0\n1\n"
    assert transport.disconnecting


def test_garbageIsAnsweredNotRun():
    namespace = {}
    protocol, transport = _console(namespace)
    _messages(transport)
    protocol.dataReceived(b"x = 1\n")
    messages = _messages(transport)
    assert "not a message of the shell's protocol" in messages[0]["output"]
    assert messages[-1] == {"prompt": ">>> "}
    assert "x" not in namespace


def test_deferredIsShownWhenItFires():
    d = Deferred()
    protocol, transport = _console({"d": d})
    _messages(transport)
    assert _send(protocol, transport, "d") == ("<Deferred #1>\n", ">>> ")
    d.callback(7)
    assert _messages(transport) == [{"output": "Deferred #1 called back: 7\n"}]


def test_failedDeferredShowsItsTraceback():
    d = Deferred()
    protocol, transport = _console({"d": d})
    _messages(transport)
    _send(protocol, transport, "d")
    d.errback(ValueError("no"))
    (message,) = _messages(transport)
    assert message["output"].startswith("Deferred #1 failed: ")
    assert "ValueError: no" in message["output"]
    d.addErrback(lambda failure: None)


def test_blockingLineIsReportedWhileItRunsAndWhenItReturns():
    # The line waits until the watchdog has logged that it blocks (after
    # telling the console): no sleep, no timing assertion, only the order.
    reported = threading.Event()
    blocked = []

    def observer(event):
        text = log.textFromEventDict(event)
        if "has blocked the reactor thread" in text:
            blocked.append(text)
            reported.set()

    protocol, transport = _console({"reported": reported}, blockingLimit=0.01)
    _messages(transport)
    log.addObserver(observer)
    try:
        output, prompt = _send(protocol, transport, "reported.wait(10)")
    finally:
        log.removeObserver(observer)
    lines = output.splitlines()
    assert lines[0].startswith("*** this line has been running for over 0.01s: it blocks")
    assert lines[1] == "True"
    assert lines[2].startswith("*** the line held the reactor thread for ")
    assert prompt == ">>> "
    assert len(blocked) == 1
    assert "'reported.wait(10)'" in blocked[0]
    assert 'File "<shell>", line 1, in <module>' in blocked[0]


def test_aLineNotYetInItsCodeIsReportedOnceItIs(monkeypatch):
    # On a loaded machine the watchdog's limit can pass before the line's
    # own code has begun (between runcode and exec): the report waits until
    # the stack shows the line.  Here the watchdog's first look is made
    # before exec, on purpose: the step just before exec waits for it.
    from protocols import manhole

    looked = threading.Event()
    watch = manhole.ManholeInterpreter._watch

    def watched(self, *args):
        looked.set()
        return watch(self, *args)

    noStdin = manhole._noStdin

    @contextlib.contextmanager
    def slowNoStdin():
        looked.wait(10)
        with noStdin():
            yield

    monkeypatch.setattr(manhole.ManholeInterpreter, "_watch", watched)
    monkeypatch.setattr(manhole, "_noStdin", slowNoStdin)
    reported = threading.Event()
    blocked = []

    def observer(event):
        text = log.textFromEventDict(event)
        if "has blocked the reactor thread" in text:
            blocked.append(text)
            reported.set()

    protocol, transport = _console({"reported": reported}, blockingLimit=0.01)
    _messages(transport)
    log.addObserver(observer)
    try:
        output, prompt = _send(protocol, transport, "reported.wait(10)")
    finally:
        log.removeObserver(observer)
    assert looked.is_set()
    assert output.splitlines()[1] == "True"
    assert len(blocked) == 1
    assert 'File "<shell>", line 1, in <module>' in blocked[0]


def test_twoLinesAlikeAreWatchedApart():
    # The watchdog of a line that returned never reports the next one,
    # even with the same text: lines are told apart by number.
    namespace = {}
    protocol, transport = _console(namespace, blockingLimit=30)
    _messages(transport)
    # The timer of line 1, firing late (with the text of line 2) while
    # line 2 runs: it must not report line 2.
    namespace["fireStale"] = lambda: protocol.interpreter._watch(1, "fireStale()")
    assert _send(protocol, transport, "fireStale") != ("", None)
    assert _send(protocol, transport, "fireStale()") == ("", ">>> ")


def test_quickLineIsNotReported():
    protocol, transport = _console(blockingLimit=30)
    _messages(transport)
    assert _send(protocol, transport, "2 + 2") == ("4\n", ">>> ")


def test_refusedPeerReadsWhyThenIsDisconnected():
    events = []
    clock = Clock()
    log.addObserver(events.append)
    try:
        protocol, transport = _console(peerCheck=lambda transport: "not you", reactor=clock)
    finally:
        log.removeObserver(events.append)
    assert _messages(transport) == [{"refused": "loomd shell: refused: not you"}]
    # Half-closed: what the peer sent meanwhile is read, ignored, never run.
    assert transport.writeDisconnected and not transport.disconnecting
    protocol.dataReceived(b'{"line": "1"}\n')
    assert transport.value() == b""
    clock.advance(REFUSED_GRACE)
    assert transport.aborted
    assert any("shell: refused a connection: not you" in log.textFromEventDict(e) for e in events)


def test_peerCheckThatRaisesRefuses():
    def brokenCheck(transport):
        raise OSError(9, "Bad file descriptor")

    protocol, transport = _console(peerCheck=brokenCheck, reactor=Clock())
    (message,) = _messages(transport)
    assert message == {
        "refused": "loomd shell: refused: the peer could not be checked: "
        "[Errno 9] Bad file descriptor"
    }
    assert protocol.interpreter is None


def test_peerCredentialsOfASocketpairAreOurs():
    left, right = socket.socketpair(socket.AF_UNIX)
    with left, right:
        transport = StringTransport()
        transport.fileno = left.fileno
        assert peerCredentials(transport) == (os.getpid(), os.getuid(), os.getgid())
        assert sameUserOrRoot(transport) is None


def test_peerCheckRefusesWhatIsNoUnixSocket():
    with socket.socket() as tcp:
        transport = StringTransport()
        transport.fileno = tcp.fileno
        assert peerCredentials(transport) is None
        assert sameUserOrRoot(transport).startswith("not a UNIX socket connection")


def test_peerCheckRefusesAnotherUser():
    if os.geteuid() != 0:
        pytest.skip("needs root to connect as another user")
    # A child becomes uid 12345, connects and waits; the listener judges it.
    server = socket.socket(socket.AF_UNIX)
    path = "\0loom-manhole-test-%d" % (os.getpid(),)
    server.bind(path)
    server.listen(1)
    script = (
        "import os, socket, sys; os.setgid(12345); os.setuid(12345); "
        "s = socket.socket(socket.AF_UNIX); s.connect(chr(0) + sys.argv[1]); s.recv(1)"
    )
    child = subprocess.Popen([sys.executable, "-c", script, path[1:]])
    try:
        server.settimeout(10)
        accepted, _ = server.accept()
        with accepted:
            transport = StringTransport()
            transport.fileno = accepted.fileno
            reason = sameUserOrRoot(transport)
        assert reason == "uid 12345 (pid %d) may not attach: only uid %d and root may" % (
            child.pid,
            os.geteuid(),
        )
    finally:
        server.close()
        child.wait(10)
