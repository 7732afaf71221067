"""
Every module of the project imports first, alone, in a fresh interpreter.

A module that works only when something else was imported before it (the
other half of an import cycle, a registration done elsewhere) passes every
test that happens to import things in the right order, and fails for the user
who imports it first.  So each module gets an interpreter of its own, in
which it is the first project module imported; and importing it must not
install the global reactor (modules look it up when they need it, see
reactor.getReactor).  The modules are those test_import_cycles finds by
walking the packages; the interpreters run a few at a time.
"""

import concurrent.futures
import os
import subprocess
import sys

from tests.test_import_cycles import ROOT, projectModules

# Run in each fresh interpreter, with the module's name as argument.
CHILD = """
import importlib, sys
importlib.import_module(sys.argv[1])
import reactor
if reactor.installedReactor() is not None:
    sys.exit("importing %s installed the global reactor" % (sys.argv[1],))
"""

# For the planted packages of the tests below, which have no reactor to check.
PLANTED_CHILD = "import importlib, sys; importlib.import_module(sys.argv[1])"


def importFailures(modules, root=ROOT, child=CHILD):
    """
    Import each module first and alone, each in a fresh interpreter.

    :return: {module: the end of what its interpreter printed} for each that failed.
    """

    def importAlone(module):
        process = subprocess.run(
            [sys.executable, "-c", child, module],
            cwd=root,
            env=dict(os.environ, PYTHONPATH=str(root), PYTHONDONTWRITEBYTECODE="1"),
            capture_output=True,
            text=True,
            timeout=60,
            check=False,
        )
        return module, process.returncode, process.stderr

    failures = {}
    workers = min(4, (os.cpu_count() or 1) + 1)
    with concurrent.futures.ThreadPoolExecutor(workers) as pool:
        for module, returncode, stderr in pool.map(importAlone, sorted(modules)):
            if returncode != 0:
                failures[module] = "\n".join(stderr.strip().splitlines()[-3:])
    return failures


def test_everyModuleImportsFirstAndAlone():
    failures = importFailures(projectModules())
    report = "\n".join("%s:\n%s" % (module, text) for module, text in failures.items())
    assert failures == {}, report


def test_importOrderTrapIsCaught(tmp_path):
    # The shape of the old reactor.defer and reactor._deferlist: first
    # imports second at its bottom, so importing first works (and so does any
    # process that imported first already), and importing second first fails.
    package = tmp_path / "planted"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "first.py").write_text("OTHER = 1\nfrom planted.second import VALUE\n")
    (package / "second.py").write_text("from planted.first import OTHER\nVALUE = OTHER + 1\n")
    modules = ["planted.first", "planted.second"]
    failures = importFailures(modules, tmp_path, PLANTED_CHILD)
    assert list(failures) == ["planted.second"]
    assert "ImportError: cannot import name 'VALUE'" in failures["planted.second"]
    assert "partially initialized module 'planted.second'" in failures["planted.second"]


def test_installingTheReactorOnImportIsCaught(tmp_path):
    # The check runs in the child, against the project's reactor package.
    package = tmp_path / "planted"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "eager.py").write_text("from reactor import reactor\n")
    (package / "lazy.py").write_text("def clock():\n    from reactor import reactor\n")
    env = "import sys; sys.path.insert(0, %r)\n" % (str(ROOT),)
    failures = importFailures(["planted.eager", "planted.lazy"], tmp_path, env + CHILD)
    assert failures == {"planted.eager": "importing planted.eager installed the global reactor"}
