"""
The master's listening sockets under ``loomd --workers``, kept by the
address each was asked for, and the descriptors of each generation.

The one idea: a listening socket outlives the generations of workers that
accept on it.  The master binds each address once; every worker of a
generation accepts from that same socket (one accept queue shared by all:
a free worker takes the next connection, and a connection the kernel has
completed waits in the queue, not in one busy worker's).  When a reload
starts a new generation, an address the new .tac asks for again is not
bound again (it could not be: the old socket still listens) but adopted: the
new port accepts on a duplicate of the same socket, so the queue carries
over and no connection attempt is refused during the switch.  A UDP port
is adopted the same way: the new generation reads from the socket the old
one reads from, so no datagram arrives at a closed port, the port number
(``0`` included) stays, and a port below 1024 needs no new bind, which after
``--uid`` would fail.  An address only the new .tac names is bound then,
with the master's privileges at that time (after ``--uid`` a port below
1024 cannot be, TCP or UDP: the reload is refused and says so); one the new
.tac no longer names closes with the old generation.

``Listeners.capture(reactor)`` is the context in which a generation's
application runs privilegedStartService: inside it the reactor's
``listenTCP`` (and so ``listenSSL``), ``listenUNIX`` and ``listenUDP`` go
through this table.  (``listenMulticast`` is recorded, not adopted: a
multicast socket carries its group memberships, which the new tree joins
again; it is bound afresh, which needs ``listenMultiple=True`` for a fixed
port, and closed with its generation.)  It returns the Generation: what
the tree registered with the reactor (its ports, and anything else it
opened), taken out of the master's reactor, which never runs: each worker
of the generation puts it back into its own (``Generation.activate``).

The calls the load left scheduled in the master's reactor (a module-level
``reactor.callLater`` in the .tac) are the generation's too
(``Generation.claimDelayedCalls``): each of its workers runs them, and
cancels those of the other generations, which the master's reactor also
holds (``Generation.adoptDelayedCalls``).  So are the system event triggers
the load registered (a module-level ``reactor.callWhenRunning`` or
``addSystemEventTrigger``), told from the rest by a mark the master takes
before it loads (``Generation.claimTriggers``): each of its workers runs
them as a single daemon would (the startup ones when it starts, the
shutdown ones when it stops), and removes the other generations'
(``Generation.adoptTriggers``).
"""

import os
import stat
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from reactor import tcp, udp, unix
from reactor._socketfile import identity, unlinkIfSame
from reactor.error import CannotListenError
from reactor.interfaces import IListeningPort

__all__ = ["Listeners", "Generation"]


class Generation:
    """
    One load of the application and what it opened in the master.

    :ivar number: 1 for the first load, +1 for each reload.
    :ivar application: the loaded application (the service tree's root).
    :ivar ports: {address key: listening port} of this generation.
    :ivar readers: the descriptors its tree asked the reactor to read.
    :ivar writers: those it asked the reactor to write.
    :ivar opened: the reactor's open descriptors it added (closed at shutdown).
    :ivar acceptTable: the services.loomd.balance.AcceptTable its workers
        share, made by the master before it forks them.
    :ivar delayedCalls: (call, seconds from the claim to its time) of each
        call its load left scheduled in the master's reactor (``claimDelayedCalls``).
    :ivar triggers: the system event triggers its load registered in the
        master's reactor (``claimTriggers``), as the reactor's
        getSystemEventTriggers lists them.
    """

    def __init__(self, number: int, application: Any) -> None:
        self.number = number
        self.application = application
        self.ports: dict[tuple[Any, ...], Any] = {}
        self.readers: list[Any] = []
        self.writers: list[Any] = []
        self.opened: set[Any] = set()
        self.acceptTable: Any = None
        self.delayedCalls: list[tuple[Any, float]] = []
        self.triggers: list[Any] = []
        self._socketFiles: dict[str, Any] = {}

    def activate(self, reactor: Any, others: "list[Generation]") -> None:
        """
        In a worker, after ``reactor.afterFork()``: watch this generation's
        descriptors, and close this process's copies of the other
        generations' listening sockets (a copy left open would keep an
        address listening that nobody serves).  A UNIX port leaves its
        socket file to the master, which bound it.  Of the calls and
        triggers the loads left in the reactor, this generation's stay and
        the others' go (adoptDelayedCalls, adoptTriggers).
        """
        for other in others:
            if other is not self:
                other.closeSockets()
        for reader in self.readers:
            reactor.addReader(reader)
        for writer in self.writers:
            reactor.addWriter(writer)
        reactor.openDescriptors.update(self.opened)
        for port in self.ports.values():
            keep = getattr(port, "keepSocketFile", None)
            if keep is not None:
                keep()
        self.adoptDelayedCalls(reactor)
        self.adoptTriggers(reactor, others)

    def claimDelayedCalls(self, reactor: Any, others: "list[Generation]") -> None:
        """
        In the master, once this generation's application is loaded and
        bound: the calls scheduled in its reactor that no other generation
        claimed are this one's (its .tac's module-level ``callLater``, its
        privilegedStartService's).  The master never runs its reactor, so
        they stay scheduled there, for every worker it forks to copy.
        """
        claimed = {id(call) for other in others for call, _ in other.delayedCalls}
        now = reactor.seconds()
        self.delayedCalls = [
            (call, max(0.0, call.getTime() - now))
            for call in reactor.getDelayedCalls()
            if id(call) not in claimed
        ]

    def adoptDelayedCalls(self, reactor: Any) -> None:
        """
        In a worker, after the fork: keep this generation's calls, each due
        as long after the worker's start as it was after the load (a
        replacement worker forked an hour later runs them as the first
        ones did), and cancel every other call: the other generations'
        (an old .tac's calls must not run in the new generation:
        test_loadTimeCallsRunOnceInEachWorkerOfTheirGeneration).  The
        master schedules nothing of its own in the reactor.
        """
        mine = {id(call): remaining for call, remaining in self.delayedCalls}
        for call in reactor.getDelayedCalls():
            remaining = mine.get(id(call))
            if remaining is None:
                call.cancel()
            else:
                call.reset(remaining)

    def dropDelayedCalls(self) -> None:
        """In the master, once no worker will be forked for it: cancel its calls."""
        for call, _ in self.delayedCalls:
            if call.active():
                call.cancel()
        self.delayedCalls = []

    def claimTriggers(self, reactor: Any, mark: int) -> None:
        """
        In the master, once this generation's application is loaded and
        bound: the triggers added to its reactor since mark (taken before
        the load) are this one's (its .tac's module-level
        ``callWhenRunning`` and ``addSystemEventTrigger``, its
        privilegedStartService's).  The master never runs its reactor, so
        none of them runs there: they stay for every worker it forks to
        copy, and each worker runs them once, when it starts or stops.
        """
        self.triggers = reactor.getSystemEventTriggers(since=mark)

    def adoptTriggers(self, reactor: Any, others: "list[Generation]") -> None:
        """
        In a worker, after the fork: remove the triggers of the other
        generations from its reactor, and keep this one's (an old .tac's
        start and shutdown triggers must not run in the new generation:
        test_loadTimeTriggersRunOnceInEachWorkerOfTheirGeneration).
        """
        for other in others:
            if other is not self:
                _removeTriggers(reactor, other.triggers)

    def dropTriggers(self, reactor: Any) -> None:
        """In the master, once no worker will be forked for it: remove its triggers."""
        _removeTriggers(reactor, self.triggers)
        self.triggers = []

    def loadTimeWarnings(self, workers: int) -> list[str]:
        """
        The warnings the master logs when it forks this generation's
        workers: one naming the calls its load left scheduled, one naming
        the triggers it registered, since each of the workers runs them
        once where a single daemon would run them once; none for fewer
        than 2 workers.
        """
        if workers < 2:
            return []
        warnings = []
        if self.delayedCalls:
            names = ", ".join(sorted({_functionName(call.func) for call, _ in self.delayedCalls}))
            warnings.append(
                "warning: generation %d: %d call(s) scheduled while the application loaded "
                "(reactor.callLater outside startService) run in each of the %d workers, "
                "once per worker: %s; to run one once per machine, start it in a service "
                "marked perWorker = False" % (self.number, len(self.delayedCalls), workers, names)
            )
        if self.triggers:
            names = ", ".join(
                "%s (%s %s)" % (_functionName(trigger.callable), trigger.phase, trigger.eventType)
                for trigger in self.triggers
            )
            warnings.append(
                "warning: generation %d: %d trigger(s) registered while the application "
                "loaded (reactor.callWhenRunning or addSystemEventTrigger outside "
                "startService) run in each of the %d workers, once per worker: %s; to run "
                "one once per machine, register it in a service marked perWorker = False"
                % (self.number, len(self.triggers), workers, names)
            )
        return warnings

    def closeSockets(self) -> None:
        """Close this process's copy of each listening socket of the generation."""
        for port in self.ports.values():
            sock = port.socket
            if sock is not None:
                sock.close()

    def removeSocketFiles(self, kept: "Generation | None") -> None:
        """
        In the master, once no process serves this generation: remove the
        socket files it bound that ``kept`` (the generation serving now, or
        None) does not listen on.
        """
        for path, bound in self._socketFiles.items():
            if kept is None or ("UNIX", path) not in kept.ports:
                unlinkIfSame(path, bound)


class Listeners:
    """The master's table of listening sockets, by address asked for."""

    def __init__(self) -> None:
        self.current: Generation | None = None

    @contextmanager
    def capture(self, reactor: Any, generation: Generation) -> Iterator[Generation]:
        """
        Run the block (the application's privilegedStartService) with the
        reactor's listen methods going through this table, then move what
        the block registered out of the reactor into generation.
        """
        reactor.listenTCP = self._listenTCP(reactor, generation)
        reactor.listenUNIX = self._listenUNIX(reactor, generation)
        reactor.listenUDP = self._listenUDP(reactor, generation)
        reactor.listenMulticast = self._listenMulticast(reactor, generation)
        try:
            yield generation
        finally:
            del reactor.listenTCP
            del reactor.listenUNIX
            del reactor.listenUDP
            del reactor.listenMulticast
            self._takeOut(reactor, generation)

    def _known(self, key: tuple[Any, ...], generation: Generation) -> Any:
        if key in generation.ports:
            raise CannotListenError(
                key[1], key[-1], OSError("listened on twice by one application")
            )
        return self.current.ports.get(key) if self.current is not None else None

    def _listenOrAdopt(
        self, key: tuple[Any, ...], generation: Generation, bindNew: Any, makePort: Any
    ) -> tuple[Any, bool]:
        """
        Return (port, adopted): a port made by makePort() on a copy of the
        current generation's socket for key, or one bindNew() binds when no
        such socket is known; either way the generation's port for key.
        """
        known = self._known(key, generation)
        if known is None or known.socket is None:
            listening, adopted = bindNew(), False
        else:
            listening, adopted = makePort(), True
            listening.adoptSocket(known.socket.dup())
        generation.ports[key] = listening
        return listening, adopted

    def _listenTCP(self, reactor: Any, generation: Generation) -> Any:
        bind = type(reactor).listenTCP

        def listenTCP(port: int, factory: Any, backlog: int = 50, interface: str = "") -> Any:
            listening, _ = self._listenOrAdopt(
                ("TCP", interface, port),
                generation,
                lambda: bind(reactor, port, factory, backlog, interface),
                lambda: tcp.Port(port, factory, backlog, interface, reactor=reactor),
            )
            return listening

        return listenTCP

    def _listenUNIX(self, reactor: Any, generation: Generation) -> Any:
        bind = type(reactor).listenUNIX

        def listenUNIX(
            address: str, factory: Any, backlog: int = 50, mode: Any = None, wantPID: bool = False
        ) -> Any:
            listening, adopted = self._listenOrAdopt(
                ("UNIX", address),
                generation,
                lambda: bind(reactor, address, factory, backlog, mode, wantPID),
                lambda: unix.Port(address, factory, backlog, mode, wantPID, reactor=reactor),
            )
            if not adopted:
                _rememberSocketFile(generation, address)
            else:
                # The file goes with the last generation listening there.
                bound = self.current._socketFiles.get(address) if self.current else None
                if bound is not None:
                    generation._socketFiles[address] = bound
            return listening

        return listenUNIX

    def _listenUDP(self, reactor: Any, generation: Generation) -> Any:
        bind = type(reactor).listenUDP

        def listenUDP(
            port: int, protocol: Any, interface: str = "", maxPacketSize: int = 8192
        ) -> Any:
            # The datagrams queued on the socket when the old generation
            # stops are read by the new one: the master's copy keeps the
            # socket, and its buffer, open through the switch
            # (test_loomd_workers_udp.py::test_udpPortIsAdoptedAcrossAReload).
            listening, _ = self._listenOrAdopt(
                ("UDP", interface, port),
                generation,
                lambda: bind(reactor, port, protocol, interface, maxPacketSize),
                lambda: udp.Port(port, protocol, interface, maxPacketSize, reactor=reactor),
            )
            return listening

        return listenUDP

    def _listenMulticast(self, reactor: Any, generation: Generation) -> Any:
        bind = type(reactor).listenMulticast

        def listenMulticast(
            port: int,
            protocol: Any,
            interface: str = "",
            maxPacketSize: int = 8192,
            listenMultiple: bool = False,
        ) -> Any:
            # Kept among the ports only to be closed with the generation: an
            # old socket left open in the master, unread, would take its
            # share of the port's datagrams
            # (test_loomd_workers_udp.py::test_multicastPortOfTheOldGenerationClosesWithIt).
            listening = bind(reactor, port, protocol, interface, maxPacketSize, listenMultiple)
            generation.ports[("MULTICAST", interface, port, len(generation.ports))] = listening
            return listening

        return listenMulticast

    def _takeOut(self, reactor: Any, generation: Generation) -> None:
        # The master never runs its reactor: what the tree registered there
        # is the generation's, for its workers to watch (activate).
        generation.readers = reactor.getReaders()
        generation.writers = reactor.getWriters()
        generation.opened = set(reactor.openDescriptors)
        reactor.removeAll()
        reactor.openDescriptors.clear()

    def listeningPorts(self, generation: Generation) -> list[Any]:
        """The generation's listening ports (ports and other IListeningPorts it opened)."""
        found = list(generation.ports.values())
        for descriptor in generation.opened:
            if IListeningPort.providedBy(descriptor) and descriptor not in found:
                found.append(descriptor)
        return found


def _functionName(func: Any) -> str:
    return getattr(func, "__qualname__", None) or repr(func)


def _removeTriggers(reactor: Any, triggers: list[Any]) -> None:
    for trigger in triggers:
        try:
            reactor.removeSystemEventTrigger(trigger.triggerID)
        except ValueError:
            # Gone already: the reactor's own thread-pool trigger, which
            # afterFork removes, when the load started the pool.
            pass


def _rememberSocketFile(generation: Generation, address: str) -> None:
    # The identity of the socket file bound now, so that the master removes
    # it (and only it) once no generation listens there.
    if address.startswith("\0"):
        return
    try:
        status = os.lstat(address)
    except OSError:
        return
    if stat.S_ISSOCK(status.st_mode):
        generation._socketFiles[address] = identity(status)
