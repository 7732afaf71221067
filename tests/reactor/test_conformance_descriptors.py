"""
Conformance: descriptor dispatch, on every reactor (the ``reactor`` fixture).
"""

import os
import socket

import pytest
import zope.interface

from reactor.defer import Deferred
from reactor.error import (
    CONNECTION_DONE,
    CONNECTION_LOST,
    ConnectionDone,
    ConnectionFdescWentAway,
    ConnectionLost,
)
from reactor.failure import Failure
from reactor.interfaces import IHalfCloseableDescriptor
from tests.reactor.reactorhelpers import LoggedErrors, PairDescriptor


def iterateUntil(reactor, condition, turns=200):
    """Step reactor (each step bounded) until condition() holds; fail if never."""
    for _ in range(turns):
        if condition():
            return
        reactor.iterate(0.02)
    pytest.fail("condition never held")


def test_readDispatchDeliversData(reactor):
    descriptor = PairDescriptor(reactor)
    reactor.addReader(descriptor)
    descriptor.peer.sendall(b"hello")
    iterateUntil(reactor, lambda: descriptor.received)
    reactor.removeReader(descriptor)
    assert descriptor.received == [b"hello"]
    assert descriptor.lost == []
    descriptor.close()


def test_writeDispatchSendsData(reactor):
    descriptor = PairDescriptor(reactor)
    descriptor.toSend = b"x" * 100000
    reactor.addWriter(descriptor)
    received = []
    while sum(map(len, received)) < 100000:
        reactor.iterate(0.02)
        received.append(descriptor.peer.recv(65536))
    assert b"".join(received) == b"x" * 100000
    assert reactor.getWriters() == []
    descriptor.close()


def test_getReadersAndWritersListOnlyUserDescriptors(reactor):
    descriptor = PairDescriptor(reactor)
    reactor.addReader(descriptor)
    reactor.addWriter(descriptor)
    assert reactor.getReaders() == [descriptor]
    assert reactor.getWriters() == [descriptor]
    reactor.removeWriter(descriptor)
    assert reactor.getWriters() == []
    assert reactor.getReaders() == [descriptor]
    assert reactor.removeAll() == [descriptor]
    assert reactor.getReaders() == []
    descriptor.close()


def test_removeAllKeepsTheWaker(reactor):
    descriptor = PairDescriptor(reactor)
    reactor.addReader(descriptor)
    reactor.removeAll()
    calls = []
    reactor.callFromThread(calls.append, "woken")
    reactor.iterate(0)
    reactor.iterate(0)
    assert calls == ["woken"]
    descriptor.close()


def test_raisingDoReadDropsOnlyThatDescriptor(reactor):
    broken, healthy = PairDescriptor(reactor), PairDescriptor(reactor)

    def explode(data):
        raise ZeroDivisionError("boom")

    broken.onRead = explode
    reactor.addReader(broken)
    reactor.addReader(healthy)
    with LoggedErrors() as logged:
        broken.peer.sendall(b"a")
        healthy.peer.sendall(b"b")
        iterateUntil(reactor, lambda: broken.lost and healthy.received)
        healthy.peer.sendall(b"c")
        iterateUntil(reactor, lambda: len(healthy.received) == 2)
    assert len(broken.lost) == 1
    assert broken.lost[0].check(ZeroDivisionError)
    assert [f.type for f in logged.failures()] == [ZeroDivisionError]
    assert "boom" in logged.failures()[0].getTraceback()
    assert reactor.getReaders() == [healthy]
    assert healthy.lost == []
    reactor.removeReader(healthy)
    broken.close()
    healthy.close()


@pytest.mark.parametrize(
    "why, errorType",
    [(CONNECTION_DONE, ConnectionDone), (CONNECTION_LOST, ConnectionLost)],
    ids=["done", "lost"],
)
def test_returnedReasonDropsWithoutTraceback(reactor, why, errorType):
    descriptor = PairDescriptor(reactor)
    descriptor.onRead = lambda data: why
    reactor.addReader(descriptor)
    reactor.addWriter(descriptor)
    with LoggedErrors() as logged:
        descriptor.peer.sendall(b"bye")
        iterateUntil(reactor, lambda: descriptor.lost)
        reactor.iterate(0)
    assert len(descriptor.lost) == 1
    assert descriptor.lost[0].check(errorType)
    assert logged.events == []
    assert reactor.getReaders() == reactor.getWriters() == []
    descriptor.close()


def test_eofDropsWithConnectionDone(reactor):
    descriptor = PairDescriptor(reactor)
    reactor.addReader(descriptor)
    descriptor.peer.close()
    iterateUntil(reactor, lambda: descriptor.lost)
    assert descriptor.lost[0].check(ConnectionDone)
    assert reactor.getReaders() == []
    descriptor.sock.close()


def test_raisingConnectionLostIsLoggedAndContained(reactor):
    descriptor = PairDescriptor(reactor)

    def brokenLost(reason):
        raise KeyError("in connectionLost")

    descriptor.connectionLost = brokenLost
    reactor.addReader(descriptor)
    with LoggedErrors() as logged:
        descriptor.peer.close()
        iterateUntil(reactor, lambda: logged.events)
    assert [f.type for f in logged.failures()] == [KeyError]
    assert reactor.getReaders() == []
    descriptor.sock.close()


def test_filenoMinusOneAtAddIsDropped(reactor):
    descriptor = PairDescriptor(reactor)
    descriptor.close()  # a closed socket's fileno() is -1
    reactor.addReader(descriptor)
    assert descriptor.lost == []  # never called back from inside addReader
    iterateUntil(reactor, lambda: descriptor.lost)
    reactor.iterate(0)
    assert len(descriptor.lost) == 1
    assert descriptor.lost[0].check(ConnectionFdescWentAway)
    assert reactor.getReaders() == []


def _lostWithoutSpinning(reactor, descriptor):
    # A few bounded turns: select and poll notice at once (EBADF, POLLNVAL);
    # epoll and asyncio are never woken by a closed fd, and notice when the
    # descriptor next asks for something.  Either way, no spinning.
    for _ in range(10):
        reactor.iterate(0.005)
    if not descriptor.lost:
        reactor.addWriter(descriptor)
    iterateUntil(reactor, lambda: descriptor.lost)
    for _ in range(3):
        reactor.iterate(0)
    assert descriptor.reads <= 1
    assert len(descriptor.lost) == 1
    assert descriptor.lost[0].check(ConnectionFdescWentAway)
    assert reactor.getReaders() == reactor.getWriters() == []


def test_filenoMinusOneAfterRegistrationIsDropped(reactor):
    descriptor = PairDescriptor(reactor)
    reactor.addReader(descriptor)
    descriptor.sock.close()  # without removeReader: fileno() is now -1
    _lostWithoutSpinning(reactor, descriptor)
    descriptor.peer.close()


def test_fdClosedBehindTheReactorsBackIsDropped(reactor):
    descriptor = PairDescriptor(reactor)
    fd = descriptor.sock.detach()
    descriptor.fileno = lambda: fd  # still claims the old number
    reactor.addReader(descriptor)
    os.close(fd)
    _lostWithoutSpinning(reactor, descriptor)
    descriptor.peer.close()


def test_runUntilReturnsDeferredResult(reactor, runUntil):
    d = Deferred()
    reactor.callLater(0.01, d.callback, "done")
    assert runUntil(reactor, d) == "done"


def test_runUntilRunsCoroutine(reactor, runUntil):
    async def main():
        d = Deferred()
        reactor.callLater(0, d.callback, 7)
        return (await d) * 6

    assert runUntil(reactor, main()) == 42


def test_halfCloseableDescriptorGetsReadConnectionLost(reactor):
    descriptor = PairDescriptor(reactor)
    halfClosed = []
    zope.interface.alsoProvides(descriptor, IHalfCloseableDescriptor)
    descriptor.readConnectionLost = halfClosed.append
    reactor.addReader(descriptor)
    descriptor.peer.shutdown(socket.SHUT_WR)
    iterateUntil(reactor, lambda: halfClosed)
    assert halfClosed[0].check(ConnectionDone)
    assert descriptor.lost == []
    assert reactor.getReaders() == []
    descriptor.close()


def test_reusedFDNumberDropsTheStaleDescriptor(reactor):
    stale = PairDescriptor(reactor)
    fd = stale.sock.detach()
    stale.fileno = lambda: fd
    reactor.addReader(stale)
    fresh = PairDescriptor(reactor)
    os.close(fd)  # behind the reactor's back
    os.dup2(fresh.sock.fileno(), fd)  # the old number now names fresh's socket
    fresh.fileno = lambda: fd
    reactor.addReader(fresh)
    fresh.peer.sendall(b"new owner")
    iterateUntil(reactor, lambda: stale.lost and fresh.received)
    assert [reason.type for reason in stale.lost] == [ConnectionFdescWentAway]
    assert fresh.received == [b"new owner"] and fresh.lost == []
    assert reactor.getReaders() == [fresh]
    reactor.removeReader(fresh)
    os.close(fd)
    fresh.close()
    stale.peer.close()


def test_raisingDoWriteDropsOnlyThatDescriptor(reactor):
    broken, healthy = PairDescriptor(reactor), PairDescriptor(reactor)

    def explode():
        raise ZeroDivisionError("write boom")

    broken.doWrite = explode
    healthy.toSend = b"still here"
    with LoggedErrors() as logged:
        reactor.addWriter(broken)
        reactor.addWriter(healthy)
        iterateUntil(reactor, lambda: broken.lost and not healthy.toSend)
        for _ in range(3):
            reactor.iterate(0)
    assert len(broken.lost) == 1
    assert broken.lost[0].check(ZeroDivisionError)
    assert [f.type for f in logged.failures()] == [ZeroDivisionError]
    assert "write boom" in logged.failures()[0].getTraceback()
    assert "explode" in logged.failures()[0].getTraceback()
    assert healthy.peer.recv(100) == b"still here"
    assert healthy.lost == []
    assert reactor.getWriters() == []
    broken.close()
    healthy.close()


def _returnedReason(kind):
    """Return (doRead/doWrite's return value, a check of connectionLost's reason)."""
    if kind == "exception":
        instance = ValueError("returned, not raised")
        return instance, lambda reason: reason.value is instance
    if kind == "failure":
        failure = Failure(KeyError("a returned Failure"))
        return failure, lambda reason: reason is failure
    return CONNECTION_LOST, lambda reason: reason.check(ConnectionLost)


@pytest.mark.parametrize("side", ["read", "write"])
@pytest.mark.parametrize("kind", ["exception", "failure", "lost"])
def test_returnedExceptionOrFailureDropsWithoutLogging(reactor, side, kind):
    why, isExpected = _returnedReason(kind)
    descriptor = PairDescriptor(reactor)
    with LoggedErrors() as logged:
        if side == "read":
            descriptor.onRead = lambda data: why
            reactor.addReader(descriptor)
            descriptor.peer.sendall(b"x")
        else:
            descriptor.doWrite = lambda: why
            reactor.addWriter(descriptor)
        iterateUntil(reactor, lambda: descriptor.lost)
        for _ in range(3):
            reactor.iterate(0)
    assert len(descriptor.lost) == 1
    assert isExpected(descriptor.lost[0])
    assert logged.events == []
    assert reactor.getReaders() == reactor.getWriters() == []
    descriptor.close()


# -- a file that outlives its fd number ------------------------------------
#
# epoll watches files, registered under an fd number.  When the number is
# closed behind the reactor's back while the file lives on through another
# fd (dup, fork, SCM_RIGHTS), the kernel keeps the file in the interest set
# and its level-triggered events keep coming, for a number that no longer
# names it.  Each test leaves the old file readable and runs the loop for
# one second, counting its turns and the CPU time it used: a loop that
# sleeps turns a handful of times and uses next to none; the spinning one
# turned about 165,000 times.  (asyncio turns inside its own run_forever,
# where the turns are not seen: its CPU time is.)


def _turnsInOneSecond(reactor):
    """Run reactor for one second; return (turns, CPU seconds of this thread)."""
    import time

    turns = 0
    cpu = time.thread_time()
    deadline = time.monotonic() + 1.0
    while (left := deadline - time.monotonic()) > 0:
        reactor.iterate(left)
        turns += 1
    return turns, time.thread_time() - cpu


def _readableWithLiveDup(reactor):
    """A registered reader whose fd is closed behind the reactor's back while a
    dup keeps its (readable) file open; return (descriptor, fd, dupFd)."""
    descriptor = PairDescriptor(reactor)
    fd = descriptor.sock.detach()
    descriptor.fileno = lambda: fd  # still claims the old number
    reactor.addReader(descriptor)
    descriptor.peer.sendall(b"never read")
    duplicate = os.dup(fd)
    os.close(fd)
    return descriptor, fd, duplicate


def test_closedFdWithLiveDupDoesNotSpin(reactor):
    descriptor, fd, duplicate = _readableWithLiveDup(reactor)
    with LoggedErrors():
        turns, cpu = _turnsInOneSecond(reactor)
    assert turns < 50 and cpu < 0.25
    assert len(descriptor.lost) == 1
    assert reactor.getReaders() == []
    if hasattr(reactor, "interestSetRebuilds"):  # the epoll-based ones
        assert reactor.interestSetRebuilds >= 1
    os.close(duplicate)
    descriptor.peer.close()


def test_removedAfterCloseWithLiveDupDoesNotSpin(reactor):
    # The reactor is told, but only after the number was closed: epoll_ctl
    # can no longer name the file to take it out.
    descriptor, fd, duplicate = _readableWithLiveDup(reactor)
    reactor.removeReader(descriptor)
    turns, cpu = _turnsInOneSecond(reactor)
    assert turns < 50 and cpu < 0.25
    assert descriptor.lost == []
    os.close(duplicate)
    descriptor.peer.close()


def test_reusedFdNumberWithLiveDupDoesNotSpin(reactor):
    fresh = PairDescriptor(reactor)  # made first: its sockets keep their own numbers
    stale, fd, duplicate = _readableWithLiveDup(reactor)
    os.dup2(fresh.sock.fileno(), fd)  # the old number now names fresh's socket
    fresh.fileno = lambda: fd
    reactor.addReader(fresh)
    with LoggedErrors():
        turns, cpu = _turnsInOneSecond(reactor)
    assert turns < 50 and cpu < 0.25
    # fresh is woken only by its own socket: nothing spurious to read.
    assert fresh.lost == [] and fresh.reads == 0
    fresh.peer.sendall(b"new owner")
    iterateUntil(reactor, lambda: fresh.received)
    assert fresh.received == [b"new owner"]
    assert [reason.type for reason in stale.lost] == [ConnectionFdescWentAway]
    reactor.removeReader(fresh)
    os.close(fd)
    os.close(duplicate)
    fresh.close()
    stale.peer.close()
