"""
Failure: an exception carried as a value, so an error can travel down a
Deferred's errback chain or into ``connectionLost(reason)``.

Creating one is cheap: it keeps the exception and its traceback object and
walks no frames.  The traceback text is computed only when asked for, or when
``cleanFailure()`` is called to let go of the frames (a Deferred does that when
its chain ends on a Failure, so that an unhandled error does not keep every
local variable of the failed call stack alive).

Re-raising a cleaned Failure: ``trap``, ``raiseException`` and
``throwExceptionIntoGenerator`` raise the original exception, but its
traceback is gone.  So they raise it through ``_reraiseCleaned``, a frame
that holds the Failure; a Failure made from what comes out sees that frame
at the end of its traceback and continues the stack with the cleaned one's
saved frames.  Hence an error raised in a coroutine that failed at once
(its Deferred cleaned before anyone waited on it) still shows where it was
raised, after the frames of every level it was re-raised through
(test_failure_frames).
"""

from __future__ import annotations

import pickle
import sys
import traceback
from collections.abc import Generator, Iterator
from types import FrameType, TracebackType
from typing import IO, Any, NoReturn, TypeAlias, TypeVar

__all__ = ["Failure", "NoCurrentExceptionError"]

# What a generator given to throwExceptionIntoGenerator yields.
_YieldT = TypeVar("_YieldT")
# An exception class: spelled once here, because inside Failure the name
# ``type`` is its attribute (Twisted's), not the builtin.
_ErrorType: TypeAlias = type[BaseException]


class NoCurrentExceptionError(Exception):
    """Failure() was called with no argument outside an ``except`` block."""


class Failure(Exception):
    """
    An exception and its traceback, as a value.

    ``Failure()`` inside an ``except`` block wraps the exception being handled;
    ``Failure(exception)`` wraps an explicit one (using its ``__traceback__``
    if it was raised).  ``trap`` re-raises the original exception when
    nothing matches (as Twisted 26 does), so ``except ValueError`` around it
    works, and an errback that traps only what it knows passes the rest down
    the chain.  A Failure raised itself (``raise failure``) is unwrapped by
    the next ``Failure()``.

    :ivar value: the exception instance.
    :ivar type: its class.
    :ivar tb: the traceback object, or None once ``cleanFailure()`` ran.
    """

    value: BaseException
    type: _ErrorType
    tb: TracebackType | None
    _stack: traceback.StackSummary | None

    # Twisted's constructor also takes captureVars; variables are never
    # captured here, the argument is accepted for compatibility.
    def __init__(
        self,
        exc_value: BaseException | _ErrorType | None = None,
        exc_type: _ErrorType | None = None,
        exc_tb: TracebackType | None = None,
        captureVars: bool = False,
    ) -> None:
        Exception.__init__(self)
        if exc_value is None:
            exc_type, exc_value, exc_tb = sys.exc_info()
            if exc_value is None:
                raise NoCurrentExceptionError(
                    "Failure() needs an exception, or to be called inside except"
                )
        elif isinstance(exc_value, type) and issubclass(exc_value, BaseException):
            # Failure(ValueError) means Failure(ValueError()).
            exc_value = exc_value()
        if isinstance(exc_value, Failure):
            # A Failure raised as an exception: unwrap, keep the original.
            self.__dict__.update(exc_value.__dict__)
            return
        if exc_tb is None:
            exc_tb = exc_value.__traceback__
        self.value = exc_value
        self.type = exc_type or type(exc_value)
        self.tb = exc_tb
        # Set by cleanFailure(): the traceback's frames summarised.
        self._stack = None

    def check(self, *errorTypes: _ErrorType | str) -> _ErrorType | str | None:
        """
        Return the first of errorTypes that the exception is an instance of.

        Types may be given as classes or as their fully qualified names.
        :return: the matching type, or None.
        """
        for errorType in errorTypes:
            if isinstance(errorType, str):
                for klass in self.type.__mro__:
                    if _qualifiedName(klass) == errorType:
                        return errorType
            elif issubclass(self.type, errorType):
                return errorType
        return None

    def trap(self, *errorTypes: _ErrorType | str) -> _ErrorType | str:
        """
        Return the matching type if the exception is one of errorTypes.

        Otherwise re-raise the original exception (raiseException), so an
        errback that traps only what it knows passes everything else down
        the chain, and ``except`` clauses around it see the real exception.
        """
        matched = self.check(*errorTypes)
        if matched is None:
            self.raiseException()
        return matched

    def raiseException(self) -> NoReturn:
        """Re-raise the original exception, with its original traceback."""
        if self.tb is None and self._stack is not None:
            _reraiseCleaned(self)
        raise self.value.with_traceback(self.tb)

    @property
    def parents(self) -> list[str]:
        """The qualified names of the exception's class and all its bases."""
        return [_qualifiedName(klass) for klass in self.type.__mro__]

    def throwExceptionIntoGenerator(self, generator: Generator[_YieldT, Any, Any]) -> _YieldT:
        """
        Throw the exception into generator at its current yield.

        :return: what the generator yields next.
        """
        tb = self.tb
        if tb is None and self._stack is not None:
            try:
                _reraiseCleaned(self)
            except BaseException as error:
                raised = error.__traceback__
                tb = raised.tb_next if raised is not None else None  # the marker frame alone
        return generator.throw(self.value.with_traceback(tb))

    @property
    def frames(self) -> list[tuple[str, str, int | None, tuple[()], tuple[()]]]:
        """
        The traceback's frames, outermost first, as Twisted's tuples:
        (function name, file name, line number, (), ()) -- locals and
        globals are never captured.  Kept by cleanFailure().
        """
        return [(f.name, f.filename, f.lineno, (), ()) for f in self._summary()]

    def getTracebackObject(self) -> TracebackType | _FakeTraceback | None:
        """
        Return a traceback object for the traceback module (extract_tb,
        format_tb...): the real one while it is held, else (after
        cleanFailure(), or when a cleaned Failure was re-raised) one built
        from the saved frames.  None if the exception was never raised.
        """
        tb = self.tb
        if tb is not None and not _endsInMarker(tb):
            return tb
        return _FakeTraceback.chain(self._summary())

    def cleanFailure(self) -> None:
        """
        Let go of the traceback's frames, keeping what is needed to print it.

        After this, ``tb`` is None; ``getTraceback()``, ``frames`` and
        ``getTracebackObject()`` give what they gave before.
        """
        if self.tb is not None:
            self._stack = _extractFrames(self.tb)
            self.tb = None
            self.value.__traceback__ = None

    def _summary(self) -> traceback.StackSummary:
        # The frames, outermost first: the traceback's, or the saved ones.
        if self.tb is not None:
            return _extractFrames(self.tb)
        if self._stack is not None:
            return self._stack
        return traceback.StackSummary()

    def getErrorMessage(self) -> str:
        """Return the exception's message (its str, or its repr if that is empty)."""
        text = _safeStr(self.value)
        return text if text else repr(self.value)

    def getBriefTraceback(self) -> str:
        """Return one line: the exception's type and message."""
        return "%s: %s" % (_qualifiedName(self.type), self.getErrorMessage())

    def getTraceback(self, elideFrameworkCode: bool = False, detail: str = "default") -> str:
        """
        Return the traceback as text, ending with the exception line.

        ``detail="brief"`` gives only the last line.
        """
        if detail == "brief":
            return self.getBriefTraceback() + "\n"
        if self.tb is None and self._stack is None:
            if self._remoteTraceback is not None:
                return self._remoteTraceback
            lines = ["Traceback (most recent call last):\n"]
            lines.append("Failure: (no traceback: never raised)\n")
        else:
            # The exceptions this one was raised from (or while handling)
            # first, as Python prints them; cleanFailure() keeps them.
            lines = _formatChain(self.value)
            lines.append("Traceback (most recent call last):\n")
            lines.extend(self._summary().format())
        lines.extend(traceback.format_exception_only(self.type, self.value))
        return "".join(lines)

    def printTraceback(
        self,
        file: IO[str] | None = None,
        elideFrameworkCode: bool = False,
        detail: str = "default",
    ) -> None:
        """Write the traceback to file (default sys.stderr)."""
        if file is None:
            file = sys.stderr
        file.write(self.getTraceback(detail=detail))

    def printBriefTraceback(self, file: IO[str] | None = None) -> None:
        """Write the one-line summary to file (default sys.stderr)."""
        self.printTraceback(file, detail="brief")

    def __repr__(self) -> str:
        return "<%s.%s %s: %s>" % (
            type(self).__module__,
            type(self).__name__,
            _qualifiedName(self.type),
            self.getErrorMessage(),
        )

    __str__ = __repr__

    # Set only on a Failure rebuilt from a pickle: the original's text.
    _remoteTraceback: str | None = None

    def __reduce_ex__(self, protocol: Any) -> tuple[Any, tuple[Any, ...]]:
        # The traceback crosses as text (frames cannot be pickled).  The
        # exception crosses as itself, so a KeyError('k') comes back with
        # the same args and str(); it is pickled here, apart, so that one
        # which cannot be (an unpicklable attribute), or cannot be rebuilt
        # on the other side (a constructor its args do not fit), still
        # leaves the type, message and traceback text to rebuild from.
        try:
            pickledValue: bytes | None = pickle.dumps(self.value, protocol)
        except Exception:
            pickledValue = None
        text = self.getTraceback()
        return (_rebuildFailure, (self.type, self.getErrorMessage(), text, pickledValue))


def _rebuildFailure(
    type_: _ErrorType, message: str, tracebackText: str, pickledValue: bytes | None = None
) -> Failure:
    value = _unpickleValue(pickledValue) if pickledValue is not None else None
    if value is None:
        try:
            value = type_(message)
        except Exception:
            value = Exception(message)
    failure = Failure(value)
    failure._remoteTraceback = tracebackText
    return failure


def _unpickleValue(pickledValue: bytes) -> BaseException | None:
    # None when the exception cannot be rebuilt: the caller falls back to
    # its type and message.
    try:
        value = pickle.loads(pickledValue)
    except Exception:
        return None
    return value if isinstance(value, BaseException) else None


def _reraiseCleaned(failure: Failure) -> NoReturn:
    # The marker frame: raise failure's exception from here, so that the
    # traceback of what comes out ends in this frame, whose local variable
    # names the cleaned Failure to continue the stack with.
    raise failure.value.with_traceback(None)


_MARKER_CODE = _reraiseCleaned.__code__


def _endsInMarker(tb: TracebackType) -> bool:
    while tb.tb_next is not None:
        tb = tb.tb_next
    return tb.tb_frame.f_code is _MARKER_CODE


def _extractFrames(tb: TracebackType | None) -> traceback.StackSummary:
    """
    Summarise the frames of tb; if it ends in the marker frame (a cleaned
    Failure re-raised), the marker is replaced by that Failure's frames.

    Source lines are read only when printed, and no column positions are
    computed (the carets of Python's own tracebacks): finding them costs
    several times the rest, on every cleanFailure().
    """
    entries: list[tuple[FrameType, int]] = []
    while tb is not None:
        entries.append((tb.tb_frame, tb.tb_lineno))
        tb = tb.tb_next
    summary = traceback.StackSummary.extract(entries, lookup_lines=False)
    if entries and entries[-1][0].f_code is _MARKER_CODE:
        origin = entries[-1][0].f_locals.get("failure")
        del summary[-1]
        if isinstance(origin, Failure):
            summary.extend(origin._summary())
    return summary


_CAUSE = "\nThe above exception was the direct cause of the following exception:\n\n"
_CONTEXT = "\nDuring handling of the above exception, another exception occurred:\n\n"


def _formatChain(value: BaseException) -> list[str]:
    """
    Return the lines Python prints before value's own traceback: the
    exceptions it was raised from (__cause__) or while handling
    (__context__), oldest first, each with the sentence linking it on.
    """
    chain: list[tuple[BaseException, str]] = []
    seen = {id(value)}
    while True:
        message: str
        if value.__cause__ is not None:
            value, message = value.__cause__, _CAUSE
        elif value.__context__ is not None and not value.__suppress_context__:
            value, message = value.__context__, _CONTEXT
        else:
            break
        if id(value) in seen:
            break
        seen.add(id(value))
        chain.append((value, message))
    lines: list[str] = []
    for value, message in reversed(chain):
        if value.__traceback__ is not None:
            lines.append("Traceback (most recent call last):\n")
            lines.extend(_extractFrames(value.__traceback__).format())
        lines.extend(traceback.format_exception_only(type(value), value))
        lines.append(message)
    return lines


class _FakeCode:
    # The attributes of a code object that the traceback module reads.
    def __init__(self, name: str, filename: str) -> None:
        self.co_name = self.co_qualname = name
        self.co_filename = filename
        self.co_firstlineno = 0

    def co_positions(self) -> Iterator[tuple[int | None, ...]]:
        return iter(())


class _FakeFrame:
    # The attributes of a frame that the traceback module reads.
    def __init__(self, summary: traceback.FrameSummary, back: _FakeFrame | None) -> None:
        self.f_code = _FakeCode(summary.name, summary.filename)
        self.f_lineno = summary.lineno
        self.f_globals: dict[str, Any] = {}
        self.f_locals: dict[str, Any] = {}
        self.f_back = back


class _FakeTraceback:
    """
    A traceback entry rebuilt from a saved frame summary, for the traceback
    module (a real one needs live frames, which cleanFailure let go).
    """

    def __init__(self, frame: _FakeFrame) -> None:
        self.tb_frame = frame
        self.tb_lineno = frame.f_lineno
        self.tb_lasti = -1  # no instruction: the traceback module asks no position
        self.tb_next: _FakeTraceback | None = None

    @classmethod
    def chain(cls, summary: traceback.StackSummary) -> _FakeTraceback | None:
        """Return the first of a chain of entries for summary, or None if empty."""
        first: _FakeTraceback | None = None
        previous: _FakeTraceback | None = None
        back: _FakeFrame | None = None
        for frameSummary in summary:
            back = _FakeFrame(frameSummary, back)
            entry = cls(back)
            if previous is None:
                first = entry
            else:
                previous.tb_next = entry
            previous = entry
        return first


def _qualifiedName(klass: type) -> str:
    module = getattr(klass, "__module__", None)
    name = getattr(klass, "__qualname__", klass.__name__)
    if module in (None, "builtins"):
        return "builtins." + name if module else name
    return "%s.%s" % (module, name)


def _safeStr(value: object) -> str:
    try:
        return str(value)
    except Exception:
        return "<str() of %s failed>" % (type(value).__name__,)
