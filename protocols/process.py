"""
Running a local command and getting its output as a Deferred: Twisted's
twisted.internet.utils, on ``reactor.spawnProcess``.

Each call starts the child with spawnProcess and collects its output from
the reactor's loop, as the pipes deliver it: no thread per child, and as
many children at once as the system allows.  The Deferred fires once the
child has ended and its pipes are closed; a timeout kills it (SIGKILL), and
so does cancelling the Deferred.

As in Twisted, the child gets exactly the environment passed in ``env``:
``None`` (the default) means an *empty* environment, not the parent's (the
opposite of spawnProcess's ``env=None``).  Pass ``env=os.environ`` to
inherit it.  Its standard input is /dev/null.  With ``errortoo`` its
standard output and error are one pipe, so the two arrive in the order the
child wrote them.
"""

import os
import subprocess

from protocols.protocol import ProcessProtocol
from reactor import getReactor
from reactor.defer import Deferred
from reactor.error import ProcessExecError
from reactor.process import ProcessReader

__all__ = [
    "UnexpectedErrorOutput",
    "getProcessOutput",
    "getProcessOutputAndValue",
    "getProcessValue",
]

DEFAULT_TIMEOUT = 60.0


class UnexpectedErrorOutput(IOError):
    """
    getProcessOutput's child wrote to its standard error.

    :ivar errorOutput: what it wrote there (bytes).
    :ivar output: what it wrote to its standard output (bytes).
    :ivar exitCode: its exit status (negative: killed by that signal).
    """

    def __init__(self, errorOutput, output=b"", exitCode=None):
        IOError.__init__(self, "got stderr: %r" % (errorOutput,))
        self.errorOutput = errorOutput
        self.output = output
        self.exitCode = exitCode


class _Collector(ProcessProtocol):
    """
    Gathers a child's output and fires deferred with (out, err, status) once
    it has ended and every pipe is closed (the merged one included).
    """

    def __init__(self, deferred, command, timeout, merged):
        self.deferred = deferred
        self.command = command
        self.timeout = timeout
        self.output = []
        self.errorOutput = []
        self.timedOut = False
        self.timer = None
        self.reason = None
        # The merged output pipe (errortoo), read beside the process's own.
        self.mergedOpen = merged

    def outReceived(self, data):
        """Keep what the child wrote to its standard output."""
        self.output.append(data)

    def errReceived(self, data):
        """Keep what the child wrote to its standard error."""
        self.errorOutput.append(data)

    def kill(self, timedOut=False):
        """Kill the child (SIGKILL), if it still runs."""
        self.timedOut = self.timedOut or timedOut
        try:
            self.transport.signalProcess("KILL")
        except Exception:
            pass  # It has exited already.

    def processEnded(self, reason):
        """The child ended: finish once the merged pipe is closed too."""
        if self.timer is not None and self.timer.active():
            self.timer.cancel()
        self.reason = reason
        self._maybeFinish()

    # The merged pipe's reader reports to us as a process would.

    def childDataReceived(self, childFD, data):
        """Output from the child: standard output (and the merged pipe) or error."""
        (self.output if childFD != 2 else self.errorOutput).append(data)

    def childConnectionLost(self, childFD, reason=None):
        """A pipe closed; the merged one (childFD None) may be the last thing awaited."""
        if childFD is None:
            self.mergedOpen = False
            self._maybeFinish()

    def _maybeFinish(self):
        if self.reason is None or self.mergedOpen or self.deferred.called:
            return
        value = self.reason.value
        output, errorOutput = b"".join(self.output), b"".join(self.errorOutput)
        if isinstance(value, ProcessExecError):
            self.deferred.errback(value.osError())
        elif self.timedOut:
            self.deferred.errback(
                subprocess.TimeoutExpired(self.command, self.timeout, output, errorOutput)
            )
        else:
            status = -value.signal if value.signal else value.exitCode
            self.deferred.callback((output, errorOutput, 0 if status is None else status))


def _spawn(executable, args, env, path, reactor, timeout, mergeStderr=False):
    reactor = getReactor(reactor)
    command = [executable, *args]
    d = Deferred(lambda _: collector.kill())
    collector = _Collector(d, command, timeout, mergeStderr)
    devnull = os.open(os.devnull, os.O_RDONLY | os.O_CLOEXEC)
    merged = None
    try:
        if mergeStderr:
            readFD, merged = os.pipe()
            os.set_blocking(readFD, False)
            ProcessReader(reactor, collector, None, readFD)
            childFDs = {0: devnull, 1: merged, 2: merged}
        else:
            childFDs = {0: devnull, 1: "r", 2: "r"}
        reactor.spawnProcess(
            collector, executable, command, {} if env is None else env, path, childFDs=childFDs
        )
    except Exception:
        # Bad arguments, or no child could be made (EAGAIN): the Deferred
        # fails, as it always has.
        d.errback()
    finally:
        os.close(devnull)
        if merged is not None:
            os.close(merged)
    if not d.called and collector.reason is None:
        collector.timer = reactor.callLater(timeout, collector.kill, True)
    return d


def getProcessOutput(
    executable,
    args=(),
    env=None,
    path=None,
    reactor=None,
    errortoo=False,
    *,
    timeout=DEFAULT_TIMEOUT,
):
    """
    Run executable with args and return a Deferred firing with its standard output.

    :param executable: the program to run (a bare name is looked up in the
        PATH of env: with an empty environment only the default search
        path, /bin:/usr/bin).
    :param args: its arguments (without the program name).
    :param env: the child's environment (None: empty).
    :param path: the directory to run it in (None: the current one).
    :param reactor: the reactor that runs it (the global one by default).
    :param errortoo: merge standard error into the output instead of
        treating any error output as a failure.
    :param timeout: seconds before the child is killed.
    :return: a Deferred firing with the output (bytes) whatever the exit
        status, as Twisted's does; failing with UnexpectedErrorOutput if the
        child wrote to standard error (and errortoo is false), with
        subprocess.TimeoutExpired on timeout, or with OSError
        (FileNotFoundError, PermissionError, ...) if the program cannot be
        run.  Cancelling it kills the child.
    """
    d = _spawn(executable, args, env, path, reactor, timeout, mergeStderr=errortoo)

    def _cbOutput(result):
        output, errorOutput, code = result
        if errorOutput:
            raise UnexpectedErrorOutput(errorOutput, output, code)
        return output

    return d.addCallback(_cbOutput)


def getProcessValue(
    executable, args=(), env=None, path=None, reactor=None, *, timeout=DEFAULT_TIMEOUT
):
    """
    Run executable with args; return a Deferred firing with its exit status.

    A negative status means the child was killed by that signal.  The other
    arguments and failures are getProcessOutput's.
    """
    d = _spawn(executable, args, env, path, reactor, timeout)
    return d.addCallback(lambda result: result[2])


def getProcessOutputAndValue(
    executable, args=(), env=None, path=None, reactor=None, *, timeout=DEFAULT_TIMEOUT
):
    """
    Run executable with args; return a Deferred firing with (out, err, status).

    out and err are bytes; status is the exit status (negative: killed by
    that signal).  The other arguments and failures are getProcessOutput's.
    """
    return _spawn(executable, args, env, path, reactor, timeout)
