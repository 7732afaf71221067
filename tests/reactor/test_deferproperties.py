"""
A property test of the Deferred engine against a reference model.

Random chains of addCallback / addErrback / addBoth steps, added with extra
arguments or bare (the function alone), whose functions return a value,
raise, or return an already-fired or a later-fired Deferred, with the
Deferred fired, paused and unpaused at random points among them, must give
the same final result and the same call log as a plain loop that applies the
textbook rules: a step runs when its side matches the current result, and
what it returns or raises becomes the next result.
"""

from collections import namedtuple

from hypothesis import given, settings
from hypothesis import strategies as st

from reactor.defer import Deferred, fail, succeed

KINDS = ["callback", "errback", "both"]
BEHAVIOURS = ["value", "raise", "succeedNow", "failNow", "laterOk", "laterFail"]


class StepError(Exception):
    """Raised (or failed with) by a step; its message names the step."""


def outcomeOf(result):
    """Describe a result or Failure as a comparable tuple."""
    if hasattr(result, "check"):
        assert result.check(StepError)
        return ("err", result.getErrorMessage())
    return ("ok", result)


def model(initial, steps):
    """The reference: apply steps to initial with the textbook rules."""
    state = initial
    calls = []
    for index, (kind, behaviour) in enumerate(steps):
        side = "callback" if state[0] == "ok" else "errback"
        if kind not in (side, "both"):
            continue
        calls.append((index, state))
        name = "%s%d" % (behaviour, index)
        if behaviour in ("value", "succeedNow", "laterOk"):
            state = ("ok", name)
        else:
            state = ("err", name)
    return state, calls


def runReal(initial, steps, schedule):
    """
    Build the chain with the real Deferred, following schedule.

    Steps are added in order; schedule says where, among them, the Deferred
    is paused, fired and unpaused, and after which steps the oldest
    not-yet-fired inner Deferred fires.  Whatever is still pending at the
    end is unpaused and fired, so the whole chain runs.
    """
    calls = []
    later = []

    def step(result, index, behaviour):
        calls.append((index, outcomeOf(result)))
        name = "%s%d" % (behaviour, index)
        if behaviour == "value":
            return name
        if behaviour == "raise":
            raise StepError(name)
        if behaviour == "succeedNow":
            return succeed(name)
        if behaviour == "failNow":
            return fail(StepError(name))
        d = Deferred()
        later.append((d, behaviour, name))
        return d

    def bareStep(index, behaviour):
        # Added with no extra arguments: addCallback then stores the
        # function itself, not an (f, args, kwargs) tuple.
        return lambda result: step(result, index, behaviour)

    def fireOldestLater():
        pending, behaviour, name = later.pop(0)
        if behaviour == "laterOk":
            pending.callback(name)
        else:
            pending.errback(StepError(name))

    d = Deferred()
    adders = {"callback": d.addCallback, "errback": d.addErrback, "both": d.addBoth}
    for position in range(len(steps) + 1):
        if position == schedule.pauseAt:
            d.pause()
        if position == schedule.fireAt:
            if initial[0] == "ok":
                d.callback(initial[1])
            else:
                d.errback(StepError(initial[1]))
        if position == schedule.unpauseAt:
            d.unpause()
        if position == len(steps):
            break
        kind, behaviour, bare = steps[position]
        if bare:
            adders[kind](bareStep(position, behaviour))
        else:
            adders[kind](step, position, behaviour=behaviour)
        if later and schedule.fireLaterAfter[position]:
            fireOldestLater()
    while later:
        fireOldestLater()
    final = []
    d.addBoth(final.append)
    assert len(final) == 1
    return outcomeOf(final[0]), calls


# Where runReal pauses, fires and unpauses the Deferred (step positions, or
# None), and after which steps it fires the oldest inner Deferred (booleans).
Schedule = namedtuple("Schedule", "fireAt pauseAt unpauseAt fireLaterAfter")


@st.composite
def chains(draw):
    """Draw (steps, Schedule): steps are (kind, behaviour, bare) triples."""
    steps = draw(
        st.lists(st.tuples(st.sampled_from(KINDS), st.sampled_from(BEHAVIOURS), st.booleans()))
    )
    positions = st.integers(0, len(steps))
    fireAt = draw(positions)
    if draw(st.booleans()):
        pauseAt, unpauseAt = sorted([draw(positions), draw(positions)])
    else:
        pauseAt = unpauseAt = None
    fireLaterAfter = draw(st.lists(st.booleans(), min_size=len(steps), max_size=len(steps)))
    return steps, Schedule(fireAt, pauseAt, unpauseAt, fireLaterAfter)


@settings(max_examples=400, deadline=None)
@given(initial=st.sampled_from([("ok", "start"), ("err", "start")]), chain=chains())
def test_chainMatchesReferenceModel(initial, chain):
    steps, schedule = chain
    modelSteps = [(kind, behaviour) for kind, behaviour, bare in steps]
    assert runReal(initial, steps, schedule) == model(initial, modelSteps)
