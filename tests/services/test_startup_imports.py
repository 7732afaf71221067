"""
loomd's start-up stays lean: what a foreground run of a .tac needs must not
pull in modules that only some options use (each costs milliseconds at every
start; benchmarks/bench_startup.py measures the whole).
"""

import os
import subprocess
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Imported only by --version, plugins, file or syslog logging, --help, JSON
# logs, reconnecting clients or a decorated opt_ method.
HEAVY = [
    "importlib.metadata",
    "inspect",
    "logging.handlers",
    "json",
    "shutil",
    "random",
    "dataclasses",
]

CHILD = """
import sys
from services.loomd.runner import LoomdOptions
from services.loomd.daemonlog import DaemonLogging
from services.loomd.launcher import *
from services.loomd.lifecycle import *
from services.internet import TCPServer
from protocols.protocol import Factory
import reactor.epollreactor
options = LoomdOptions()
options.parseOptions(["-n", "--pidfile=", "-y", "echo.tac"])
print(" ".join(sorted(sys.modules)))
"""


def loadedModules(code):
    output = subprocess.run(
        [sys.executable, "-c", code],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=ROOT),
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    ).stdout
    return set(output.splitlines()[-1].split())


def test_foregroundStartImportsNoOptionalModules():
    loaded = loadedModules(CHILD)
    assert "services.loomd.runner" in loaded and "reactor.epollreactor" in loaded
    assert [name for name in HEAVY if name in loaded] == []


def test_optionalModulesStillLoadWhenAsked():
    # The lazy paths work: a file log and --version's metadata lookup.
    code = CHILD.replace(
        "print(",
        "from services.loomd.logfile import makeLogHandler\n"
        "from services.loomd._loghandlers import RotatingLogFile\n"
        "import tempfile, os\n"
        "h = makeLogHandler(os.path.join(tempfile.mkdtemp(), 'x.log'))\n"
        "assert isinstance(h, RotatingLogFile)\n"
        "from services.usage import _loomVersion\n"
        "assert _loomVersion()\n"
        "print(",
    )
    loaded = loadedModules(code)
    assert {"logging.handlers", "importlib.metadata"} <= loaded
