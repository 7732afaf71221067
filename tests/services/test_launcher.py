"""
loomd's two roles apart: the Launcher (services.loomd.launcher) prepares in
the process the user started, the Daemon (services.loomd.lifecycle) serves
what it is given.  Each is driven here without the other, in a child
process (the Daemon installs signal handlers and captures the standard
streams); the whole loomd is tests/services/test_loomd_*.py.
"""

import os
import subprocess
import sys
import textwrap

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def runChild(code, tmp_path):
    result = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)],
        cwd=str(tmp_path),
        env=dict(os.environ, PYTHONPATH=ROOT),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip().splitlines()


def test_daemonServesTheApplicationItIsGiven(tmp_path):
    # No .tac, no launcher: an application built in code, served to its
    # readiness point and stopped; the reporter hears "ready" once.
    lines = runChild(
        """
        import sys
        import reactor
        from services.loomd.lifecycle import Daemon
        from services.loomd.runner import LoomdOptions
        from services.service import Application, Service

        loop = reactor.install("poll")

        class StopOnceStarted(Service):
            def startService(self):
                Service.startService(self)
                loop.callLater(0, loop.stop)

        class Reporter:
            events = []
            def ready(self):
                self.events.append("ready")
            def error(self, message):
                self.events.append("error: " + message)

        application = Application("given")
        StopOnceStarted().setServiceParent(application)
        options = LoomdOptions()
        options.parseOptions(["-n", "--pidfile=", "-l", "daemon.log", "-y", "never-read.tac"])
        daemon = Daemon(options, loop, application)
        code = daemon.serve(Reporter())
        print(code, Reporter.events, daemon.ready, file=sys.__stdout__)
        """,
        tmp_path,
    )
    assert lines[-1] == "0 ['ready'] True"
    assert "loomd ready: every service has started" in (tmp_path / "daemon.log").read_text()


def test_launcherChecksWithoutServing(tmp_path):
    # --check is the launcher's alone: it loads, checks and exits, and no
    # Daemon ever runs (no log file, no pidfile).
    (tmp_path / "app.tac").write_text(
        "from services.service import Application\napplication = Application('checked')\n"
    )
    lines = runChild(
        """
        from services.loomd.launcher import Launcher
        from services.loomd.runner import LoomdOptions

        options = LoomdOptions()
        options.parseOptions(["--check", "-y", "app.tac"])
        print("exit", Launcher(options).start())
        """,
        tmp_path,
    )
    assert lines[-1] == "exit 0"
    assert "loomd: check passed: application loaded; listens on nothing known" in lines
    assert sorted(os.listdir(tmp_path)) == ["app.tac"]
