"""
A property test of the Deferred engine against a reference model.

Random chains of addCallback / addErrback / addBoth steps, whose functions
return a value, raise, or return an already-fired or a later-fired Deferred,
must give the same final result and the same call log as a plain loop that
applies the textbook rules: a step runs when its side matches the current
result, and what it returns or raises becomes the next result.
"""

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


def runReal(initial, steps, fireAt):
    """Build the chain with the real Deferred, firing it after fireAt steps."""
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

    d = Deferred()

    def add(index, kind, behaviour):
        adder = {"callback": d.addCallback, "errback": d.addErrback, "both": d.addBoth}
        adder[kind](step, index, behaviour=behaviour)

    for index, (kind, behaviour) in enumerate(steps[:fireAt]):
        add(index, kind, behaviour)
    if initial[0] == "ok":
        d.callback(initial[1])
    else:
        d.errback(StepError(initial[1]))
    for index, (kind, behaviour) in enumerate(steps[fireAt:], fireAt):
        add(index, kind, behaviour)
    while later:
        pending, behaviour, name = later.pop(0)
        if behaviour == "laterOk":
            pending.callback(name)
        else:
            pending.errback(StepError(name))
    final = []
    d.addBoth(final.append)
    assert len(final) == 1
    return outcomeOf(final[0]), calls


@settings(max_examples=300, deadline=None)
@given(
    initial=st.sampled_from([("ok", "start"), ("err", "start")]),
    steps=st.lists(st.tuples(st.sampled_from(KINDS), st.sampled_from(BEHAVIOURS))),
    fireAtFraction=st.floats(0, 1),
)
def test_chainMatchesReferenceModel(initial, steps, fireAtFraction):
    fireAt = int(len(steps) * fireAtFraction)
    assert runReal(initial, steps, fireAt) == model(initial, steps)
