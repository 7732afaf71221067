"""
Command-line options: Options, a dict that parses a command line into itself.

The one idea: a class declares its options (optFlags, optParameters, opt_*
methods, subCommands); Options turns the declarations of the whole class
hierarchy into one table of _Option records, hands stdlib getopt.getopt the
short and long specs built from that table, then dispatches each (option,
value) pair getopt returns.  getopt.getopt, not gnu_getopt: like Twisted, parsing
stops at the first positional argument, so everything after a subcommand's
name belongs to the subcommand (test_optionsAfterSubCommandBelongToIt).

Where Loom differs from twisted.python.usage, on purpose (doc/usage.md):

- flags are True/False, not 1/0;
- dict keys use underscores (``no-daemon`` is stored as ``no_daemon``, like
  its opt_no_daemon method), and every long option is accepted spelled with
  dashes or with underscores;
- parseArgs's arity is checked against its signature, so a TypeError raised
  inside parseArgs is a bug reported as such, not "wrong number of arguments";
- two options claiming one short letter is a ValueError, not a silent shadow;
- the usage text never falls back to ``__main__.__doc__``;
- a coerce error is worded as Twisted's ("Parameter type enforcement
  failed: ...") and then names the option and the value;
- ``optPlaceholders`` names what an option's argument is in the help
  (``--python=FILE.tac``), and an unknown option or command is answered
  with the closest known one ("did you mean --pidfile?").
"""

import getopt
import os
import sys
import textwrap
from typing import Any

__all__ = ["Options", "UsageError", "portCoerce"]

# co_flags bit of a code object taking *args.
_CO_VARARGS = 0x04


class UsageError(Exception):
    """
    The command line is wrong; the message says what to change.
    """


error = UsageError  # Twisted's older name for it.


def portCoerce(value):
    """
    Coerce a command-line string to a port number, for optParameters.

    :raises ValueError: if ``value`` is not an integer from 0 to 65535.
    """
    port = int(value)
    if not 0 <= port <= 65535:
        raise ValueError(f"Port number not in range: {port}")
    return port


portCoerce.coerceDoc = "Must be an int between 0 and 65535."  # type: ignore[attr-defined]


class _Option:
    """
    One option: every spelling of it, and what to do when it is seen.

    :ivar name: the canonical name and dict key, with underscores.
    :ivar kind: "flag", "parameter" or "handler".
    :ivar longNames: the long spellings, as shown in the help.
    :ivar methodName: the opt_* method to call, if any.
    """

    def __init__(
        self,
        name,
        kind,
        takesArg,
        shortNames=None,
        longNames=None,
        default=None,
        doc="",
        coerce=None,
        placeholder="VALUE",
    ):
        self.name = name
        self.kind = kind
        self.takesArg = takesArg
        self.shortNames = shortNames or []
        self.longNames = longNames or []
        self.default = default
        self.doc = doc
        self.coerce = coerce
        self.methodName = None
        self.placeholder = placeholder

    def __repr__(self):
        return "<_Option %s (%s)>" % (self.name, self.kind)


def _cleandoc(text):
    """Strip a docstring's indentation and blank edges (as inspect.cleandoc)."""
    lines = text.expandtabs().split("\n")
    indents = [len(line) - len(line.lstrip()) for line in lines[1:] if line.strip()]
    margin = min(indents, default=0)
    lines = [lines[0].lstrip()] + [line[margin:] for line in lines[1:]]
    while lines and not lines[-1]:
        lines.pop()
    while lines and not lines[0]:
        lines.pop(0)
    return "\n".join(lines)


def _canonical(longName):
    return longName.replace("-", "_")


def _accumulate(cls, attribute):
    """
    Concatenate ``attribute``'s lists over ``cls``'s hierarchy, bases first.
    """
    entries = []
    for klass in reversed(cls.__mro__):
        entries.extend(klass.__dict__.get(attribute) or ())
    return entries


def _padTo(size, entry, attribute):
    entry = list(entry)
    if len(entry) > size:
        raise ValueError(f"{attribute} entries have at most {size} items: {entry!r}")
    entry += [None] * (size - len(entry))
    if not entry[0]:
        raise ValueError(f"an entry in {attribute} has no long name: {entry!r}")
    if entry[1] and len(entry[1]) != 1:
        raise ValueError(f"short option {entry[1]!r} of --{entry[0]} is not one letter")
    return entry


def _declaredOptions(cls):
    """
    Build the options of the hierarchy's optFlags and optParameters.

    A subclass that declares a name again replaces the base's declaration
    (test_subclassRedeclaresParameter).
    """
    options = {}
    for entry in _accumulate(cls, "optFlags"):
        longName, short, doc = _padTo(3, entry, "optFlags")
        name = _canonical(longName)
        options[name] = _Option(
            name, "flag", takesArg=False, default=False, doc=doc or "",
            shortNames=[short] if short else [], longNames=[longName],
        )  # fmt: skip
    for entry in _accumulate(cls, "optParameters"):
        longName, short, default, doc, coerce = _padTo(5, entry, "optParameters")
        name = _canonical(longName)
        options[name] = _Option(
            name, "parameter", takesArg=True, default=default, doc=doc or "",
            shortNames=[short] if short else [], longNames=[longName],
            coerce=coerce, placeholder=name.upper(),
        )  # fmt: skip
    return options


def _handlerGroups(options):
    """
    Group the opt_* methods of ``options`` by the function they are bound to.

    ``opt_g = opt_group`` binds two names to one function: they are aliases.
    Returns a list of (method, [names without opt_]) pairs.
    """
    groups = {}
    for attribute in dir(options):
        if attribute.startswith("opt_") and len(attribute) > 4:
            method = getattr(options, attribute)
            if callable(method):
                key = getattr(method, "__func__", method)
                groups.setdefault(key, (method, []))[1].append(attribute[4:])
    return list(groups.values())


def _argumentOf(method, name):
    """
    Return (takesArg, placeholder) for an opt_* method: it takes a value
    exactly when it takes one positional argument besides self.
    """
    positional, _, varargs = _positionalParameters(method)
    if len(positional) > 1 or varargs:
        raise ValueError(f"opt_{name} must take no argument (a flag) or exactly one")
    if positional:
        return True, positional[0].upper()
    return False, ""


def _positionalParameters(function):
    """
    Return (names, required, varargs) for the positional parameters of a
    function or bound method (self left out): their names, how many have no
    default, and whether it takes *args.

    Read from the code object when there is one: importing inspect would
    cost loomd a noticeable share of its start-up time.
    """
    target = getattr(function, "__func__", function)
    code = getattr(target, "__code__", None)
    if code is None or hasattr(target, "__wrapped__"):
        return _positionalByInspect(function)
    names = list(code.co_varnames[: code.co_argcount])
    required = len(names) - len(target.__defaults__ or ())
    if target is not function:  # a bound method: self is given
        names = names[1:]
        required -= 1
    return names, max(required, 0), bool(code.co_flags & _CO_VARARGS)


def _positionalByInspect(function):
    import inspect

    parameters = inspect.signature(function).parameters.values()
    kinds = (inspect.Parameter.POSITIONAL_ONLY, inspect.Parameter.POSITIONAL_OR_KEYWORD)
    positional = [p for p in parameters if p.kind in kinds]
    required = sum(p.default is p.empty for p in positional)
    varargs = any(p.kind is p.VAR_POSITIONAL for p in parameters)
    return [p.name for p in positional], required, varargs


def _summary(method):
    """
    The first paragraph of a docstring, on one line, for the usage text.
    """
    doc = _cleandoc(method.__doc__ or "")
    return " ".join(doc.split("\n\n")[0].split())


def _addHandler(options, method, names):
    """
    Merge one group of aliased opt_* names into ``options``.

    One-letter names are short options, longer ones long options.  A group
    naming a declared flag or parameter takes over its handling; otherwise
    the longest name is the option's canonical name.
    """
    takesArg, placeholder = _argumentOf(method, names[0])
    shorts = [name for name in names if len(name) == 1]
    longs = sorted((name for name in names if len(name) > 1), key=len, reverse=True)
    option = next((options[n] for n in longs if n in options), None)
    if option is None:
        name = longs[0] if longs else shorts[0]
        option = options[name] = _Option(name, "handler", takesArg, doc=_summary(method))
        option.placeholder = placeholder
    elif option.takesArg != takesArg:
        kind = "takes" if takesArg else "takes no"
        raise ValueError(f"opt_{names[0]} {kind} argument but --{option.name} is a {option.kind}")
    option.doc = option.doc or _summary(method)
    option.methodName = "opt_" + names[0]
    option.shortNames += [s for s in shorts if s not in option.shortNames]
    known = {_canonical(n) for n in option.longNames}
    option.longNames += [n.replace("_", "-") for n in longs if n not in known]


def _accumulatePlaceholders(cls):
    """Merge the optPlaceholders dicts over cls's hierarchy, subclasses winning."""
    placeholders = {}
    for klass in reversed(cls.__mro__):
        placeholders.update(klass.__dict__.get("optPlaceholders") or {})
    return placeholders


def _applyPlaceholders(options, placeholders):
    """
    Set the help's placeholder of each option named in placeholders.

    :raises ValueError: a name that is no option, or one taking no argument.
    """
    for name, placeholder in placeholders.items():
        option = options.get(_canonical(name))
        if option is None or not option.takesArg:
            raise ValueError(f"optPlaceholders names {name!r}, which is no option taking a value")
        option.placeholder = placeholder


def _closest(word, candidates):
    """The candidate closest to word (difflib's ratio at least 0.6), or None."""
    import difflib  # only a mistyped command line needs it

    found = difflib.get_close_matches(word, candidates, n=1, cutoff=0.6)
    return found[0] if found else None


def _spellings(options):
    """
    Map every accepted spelling, long and short, to its option.

    :raises ValueError: if two options claim the same short letter.
    """
    longs, shorts = {}, {}
    for option in options.values():
        for letter in option.shortNames:
            other = shorts.setdefault(letter, option)
            if other is not option:
                raise ValueError(
                    f"short option -{letter} is claimed by both {other.name} and {option.name}"
                )
        for longName in option.longNames:
            longs[longName.replace("_", "-")] = option
            longs[longName.replace("-", "_")] = option
    return longs, shorts


def _arityMessage(function, args):
    """
    Say how many positional arguments ``function`` wanted and what it got.
    """
    positional, required, varargs = _positionalParameters(function)
    if varargs:
        expected = f"at least {required}"
    elif required < len(positional):
        expected = f"{required} to {len(positional)}"
    else:
        expected = str(required) if required else "none"
    got = f"{len(args)} ({' '.join(args)})" if args else "none"
    return f"wrong number of arguments: expected {expected}, got {got}"


def _loomVersion():
    # Imported here: importlib.metadata costs more start-up time than the rest
    # of option parsing, and only --version needs it.
    from importlib import metadata

    try:
        return metadata.version("loom")
    except metadata.PackageNotFoundError:
        return "(unknown version)"  # run from a checkout that was never installed


def _formatRows(rows, width):
    """
    Lay out (forms, description) rows in two columns wrapped to ``width``.

    A form wider than the column gets a line of its own, and its description
    starts on the next line (test_longFormGetsItsOwnLine).
    """
    indent, gap = 2, 2
    column = min(max(len(forms) for forms, _ in rows), max(12, width // 3))
    textWidth = max(width - indent - column - gap, 10)
    lines = []
    for forms, description in rows:
        wrapped = textwrap.wrap(description, textWidth) or [""]
        if len(forms) > column:
            lines.append(" " * indent + forms)
        else:
            lines.append(f"{' ' * indent}{forms:<{column}}{' ' * gap}{wrapped.pop(0)}".rstrip())
        lines.extend(" " * (indent + column + gap) + line for line in wrapped)
    return "\n".join(lines)


def _showDefault(value):
    return value if isinstance(value, str) and value else repr(value)


class Options(dict):
    """
    A command-line parser whose results are its own dict items.

    Subclasses declare, all accumulated over the class hierarchy:

    - ``optFlags``: [long, short, description] -- ``self[long]`` is False
      until ``--long`` or ``-short`` sets it True;
    - ``optParameters``: [long, short, default, description, coerce] --
      ``self[long]`` is the default until the option sets it to
      ``coerce(value)``; defaults are not coerced;
    - ``opt_name(self[, value])`` methods, called with the (coerced) value
      each time the option is seen.  Aliases are made by assignment
      (``opt_v = opt_verbose``); one-letter names are short options.

    Dashes in long names become underscores in dict keys and method names.
    ``optPlaceholders`` maps a long name to what the help shows for its
    argument (``{"python": "FILE.tac"}``); by default a parameter shows its
    name upper-cased and an opt_ method the name of its argument.
    ``subCommands`` lists [name, shortcut, parserClass, description];
    ``defaultSubCommand`` is used when no positional argument is given.
    """

    optFlags: list[list[Any]] = []
    optParameters: list[list[Any]] = []
    optPlaceholders: dict[str, str] = {}
    subCommands: list[list[Any]] = []
    defaultSubCommand: str | None = None
    synopsis: str | None = None
    longdesc: str | None = None
    version: str | None = None
    parent = None
    subCommand = None
    subOptions = None

    def __init__(self) -> None:
        """
        Gather the option table and set every flag and parameter default.

        :raises ValueError: if the declarations are inconsistent (an opt_
            method with two arguments, a short letter claimed twice, ...).
        """
        super().__init__()
        self._options = _declaredOptions(type(self))
        for method, names in _handlerGroups(self):
            _addHandler(self._options, method, names)
        _applyPlaceholders(self._options, _accumulatePlaceholders(type(self)))
        self._longOptions, self._shortOptions = _spellings(self._options)
        for option in self._options.values():
            if option.kind != "handler":
                self[option.name] = option.default

    @property
    def opts(self):
        """
        This Options itself, for code written as Twisted's ``self.opts[...]``.
        """
        return self

    def opt_help(self):
        """
        Display this help and exit.
        """
        sys.stdout.write(str(self))
        raise SystemExit(0)

    def opt_version(self):
        """
        Display the version and exit.
        """
        print(self.getVersion())
        raise SystemExit(0)

    def getVersion(self):
        """
        Return what --version prints: ``self.version`` if set, else "loom <version>".
        """
        if self.version is not None:
            return self.version
        return f"loom {_loomVersion()}"

    def parseOptions(self, options=None):
        """
        Parse a command line into this dict, then call the hooks.

        Options come first; the positional arguments go to a subcommand's
        parser if ``subCommands`` is set, else to parseArgs.  Then
        postOptions is called.

        :param options: the arguments, without the program name; None means
            ``sys.argv[1:]``.
        :raises UsageError: if the command line is wrong.
        """
        argv = sys.argv[1:] if options is None else list(options)
        try:
            pairs, args = getopt.getopt(argv, self._shortSpec(), self._longSpec())
        except getopt.GetoptError as e:
            raise UsageError(self._suggest(e)) from None
        for spelling, value in pairs:
            self._dispatch(spelling, value)
        if (args or self.defaultSubCommand is not None) and self.subCommands:
            self._parseSubCommand(args or [self.defaultSubCommand])
        else:
            self._parseArgs(args)
        self.postOptions()

    def parseArgs(self):
        """
        Receive the positional arguments; override to accept some.

        The arity is checked against this method's signature first, so an
        override ``parseArgs(self, source, target)`` gets exactly two, and
        ``parseArgs(self, *files)`` any number.  This default accepts none.
        """

    def postOptions(self):
        """
        Check or complete the parsed options; called after everything else.

        Raise UsageError to reject the command line.
        """

    def _shortSpec(self):
        return "".join(
            letter + (":" if option.takesArg else "")
            for letter, option in self._shortOptions.items()
        )

    def _longSpec(self):
        return [
            spelling + ("=" if option.takesArg else "")
            for spelling, option in self._longOptions.items()
        ]

    def _suggest(self, error):
        """
        getopt's message, and for an unknown long option the closest known
        one: "option --pidfle not recognized; did you mean --pidfile?".
        """
        if "not recognized" not in error.msg or len(error.opt) < 2:
            return str(error)
        known = {
            name.replace("_", "-"): name
            for option in self._options.values()
            for name in option.longNames
        }
        closest = _closest(error.opt.replace("_", "-"), list(known))
        if closest is None:
            return str(error)
        return f"{error}; did you mean --{known[closest]}?"

    def _dispatch(self, spelling, value):
        """
        Handle one option getopt found, as ``spelling`` ("--name" or "-n").
        """
        if spelling.startswith("--"):
            option = self._longOptions[spelling[2:]]
        else:
            option = self._shortOptions[spelling[1:]]
        if option.coerce is not None:
            value = self._coerce(option, spelling, value)
        if option.methodName is not None:
            method = getattr(self, option.methodName)
            if option.takesArg:
                method(value)
            else:
                method()
        else:
            self[option.name] = value if option.takesArg else True

    def _coerce(self, option, spelling, value):
        try:
            return option.coerce(value)
        except ValueError as e:
            # Twisted's wording, so that code matching it keeps working; the
            # option is named after it, which Twisted's message leaves out.
            raise UsageError(
                f"Parameter type enforcement failed: {e} (option {spelling} {value!r})"
            ) from e

    def _parseSubCommand(self, args):
        """
        Hand ``args[1:]`` to the parser of the subcommand ``args[0]`` names.
        """
        command, rest = args[0], args[1:]
        for name, shortcut, parserClass, _ in self.subCommands:
            if command == name or (shortcut and command == shortcut):
                # Set before parsing, so the sub-parser's synopsis can name
                # it and str(self) shows its help if its parsing fails.
                self.subCommand = name
                self.subOptions = parserClass()
                self.subOptions.parent = self
                self.subOptions.parseOptions(rest)
                return
        names = [entry[0] for entry in self.subCommands]
        message = f"unknown command: {command} (expected one of: {', '.join(names)})"
        closest = _closest(command, names)
        if closest is not None:
            message += f"; did you mean {closest}?"
        raise UsageError(message)

    def _parseArgs(self, args):
        positional, required, varargs = _positionalParameters(self.parseArgs)
        if len(args) < required or (len(args) > len(positional) and not varargs):
            raise UsageError(_arityMessage(self.parseArgs, args))
        self.parseArgs(*args)

    def getSynopsis(self):
        """
        Return the first line of the usage text.

        The class attribute ``synopsis`` replaces the default "Usage: <prog>
        [options]".  A subcommand's synopsis follows its parent's, so its own
        ``synopsis`` should describe only its part (default "[options]").
        """
        if self.parent is not None:
            own = self.synopsis or "[options]"
            return f"{self.parent.getSynopsis()} {self.parent.subCommand} {own}"
        if self.synopsis:
            return self.synopsis
        return f"Usage: {os.path.basename(sys.argv[0])} [options]"

    def getUsage(self, width=None):
        """
        Return the whole usage text, wrapped to ``width`` columns.

        The synopsis, ``longdesc`` if set, every option with its forms,
        argument, description and default, then the subcommands.  Once a
        subcommand was chosen this is the subcommand's usage, so an error in
        its options is followed by the help that applies.

        :param width: the line width; None means the terminal's (the
            ``COLUMNS`` variable, else the terminal, else 80).
        """
        if self.subOptions is not None:
            return self.subOptions.getUsage(width)
        if not width:
            import shutil

            width = shutil.get_terminal_size((80, 24)).columns
        sections = [self.getSynopsis()]
        if self.longdesc:
            paragraphs = _cleandoc(self.longdesc).split("\n\n")
            sections.append("\n\n".join(textwrap.fill(p, width) for p in paragraphs))
        sections.append("Options:\n" + _formatRows(self._optionRows(), width))
        if self.subCommands:
            sections.append("Commands:\n" + _formatRows(self._commandRows(), width))
        return "\n\n".join(sections) + "\n"

    def __str__(self):
        """
        Return the usage text, as getUsage with the terminal's width.
        """
        return self.getUsage()

    def _optionRows(self):
        rows = []
        for option in sorted(self._options.values(), key=_sortKey):
            shorts = [f"-{letter}" for letter in option.shortNames]
            longs = [f"--{name}" for name in option.longNames]
            if option.takesArg and longs:
                longs[-1] += "=" + option.placeholder
            elif option.takesArg:
                shorts[-1] += " " + option.placeholder
            rows.append((", ".join(shorts + longs), _describe(option)))
        return rows

    def _commandRows(self):
        rows = []
        for name, shortcut, _, description in self.subCommands:
            if name == self.defaultSubCommand:
                description = f"{description or ''} [default]".strip()
            rows.append((f"{name}, {shortcut}" if shortcut else name, description or ""))
        return rows


def _sortKey(option):
    return (option.longNames or option.shortNames)[0].lower()


def _describe(option):
    parts = [option.doc]
    if option.kind == "parameter" and option.default is not None:
        parts.append(f"[default: {_showDefault(option.default)}]")
    parts.append(getattr(option.coerce, "coerceDoc", ""))
    return " ".join(part for part in parts if part)
