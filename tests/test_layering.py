"""
The layering rule, checked with ast: reactor/ imports nothing from protocols/
or services/; protocols/ imports nothing from services/.  Imports inside
functions count too: a lazy upward import is still an upward dependency.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
FORBIDDEN = {"reactor": ("protocols", "services"), "protocols": ("services",)}


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
