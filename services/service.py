"""
The service tree: Service, MultiService, Application, and ``.tac`` loading.

A program is a tree of services rooted at an Application.  The daemonizer
calls ``privilegedStartService`` on the root (still root, so low ports can be
bound), sheds privileges, calls ``startService``, and at shutdown calls
``stopService`` and waits for the Deferred it returns.

The one idea that differs from Twisted: a MultiService starts its children
*in order, one at a time*.  When a child's ``startService`` returns a Deferred,
the next child starts only once it has fired; when a start fails, the children
already started are stopped again in reverse order and the parent's start
fails with that error.  When every child starts synchronously, the whole tree
starts synchronously, as in Twisted.  Stopping is concurrent, as in Twisted:
every child is asked to stop (last added first) and the parent's stop fires
when all of them have finished; ``pendingStops`` names those that have not,
and ``stopCallsInProgress`` those whose stopService call has not even returned
(the one blocking the reactor thread, seen from another thread).
"""

from __future__ import annotations

import builtins
import os
import traceback
from collections.abc import Iterable, Iterator
from types import CodeType
from typing import Any, NamedTuple

from zope.interface import Attribute, Interface, implementer

from protocols._servicebase import IService, IServiceCollection, Service, serviceLabel
from reactor import log
from reactor.defer import Deferred, DeferredList, maybeDeferred, succeed
from reactor.failure import Failure

__all__ = [
    "IService",
    "IServiceCollection",
    "IProcess",
    "Process",
    "Service",
    "MultiService",
    "Application",
    "PendingStop",
    "pendingStops",
    "stopCallsInProgress",
    "TacError",
    "loadApplication",
]


# -- interfaces ---------------------------------------------------------------

# IService, IServiceCollection and the base Service live in
# protocols._servicebase (so that protocols can offer services) and are
# re-exported here.


class IProcess(Interface):
    """The process-level settings of an application."""

    processName = Attribute("The name the process should run under, or None.")
    uid = Attribute("The user id to run as after privileged start-up, or None.")
    gid = Attribute("The group id to run as after privileged start-up, or None.")


# -- MultiService -------------------------------------------------------------


@implementer(IServiceCollection)
class MultiService(Service):
    """
    A service holding other services.

    Children start in the order they were added, each only after the
    previous one's start has completed, and stop last-added first.
    """

    def __init__(self) -> None:
        self.services: list[IService] = []
        self.namedServices: dict[str, IService] = {}
        # A _Stopping for every child whose stop Deferred has not fired; a
        # list, not a dict, because services need not be hashable.
        self._stopping: list[_Stopping] = []
        # Identifies the start in progress; a stop (or a new start) replaces
        # it so that a chain left over from an earlier start goes no further.
        self._startAttempt: object | None = None
        # The children privilegedStartService was called on.
        self._privileged: list[IService] = []

    def __iter__(self) -> Iterator[IService]:
        """Iterate over the children in the order they were added."""
        return iter(list(self.services))

    def getServiceNamed(self, name: str) -> IService:
        """
        Return the child named name.

        :raises KeyError: if no child has that name.
        """
        return self.namedServices[name]

    def addService(self, service: IService) -> Deferred[Any] | None:
        """
        Add service as the last child.

        If this service is running, the child is started at once (its
        startService only: privileged start-up is over by then).  If that
        start raises, or returns a Deferred that fails, the child is taken
        out again (and marked not running) and the error propagates.

        :return: the child's start Deferred (or None) if it was started.
        :raises RuntimeError: if a child with the same name is present.
        """
        if service.name is not None:
            if service.name in self.namedServices:
                raise RuntimeError("cannot have two services with same name %r" % (service.name,))
            self.namedServices[service.name] = service
        self.services.append(service)
        if not self.running:
            return None
        try:
            started = service.startService()
        except BaseException:
            self._abandon(service)
            raise
        if isinstance(started, Deferred):
            started.addErrback(self._ebAddedChildFailed, service)
        return started

    def _ebAddedChildFailed(self, failure: Failure, service: IService) -> Failure:
        if service in self.services:
            self._abandon(service)
        return failure

    def _abandon(self, service: IService) -> None:
        # A child whose start failed: out of the tree, and not running.
        self._forget(service)
        if service.parent is self:
            service.parent = None
        service.running = False

    def removeService(self, service: IService) -> Deferred[Any] | None:
        """
        Remove a child, stopping it if this service is running.

        :return: the child's stop Deferred if it was stopped, else None.
        :raises ValueError: if service is not a child.
        """
        self._forget(service)
        if not self.running:
            return None
        return self._stopChild(service, serviceLabel(service))

    def _forget(self, service: IService) -> None:
        self.services.remove(service)
        if service.name is not None and self.namedServices.get(service.name) is service:
            del self.namedServices[service.name]

    def privilegedStartService(self) -> None:
        """Call each child's privilegedStartService, in order."""
        Service.privilegedStartService(self)
        self._privileged = []
        for service in self:
            service.privilegedStartService()
            self._privileged.append(service)

    def startService(self) -> Deferred[None]:
        """
        Start the children in order, each after the previous one has started.

        :return: a Deferred firing with None when every child has started; it
            has already fired if every child started synchronously.  If a
            child's start fails, the children started before it are stopped
            (last first), and so are those whose privilegedStartService ran
            but which did not start (to release what that took, a port bound
            as root); this service is marked stopped, and the Deferred fails
            with the child's error once they have stopped.
        """
        Service.startService(self)
        attempt = self._startAttempt = object()
        started: list[IService] = []
        d: Deferred[None] = succeed(None)
        for service in self:
            d.addCallback(self._startChild, service, attempt, started)
        d.addErrback(self._ebStartFailed, attempt, started)
        return d

    def _startChild(
        self, ignored: None, service: IService, attempt: object, started: list[IService]
    ) -> Deferred[None] | None:
        # A stop, or removing the child, while an earlier child was still
        # starting: the rest of the chain must not start anything.
        if self._startAttempt is not attempt or service not in self.services:
            return None
        d = maybeDeferred(service.startService)
        return d.addCallback(self._cbChildStarted, service, started)

    def _cbChildStarted(self, ignored: object, service: IService, started: list[IService]) -> None:
        started.append(service)
        return None

    def _ebStartFailed(
        self, failure: Failure, attempt: object, started: list[IService]
    ) -> Failure | Deferred[Failure]:
        if self._startAttempt is not attempt:
            # Already stopped by hand while the start was under way: the
            # children have been asked to stop; only report the failure.
            return failure
        self._startAttempt = None
        Service.stopService(self)
        # Children whose privilegedStartService ran but whose start did not
        # (the failed one, those after it) are stopped too: a server among
        # them holds the port it bound while root.
        unstarted = [s for s in self._privileged if s not in started and s in self.services]
        d = self._stopChildren(list(reversed(started)) + unstarted[::-1])
        return d.addCallback(lambda ignored: failure)

    def stopService(self) -> Deferred[None]:
        """
        Stop every child, last added first, without waiting between them.

        A child whose stop fails is logged with reactor.log.err; the others
        still stop.  A start still under way starts no more children.

        :return: a Deferred firing with None when every child's stop has
            finished (at once if they all stopped synchronously).
        """
        Service.stopService(self)
        self._startAttempt = None
        return self._stopChildren(reversed(list(self)))

    def _stopChildren(self, services: Iterable[IService]) -> Deferred[None]:
        deferreds = [self._stopChild(service, serviceLabel(service)) for service in services]
        return DeferredList(deferreds).addCallback(lambda ignored: None)

    def _stopChild(self, service: IService, label: str) -> Deferred[Any]:
        # Registered before the call so that a stop which never fires is
        # visible to pendingStops, and a call which never returns (it blocks
        # the reactor thread) to stopCallsInProgress; a synchronous stop
        # unregisters at once.
        entry = _Stopping(service, label)
        self._stopping.append(entry)
        try:
            d = maybeDeferred(service.stopService)
        finally:
            entry.returned = True
        return d.addErrback(self._ebChildStopFailed, label).addBoth(self._cbChildStopped, entry)

    def _ebChildStopFailed(self, failure: Failure, label: str) -> None:
        log.err(failure, "Error stopping service %s" % (label,))
        return None

    def _cbChildStopped(self, result: object, entry: _Stopping) -> object:
        self._stopping.remove(entry)
        return result

    def stoppingServices(self) -> list[IService]:
        """
        Return the children whose stop Deferred has not fired yet.

        Children removed with removeService while running count too.  See
        pendingStops for the whole tree.
        """
        return [entry.service for entry in self._stopping]


class _Stopping:
    # A child being stopped: whether its stopService call has returned yet.
    __slots__ = ("service", "label", "returned")

    def __init__(self, service: IService, label: str) -> None:
        self.service, self.label, self.returned = service, label, False


# The functional form: under ``from __future__ import annotations`` the class
# form's field types would be strings, compiled at import (typing.ForwardRef),
# which costs loomd's start-up about a millisecond.
PendingStop = NamedTuple("PendingStop", [("path", str), ("service", IService)])
PendingStop.__doc__ = """
A service whose stop has not finished: path is the slash-separated labels
from the root ("app/web/db"; an unnamed service shows as "<ClassName>").
"""


def pendingStops(root: IService) -> list[PendingStop]:
    """
    Return every service under root whose stop Deferred has not fired.

    The list is in tree order, a parent before its children, so the last
    entry of each branch is the service actually holding things up (a
    MultiService is pending while any child is).  Each entry is a
    PendingStop(path, service).  root itself is not listed.
    """
    found: list[PendingStop] = []
    _collectPending(root, serviceLabel(root), found, False)
    return found


def stopCallsInProgress(root: IService) -> list[PendingStop]:
    """
    Return the services under root whose stopService call has not returned.

    Meant to be called from another thread while the reactor thread is
    stuck: the last entry is the service whose stopService blocks it (its
    ancestors, still inside their own stopService calls, come before it).
    Entries are PendingStop(path, service), in tree order; root itself is
    not listed (its caller knows whether root's call returned).
    """
    found: list[PendingStop] = []
    _collectPending(root, serviceLabel(root), found, True)
    return found


def _collectPending(
    service: IService, path: str, found: list[PendingStop], callsOnly: bool
) -> None:
    # Only a MultiService tracks its children's stops (its _stopping list,
    # read here, in the same module); any other service has no children.
    if not isinstance(service, MultiService):
        return
    # A copy: the reactor thread may change the list while another reads it.
    for entry in list(service._stopping):
        if callsOnly and entry.returned:
            continue
        childPath = path + "/" + entry.label
        found.append(PendingStop(childPath, entry.service))
        _collectPending(entry.service, childPath, found, callsOnly)


# -- Application --------------------------------------------------------------


@implementer(IProcess)
class Process:
    """
    The process settings of an application: what ``IProcess(application)`` gives.

    :ivar uid: the user id to run as after privileged start-up, or None to
        leave it alone.
    :ivar gid: the group id to run as, or None to leave it alone.
    :ivar processName: the name the process should have, or None (the
        default, as in Twisted) to leave it alone.
    """

    processName: str | None = None

    def __init__(self, uid: int | None = None, gid: int | None = None) -> None:
        self.uid = uid
        self.gid = gid


class Application(MultiService):
    """
    The root of a service tree, with the process settings the daemonizer uses.

    In Twisted, ``Application`` is a function returning a Componentized
    object to which IService and IProcess adapt separate components.  Here
    it is one class: ``IService(application)`` and
    ``IServiceCollection(application)`` give the application itself, and
    ``IProcess(application)`` gives its Process component, as in Twisted.
    ``setComponent``/``getComponent`` replace and read components by
    interface.  ``uid``, ``gid`` and ``processName`` read and write the
    IProcess component, for code that set them on the application.

    :param name: the service name.
    :param uid: the user id (an int) to run as after privileged start-up.
    :param gid: the group id (an int) to run as after privileged start-up.
    """

    def __init__(self, name: str, uid: int | None = None, gid: int | None = None) -> None:
        MultiService.__init__(self)
        self.setName(name)
        self._components: dict[Any, object] = {IProcess: Process(uid, gid)}

    def __conform__(self, interface: Any) -> object:
        # zope.interface asks this first when adapting: a component set for
        # the interface wins; None falls back to what the class provides.
        return self._components.get(interface)

    def getComponent(self, interface: Any, default: object = None) -> object:
        """Return the component set for interface, or default."""
        return self._components.get(interface, default)

    def setComponent(self, interface: Any, component: object) -> None:
        """Make component what ``interface(application)`` returns."""
        self._components[interface] = component

    def unsetComponent(self, interface: Any) -> None:
        """Forget the component set for interface (KeyError if there is none)."""
        del self._components[interface]

    uid = property(
        lambda self: _processSetting(self, "uid"),
        lambda self, value: setattr(IProcess(self), "uid", value),
        doc="The IProcess component's uid.",
    )
    gid = property(
        lambda self: _processSetting(self, "gid"),
        lambda self, value: setattr(IProcess(self), "gid", value),
        doc="The IProcess component's gid.",
    )
    processName = property(
        lambda self: _processSetting(self, "processName"),
        lambda self, value: setattr(IProcess(self), "processName", value),
        doc="The IProcess component's processName.",
    )


def _processSetting(application: Application, name: str) -> Any:
    process = IProcess(application, None)
    return None if process is None else getattr(process, name, None)


# -- .tac files ---------------------------------------------------------------


class TacError(Exception):
    """
    A .tac file could not be loaded; str() is one message fit for a person.

    :ivar path: the absolute path of the file.
    """

    def __init__(self, path: str, message: str) -> None:
        Exception.__init__(self, message)
        self.path = path


def loadApplication(path: str) -> Any:
    """
    Run the .tac file at path in a fresh namespace and return its ``application``.

    The namespace holds ``__file__`` (the absolute path), ``__name__``
    ("__loom_tac__") and the builtins.

    :raises TacError: if the file cannot be read, has a syntax error (the
        message gives file, line and text), raises while running (the message
        holds the traceback from the .tac's own code on), defines no
        ``application``, or defines one that is not a service.
    """
    path = os.path.abspath(path)
    code = _compileTac(path, _readTac(path))
    namespace = {"__file__": path, "__name__": "__loom_tac__", "__builtins__": builtins}
    try:
        exec(code, namespace)
    except Exception as e:
        # The first frame is this function's exec; the .tac's start after it.
        tb = e.__traceback__
        lines = traceback.format_exception(type(e), e, tb.tb_next if tb is not None else None)
        raise TacError(
            path, "%s raised an exception while loading:\n%s" % (path, "".join(lines))
        ) from None
    if "application" not in namespace:
        raise TacError(path, "%s does not define 'application'" % (path,))
    application = namespace["application"]
    if IService(application, None) is None:
        raise TacError(
            path,
            "%s: 'application' is %r, which is not a service" % (path, application),
        )
    return application


def _readTac(path: str) -> bytes:
    try:
        with open(path, "rb") as f:
            return f.read()
    except FileNotFoundError:
        raise TacError(path, "%s: no such file" % (path,)) from None
    except OSError as e:
        raise TacError(path, "%s: cannot read: %s" % (path, e.strerror)) from None


def _compileTac(path: str, source: bytes) -> CodeType:
    try:
        return compile(source, path, "exec", dont_inherit=True)
    except SyntaxError as e:
        raise TacError(path, _describeSyntaxError(path, e)) from None
    except ValueError as e:
        # Some Python 3.11 releases report a NUL byte in the source as
        # ValueError rather than SyntaxError; see test_nulByteIsReportedClearly.
        raise TacError(path, "%s: cannot compile: %s" % (path, e)) from None


def _describeSyntaxError(path: str, error: SyntaxError) -> str:
    where = error.filename or path
    if error.lineno is not None:
        where += ", line %d" % (error.lineno,)
    message = "%s: %s: %s" % (where, type(error).__name__, error.msg)
    if error.text:
        text = error.text.rstrip("\n")
        stripped = text.lstrip()
        message += "\n    " + stripped
        if error.offset:
            column = max(error.offset - 1 - (len(text) - len(stripped)), 0)
            message += "\n    " + " " * column + "^"
    return message
