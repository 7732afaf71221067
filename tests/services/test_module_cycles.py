"""
services/ has no import cycle, hidden or not, and each of its modules can be
the first one a program imports.

Every import counts, at module level or inside a function, because a cycle
hidden by a function-level import or a module ``__getattr__`` is still a
cycle: the two modules cannot be understood, or changed, one without the
other.  The graph is read with ast; a cycle is a strongly connected set of
modules.  (logfile and _loghandlers used to import each other, and so did
lifecycle and check.)
"""

import ast
import os
import pathlib
import subprocess
import sys

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent.parent
PACKAGE = "services"


def _moduleName(path):
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _modules():
    """{dotted name: path} of every module and package under services/."""
    return {_moduleName(path): path for path in sorted((ROOT / PACKAGE).rglob("*.py"))}


def _targets(node, module, isPackage):
    # The dotted names an import statement may load.
    if isinstance(node, ast.Import):
        return [alias.name for alias in node.names]
    base = node.module or ""
    if node.level:
        package = module.split(".") if isPackage else module.split(".")[:-1]
        package = package[: len(package) - node.level + 1]
        base = ".".join(package + ([base] if base else []))
    return [base] + ["%s.%s" % (base, alias.name) for alias in node.names]


def _graph():
    """{module: the set of services modules it imports}."""
    modules = _modules()
    graph = {}
    for module, path in modules.items():
        tree = ast.parse(path.read_text(), filename=str(path))
        isPackage = path.name == "__init__.py"
        edges = set()
        for node in ast.walk(tree):
            if isinstance(node, (ast.Import, ast.ImportFrom)):
                for target in _targets(node, module, isPackage):
                    # "from services.loomd import check" loads services.loomd.check;
                    # "from services.service import Service" loads services.service.
                    while target and target not in modules:
                        target = target.rpartition(".")[0]
                    if target and target != module:
                        edges.add(target)
        graph[module] = edges
    return graph


def _cycles(graph):
    """The strongly connected sets of more than one module (Tarjan), each sorted."""
    index, low, stack, onStack, found = {}, {}, [], set(), []

    def visit(module):
        index[module] = low[module] = len(index)
        stack.append(module)
        onStack.add(module)
        for target in sorted(graph.get(module, ())):
            if target not in index:
                visit(target)
                low[module] = min(low[module], low[target])
            elif target in onStack:
                low[module] = min(low[module], index[target])
        if low[module] == index[module]:
            component = []
            while True:
                member = stack.pop()
                onStack.discard(member)
                component.append(member)
                if member == module:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for module in sorted(graph):
        if module not in index:
            visit(module)
    return sorted(found)


def test_noImportCycleInServices():
    assert _cycles(_graph()) == []


def test_checkerSeesACycleHiddenInAFunction(tmp_path, monkeypatch):
    # The checker must be able to fail: a cycle through a function-level
    # import and a relative import, next to a one-way dependency.
    package = tmp_path / PACKAGE / "loomd"
    package.mkdir(parents=True)
    (tmp_path / PACKAGE / "__init__.py").write_text("")
    (package / "__init__.py").write_text("")
    (package / "logfile.py").write_text("def f():\n    from services.loomd import handlers\n")
    (package / "handlers.py").write_text("from .logfile import Formatter\n")
    (package / "runner.py").write_text("from services.loomd.logfile import f\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    assert _cycles(_graph()) == [["services.loomd.handlers", "services.loomd.logfile"]]


@pytest.mark.parametrize("module", sorted(_modules()))
def test_moduleImportsFirstInAFreshInterpreter(module):
    result = subprocess.run(
        [sys.executable, "-c", "import %s" % (module,)],
        cwd=ROOT,
        env=dict(os.environ, PYTHONPATH=str(ROOT)),
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert result.returncode == 0, result.stderr
