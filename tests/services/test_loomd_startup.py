"""
End-to-end: loomd starts (foreground and daemon) and every start-up failure
is reported by the launcher with exit status 1, promptly, leaving no daemon
and no pidfile behind.  twistd's launcher hangs on several of these (sys.exit
in a service, a failed uid switch, a chroot without /dev/null) and exits 0 on
a port already in use.
"""

import os
import signal
import socket
import time

import pytest

from tests.services.loomd_helpers import (
    alive,
    echo,
    freePort,
    loomdFixture,  # noqa: F401 - the loomd fixture
    needRoot,
    procStatus,
    readLog,
    readPid,
    tacFile,
    wait,
    waitFor,
)


def assertNothingLeft(loomd):
    """No process of this test runs and the pidfile is gone."""
    assert loomd.leftovers() == []
    assert not os.path.exists(loomd.pidfile)


def failedStart(loomd, tac, *args, timeout=10):
    """Start a daemon that must fail: return the launcher's stderr."""
    started = time.monotonic()
    result = loomd.run(
        "-y", tac, "--pidfile", loomd.pidfile, "-l", loomd.logfile, *args, timeout=timeout
    )
    elapsed = time.monotonic() - started
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert elapsed < timeout
    waitFor(lambda: not loomd.leftovers(), what="the failed daemon to be gone")
    assertNothingLeft(loomd)
    return result.stderr


def test_foregroundRunStopsOnSigintWithStatusZero(loomd, tmp_path):
    port = freePort()
    tac = tacFile(tmp_path, "EchoService(%d).setServiceParent(application)\n" % port)
    process = loomd.spawn("-n", "-y", tac, "--pidfile", "")
    waitFor(lambda: "loomd ready" in process.stdout.readline(), what="ready line on stdout")
    assert echo(port) == b"hello loomd\n"
    process.send_signal(signal.SIGINT)
    code, out, err = wait(process)
    assert code == 0, err
    assert "Received SIGINT, shutting down." in out


def test_daemonStartsWritesPidfileServesAndStopsOnSigterm(loomd, tmp_path):
    port = freePort()
    tac = tacFile(tmp_path, "EchoService(%d).setServiceParent(application)\n" % port)
    pid = loomd.daemon(tac)
    assert pid != os.getpid()
    # Detached: its own session, not our child.
    assert os.getsid(pid) != os.getsid(0)
    assert echo(port) == b"hello loomd\n"
    # Standard streams on /dev/null, umask 0o077, working directory --rundir.
    assert [os.readlink("/proc/%d/fd/%d" % (pid, fd)) for fd in (0, 1, 2)] == ["/dev/null"] * 3
    assert procStatus(pid)["Umask"] == "0077"
    assert os.readlink("/proc/%d/cwd" % (pid,)) == str(tmp_path)
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the daemon to exit")
    assert not os.path.exists(loomd.pidfile)
    log = readLog(loomd.logfile)
    assert "loomd ready" in log and "Received SIGTERM" in log


SERVERS = {
    "listenTCP": "EchoService(%d).setServiceParent(application)\n",
    "TCPServer": "from services.internet import TCPServer\n"
    "TCPServer(%d, Factory.forProtocol(Echo), interface='127.0.0.1')"
    ".setServiceParent(application)\n",
    "endpoint": "from services.internet import service\n"
    "service('tcp:%d:interface=127.0.0.1', Factory.forProtocol(Echo))"
    ".setServiceParent(application)\n",
}


@pytest.mark.parametrize("server", sorted(SERVERS))
def test_portInUseIsReportedByTheLauncher(loomd, tmp_path, server):
    # twistd exits 0 here and leaves a daemon listening on nothing.
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        tac = tacFile(tmp_path, SERVERS[server] % port)
        err = failedStart(loomd, tac)
    assert "cannot listen on 127.0.0.1:%d: address already in use" % port in err


def test_unknownUserIsReported(loomd, tmp_path):
    tac = tacFile(tmp_path, "")
    err = failedStart(loomd, tac, "-u", "no-such-user-loomd")
    assert "no-such-user-loomd" in err
    assert "user" in err


def test_failedPrivilegeSwitchIsReported(loomd, tmp_path):
    # A chroot to a missing directory fails in the daemon, after the fork:
    # twistd's launcher waits forever there.
    needRoot()
    tac = tacFile(tmp_path, "")
    missing = str(tmp_path / "no-such-jail")
    err = failedStart(loomd, tac, "-u", "nobody", "--chroot", missing)
    assert missing in err


def test_setuidFailureIsReported(loomd, tmp_path):
    # Root without CAP_SETUID cannot switch user: setpriv drops the
    # capability for loomd only (skipped where setpriv is missing).
    needRoot()
    import shutil

    setpriv = shutil.which("setpriv")
    if setpriv is None:
        pytest.skip("setpriv (util-linux) is not installed")
    tac = tacFile(tmp_path, "")
    command = [setpriv, "--inh-caps=-setuid,-setgid", "--bounding-set=-setuid,-setgid"]
    command += loomd.command(
        "-y", tac, "--pidfile", loomd.pidfile, "-l", loomd.logfile, "-u", "nobody"
    )
    import subprocess

    from tests.services.loomd_helpers import loomdEnvironment

    result = subprocess.run(
        command, env=loomdEnvironment(), capture_output=True, text=True, timeout=10
    )
    assert result.returncode == 1, (result.stdout, result.stderr)
    assert "Operation not permitted" in result.stderr or "not permitted" in result.stderr
    waitFor(lambda: not loomd.leftovers(), what="the failed daemon to be gone")
    assertNothingLeft(loomd)


def test_chrootWithoutDevNullIsReportedNotHung(loomd, tmp_path):
    needRoot()
    jail = tmp_path / "jail"
    jail.mkdir()
    tac = tacFile(tmp_path, "")
    err = failedStart(loomd, tac, "--chroot", str(jail))
    assert "/dev/null" in err


def test_syntaxErrorInTacNamesFileAndLine(loomd, tmp_path):
    tac = tacFile(tmp_path, "x = 1\ndef broken(:\n")
    err = failedStart(loomd, tac)
    lineNumber = open(tac).read().splitlines().index("def broken(:") + 1
    assert tac in err
    assert "line %d" % (lineNumber,) in err


def test_serviceRaisingInStartServiceIsReported(loomd, tmp_path):
    tac = tacFile(
        tmp_path,
        """
        def boom():
            raise RuntimeError("database unreachable")
        CallbackService(boom).setServiceParent(application)
        """,
    )
    err = failedStart(loomd, tac)
    assert "RuntimeError: database unreachable" in err
    assert "Traceback" in readLog(loomd.logfile)


def test_serviceErrbackingIsReported(loomd, tmp_path):
    tac = tacFile(
        tmp_path,
        """
        def later():
            d = Deferred()
            reactor.callLater(0.05, d.errback, ValueError("bad configuration"))
            return d
        CallbackService(later).setServiceParent(application)
        """,
    )
    err = failedStart(loomd, tac)
    assert "ValueError: bad configuration" in err


def test_serviceCallingSysExitIsReportedNotHung(loomd, tmp_path):
    tac = tacFile(
        tmp_path,
        """
        CallbackService(lambda: sys.exit(3)).setServiceParent(application)
        """,
    )
    err = failedStart(loomd, tac)
    assert "sys.exit(3)" in err


def test_sysExitInPrivilegedStartServiceIsReported(loomd, tmp_path):
    tac = tacFile(
        tmp_path,
        """
        class Quitter(Service):
            def privilegedStartService(self):
                sys.exit("no licence")
        Quitter().setServiceParent(application)
        """,
    )
    err = failedStart(loomd, tac)
    assert "sys.exit" in err and "no licence" in err


def test_noAnswerWithinStartTimeoutKillsTheDaemon(loomd, tmp_path):
    tac = tacFile(
        tmp_path,
        """
        CallbackService(Deferred).setServiceParent(application)
        """,
    )
    err = failedStart(loomd, tac, "--start-timeout", "1", timeout=8)
    assert "no answer from the daemon within 1 seconds" in err


def test_startupBlockingTheLoopIsKilledAndItsPidfileRemoved(loomd, tmp_path):
    # SIGTERM cannot be handled while startService sleeps: the launcher
    # kills the daemon after the grace period, and removes its pidfile.
    tac = tacFile(
        tmp_path, "CallbackService(lambda: time.sleep(30)).setServiceParent(application)\n"
    )
    err = failedStart(loomd, tac, "--start-timeout", "1", timeout=12)
    assert "no answer from the daemon within 1 seconds" in err


@pytest.mark.parametrize("logTo", [None, "-", "file"])
def test_foregroundErrorIsPrintedOnce(loomd, tmp_path, logTo):
    # -n logs to standard output: the error is said there, not again on
    # stderr; logging to a file, it is said on stderr (and in the file).
    logArgs = {None: (), "-": ("-l", "-"), "file": ("-l", loomd.logfile)}[logTo]
    with socket.socket() as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        tac = tacFile(tmp_path, "EchoService(%d).setServiceParent(application)\n" % port)
        result = loomd.run("-n", "-y", tac, "--pidfile", loomd.pidfile, *logArgs, timeout=10)
    assert result.returncode == 1
    message = "loomd: cannot listen on 127.0.0.1:%d: address already in use" % port
    assert (result.stdout + result.stderr).count(message) == 1
    if logTo == "file":
        assert result.stderr == message + "\n"
        assert readLog(loomd.logfile).count(message) == 1
    assert not os.path.exists(loomd.pidfile)


@pytest.mark.parametrize("reactorName", ["select", "poll", "epoll", "asyncio"])
def test_eachReactorIsSelectableWithR(loomd, tmp_path, reactorName):
    port = freePort()
    tac = tacFile(tmp_path, "EchoService(%d).setServiceParent(application)\n" % port)
    pid = loomd.daemon(tac, "-r", reactorName)
    assert echo(port) == b"hello loomd\n"
    assert "reactor %s" % (
        {
            "select": "SelectReactor",
            "poll": "PollReactor",
            "epoll": "EPollReactor",
            "asyncio": "AsyncioReactor",
        }[reactorName],
    ) in readLog(loomd.logfile)
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the daemon to exit")
    assert readPid(loomd.pidfile) is None


def test_umaskOptionAndForegroundUmaskUnchanged(loomd, tmp_path):
    tac = tacFile(tmp_path, "")
    pid = loomd.daemon(tac, "--umask", "027")
    assert procStatus(pid)["Umask"] == "0027"
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the daemon to exit")
    foregroundLog = str(tmp_path / "foreground.log")
    process = loomd.spawn(
        "-n", "-y", tac, "--pidfile", "", "-l", foregroundLog, preexec_fn=lambda: os.umask(0o002)
    )
    waitFor(lambda: "loomd ready" in readLog(foregroundLog), what="start-up")
    assert procStatus(process.pid)["Umask"] == "0002"
    process.send_signal(signal.SIGTERM)
    assert wait(process)[0] == 0


def test_versionHelpReactorsAndNoSave(loomd, tmp_path):
    version = loomd.run("--version")
    assert version.returncode == 0 and version.stdout.startswith("loomd (Loom) ")
    reactors = loomd.run("--help-reactors")
    assert reactors.returncode == 0
    assert reactors.stdout.split()[:2] == ["epoll", "(default)"]
    assert {"poll", "select", "asyncio"} <= set(reactors.stdout.split())
    tac = tacFile(tmp_path, "")
    pid = loomd.daemon(tac, "-o")
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the daemon to exit")
    bad = loomd.run("-y", tac, "-r", "kqueue")
    assert bad.returncode == 1 and "unknown reactor 'kqueue'" in bad.stderr
    nothing = loomd.run()
    assert nothing.returncode == 1 and "nothing to run" in nothing.stderr


@pytest.mark.parametrize("mode", [(), ("-n",)], ids=["daemon", "foreground"])
def test_missingRundirIsAMessage(loomd, tmp_path, mode):
    tac = tacFile(tmp_path, "")
    missing = str(tmp_path / "missing")
    result = loomd.run(*mode, "-y", tac, "--pidfile", loomd.pidfile, "-d", missing)
    assert result.returncode == 1
    assert result.stderr == "loomd: run directory %s does not exist\n" % (missing,)
    assertNothingLeft(loomd)


@pytest.mark.parametrize("mode", [(), ("-n",)], ids=["daemon", "foreground"])
def test_unknownSyslogFacilityIsAMessage(loomd, tmp_path, mode):
    tac = tacFile(tmp_path, "")
    result = loomd.run(
        *mode, "-y", tac, "--pidfile", loomd.pidfile, "--syslog", "--syslog-facility", "bogus"
    )
    assert result.returncode == 1
    assert result.stderr == "loomd: unknown syslog facility 'bogus'\n"
    assertNothingLeft(loomd)


def test_tacImportsTheModulesNextToIt(loomd, tmp_path):
    # Started from elsewhere, as an init script does: the .tac's directory
    # is on sys.path, as a script's is.
    app = tmp_path / "app"
    app.mkdir()
    port = freePort()
    (app / "appsettings.py").write_text("PORT = %d\n" % (port,))
    tac = tacFile(
        app, "import appsettings\nEchoService(appsettings.PORT).setServiceParent(application)\n"
    )
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    check = loomd.run("--check", "-y", tac, "--pidfile", "", cwd=str(elsewhere))
    assert check.returncode == 0, check.stderr
    pid = loomd.daemon(tac)
    assert echo(port) == b"hello loomd\n"
    os.kill(pid, signal.SIGTERM)
    waitFor(lambda: not alive(pid), what="the daemon to exit")


def test_foregroundWarningIsPrintedOnce(loomd, tmp_path):
    # What the .tac logs while it loads is kept for the log; with -n the
    # log is standard output, so a warning is not echoed to stderr first.
    tac = tacFile(
        tmp_path,
        """
log.msg("a warning from the tac", logLevel=logging.WARNING)
CallbackService(onStart=lambda: reactor.callLater(0, reactor.stop)).setServiceParent(application)
""",
    )
    result = loomd.run("-n", "-y", tac, "--pidfile", "", timeout=10)
    assert result.returncode == 0, result.stderr
    assert (result.stdout + result.stderr).count("a warning from the tac") == 1
    assert result.stderr == ""


def test_foregroundWarningIsShownWhenTheStartFailsBeforeTheLog(loomd, tmp_path):
    # The log that would have replayed it never opens: stderr says it.
    tac = tacFile(tmp_path, 'log.msg("a warning from the tac", logLevel=logging.WARNING)\n')
    missing = tmp_path / "missing"
    result = loomd.run("-n", "-y", tac, "--pidfile", missing / "app.pid", timeout=10)
    assert result.returncode == 1
    assert result.stderr.splitlines() == [
        "a warning from the tac",
        "loomd: cannot open pidfile %s: directory %s does not exist"
        % (missing / "app.pid", missing),
    ]


@pytest.mark.parametrize("mode", [(), ("-n",)], ids=["daemon", "foreground"])
def test_checkShowsTheTacsWarningOnce(loomd, tmp_path, mode):
    tac = tacFile(tmp_path, 'log.msg("a warning from the tac", logLevel=logging.WARNING)\n')
    result = loomd.run("--check", *mode, "-y", tac, "--pidfile", "", timeout=10)
    assert result.returncode == 0, result.stderr
    assert result.stderr == "a warning from the tac\n"
