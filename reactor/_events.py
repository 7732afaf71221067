"""
System events ("startup", "shutdown"): three phases of triggers per event.

One idea: firing an event runs its 'before' triggers, waits for every
Deferred they returned, then runs the 'during' triggers and the 'after'
triggers.  That wait is how graceful shutdown works: a service returns a
Deferred from a before-shutdown trigger and the reactor keeps running until
it fires.  Each trigger runs once; an exception in one is logged and the
others still run.

A trigger is held as ``(callable, args, kw, serial)``: the serial, given by
the reactor in the order triggers are added, is what
``ReactorBase.getSystemEventTriggers(since=mark)`` compares with a mark
(loomd's master tells a .tac's load-time triggers from the rest by it).
"""

from typing import Any, NamedTuple

from reactor import log
from reactor.defer import Deferred, DeferredList

__all__ = ["SystemEvent", "SystemEventTrigger", "PHASES"]

PHASES = ("before", "during", "after")


class SystemEventTrigger(NamedTuple):
    """A trigger not yet run, as ReactorBase.getSystemEventTriggers lists it."""

    eventType: str
    phase: str
    callable: Any
    args: tuple[Any, ...]
    kw: dict[str, Any]
    triggerID: Any
    """The ID to give removeSystemEventTrigger."""


class SystemEvent:
    """
    The triggers of one event type, and the state of its firing.

    :ivar state: "idle", or "before" while before-phase Deferreds are pending.
    """

    def __init__(self, eventType):
        self.eventType = eventType
        self.triggers = {phase: [] for phase in PHASES}
        self.state = "idle"

    def addTrigger(self, phase, trigger):
        """Add trigger, a (callable, args, kw, serial) tuple, to phase; return an ID."""
        if phase not in self.triggers:
            raise KeyError("phase must be one of %s, not %r" % (PHASES, phase))
        self.triggers[phase].append(trigger)
        return (self.eventType, phase, trigger)

    def removeTrigger(self, phase, trigger):
        """
        Remove a trigger that has not run yet.

        :raises ValueError: if it is unknown, or has already run.
        """
        try:
            self.triggers[phase].remove(trigger)
        except (KeyError, ValueError):
            raise ValueError("unknown or already run trigger: %r" % (trigger,)) from None

    def triggersSince(self, mark):
        """(serial, SystemEventTrigger) of each trigger not yet run added after mark."""
        for phase, triggers in self.triggers.items():
            for trigger in triggers:
                callable, args, kw, serial = trigger
                if serial > mark:
                    triggerID = (self.eventType, phase, trigger)
                    yield (
                        serial,
                        SystemEventTrigger(self.eventType, phase, callable, args, kw, triggerID),
                    )

    def fire(self):
        """Run the before triggers; the rest run once their Deferreds fire."""
        if self.state != "idle":
            # Already firing: the pending Deferreds will finish the job.
            return
        self.state = "before"
        waits = []
        for result in self._runPhase("before"):
            if isinstance(result, Deferred):
                result.addErrback(
                    log.err, "Error in before-%s trigger's Deferred" % (self.eventType,)
                )
                waits.append(result)
        if waits:
            DeferredList(waits).addCallback(self._continueFiring)
        else:
            self._continueFiring(None)

    def _continueFiring(self, ignored):
        self.state = "idle"
        for _ in self._runPhase("during"):
            pass
        for _ in self._runPhase("after"):
            pass

    def _runPhase(self, phase):
        # Pop from the front: a trigger may add another to this very phase,
        # and it runs in this firing too.
        triggers = self.triggers[phase]
        while triggers:
            callable, args, kw, _ = triggers.pop(0)
            try:
                result = callable(*args, **kw)
            except Exception:
                log.err(None, "Error in %s-%s trigger" % (phase, self.eventType))
            else:
                yield result
