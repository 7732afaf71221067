"""
End-to-end signals and shutdown: SIGTERM/SIGINT close the listening ports
first and wait for slow stopService Deferreds; past --shutdown-timeout the
log names the services still blocking and the exit status is non-zero; a
second signal during shutdown exits at once (twistd ignores every further
signal once a stopService Deferred hangs); SIGHUP reloads and never kills
(twistd dies on it and leaves its pidfile).
"""

import os
import signal
import socket

import pytest

from tests.services.loomd_helpers import (
    alive,
    echo,
    freePort,
    loomdFixture,  # noqa: F401 - the loomd fixture
    readLog,
    readPid,
    tacFile,
    wait,
    waitFor,
)

SLOW_STOP = """
EchoService(%(port)d).setServiceParent(application)
def slowStop():
    d = Deferred()
    def done():
        log.msg("slow service finished stopping")
        d.callback(None)
    reactor.callLater(%(delay)s, done)
    return d
slow = CallbackService(onStop=slowStop)
slow.setName("%(name)s")
slow.setServiceParent(application)
"""


def foreground(loomd, tac, *args):
    """Start loomd -n logging to the test's log file; wait until ready."""
    process = loomd.spawn("-n", "-y", tac, "--pidfile", loomd.pidfile, "-l", loomd.logfile, *args)
    waitFor(
        lambda: "loomd ready" in readLog(loomd.logfile) or process.poll() is not None,
        what="start-up",
    )
    assert process.poll() is None, process.communicate()
    return process


def test_gracefulShutdownWaitsForSlowStopService(loomd, tmp_path):
    port = freePort()
    tac = tacFile(tmp_path, SLOW_STOP % {"port": port, "delay": 1.0, "name": "slow"})
    process = foreground(loomd, tac)
    assert echo(port) == b"hello loomd\n"
    process.send_signal(signal.SIGTERM)
    waitFor(lambda: "Received SIGTERM" in readLog(loomd.logfile), what="the signal")
    # The listening port closes first, while the slow service still stops.
    waitFor(lambda: connectionRefused(port), what="the port to close")
    assert process.poll() is None
    code, _, err = wait(process)
    assert code == 0, err
    log = readLog(loomd.logfile)
    assert log.index("Received SIGTERM") < log.index("slow service finished stopping")
    assert not os.path.exists(loomd.pidfile)


def connectionRefused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=1).close()
    except ConnectionRefusedError:
        return True
    return False


def test_shutdownDeadlineNamesTheBlockingService(loomd, tmp_path):
    tac = tacFile(tmp_path, SLOW_STOP % {"port": freePort(), "delay": 3600, "name": "stuck"})
    process = foreground(loomd, tac, "--shutdown-timeout", "1")
    process.send_signal(signal.SIGINT)
    code, _, _ = wait(process)
    assert code != 0
    assert "still stopping: test/stuck" in readLog(loomd.logfile)
    assert not os.path.exists(loomd.pidfile)


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT])
def test_secondSignalDuringShutdownExitsAtOnce(loomd, tmp_path, signum):
    tac = tacFile(tmp_path, SLOW_STOP % {"port": freePort(), "delay": 3600, "name": "stuck"})
    process = foreground(loomd, tac, "--shutdown-timeout", "3600")
    process.send_signal(signum)
    waitFor(lambda: "shutting down" in readLog(loomd.logfile), what="the first signal")
    process.send_signal(signum)
    code, _, _ = wait(process, timeout=5)
    assert code == 1
    assert "again during shutdown: exiting now" in readLog(loomd.logfile)
    assert not os.path.exists(loomd.pidfile)


def test_sighupReloadsAndNeverKills(loomd, tmp_path):
    marker = tmp_path / "reloaded"
    tac = tacFile(
        tmp_path,
        """
        class Reloadable(Service):
            count = 0
            def reload(self):
                Reloadable.count += 1
                with open(%r, "w") as marker:
                    marker.write(str(Reloadable.count))
        Reloadable().setServiceParent(application)
        """
        % (str(marker),),
    )
    pid = loomd.daemon(tac)
    for expected in ("1", "2"):
        os.kill(pid, signal.SIGHUP)
        waitFor(lambda e=expected: marker.exists() and marker.read_text() == e, what="reload")
    assert alive(pid)
    assert readPid(loomd.pidfile) == pid
    assert loomd.run("--status", "--pidfile", loomd.pidfile).returncode == 0
    assert "Received SIGHUP" in readLog(loomd.logfile)
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the daemon to exit")
    assert not os.path.exists(loomd.pidfile)


def test_sighupWithoutReloadableServicesKeepsRunning(loomd, tmp_path):
    port = freePort()
    tac = tacFile(tmp_path, "EchoService(%d).setServiceParent(application)\n" % port)
    pid = loomd.daemon(tac)
    os.kill(pid, signal.SIGHUP)
    waitFor(lambda: "Received SIGHUP" in readLog(loomd.logfile), what="the SIGHUP")
    assert echo(port) == b"hello loomd\n"
    assert alive(pid) and readPid(loomd.pidfile) == pid
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the daemon to exit")


def test_sigusr2AsksServicesForTheirState(loomd, tmp_path):
    # Every service with a logStatus is asked; one that fails is logged and
    # the others still answer; the daemon goes on.
    port = freePort()
    tac = tacFile(
        tmp_path,
        """
        class Broken(Service):
            def logStatus(self):
                raise RuntimeError("no idea how I am")
        class Fine(Service):
            def logStatus(self):
                log.msg("fine service: all well")
        Broken().setServiceParent(application)
        Fine().setServiceParent(application)
        EchoService(%d).setServiceParent(application)
        """
        % (port,),
    )
    pid = loomd.daemon(tac)
    os.kill(pid, signal.SIGUSR2)
    waitFor(lambda: "fine service: all well" in readLog(loomd.logfile), what="the status")
    logged = readLog(loomd.logfile)
    assert "Received SIGUSR2: loomd pid %d is ready; 2 service(s) report their state" % (pid,) in (
        logged
    )
    assert "logStatus of <" in logged and "RuntimeError: no idea how I am" in logged
    assert echo(port) == b"hello loomd\n"
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the daemon to exit")


def test_servicesAreToldTheShutdownDeadline(loomd, tmp_path):
    marker = tmp_path / "deadline"
    tac = tacFile(
        tmp_path,
        """
        class Told(Service):
            def setStopDeadline(self, seconds):
                with open(%r, "w") as marker:
                    marker.write(repr(seconds))
        Told().setServiceParent(application)
        """
        % (str(marker),),
    )
    pid = loomd.daemon(tac, "--shutdown-timeout", "7.5")
    assert not marker.exists()
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the daemon to exit")
    assert marker.read_text() == "7.5"


@pytest.mark.parametrize("reactorName", ["epoll", "asyncio"])
def test_sigtermReachesAnIdleDaemonWhoseMainThreadCannotTakeIt(loomd, tmp_path, reactorName):
    # The kernel hands SIGTERM to a thread of the service's (the main thread
    # blocks it), so the main thread's sleep is never interrupted: what a
    # signal arriving just as the loop goes to sleep looks like, made
    # certain.  The loop must still wake and shut down.
    tac = tacFile(
        tmp_path,
        """
        import signal, threading

        class OtherThread(Service):
            def startService(self):
                Service.startService(self)
                threading.Thread(target=threading.Event().wait, daemon=True).start()
                signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})

        OtherThread().setServiceParent(application)
        """,
    )
    pid = loomd.daemon(tac, "-r", reactorName)
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the daemon to exit")
    assert "Received SIGTERM, shutting down." in readLog(loomd.logfile)
    assert readPid(loomd.pidfile) is None


EXIT_AFTER_START = """
def slowStop():
    d = Deferred()
    def done():
        log.msg("stopService ran to the end")
        d.callback(None)
    reactor.callLater(0.3, done)
    return d
CallbackService(onStop=slowStop).setServiceParent(application)
EchoService(%(port)d).setServiceParent(application)
reactor.callLater(0.5, sys.exit, %(code)s)
"""


@pytest.mark.parametrize("code, status", [("3", 3), ("None", 0), ("'goodbye'", 1)])
def test_sysExitAfterStartUpShutsDownGracefully(loomd, tmp_path, code, status):
    # Once started, sys.exit(N) stops the services (their Deferreds awaited),
    # removes the pidfile and exits with N, as the interpreter would.
    tac = tacFile(tmp_path, EXIT_AFTER_START % {"port": freePort(), "code": code})
    process = foreground(loomd, tac)
    returncode, _, err = wait(process)
    log = readLog(loomd.logfile)
    assert returncode == status, (err, log)
    assert "a service called sys.exit(%s): shutting down" % (eval(code),) in log
    assert log.index("shutting down") < log.index("stopService ran to the end")
    assert not os.path.exists(loomd.pidfile)


def test_sysExitAfterStartUpStopsADaemon(loomd, tmp_path):
    tac = tacFile(tmp_path, EXIT_AFTER_START % {"port": freePort(), "code": 3})
    pid = loomd.daemon(tac)
    waitFor(lambda: not alive(pid), what="the daemon to exit")
    log = readLog(loomd.logfile)
    assert "a service called sys.exit(3): shutting down" in log
    assert "stopService ran to the end" in log
    assert not os.path.exists(loomd.pidfile)
