"""
Failure: an exception carried as a value, so an error can travel down a
Deferred's errback chain or into ``connectionLost(reason)``.

Creating one is cheap: it keeps the exception and its traceback object and
walks no frames.  The traceback text is computed only when asked for, or when
``cleanFailure()`` is called to let go of the frames (a Deferred does that when
its chain ends on a Failure, so that an unhandled error does not keep every
local variable of the failed call stack alive).
"""

import sys
import traceback

__all__ = ["Failure", "NoCurrentExceptionError"]


class NoCurrentExceptionError(Exception):
    """Failure() was called with no argument outside an ``except`` block."""


class Failure(Exception):
    """
    An exception and its traceback, as a value.

    ``Failure()`` inside an ``except`` block wraps the exception being handled;
    ``Failure(exception)`` wraps an explicit one (using its ``__traceback__``
    if it was raised).  A Failure is itself raisable: ``trap`` re-raises it
    when nothing matches, so the errback chain carries it on unchanged.  It
    is an Exception, so that one raised outside a chain (a connectionLost or
    a timed call that traps) is caught and logged by the reactor's guards
    like any other error, instead of stopping the loop.

    :ivar value: the exception instance.
    :ivar type: its class.
    :ivar tb: the traceback object, or None once ``cleanFailure()`` ran.
    """

    # Twisted's constructor also takes captureVars; variables are never
    # captured here, the argument is accepted for compatibility.
    def __init__(self, exc_value=None, exc_type=None, exc_tb=None, captureVars=False):
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
            # Raised by trap() or raiseException(): unwrap, keep the original.
            self.__dict__.update(exc_value.__dict__)
            return
        if exc_tb is None:
            exc_tb = exc_value.__traceback__
        self.value = exc_value
        self.type = exc_type or type(exc_value)
        self.tb = exc_tb
        self._stack = None

    def check(self, *errorTypes):
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

    def trap(self, *errorTypes):
        """
        Return the matching type if the exception is one of errorTypes.

        Otherwise raise this Failure itself, so an errback that traps only
        what it knows passes everything else down the chain untouched.
        """
        matched = self.check(*errorTypes)
        if matched is None:
            raise self
        return matched

    def raiseException(self):
        """Re-raise the original exception, with its original traceback."""
        raise self.value.with_traceback(self.tb)

    @property
    def parents(self):
        """The qualified names of the exception's class and all its bases."""
        return [_qualifiedName(klass) for klass in self.type.__mro__]

    def throwExceptionIntoGenerator(self, generator):
        """
        Throw the exception into generator at its current yield.

        :return: what the generator yields next.
        """
        return generator.throw(self.value.with_traceback(self.tb))

    def getTracebackObject(self):
        """Return the traceback object (None after cleanFailure())."""
        return self.tb

    def cleanFailure(self):
        """
        Let go of the traceback's frames, keeping what is needed to print it.

        After this, ``tb`` is None and ``getTraceback()`` still works.
        """
        if self.tb is not None:
            self._stack = traceback.StackSummary.extract(
                traceback.walk_tb(self.tb), lookup_lines=False
            )
            self.tb = None
            self.value.__traceback__ = None

    def getErrorMessage(self):
        """Return the exception's message (its str, or its repr if that is empty)."""
        text = _safeStr(self.value)
        return text if text else repr(self.value)

    def getBriefTraceback(self):
        """Return one line: the exception's type and message."""
        return "%s: %s" % (_qualifiedName(self.type), self.getErrorMessage())

    def getTraceback(self, elideFrameworkCode=False, detail="default"):
        """
        Return the traceback as text, ending with the exception line.

        ``detail="brief"`` gives only the last line.
        """
        if detail == "brief":
            return self.getBriefTraceback() + "\n"
        if self.tb is not None:
            lines = traceback.format_exception(self.type, self.value, self.tb)
        elif self._remoteTraceback is not None:
            return self._remoteTraceback
        else:
            lines = ["Traceback (most recent call last):\n"]
            if self._stack:
                lines.extend(self._stack.format())
            else:
                lines.append("Failure: (no traceback: never raised)\n")
            lines.extend(traceback.format_exception_only(self.type, self.value))
        return "".join(lines)

    def printTraceback(self, file=None, elideFrameworkCode=False, detail="default"):
        """Write the traceback to file (default sys.stderr)."""
        if file is None:
            file = sys.stderr
        file.write(self.getTraceback(detail=detail))

    def printBriefTraceback(self, file=None):
        """Write the one-line summary to file (default sys.stderr)."""
        self.printTraceback(file, detail="brief")

    def __repr__(self):
        return "<%s.%s %s: %s>" % (
            type(self).__module__,
            type(self).__name__,
            _qualifiedName(self.type),
            self.getErrorMessage(),
        )

    __str__ = __repr__

    # Set only on a Failure rebuilt from a pickle: the original's text.
    _remoteTraceback = None

    def __reduce__(self):
        # Failures cross process boundaries only as text.
        text = self.getTraceback()
        return (_rebuildFailure, (self.type, self.getErrorMessage(), text))


def _rebuildFailure(type_, message, tracebackText):
    try:
        value = type_(message)
    except Exception:
        value = Exception(message)
    failure = Failure(value)
    failure._remoteTraceback = tracebackText
    return failure


def _qualifiedName(klass):
    module = getattr(klass, "__module__", None)
    name = getattr(klass, "__qualname__", klass.__name__)
    if module in (None, "builtins"):
        return "builtins." + name if module else name
    return "%s.%s" % (module, name)


def _safeStr(value):
    try:
        return str(value)
    except Exception:
        return "<str() of %s failed>" % (type(value).__name__,)
