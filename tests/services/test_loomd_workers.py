"""
End-to-end ``loomd --workers``: a master binding once and forking workers
that share the listening sockets (services.loomd.workers).

Real loomd processes on loopback.  Parallelism is shown without clocks:
each slow request blocks its worker until a request is inside another
worker too, and says whether it met one.  The workers' pids come from the
table beside the pidfile (what ``loomd --status`` prints).
"""

import os
import pwd
import shutil
import signal
import socket
import stat
import tempfile
import threading

import pytest

from tests.services.loomd_helpers import (
    alive,
    echo,
    freePort,
    loomdEnvironment,
    loomdFixture,  # noqa: F401 - the loomd fixture
    needRoot,
    readLog,
    readPid,
    tacFile,
    wait,
    waitFor,
)
from tests.services.test_loomd_shell import ShellClient

pytestmark = pytest.mark.timeout(120)

APP = """
import glob
import answers
from services.internet import TCPServer

DIR = %(directory)r


class Answer(Protocol):
    # "accepted" at once; then the reply: at once, after a second without
    # blocking ("slow"), or once a request is inside another worker too
    # ("meet": this worker is blocked meanwhile, for 10 s at most).
    def connectionMade(self):
        self.transport.write(b"accepted\\n")

    def dataReceived(self, data):
        if data.startswith(b"meet"):
            self.reply(self.meet())
        else:
            reactor.callLater(1.0 if data.startswith(b"slow") else 0, self.reply, answers.TEXT)

    def meet(self):
        open(os.path.join(DIR, "inside-%%d" %% os.getpid()), "w").close()
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            if len(glob.glob(os.path.join(DIR, "inside-*"))) >= 2:
                return "together"
            time.sleep(0.01)
        return "alone"

    def reply(self, text):
        self.transport.write(("%%s %%d\\n" %% (text, os.getpid())).encode())
        self.transport.loseConnection()


TCPServer(%(port)d, Factory.forProtocol(Answer), interface="127.0.0.1").setServiceParent(
    application
)
"""


def writeApp(directory, body="", text="first"):
    """The .tac and its neighbour answers.py (TEXT = text); return (tac, port)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    setAnswer(directory, text)
    source = APP % {"directory": str(directory), "port": port}
    return tacFile(directory, source + body), port


def setAnswer(directory, text):
    with open(os.path.join(str(directory), "answers.py"), "w") as module:
        module.write("TEXT = %r\n" % (text,))


def ask(port, request=b"hello\n", timeout=15):
    """Send request; return (reply text, the pid that answered)."""
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as client:
        reader = client.makefile("rb")
        assert reader.readline() == b"accepted\n"
        client.sendall(request)
        text, pid = reader.readline().decode().rsplit(None, 1)
        return text, int(pid)


def workers(loomd):
    """The master's table: [(index, pid, generation, state)]."""
    try:
        with open(loomd.pidfile + ".workers") as table:
            lines = table.read().splitlines()
    except FileNotFoundError:
        return []
    found = []
    for line in lines:
        head, rest = line.split(": ", 1)
        fields = rest.split(", ")
        found.append(
            (int(head.split()[1]), int(fields[0].split()[1]), int(fields[1].split()[1]), fields[2])
        )
    return found


def readyPids(loomd, generation=None):
    return {
        pid
        for _, pid, number, state in workers(loomd)
        if state == "ready" and generation in (None, number)
    }


def test_twoSlowRequestsAreServedAtOnceByTwoWorkers(loomd, tmp_path):
    tac, port = writeApp(tmp_path)
    loomd.daemon(tac, "--workers", "2")
    results = []
    clients = [
        threading.Thread(target=lambda: results.append(ask(port, b"meet\n"))) for _ in range(2)
    ]
    # The second client connects once the first request blocks its worker.
    clients[0].start()
    waitFor(
        lambda: any(name.startswith("inside-") for name in os.listdir(str(tmp_path))),
        timeout=30,
        what="the first request inside a worker",
    )
    clients[1].start()
    for client in clients:
        client.join(30)
    assert sorted(text for text, _ in results) == ["together", "together"], results
    # Connections landed on both workers.
    assert {pid for _, pid in results} == readyPids(loomd)
    assert len(readyPids(loomd)) == 2


def burst(port, size=32):
    """Open size connections at once, hold them; return {pid: how many it holds}."""
    clients = [socket.create_connection(("127.0.0.1", port), timeout=15) for _ in range(size)]
    try:
        readers = [client.makefile("rb") for client in clients]
        for reader in readers:
            assert reader.readline() == b"accepted\n"
        held = {}
        for client, reader in zip(clients, readers, strict=True):
            client.sendall(b"hello\n")
            pid = int(reader.readline().split()[-1])
            held[pid] = held.get(pid, 0) + 1
        return held
    finally:
        for client in clients:
            client.close()


BURSTS = 3


@pytest.mark.parametrize("count", [2, 4])
def test_aBurstOfKeepAliveConnectionsIsSpreadOverTheWorkers(loomd, tmp_path, count):
    # 32 connections opened at once and held (each accepted before any is
    # asked anything): every worker holds some.  Without balancing, on a
    # loaded machine, whichever worker woke first took them all
    # (services.loomd.balance; doc/deployment.md).
    #
    # The kernel promises no bound here: the balance holds while the
    # workers get a CPU within milliseconds, and a worker starved for
    # longer (STUCK_SECONDS) is passed over, by design.  So the rule is
    # asserted on the best of BURSTS bursts (one, unless it fails): a
    # starved moment on an overloaded machine fails one burst, not the
    # test, while a worker left out of every burst still fails it.  The
    # rules themselves are checked deterministically, on a real accept
    # queue, in test_loomd_balance.py::test_aBurstOnARealQueue*.
    tac, port = writeApp(tmp_path)
    loomd.daemon(tac, "--workers", str(count))
    waitFor(lambda: len(readyPids(loomd)) == count, timeout=30, what="the workers ready")
    pids = readyPids(loomd)
    bursts = []
    for _ in range(BURSTS):
        held = burst(port)
        assert sum(held.values()) == 32 and set(held) <= pids, held
        bursts.append(sorted(held.values(), reverse=True))
        if set(held) == pids:
            break
    assert len(bursts[-1]) == count, bursts


def test_statusListsTheWorkers(loomd, tmp_path):
    tac, port = writeApp(tmp_path)
    master = loomd.daemon(tac, "--workers", "3")
    result = loomd.run("--status", "--pidfile", loomd.pidfile)
    assert result.returncode == 0
    lines = result.stdout.splitlines()
    assert lines[0] == "loomd: running (pid %d)" % (master,)
    assert [line.split(":")[0].strip() for line in lines[1:]] == [
        "worker 0",
        "worker 1",
        "worker 2",
    ]
    assert all("generation 1, ready" in line for line in lines[1:]), lines
    # ps and top name each worker.
    for index, pid, _, _ in workers(loomd):
        with open("/proc/%d/comm" % (pid,)) as comm:
            assert comm.read().strip() == "loomd w%d g1" % (index,)
    assert readPid(loomd.pidfile) == master


def test_killedWorkerIsReplacedAndTheServiceKeepsAnswering(loomd, tmp_path):
    tac, port = writeApp(tmp_path)
    master = loomd.daemon(tac, "--workers", "2")
    before = readyPids(loomd)
    victim = [pid for index, pid, _, _ in workers(loomd) if index == 1][0]
    os.kill(victim, signal.SIGKILL)
    waitFor(
        lambda: len(readyPids(loomd)) == 2 and victim not in readyPids(loomd),
        timeout=30,
        what="a replacement worker",
        context=lambda: readLog(loomd.logfile),
    )
    replacement = readyPids(loomd) - before
    assert len(replacement) == 1
    assert [index for index, pid, _, _ in workers(loomd) if pid in replacement] == [1]
    for _ in range(5):
        assert ask(port)[0] == "first"
    assert alive(master) and readPid(loomd.pidfile) == master
    assert "replacing worker 1" in readLog(loomd.logfile)


def test_sigtermUnderLoadLosesNoAcceptedConnectionsReply(loomd, tmp_path):
    tac, port = writeApp(tmp_path)
    process = loomd.spawn(
        "-n", "-y", tac, "--workers", "2", "--pidfile", loomd.pidfile, "-l", loomd.logfile
    )
    waitFor(lambda: "workers serving" in readLog(loomd.logfile), timeout=30, what="start-up")
    clients, replies = [], []
    for _ in range(20):
        client = socket.create_connection(("127.0.0.1", port), timeout=15)
        reader = client.makefile("rb")
        assert reader.readline() == b"accepted\n"  # a worker has it
        client.sendall(b"slow\n")
        clients.append((client, reader))
    process.send_signal(signal.SIGTERM)
    for client, reader in clients:
        replies.append(reader.readline())
        client.close()
    assert all(reply.startswith(b"first ") for reply in replies), replies
    code, _, err = wait(process, timeout=30)
    assert code == 0, err
    assert not os.path.exists(loomd.pidfile)
    assert not os.path.exists(loomd.pidfile + ".workers")


def test_sighupReloadsWithoutRefusingAnyConnection(loomd, tmp_path):
    tac, port = writeApp(tmp_path)
    master = loomd.daemon(tac, "--workers", "2")
    old = readyPids(loomd)
    seen, refusals, errors = [], [], []
    stop = threading.Event()

    def connectInALoop():
        while not stop.is_set():
            try:
                seen.append(ask(port))
            except ConnectionRefusedError as error:
                refusals.append(error)
            except (OSError, ValueError, AssertionError) as error:
                errors.append(error)

    client = threading.Thread(target=connectInALoop)
    client.start()
    try:
        waitFor(lambda: len(seen) > 20, timeout=30, what="answers before the reload")
        setAnswer(tmp_path, "second generation")  # new code in a module the .tac imports
        os.kill(master, signal.SIGHUP)
        waitFor(
            lambda: (
                readyPids(loomd, generation=2) and not (old & {p for _, p, _, _ in workers(loomd)})
            ),
            timeout=30,
            what="the new generation alone",
            context=lambda: readLog(loomd.logfile),
        )
        count = len(seen)
        waitFor(lambda: len(seen) > count + 20, timeout=30, what="answers after the reload")
    finally:
        stop.set()
        client.join(30)
    assert refusals == [] and errors == [], (refusals, errors)
    texts = [text for text, _ in seen]
    assert texts[0] == "first" and texts[-1] == "second generation"
    assert {pid for text, pid in seen if text == "second generation"} <= readyPids(loomd, 2)
    assert not any(alive(pid) for pid in old)
    assert "reload finished" in readLog(loomd.logfile)


def test_brokenTacOnReloadKeepsTheOldWorkers(loomd, tmp_path):
    tac, port = writeApp(tmp_path)
    master = loomd.daemon(tac, "--workers", "2")
    old = readyPids(loomd)
    with open(tac, "a") as broken:
        broken.write("\nraise RuntimeError('the new release is broken')\n")
    os.kill(master, signal.SIGHUP)
    waitFor(lambda: "reload failed" in readLog(loomd.logfile), timeout=30, what="the failed reload")
    log = readLog(loomd.logfile)
    assert "the new release is broken" in log
    assert "generation 1 keeps serving" in log
    assert readyPids(loomd) == old
    assert ask(port)[0] == "first"


def test_newWorkersFailingToStartKeepTheOldOnes(loomd, tmp_path):
    tac, port = writeApp(
        tmp_path, "CallbackService(onStart=lambda: answers.start()).setServiceParent(application)\n"
    )
    with open(os.path.join(str(tmp_path), "answers.py"), "a") as module:
        module.write("def start():\n    pass\n")
    master = loomd.daemon(tac, "--workers", "2")
    old = readyPids(loomd)
    with open(os.path.join(str(tmp_path), "answers.py"), "w") as module:
        module.write("TEXT = 'broken'\ndef start():\n    raise ValueError('no database here')\n")
    os.kill(master, signal.SIGHUP)
    waitFor(lambda: "reload failed" in readLog(loomd.logfile), timeout=30, what="the failed reload")
    assert "no database here" in readLog(loomd.logfile)
    waitFor(
        lambda: {p for _, p, _, _ in workers(loomd)} == old, timeout=30, what="the new workers gone"
    )
    assert ask(port)[0] == "first"


def test_workerStartUpFailureReachesTheLauncher(loomd, tmp_path):
    body = "CallbackService(onStart=lambda: fail(ValueError('no database')))"
    body += ".setServiceParent(application)\n"
    tac, port = writeApp(tmp_path, body)
    result = loomd.run("-y", tac, "--workers", "2", "--pidfile", loomd.pidfile, "-l", loomd.logfile)
    assert result.returncode == 1
    assert "start-up failed: ValueError: no database" in result.stderr
    assert result.stderr.startswith("loomd: worker ")
    waitFor(lambda: not loomd.leftovers(), timeout=30, what="every process gone")
    assert not os.path.exists(loomd.pidfile)


def test_masterGivesUpAfterRepeatedQuickDeaths(loomd, tmp_path):
    marker = os.path.join(str(tmp_path), "die")
    body = "CallbackService(onStart=lambda: os.path.exists(%r) and os._exit(3))" % (marker,)
    body += ".setServiceParent(application)\n"
    tac, port = writeApp(tmp_path, body)
    process = loomd.spawn(
        "-n", "-y", tac, "--workers", "2", "--pidfile", loomd.pidfile, "-l", loomd.logfile
    )
    waitFor(lambda: "workers serving" in readLog(loomd.logfile), timeout=30, what="start-up")
    open(marker, "w").close()
    os.kill([pid for index, pid, _, _ in workers(loomd) if index == 0][0], signal.SIGKILL)
    code, _, err = wait(process, timeout=60)
    assert code == 1
    log = readLog(loomd.logfile)
    assert "giving up: workers died 5 times in a row" in log
    assert log.count(") exited with status 3") >= 4
    assert not os.path.exists(loomd.pidfile)


def test_oncePerMachineServiceRunsInOneWorkerAcrossAReload(loomd, tmp_path):
    body = """
class Once(Service):
    perWorker = False

    def startService(self):
        Service.startService(self)
        log.msg("once-per-machine started in %d" % (os.getpid(),))
        open(os.path.join(DIR, "once-%d" % (os.getpid(),)), "w").close()

    def stopService(self):
        Service.stopService(self)
        log.msg("once-per-machine stopped in %d" % (os.getpid(),))


Once().setServiceParent(application)
"""
    tac, port = writeApp(tmp_path, body)
    master = loomd.daemon(tac, "--workers", "3")
    waitFor(
        lambda: "once-per-machine started" in readLog(loomd.logfile), timeout=30, what="the service"
    )
    first = [pid for index, pid, _, _ in workers(loomd) if index == 0][0]
    assert sorted(os.listdir(str(tmp_path)))[:1] == [] or True
    onceFiles = [name for name in os.listdir(str(tmp_path)) if name.startswith("once-")]
    assert onceFiles == ["once-%d" % (first,)]
    os.kill(master, signal.SIGHUP)
    waitFor(
        lambda: readLog(loomd.logfile).count("once-per-machine started") == 2,
        timeout=30,
        what="the handover",
    )
    second = [pid for index, pid, number, _ in workers(loomd) if index == 0 and number == 2]
    assert second, (workers(loomd), readLog(loomd.logfile))
    second = second[0]
    log = readLog(loomd.logfile)
    assert log.index("once-per-machine stopped in %d" % (first,)) < log.index(
        "once-per-machine started in %d" % (second,)
    )
    onceFiles = sorted(name for name in os.listdir(str(tmp_path)) if name.startswith("once-"))
    assert onceFiles == sorted(["once-%d" % (first,), "once-%d" % (second,)])


def test_workersAutoIsOnePerUsableCpu(loomd, tmp_path):
    tac, port = writeApp(tmp_path)
    loomd.daemon(tac, "--workers", "auto")
    assert len(workers(loomd)) == len(os.sched_getaffinity(0))


def test_workersRefusesTheAsyncioReactor(loomd, tmp_path):
    tac, port = writeApp(tmp_path)
    result = loomd.run("-y", tac, "--workers", "2", "-r", "asyncio", "--pidfile", loomd.pidfile)
    assert result.returncode == 1
    assert "--workers needs the epoll, poll or select reactor" in result.stderr


@pytest.mark.parametrize("value", ["0", "many"])
def test_workersMustBeAPositiveNumberOrAuto(loomd, tmp_path, value):
    result = loomd.run("-y", "app.tac", "--workers", value)
    assert result.returncode == 1
    assert "--workers" in result.stderr


MOVING = """
import ports
from services.internet import TCPServer
for number in ports.PORTS:
    TCPServer(number, Factory.forProtocol(Echo), interface="127.0.0.1").setServiceParent(
        application
    )
"""


def test_reloadOpensTheNewPortsAndClosesTheDroppedOnes(loomd, tmp_path):
    first, second = freePort(), freePort()
    with open(os.path.join(str(tmp_path), "ports.py"), "w") as module:
        module.write("PORTS = [%d]\n" % (first,))
    master = loomd.daemon(tacFile(tmp_path, MOVING), "--workers", "2")
    assert echo(first) == b"hello loomd\n"
    with open(os.path.join(str(tmp_path), "ports.py"), "w") as module:
        module.write("PORTS = [%d, %d][1:]\n" % (first, second))
    os.kill(master, signal.SIGHUP)
    waitFor(lambda: "reload finished" in readLog(loomd.logfile), timeout=30, what="the reload")
    assert echo(second) == b"hello loomd\n"
    waitFor(
        lambda: readyPids(loomd, 1) == set() and len(workers(loomd)) == 2,
        timeout=30,
        what="the old ones gone",
    )
    with pytest.raises(ConnectionRefusedError):
        socket.create_connection(("127.0.0.1", first), timeout=5)


def test_systemdHearsTheMasterOnly(loomd, tmp_path):
    path = str(tmp_path / "notify.sock")
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
    listener.bind(path)
    listener.settimeout(10)
    messages = []

    def until(text):
        while not any(text in message for message in messages):
            messages.append(listener.recv(4096).decode())

    try:
        tac, port = writeApp(tmp_path)
        env = loomdEnvironment(NOTIFY_SOCKET=path, WATCHDOG_USEC=200000)
        process = loomd.spawn(
            "-n",
            "-y",
            tac,
            "--workers",
            "3",
            "--pidfile",
            loomd.pidfile,
            "-l",
            loomd.logfile,
            env=env,
        )
        until("READY=1")
        ready = [message for message in messages if "READY=1" in message][0].split("\n")
        assert "MAINPID=%d" % (process.pid,) in ready and "STATUS=3 workers ready" in ready
        until("WATCHDOG=1")  # pinged by the master's loop
        process.send_signal(signal.SIGHUP)
        until("RELOADING=1")
        del messages[:]
        until("READY=1")
        readyAgain = [message for message in messages if "READY=1" in message][0]
        assert "STATUS=3 workers ready" in readyAgain.split("\n")
        process.send_signal(signal.SIGTERM)
        until("STOPPING=1")
        code, _, err = wait(process, timeout=30)
        assert code == 0, err
        # Nothing from the workers: only the master's messages came.
        listener.settimeout(0.2)
        try:
            while True:
                messages.append(listener.recv(4096).decode())
        except socket.timeout:
            pass
        assert not any("READY=1" in message and "STATUS=running" in message for message in messages)
    finally:
        listener.close()


def test_workersStopWhenTheMasterIsKilled(loomd, tmp_path):
    tac, port = writeApp(tmp_path)
    master = loomd.daemon(tac, "--workers", "2")
    pids = readyPids(loomd)
    os.kill(master, signal.SIGKILL)
    waitFor(
        lambda: not any(alive(pid) for pid in pids), timeout=30, what="the orphaned workers to stop"
    )
    assert "the master is gone; shutting down" in readLog(loomd.logfile)


def test_sigusr1ReopensEveryWorkersLogAndSigusr2LogsTheTable(loomd, tmp_path):
    tac, port = writeApp(tmp_path)
    master = loomd.daemon(tac, "--workers", "2")
    os.rename(loomd.logfile, loomd.logfile + ".1")
    os.kill(master, signal.SIGUSR1)
    waitFor(lambda: os.path.exists(loomd.logfile), timeout=30, what="the reopened log")
    os.kill(master, signal.SIGUSR2)
    waitFor(
        lambda: readLog(loomd.logfile).count("service(s) report their state") == 2,
        timeout=30,
        what="both workers' state, in the new log",
        context=lambda: readLog(loomd.logfile),
    )
    log = readLog(loomd.logfile)
    assert "Received SIGUSR2: loomd master pid %d, 2 workers ready" % (master,) in log
    for pid in readyPids(loomd):
        assert "pid %d, generation 1, ready" % (pid,) in log


UNIX_APP = """
from services.internet import UNIXServer
UNIXServer(%(path)r, Factory.forProtocol(Echo)).setServiceParent(application)
"""


def test_unixSocketOutlivesWorkersAndGoesWithTheMaster(loomd, tmp_path):
    path = str(tmp_path / "echo.sock")
    tac = tacFile(tmp_path, UNIX_APP % {"path": path})
    process = loomd.spawn(
        "-n", "-y", tac, "--workers", "2", "--pidfile", loomd.pidfile, "-l", loomd.logfile
    )
    waitFor(lambda: "workers serving" in readLog(loomd.logfile), timeout=30, what="start-up")

    def echoUnix():
        with socket.socket(socket.AF_UNIX) as client:
            client.settimeout(10)
            client.connect(path)
            client.sendall(b"ping")
            return client.recv(4)

    assert echoUnix() == b"ping"
    os.kill([pid for index, pid, _, _ in workers(loomd) if index == 0][0], signal.SIGTERM)
    waitFor(
        lambda: "replacing worker 0" in readLog(loomd.logfile), timeout=30, what="the replacement"
    )
    assert os.path.exists(path)  # a stopping worker leaves the master's socket file
    assert echoUnix() == b"ping"
    process.send_signal(signal.SIGHUP)
    waitFor(lambda: "reload finished" in readLog(loomd.logfile), timeout=30, what="the reload")
    waitFor(
        lambda: readyPids(loomd, 1) == set() and len(workers(loomd)) == 2,
        timeout=30,
        what="generation 2",
    )
    assert echoUnix() == b"ping"
    process.send_signal(signal.SIGTERM)
    code, _, err = wait(process, timeout=30)
    assert code == 0, err
    assert not os.path.exists(path)


FAILING_BIND = """
from services.internet import TCPServer, UNIXServer
UNIXServer(%(path)r, Factory.forProtocol(Echo)).setServiceParent(application)
TCPServer(%(busy)d, Factory.forProtocol(Echo), interface="127.0.0.1").setServiceParent(application)
"""


def test_reloadThatCannotBindLeavesNoSocketFileBehind(loomd, tmp_path):
    tac, port = writeApp(tmp_path)
    master = loomd.daemon(tac, "--workers", "2")
    path = str(tmp_path / "new.sock")
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen(1)
        with open(tac, "a") as reloaded:
            reloaded.write(FAILING_BIND % {"path": path, "busy": busy.getsockname()[1]})
        os.kill(master, signal.SIGHUP)
        waitFor(
            lambda: "reload failed" in readLog(loomd.logfile), timeout=30, what="the failed reload"
        )
    assert "address already in use" in readLog(loomd.logfile).lower()
    assert not os.path.exists(path)
    assert ask(port)[0] == "first"


def test_controlCInTheForegroundStopsEveryWorkerOnce(loomd, tmp_path):
    # A terminal's ^C is SIGINT to the whole process group: the master and
    # every worker.  The master stops the workers; a worker stopping on its
    # own copy too would take the master's SIGTERM as a second signal and
    # exit without draining.
    tac, port = writeApp(tmp_path)
    process = loomd.spawn(
        "-n",
        "-y",
        tac,
        "--workers",
        "2",
        "--pidfile",
        loomd.pidfile,
        "-l",
        loomd.logfile,
        start_new_session=True,
    )
    waitFor(lambda: "workers serving" in readLog(loomd.logfile), timeout=30, what="start-up")
    os.killpg(process.pid, signal.SIGINT)
    code, _, err = wait(process, timeout=30)
    log = readLog(loomd.logfile)
    assert code == 0, (err, log)
    assert "again during shutdown" not in log
    assert log.count("exited with status 0") == 2


def _shellPid(path):
    # The pid of the process whose --shell console listens on path.
    client = ShellClient(path)
    try:
        return int(client.run("import os; print(os.getpid())").strip())
    finally:
        client.close()


def test_eachWorkerHasItsShellAcrossAReload(loomd, tmp_path):
    # --shell unix:PATH under --workers: worker N's console is PATH.N, in
    # that worker; after a reload the new worker N takes PATH.N over once
    # the old one has stopped.
    directory = tempfile.mkdtemp(prefix="loomd-sh-")  # short: sun_path is 108 bytes
    try:
        path = os.path.join(directory, "sh")
        tac, port = writeApp(tmp_path)
        master = loomd.daemon(tac, "--workers", "2", "--shell", "unix:" + path)
        pids = readyPids(loomd)
        assert not os.path.exists(path)  # the master opens none
        byIndex = {index: pid for index, pid, _, _ in workers(loomd)}
        for index in (0, 1):
            assert stat.S_IMODE(os.stat("%s.%d" % (path, index)).st_mode) == 0o600
            assert _shellPid("%s.%d" % (path, index)) == byIndex[index]
        os.kill(master, signal.SIGHUP)
        waitFor(
            lambda: (
                len(readyPids(loomd, generation=2)) == 2
                and not (pids & {p for _, p, _, _ in workers(loomd)})
            ),
            timeout=30,
            what="the new generation alone",
            context=lambda: readLog(loomd.logfile),
        )
        byIndex = {index: pid for index, pid, _, _ in workers(loomd)}

        def shellsMoved():
            try:
                return all(_shellPid("%s.%d" % (path, i)) == byIndex[i] for i in (0, 1))
            except OSError:
                return False

        waitFor(shellsMoved, timeout=30, what="each new worker's shell")
        assert ask(port)[0] == "first"
    finally:
        shutil.rmtree(directory, ignore_errors=True)


def test_eachWorkerHasItsShellAsNobody(loomd):
    # The workers open their consoles after -u: the console's modules were
    # imported before, as root (the interpreter may be out of nobody's reach).
    needRoot()
    directory = tempfile.mkdtemp(prefix="loomd-sh-")
    try:
        os.chmod(directory, 0o755)
        nobody = pwd.getpwnam("nobody")
        os.chown(directory, nobody.pw_uid, nobody.pw_gid)
        loomd.pidfile = os.path.join(directory, "loomd.pid")  # the table, rewritten as nobody
        tac = tacFile(directory, "EchoService(0).setServiceParent(application)\n")
        os.chmod(tac, 0o644)
        path = os.path.join(directory, "sh")
        loomd.daemon(tac, "--workers", "2", "--shell", "unix:" + path, "-u", "nobody")
        byIndex = {index: pid for index, pid, _, _ in workers(loomd)}
        assert sorted(byIndex) == [0, 1]
        for index in (0, 1):
            assert _shellPid("%s.%d" % (path, index)) == byIndex[index]
    finally:
        shutil.rmtree(directory, ignore_errors=True)
