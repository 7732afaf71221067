"""
No private attribute is read across modules, checked with ast.

A module's private names (one leading underscore) are its own business: a
refactor may rename or drop them.  Another module reading one, above all
through ``getattr(obj, "_name", None)``, would then break silently.  So:

- ``obj._name`` is allowed only on self, cls, or for a name the module
  defines itself (a function, a class, an attribute it assigns);
- ``getattr``/``hasattr``/``setattr`` with a literal private name are not
  allowed at all: what a module may read of another is a public attribute
  or a documented internal interface (listed in ALLOWED with its reason);
- ``from module import _name`` only for a private *module* (reactor._safeopen
  is shared on purpose), never for a private name inside a module.

Checked where the issue found such reads: services/ (loomd included) and the
pytest plugin.
"""

import ast
import pathlib

import pytest

ROOT = pathlib.Path(__file__).resolve().parent.parent
CHECKED = ("services", "reactor/pytestplugin.py")

# (module path, attribute): documented internal interfaces, with why.
ALLOWED = {
    # The reactor's internal interface for test janitors, as in Twisted,
    # whose trial calls reactor._stopThreadPool() too (its docstring says so).
    ("reactor/pytestplugin.py", "_stopThreadPool"),
    # The standard library's own "private" names that are its public API.
    ("*", "_exit"),  # os._exit, after fork
    ("*", "_getframe"),
    ("*", "_current_frames"),  # sys._current_frames: the blocked thread's stack
}

_ATTRIBUTE_CALLS = ("getattr", "hasattr", "setattr", "delattr")


def _isPrivate(name):
    return name.startswith("_") and not name.startswith("__")


def _definedNames(tree):
    """The names a module defines: functions, classes, assigned names and attributes."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Store):
            names.add(node.attr)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.alias):
            names.add(node.asname or node.name.split(".")[0])
    return names


def _isOwnObject(node):
    # self._x, cls._x, super()._x
    value = node.value
    if isinstance(value, ast.Name):
        return value.id in ("self", "cls")
    return isinstance(value, ast.Call) and getattr(value.func, "id", None) == "super"


def _allowed(relative, name):
    return (relative, name) in ALLOWED or ("*", name) in ALLOWED


def _isModule(dotted):
    base = ROOT.joinpath(*dotted.split("."))
    return base.with_suffix(".py").exists() or (base / "__init__.py").exists()


def _privateReads(path):
    relative = path.relative_to(ROOT).as_posix()
    tree = ast.parse(path.read_text(), filename=str(path))
    defined = _definedNames(tree)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _isPrivate(node.attr):
            if _isOwnObject(node) or node.attr in defined or _allowed(relative, node.attr):
                continue
            found.append("%s:%d reads %s" % (relative, node.lineno, ast.unparse(node)))
        elif (
            isinstance(node, ast.Call)
            and getattr(node.func, "id", None) in _ATTRIBUTE_CALLS
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _isPrivate(node.args[1].value)
        ):
            found.append("%s:%d calls %s" % (relative, node.lineno, ast.unparse(node)))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            for alias in node.names:
                private = _isPrivate(alias.name)
                if private and not _isModule("%s.%s" % (node.module, alias.name)):
                    found.append(
                        "%s:%d imports %s from %s"
                        % (relative, node.lineno, alias.name, node.module)
                    )
    return found


def _violations():
    found = []
    for where in CHECKED:
        target = ROOT / where
        paths = sorted(target.rglob("*.py")) if target.is_dir() else [target]
        for path in paths:
            found.extend(_privateReads(path))
    return found


def test_noPrivateAttributeIsReadAcrossModules():
    assert _violations() == []


@pytest.mark.parametrize(
    "source, expected",
    [
        ("def f(endpoint):\n    return endpoint._port\n", "reads endpoint._port"),
        (
            "def f(s):\n    return getattr(s, '_stopping', None)\n",
            "calls getattr(s, '_stopping', None)",
        ),
        ("from services.usage import _loomVersion\n", "imports _loomVersion from services.usage"),
        ("def f(launch):\n    launch._pidfilePath()\n", "reads launch._pidfilePath"),
    ],
)
def test_checkerSeesAPrivateRead(tmp_path, monkeypatch, source, expected):
    # The checker must be able to fail, and must let a module's own names be.
    (tmp_path / "services").mkdir()
    (tmp_path / "services" / "usage.py").write_text("def _loomVersion():\n    pass\n")
    (tmp_path / "services" / "bad.py").write_text(source)
    (tmp_path / "services" / "own.py").write_text(
        "class A:\n"
        "    def __init__(self):\n"
        "        self._x = 1\n"
        "def peek(a):\n"
        "    return a._x\n"
        "from reactor import _safeopen\n"
    )
    (tmp_path / "reactor").mkdir()
    (tmp_path / "reactor" / "_safeopen.py").write_text("")
    (tmp_path / "reactor" / "pytestplugin.py").write_text("")
    monkeypatch.setattr(__import__(__name__, fromlist=["ROOT"]), "ROOT", tmp_path)
    lineno = source.count("\n", 0, source.index(expected.split()[1].split("(")[0])) + 1
    assert _violations() == ["services/bad.py:%d %s" % (lineno, expected)]
