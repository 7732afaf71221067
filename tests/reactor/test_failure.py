"""Tests for reactor.failure.Failure."""

import io
import pickle
import sys
import threading
import traceback

import pytest

from reactor.failure import Failure, NoCurrentExceptionError


class MyError(Exception):
    """A local exception class, to test qualified names."""


class MySubError(MyError):
    """A subclass, to test matching on a parent class."""


def raiser(exception):
    raise exception


def failureOf(exception):
    """Return a Failure for exception, raised through raiser()."""
    try:
        raiser(exception)
    except BaseException:
        return Failure()


def test_wrapsCurrentExceptionInsideExcept():
    error = ValueError("boom")
    try:
        raise error
    except ValueError:
        failure = Failure()
    assert failure.value is error
    assert failure.type is ValueError
    assert failure.tb is error.__traceback__
    assert failure.tb is not None


def test_wrapsExplicitException():
    error = KeyError("k")
    failure = Failure(error)
    assert failure.value is error
    assert failure.type is KeyError
    assert failure.tb is None


def test_explicitRaisedExceptionKeepsItsTraceback():
    try:
        raiser(MyError("x"))
    except MyError as caught:
        error = caught
    failure = Failure(error)
    assert failure.tb is error.__traceback__
    assert "raiser" in failure.getTraceback()


def test_exceptionClassIsInstantiated():
    failure = Failure(ValueError)
    assert isinstance(failure.value, ValueError)
    assert failure.type is ValueError


def test_explicitTypeAndTraceback():
    try:
        raiser(MyError("given"))
    except MyError:
        exc_type, value, tb = sys.exc_info()
    failure = Failure(value, exc_type, tb)
    assert (failure.value, failure.type, failure.tb) == (value, exc_type, tb)


def test_outsideExceptRaisesNoCurrentExceptionError():
    with pytest.raises(NoCurrentExceptionError):
        Failure()


def test_failureOfFailureUnwraps():
    original = failureOf(MyError("inner"))
    try:
        raise original
    except Failure:
        again = Failure()
    assert again.value is original.value
    assert again.type is MyError
    assert again.tb is original.tb


def test_cleanFailureDropsTracebackButKeepsText():
    failure = failureOf(MyError("clean me"))
    before = failure.getTraceback()
    framesBefore = failure.frames
    failure.cleanFailure()
    assert failure.tb is None
    assert failure.value.__traceback__ is None
    after = failure.getTraceback()
    assert "raiser" in after
    assert "raise exception" in after
    assert after.rstrip().endswith("MyError: clean me")
    assert after == before
    assert failure.frames == framesBefore
    failure.cleanFailure()  # a second call is harmless
    assert failure.getTraceback() == after


def test_cleanedTracebackObjectServesTheTracebackModule():
    failure = failureOf(MyError("clean me"))
    before = traceback.extract_tb(failure.getTracebackObject())
    failure.cleanFailure()
    tb = failure.getTracebackObject()
    assert tb is not None
    after = traceback.extract_tb(tb)
    assert [(f.name, f.filename, f.lineno) for f in after] == [
        (f.name, f.filename, f.lineno) for f in before
    ]
    assert [f.name for f in after] == ["failureOf", "raiser"]
    assert traceback.format_tb(tb)[-1].strip().endswith("raise exception")


def test_neverRaisedHasNoTracebackObjectNorFrames():
    failure = Failure(MyError("never"))
    assert failure.getTracebackObject() is None
    assert failure.frames == []


def test_tracebackOfNeverRaisedException():
    text = Failure(MyError("never")).getTraceback()
    assert "never raised" in text
    assert text.rstrip().endswith("MyError: never")


def test_checkWithClasses():
    failure = failureOf(MySubError("x"))
    assert failure.check(KeyError) is None
    assert failure.check(KeyError, MyError) is MyError
    assert failure.check(MySubError, MyError) is MySubError
    assert failure.check(Exception) is Exception
    assert failure.check() is None


def test_checkWithQualifiedNames():
    failure = failureOf(MySubError("x"))
    name = __name__ + ".MyError"
    assert failure.check(name) == name
    assert failure.check("builtins.Exception") == "builtins.Exception"
    assert failure.check("builtins.KeyError") is None
    assert failure.check("MyError") is None


def test_parentsListsQualifiedNames():
    failure = failureOf(MySubError("x"))
    assert failure.parents[:2] == [__name__ + ".MySubError", __name__ + ".MyError"]
    assert "builtins.BaseException" in failure.parents


def test_trapReturnsMatch():
    failure = failureOf(MySubError("x"))
    assert failure.trap(KeyError, MyError) is MyError


def test_trapReraisesTheOriginalException():
    # As Twisted 26: ``except MyError`` around a trap catches what it did not
    # match (Loom raised the Failure itself before).
    failure = failureOf(MyError("x"))
    with pytest.raises(MyError) as info:
        failure.trap(KeyError)
    assert info.value is failure.value
    names = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert names[-2:] == ["failureOf", "raiser"]


def test_exceptAroundTrapCatchesTheOriginalType():
    caught = []
    try:
        failureOf(ValueError("not a key")).trap(KeyError)
    except ValueError as error:
        caught.append(str(error))
    assert caught == ["not a key"]


def test_trapOfACleanedFailureStillShowsWhereItWasRaised():
    failure = failureOf(MyError("cleaned"))
    failure.cleanFailure()
    try:
        failure.trap(KeyError)
    except MyError:
        again = Failure()
    assert again.value is failure.value
    names = [frame[0] for frame in again.frames]
    assert names[-4:] == ["trap", "raiseException", "failureOf", "raiser"]
    assert "in _reraiseCleaned" not in again.getTraceback()


def test_raiseExceptionReraisesOriginalWithTraceback():
    error = MyError("original")
    failure = failureOf(error)
    with pytest.raises(MyError) as info:
        failure.raiseException()
    assert info.value is error
    names = [frame.name for frame in traceback.extract_tb(info.value.__traceback__)]
    assert names[1] == "raiseException"
    assert names[-2:] == ["failureOf", "raiser"]


def test_throwExceptionIntoGenerator():
    seen = []

    def generator():
        try:
            yield 1
        except MyError as error:
            seen.append(error)
            yield 2

    running = generator()
    next(running)
    failure = failureOf(MyError("thrown"))
    assert failure.throwExceptionIntoGenerator(running) == 2
    assert seen == [failure.value]


def test_getErrorMessage():
    assert failureOf(MyError("the message")).getErrorMessage() == "the message"
    assert failureOf(MyError()).getErrorMessage() == "MyError()"


def test_getErrorMessageWhenStrFails():
    class Unprintable(Exception):
        def __str__(self):
            raise RuntimeError("no str")

    failure = Failure(Unprintable())
    assert "str() of Unprintable failed" in failure.getErrorMessage()


def test_getTracebackHasFramesAndExceptionLine():
    text = failureOf(MyError("here")).getTraceback()
    assert text.startswith("Traceback (most recent call last):\n")
    assert "in raiser" in text
    assert "in failureOf" in text
    assert text.endswith("MyError: here\n")


def test_briefTraceback():
    failure = failureOf(MyError("short"))
    expected = "%s.MyError: short\n" % (__name__,)
    assert failure.getBriefTraceback() + "\n" == expected
    assert failure.getTraceback(detail="brief") == expected
    output = io.StringIO()
    failure.printBriefTraceback(output)
    assert output.getvalue() == expected


def test_printTracebackWritesToFile():
    failure = failureOf(MyError("printed"))
    output = io.StringIO()
    failure.printTraceback(output)
    assert output.getvalue() == failure.getTraceback()


def test_printTracebackDefaultsToStderr(capsys):
    failure = failureOf(MyError("to stderr"))
    failure.printTraceback()
    assert capsys.readouterr().err == failure.getTraceback()


def test_reprIsReadable():
    failure = failureOf(MyError("readable"))
    expected = "<reactor.failure.Failure %s.MyError: readable>" % (__name__,)
    assert repr(failure) == expected
    assert str(failure) == expected
    assert repr(Failure(ValueError("v"))) == ("<reactor.failure.Failure builtins.ValueError: v>")


def test_creationWalksNoFrames(monkeypatch):
    def forbidden(*args, **kwargs):
        raise AssertionError("a frame walk happened while creating a Failure")

    monkeypatch.setattr(traceback, "extract_tb", forbidden)
    monkeypatch.setattr(traceback, "walk_tb", forbidden)
    monkeypatch.setattr(traceback.StackSummary, "extract", forbidden)
    monkeypatch.setattr(traceback, "extract_stack", forbidden)
    monkeypatch.setattr(traceback, "format_stack", forbidden)
    failure = failureOf(MyError("cheap"))
    explicit = Failure(MyError("cheap too"))
    assert failure.check(MyError) is MyError
    assert failure.getErrorMessage() == "cheap"
    assert explicit.type is MyError


def test_pickleKeepsTypeMessageAndTracebackText():
    failure = failureOf(MyError("pickled"))
    copy = pickle.loads(pickle.dumps(failure))
    assert copy.type is MyError
    assert copy.getErrorMessage() == "pickled"
    assert copy.getTraceback() == failure.getTraceback()


def test_pickleKeepsTheExceptionsArgsAndStr():
    # Rebuilt from its message, a KeyError('k') became KeyError("'k'").
    failure = failureOf(KeyError("k"))
    copy = pickle.loads(pickle.dumps(failure))
    assert (copy.type, copy.value.args, str(copy.value)) == (KeyError, ("k",), "'k'")
    assert copy.getErrorMessage() == failure.getErrorMessage() == "'k'"
    assert copy.getTraceback() == failure.getTraceback()


class Picky(Exception):
    """An exception whose constructor does not take one message."""

    def __init__(self, a, b):
        Exception.__init__(self, a, b)


def test_pickleOfExceptionWithUnusualConstructor():
    failure = Failure(Picky(1, 2))
    copy = pickle.loads(pickle.dumps(failure))
    assert (copy.type, copy.value.args) == (Picky, (1, 2))
    assert copy.getErrorMessage() == "(1, 2)"


class Unrebuildable(Exception):
    """Pickles, but its args do not fit its constructor: loads() fails."""

    def __init__(self, a, b):
        Exception.__init__(self, a)
        self.b = b


def test_pickleFallsBackToTheMessageWhenTheExceptionCannotBeRebuilt():
    failure = failureOf(Unrebuildable("first", "second"))
    copy = pickle.loads(pickle.dumps(failure))
    assert (copy.type, copy.value.args) == (Exception, ("first",))
    assert copy.getTraceback() == failure.getTraceback()


def test_pickleFallsBackToTheMessageWhenTheExceptionCannotBePickled():
    error = MyError("with a lock")
    error.lock = threading.Lock()  # a lock cannot be pickled
    copy = pickle.loads(pickle.dumps(failureOf(error)))
    assert (copy.type, copy.value.args) == (MyError, ("with a lock",))
    assert not hasattr(copy.value, "lock")
