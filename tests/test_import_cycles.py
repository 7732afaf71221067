"""
No import cycles between the project's modules, checked with ast.

Every import counts as an edge of the graph: at module level, inside a
function (a lazy import is still a dependency, only a hidden one), in a
module ``__getattr__``, under ``if TYPE_CHECKING:`` (a type-only cycle is one
refactor away from a real one), and ``importlib.import_module`` of a literal
name.  A cycle fails the test with the modules it goes through and the line of
each import, so the message says which import to turn around.  The modules are
found by walking the packages reactor/, protocols/ and services/.
"""

import ast
import pathlib

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("reactor", "protocols", "services")


def projectModules(root=ROOT, packages=PACKAGES):
    """Return {dotted module name: path} for every module of the packages under root."""
    modules = {}
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            parts = path.relative_to(root).with_suffix("").parts
            packages = (root.joinpath(*parts[:i]) for i in range(1, len(parts)))
            if not all((directory / "__init__.py").exists() for directory in packages):
                continue  # a file in a directory that is not a package
            if parts[-1] == "__init__":
                parts = parts[:-1]
            modules[".".join(parts)] = path
    return modules


def importGraph(modules):
    """Return {module: {imported project module: line of its first import}}."""
    graph = {}
    for module, path in modules.items():
        edges = graph[module] = {}
        for lineno, candidates in _importedNames(module, path):
            target = _deepestModule(candidates, modules)
            if target is not None and target != module:
                edges.setdefault(target, lineno)
    return graph


def _importedNames(module, path):
    # Yield (lineno, names) per import, names being what it may depend on:
    # for ``from a import b``, "a.b" (b may be a submodule) and then "a".
    isPackage = path.name == "__init__.py"
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            for alias in node.names:
                yield node.lineno, [alias.name]
        elif isinstance(node, ast.ImportFrom):
            base = _absolute(module, isPackage, node.level, node.module)
            for alias in node.names:
                yield node.lineno, ["%s.%s" % (base, alias.name), base]
        elif _isImportModuleCall(node):
            yield node.lineno, [node.args[0].value]


def _absolute(module, isPackage, level, name):
    # The absolute name of a relative import's base.
    if not level:
        return name
    parts = module.split(".")
    if not isPackage:
        parts = parts[:-1]
    parts = parts[: len(parts) - (level - 1)]
    return ".".join(parts + ([name] if name else []))


def _isImportModuleCall(node):
    return (
        isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "import_module"
        and bool(node.args)
        and isinstance(node.args[0], ast.Constant)
        and isinstance(node.args[0].value, str)
    )


def _deepestModule(candidates, modules):
    # ``from a import b`` depends on a.b when that is a module, else on a.
    for name in candidates:
        while name:
            if name in modules:
                return name
            name = name.rpartition(".")[0]
    return None


def findCycles(graph):
    """
    Return the cycles of graph: for each set of modules that import each other
    (a strongly connected component of more than one module), its members and,
    for each member, the shortest cycle through it.
    """
    found = []
    for component in _stronglyConnected(graph):
        if len(component) > 1:
            cycles = {tuple(_shortestCycle(graph, member, component)) for member in component}
            found.append((sorted(component), sorted(cycles)))
    return sorted(found)


def _stronglyConnected(graph):
    # Tarjan's algorithm, iterative, so that a long chain needs no deep stack.
    index, lowlink, onStack, stack, components = {}, {}, set(), [], []
    for start in sorted(graph):
        if start in index:
            continue
        index[start] = lowlink[start] = len(index)
        stack.append(start)
        onStack.add(start)
        work = [(start, iter(sorted(graph[start])))]
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is None:
                work.pop()
                if work:
                    parent = work[-1][0]
                    lowlink[parent] = min(lowlink[parent], lowlink[node])
                if lowlink[node] == index[node]:
                    components.append(_popComponent(stack, onStack, node))
            elif child not in index:
                index[child] = lowlink[child] = len(index)
                stack.append(child)
                onStack.add(child)
                work.append((child, iter(sorted(graph[child]))))
            elif child in onStack:
                lowlink[node] = min(lowlink[node], index[child])
    return components


def _popComponent(stack, onStack, root):
    component = set()
    while True:
        member = stack.pop()
        onStack.discard(member)
        component.add(member)
        if member == root:
            return component


def _shortestCycle(graph, start, component):
    # Breadth first from start, inside its component, back to start; rotated
    # so that the smallest name comes first (one spelling per cycle).
    paths = {start: [start]}
    queue = [start]
    for node in queue:
        for child in sorted(graph[node]):
            if child == start:
                cycle = paths[node]
                first = cycle.index(min(cycle))
                cycle = cycle[first:] + cycle[:first]
                return cycle + [cycle[0]]
            if child in component and child not in paths:
                paths[child] = paths[node] + [child]
                queue.append(child)
    raise AssertionError("no cycle through %s" % (start,))


def describe(found, graph, modules, root=ROOT):
    """The report of findCycles' result: each cycle, with the line of each import."""
    lines = []
    for members, cycles in found:
        lines.append("modules importing each other: %s" % (", ".join(members),))
        for cycle in cycles:
            lines.append("  " + " -> ".join(cycle))
            for importer, imported in zip(cycle, cycle[1:], strict=False):
                where = modules[importer].relative_to(root)
                lines.append("    %s:%d imports %s" % (where, graph[importer][imported], imported))
    return "\n".join(lines)


def test_noImportCycles():
    modules = projectModules()
    graph = importGraph(modules)
    found = findCycles(graph)
    assert not found, "import cycles:\n" + describe(found, graph, modules)


def test_everyPackageIsWalked():
    # The scope is what the packages hold, not a list written here: a new
    # subpackage (services/loomd/, say) is in it without touching this file.
    modules = projectModules()
    assert {name.partition(".")[0] for name in modules} == set(PACKAGES)
    assert "reactor.defer" in modules and "services.plugins_builtin.echo" in modules


# -- the checker can fail ----------------------------------------------------------


def _plantPackage(root, files):
    package = root / "planted"
    package.mkdir()
    (package / "__init__.py").write_text("")
    for name, text in files.items():
        (package / name).write_text(text)
    return projectModules(root, ("planted",))


def test_checkerFindsAPlantedCycle(tmp_path):
    # The shape of the old reactor.defer and reactor._deferlist: each imports
    # the other, one of them at its bottom.
    modules = _plantPackage(
        tmp_path,
        {
            "first.py": "OTHER = 1\nfrom planted.second import VALUE  # noqa: E402\n",
            "second.py": "from planted.first import OTHER\nVALUE = OTHER + 1\n",
            "third.py": "from planted import first\n",
        },
    )
    graph = importGraph(modules)
    found = findCycles(graph)
    assert found == [
        (
            ["planted.first", "planted.second"],
            [("planted.first", "planted.second", "planted.first")],
        )
    ]
    assert describe(found, graph, modules, tmp_path).splitlines() == [
        "modules importing each other: planted.first, planted.second",
        "  planted.first -> planted.second -> planted.first",
        "    planted/first.py:2 imports planted.second",
        "    planted/second.py:1 imports planted.first",
    ]


def test_checkerSeesHiddenImports(tmp_path):
    # A cycle hidden in a module __getattr__, a function, TYPE_CHECKING or
    # import_module is still a cycle; a relative import is resolved.
    modules = _plantPackage(
        tmp_path,
        {
            "policies.py": (
                "def __getattr__(name):\n"
                "    from planted import throttling\n"
                "    return getattr(throttling, name)\n"
            ),
            "throttling.py": "from .policies import Wrapper\n",
            "core.py": "from typing import TYPE_CHECKING\n"
            "if TYPE_CHECKING:\n"
            "    from planted.typed import Thing\n",
            "typed.py": "import importlib\n"
            "def load():\n"
            "    return importlib.import_module('planted.core')\n",
        },
    )
    found = findCycles(importGraph(modules))
    assert [members for members, cycles in found] == [
        ["planted.core", "planted.typed"],
        ["planted.policies", "planted.throttling"],
    ]
