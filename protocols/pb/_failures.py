"""
Remote errors: how an exception raised by a remote method crosses the wire.

The sender wraps it in a CopyableFailure, a Copyable whose state is the
exception's type name, message, the names of its classes (``parents``) and,
only when the factory's ``unsafeTracebacks`` is set, the traceback text.
The receiver rebuilds a CopiedFailure: a Failure whose ``type`` is the
remote class's name and ``value`` its message, so ``trap``/``check`` work
by name -- ``failure.trap(KeyError)`` matches a remote KeyError -- and
re-raising it (``raiseException``, or inside inlineCallbacks) raises a
RemoteError carrying the remote type, message and traceback.

The copy tag is Twisted's, ``twisted.spread.pb.CopyableFailure``, whatever
side sends it.  Wire warts kept or mended:

- Twisted sends the frames' function and file names (``_frames``) even
  when tracebacks are meant to stay private; Loom sends an empty list.
- Twisted's CopiedFailure has ``type`` as bytes and raises TypeError when
  re-raised (its value is a str); Loom's has ``type`` as str and raises
  RemoteError.
- A class has different names in Twisted and Loom (twisted.cred.error. vs
  protocols.cred.error.): Loom sends both names in ``parents`` and matches
  either when trapping, so ``trap(UnauthorizedLogin)`` works against a
  Twisted server and a Twisted client can trap Loom's errors by their
  Twisted names.
"""

from __future__ import annotations

import sys
from typing import IO, Any, NoReturn

from protocols.pb.flavors import Copyable, ProtocolError, RemoteCopy
from protocols.pb.jelly import setUnjellyableForClass
from reactor.failure import Failure

__all__ = [
    "CopiedFailure",
    "CopyableFailure",
    "DeadReferenceError",
    "Error",
    "PBConnectionLost",
    "PipelineError",
    "RemoteError",
    "failure2Copyable",
]

# The errors a Broker raises or sends (pb re-exports them).


class DeadReferenceError(ProtocolError):
    """A call through a reference whose connection is gone."""


class Error(Exception):
    """
    An error a remote method raises on purpose: sent to the caller without
    being logged here.
    """


class PBConnectionLost(Exception):
    """The connection was lost before the answer came."""


class PipelineError(Error):
    """
    A message pipelined to an answer could not be delivered: no such
    answer is kept (never asked for, or released), or the answer is not a
    reference to one of the peer's objects.
    """


COPY_TAG = b"twisted.spread.pb.CopyableFailure"

# Loom's modules and the Twisted modules holding the same classes.
_TWIN_MODULES = [
    ("protocols.cred.error.", "twisted.cred.error."),
    ("protocols.pb.pb.", "twisted.spread.pb."),
    ("protocols.pb._broker.", "twisted.spread.pb."),
    ("protocols.pb._failures.", "twisted.spread.pb."),
    ("protocols.pb._login.", "twisted.spread.pb."),
    ("protocols.pb._references.", "twisted.spread.pb."),
    ("protocols.pb.flavors.", "twisted.spread.flavors."),
    ("protocols.pb.jelly.", "twisted.spread.jelly."),
    ("protocols.pb.banana.", "twisted.spread.banana."),
    ("reactor.error.", "twisted.internet.error."),
    ("reactor.defer.", "twisted.internet.defer."),
]


def _twinNames(name: str) -> list[str]:
    """Return a Loom class's name and its Twisted twin's, if it has one."""
    for loom, twisted in _TWIN_MODULES:
        if name.startswith(loom):
            return [name, twisted + name[len(loom) :]]
    return [name]


def _className(klass: type) -> str:
    return "%s.%s" % (klass.__module__, klass.__qualname__)


class RemoteError(Exception):
    """
    A remote exception re-raised here.

    :ivar remoteType: the remote exception's qualified class name.
    :ivar remoteTraceback: its traceback text, or a placeholder.
    """

    def __init__(self, remoteType: Any, value: Any, remoteTraceback: Any) -> None:
        Exception.__init__(self, value)
        self.remoteType = remoteType
        self.remoteTraceback = remoteTraceback


class CopyableFailure(Failure, Copyable):
    """A Failure that can be sent to a peer (as its type name, message and parents)."""

    unsafeTracebacks = False

    def getTypeToCopy(self) -> bytes:
        """Twisted's tag, so a Twisted peer rebuilds it as its CopiedFailure."""
        return COPY_TAG

    def getStateToCopy(self) -> dict[str, Any]:
        """The state Twisted's CopiedFailure expects."""
        if isinstance(self.type, (str, bytes)):
            # A CopiedFailure passed on: its names are all there is.
            typeName = self.type if isinstance(self.type, bytes) else self.type.encode("utf-8")
            names = self.__dict__.get("_parents") or [typeName.decode("utf-8", "replace")]
        else:
            typeName = _className(self.type).encode("utf-8")
            names = self.parents
        parents: list[str] = []
        for parent in names:
            parents.extend(name for name in _twinNames(parent) if name not in parents)
        if self.unsafeTracebacks:
            traceback = self.getTraceback()
        else:
            traceback = "Traceback unavailable\n"
        return {
            "type": typeName,
            "value": self.getErrorMessage(),
            "parents": parents,
            "traceback": traceback,
            "tb": None,
            "frames": [],
            "stack": [],
            "_frames": [],
            "count": 0,
            "pickled": 1,
            "captureVars": False,
            "unsafeTracebacks": bool(self.unsafeTracebacks),
        }


def failure2Copyable(failure: Failure, unsafeTracebacks: bool = False) -> CopyableFailure:
    """Return a CopyableFailure for failure (the same exception and traceback)."""
    copyable = CopyableFailure.__new__(CopyableFailure)
    copyable.__dict__.update(failure.__dict__)
    copyable.unsafeTracebacks = unsafeTracebacks
    return copyable


class CopiedFailure(RemoteCopy, Failure):
    """
    A remote Failure rebuilt here: ``type`` is the remote class's qualified
    name (str), ``value`` its message (str), and check/trap match by name.
    """

    type: Any
    value: Any
    traceback: str = "Traceback unavailable\n"
    _parents: list[str]

    def setCopyableState(self, state: Any) -> None:
        """Take Twisted's CopyableFailure state."""
        RemoteCopy.setCopyableState(self, state)
        fields = self.__dict__
        remoteType = fields.get("type", b"?")
        self.type = (
            remoteType.decode("utf-8", "replace")
            if isinstance(remoteType, bytes)
            else str(remoteType)
        )
        value = fields.get("value", "")
        self.value = value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
        parents = fields.pop("parents", None)
        if not isinstance(parents, list):
            parents = [self.type]
        self._parents = [
            p.decode("utf-8", "replace") if isinstance(p, bytes) else str(p) for p in parents
        ]
        if not isinstance(fields.get("traceback"), str):
            self.traceback = "Traceback unavailable\n"
        self.tb = None
        self._stack = None

    @property  # type: ignore[override]
    def parents(self) -> list[str]:
        """The remote exception's class names, each with its twin name."""
        return self._parents

    def check(self, *errorTypes: Any) -> Any:
        """Return the first of errorTypes (classes or names) the remote exception is."""
        for errorType in errorTypes:
            if isinstance(errorType, type):
                names = _twinNames(_className(errorType))
            elif isinstance(errorType, bytes):
                names = [errorType.decode("utf-8", "replace")]
            else:
                names = [errorType]
            if any(name in self._parents for name in names):
                return errorType
        return None

    def raiseException(self) -> NoReturn:
        """Raise a RemoteError for the remote exception."""
        raise RemoteError(self.type, self.value, self.traceback)

    def throwExceptionIntoGenerator(self, generator: Any) -> Any:
        """Throw a RemoteError into generator."""
        return generator.throw(RemoteError(self.type, self.value, self.traceback))

    def getErrorMessage(self) -> str:
        """The remote exception's message."""
        return self.value

    def getBriefTraceback(self) -> str:
        """One line: the remote type and message."""
        return "%s: %s" % (self.type, self.value)

    def getTraceback(self, elideFrameworkCode: bool = False, detail: str = "default") -> str:
        """The remote type and message, then the remote traceback if it was sent."""
        text = "Traceback from remote host -- %s: %s\n" % (self.type, self.value)
        if detail != "brief" and self.traceback != "Traceback unavailable\n":
            text += self.traceback
        return text

    def printTraceback(
        self, file: IO[str] | None = None, elideFrameworkCode: bool = False, detail: str = "default"
    ) -> None:
        """Write getTraceback() to file (stderr by default)."""
        (file or sys.stderr).write(self.getTraceback(detail=detail))

    def cleanFailure(self) -> None:
        """Nothing to clean: a copied failure holds no frames."""

    def getTracebackObject(self) -> None:
        """None: the frames stayed on the remote side."""
        return None

    @property
    def frames(self) -> list[Any]:  # type: ignore[override]
        """No frames: they stayed on the remote side."""
        return []

    def __repr__(self) -> str:
        return "<%s.%s %s: %s>" % (
            type(self).__module__,
            type(self).__name__,
            self.type,
            self.value,
        )

    __str__ = __repr__


setUnjellyableForClass(COPY_TAG, CopiedFailure)
