"""
doc/architecture.md kept true: it names every module, and what it names exists.

The doc cites code in backticks, one citation never spanning two lines.  A
citation is checked by its shape:

- a path (no spaces, and a "/" or a name ending in .py, .tac, .md, .cfg or
  .toml): the file or folder exists, relative to the repository root;
- a name, dotted or not, maybe followed by a call's parentheses
  (`lineReceived`, `ReactorBase._doReadOrWrite`, `reactor.install`,
  `select.epoll`, `makeConnection()`):

  - the longest importable module it starts with is imported, and the rest
    are attributes of it, looked up with inspect.getattr_static, so that
    nothing runs (`reactor.listenTCP` would install the global reactor);
  - else `Class.member`: Class is defined at the top level of a module of
    the packages, and has member: on itself or a base class, as a name of a
    zope interface, or assigned to ``self.member`` in one of its methods;
  - else a single name is defined somewhere in the packages: a module, a
    class, a function or method, a name assigned at module or class level,
    or an attribute assigned to ``self``;

- anything else (an option such as `--check`, `READY=1`, `.tac`, a command
  with spaces) is not code and is not checked.

The section headed "## Not built yet" names what issues 17-21 will add: its
citations are not checked, and a module cited only there does not count as
documented.  Every .py file under reactor/, protocols/ and services/ must be
cited by its path somewhere else in the doc, so a module added without its
line in the tables fails here, naming the module.
"""

import ast
import functools
import importlib
import importlib.util
import inspect
import pathlib
import re

import pytest
from zope.interface.interface import InterfaceClass

ROOT = pathlib.Path(__file__).resolve().parent.parent
DOC = "doc/architecture.md"
PACKAGES = ("reactor", "protocols", "services")
FUTURE = "## Not built yet"

CITATION = re.compile(r"`([^`]+)`")
NAME = re.compile(r"^([A-Za-z_]\w*(?:\.[A-Za-z_]\w*)*)(?:\(.*\))?$")
PATH = re.compile(r"^\w[\w.-]*(/[\w.-]+)*/?$")
PATH_SUFFIXES = (".py", ".tac", ".md", ".cfg", ".toml")


class FormatError(ValueError):
    """The doc does not follow the format above; the message says where."""


def citations(text):
    """
    Return (line number, citation, in the future section) for each citation
    in text, fenced code left out.

    :raises FormatError: for a line with an odd number of backticks.
    """
    found, future, inFence = [], False, False
    for lineno, line in enumerate(text.splitlines(), 1):
        if line.startswith("```"):
            inFence = not inFence
            continue
        if inFence:
            continue
        if line.startswith("## "):
            future = line.startswith(FUTURE)
        if line.count("`") % 2:
            raise FormatError("%s:%d: a citation must not span lines" % (DOC, lineno))
        for citation in CITATION.findall(line):
            found.append((lineno, citation, future))
    return found


def isPath(citation):
    """Whether a citation names a file or folder rather than code."""
    if not PATH.match(citation):
        return False
    return "/" in citation or citation.endswith(PATH_SUFFIXES)


def moduleFiles(root, packages):
    """Return the paths, relative to root, of every .py file in the packages."""
    return sorted(
        path.relative_to(root).as_posix()
        for package in packages
        for path in (root / package).rglob("*.py")
    )


class Definitions:
    """
    What the packages define, read with ast (nothing is imported).

    :ivar topLevel: {name: set of dotted module names defining it at top level}.
    :ivar names: every name defined anywhere (see the module docstring).
    :ivar selfAttributes: {class name: names assigned to self in its methods}.
    """

    def __init__(self, root, packages):
        self.topLevel = {}
        self.names = set()
        self.selfAttributes = {}
        for relative in moduleFiles(root, packages):
            parts = relative[: -len(".py")].split("/")
            if parts[-1] == "__init__":
                parts.pop()
            self.names.update(parts)
            tree = ast.parse((root / relative).read_text(), filename=relative)
            self._read(tree, ".".join(parts))

    def _read(self, tree, module):
        for name in _boundNames(tree.body):
            self.topLevel.setdefault(name, set()).add(module)
        for node in ast.walk(tree):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                self.names.add(node.name)
            elif isinstance(node, ast.ClassDef):
                self.names.add(node.name)
                self.names.update(_boundNames(node.body))
                assigned = self.selfAttributes.setdefault(node.name, set())
                assigned.update(_selfAttributes(node))
                self.names.update(assigned)
        self.names.update(_boundNames(tree.body))


def _boundNames(body):
    # The names a module or class body binds: defs, classes, assignments.
    for node in body:
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            yield node.name
        elif isinstance(node, (ast.Assign, ast.AnnAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for leaf in ast.walk(target):
                    if isinstance(leaf, ast.Name):
                        yield leaf.id


def _selfAttributes(classNode):
    for node in ast.walk(classNode):
        if (
            isinstance(node, ast.Attribute)
            and isinstance(node.ctx, ast.Store)
            and isinstance(node.value, ast.Name)
            and node.value.id == "self"
        ):
            yield node.attr


@functools.lru_cache(maxsize=None)
def definitions(root, packages):
    """Return the Definitions of the packages under root (read once)."""
    return Definitions(root, packages)


_MISSING = object()
_UNWALKABLE = object()  # assigned to self: exists, but has no attributes to look at


def _member(obj, name, defined):
    try:
        return inspect.getattr_static(obj, name)
    except AttributeError:
        pass
    if isinstance(obj, InterfaceClass) and name in obj:
        return obj[name]
    if isinstance(obj, type):
        for cls in obj.__mro__:
            if name in defined.selfAttributes.get(cls.__name__, ()):
                return _UNWALKABLE
    return _MISSING


def _walk(obj, names, defined):
    for name in names:
        if obj is _UNWALKABLE:
            return False
        obj = _member(obj, name, defined)
        if obj is _MISSING:
            return False
    return True


def _importable(name):
    try:
        return importlib.util.find_spec(name) is not None
    except (ImportError, ValueError, AttributeError):
        return False


def nameExists(name, defined):
    """Whether a dotted name resolves as the module docstring says."""
    parts = name.split(".")
    for end in range(len(parts), 0, -1):
        if _importable(".".join(parts[:end])):
            module = importlib.import_module(".".join(parts[:end]))
            return _walk(module, parts[end:], defined)
    if len(parts) > 1:
        for moduleName in sorted(defined.topLevel.get(parts[0], ())):
            module = importlib.import_module(moduleName)
            if _walk(inspect.getattr_static(module, parts[0]), parts[1:], defined):
                return True
        return False
    return name in defined.names


def staleCitations(text, root=ROOT, packages=PACKAGES):
    """Return a line per citation outside the future section that names nothing."""
    defined = definitions(root, packages)
    stale = []
    for lineno, citation, future in citations(text):
        if future:
            continue
        where = "%s:%d" % (DOC, lineno)
        if isPath(citation):
            if not (root / citation).exists():
                stale.append("%s: `%s` does not exist" % (where, citation))
            continue
        match = NAME.match(citation)
        if match and not nameExists(match.group(1), defined):
            stale.append("%s: `%s` is not defined in the code" % (where, citation))
    return stale


def undocumentedModules(text, root=ROOT, packages=PACKAGES):
    """Return the module files that no citation outside the future section names."""
    cited = {citation for _, citation, future in citations(text) if not future}
    return [path for path in moduleFiles(root, packages) if path not in cited]


def _doc():
    return (ROOT / DOC).read_text()


def test_everyModuleHasALine():
    missing = undocumentedModules(_doc())
    assert missing == [], "\n".join(
        "%s has no line in %s: add it to the table of its package" % (path, DOC) for path in missing
    )


def test_everyCitationExists():
    stale = staleCitations(_doc())
    assert stale == [], "\n".join(stale)


def test_readmeListsItFirst():
    readme = (ROOT / "README.md").read_text()
    documentation = readme.split("## Documentation\n", 1)[1].lstrip("\n")
    assert documentation.splitlines()[0].startswith("- %s " % (DOC,))


# The checker itself: each test below shows a kind of staleness it reports.


def _tree(tmp_path, files):
    for relative in files:
        path = tmp_path / relative
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text('"""A module."""\n')
    return tmp_path


def test_aModuleWithoutALineIsReported(tmp_path):
    root = _tree(tmp_path, ["reactor/__init__.py", "reactor/old.py", "reactor/new.py"])
    text = "| `reactor/__init__.py` | the package |\n| `reactor/old.py` | old |\n"
    assert undocumentedModules(text, root, ("reactor",)) == ["reactor/new.py"]


def test_aModuleNamedOnlyAsFutureIsNotDocumented(tmp_path):
    root = _tree(tmp_path, ["reactor/__init__.py", "reactor/tls.py"])
    text = "`reactor/__init__.py`\n\n## Not built yet (issues 17-21)\n\n- `reactor/tls.py`\n"
    assert undocumentedModules(text, root, ("reactor",)) == ["reactor/tls.py"]
    assert staleCitations(text, root, ("reactor",)) == []


def test_staleNamesAndPathsAreReported():
    text = (
        "`EPollReactor.doIteration` and `EPollReactor.doPoll`\n"
        "`StreamTransport.doRead()`, `StreamTransport.doReadAll()`\n"
        "`reactor/epollreactor.py`, `reactor/gone.py`\n"
        "`lineReceived`, `lineReceivedd`, `FDSet.table`, `FDSet.tables`\n"
        "`services.loomd.runner.main`, `services.loomd.runner.mains`\n"
        "`IServiceMaker.makeService`, `IServiceMaker.makeServices`\n"
        "`--check`, `READY=1`, `.tac`, `loomd -n -y echo.tac`\n"
    )
    assert staleCitations(text) == [
        "doc/architecture.md:1: `EPollReactor.doPoll` is not defined in the code",
        "doc/architecture.md:2: `StreamTransport.doReadAll()` is not defined in the code",
        "doc/architecture.md:3: `reactor/gone.py` does not exist",
        "doc/architecture.md:4: `lineReceivedd` is not defined in the code",
        "doc/architecture.md:4: `FDSet.tables` is not defined in the code",
        "doc/architecture.md:5: `services.loomd.runner.mains` is not defined in the code",
        "doc/architecture.md:6: `IServiceMaker.makeServices` is not defined in the code",
    ]


def test_aNameIsLookedUpWithoutRunningCode(monkeypatch):
    # Getting reactor.listenTCP would install the global reactor (the
    # package's module __getattr__): a citation is looked at, never run.
    import reactor

    monkeypatch.setattr(reactor, "_installed", None)
    assert staleCitations("`reactor.install` and `reactor.listenTCP`\n") == [
        "doc/architecture.md:1: `reactor.listenTCP` is not defined in the code"
    ]
    assert reactor.installedReactor() is None


def test_aCitationSpanningLinesIsRefused():
    with pytest.raises(FormatError, match="architecture.md:1: a citation must not span lines"):
        citations("one `EPollReactor.\ndoIteration` two\n")
