"""
Loom's core: the reactor, Deferreds, Failures, transports, timers and logging.

``from reactor import reactor`` gives the installed global reactor, installing
the best one for this platform (epoll, else poll, else select) on first use.
``reactor.install(name)`` chooses one explicitly, before anything has asked for
it; a second installation raises ReactorAlreadyInstalledError.  Library code
should take a ``reactor=`` argument instead of reaching for the global one,
and call ``getReactor(reactor)`` when it needs one.
"""

import importlib
from typing import Any

from reactor.error import (  # noqa: F401 - re-exported
    CONNECTION_DONE,
    CONNECTION_LOST,
    ReactorAlreadyInstalledError,
)

# name -> (module, class), in order of preference for the default.
REACTORS = {
    "epoll": ("reactor.epollreactor", "EPollReactor"),
    "poll": ("reactor.pollreactor", "PollReactor"),
    "select": ("reactor.selectreactor", "SelectReactor"),
    "asyncio": ("reactor.asyncioreactor", "AsyncioReactor"),
}

_installed = None


def getReactorClass(name):
    """
    Return the reactor class registered under name.

    :raises ValueError: for an unknown name, listing the known ones.
    """
    try:
        moduleName, className = REACTORS[name]
    except KeyError:
        raise ValueError(
            "unknown reactor %r; choose one of: %s" % (name, ", ".join(REACTORS))
        ) from None
    return getattr(importlib.import_module(moduleName), className)


def defaultReactorName():
    """Return the name of the best reactor this platform supports."""
    import select

    if hasattr(select, "epoll"):
        return "epoll"
    if hasattr(select, "poll"):
        return "poll"
    return "select"


def install(name=None):
    """
    Install the global reactor named name (the platform default if None).

    :return: the installed reactor instance.
    :raises ReactorAlreadyInstalledError: if a reactor is already installed.
    """
    global _installed
    if _installed is not None:
        raise ReactorAlreadyInstalledError(
            "reactor already installed: %s" % (type(_installed).__name__,)
        )
    _installed = getReactorClass(name or defaultReactorName())()
    return _installed


def installReactor(instance):
    """Install an existing reactor instance as the global reactor."""
    global _installed
    if _installed is not None:
        raise ReactorAlreadyInstalledError(
            "reactor already installed: %s" % (type(_installed).__name__,)
        )
    _installed = instance
    return instance


def getReactor(reactor: Any = None) -> Any:
    """
    Return reactor, or the global reactor if reactor is None.

    For library code that takes a ``reactor=`` argument: call this when the
    reactor is first needed, not at import or when an object is built, so
    that importing or building it installs no reactor.  The global reactor is
    installed (the platform default) on first use, as ``from reactor import
    reactor`` does.
    """
    if reactor is not None:
        return reactor
    return _installed if _installed is not None else install()


def installedReactor() -> Any:
    """Return the installed global reactor, or None if none is installed yet (installs none)."""
    return _installed


def __getattr__(name):
    # Module-level __getattr__ (PEP 562): the global reactor is built on first use.
    if name == "reactor":
        return getReactor()
    raise AttributeError("module 'reactor' has no attribute %r" % (name,))
