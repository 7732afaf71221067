"""
Running a local command and getting its output as a Deferred.

This is a minimal, thread-based version of Twisted's twisted.internet.utils:
each call runs ``subprocess.run`` in the reactor's thread pool, bounded by a
timeout, and fires its Deferred in the reactor thread.  A real subprocess is
run; only the plumbing differs from Twisted's, which drives the child's pipes
from the reactor with spawnProcess.  The spawnProcess-based version, which
needs no pool thread per running child, comes with the process support issue;
the names, arguments and results here are the ones it will keep.

As in Twisted, the child gets exactly the environment passed in ``env``:
``None`` (the default) means an *empty* environment, not the parent's.  Pass
``env=os.environ`` to inherit it.
"""

import subprocess

from reactor import getReactor
from reactor.threads import deferToThreadPool

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


def _run(executable, args, env, path, timeout, mergeStderr):
    # Runs in a pool thread.  subprocess.run kills the child on timeout and
    # raises subprocess.TimeoutExpired, which becomes the Deferred's Failure.
    completed = subprocess.run(
        [executable, *args],
        env={} if env is None else dict(env),
        cwd=path,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT if mergeStderr else subprocess.PIPE,
        timeout=timeout,
        check=False,
    )
    return completed.stdout, completed.stderr or b"", completed.returncode


def _spawn(executable, args, env, path, reactor, timeout, mergeStderr=False):
    reactor = getReactor(reactor)
    return deferToThreadPool(
        reactor,
        reactor.getThreadPool(),
        _run,
        executable,
        tuple(args),
        env,
        path,
        timeout,
        mergeStderr,
    )


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

    :param executable: the program to run (a path: with an empty environment
        only the default search path, /bin:/usr/bin, is searched).
    :param args: its arguments (without the program name).
    :param env: the child's environment (None: empty).
    :param path: the directory to run it in (None: the current one).
    :param reactor: the reactor whose thread pool runs it (the global one by default).
    :param errortoo: merge standard error into the output instead of
        treating any error output as a failure.
    :param timeout: seconds before the child is killed.
    :return: a Deferred firing with the output (bytes) whatever the exit
        status, as Twisted's does; failing with UnexpectedErrorOutput if the
        child wrote to standard error (and errortoo is false), with
        subprocess.TimeoutExpired on timeout, or with OSError if it cannot be
        started.
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
