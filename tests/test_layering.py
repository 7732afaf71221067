"""
The layering rule, checked with ast: reactor/ imports nothing from protocols/
or services/; protocols/ imports nothing from services/.  Imports inside
functions count too: a lazy upward import is still an upward dependency.

And loomd's machinery (services/loomd/) is imported by nothing else: not by
the library, nor by the examples.  The only exceptions are the documented
old paths DESIGN.md names (services.runner, the entry point, and
services.daemon, .logfile, .systemd, .deploy), each a thin re-export:
a docstring, imports and ``__all__``, holding no code of its own.
"""

import ast
import importlib
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
FORBIDDEN = {"reactor": ("protocols", "services"), "protocols": ("services",)}

DAEMONIZER = "services.loomd"
# Where the daemonizer must not be imported: every package but its own, and
# the examples users copy.
OUTSIDE_DAEMONIZER = ("reactor", "protocols", "services", "doc/examples")
# The documented paths that stay, re-exporting the daemonizer's public names.
REEXPORTS = {
    "services/runner.py": "services.loomd.runner",
    "services/daemon.py": "services.loomd.daemon",
    "services/logfile.py": "services.loomd.logfile",
    "services/systemd.py": "services.loomd.systemd",
    "services/deploy.py": "services.loomd.deploy",
}


def _imports(path):
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            yield node.lineno, node.module


def _violations(package):
    found = []
    for path in sorted((ROOT / package).rglob("*.py")):
        for lineno, module in _imports(path):
            top = module.split(".")[0]
            if top in FORBIDDEN[package]:
                found.append("%s:%d imports %s" % (path.relative_to(ROOT), lineno, module))
    return found


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_noUpwardImports(package):
    assert _violations(package) == []


def test_checkerSeesAnUpwardImport(tmp_path, monkeypatch):
    # The checker itself must be able to fail.
    fake = tmp_path / "reactor"
    fake.mkdir()
    (fake / "bad.py").write_text("def f():\n    from services import runner\n")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    assert _violations("reactor") == ["reactor/bad.py:2 imports services"]


# -- nothing imports the daemonizer -------------------------------------------


def _packageOf(path):
    # "services/loomd/check.py" -> "services.loomd"; a package's __init__ is
    # its own package.
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1])


def _importedModules(path):
    """
    Yield (line, dotted name) for every import in path, relative imports
    resolved, ``from package import name`` giving package.name.
    """
    tree = ast.parse(path.read_text(), filename=str(path))
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, alias.name
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                package = _packageOf(path).split(".")
                package = package[: len(package) - node.level + 1]
                base = ".".join(package + ([base] if base else []))
            for alias in node.names:
                yield node.lineno, "%s.%s" % (base, alias.name) if base else alias.name


def _daemonizerImports():
    found = []
    for where in OUTSIDE_DAEMONIZER:
        for path in sorted((ROOT / where).rglob("*")):
            relative = path.relative_to(ROOT).as_posix()
            if path.suffix not in (".py", ".tac") or relative.startswith("services/loomd/"):
                continue
            if relative in REEXPORTS:
                continue
            for lineno, module in _importedModules(path):
                if module == DAEMONIZER or module.startswith(DAEMONIZER + "."):
                    found.append("%s:%d imports %s" % (relative, lineno, module))
    return found


def _notThin(relative):
    """What in the re-exporting module at relative is more than a re-export."""
    tree = ast.parse((ROOT / relative).read_text())
    extra = []
    for index, node in enumerate(tree.body):
        if index == 0 and isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant):
            continue  # the docstring saying where the code lives now
        if isinstance(node, ast.ImportFrom) and node.level == 0:
            continue
        if isinstance(node, ast.Assign) and [_name(t) for t in node.targets] == ["__all__"]:
            continue
        if _isMainGuardCallingMain(node):
            continue  # python -m services.runner
        extra.append("%s:%d %s" % (relative, node.lineno, type(node).__name__))
    return extra


def _name(target):
    return target.id if isinstance(target, ast.Name) else None


def _isMainGuardCallingMain(node):
    return (
        isinstance(node, ast.If) and ast.unparse(node) == "if __name__ == '__main__':\n    main()"
    )


def test_nothingImportsTheDaemonizer():
    assert _daemonizerImports() == []


@pytest.mark.parametrize("relative", sorted(REEXPORTS))
def test_documentedOldPathsAreThinReExports(relative):
    assert _notThin(relative) == []
    old = importlib.import_module(relative[: -len(".py")].replace("/", "."))
    assert old.__doc__ and REEXPORTS[relative] in old.__doc__
    # Every public name is the very object of the module it comes from.
    sources = _reExported(relative)
    assert sorted(sources) == sorted(old.__all__)
    for name, source in sources.items():
        assert getattr(importlib.import_module(source), name) is getattr(old, name), name


def _reExported(relative):
    # {name: the module it is imported from} for the imports of relative.
    tree = ast.parse((ROOT / relative).read_text())
    return {
        alias.asname or alias.name: node.module
        for node in tree.body
        if isinstance(node, ast.ImportFrom)
        for alias in node.names
    }


def test_daemonizerCheckerSeesImportsAndCode(tmp_path, monkeypatch):
    # Both checks must be able to fail: an absolute, a relative and a
    # function-level import of the daemonizer, and a shim holding code.
    (tmp_path / "services" / "loomd").mkdir(parents=True)
    (tmp_path / "doc" / "examples").mkdir(parents=True)
    (tmp_path / "services" / "api.py").write_text(
        "from services.loomd import lifecycle\n"
        "from .loomd.runner import main\n"
        "def f():\n"
        "    import services.loomd.pidfile\n"
    )
    (tmp_path / "services" / "loomd" / "inside.py").write_text("from services.loomd import check\n")
    (tmp_path / "doc" / "examples" / "app.tac").write_text("from services import loomd\n")
    (tmp_path / "services" / "runner.py").write_text(
        '"""Moved."""\nfrom services.loomd.runner import main\ndef run():\n    pass\n'
    )
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    assert sorted(_daemonizerImports()) == [
        "doc/examples/app.tac:1 imports services.loomd",
        "services/api.py:1 imports services.loomd.lifecycle",
        "services/api.py:2 imports services.loomd.runner.main",
        "services/api.py:4 imports services.loomd.pidfile",
    ]
    assert _notThin("services/runner.py") == ["services/runner.py:3 FunctionDef"]
