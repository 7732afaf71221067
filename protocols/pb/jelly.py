"""
Jelly: Python objects as s-expressions and back, safely.

``jelly(obj)`` turns an object into nested lists of bytes, ints and floats
(what banana carries); ``unjelly(sexp)`` turns them back.  The format is
Twisted's, so Twisted peers understand it:

    b"x" -> b"x"      1 -> 1       2.5 -> 2.5
    "x"  -> [b"unicode", b"x"]     None -> [b"None"]
    True -> [b"boolean", b"true"]
    [1, 2] -> [b"list", 1, 2]      (1, 2) -> [b"tuple", 1, 2]
    {"a": 1} -> [b"dictionary", [[b"unicode", b"a"], 1]]
    {1} -> [b"set", 1]             frozenset({1}) -> [b"frozenset", 1]
    an instance -> [b"module.Class", state]
    something seen twice -> [b"reference", n, sexp] then [b"dereference", n]

The one idea: unjelly never imports or instantiates anything the peer
names unless this side said so first.  A class name is honoured only when it
was registered with ``setUnjellyableForClass`` (or
``setUnjellyableFactoryForClass``), or allowed by the SecurityOptions in use
through ``allowInstancesOf``.  Anything else raises InsecureJelly.  Twisted
goes further and imports modules, classes and functions named on the wire
when a SecurityOptions allows their module; Loom never does: the
``module``, ``class``, ``function``, ``method``, ``instance`` and
``persistent`` atoms are always refused (and sent as ``unpersistable``).

Wire warts kept for compatibility:

- A str crosses as ``[b"unicode", utf8]`` but bytes cross bare, so bytes
  that look like an atom (``b"None"``) are only told apart by position.
- A dict key that is a str costs a whole ``unicode`` list per key.
- Shared and circular references are numbered by the *sender's* traversal
  order; a cycle that runs through a tuple or frozenset cannot be rebuilt
  (Twisted rebuilds one with placeholder objects); Loom raises InsecureJelly
  for it.  Cycles through lists, dicts and instances are rebuilt.
"""

from __future__ import annotations

import datetime
import decimal
import types
from typing import Any, Callable, Iterable

__all__ = [
    "DictTypes",
    "InsecureJelly",
    "Jellyable",
    "SecurityOptions",
    "Unjellyable",
    "Unpersistable",
    "globalSecurity",
    "jelly",
    "qual",
    "getInstanceState",
    "setInstanceState",
    "setUnjellyableFactoryForClass",
    "setUnjellyableForClass",
    "setUnjellyableForClassTree",
    "unjelly",
    "unjellyableRegistry",
    "unjellyableFactoryRegistry",
]

DictTypes = (dict,)

None_atom = b"None"
class_atom = b"class"
module_atom = b"module"
function_atom = b"function"
persistent_atom = b"persistent"
instance_atom = b"instance"
dereference_atom = b"dereference"
reference_atom = b"reference"
dictionary_atom = b"dictionary"
list_atom = b"list"
set_atom = b"set"
tuple_atom = b"tuple"
frozenset_atom = b"frozenset"
unpersistable_atom = b"unpersistable"

# Copy tags (class names, or the special tags pb uses) to the local class or
# function that rebuilds them.
unjellyableRegistry: dict[bytes, Any] = {}
unjellyableFactoryRegistry: dict[bytes, Callable[[Any], Any]] = {}


class InsecureJelly(Exception):
    """The s-expression names something this side did not allow, or is malformed."""


def qual(klass: type) -> str:
    """Return a class's fully qualified name, as Twisted's reflect.qual does."""
    return "%s.%s" % (klass.__module__, klass.__qualname__)


def _tag(classOrName: type | str | bytes) -> bytes:
    if isinstance(classOrName, type):
        classOrName = qual(classOrName)
    if isinstance(classOrName, str):
        classOrName = classOrName.encode("utf-8")
    return classOrName


def setUnjellyableForClass(classname: type | str | bytes, unjellyable: Any) -> None:
    """
    Rebuild objects jellied with the copy tag classname as unjellyable.

    classname is a class (its qualified name is used) or a copy tag (what a
    Copyable's getTypeToCopyFor returns).  unjellyable is a class -- usually
    a RemoteCopy subclass, whose ``unjellyFor`` fills a blank instance -- or
    a function ``(unjellier, jellyList)`` returning the object.
    """
    tag = _tag(classname)
    unjellyableRegistry[tag] = unjellyable
    globalSecurity.allowTypes(tag)


def setUnjellyableFactoryForClass(classname: type | str | bytes, copyFactory: Any) -> None:
    """Rebuild objects with the copy tag classname by calling copyFactory(state)."""
    tag = _tag(classname)
    unjellyableFactoryRegistry[tag] = copyFactory
    globalSecurity.allowTypes(tag)


def setUnjellyableForClassTree(module: Any, baseClass: type, prefix: str | None = None) -> None:
    """
    Register every subclass of baseClass found in module, each under the
    tag prefix + "." + its name (prefix defaults to the module's name; an
    empty prefix means the bare class name).
    """
    if prefix is None:
        prefix = module.__name__
    if prefix:
        prefix = prefix + "."
    for name in dir(module):
        candidate = getattr(module, name)
        if isinstance(candidate, type) and issubclass(candidate, baseClass):
            setUnjellyableForClass("%s%s" % (prefix, name), candidate)


class Unpersistable:
    """What something that could not be jellied comes back as."""

    def __init__(self, reason: str) -> None:
        self.reason = reason

    def __repr__(self) -> str:
        return "Unpersistable(%r)" % (self.reason,)


class Jellyable:
    """Inherit from me to jelly yourself: override getStateFor or jellyFor."""

    def getStateFor(self, jellier: Any) -> Any:
        """Return the state to send: the instance's __dict__ by default."""
        return self.__dict__

    def jellyFor(self, jellier: Any) -> Any:
        """Return the s-expression for this object."""
        sexp = jellier.prepare(self)
        sexp.extend([qual(type(self)).encode("utf-8"), jellier.jelly(self.getStateFor(jellier))])
        return jellier.preserve(self, sexp)


class Unjellyable:
    """Inherit from me to unjelly yourself: override setStateFor or unjellyFor."""

    def setStateFor(self, unjellier: Any, state: Any) -> None:
        """Take state as this object's __dict__."""
        self.__dict__ = state

    def unjellyFor(self, unjellier: Any, jellyList: list[Any]) -> Any:
        """Fill this blank instance from jellyList ([tag, state]); return it."""
        self.setStateFor(unjellier, unjellier.unjelly(jellyList[1]))
        return self


def getInstanceState(inst: Any, jellier: Any) -> Any:
    """Jelly inst as [qualified class name, state], Twisted's default rule."""
    state = inst.__getstate__() if hasattr(inst, "__getstate__") else inst.__dict__
    sexp = jellier.prepare(inst)
    sexp.extend([qual(type(inst)).encode("utf-8"), jellier.jelly(state)])
    return jellier.preserve(inst, sexp)


def setInstanceState(inst: Any, unjellier: Any, jellyList: list[Any]) -> Any:
    """Fill inst from jellyList's state, the inverse of getInstanceState."""
    _setState(inst, unjellier.unjelly(jellyList[1]))
    return inst


def _setState(instance: Any, state: Any) -> None:
    setter = getattr(type(instance), "__setstate__", None)
    if setter is not None:
        setter(instance, state)
    elif isinstance(state, dict):
        instance.__dict__ = state
    else:
        raise InsecureJelly("state of %s is not a dictionary" % (qual(type(instance)),))


class SecurityOptions:
    """
    What may be rebuilt from the wire.  A new SecurityOptions allows only
    the atoms of plain values (None, bool, str, numbers, dates, sets);
    ``allowBasicTypes`` adds lists, tuples, dicts and references;
    ``allowInstancesOf`` adds instances of given classes, rebuilt from
    their state without calling __init__.
    """

    basicTypes = [
        "dictionary",
        "list",
        "tuple",
        "reference",
        "dereference",
        "unpersistable",
        "persistent",
        "long_int",
        "long",
        "dict",
    ]

    def __init__(self) -> None:
        self.allowedTypes: dict[bytes, bool] = dict.fromkeys(
            [
                b"None",
                b"bool",
                b"boolean",
                b"string",
                b"str",
                b"int",
                b"float",
                b"datetime",
                b"time",
                b"date",
                b"timedelta",
                b"NoneType",
                b"unicode",
                b"decimal",
                b"set",
                b"frozenset",
            ],
            True,
        )
        self.allowedModules: dict[bytes, bool] = {}
        self.allowedClasses: dict[type, bool] = {}
        self._classesByName: dict[bytes, type] = {}

    def allowBasicTypes(self) -> None:
        """Allow lists, tuples, dicts and references."""
        self.allowTypes(*self.basicTypes)

    def allowTypes(self, *types: str | bytes | type) -> None:
        """Allow the named atoms (or classes' copy tags)."""
        for typ in types:
            self.allowedTypes[_tag(typ)] = True

    def allowInstancesOf(self, *classes: type) -> None:
        """
        Allow instances of classes to be sent as [name, state] and rebuilt
        (without __init__) from the wire.  Also allows the basic types.
        """
        self.allowBasicTypes()
        for klass in classes:
            self.allowTypes(klass)
            self.allowModules(klass.__module__)
            self.allowedClasses[klass] = True
            self._classesByName[_tag(klass)] = klass

    def allowModules(self, *modules: Any) -> None:
        """
        Record modules as allowed (Twisted's API).  Loom never imports a
        module named on the wire, so this only affects isModuleAllowed.
        """
        for module in modules:
            name = getattr(module, "__name__", module)
            self.allowedModules[_tag(name)] = True

    def isModuleAllowed(self, moduleName: str | bytes) -> bool:
        """Whether moduleName was allowed."""
        return _tag(moduleName) in self.allowedModules

    def isClassAllowed(self, klass: type) -> bool:
        """Whether instances of klass may cross as [name, state]."""
        return klass in self.allowedClasses

    def isTypeAllowed(self, typeName: str | bytes) -> bool:
        """Whether the atom typeName may be unjellied."""
        if type(typeName) is not bytes:
            typeName = _tag(typeName)
        return typeName in self.allowedTypes

    def classForName(self, name: bytes) -> type | None:
        """The allowed class whose qualified name is name, or None (Loom's own)."""
        return self._classesByName.get(name)


globalSecurity = SecurityOptions()
globalSecurity.allowBasicTypes()


class _Jellier:
    """
    The state of one jelly() call: which containers were seen, so a second
    sighting becomes a back-reference.

    ``prepare`` and ``preserve`` bracket an object's expression: if the
    object turns up again before or after it is finished, its expression is
    rewritten in place into [b"reference", n, sexp] and the new sighting
    becomes [b"dereference", n].  A jellyFor of one's own uses them too.
    """

    def __init__(self, taster: Any, persistentStore: Any, invoker: Any) -> None:
        self.taster = taster
        self.persistentStore = persistentStore
        self.invoker = invoker
        self.preserved: dict[int, list[Any]] = {}
        self.cooked: dict[int, list[Any]] = {}
        # Keeps every prepared object alive, so no id() is reused meanwhile.
        self.cooker: dict[int, Any] = {}
        self._refID = 1

    def prepare(self, obj: Any) -> list[Any]:
        """Start obj's expression; return the list to fill."""
        self.preserved[id(obj)] = []
        self.cooker[id(obj)] = obj
        return []

    def preserve(self, obj: Any, sexp: list[Any]) -> list[Any]:
        """Finish obj's expression; return what to put in its place."""
        key = id(obj)
        if key in self.cooked:
            self.preserved[key][2] = sexp
            return self.preserved[key]
        self.preserved[key] = sexp
        return sexp

    def _backReference(self, obj: Any) -> list[Any] | None:
        key = id(obj)
        cooked = self.cooked.get(key)
        if cooked is not None:
            return cooked
        first = self.preserved.get(key)
        if first is None:
            return None
        refID = self._refID
        self._refID += 1
        first[:] = [reference_atom, refID, list(first)]
        cooked = self.cooked[key] = [dereference_atom, refID]
        return cooked

    def jelly(self, obj: Any) -> Any:
        """Return obj's s-expression."""
        kind = type(obj)
        if kind is bytes or kind is int or kind is float:
            return obj
        if kind is str:
            return [b"unicode", obj.encode("utf-8")]
        if obj is None:
            return [None_atom]
        if kind is bool:
            return [b"boolean", b"true" if obj else b"false"]
        if isinstance(obj, Jellyable):
            return self._backReference(obj) or obj.jellyFor(self)
        if kind in _CONTAINER_ATOMS:
            reference = self._backReference(obj)
            if reference is not None:
                return reference
            sexp = self.prepare(obj)
            if kind is dict:
                sexp.append(dictionary_atom)
                jelly = self.jelly
                sexp.extend([jelly(key), jelly(value)] for key, value in obj.items())
            else:
                sexp.append(_CONTAINER_ATOMS[kind])
                sexp.extend(map(self.jelly, obj))
            return self.preserve(obj, sexp)
        simple = _SIMPLE_JELLIERS.get(kind)
        if simple is not None:
            return simple(obj)
        return self._jellyInstance(obj)

    def _jellyInstance(self, obj: Any) -> Any:
        if isinstance(obj, _CODE_TYPES):
            return self.unpersistable("%s cannot cross the wire" % (qual(type(obj)),))
        reference = self._backReference(obj)
        if reference is not None:
            return reference
        sexp = self.prepare(obj)
        persistent = self.persistentStore(obj, self) if self.persistentStore else None
        if persistent is not None:
            sexp.extend([b"persistent", persistent])
        elif self.taster.isClassAllowed(type(obj)):
            state = obj.__getstate__() if hasattr(obj, "__getstate__") else obj.__dict__
            sexp.extend([qual(type(obj)).encode("utf-8"), self.jelly(state)])
        else:
            self.unpersistable("instance of class %s deemed insecure" % (qual(type(obj)),), sexp)
        return self.preserve(obj, sexp)

    def unpersistable(self, reason: str, sexp: list[Any] | None = None) -> list[Any]:
        """Return (or fill sexp with) [b"unpersistable", reason]."""
        if sexp is None:
            sexp = []
        sexp.extend([unpersistable_atom, reason.encode("utf-8")])
        return sexp


# Classes, functions, methods and modules: Twisted sends them by name for the
# peer to import; Loom sends them as unpersistable (see the module docstring).
_CODE_TYPES = (
    type,
    types.FunctionType,
    types.BuiltinFunctionType,
    types.MethodType,
    types.ModuleType,
)

# What crosses as it is: banana carries these bare.
_BARE = frozenset((bytes, int, float))

_CONTAINER_ATOMS: dict[type, bytes] = {
    list: list_atom,
    tuple: tuple_atom,
    dict: dictionary_atom,
    set: set_atom,
    frozenset: frozenset_atom,
}


def _numbers(*values: int) -> bytes:
    return " ".join(map(str, values)).encode("utf-8")


def _jellyDatetime(value: datetime.datetime) -> list[Any]:
    if value.tzinfo is not None:
        raise NotImplementedError("Currently can't jelly datetime objects with tzinfo")
    fields = (value.year, value.month, value.day, value.hour, value.minute, value.second)
    return [b"datetime", _numbers(*fields, value.microsecond)]


def _jellyTime(value: datetime.time) -> list[Any]:
    if value.tzinfo is not None:
        raise NotImplementedError("Currently can't jelly datetime objects with tzinfo")
    return [b"time", _numbers(value.hour, value.minute, value.second, value.microsecond)]


def _jellyDecimal(value: decimal.Decimal) -> list[Any]:
    sign, digits, exponent = value.as_tuple()
    number = 0
    for digit in digits:
        number = number * 10 + digit
    return [b"decimal", -number if sign else number, exponent]


_SIMPLE_JELLIERS: dict[type, Callable[[Any], list[Any]]] = {
    datetime.datetime: _jellyDatetime,
    datetime.time: _jellyTime,
    datetime.date: lambda value: [b"date", _numbers(value.year, value.month, value.day)],
    datetime.timedelta: lambda value: [
        b"timedelta",
        _numbers(value.days, value.seconds, value.microseconds),
    ],
    decimal.Decimal: _jellyDecimal,
}


class _Pending:
    # Marks a reference whose object is still being rebuilt (a cycle through
    # something that cannot be created before its contents).
    __slots__ = ()


_PENDING = _Pending()


class _Unjellier:
    """The state of one unjelly() call: the numbered references seen so far."""

    def __init__(self, taster: Any, persistentLoad: Any, invoker: Any) -> None:
        self.taster = taster
        self.persistentLoad = persistentLoad
        self.invoker = invoker
        self.references: dict[Any, Any] = {}
        self.postCallbacks: list[Callable[[], object]] = []

    def unjellyFull(self, sexp: Any) -> Any:
        """Rebuild sexp, then run the postUnjelly hooks of what was rebuilt."""
        try:
            result = self.unjelly(sexp)
        except (TypeError, ValueError, IndexError, KeyError, AttributeError) as error:
            reason = "malformed jelly: %s: %s" % (type(error).__name__, error)
            raise InsecureJelly(reason) from error
        for hook in self.postCallbacks:
            hook()
        return result

    def unjelly(self, sexp: Any) -> Any:
        """Rebuild one s-expression (for use by unjellyFor methods)."""
        if type(sexp) is not list:
            return sexp
        return self._unjellyList(sexp, None)

    def _unjellyList(self, sexp: list[Any], refID: Any) -> Any:
        if not sexp or type(sexp[0]) is not bytes:
            raise InsecureJelly("an s-expression must start with an atom")
        atom = sexp[0]
        handler = _HANDLERS.get(atom)
        if handler is not None:
            if not self.taster.isTypeAllowed(atom):
                raise InsecureJelly(atom)
            return handler(self, sexp, refID)
        registered = unjellyableRegistry.get(atom)
        if registered is not None:
            return self._unjellyRegistered(registered, sexp, refID)
        factory = unjellyableFactoryRegistry.get(atom)
        if factory is not None:
            return self._postUnjelly(factory(self.unjelly(sexp[1])))
        klass = self.taster.classForName(atom) if hasattr(self.taster, "classForName") else None
        if klass is not None and self.taster.isClassAllowed(klass):
            instance: Any = klass.__new__(klass)
            self._register(refID, instance)
            _setState(instance, self.unjelly(sexp[1]))
            return self._postUnjelly(instance)
        raise InsecureJelly("class or atom %r is not allowed" % (atom,))

    def _unjellyRegistered(self, registered: Any, sexp: list[Any], refID: Any) -> Any:
        if not isinstance(registered, type):
            return self._postUnjelly(registered(self, sexp))
        klass: Any = registered
        blank = klass.__new__(klass)
        self._register(refID, blank)
        unjellyFor = getattr(blank, "unjellyFor", None)
        if unjellyFor is not None:
            return self._postUnjelly(unjellyFor(self, sexp))
        _setState(blank, self.unjelly(sexp[1]))
        return self._postUnjelly(blank)

    def _postUnjelly(self, obj: Any) -> Any:
        hook = getattr(obj, "postUnjelly", None)
        if hook is not None:
            self.postCallbacks.append(hook)
        return obj

    def _register(self, refID: Any, obj: Any) -> None:
        if refID is not None:
            self.references[refID] = obj

    def _items(self, sexp: list[Any]) -> Iterable[Any]:
        unjelly = self.unjelly
        return [unjelly(item) for item in sexp[1:]]

    def _list(self, sexp: list[Any], refID: Any) -> list[Any]:
        result: list[Any] = []
        self._register(refID, result)
        unjelly = self.unjelly
        result.extend(unjelly(item) for item in sexp[1:])
        return result

    def _dictionary(self, sexp: list[Any], refID: Any) -> dict[Any, Any]:
        result: dict[Any, Any] = {}
        self._register(refID, result)
        unjelly = self.unjelly
        for key, value in sexp[1:]:
            result[unjelly(key)] = unjelly(value)
        return result

    def _reference(self, sexp: list[Any], refID: Any) -> Any:
        _, number, inner = sexp
        if number in self.references:
            raise InsecureJelly("reference %r defined twice" % (number,))
        self.references[number] = _PENDING
        result = self._unjellyList(inner, number) if type(inner) is list else inner
        self.references[number] = result
        return result

    def _dereference(self, sexp: list[Any], refID: Any) -> Any:
        result = self.references.get(sexp[1], _PENDING)
        if result is _PENDING:
            raise InsecureJelly("dereference of unknown or unfinished reference %r" % (sexp[1],))
        return result

    def _unpersistable(self, sexp: list[Any], refID: Any) -> Unpersistable:
        return Unpersistable("Unpersistable data: %s" % (_text(sexp[1]),))

    def _persistent(self, sexp: list[Any], refID: Any) -> Any:
        if self.persistentLoad is None:
            return Unpersistable("Persistent callback not found")
        return self.persistentLoad(sexp[1], self)


def _text(value: Any) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)


def _fields(sexp: list[Any]) -> Any:
    return [int(field) for field in sexp[1].split()]


def _boolean(unjellier: _Unjellier, sexp: list[Any], refID: Any) -> bool:
    if sexp[1] not in (b"true", b"false"):
        raise InsecureJelly("boolean must be true or false")
    return sexp[1] == b"true"


def _decimal(unjellier: _Unjellier, sexp: list[Any], refID: Any) -> decimal.Decimal:
    value, exponent = sexp[1], sexp[2]
    if type(value) is not int or type(exponent) is not int:
        raise InsecureJelly("decimal needs two ints")
    digits = tuple(int(digit) for digit in str(abs(value)))
    return decimal.Decimal((1 if value < 0 else 0, digits, exponent))


def _timedelta(unjellier: _Unjellier, sexp: list[Any], refID: Any) -> datetime.timedelta:
    days, seconds, microseconds = _fields(sexp)
    return datetime.timedelta(days=days, seconds=seconds, microseconds=microseconds)


_HANDLERS: dict[bytes, Callable[[_Unjellier, list[Any], Any], Any]] = {
    b"None": lambda unjellier, sexp, refID: None,
    b"unicode": lambda unjellier, sexp, refID: str(sexp[1], "utf-8"),
    b"boolean": _boolean,
    b"list": _Unjellier._list,
    b"tuple": lambda unjellier, sexp, refID: tuple(unjellier._items(sexp)),
    b"dictionary": _Unjellier._dictionary,
    b"set": lambda unjellier, sexp, refID: set(unjellier._items(sexp)),
    b"frozenset": lambda unjellier, sexp, refID: frozenset(unjellier._items(sexp)),
    b"reference": _Unjellier._reference,
    b"dereference": _Unjellier._dereference,
    b"unpersistable": _Unjellier._unpersistable,
    b"persistent": _Unjellier._persistent,
    b"datetime": lambda unjellier, sexp, refID: datetime.datetime(*_fields(sexp)),
    b"date": lambda unjellier, sexp, refID: datetime.date(*_fields(sexp)),
    b"time": lambda unjellier, sexp, refID: datetime.time(*_fields(sexp)),
    b"timedelta": _timedelta,
    b"decimal": _decimal,
}


def jelly(
    obj: Any,
    taster: SecurityOptions | None = None,
    persistentStore: Any = None,
    invoker: Any = None,
) -> Any:
    """
    Return obj as an s-expression.

    :param taster: the SecurityOptions deciding which plain instances may
        be sent by state (others become ``unpersistable``); globalSecurity
        by default.
    :param invoker: the Broker serializing, for pb's flavors.
    """
    # Fast paths for what nearly every PB call sends -- a bare value, a tuple
    # of bare values (the arguments), an empty dict (no keywords) -- giving
    # what _Jellier gives them, without making one.
    kind = type(obj)
    if kind in _BARE:
        return obj
    if kind is tuple:
        for item in obj:
            if type(item) not in _BARE:
                break
        else:
            return [tuple_atom, *obj]
    elif kind is dict and not obj:
        return [dictionary_atom]
    return _Jellier(taster or globalSecurity, persistentStore, invoker).jelly(obj)


def unjelly(
    sexp: Any,
    taster: SecurityOptions | None = None,
    persistentLoad: Any = None,
    invoker: Any = None,
) -> Any:
    """
    Rebuild an object from an s-expression.

    :param taster: the SecurityOptions deciding what may be rebuilt;
        globalSecurity by default.
    :raises InsecureJelly: sexp names something not allowed, or is malformed.
    """
    if type(sexp) is not list:
        return sexp
    taster = taster or globalSecurity
    # The fast paths of jelly(), back: a tuple of bare values, an empty dict.
    if sexp:
        atom = sexp[0]
        if atom == tuple_atom:
            items = sexp[1:]
            for item in items:
                if type(item) is list:
                    break
            else:
                if taster.isTypeAllowed(tuple_atom):
                    return tuple(items)
        elif atom == dictionary_atom and len(sexp) == 1 and taster.isTypeAllowed(dictionary_atom):
            return {}
    return _Unjellier(taster, persistentLoad, invoker).unjellyFull(sexp)
