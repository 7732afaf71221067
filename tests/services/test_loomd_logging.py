"""
End-to-end logging: SIGUSR1 reopens the log by path (logrotate moves the
file, then signals; twistd renames it instead and keeps writing to the moved
file), JSON lines, syslog priorities that follow the levels (twistd sends
every error at ALERT), and what services print reaching the log.
"""

import os
import signal
import socket

import pytest

from tests.services.loomd_helpers import (
    alive,
    echo,
    freePort,
    jsonLines,
    loomdFixture,  # noqa: F401 - the loomd fixture
    readLog,
    tacFile,
    waitFor,
)

ECHO_WITH_ERROR = """
EchoService(%d).setServiceParent(application)
def complain():
    print("printed by a service")
    log.msg("an informational line")
    try:
        1 / 0
    except ZeroDivisionError:
        log.err(None, "a service error")
CallbackService(complain).setServiceParent(application)
"""


def stop(pid):
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the daemon to exit")


@pytest.mark.parametrize(
    "signum, suffix", [(signal.SIGUSR1, ".moved"), (signal.SIGHUP, ".1")], ids=["SIGUSR1", "SIGHUP"]
)
def test_signalReopensTheLogAfterItWasMoved(loomd, tmp_path, signum, suffix):
    # logrotate's move-then-signal, with either signal.
    port = freePort()
    tac = tacFile(tmp_path, "EchoService(%d).setServiceParent(application)\n" % port)
    pid = loomd.daemon(tac)
    echo(port)
    waitFor(lambda: "echo connection 1" in readLog(loomd.logfile), what="first connection")
    moved = loomd.logfile + suffix
    os.rename(loomd.logfile, moved)
    os.kill(pid, signum)
    waitFor(lambda: os.path.exists(loomd.logfile), what="the log to be reopened")
    echo(port)
    waitFor(lambda: "echo connection 2" in readLog(loomd.logfile), what="second connection")
    assert "echo connection 2" not in readLog(moved)
    assert "echo connection 1" in readLog(moved)
    assert alive(pid)
    stop(pid)


def test_jsonLogsParseLineByLine(loomd, tmp_path):
    port = freePort()
    tac = tacFile(tmp_path, ECHO_WITH_ERROR % port)
    pid = loomd.daemon(tac, "--log-format", "json")
    stop(pid)
    entries = jsonLines(loomd.logfile)  # each line parses, or this raises
    assert entries
    assert all({"time", "level", "system", "message"} <= set(entry) for entry in entries)
    messages = {entry["message"]: entry for entry in entries}
    assert "an informational line" in messages
    assert messages["printed by a service"]["system"] == "stdout"
    error = [entry for entry in entries if entry["message"].startswith("a service error")][0]
    assert error["level"] == "ERROR"
    assert "ZeroDivisionError" in error["traceback"]


def test_textLogHasTimeSystemAndCapturedPrints(loomd, tmp_path):
    tac = tacFile(tmp_path, ECHO_WITH_ERROR % freePort())
    pid = loomd.daemon(tac)
    stop(pid)
    lines = readLog(loomd.logfile).splitlines()
    printed = [line for line in lines if line.endswith("printed by a service")][0]
    timestamp, system = printed.split(" ")[:2]
    assert len(timestamp) == len("2026-11-22T10:00:00+0000") and timestamp[10] == "T"
    assert system == "[stdout]"
    assert any(line.startswith("\tZeroDivisionError") for line in lines)


def test_syslogPrioritiesFollowTheLevels(loomd, tmp_path):
    path = str(tmp_path / "log.sock")
    collector = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    collector.bind(path)
    collector.settimeout(5)
    try:
        tac = tacFile(tmp_path, ECHO_WITH_ERROR % freePort())
        result = loomd.run(
            "-y",
            tac,
            "--pidfile",
            loomd.pidfile,
            "--syslog",
            "--syslog-socket",
            path,
            "--syslog-facility",
            "local0",
            "--prefix",
            "myapp",
        )
        assert result.returncode == 0, result.stderr
        datagrams = []
        while not any(b"a service error" in d for d in datagrams):
            datagrams.append(collector.recv(65536))
    finally:
        collector.close()
    loomd.run("--stop", "--pidfile", loomd.pidfile)
    local0 = 16 * 8
    byText = {}
    for datagram in datagrams:
        priority, rest = datagram.decode().split(">", 1)
        byText[rest] = int(priority.lstrip("<"))
    error = [text for text in byText if "a service error" in text][0]
    info = [text for text in byText if "an informational line" in text][0]
    assert byText[error] == local0 + 3  # LOG_ERR, not LOG_ALERT (1)
    assert byText[info] == local0 + 6  # LOG_INFO
    assert error.startswith("myapp[")
    assert "ZeroDivisionError" in error


def test_uncaughtErrorsReachTheLog(loomd, tmp_path):
    tac = tacFile(
        tmp_path,
        """
        import gc
        def failLater():
            raise KeyError("raised in a timed call")
        def unhandled():
            fail(LookupError("never handled"))
            gc.collect()
        def start():
            reactor.callLater(0, failLater)
            reactor.callLater(0, unhandled)
            sys.stderr.write("written to stderr\\n")
        CallbackService(start).setServiceParent(application)
        """,
    )
    pid = loomd.daemon(tac)
    waitFor(
        lambda: "never handled" in readLog(loomd.logfile),
        what="the unhandled error",
        context=lambda: readLog(loomd.logfile),
    )
    stop(pid)
    log = readLog(loomd.logfile)
    assert "KeyError: 'raised in a timed call'" in log
    assert "LookupError: never handled" in log
    assert "[stderr] written to stderr" in log


TAC_THAT_LOGS = """
log.msg("loading: an info line from the .tac")
logging.getLogger("app").warning("loading: a warning from the .tac")
"""


def test_whatTheTacLogsWhileLoadingReachesTheDaemonsLog(loomd, tmp_path):
    # twistd keeps these too; loomd loads the .tac before its log exists.
    pid = loomd.daemon(tacFile(tmp_path, TAC_THAT_LOGS))
    text = readLog(loomd.logfile)
    assert "loading: an info line from the .tac" in text
    assert "loading: a warning from the .tac" in text
    assert text.index("loomd starting") < text.index("loading: an info line")
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the daemon to exit")


def test_whatTheTacLogsWhileLoadingFollowsTheLogLevel(loomd, tmp_path):
    pid = loomd.daemon(tacFile(tmp_path, TAC_THAT_LOGS), "--log-level", "warning")
    text = readLog(loomd.logfile)
    assert "loading: a warning from the .tac" in text
    assert "loading: an info line" not in text
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the daemon to exit")


def test_aTacWarningStillShowsOnTheLaunchersTerminal(loomd, tmp_path):
    result = loomd.run("--check", "-y", tacFile(tmp_path, TAC_THAT_LOGS))
    assert result.returncode == 0, result.stderr
    assert "loading: a warning from the .tac" in result.stderr
    assert "an info line" not in result.stderr


CHAT = """
from reactor.logger import Logger

class Chat(Protocol):
    log = Logger()

    def dataReceived(self, data):
        self.log.info("user {user} joined", user=data.decode().strip())
        self.log.debug("a debug line about {user}", user="x")
        log.msg("echoing", size=len(data))
        logging.getLogger("myapp").info("stdlib in a connection", extra={"peer": "p"})
        self.transport.write(data)

class ChatFactory(Factory):
    protocol = Chat

class ChatService(Service):
    def privilegedStartService(self):
        Service.privilegedStartService(self)
        self.port = reactor.listenTCP(%d, ChatFactory(), interface="127.0.0.1")

    def stopService(self):
        Service.stopService(self)
        return self.port.stopListening()

ChatService().setServiceParent(application)
"""


def chatOnce(loomd, tmp_path, *args):
    """Run the chat daemon with args, send it one line, stop it; return its port."""
    port = freePort()
    pid = loomd.daemon(tacFile(tmp_path, CHAT % port), *args)
    assert echo(port, b"bob\n") == b"bob\n"
    waitFor(lambda: "echoing" in readLog(loomd.logfile), what="the connection's lines")
    stop(pid)
    return port


def test_jsonLogCarriesTheConnectionAndTheFields(loomd, tmp_path):
    chatOnce(loomd, tmp_path, "--log-format", "json")
    entries = {entry["message"]: entry for entry in jsonLines(loomd.logfile)}
    joined = entries["user bob joined"]
    assert joined["system"] == "Chat,0,127.0.0.1"
    assert joined["fields"] == {"user": "bob"}
    assert joined["namespace"].endswith(".Chat")
    assert joined["level"] == "INFO"
    echoing = entries["echoing"]
    assert (echoing["system"], echoing["fields"]) == ("Chat,0,127.0.0.1", {"size": 4})
    # A stdlib logger of the program's own reaches the log too, with its extra.
    stdlib = entries["stdlib in a connection"]
    assert (stdlib["system"], stdlib["fields"]) == ("myapp", {"peer": "p"})
    assert "a debug line about x" not in entries  # --log-level is info


def test_textLogNamesTheConnectionAndThePortAsTwistedDoes(loomd, tmp_path):
    port = chatOnce(loomd, tmp_path, "--log-level", "debug")
    lines = [line.split(" ", 1)[1] for line in readLog(loomd.logfile).splitlines()]
    assert "[Chat,0,127.0.0.1] user bob joined" in lines
    assert "[Chat,0,127.0.0.1] a debug line about x" in lines
    assert "[Chat,0,127.0.0.1] echoing" in lines
    assert "[-] ChatFactory starting on %d" % (port,) in lines
    assert "[-] (TCP Port %d Closed)" % (port,) in lines
    starting = [line for line in lines if "] Starting factory <" in line]
    stopping = [line for line in lines if "] Stopping factory <" in line]
    assert len(starting) == len(stopping) == 1
    assert starting[0].startswith("[__loom_tac__.ChatFactory#info] Starting factory")
    assert lines.index(starting[0]) > lines.index("[-] ChatFactory starting on %d" % (port,))
