"""
mypy over the whole project, and proof that the hints catch mistakes.

One mypy run checks Loom (with the configuration in pyproject.toml: strict on
the fully annotated modules, default mode elsewhere), the typed example
module, and the snippets below.  Each snippet holds one mistake a user could
make; the line that must be refused ends in ``# E: <error code>``.  The test
compares the errors mypy reports with those marks, both ways: the project
and the example must have none, every mark must be reported, and nothing
else.  With the annotations taken away (Deferred untyped, say), the mistakes
pass unseen and the test fails: it shows what the hints are worth.

mypy is installed by the ``test`` extra (``make test``); it is skipped only
where it is absent.  Its cache lives beside the virtualenv (or in the
temporary directory), never in the repository.
"""

import os
import re
import subprocess
import sys
import tempfile
import time
from importlib.util import find_spec

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

pytestmark = pytest.mark.skipif(find_spec("mypy") is None, reason="mypy is not installed")

SNIPPETS = {
    "callbackWrongType": """
from reactor.defer import Deferred, succeed

def shout(text: str) -> str:
    return text.upper()

d: Deferred[int] = succeed(1)
d.addCallback(shout)  # E: call-overload
""",
    "callbackWrongExtraArgument": """
from reactor.defer import Deferred, succeed

def scale(value: int, factor: int) -> int:
    return value * factor

succeed(1).addCallback(scale, "2")  # E: call-overload
succeed(1).addCallback(scale, factor=2.5)  # E: call-overload
""",
    "chainResultType": """
from reactor.defer import Deferred, succeed

def describe(count: int) -> str:
    return str(count)

def increment(count: int) -> int:
    return count + 1

described = succeed(1).addCallback(describe)
described.addCallback(increment)  # E: call-overload
counted: Deferred[int] = succeed(1).addCallback(describe)  # E: call-overload
""",
    "awaitResultType": """
from reactor.defer import Deferred

async def use(d: Deferred[int]) -> None:
    text: str = await d  # E: assignment
""",
    "fireWithWrongType": """
from reactor.defer import Deferred

d: Deferred[int] = Deferred()
d.callback("one")  # E: arg-type
""",
    "inlineCallbacksReturnType": """
from collections.abc import Generator
from typing import Any
from reactor.defer import Deferred, inlineCallbacks, succeed

@inlineCallbacks
def count() -> Generator[Deferred[Any], Any, int]:
    yield succeed(None)
    return 1

wrong: Deferred[str] = count()  # E: assignment
count("extra")  # E: call-arg
""",
    "helpersResultTypes": """
from reactor.defer import Deferred, ensureDeferred, gatherResults, maybeDeferred, succeed

async def two() -> int:
    return 2

a: Deferred[str] = ensureDeferred(two())  # E: arg-type
b: Deferred[list[str]] = gatherResults([succeed(1)])  # E: arg-type
c: Deferred[str] = maybeDeferred(len, "abc")  # E: call-overload
maybeDeferred(len, 3)  # E: call-overload
""",
    "protocolOverride": """
from protocols.protocol import Protocol

class Echo(Protocol):
    def dataReceived(self, data: str) -> None:  # E: override
        pass
""",
    "serviceParent": """
from services.service import Service

Service().setServiceParent(42)  # E: arg-type
""",
    "reactorInterface": """
from reactor.interfaces import IReactorTime
from reactor.task import Clock

clock: IReactorTime = Clock()
clock.callLater("soon", print)  # E: arg-type
seconds: str = clock.seconds()  # E: assignment
""",
}

ERROR = re.compile(r"^(?P<path>[^:]+):(?P<line>\d+): error: .*\[(?P<code>[a-z-]+)\]$")
MARK = re.compile(r"#\s*E:\s*(?P<code>[a-z-]+)\s*$")


def _cacheDir():
    # Beside the virtualenv when there is one (make test's .venv), else in
    # the temporary directory: never in the repository.
    if sys.prefix != sys.base_prefix:
        return os.path.join(sys.prefix, "mypy-cache")
    return os.path.join(tempfile.gettempdir(), "loom-mypy-cache-%d" % (os.getuid(),))


@pytest.fixture(scope="module")
def mypyRun():
    """Run mypy once on the project and the snippets; return what it said."""
    cacheDir = _cacheDir()
    # The snippets keep one path from run to run: mypy's cache knows a
    # module by name and replays its errors under the path it had.
    directory = cacheDir + "-snippets"
    os.makedirs(directory, exist_ok=True)
    paths = {}
    for name, source in SNIPPETS.items():
        path = os.path.join(directory, "typing_snippet_%s.py" % (name,))
        with open(path, "w") as snippet:
            snippet.write(source.lstrip("\n"))
        paths[path] = name
    started = time.monotonic()
    completed = subprocess.run(
        [sys.executable, "-m", "mypy", "--cache-dir", cacheDir, "--no-error-summary"]
        + ["reactor", "protocols", "services", "tests/typecheck/example.py"]
        + sorted(paths),
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    elapsed = time.monotonic() - started
    print("mypy took %.1f s" % (elapsed,))
    return completed, paths


def _snippetOf(path, paths):
    # mypy names files relative to its working directory when it can.
    return paths.get(os.path.normpath(os.path.join(ROOT, path)))


def _reported(completed, paths):
    # {(snippet name, line, code)} of the errors mypy printed in snippets.
    found = set()
    for line in completed.stdout.splitlines():
        match = ERROR.match(line)
        if match and _snippetOf(match["path"], paths) is not None:
            found.add((_snippetOf(match["path"], paths), int(match["line"]), match["code"]))
    return found


def test_projectAndExampleTypeCheck(mypyRun):
    completed, paths = mypyRun
    projectErrors = [
        line
        for line in completed.stdout.splitlines()
        if ": error:" in line and _snippetOf(line.split(":", 1)[0], paths) is None
    ]
    assert projectErrors == [], completed.stdout
    # 0 is success, 1 errors found (the snippets'); anything else is a crash.
    assert completed.returncode in (0, 1), completed.stderr


def test_snippetMistakesAreRefused(mypyRun):
    completed, paths = mypyRun
    expected = set()
    for name, source in SNIPPETS.items():
        for number, text in enumerate(source.lstrip("\n").splitlines(), 1):
            mark = MARK.search(text)
            if mark:
                expected.add((name, number, mark["code"]))
    reported = _reported(completed, paths)
    assert sorted(reported) == sorted(expected), completed.stdout
    # Every snippet holds at least one mistake: none passes unseen.
    assert {entry[0] for entry in expected} == set(SNIPPETS)


def test_exampleRuns():
    from tests.typecheck.example import main

    assert main() == {
        "description": "42 lines",
        "total": 82,
        "summary": "41, [41, 1]",
        "everything": [(True, 82), (True, 41)],
        "ratio": 0,
        "started": True,
    }
