"""
Every test a comment or docstring of the project cites exists.

STYLE.md asks a subtle branch to name the test that covers it; a name that
no longer exists (renamed, merged, never written) sends the reader looking
for a test that is not there.  A citation is a word starting with ``test_``
in a comment or a string of reactor/, protocols/ or services/; it must be
the name of a test function or method in tests/, or of a test module.
"""

import ast
import pathlib
import re
import tokenize

ROOT = pathlib.Path(__file__).resolve().parent.parent
PACKAGES = ("reactor", "protocols", "services")
CITATION = re.compile(r"\btest_[A-Za-z0-9_]+")


def citations(path):
    """Yield (line, name) for each test name cited in path's comments and strings."""
    with open(path, "rb") as source:
        tokens = tokenize.tokenize(source.readline)
        for token in tokens:
            if token.type in (tokenize.COMMENT, tokenize.STRING):
                for offset, line in enumerate(token.string.splitlines()):
                    for name in CITATION.findall(line):
                        yield token.start[0] + offset, name


def definedTestNames(testsRoot):
    """Return the names of the test functions, methods and modules under testsRoot."""
    names = set()
    for path in testsRoot.rglob("test_*.py"):
        names.add(path.stem)
        for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
            if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef)):
                names.add(node.name)
    return names


def missingCitations(root, packages, testsRoot):
    """Return "path:line cites name" for each cited test that does not exist."""
    known = definedTestNames(testsRoot)
    missing = []
    for package in packages:
        for path in sorted((root / package).rglob("*.py")):
            for line, name in citations(path):
                if name not in known:
                    missing.append("%s:%d cites %s" % (path.relative_to(root), line, name))
    return missing


def test_citedTestsExist():
    missing = missingCitations(ROOT, PACKAGES, ROOT / "tests")
    assert missing == [], "\n".join(missing)


def test_checkerFindsAMissingTest(tmp_path):
    (tmp_path / "pkg").mkdir()
    (tmp_path / "pkg" / "mod.py").write_text(
        '"""Covered by test_present and test_gone."""\n'
        "x = 1  # see test_module and test_alsoGone\n"
        "def test_notACitation():\n"
        "    pass\n"
    )
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_module.py").write_text(
        "def test_present():\n    pass\n\nclass TestIt:\n    def test_method(self):\n        pass\n"
    )
    assert missingCitations(tmp_path, ["pkg"], tmp_path / "tests") == [
        "pkg/mod.py:1 cites test_gone",
        "pkg/mod.py:2 cites test_alsoGone",
    ]
