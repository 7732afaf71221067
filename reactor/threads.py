"""
Crossing between the reactor thread and other threads.

deferToThread runs blocking code in the reactor's pool and hands back a
Deferred fired in the reactor thread; blockingCallFromThread goes the other
way, running code in the reactor thread and waiting for its (possibly
Deferred) result.
"""

import queue

from reactor import getReactor
from reactor.defer import Deferred, maybeDeferred
from reactor.failure import Failure

__all__ = [
    "deferToThread",
    "deferToThreadPool",
    "blockingCallFromThread",
    "callMultipleInThread",
]


def deferToThreadPool(reactor, threadpool, f, *args, **kwargs):
    """
    Run f(*args, **kwargs) in threadpool.

    :return: a Deferred fired, in the reactor thread, with f's result or Failure.
    """
    d = Deferred()

    def onResult(success, result):
        if success:
            reactor.callFromThread(d.callback, result)
        else:
            reactor.callFromThread(d.errback, result)

    threadpool.callInThreadWithCallback(onResult, f, *args, **kwargs)
    return d


def deferToThread(f, *args, _reactor=None, **kwargs):
    """
    Run f(*args, **kwargs) in the reactor's thread pool.

    :param _reactor: the reactor to use (the global one by default).
    :return: a Deferred fired with f's result or Failure.
    """
    reactor = getReactor(_reactor)
    return deferToThreadPool(reactor, reactor.getThreadPool(), f, *args, **kwargs)


def _runMultiple(tupleList):
    for f, args, kwargs in tupleList:
        f(*args, **kwargs)


def callMultipleInThread(tupleList, _reactor=None):
    """Run each (f, args, kwargs) of tupleList in turn, in one pool thread."""
    getReactor(_reactor).callInThread(_runMultiple, tupleList)


def blockingCallFromThread(reactor, f, *args, **kwargs):
    """
    Run f(*args, **kwargs) in the reactor thread and wait for its result.

    Call it from a thread other than the reactor's.  If f returns a Deferred,
    wait for it to fire.

    :return: f's result.
    :raises: f's exception, or the Deferred's failure.
    :raises RuntimeError: if called in the thread running the reactor
        (which would wait for itself for ever).
    """
    if reactor.isInIOThread():
        raise RuntimeError("blockingCallFromThread must not be called in the reactor thread")
    results = queue.SimpleQueue()

    def inReactor():
        maybeDeferred(f, *args, **kwargs).addBoth(results.put)

    reactor.callFromThread(inReactor)
    result = results.get()
    if isinstance(result, Failure):
        result.raiseException()
    return result
