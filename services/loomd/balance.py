"""
Accept balancing under ``loomd --workers``: a worker holding clearly more
connections than another worker that is free lets that one accept.

The one idea: the workers of a generation share one accept queue, and the
kernel hands a new connection to whichever worker calls accept() first.
For connections that are done in one request that spreads by itself, but a
burst of long-lived (keep-alive) connections is taken by whichever worker
wakes first, and each stays there: on a loaded machine, where the second
worker is slow to be scheduled, all 32 of a burst landed on one worker.  So
each worker publishes, in a table of shared memory the master made before
the fork (one per generation), how many descriptors it holds open and
whether it is *free*: blocked in its reactor's poll, where the kernel wakes
it for a new connection.  Before each accept (one at a time), a worker
looks at the others: if one is free and holds at least ``SLACK`` + 1
fewer, this worker stops watching the listening socket for
``YIELD_SECONDS`` and leaves the connection to it: that worker was woken
for it, and on a loaded machine it is runnable and takes it when scheduled
(test_loomd_workers.py::test_aBurstOfKeepAliveConnectionsIsSpreadOverTheWorkers).

Per wake-up a worker takes what is queued, up to ``ACCEPTS_PER_WAKEUP``:
as many as the port says wait (tcp.Port.queuedConnections, on Linux), so
no accept() is made only to find the queue empty; until one does where
the port cannot say.  Taking one per wake-up instead cost about 20% more
CPU per request on cheap connection-per-request HTTP (wrk with
``Connection: close``).  Taking a share of the queue (its length divided
by the number of workers) was tried against the batches of 10 to 16 that
one worker takes on bench_workers.py's cpu point (16 connection-per-request
clients at 200 us of CPU): fewer requests/s in 7 of 9 paired runs on the
loaded machine (load average 7-9; why is not known), and in a closed loop
like that one who takes a batch changes which connection waits, not the
throughput.

- A worker never yields to a busy one (dispatching, or blocked in a slow
  request), so no connection waits behind a blocked worker.
- A worker yielded to that does not come out of its poll for
  ``STUCK_SECONDS`` while connections wait (stopped, starved of CPU) is
  passed over until it has run.
- Two workers can leave a connection to each other (each yielded when the
  other held fewer, at different moments): it then waits
  ``YIELD_SECONDS`` at most.  Not counting a yielding worker as free
  avoids that, but a burst of yields then lets one worker take a burst of
  connections: measured worse (24 of 32 on one of 4 workers).

A slot is two 64-bit words: the descriptors open, published on entering
the poll, and a count of polls entered and left, odd while in the poll
(free).  A worker stopping, and the master when one dies, make it even.
"""

import mmap
from typing import Any

__all__ = ["AcceptTable", "ACCEPTS_PER_WAKEUP", "SLACK", "STUCK_SECONDS", "YIELD_SECONDS"]

# How many more descriptors than a free worker's a worker may hold and
# still accept: "clearly more than its share".
SLACK = 2

# How long a worker that yielded stays off the listening socket before it
# looks again: short, as the worker yielded to may get busy at once.
YIELD_SECONDS = 0.001

# How long a worker yielded to may stay in the same poll, woken for a
# connection that waits, before it is passed over (until it runs).
STUCK_SECONDS = 0.02

# The most connections a worker accepts per wake-up, one at a time.
ACCEPTS_PER_WAKEUP = 32

_WORDS = 2


def _unknown() -> None:
    # The queue's length, for a port that cannot tell it.
    return None


class AcceptTable:
    """
    The shared table of one generation's workers, made in the master
    before the fork (an anonymous shared mapping each worker inherits).
    """

    def __init__(self, count: int) -> None:
        """:param count: the number of workers of the generation."""
        self.count = count
        self._memory = mmap.mmap(-1, 8 * _WORDS * max(count, 1))
        self.slots = memoryview(self._memory).cast("q")

    def isFree(self, index: int) -> bool:
        """True if worker index is waiting in its poll."""
        return bool(self.slots[index * _WORDS + 1] & 1)

    def forget(self, index: int) -> None:
        """Mark worker index as not accepting (it stopped, or died: said by the master)."""
        polls = index * _WORDS + 1
        self.slots[polls] = (self.slots[polls] + 1) & ~1

    def yieldTo(self, index: int, held: int) -> int:
        """
        The worker that worker index, holding held descriptors, should
        leave the next connection to: a free one holding fewer than
        ``held - SLACK`` (the least loaded of them); -1 if none.
        """
        slots, best, bestHeld = self.slots, -1, held - SLACK
        for other in range(self.count):
            base = other * _WORDS
            if other != index and slots[base + 1] & 1 and slots[base] < bestHeld:
                best, bestHeld = other, slots[base]
        return best

    def polls(self, index: int) -> int:
        """How many times worker index entered or left its poll (moves while it runs)."""
        return self.slots[index * _WORDS + 1]

    def join(self, reactor: Any, index: int, ports: list[Any]) -> "Balancer":
        """In worker index, after the fork: publish its state and balance its ports."""
        return Balancer(self, reactor, index, ports)


class Balancer:
    """
    One worker's side of the table: it publishes the worker's state around
    each poll and checks the table before each accept on its ports.
    """

    def __init__(self, table: AcceptTable, reactor: Any, index: int, ports: list[Any]) -> None:
        self.table = table
        self.reactor = reactor
        self.index = index
        self.ports = [port for port in ports if hasattr(port, "numberAccepts")]
        self._stuck: dict[int, int] = {}
        self._yielding: dict[Any, Any] = {}
        self._firstYield: tuple[int, int, float] | None = None
        self.accepting = True
        if hasattr(reactor, "wrapPoll"):
            self._wrapPoll()
        for port in self.ports:
            port.numberAccepts = 1
            port.doRead = self._accepter(port, port.doRead)

    def _wrapPoll(self) -> None:
        # Free while waiting in the kernel, busy while dispatching: one
        # store before the wait and one after, per loop iteration.
        slots, base = self.table.slots, self.index * _WORDS
        opened, balancer = self.reactor.openDescriptors, self

        def wrap(poll: Any) -> Any:
            def waitFree(*args: Any) -> Any:
                if not balancer.accepting:
                    return poll(*args)  # not free: others must not yield to it
                slots[base] = len(opened)
                slots[base + 1] += 1
                try:
                    return poll(*args)
                finally:
                    slots[base + 1] += 1

            return waitFree

        self.reactor.wrapPoll(wrap)

    def _accepter(self, port: Any, acceptOne: Any) -> Any:
        # What is queued, up to ACCEPTS_PER_WAKEUP (see the module
        # docstring), the table checked before each accept.
        opened = self.reactor.openDescriptors
        queuedConnections = getattr(port, "queuedConnections", _unknown)

        def doRead() -> Any:
            queued = queuedConnections()
            count = min(queued, ACCEPTS_PER_WAKEUP) if queued else ACCEPTS_PER_WAKEUP
            for _ in range(count):
                other = self.table.yieldTo(self.index, len(opened))
                if other >= 0 and self._shouldYield(other):
                    self._yield(port)
                    return None
                before = port.sessionno
                why = acceptOne()
                if why or port.sessionno == before:
                    return why  # the queue is empty (or the accept failed)
            return None

        return doRead

    def _shouldYield(self, other: int) -> bool:
        # Not to a worker that has stayed in the same poll for STUCK_SECONDS
        # while connections waited for it (it was woken and has not run),
        # until it runs again.
        polls = self.table.polls(other)
        if self._stuck.get(other) == polls:
            return False
        now = self.reactor.seconds()
        first = self._firstYield
        if first is None or first[:2] != (other, polls):
            self._firstYield = (other, polls, now)
        elif now - first[2] >= STUCK_SECONDS:
            self._stuck[other] = polls
            return False
        return True

    def _yield(self, port: Any) -> None:
        self.reactor.removeReader(port)
        self._yielding[port] = self.reactor.callLater(YIELD_SECONDS, self._resume, port)

    def _resume(self, port: Any) -> None:
        del self._yielding[port]
        if port.connected:
            self.reactor.addReader(port)

    def leave(self) -> None:
        """The worker stops accepting: it is no longer free for the others, nor yielding."""
        self.table.forget(self.index)
        for later in self._yielding.values():
            if later.active():
                later.cancel()
        self._yielding.clear()
        self.accepting = False
