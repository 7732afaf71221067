"""
Faults at start and stop: a daemon killed with SIGKILL (it cannot clean up)
and started again at once, and five launchers started at the same moment
with the same pidfile.

Both rest on the pidfile's lock (services/loomd/pidfile.py): the kernel releases
a dead process's lock, so the pidfile a SIGKILLed daemon leaves behind is
unlocked, hence stale, and the next start replaces it; and of five starts
the kernel gives the lock to exactly one, the others exit non-zero saying
which pid already runs.  The listening port is bound with SO_REUSEADDR, so
connections left in TIME_WAIT by the killed daemon do not stop the new one.
"""

import os
import signal
import socket

from tests.services.loomd_helpers import (
    alive,
    echo,
    freePort,
    loomdFixture,  # noqa: F401 - the loomd fixture
    readLog,
    readPid,
    tacFile,
    waitFor,
)

RESTARTS = 3
STARTS = 5


def test_killNineThenRestartAtOnceServes(loomd, tmp_path):
    port = freePort()
    tac = tacFile(tmp_path, "EchoService(%d).setServiceParent(application)\n" % (port,))
    pid = loomd.daemon(tac)
    pids = [pid]
    for round in range(RESTARTS):
        # A client is connected when the daemon dies, so the port is left
        # with a connection in TIME_WAIT, as after a crash under load.
        client = socket.create_connection(("127.0.0.1", port), timeout=5)
        client.sendall(b"before the kill\n")
        assert client.recv(64) == b"before the kill\n"
        os.kill(pid, signal.SIGKILL)
        waitFor(lambda killed=pid: not alive(killed), what="the killed daemon to vanish")
        client.close()
        assert readPid(loomd.pidfile) == pid, "the killed daemon's pidfile should be left behind"
        pid = loomd.daemon(tac)  # fails the test unless the launcher exits 0
        pids.append(pid)
        assert echo(port, b"round %d\n" % (round,)) == b"round %d\n" % (round,)
    replaced = readLog(loomd.logfile).count("Replacing stale pidfile %s" % (loomd.pidfile,))
    print(
        "kill -9 and restart: %d restarts, pids %s, %d stale pidfiles replaced"
        % (RESTARTS, pids, replaced)
    )
    assert len(set(pids)) == RESTARTS + 1
    assert replaced == RESTARTS
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the last daemon to stop")
    assert not os.path.exists(loomd.pidfile)


def test_fiveSimultaneousStartsRunExactlyOne(loomd, tmp_path):
    port = freePort()
    tac = tacFile(tmp_path, "EchoService(%d).setServiceParent(application)\n" % (port,))
    launchers = [
        loomd.spawn("-y", tac, "--pidfile", loomd.pidfile, "-l", loomd.logfile)
        for _ in range(STARTS)
    ]
    results = []
    for launcher in launchers:
        _, err = launcher.communicate(timeout=20)
        results.append((launcher.returncode, err))
    pid = readPid(loomd.pidfile)
    loomd.track(pid)
    codes = sorted(code for code, _ in results)
    print("five simultaneous starts: exit statuses %s, daemon pid %s" % (codes, pid))
    assert codes == [0] + [1] * (STARTS - 1), results
    assert pid is not None and alive(pid)
    for code, err in results:
        if code != 0:
            assert "already running (pid %d)" % (pid,) in err, err
    # Exactly one daemon remains (the losers' processes are all gone) and it serves.
    waitFor(lambda: loomd.leftovers() == [pid], what="only the winner to remain")
    assert echo(port) == b"hello loomd\n"
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the daemon to stop")
