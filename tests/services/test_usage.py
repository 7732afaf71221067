"""
Tests for services.usage: Options parsing, its hooks, and the usage text.
"""

import sys
from importlib import metadata

import pytest

from services import usage
from services.usage import Options, UsageError, portCoerce


class TwistdOptions(Options):
    """
    A cut-down twistd command line.
    """

    synopsis = "Usage: twistd [options]"
    optFlags = [
        ["nodaemon", "n", "don't daemonize"],
        ["profile", "p", "run under the profiler"],
    ]
    optParameters = [
        ["logfile", "l", None, "log to a specified file, - for stdout"],
        ["pidfile", None, "twistd.pid", "Name of the pidfile"],
    ]

    def __init__(self):
        super().__init__()
        self["plugins"] = []

    def opt_plugin(self, name):
        """
        Load the plugin called NAME.

        This second paragraph stays out of the usage text.
        """
        self["plugins"].append(name)

    opt_P = opt_plugin


def parse(optionsClass, commandLine):
    """
    Parse a space-separated command line with a fresh optionsClass.
    """
    options = optionsClass()
    options.parseOptions(commandLine.split())
    return options


def usageError(optionsClass, commandLine):
    """
    Return the message of the UsageError parsing commandLine raises.
    """
    with pytest.raises(UsageError) as info:
        parse(optionsClass, commandLine)
    return str(info.value)


def helpText(options, capsys, commandLine="--help"):
    """
    Run --help (or commandLine) and return what it printed; check it exits 0.
    """
    with pytest.raises(SystemExit) as info:
        options.parseOptions(commandLine.split())
    assert info.value.code == 0
    return capsys.readouterr().out


# The twistd-like example


def test_defaultsBeforeParsing():
    options = TwistdOptions()
    assert options["nodaemon"] is False
    assert options["profile"] is False
    assert options["logfile"] is None
    assert options["pidfile"] == "twistd.pid"


def test_twistdCommandLineParses():
    options = parse(TwistdOptions, "-n -l foo.log --pidfile x.pid")
    assert options["nodaemon"] is True
    assert options["profile"] is False
    assert options["logfile"] == "foo.log"
    assert options["pidfile"] == "x.pid"


def test_longOptionWithEqualsAndCombinedShortFlags():
    options = parse(TwistdOptions, "-np -lfoo.log --logfile=bar.log")
    assert options["nodaemon"] is True
    assert options["profile"] is True
    assert options["logfile"] == "bar.log"


def test_emptyParameterValueIsKept():
    assert parse(TwistdOptions, "--pidfile=")["pidfile"] == ""


def test_longOptionMayBeAbbreviated():
    assert parse(TwistdOptions, "--nodae")["nodaemon"] is True


def test_shortAliasReachesHandler():
    options = parse(TwistdOptions, "-P web --plugin=dns -P mail")
    assert options["plugins"] == ["web", "dns", "mail"]


def test_helpListsEveryOptionAndDefault(capsys):
    text = helpText(TwistdOptions(), capsys)
    assert text.startswith("Usage: twistd [options]\n")
    for expected in [
        "-n, --nodaemon",
        "don't daemonize",
        "-p, --profile",
        "-l, --logfile=LOGFILE",
        "log to a specified file",
        "--pidfile=PIDFILE",
        "[default: twistd.pid]",
        "-P, --plugin=NAME",
        "Load the plugin called NAME.",
        "--help",
        "--version",
    ]:
        assert expected in text
    assert "[default: None]" not in text
    assert "second paragraph" not in text


def test_unknownLongOptionIsUsageError():
    assert usageError(TwistdOptions, "--foo") == "option --foo not recognized"


def test_unknownShortOptionIsUsageError():
    assert usageError(TwistdOptions, "-x") == "option -x not recognized"


def test_unknownLongOptionSuggestsTheClosestKnownOne():
    assert usageError(TwistdOptions, "--pidfle=x.pid") == (
        "option --pidfle not recognized; did you mean --pidfile?"
    )
    assert usageError(TwistdOptions, "--no_daemon") == (
        "option --no_daemon not recognized; did you mean --nodaemon?"
    )
    assert usageError(TwistdOptions, "--plugn web") == (
        "option --plugn not recognized; did you mean --plugin?"
    )


def test_unknownSubCommandSuggestsTheClosestKnownOne():
    assert usageError(Commands, "rnu") == (
        "unknown command: rnu (expected one of: run, stop); did you mean run?"
    )


class PlaceholderOptions(TwistdOptions):
    optParameters = [["python", "y", None, "Read the application from this .tac file."]]
    optPlaceholders = {"python": "FILE.tac", "plugin": "PLUGIN"}


def test_placeholdersNameWhatTheArgumentIs(capsys):
    text = helpText(PlaceholderOptions(), capsys)
    assert "-y, --python=FILE.tac" in text
    assert "-P, --plugin=PLUGIN" in text
    assert "-l, --logfile=LOGFILE" in text  # undeclared: the name, upper-cased


def test_placeholderForNoSuchOptionIsAnError():
    class Typo(TwistdOptions):
        optPlaceholders = {"pidfil": "FILE"}

    class Flag(TwistdOptions):
        optPlaceholders = {"nodaemon": "YES"}

    for broken in (Typo, Flag):
        with pytest.raises(ValueError, match="optPlaceholders names"):
            broken()


def test_missingArgumentIsUsageError():
    assert usageError(TwistdOptions, "--logfile") == ("option --logfile requires argument")
    assert usageError(TwistdOptions, "-n -l") == "option -l requires argument"


def test_flagGivenAnArgumentIsUsageError():
    message = usageError(TwistdOptions, "--nodaemon=yes")
    assert message == "option --nodaemon must not have an argument"


def test_parseOptionsDefaultsToSysArgv(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["twistd", "-n", "--logfile", "x.log"])
    options = TwistdOptions()
    options.parseOptions()
    assert options["nodaemon"] is True
    assert options["logfile"] == "x.log"


def test_parseOptionsAcceptsAnySequence():
    options = TwistdOptions()
    options.parseOptions(("-n",))
    assert options["nodaemon"] is True


def test_optionsAreADict():
    options = TwistdOptions()
    assert isinstance(options, dict)
    assert options.opts is options
    assert set(options) == {"nodaemon", "profile", "logfile", "pidfile", "plugins"}


def test_usageErrorIsAnException():
    assert issubclass(UsageError, Exception)
    assert usage.error is UsageError


# Positional arguments and parseArgs


class Copy(Options):
    optFlags = [["verbose", "v", "talk"]]

    def parseArgs(self, source, target):
        self["source"], self["target"] = source, target


class Cat(Options):
    def parseArgs(self, *files):
        self["files"] = list(files)


class Head(Options):
    def parseArgs(self, source, count="10"):
        self["source"], self["count"] = source, count


def test_parseArgsReceivesPositionalArguments():
    options = parse(Copy, "-v a b")
    assert (options["source"], options["target"]) == ("a", "b")


def test_tooFewArgumentsIsUsageError():
    message = usageError(Copy, "a")
    assert message == "wrong number of arguments: expected 2, got 1 (a)"


def test_tooManyArgumentsIsUsageError():
    message = usageError(Copy, "a b c")
    assert message == "wrong number of arguments: expected 2, got 3 (a b c)"


def test_defaultParseArgsAcceptsNone():
    assert usageError(Options, "stray") == (
        "wrong number of arguments: expected none, got 1 (stray)"
    )
    parse(Options, "")


def test_variadicParseArgsAcceptsAnyNumber():
    assert parse(Cat, "")["files"] == []
    assert parse(Cat, "a b c")["files"] == ["a", "b", "c"]


def test_optionalParseArgsArity():
    assert parse(Head, "f")["count"] == "10"
    assert parse(Head, "f 3")["count"] == "3"
    assert usageError(Head, "") == "wrong number of arguments: expected 1 to 2, got none"


def test_variadicArityMessage():
    class AtLeastOne(Options):
        def parseArgs(self, first, *rest):
            pass

    assert usageError(AtLeastOne, "") == (
        "wrong number of arguments: expected at least 1, got none"
    )


def test_typeErrorInsideParseArgsIsNotMaskedAsUsageError():
    class Buggy(Options):
        def parseArgs(self, name):
            len(5)

    with pytest.raises(TypeError):
        parse(Buggy, "x")


def test_parsingStopsAtFirstPositionalArgument():
    options = parse(Cat, "a -v --whatever")
    assert options["files"] == ["a", "-v", "--whatever"]


def test_doubleDashEndsOptions():
    options = parse(Copy, "-v -- -a -b")
    assert (options["source"], options["target"]) == ("-a", "-b")


# postOptions


def test_postOptionsRunsLast():
    events = []

    class Recorded(Options):
        optFlags = [["fast", "f", None]]

        def opt_log(self, value):
            events.append(("log", value))

        def parseArgs(self, *args):
            events.append(("args", args))

        def postOptions(self):
            events.append(("post", self["fast"]))

    parse(Recorded, "-f --log x y")
    assert events == [("log", "x"), ("args", ("y",)), ("post", True)]


def test_postOptionsRaisingUsageErrorRejects():
    class Picky(Options):
        optFlags = [["fast", "f", None], ["good", "g", None], ["cheap", "c", None]]

        def postOptions(self):
            if self["fast"] and self["good"] and self["cheap"]:
                raise UsageError("can't have it all")

    parse(Picky, "-fg")
    assert usageError(Picky, "-fgc") == "can't have it all"


# opt_ methods and aliases


class Verbosity(Options):
    def __init__(self):
        super().__init__()
        self["verbosity"] = 0
        self["symbols"] = []

    def opt_verbose(self):
        """
        Say more; repeat for even more.
        """
        self["verbosity"] += 1

    opt_v = opt_verbose
    opt_loud = opt_verbose

    def opt_quiet(self):
        self["verbosity"] -= 1

    opt_q = opt_quiet

    def opt_define(self, symbol):
        self["symbols"].append(symbol)

    opt_D = opt_define

    def opt_x(self, level):
        """
        A short-only option.
        """
        self["x"] = level


def test_flagMethodIsCalledEachTime():
    assert parse(Verbosity, "-v -v --verbose --loud")["verbosity"] == 4
    assert parse(Verbosity, "-qqq")["verbosity"] == -3


def test_argumentMethodReceivesEachValue():
    assert parse(Verbosity, "-DFOO -D BAR --define=BAZ")["symbols"] == [
        "FOO",
        "BAR",
        "BAZ",
    ]


def test_handlerOptionsSetNoDefaultKey():
    assert "verbose" not in Verbosity()
    assert "define" not in Verbosity()


def test_shortOnlyHandler(capsys):
    assert parse(Verbosity, "-x 3")["x"] == "3"
    assert "-x LEVEL" in helpText(Verbosity(), capsys)


def test_aliasesShareOneHelpEntry(capsys):
    text = helpText(Verbosity(), capsys)
    assert "-v, --verbose, --loud" in text
    assert "-D, --define=SYMBOL" in text
    assert "-q, --quiet" in text
    assert text.count("Say more") == 1


def test_handlerTakingTwoArgumentsIsRejected():
    class Bad(Options):
        def opt_pair(self, first, second):
            pass

    with pytest.raises(ValueError, match="opt_pair"):
        Bad()


def test_handlerTakingVarargsIsRejected():
    class Bad(Options):
        def opt_many(self, *values):
            pass

    with pytest.raises(ValueError, match="opt_many"):
        Bad()


def test_methodOverridesDeclaredFlag():
    class Quiet(Options):
        optFlags = [["quiet", "q", "Say less"]]

        def opt_quiet(self):
            self["quiet"] = "very"

    options = parse(Quiet, "-q")
    assert options["quiet"] == "very"
    assert Quiet()["quiet"] is False


def test_methodOverridingParameterGetsCoercedValue(capsys):
    class Port(Options):
        optParameters = [["port", "p", 8080, None, int]]

        def opt_port(self, value):
            """
            The port to listen on.
            """
            self["port"] = value * 2

    assert parse(Port, "-p 10")["port"] == 20
    assert Port()["port"] == 8080
    assert "The port to listen on. [default: 8080]" in helpText(Port(), capsys)


def test_methodArityMustMatchDeclaration():
    class Mismatched(Options):
        optFlags = [["quiet", "q", None]]

        def opt_quiet(self, value):
            pass

    with pytest.raises(ValueError, match="opt_quiet takes argument"):
        Mismatched()

    class Mismatched2(Options):
        optParameters = [["port", "p", None]]

        def opt_port(self):
            pass

    with pytest.raises(ValueError, match="opt_port takes no argument"):
        Mismatched2()


def test_shortLetterClaimedTwiceIsRejected():
    class Clash(Options):
        optFlags = [["nodaemon", "n", None]]
        optParameters = [["name", "n", None]]

    with pytest.raises(ValueError, match="-n is claimed by both"):
        Clash()


def test_malformedDeclarationsAreRejected():
    class NoName(Options):
        optFlags = [[None, "n", "nameless"]]

    class LongShort(Options):
        optFlags = [["nodaemon", "nd", None]]

    class TooLong(Options):
        optParameters = [["a", "b", 1, "doc", int, "extra"]]

    for optionsClass, match in [
        (NoName, "no long name"),
        (LongShort, "not one letter"),
        (TooLong, "at most 5"),
    ]:
        with pytest.raises(ValueError, match=match):
            optionsClass()


def test_shortEntriesArePadded():
    class Short(Options):
        optFlags = [["flout"]]
        optParameters = [["another", "n", "no docstring"], ["longonly", None]]

    options = parse(Short, "--flout -n x")
    assert options == {
        "flout": True,
        "another": "x",
        "longonly": None,
    }


# Dashes and underscores


class Dashed(Options):
    optFlags = [["no-daemon", None, "stay in the foreground"], ["no_save", "o", None]]
    optParameters = [["log-format", None, "text", "text or json"]]

    def opt_help_reactors(self):
        """
        List the reactors.
        """
        self["listed"] = True


def test_dashesBecomeUnderscoresInKeys():
    options = Dashed()
    assert options["no_daemon"] is False
    assert options["log_format"] == "text"
    assert "no-daemon" not in options


def test_longOptionsAcceptDashesOrUnderscores():
    for commandLine in [
        "--no-daemon --no-save --log-format json --help-reactors",
        "--no_daemon --no_save --log_format=json --help_reactors",
    ]:
        options = parse(Dashed, commandLine)
        assert options["no_daemon"] is True
        assert options["no_save"] is True
        assert options["log_format"] == "json"
        assert options["listed"] is True


def test_abbreviationPastTheSeparatorIsUnique():
    # Both spellings are registered with getopt, so "--log" alone would be an
    # ambiguous prefix; "--log-f" and "--log_f" are not.
    assert parse(Dashed, "--log-f json")["log_format"] == "json"
    assert parse(Dashed, "--log_f json")["log_format"] == "json"


def test_helpShowsDeclaredAndDashedSpellings(capsys):
    text = helpText(Dashed(), capsys)
    assert "--no-daemon" in text
    assert "-o, --no_save" in text
    assert "--log-format=LOG_FORMAT" in text
    assert "--help-reactors" in text
    assert "--help_reactors" not in text


# Inheritance


class BaseOptions(Options):
    optFlags = [["quiet", "q", "Silence output"]]
    optParameters = [["pidfile", None, "twistd.pid", "Name of the pidfile"]]

    def opt_debug(self):
        """
        Turn on debugging.
        """
        self["debug"] = True


class MiddleOptions(BaseOptions):
    optFlags = [["fast", "f", "Run quickly"]]


class SpecificOptions(MiddleOptions):
    optFlags = [["good", "g", "Don't validate input"]]
    optParameters = [["pidfile", None, "loomd.pid", "Where the pid goes"]]


def test_optionsAccumulateOverHierarchy():
    options = parse(SpecificOptions, "-q -f -g --debug")
    assert options["quiet"] and options["fast"] and options["good"]
    assert options["debug"] is True


def test_subclassRedeclaresParameter(capsys):
    assert SpecificOptions()["pidfile"] == "loomd.pid"
    assert BaseOptions()["pidfile"] == "twistd.pid"
    text = helpText(SpecificOptions(), capsys)
    assert text.count("--pidfile") == 1
    assert "Where the pid goes [default: loomd.pid]" in text


def test_baseClassIsUnchangedBySubclass():
    assert "fast" not in BaseOptions()
    assert usageError(BaseOptions, "-f") == "option -f not recognized"


# Coercion


class Typed(Options):
    optParameters = [
        ["port", "p", 8080, "The port", portCoerce],
        ["ratio", None, "0.5", None, float],
        ["name", None, "", "A name"],
        ["count", None, 0, "A count"],
    ]


def test_coerceIsApplied():
    options = parse(Typed, "-p 80 --ratio 2.5")
    assert options["port"] == 80
    assert options["ratio"] == 2.5


def test_defaultsAreNotCoerced():
    assert Typed()["ratio"] == "0.5"


def test_coerceFailureIsWordedAsTwistedsAndNamesOptionAndValue():
    message = usageError(Typed, "--port abc")
    assert message == (
        "Parameter type enforcement failed: invalid literal for int() with base 10: 'abc'"
        " (option --port 'abc')"
    )
    assert usageError(Typed, "-p 70000") == (
        "Parameter type enforcement failed: Port number not in range: 70000 (option -p '70000')"
    )


def test_coerceDocAppearsInHelp(capsys):
    text = helpText(Typed(), capsys, "--help")
    assert "The port [default: 8080] Must be an int between 0 and 65535." in text
    assert "[default: 0.5]" in text
    assert "A name [default: '']" in text
    assert "A count [default: 0]" in text


def test_portCoerce():
    assert portCoerce("0") == 0
    assert portCoerce("65535") == 65535
    with pytest.raises(ValueError):
        portCoerce("-1")


@pytest.mark.parametrize("value", ["-1", "65536"])
def test_portCoerceWordsARefusalAsTwisteds(value):
    with pytest.raises(ValueError) as info:
        portCoerce(value)
    assert str(info.value) == "Port number not in range: %s" % (value,)


# Subcommands


class RunOptions(Options):
    synopsis = "[options] <tac file>"
    optFlags = [["fast", "f", "Run quickly"]]

    def parseArgs(self, *args):
        self["args"] = list(args)


class StopOptions(Options):
    optParameters = [["timeout", "t", "30", "Seconds to wait"]]


class Commands(Options):
    synopsis = "Usage: loomctl [options]"
    optFlags = [["verbose", "v", "Talk more"]]
    subCommands = [
        ["run", "r", RunOptions, "Run the application"],
        ["stop", None, StopOptions, "Stop the application"],
    ]


class DefaultCommand(Commands):
    defaultSubCommand = "stop"


def test_subCommandParsesTheRest():
    options = parse(Commands, "-v run -f app.tac")
    assert options["verbose"] is True
    assert options.subCommand == "run"
    assert isinstance(options.subOptions, RunOptions)
    assert options.subOptions.parent is options
    assert options.subOptions["fast"] is True
    assert options.subOptions["args"] == ["app.tac"]


def test_subCommandShortcut():
    options = parse(Commands, "r")
    assert options.subCommand == "run"
    assert options.subOptions["fast"] is False


def test_optionsAfterSubCommandBelongToIt():
    # -v is the parent's option: after "stop" it's the subcommand's, and unknown.
    assert usageError(Commands, "stop -v") == "option -v not recognized"
    assert parse(Commands, "stop -t 5").subOptions["timeout"] == "5"


def test_unknownSubCommandIsUsageError():
    message = usageError(Commands, "start")
    assert message == "unknown command: start (expected one of: run, stop)"


def test_noSubCommandWithoutDefault():
    options = parse(Commands, "-v")
    assert options.subCommand is None
    assert options.subOptions is None


def test_defaultSubCommandUsedWhenNoArguments():
    options = parse(DefaultCommand, "-v")
    assert options.subCommand == "stop"
    assert options.subOptions["timeout"] == "30"
    assert parse(DefaultCommand, "run").subCommand == "run"


def test_postOptionsRunsAfterSubCommand():
    seen = []

    class Checked(Commands):
        def postOptions(self):
            seen.append(self.subOptions["fast"])

    parse(Checked, "run -f")
    assert seen == [True]


def test_helpListsSubCommands(capsys):
    text = helpText(DefaultCommand(), capsys)
    assert "Commands:\n" in text
    assert "  run, r" in text
    assert "Run the application" in text
    assert "Stop the application [default]" in text


def test_subCommandHelpShowsFullSynopsis(capsys):
    text = helpText(Commands(), capsys, "-v run --help")
    assert text.startswith("Usage: loomctl [options] run [options] <tac file>\n")
    assert "-f, --fast" in text
    assert "--verbose" not in text


def test_defaultSubSynopsis(capsys):
    text = helpText(Commands(), capsys, "stop --help")
    assert text.startswith("Usage: loomctl [options] stop [options]\n")


def test_usageAfterSubCommandErrorIsTheSubCommands():
    options = Commands()
    with pytest.raises(UsageError):
        options.parseOptions(["stop", "--timeout"])
    assert "--timeout=TIMEOUT" in str(options)


# --version


def test_versionDefaultIsLoomsInstalledVersion(capsys, monkeypatch):
    monkeypatch.setattr(metadata, "version", lambda name: "1.2.3")
    assert helpText(Options(), capsys, "--version") == "loom 1.2.3\n"


def test_versionWhenLoomIsNotInstalled(monkeypatch):
    def notInstalled(name):
        raise metadata.PackageNotFoundError(name)

    monkeypatch.setattr(metadata, "version", notInstalled)
    assert Options().getVersion() == "loom (unknown version)"


def test_versionAttributeOverrides(capsys):
    class Versioned(Options):
        version = "loomctl 9.9"

    assert helpText(Versioned(), capsys, "--version") == "loomctl 9.9\n"


def test_getVersionMayBeOverridden(capsys):
    class Versioned(Options):
        def getVersion(self):
            return "computed"

    assert helpText(Versioned(), capsys, "--version") == "computed\n"


# The usage text


class Described(Options):
    longdesc = """
        Run a Loom application from a .tac file or a plugin, optionally as a
        daemon, with the usual twistd options.

        A second paragraph.
    """
    optFlags = [["nodaemon", "n", "don't daemonize " * 8]]
    optParameters = [
        ["an-extraordinarily-long-option-name", None, None, "Short doc"],
    ]


def test_defaultSynopsisNamesTheProgram(monkeypatch):
    monkeypatch.setattr(sys, "argv", ["/usr/bin/loomd", "-n"])
    assert Options().getSynopsis() == "Usage: loomd [options]"


def test_usageTextOrder():
    text = Described().getUsage(width=80)
    synopsis, longdesc, second, options = text.split("\n\n")
    assert synopsis.startswith("Usage: ")
    assert longdesc.startswith("Run a Loom application")
    assert second == "A second paragraph."
    assert options.startswith("Options:\n")
    assert text.endswith("\n")


def longestBreakableLine(text):
    """
    The length of text's longest line, leaving out single unbreakable words.
    """
    return max(len(line) for line in text.splitlines() if " " in line.strip())


def test_usageIsWrappedToWidth():
    for width in (40, 60, 80, 120):
        text = Described().getUsage(width=width)
        assert longestBreakableLine(text) <= width


def test_descriptionContinuationLinesAreIndented():
    lines = Described().getUsage(width=60).splitlines()
    start = next(i for i, line in enumerate(lines) if "--nodaemon" in line)
    column = lines[start].index("don't")
    assert lines[start + 1].index("don't") == column


def test_longFormGetsItsOwnLine():
    lines = Described().getUsage(width=80).splitlines()
    form = "--an-extraordinarily-long-option-name=AN_EXTRAORDINARILY_LONG_OPTION_NAME"
    start = lines.index("  " + form)
    assert lines[start + 1].strip() == "Short doc"


def test_widthDefaultsToTerminalColumns(monkeypatch):
    monkeypatch.setenv("COLUMNS", "50")
    text = str(Described())
    assert longestBreakableLine(text) <= 50
    assert text == Described().getUsage(width=50)


def test_strIsGetUsage(monkeypatch):
    monkeypatch.setenv("COLUMNS", "80")
    options = TwistdOptions()
    assert str(options) == options.getUsage(80)


def test_optionsAreListedAlphabetically():
    text = TwistdOptions().getUsage(width=80)
    order = [text.index(form) for form in ["--help", "--logfile", "--nodaemon"]]
    assert order == sorted(order)
