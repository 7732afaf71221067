"""
No module reads another module's private attributes, checked with ast.

A private name (one leading underscore) is free to change with its module;
a read of it from elsewhere turns that refactor into a silent break, the
worst kind through ``getattr(x, "_name", None)``, which just takes the
default.  What crosses modules is public, or lives in a private module
(``reactor._fdset``), whose names are its package's internal interface,
documented in its docstring.  Two rules:

- ``x._name``, and ``getattr``/``hasattr`` of ``"_name"``, where x is not
  ``self`` or ``cls`` (a class's own attributes, inherited ones included),
  is allowed only when the module itself defines ``_name`` (assigns it,
  declares it in ``__slots__``, or defines a function or class of that name).
- ``from module import _name`` and ``module._name`` are allowed only when
  module is private (its last part starts with an underscore).

ALLOWED names the few documented exceptions, each with its reason.
"""

import ast

import pytest

from tests.test_import_cycles import PACKAGES, ROOT, projectModules

# (path, what is read): documented internal interfaces read across modules.
ALLOWED = {
    # The test janitor stops the reactor's pool as Twisted's trial does, through
    # the reactor's _stopThreadPool (documented there as this interface).
    ("reactor/pytestplugin.py", "reactor._stopThreadPool"),
    # The TLS fast path calls OpenSSL with a pyOpenSSL Connection's own
    # pointers and error translation; it checks they are there (else the
    # Connection's public methods are used) and names the pyOpenSSL
    # versions checked, in reactor/_tlsfast.py's docstring.
    ("reactor/_tlsfast.py", "connection._ssl"),
    ("reactor/_tlsfast.py", "connection._into_ssl"),
    ("reactor/_tlsfast.py", "connection._from_ssl"),
    ("reactor/_tlsfast.py", "connection._raise_ssl_error"),
    ("reactor/_tlsfast.py", "connection._handle_bio_errors"),
}


def _isPrivate(name):
    return name.startswith("_") and not name.startswith("__")


def _definedNames(tree):
    # Every name the module gives a value to, in any scope.
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, ast.Name) and isinstance(node.ctx, ast.Store):
            names.add(node.id)
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, (ast.Store, ast.Del)):
            names.add(node.attr)
        elif isinstance(node, ast.Assign) and any(
            isinstance(target, ast.Name) and target.id == "__slots__" for target in node.targets
        ):
            names.update(
                item.value
                for item in ast.walk(node.value)
                if isinstance(item, ast.Constant) and isinstance(item.value, str)
            )
    return names


def _importedModules(tree, modules):
    # {local name: module} for ``import a.b as c`` and ``from a import b``
    # (b a module); a module outside the project maps to None: its private
    # names (sys._getframe, os._exit) are not the project's to rule on.
    bound = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                local = alias.asname or alias.name.partition(".")[0]
                name = alias.name if alias.asname else local
                bound[local] = name if name in modules else None
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            inProject = node.module.partition(".")[0] in PACKAGES
            for alias in node.names:
                full = "%s.%s" % (node.module, alias.name)
                if full in modules or not inProject:
                    bound[alias.asname or alias.name] = full if full in modules else None
    return bound


def privateReads(path, modules):
    """Return "line: what" for each read of another module's private name in path."""
    tree = ast.parse(path.read_text(), filename=str(path))
    defined = _definedNames(tree)
    imported = _importedModules(tree, modules)
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module in modules and not node.level:
            if not _isPrivate(node.module.rpartition(".")[2]):
                for alias in node.names:
                    isModule = "%s.%s" % (node.module, alias.name) in modules
                    if _isPrivate(alias.name) and not isModule:
                        found.append((node.lineno, "from %s import %s" % (node.module, alias.name)))
        elif isinstance(node, ast.Attribute) and isinstance(node.ctx, ast.Load):
            found.extend(_attributeRead(node, defined, imported))
        elif _isAttributeCall(node):
            name = node.args[1].value
            owner = ast.unparse(node.args[0])
            if _isPrivate(name) and owner not in ("self", "cls") and name not in defined:
                found.append((node.lineno, "%s(%s, %r)" % (node.func.id, owner, name)))
    return ["%d: %s" % entry for entry in sorted(found)]


def _attributeRead(node, defined, imported):
    if not _isPrivate(node.attr):
        return []
    owner = node.value
    if isinstance(owner, ast.Name) and owner.id in imported:
        module = imported[owner.id]
        if module is None or _isPrivate(module.rpartition(".")[2]):
            return []
        return [(node.lineno, "%s.%s" % (module, node.attr))]
    if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
        return []
    if node.attr in defined:
        return []
    return [(node.lineno, "%s.%s" % (ast.unparse(owner), node.attr))]


def _isAttributeCall(node):
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id in ("getattr", "hasattr")
        and len(node.args) >= 2
        and isinstance(node.args[1], ast.Constant)
        and isinstance(node.args[1].value, str)
    )


def packageViolations(package, root=ROOT, packages=PACKAGES):
    """Return "path:line: what" for each private read found in package."""
    modules = projectModules(root, packages)
    found = []
    for module, path in sorted(modules.items()):
        if module.partition(".")[0] == package:
            where = path.relative_to(root)
            for read in privateReads(path, modules):
                if (where.as_posix(), read.partition(": ")[2]) not in ALLOWED:
                    found.append("%s:%s" % (where, read))
    return found


@pytest.mark.parametrize("package", PACKAGES)
def test_noPrivateReadsAcrossModules(package):
    found = packageViolations(package)
    assert found == [], "\n".join(found)


def test_checkerSeesEachKindOfRead(tmp_path):
    package = tmp_path / "planted"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "_internal.py").write_text("def _helper():\n    pass\n")
    (package / "public.py").write_text(
        "class Port:\n"
        "    __slots__ = ('_session',)\n"
        "    def __init__(self):\n"
        "        self._index = 0\n"
        "def _family(host):\n"
        "    return host\n"
    )
    (package / "user.py").write_text(
        "import os\n"
        "from planted import _internal, public\n"
        "from planted._internal import _helper\n"
        "from planted.public import Port, _family\n"
        "def use(endpoint, transport):\n"
        "    _internal._helper()\n"
        "    os._exit\n"
        "    public._family(1)\n"
        "    transport._session = 1\n"
        "    return (\n"
        "        endpoint._port,\n"
        "        getattr(endpoint, '_interface', None),\n"
        "        transport._session,\n"
        "        hasattr(transport, '_index'),\n"
        "        getattr(endpoint, 'port'),\n"
        "    )\n"
        "class Mine(Port):\n"
        "    def size(self):\n"
        "        return self._index\n"
    )
    assert packageViolations("planted", tmp_path, ("planted",)) == [
        "planted/user.py:4: from planted.public import _family",
        "planted/user.py:8: planted.public._family",
        "planted/user.py:11: endpoint._port",
        "planted/user.py:12: getattr(endpoint, '_interface')",
        "planted/user.py:14: hasattr(transport, '_index')",
    ]
