"""
doc/porting.md kept honest: the names it says Loom has, Loom has.

The porting guide lists names in blocks that this test reads.  A block is a
paragraph starting with a header line naming a kind and a Loom module:

    Has (`reactor.defer`): `Deferred`, `succeed`
    Differs (`reactor.defer`):
    Lacks (`reactor.ssl`, issue 17):
    Loom-only (`reactor.defer`):

followed, on the same line or in "- " bullets on the next lines, by names in
backticks, up to the next blank line.  In a bullet the names are the ones
before the first ": " outside backticks; what follows explains them.  A Has
bullet written `` `Class`: `a`, `b` `` lists Class.a and Class.b (Has
bullets carry no prose: same behaviour needs no explanation; the class
itself is listed on its own, as Has or Differs).  A dotted name is an
attribute found on the class itself, so instance attributes set in
``__init__`` belong to the prose, not to the lists.  The sections are the
"## N. twisted.module" headings.

Checked: every Has, Differs and Loom-only name can be imported from its
module, so a rename or a removal breaks this test until the guide follows;
no Lacks name can, so adding one, or landing a module the guide says is not
built yet (it then imports), breaks it too until the guide is brought up to
date; no name is in two blocks of one module; every numbered section has a
block.
"""

import importlib
import pathlib
import re

import pytest

GUIDE = pathlib.Path(__file__).resolve().parent.parent / "doc" / "porting.md"
HEADER = re.compile(r"^(Has|Differs|Lacks|Loom-only) \(`([\w.]+)`[^)]*\):(.*)$")
NAME = re.compile(r"^[A-Za-z_]\w*(\.[A-Za-z_]\w*)?$")
PRESENT = ("Has", "Differs", "Loom-only")


class FormatError(ValueError):
    """The guide does not follow the format above; the message says where."""


def _splitHead(item):
    # The text before the first ": " that is not inside backticks, and the rest.
    inCode = False
    for index, char in enumerate(item):
        if char == "`":
            inCode = not inCode
        elif char == ":" and not inCode and item[index + 1 : index + 2] in (" ", ""):
            return item[:index], item[index + 1 :]
    return item, None


def _names(text, where):
    names = re.findall(r"`([^`]*)`", text)
    for name in names:
        if not NAME.match(name):
            raise FormatError("%s: %r is not a name or Class.member" % (where, name))
    return names


def _itemNames(kind, item, where):
    head, tail = _splitHead(item)
    names = _names(head, where)
    if not names:
        raise FormatError("%s: an item must start with names: %r" % (where, item[:60]))
    if kind != "Has" or tail is None:
        return names
    if len(names) != 1 or "." in names[0]:
        raise FormatError("%s: `Class`: `member`, ... needs one class before ':'" % (where,))
    return ["%s.%s" % (names[0], member) for member in _names(tail, where)]


def parseGuide(text):
    """
    Return the guide's sections as a list of (heading, blocks), each block a
    (kind, module, [name, ...]) tuple.  Fenced code is skipped.

    :raises FormatError: for a block that does not follow the format.
    """
    sections, blocks, block, inFence = [], None, None, False
    for lineno, line in enumerate(text.splitlines(), 1):
        where = "doc/porting.md:%d" % (lineno,)
        if line.startswith("```"):
            inFence = not inFence
            continue
        if inFence:
            continue
        if line.startswith("## "):
            blocks = []
            sections.append((line[3:].strip(), blocks))
            block = None
            continue
        if not line.strip():
            block = None
            continue
        match = HEADER.match(line)
        if match:
            if blocks is None:
                raise FormatError("%s: a block before the first section" % (where,))
            kind, module, rest = match.groups()
            block = (kind, module, [], [])  # the last list holds item texts
            blocks.append(block)
            if rest.strip():
                block[3].append([rest.strip(), where])
        elif block is not None:
            if line.startswith("- "):
                block[3].append([line[2:].strip(), where])
            elif block[3]:
                block[3][-1][0] += " " + line.strip()
            else:
                raise FormatError("%s: expected '- ' items after the header" % (where,))
    parsed = []
    for heading, sectionBlocks in sections:
        result = []
        for kind, module, names, items in sectionBlocks:
            for item, where in items:
                names.extend(_itemNames(kind, item, where))
            result.append((kind, module, names))
        parsed.append((heading, result))
    return parsed


def _resolves(module, name):
    # True when module.name (or module.Class.member) can be had.
    try:
        obj = importlib.import_module(module)
    except ImportError:
        return False
    for part in name.split("."):
        if not hasattr(obj, part):
            return False
        obj = getattr(obj, part)
    return True


def problems(sections):
    """Return a line per name whose listing the code contradicts."""
    found = []
    for heading, blocks in sections:
        for kind, module, names in blocks:
            for name in names:
                present = _resolves(module, name)
                if kind in PRESENT and not present:
                    found.append(
                        "%s: %s lists %s.%s, which does not import" % (heading, kind, module, name)
                    )
                elif kind == "Lacks" and present:
                    found.append("%s: Lacks lists %s.%s, which imports" % (heading, module, name))
    return found


def _guide():
    return parseGuide(GUIDE.read_text())


def test_everySectionListsNames():
    numbered = [(heading, blocks) for heading, blocks in _guide() if heading[:1].isdigit()]
    assert len(numbered) >= 40
    assert [heading for heading, blocks in numbered if not blocks] == []


def test_namesTheGuideListsAgreeWithTheCode():
    assert problems(_guide()) == []


def test_noNameIsListedTwiceForOneModule():
    seen, twice = {}, []
    for _heading, blocks in _guide():
        for kind, module, names in blocks:
            for name in names:
                key = (module, name)
                if key in seen:
                    twice.append("%s.%s: %s and %s" % (module, name, seen[key], kind))
                seen[key] = kind
    assert twice == []


SAMPLE = """\
# Title

## twisted.internet.defer

Has (`reactor.defer`): `succeed`, `fail`

Has (`reactor.defer`):
- `Deferred`: `addCallback`,
  `addErrback`
- `gatherResults`

Differs (`reactor.defer`):
- `DeferredList`, `DeferredQueue.get`: they differ: `x: y` is prose

```
Has (`reactor.defer`): `NotInFencedCode`
```

Lacks (`reactor.nosuchmodule`, issue 99): `anything`
Lacks (`reactor.defer`):
- `noSuchName`: not built
- `Deferred.noSuchMethod`: nor this

Loom-only (`reactor.defer`): `execute`
"""


def test_parserReadsEachFormOfBlock():
    [(heading, blocks)] = parseGuide(SAMPLE)
    assert heading == "twisted.internet.defer"
    assert blocks == [
        ("Has", "reactor.defer", ["succeed", "fail"]),
        (
            "Has",
            "reactor.defer",
            ["Deferred.addCallback", "Deferred.addErrback", "gatherResults"],
        ),
        ("Differs", "reactor.defer", ["DeferredList", "DeferredQueue.get"]),
        ("Lacks", "reactor.nosuchmodule", ["anything"]),
        ("Lacks", "reactor.defer", ["noSuchName", "Deferred.noSuchMethod"]),
        ("Loom-only", "reactor.defer", ["execute"]),
    ]
    assert problems(parseGuide(SAMPLE)) == []


def test_checkerReportsARenameAndAnAddition():
    renamed = SAMPLE.replace("`succeed`", "`succeedRenamed`").replace("`noSuchName`", "`fail`")
    assert problems(parseGuide(renamed)) == [
        "twisted.internet.defer: Has lists reactor.defer.succeedRenamed, which does not import",
        "twisted.internet.defer: Lacks lists reactor.defer.fail, which imports",
    ]


@pytest.mark.parametrize(
    "text",
    [
        "## s\n\nHas (`reactor.defer`): `not a name`\n",
        "## s\n\nDiffers (`reactor.defer`):\n- prose with no name first\n",
        "## s\n\nHas (`reactor.defer`):\n- `A`, `B`: `member`\n",
        "## s\n\nLacks (`reactor.defer`):\nno bullet\n",
    ],
)
def test_parserRefusesWhatItCannotRead(text):
    with pytest.raises(FormatError):
        parseGuide(text)
