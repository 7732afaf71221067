"""
react(): run a main function under a reactor and exit the process with its outcome.

Re-exported as ``reactor.task.react``.  The whole life of a small program:
start the reactor, call ``main(reactor, *argv)``, stop the reactor when the
Deferred (or coroutine) it returns is done, and exit with status 0 on
success, 1 on an error (logged), or the code of a SystemExit it raised.
"""

import sys
from types import CoroutineType

from reactor import getReactor, log
from reactor.defer import Deferred, ensureDeferred, maybeDeferred
from reactor.error import ReactorNotRunning

__all__ = ["react"]


def react(main, argv=(), _reactor=None):
    """
    Call main(reactor, *argv), run the reactor until its result is done, exit.

    :param main: returns a Deferred, a coroutine, or a plain value.
    :param argv: more positional arguments for main.
    :param _reactor: the reactor to use (the global one by default).
    :raises SystemExit: always; with 0 on success, 1 on an error, or the
        code of a SystemExit main raised or its Deferred failed with.
    """
    _reactor = getReactor(_reactor)
    exitCode = [0]
    shuttingDown = []
    _reactor.addSystemEventTrigger("before", "shutdown", shuttingDown.append, True)

    def finish(result):
        if hasattr(result, "check"):  # a Failure
            if result.check(SystemExit) is not None:
                exitCode[0] = result.value.code
            else:
                log.err(result, "main function encountered error")
                exitCode[0] = 1
        if not shuttingDown:
            _reactor.callWhenRunning(_stopQuietly, _reactor)

    def start():
        result = maybeDeferred(main, _reactor, *argv)
        result.addCallback(_awaitCoroutine)
        result.addBoth(finish)

    _reactor.callWhenRunning(start)
    _reactor.run()
    sys.exit(exitCode[0])


def _awaitCoroutine(result):
    if isinstance(result, (CoroutineType, Deferred)):
        return ensureDeferred(result)
    return result


def _stopQuietly(reactor):
    try:
        reactor.stop()
    except ReactorNotRunning:
        pass
