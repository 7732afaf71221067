"""
Plugins: service makers that ``loomd NAME [options]`` can run without a .tac file.

A service maker (IServiceMaker) has a ``tapname`` (the command name), a
``description``, an ``options`` class (a services.usage.Options subclass
parsing the plugin's command line) and ``makeService(options)`` returning
the service to run.  The built-in makers (echo, discard, chargen, daytime,
finger, portforward, procmon, web) live in services.plugins_builtin; other packages add
theirs through the entry-point group ``loom.plugins``:

    [options.entry_points]        # setup.cfg of the package providing it
    loom.plugins =
        myserver = mypackage.loomplugin:maker

where ``maker`` is an IServiceMaker provider, usually a
``ServiceMaker("My server", "mypackage.tap", "What it does", "myserver")``.

The one idea: a broken plugin must not break loomd.  getPlugins() loads
each entry point (and its ``options``) on its own; one that fails to import,
is not a service maker, or takes a name already used, is logged and
returned in the failure list by name, and every other plugin is still there.
"""

import importlib
from collections import namedtuple
from importlib.metadata import entry_points

from zope.interface import Attribute, Interface, implementer

from reactor import log
from reactor.failure import Failure

__all__ = [
    "IServiceMaker",
    "ServiceMaker",
    "PluginFailure",
    "ENTRY_POINT_GROUP",
    "builtinMakers",
    "getPlugins",
]

ENTRY_POINT_GROUP = "loom.plugins"


class IServiceMaker(Interface):
    """An object that builds a service from command-line options."""

    tapname = Attribute("The plugin's name on the loomd command line (a str).")
    description = Attribute("A one-line description for loomd --help.")
    options = Attribute("A services.usage.Options subclass for the plugin's options.")

    def makeService(options):
        """Return the IService to run, given a parsed instance of ``options``."""


@implementer(IServiceMaker)
class ServiceMaker:
    """
    A service maker whose Options and makeService live in another module.

    The module is imported when ``options`` or ``makeService`` is first
    used, not when the ServiceMaker is built, so declaring a maker costs
    nothing.

    :param name: a human name for the plugin.
    :param module: the dotted module name holding ``Options`` and
        ``makeService(options)``.
    :param description: the one-line description.
    :param tapname: the command name.
    """

    def __init__(self, name, module, description, tapname):
        self.name = name
        self.module = module
        self.description = description
        self.tapname = tapname

    @property
    def options(self):
        """The module's Options class (importing the module)."""
        return importlib.import_module(self.module).Options

    def makeService(self, options):
        """Return the module's makeService(options)."""
        return importlib.import_module(self.module).makeService(options)

    def __repr__(self):
        return "<ServiceMaker %s from %s>" % (self.tapname, self.module)


PluginFailure = namedtuple("PluginFailure", ["name", "error"])
PluginFailure.__doc__ = """
A plugin that could not be loaded: name is the entry point's name, error
the exception (its str() says what went wrong).
"""


class PluginError(Exception):
    """A plugin loaded but is unusable (not a service maker, or a duplicate name)."""


def builtinMakers():
    """Return the built-in service makers, in a fixed order."""
    return [
        ServiceMaker(
            "Echo", "services.plugins_builtin.echo", "Echo every byte back (RFC 862).", "echo"
        ),
        ServiceMaker(
            "Discard", "services.plugins_builtin.discard", "Read and drop (RFC 863).", "discard"
        ),
        ServiceMaker(
            "Chargen",
            "services.plugins_builtin.chargen",
            "Send characters until the client closes (RFC 864).",
            "chargen",
        ),
        ServiceMaker(
            "Daytime",
            "services.plugins_builtin.daytime",
            "Send the date and time, then close (RFC 867).",
            "daytime",
        ),
        ServiceMaker(
            "Finger",
            "services.plugins_builtin.finger",
            "Answer finger queries from a user:info file (RFC 1288).",
            "finger",
        ),
        ServiceMaker(
            "Port forwarder",
            "services.plugins_builtin.portforward",
            "Forward each connection to another host and port.",
            "portforward",
        ),
        ServiceMaker(
            "Process monitor",
            "services.plugins_builtin.procmon",
            "Run programs and restart them when they exit.",
            "procmon",
        ),
        ServiceMaker(
            "Web",
            "services.plugins_builtin.web",
            "Serve files, a reverse proxy or a WSGI application over HTTP.",
            "web",
        ),
    ]


def getPlugins(group=ENTRY_POINT_GROUP):
    """
    Return every usable service maker, and the plugins that failed.

    Built-in makers come first, then the entry points of group in the order
    importlib.metadata lists them.  Each entry point is loaded and its
    ``options`` fetched (importing what it needs); any exception there, an
    object that is not a service maker, or a tapname already taken, puts
    (name, error) in the failure list and logs it.

    :return: (makers, failures): a list of IServiceMaker providers and a
        list of PluginFailure(name, error).
    """
    makers = builtinMakers()
    taken = {maker.tapname: "built-in" for maker in makers}
    failures = []
    for entry in entry_points(group=group):
        try:
            maker = _loadMaker(entry, taken)
        except Exception as error:
            failures.append(PluginFailure(entry.name, error))
            why = "Loom plugin %r (%s) could not be loaded" % (entry.name, entry.value)
            log.err(Failure(), why)
            continue
        taken[maker.tapname] = entry.value
        makers.append(maker)
    return makers, failures


def _loadMaker(entry, taken):
    maker = entry.load()
    tapname = getattr(maker, "tapname", None)
    if tapname in taken:
        raise PluginError(
            "plugin name %r of %s is already taken by %s" % (tapname, entry.value, taken[tapname])
        )
    missing = [
        name
        for name in ("tapname", "description", "options", "makeService")
        if not hasattr(maker, name)  # fetching options imports the plugin's module
    ]
    if missing:
        raise PluginError(
            "entry point %s = %s gives %r, which is not a service maker (missing %s)"
            % (entry.name, entry.value, maker, ", ".join(missing))
        )
    return maker
