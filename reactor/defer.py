"""
Deferreds, with Twisted's names: ``from reactor.defer import Deferred,
DeferredList, inlineCallbacks, ...``.

This module only gathers them.  They live in four modules, each importing
only the ones before it, so that any of them can be imported first:

- reactor._deferred: Deferred itself, succeed/fail/maybeDeferred, the errors,
  debug mode, and the driver that runs generators and coroutines;
- reactor._deferlist: DeferredList and gatherResults;
- reactor._defersync: DeferredLock, DeferredSemaphore, DeferredQueue;
- reactor._inlinecallbacks: inlineCallbacks and ensureDeferred.
"""

from reactor._deferlist import DeferredList, FirstError, gatherResults
from reactor._deferred import (
    FAILURE,
    SUCCESS,
    AlreadyCalledError,
    CancelledError,
    Deferred,
    NotACoroutineError,
    TimeoutError,
    execute,
    fail,
    getDebugging,
    maybeDeferred,
    passthru,
    returnValue,
    setDebugging,
    succeed,
)
from reactor._defersync import (
    DeferredLock,
    DeferredQueue,
    DeferredSemaphore,
    QueueOverflow,
    QueueUnderflow,
)
from reactor._inlinecallbacks import ensureDeferred, inlineCallbacks

__all__ = [
    "AlreadyCalledError",
    "CancelledError",
    "TimeoutError",
    "NotACoroutineError",
    "FirstError",
    "QueueOverflow",
    "QueueUnderflow",
    "Deferred",
    "DeferredList",
    "gatherResults",
    "maybeDeferred",
    "succeed",
    "fail",
    "execute",
    "inlineCallbacks",
    "returnValue",
    "ensureDeferred",
    "DeferredLock",
    "DeferredSemaphore",
    "DeferredQueue",
    "setDebugging",
    "getDebugging",
    "passthru",
    "SUCCESS",
    "FAILURE",
]
