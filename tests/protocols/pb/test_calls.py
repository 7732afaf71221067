"""protocols.pb._calls: finding the method a message names."""

import sys

from protocols.pb._calls import MethodPrefix


class Target:
    def remote_add(self, a, b):
        return a + b


def test_findsTheMethodByStrOrBytes():
    prefix = MethodPrefix("remote_")
    target = Target()
    assert prefix.find(target, "add")(1, 2) == 3
    assert prefix.find(target, b"add")(1, 2) == 3
    assert prefix.find(target, "add")(3, 4) == 7  # from the kept name


def test_keepsOnlyNamesThatFoundAMethod():
    # A peer sending made-up names cannot grow the table.
    prefix = MethodPrefix("remote_")
    target = Target()
    for number in range(100):
        assert prefix.find(target, "nothing%d" % (number,)) is None
    assert prefix.names == {}
    prefix.find(target, "add")
    assert list(prefix.names) == ["add"]


def test_keptNamesAreInterned():
    # An interned name is what the type's method cache keys on.
    prefix = MethodPrefix("remote_")
    prefix.find(Target(), "".join(["a", "dd"]))
    (name,) = prefix.names.values()
    assert name == "remote_add" and sys.intern(name) is name


def test_missingNamesTheMethod():
    assert MethodPrefix("view_").missing(b"foo") == "No such method: view_foo"
