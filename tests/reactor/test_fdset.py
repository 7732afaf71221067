"""
reactor._fdset: the fd bookkeeping the poll and epoll reactors share.

The conformance suite runs both reactors over real sockets; these tests
hold the sharing itself in place and look at the kernel's side through a
fake poller that refuses what epoll refuses.
"""

import ast
import errno
import os
import pathlib
import select

import pytest

from reactor._fdset import FDSet
from reactor.epollreactor import EPollReactor
from reactor.pollreactor import PollReactor

REACTOR_DIR = pathlib.Path(__file__).resolve().parents[2] / "reactor"


class FakePoller:
    """What the kernel's interest set holds, {fd: flags}, with epoll's refusals."""

    instances = []

    def __init__(self):
        self.watched = {}
        self.closed = False
        FakePoller.instances.append(self)

    def register(self, fd, flags):
        if fd in self.watched:
            raise FileExistsError(errno.EEXIST, "exists")
        self.watched[fd] = flags

    def modify(self, fd, flags):
        if fd not in self.watched:
            raise FileNotFoundError(errno.ENOENT, "missing")
        self.watched[fd] = flags

    def unregister(self, fd):
        if fd not in self.watched:
            raise FileNotFoundError(errno.ENOENT, "missing")
        del self.watched[fd]

    def close(self):
        self.closed = True


class Descriptor:
    def __init__(self, fd):
        self.fd = fd

    def fileno(self):
        return self.fd


def makeSet(keepsFiles=True):
    dropped = []
    FakePoller.instances = []
    return FDSet(FakePoller, dropped.append, keepsFiles=keepsFiles), dropped


def test_onlyTheFDSetTalksToThePoller():
    # One copy of the bookkeeping: the reactors call no register, modify or
    # unregister of their own (each had its own _add and _remove before).
    for name in ("pollreactor.py", "epollreactor.py"):
        tree = ast.parse((REACTOR_DIR / name).read_text())
        calls = [
            node.func.attr
            for node in ast.walk(tree)
            if isinstance(node, ast.Call)
            and isinstance(node.func, ast.Attribute)
            and node.func.attr in ("register", "modify", "unregister")
        ]
        assert calls == [], name


@pytest.mark.parametrize("reactorClass", [PollReactor, EPollReactor])
def test_theReactorsFDSetMethodsAreItsFDSets(reactorClass):
    reactor = reactorClass()
    try:
        fds = reactor._fds
        assert [reactor.addReader, reactor.removeWriter] == [fds.addReader, fds.removeWriter]
        assert reactor._reads is fds.reads and reactor._writes is fds.writes
    finally:
        reactor.close()


def test_aSubclassOverrideIsKept():
    calls = []

    class Tracing(EPollReactor):
        def addReader(self, reader):
            calls.append(reader)
            EPollReactor.addReader(self, reader)

    reactor = Tracing()
    try:
        assert calls == [reactor.waker]  # the waker went through the override
        assert reactor.removeReader == reactor._fds.removeReader  # the others are bound
    finally:
        reactor.close()


def test_readerAndWriterShareOneKernelEntry():
    fds, dropped = makeSet()
    poller = fds.poller
    descriptor = Descriptor(5)
    fds.addReader(descriptor)
    fds.addWriter(descriptor)
    assert poller.watched == {5: select.POLLIN | select.POLLOUT}
    fds.removeReader(descriptor)
    assert (poller.watched, fds.table[5]) == ({5: select.POLLOUT}, descriptor)
    fds.removeWriter(descriptor)
    assert (poller.watched, fds.table[5], fds.reads, fds.writes) == ({}, None, {}, {})
    assert dropped == []


def test_aDescriptorThatLostItsFdIsRemovedByIdentity():
    fds, dropped = makeSet()
    descriptor = Descriptor(7)
    fds.addReader(descriptor)
    descriptor.fd = -1  # it closed its socket
    fds.removeReader(descriptor)
    assert (fds.poller.watched, fds.reads) == ({}, {})


@pytest.mark.parametrize("keepsFiles", [True, False])
def test_aReusedFdNumberDropsItsOldOwner(keepsFiles):
    # The old reader's fd was closed behind our back and the number reused:
    # the old one is dropped, the new one watched; epoll (keepsFiles) also
    # rebuilds its interest set, which may still hold the old file.
    fds, dropped = makeSet(keepsFiles)
    old, new = Descriptor(9), Descriptor(9)
    fds.addReader(old)
    fds.addReader(new)
    assert dropped == [old]
    assert (fds.reads, fds.table[9]) == ({9: new}, new)
    assert fds.poller.watched == {9: select.POLLIN}
    assert fds.rebuilds == (1 if keepsFiles else 0)
    assert [poller.closed for poller in FakePoller.instances] == (
        [True, False] if keepsFiles else [False]
    )


@pytest.mark.parametrize("reactorClass", [EPollReactor, PollReactor])
def test_wrappedPollSeesEachWaitAndTheEventsStillArrive(reactorClass):
    # What loomd's workers use to say they are waiting (services.loomd.balance).
    reactor = reactorClass()
    try:
        waits = []

        def wrap(poll):
            def waiting(*args):
                events = poll(*args)
                waits.append(len(events))
                return events

            return waiting

        reactor.wrapPoll(wrap)
        readEnd, writeEnd = os.pipe()
        reader = Descriptor(readEnd)
        reader.doRead = lambda: reader.__dict__.setdefault("read", os.read(readEnd, 10))
        reader.logPrefix = lambda: "pipe"
        reactor.addReader(reader)
        os.write(writeEnd, b"x")
        reactor.doIteration(0)
        assert reader.read == b"x"
        reactor.removeReader(reader)
        # A rebuild or the fork's new poller keeps the wrapper.
        reactor.afterFork()
        reactor.doIteration(0)
        assert waits[0] >= 1 and len(waits) == 2
        os.close(readEnd)
        os.close(writeEnd)
    finally:
        reactor.close()
