"""
protocols.pb.jelly: Twisted's s-expressions, shared and circular references,
and the rule that nothing unregistered is rebuilt from the wire.
"""

import datetime
import decimal

import pytest

from protocols.pb import jelly


class Plain:
    """A class nobody registered."""

    def __init__(self, value):
        self.value = value


class Allowed:
    def __init__(self, value):
        self.value = value


class Registered(jelly.Unjellyable):
    pass


class Node(jelly.Jellyable):
    """Jellies itself by state; rebuilt as RemoteNode."""

    def __init__(self, name):
        self.name = name
        self.children = []
        self.parent = None


class RemoteNode(jelly.Unjellyable):
    pass


jelly.setUnjellyableForClass(Node, RemoteNode)


def test_formatMatchesTwisted():
    # As Twisted 26's jelly.jelly gives it.
    assert jelly.jelly({"a": (1, 2.5, None, True, "s", b"b", [1, 2])}) == [
        b"dictionary",
        [
            [b"unicode", b"a"],
            [b"tuple", 1, 2.5, [b"None"], [b"boolean", b"true"], [b"unicode", b"s"], b"b"]
            + [[b"list", 1, 2]],
        ],
    ]


def test_sharedReferenceFormatMatchesTwisted():
    shared = [1]
    assert jelly.jelly([shared, shared]) == [
        b"list",
        [b"reference", 1, [b"list", 1]],
        [b"dereference", 1],
    ]
    cycle = []
    cycle.append(cycle)
    assert jelly.jelly(cycle) == [b"reference", 1, [b"list", [b"dereference", 1]]]


@pytest.mark.parametrize(
    "value",
    [
        0,
        -(2**70),
        1.5,
        b"\x00\xff",
        "h\xe9llo",
        None,
        True,
        False,
        [1, [2, [3]]],
        (1, "a", (b"b",)),
        {"k": {1: [None]}, (1, 2): frozenset({3})},
        {1, 2, "x"},
        datetime.datetime(2026, 12, 6, 10, 30, 1, 5),
        datetime.date(2026, 12, 6),
        datetime.time(10, 30, 1, 5),
        datetime.timedelta(days=1, seconds=2, microseconds=3),
        decimal.Decimal("-12.345"),
    ],
)
def test_roundTrip(value):
    assert jelly.unjelly(jelly.jelly(value)) == value


def test_sharedReferencesStayShared():
    shared = {"a": 1}
    result = jelly.unjelly(jelly.jelly([shared, shared, (shared,)]))
    assert result[0] is result[1] is result[2][0]


def test_cyclesThroughListsAndDicts():
    cycle = []
    cycle.append(cycle)
    result = jelly.unjelly(jelly.jelly(cycle))
    assert result[0] is result
    table = {}
    table["self"] = table
    result = jelly.unjelly(jelly.jelly(table))
    assert result["self"] is result


def test_cycleThroughRegisteredInstances():
    root = Node("root")
    child = Node("child")
    child.parent = root
    root.children.append(child)
    result = jelly.unjelly(jelly.jelly(root))
    assert isinstance(result, RemoteNode)
    assert result.children[0].parent is result
    assert result.children[0].name == "child"


def test_cycleThroughTupleIsRefused():
    # Loom's documented limit: a tuple cannot exist before its contents.
    sexp = [b"reference", 1, [b"tuple", [b"dereference", 1]]]
    with pytest.raises(jelly.InsecureJelly):
        jelly.unjelly(sexp)


def test_unregisteredInstanceIsSentAsUnpersistable():
    sexp = jelly.jelly(Plain(1))
    assert sexp == [
        b"unpersistable",
        b"instance of class %s deemed insecure" % (jelly.qual(Plain).encode(),),
    ]
    result = jelly.unjelly(sexp)
    assert isinstance(result, jelly.Unpersistable)


def test_unregisteredClassIsNeverInstantiated():
    created = []

    class Trap:
        def __new__(cls, *args):
            created.append(cls)
            return object.__new__(cls)

    name = jelly.qual(Trap).encode()
    with pytest.raises(jelly.InsecureJelly):
        jelly.unjelly([name, [b"dictionary"]])
    assert created == []


@pytest.mark.parametrize(
    "sexp",
    [
        [b"module", b"os"],
        [b"class", b"os.system"],
        [b"function", b"os.system"],
        [b"instance", [b"class", b"os.Popen"], [b"dictionary"]],
        [b"method", b"system", [b"None"], [b"class", b"os"]],
        [b"os.system", [b"dictionary"]],
        [b"remote", 1],  # only a Broker understands references
        [b"local", 1],
    ],
)
def test_codeIsNeverImportedFromTheWire(sexp):
    with pytest.raises(jelly.InsecureJelly):
        jelly.unjelly(sexp)


@pytest.mark.parametrize(
    "sexp",
    [
        [],
        [1, 2],
        [b"dictionary", [1]],
        [b"dictionary", [[b"list"], 1]],
        [b"boolean", b"maybe"],
        [b"dereference", 9],
        [b"reference", 1, [b"list"], 2],
        [b"unicode", b"\xff"],
        [b"datetime", b"x y"],
    ],
)
def test_malformedIsInsecure(sexp):
    with pytest.raises(jelly.InsecureJelly):
        jelly.unjelly(sexp)


def test_allowInstancesOf():
    security = jelly.SecurityOptions()
    security.allowInstancesOf(Allowed)
    sexp = jelly.jelly(Allowed([1, 2]), security)
    assert sexp[0] == jelly.qual(Allowed).encode()
    result = jelly.unjelly(sexp, security)
    assert isinstance(result, Allowed) and result.value == [1, 2]
    with pytest.raises(jelly.InsecureJelly):
        jelly.unjelly(sexp)  # globalSecurity was not told


def test_newSecurityOptionsRefuseContainers():
    security = jelly.SecurityOptions()
    assert jelly.unjelly([b"unicode", b"x"], security) == "x"
    with pytest.raises(jelly.InsecureJelly):
        jelly.unjelly([b"list", 1], security)
    security.allowBasicTypes()
    assert jelly.unjelly([b"list", 1], security) == [1]


def test_registeredPlainClassGetsState():
    jelly.setUnjellyableForClass("test.jelly.Registered", Registered)
    result = jelly.unjelly([b"test.jelly.Registered", [b"dictionary", [[b"unicode", b"a"], 1]]])
    assert isinstance(result, Registered) and result.a == 1


def test_unjellyableFactory():
    jelly.setUnjellyableFactoryForClass("test.jelly.factory", lambda state: ("made", state))
    assert jelly.unjelly([b"test.jelly.factory", [b"list", 1]]) == ("made", [1])


def test_postUnjellyRunsAfterEverything():
    calls = []

    class Hooked(jelly.Unjellyable):
        def postUnjelly(self):
            calls.append(self.__dict__.copy())

    jelly.setUnjellyableForClass("test.jelly.Hooked", Hooked)
    jelly.unjelly([b"test.jelly.Hooked", [b"dictionary", [[b"unicode", b"x"], 1]]])
    assert calls == [{"x": 1}]


def test_codeIsSentAsUnpersistable():
    for value in (len, Plain, jelly, test_roundTrip, Plain(1).__init__):
        assert jelly.jelly(value)[0] == b"unpersistable"


@pytest.mark.parametrize(
    "value, sexp",
    [
        (7, 7),
        ((1, b"x", 2.5), [b"tuple", 1, b"x", 2.5]),
        ((), [b"tuple"]),
        ((1, True), [b"tuple", 1, [b"boolean", b"true"]]),
        ((1, "s"), [b"tuple", 1, [b"unicode", b"s"]]),
        ((1, (2,)), [b"tuple", 1, [b"tuple", 2]]),
        ({}, [b"dictionary"]),
        ({1: 2}, [b"dictionary", [1, 2]]),
    ],
)
def test_callShapesJellyAsTwistedDoes(value, sexp):
    # A call's arguments (a tuple of plain values) and keywords (usually an
    # empty dict) take a fast path; it must give the same expressions, and
    # read them back, as the general one.
    assert jelly.jelly(value) == sexp
    assert jelly.unjelly(sexp) == value


@pytest.mark.parametrize(
    "sexp",
    [[b"tuple", 1, 2], [b"tuple"], [b"dictionary"], [b"tuple", 1, [b"list", 2]]],
)
def test_callShapesStillAskTheSecurityOptions(sexp):
    security = jelly.SecurityOptions()
    with pytest.raises(jelly.InsecureJelly):
        jelly.unjelly(sexp, security)
    security.allowBasicTypes()
    assert jelly.unjelly(sexp, security) == jelly.unjelly(sexp)
