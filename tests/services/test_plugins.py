"""
Tests for services.plugins: the built-in makers, their services on a real
reactor, and discovery of plugins installed from temporary distributions
(a ``*.dist-info`` directory on sys.path, as pip would leave it).
"""

import sys

import pytest
from zope.interface.verify import verifyObject

import reactor as loom
from protocols.policies import TimeoutFactory
from protocols.protocol import Protocol
from protocols.wire import chargenPattern
from reactor import log
from reactor.address import IPv4Address
from reactor.defer import Deferred
from reactor.endpoints import TCP4ClientEndpoint, connectProtocol
from reactor.task import Clock
from reactor.testing import StringTransport
from services.internet import StreamServerEndpointService
from services.plugins import IServiceMaker, ServiceMaker, builtinMakers, getPlugins
from services.plugins_builtin import chargen, daytime, discard, echo, finger, portforward
from services.usage import Options, UsageError

BUILTIN = ["echo", "discard", "chargen", "daytime", "finger", "portforward", "procmon", "web"]


def parsed(module, *args):
    options = module.Options()
    options.parseOptions(list(args))
    return options


# -- the built-in makers ------------------------------------------------------------


def test_builtinMakersAreListedFirst():
    makers, failures = getPlugins()
    assert [m.tapname for m in makers[: len(BUILTIN)]] == BUILTIN
    for maker in builtinMakers():
        assert verifyObject(IServiceMaker, maker)
        assert maker.description
        assert issubclass(maker.options, Options)


def test_builtinDefaultsNeedNoRoot():
    for module, port in [(echo, 8007), (discard, 8009), (daytime, 8013), (chargen, 8019)]:
        assert parsed(module)["port"] == "tcp:%d" % (port,)
    assert parsed(finger)["port"] == "tcp:8079"
    options = parsed(portforward)
    assert (options["port"], options["host"], options["dest_port"]) == (
        "tcp:6666",
        "localhost",
        6665,
    )


def test_aBarePortNumberMeansTCP():
    assert parsed(echo, "--port", "9000")["port"] == "tcp:9000"
    assert parsed(echo, "-p", "unix:/run/echo.sock")["port"] == "unix:/run/echo.sock"


def test_portforwardTakesHostAndDestinationPort():
    options = parsed(portforward, "--port", "7000", "--host", "example.org", "--dest_port", "80")
    assert (options["port"], options["host"], options["dest_port"]) == (
        "tcp:7000",
        "example.org",
        80,
    )
    with pytest.raises(UsageError):
        parsed(portforward, "--dest_port", "eighty")


def test_fingerRefusesAUserListItCannotRead(tmp_path):
    with pytest.raises(UsageError, match="cannot read the user list"):
        parsed(finger, "--file", str(tmp_path / "missing.txt"))


# (plugin, idle timeout, lifetime): the documented defaults, None meaning off.
LIMITS = [
    (echo, 300.0, 3600.0),
    (discard, 300.0, 3600.0),
    (chargen, 300.0, 3600.0),
    (daytime, 60.0, None),
    (finger, 30.0, 60.0),
    (portforward, 600.0, None),
]


@pytest.mark.parametrize("module, idle, lifetime", LIMITS, ids=lambda v: getattr(v, "__name__", v))
def test_builtinPluginsBoundTheirConnectionsByDefault(module, idle, lifetime):
    options = parsed(module)
    assert (options["idle_timeout"], options["lifetime"]) == (idle, lifetime)
    usage = options.getUsage(width=200)
    assert "--idle-timeout=" in usage and "--lifetime=" in usage
    assert ("[default: %s]" % (idle,)) in usage
    assert ("[default: %s]" % (lifetime,) if lifetime else "Off by default") in usage
    factory = module.makeService(options, reactor=Clock())
    factory = (list(factory)[1] if module is finger else factory).factory
    assert isinstance(factory, TimeoutFactory)
    assert (factory.timeoutPeriod, factory.lifetime) == (idle, lifetime)


def test_timeoutOptionsTakeSecondsAndZeroTurnsThemOff():
    options = parsed(echo, "--idle-timeout", "0", "--lifetime", "2.5")
    assert (options["idle_timeout"], options["lifetime"]) == (None, 2.5)
    for bad in ("-1", "nan", "inf", "soon"):
        with pytest.raises(UsageError):
            parsed(echo, "--lifetime", bad)
    options = parsed(echo, "--idle-timeout", "0", "--lifetime", "0")
    svc = echo.makeService(options, reactor=Clock())
    assert not isinstance(svc.factory, TimeoutFactory)


def test_fingerDropsATrickledQueryAtItsMessageTimeout():
    clock = Clock()
    options = parsed(finger, "--message-timeout", "2")
    assert parsed(finger)["message_timeout"] == 10.0
    factory = list(finger.makeService(options, reactor=clock))[1].factory
    wrapper = factory.buildProtocol(IPv4Address("TCP", "127.0.0.1", 5000))
    transport = StringTransport()
    wrapper.makeConnection(transport)
    wrapper.dataReceived(b"a")
    clock.advance(1)
    wrapper.dataReceived(b"l")
    clock.advance(0.999)
    assert not transport.disconnecting
    clock.advance(0.001)
    assert transport.aborted


def test_makeServiceThroughTheMakerLeavesTheGlobalReactorAlone(tmp_path):
    before = loom._installed
    arguments = {"procmon": ["true"], "web": ["--path", str(tmp_path)]}
    for maker in builtinMakers():
        options = maker.options()
        options.parseOptions(arguments.get(maker.tapname, []))
        svc = maker.makeService(options)
        assert svc is not None
        if maker.tapname not in ("finger", "procmon"):
            assert isinstance(svc, StreamServerEndpointService)
    assert loom._installed is before


# -- the built-in services, running -----------------------------------------------------


class Collector(Protocol):
    """Sends `message`; fires `closed` with everything received once closed."""

    def __init__(self, message=b"", enough=None):
        self.message = message
        self.enough = enough
        self.received = b""
        self.closed = Deferred()

    def connectionMade(self):
        if self.message:
            self.transport.write(self.message)

    def dataReceived(self, data):
        self.received += data
        if self.enough is not None and len(self.received) >= self.enough:
            self.transport.loseConnection()

    def connectionLost(self, reason):
        self.closed.callback(self.received)


def exchange(reactor, runUntil, svc, client):
    """Connect client to svc's port; return what it received when closed."""
    endpoint = TCP4ClientEndpoint(reactor, "127.0.0.1", svc.getHost().port, timeout=5)
    runUntil(reactor, connectProtocol(endpoint, client))
    return runUntil(reactor, client.closed)


@pytest.fixture
def running(defaultReactor, runUntil):
    """Start services (makeService results) on defaultReactor; stop them afterwards."""
    started = []

    def start(module, *args):
        svc = module.makeService(parsed(module, *args), reactor=defaultReactor)
        svc.privilegedStartService()
        runUntil(defaultReactor, svc.startService())
        started.append(svc)
        return svc

    yield start
    for svc in reversed(started):
        runUntil(defaultReactor, svc.stopService())
    for _ in range(3):  # let the servers' sides of closed connections go
        defaultReactor.iterate(0.01)


def test_echoServiceEchoes(defaultReactor, runUntil, running):
    svc = running(echo, "--port", "tcp:0:interface=127.0.0.1")
    client = Collector(b"plugin echo", enough=11)
    assert exchange(defaultReactor, runUntil, svc, client) == b"plugin echo"


def test_daytimeServiceSendsOneLineAndCloses(defaultReactor, runUntil, running):
    svc = running(daytime, "--port", "tcp:0:interface=127.0.0.1")
    answer = exchange(defaultReactor, runUntil, svc, Collector())
    assert answer.endswith(b"\r\n") and answer.count(b"\n") == 1


def test_chargenServiceSendsCharacters(defaultReactor, runUntil, running):
    svc = running(chargen, "--port", "tcp:0:interface=127.0.0.1")
    answer = exchange(defaultReactor, runUntil, svc, Collector(enough=1000))
    assert answer.startswith(chargenPattern(3))


def test_discardServiceAcceptsAndSaysNothing(defaultReactor, runUntil, running):
    svc = running(discard, "--port", "tcp:0:interface=127.0.0.1")
    client = Collector(b"into the void")
    endpoint = TCP4ClientEndpoint(defaultReactor, "127.0.0.1", svc.getHost().port, timeout=5)
    runUntil(defaultReactor, connectProtocol(endpoint, client))
    client.transport.loseConnection()
    assert runUntil(defaultReactor, client.closed) == b""


def test_fingerServiceAnswersFromTheFile(defaultReactor, runUntil, running, tmp_path):
    from protocols.finger import query

    users = tmp_path / "users.txt"
    users.write_text("alice: Happy and well\nbob: Away\n")
    svc = running(finger, "--file", str(users), "--port", "tcp:0:interface=127.0.0.1")
    assert svc.getServiceNamed("users").running
    listening = list(svc)[1]  # the finger port, after the users service
    answer = runUntil(
        defaultReactor, query("127.0.0.1", listening.getHost().port, "alice", defaultReactor)
    )
    assert b"Happy and well" in answer


def test_portforwardServiceRelays(defaultReactor, runUntil, running):
    target = running(echo, "--port", "tcp:0:interface=127.0.0.1")
    forwarder = running(
        portforward,
        "--port",
        "tcp:0:interface=127.0.0.1",
        "--host",
        "127.0.0.1",
        "--dest_port",
        str(target.getHost().port),
    )
    client = Collector(b"through the proxy", enough=17)
    assert exchange(defaultReactor, runUntil, forwarder, client) == b"through the proxy"


# -- ServiceMaker -------------------------------------------------------------------------


def test_serviceMakerImportsItsModuleOnlyWhenUsed():
    maker = ServiceMaker("Nothing", "no_such_module_for_loom", "Not there", "nothing")
    assert maker.tapname == "nothing"
    with pytest.raises(ModuleNotFoundError):
        maker.makeService(None)


def test_serviceMakerUsesTheModulesOptionsAndMakeService():
    maker = ServiceMaker("Echo", "services.plugins_builtin.echo", "Echo", "echo")
    assert maker.options is echo.Options
    options = maker.options()
    options.parseOptions(["--port", "tcp:0"])
    assert isinstance(maker.makeService(options), StreamServerEndpointService)


# -- discovery through entry points --------------------------------------------------------


TAP_MODULE = """
from services.service import Service
from services.usage import Options as _Base


class Options(_Base):
    optParameters = [["greeting", "g", "hello", "What to say."]]


class Greeter(Service):
    def __init__(self, greeting):
        self.greeting = greeting


def makeService(options):
    return Greeter(options["greeting"])
"""


@pytest.fixture
def distributions(tmp_path, monkeypatch):
    """install(name, entryPoints, modules): a distribution importlib.metadata can find."""
    created = []

    def install(name, entryPoints, modules):
        for moduleName, source in modules.items():
            (tmp_path / (moduleName + ".py")).write_text(source)
            created.append(moduleName)
        info = tmp_path / ("%s-1.0.dist-info" % (name,))
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: %s\nVersion: 1.0\n" % (name,))
        lines = ["%s = %s" % item for item in entryPoints.items()]
        (info / "entry_points.txt").write_text("[loom.plugins]\n" + "\n".join(lines) + "\n")

    monkeypatch.syspath_prepend(str(tmp_path))
    yield install
    for moduleName in created:
        sys.modules.pop(moduleName, None)


@pytest.fixture
def logged():
    events = []
    log.addObserver(events.append)
    yield events
    log.removeObserver(events.append)


def test_anInstalledPluginIsDiscovered(distributions):
    distributions(
        "loom_greeter",
        {"greeter": "loom_greeter_plugin:maker"},
        {
            "loom_greeter_plugin": (
                "from services.plugins import ServiceMaker\n"
                "maker = ServiceMaker('Greeter', 'loom_greeter_tap', 'Says hello', 'greeter')\n"
            ),
            "loom_greeter_tap": TAP_MODULE,
        },
    )
    makers, failures = getPlugins()
    assert failures == []
    assert [m.tapname for m in makers] == BUILTIN + ["greeter"]
    maker = makers[-1]
    options = maker.options()
    options.parseOptions(["--greeting", "bonjour"])
    assert maker.makeService(options).greeting == "bonjour"


def test_aBrokenPluginIsReportedByNameAndHidesNothing(distributions, logged):
    distributions(
        "loom_good",
        {"good": "loom_good_plugin:maker"},
        {
            "loom_good_plugin": (
                "from services.plugins import ServiceMaker\n"
                "maker = ServiceMaker('Good', 'loom_good_tap', 'Works', 'good')\n"
            ),
            "loom_good_tap": TAP_MODULE,
        },
    )
    distributions(
        "loom_broken",
        {"broken": "loom_broken_plugin:maker"},
        {"loom_broken_plugin": "raise RuntimeError('this plugin is broken')\n"},
    )
    makers, failures = getPlugins()
    assert [m.tapname for m in makers] == BUILTIN + ["good"]
    assert [f.name for f in failures] == ["broken"]
    assert isinstance(failures[0].error, RuntimeError)
    name, error = failures[0]
    assert "this plugin is broken" in str(error)
    errors = [e for e in logged if e["isError"]]
    assert len(errors) == 1 and "'broken'" in errors[0]["why"]


def test_aPluginWhoseModuleIsMissingIsReported(distributions):
    distributions(
        "loom_lazy",
        {"lazy": "loom_lazy_plugin:maker"},
        {
            "loom_lazy_plugin": (
                "from services.plugins import ServiceMaker\n"
                "maker = ServiceMaker('Lazy', 'loom_lazy_tap_missing', 'Gone', 'lazy')\n"
            )
        },
    )
    makers, failures = getPlugins()
    assert "lazy" not in [m.tapname for m in makers]
    assert [f.name for f in failures] == ["lazy"]
    assert isinstance(failures[0].error, ModuleNotFoundError)


def test_aPluginThatIsNoServiceMakerOrTakesATakenNameIsReported(distributions):
    distributions(
        "loom_odd",
        {"odd": "loom_odd_plugin:notAMaker", "echo": "loom_odd_plugin:impostor"},
        {
            "loom_odd_plugin": (
                "from services.plugins import ServiceMaker\n"
                "notAMaker = object()\n"
                "impostor = ServiceMaker('Echo', 'loom_odd_plugin', 'Another echo', 'echo')\n"
            )
        },
    )
    makers, failures = getPlugins()
    assert [m.tapname for m in makers] == BUILTIN
    byName = {f.name: str(f.error) for f in failures}
    assert "not a service maker" in byName["odd"] and "makeService" in byName["odd"]
    assert "already taken by built-in" in byName["echo"]
    assert makers[0].module == "services.plugins_builtin.echo"


def test_loomdOffersThePluginsAsCommands(distributions):
    from services.loomd.runner import LoomdOptions

    distributions(
        "loom_broken2",
        {"broken2": "loom_broken2_plugin:maker"},
        {"loom_broken2_plugin": "import no_such_dependency_for_loom\n"},
    )
    options = LoomdOptions()
    assert [c[0] for c in options.subCommands] == BUILTIN
    assert [f.name for f in options.pluginFailures] == ["broken2"]
    options.parseOptions(["--nodaemon", "echo", "--port", "tcp:0"])
    assert options.subCommand == "echo"
    assert options.subOptions["port"] == "tcp:0"


@pytest.mark.parametrize("name", BUILTIN)
def test_pluginHelpNamesLoomdAndThePluginOnce(name):
    # loomd PLUGIN --help: the launcher's part, the plugin's name, then the
    # plugin's own options, each once ("loomd web loomd web ..." before).
    from services.loomd.runner import LoomdOptions

    options = LoomdOptions()
    with pytest.raises(SystemExit):
        options.parseOptions([name, "--help"])
    synopsis = options.subOptions.getSynopsis()
    assert synopsis.startswith("Usage: loomd [options] %s " % (name,))
    assert synopsis.count("loomd") == 1
    assert synopsis.split().count(name) == 1
