"""
The global reactor: installed on first use, or chosen by name, once.

Each check runs in a subprocess so this process's global reactor stays
untouched.
"""

import os
import subprocess
import sys

import pytest

import reactor as loom
from reactor.pytestplugin import REACTOR_NAMES

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def runPython(code):
    result = subprocess.run(
        [sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=30
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()


def test_firstUseInstallsTheDefault():
    out = runPython(
        "from reactor import reactor; import reactor as r\n"
        "from reactor.error import ReactorAlreadyInstalledError\n"
        "print(type(reactor).__name__, r.reactor is reactor)\n"
        "try: r.install('poll')\n"
        "except ReactorAlreadyInstalledError: print('refused')\n"
    )
    assert out == ["EPollReactor", "True", "refused"]


@pytest.mark.parametrize("name", REACTOR_NAMES)
def test_installByName(name):
    out = runPython(
        "import reactor as r\n"
        "from reactor.error import ReactorAlreadyInstalledError\n"
        "installed = r.install(%r)\n"
        "from reactor import reactor\n"
        "print(type(reactor).__name__, reactor is installed)\n"
        "try: r.install(%r)\n"
        "except ReactorAlreadyInstalledError: print('refused')\n" % (name, name)
    )
    assert out == [loom.getReactorClass(name).__name__, "True", "refused"]


def test_getReactorInstallsOnlyWhenAskedForTheGlobalOne():
    out = runPython(
        "import reactor as r\n"
        "given = object()\n"
        "print(r.getReactor(given) is given, r.installedReactor())\n"
        "theReactor = r.getReactor()\n"
        "print(type(theReactor).__name__, r.installedReactor() is theReactor)\n"
        "from reactor import reactor\n"
        "print(reactor is theReactor is r.getReactor(None))\n"
    )
    assert out == ["True", "None", "EPollReactor", "True", "True"]


def test_unknownNameIsRefused():
    with pytest.raises(ValueError, match="select"):
        loom.getReactorClass("kqueue")


@pytest.mark.parametrize("name", REACTOR_NAMES)
def test_everyReactorClassStandsAlone(name):
    first, second = loom.getReactorClass(name)(), loom.getReactorClass(name)()
    try:
        assert first is not second
        calls = []
        first.callLater(0, calls.append, "first")
        first.iterate(0)
        second.iterate(0)
        assert calls == ["first"]
    finally:
        first.close()
        second.close()


@pytest.mark.parametrize("name", REACTOR_NAMES)
def test_everyReactorProvidesTheCoreInterfaces(name):
    from zope.interface.verify import verifyObject

    from reactor.interfaces import IReactorCore, IReactorFDSet, IReactorThreads, IReactorTime

    instance = loom.getReactorClass(name)()
    try:
        for interface in (IReactorCore, IReactorTime, IReactorFDSet, IReactorThreads):
            assert verifyObject(interface, instance)
    finally:
        instance.close()


def test_connectionSentinelsArePackageNames():
    from reactor import CONNECTION_DONE, CONNECTION_LOST
    from reactor.error import ConnectionDone, ConnectionLost

    assert isinstance(CONNECTION_DONE, ConnectionDone)
    assert isinstance(CONNECTION_LOST, ConnectionLost)
    assert CONNECTION_DONE is loom.error.CONNECTION_DONE
    assert CONNECTION_LOST is loom.error.CONNECTION_LOST


def _globalReactorLookups(root):
    # Where a module asks for the global reactor itself, at any depth:
    # ``from reactor import reactor``, or ``.reactor`` of the package.
    import ast

    from tests.test_import_cycles import projectModules

    found = []
    for module, path in sorted(projectModules(root).items()):
        if module == "reactor":
            continue
        tree = ast.parse(path.read_text(), filename=str(path))
        packageNames = set()
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                packageNames.update(
                    alias.asname or alias.name for alias in node.names if alias.name == "reactor"
                )
            elif isinstance(node, ast.ImportFrom) and node.module == "reactor":
                if any(alias.name == "reactor" for alias in node.names):
                    found.append("%s:%d" % (module, node.lineno))
        for node in ast.walk(tree):
            if (
                isinstance(node, ast.Attribute)
                and node.attr == "reactor"
                and isinstance(node.value, ast.Name)
                and node.value.id in packageNames
            ):
                found.append("%s:%d" % (module, node.lineno))
    return found


def test_theGlobalReactorIsLookedUpInOnePlace(tmp_path):
    # reactor.getReactor is the one lookup: a copy elsewhere (there were six
    # _globalReactor functions, and inline imports) drifts from it.
    from tests.test_import_cycles import ROOT

    assert _globalReactorLookups(ROOT) == []
    # The check itself finds both spellings.
    package = tmp_path / "reactor"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "copy.py").write_text(
        "def f():\n    from reactor import reactor\n"
        "def g():\n    import reactor as loom\n    return loom.reactor\n"
    )
    assert _globalReactorLookups(tmp_path) == ["reactor.copy:2", "reactor.copy:5"]
