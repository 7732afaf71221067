"""
No private function, method or class that nothing uses.

A private name can only be used from inside the project, so one whose name
appears nowhere but in its own ``def`` (in reactor/, protocols/, services/,
bin/, benchmarks/ or tests/) is dead: kept "for tests" that no longer call
it, or left behind by a refactor.  A method that overrides one of a base
class (``_key_from_fd`` of a stdlib selector) is called by that base, so it
is not counted.
"""

import ast
import importlib
import re

from tests.test_import_cycles import PACKAGES, ROOT, projectModules

SEARCHED = (*PACKAGES, "bin", "benchmarks", "tests")
WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def _words(root, directories):
    counts = {}
    for directory in directories:
        for path in (root / directory).rglob("*"):
            if path.is_file() and (path.suffix in (".py", ".tac") or path.parent.name == "bin"):
                for word in WORD.findall(path.read_text(errors="replace")):
                    counts[word] = counts.get(word, 0) + 1
    return counts


def _privateDefinitions(tree):
    # Yield (lineno, name, enclosing class name or None).
    for node in tree.body:
        yield from _definitionsIn(node, None)


def _definitionsIn(node, className):
    if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
        name = node.name
        if name.startswith("_") and not name.startswith("__"):
            yield node.lineno, name, className
        if isinstance(node, ast.ClassDef):
            for child in node.body:
                yield from _definitionsIn(child, node.name)
    elif isinstance(node, (ast.If, ast.Try)):
        for child in ast.iter_child_nodes(node):
            yield from _definitionsIn(child, className)


def _overrides(module, className, name):
    # Whether className's method name overrides an attribute of a base class.
    cls = getattr(importlib.import_module(module), className, None)
    if cls is None:
        return False
    return any(name in vars(base) for base in cls.__mro__[1:])


def unusedPrivateNames(root=ROOT, packages=PACKAGES, searched=SEARCHED):
    """Return "path:line name" for each private definition nothing uses."""
    counts = _words(root, searched)
    unused = []
    for module, path in sorted(projectModules(root, packages).items()):
        tree = ast.parse(path.read_text(), filename=str(path))
        for lineno, name, className in _privateDefinitions(tree):
            if counts.get(name, 0) > 1:
                continue
            if className is not None and _overrides(module, className, name):
                continue
            unused.append("%s:%d %s" % (path.relative_to(root), lineno, name))
    return unused


def test_noUnusedPrivateDefinitions():
    unused = unusedPrivateNames()
    assert unused == [], "\n".join(unused)


def test_checkerFindsAnUnusedHelper(tmp_path, monkeypatch):
    package = tmp_path / "planted"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "mod.py").write_text(
        "import selectors\n"
        "def _used():\n    pass\n"
        "def _plantedLeftover():\n    pass\n"
        "class Selector(selectors.DefaultSelector):\n"
        "    def _key_from_fd(self, fd):\n        return None\n"
        "    def _neverCalled(self):\n        return _used()\n"
    )
    monkeypatch.syspath_prepend(str(tmp_path))
    assert unusedPrivateNames(tmp_path, ("planted",), ("planted",)) == [
        "planted/mod.py:4 _plantedLeftover",
        "planted/mod.py:9 _neverCalled",
    ]
