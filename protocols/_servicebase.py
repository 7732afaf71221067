"""
The base of every service, and the service interfaces: IService,
IServiceCollection and Service.  Import them from services.service, which
re-exports them with the rest of the service tree (MultiService,
Application, ``.tac`` loading).

They live here, below services/, so that a protocol module can offer a
service without importing services/ (the layering rule): protocols.finger's
FingerService is a Service like any other, not a copy of one.  Nothing here
needs more than zope.interface and the reactor's Deferred.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from zope.interface import Attribute, Interface, implementer

from reactor.defer import Deferred

__all__ = ["IService", "IServiceCollection", "Service", "serviceLabel"]


class IService(Interface):
    """A thing that can be started and stopped, and lives in a service tree."""

    name = Attribute("The service's name (a str), or None; unique among siblings.")
    running = Attribute("True between startService and stopService.")
    parent = Attribute("The IServiceCollection holding this service, or None.")

    def setName(name: str) -> None:
        """
        Set the service's name.

        :raises RuntimeError: if the service already has a parent.
        """

    def setServiceParent(parent: IServiceCollection) -> Deferred[Any] | None:
        """Leave the current parent, if any, and join parent (an IServiceCollection)."""

    def disownServiceParent() -> Deferred[Any] | None:
        """Leave the parent; return what its removeService returned (a Deferred or None)."""

    def privilegedStartService() -> None:
        """Do the start-up work that needs privileges (binding ports below 1024)."""

    def startService() -> Deferred[Any] | None:
        """Start the service; may return a Deferred firing when it has started."""

    def stopService() -> Deferred[Any] | None:
        """Stop the service; may return a Deferred firing when it has stopped."""


class IServiceCollection(Interface):
    """A service that holds other services: its children."""

    def getServiceNamed(name: str) -> IService:
        """
        Return the child named name.

        :raises KeyError: if there is none.
        """

    def __iter__() -> Iterator[IService]:
        """Iterate over the children in the order they were added."""

    def addService(service: IService) -> Deferred[Any] | None:
        """
        Add a child; start it at once if the collection is running.

        :raises RuntimeError: if a child of the same name is already present.
        """

    def removeService(service: IService) -> Deferred[Any] | None:
        """Remove a child; stop it if running, returning its stop Deferred or None."""


@implementer(IService)
class Service:
    """
    The base service: a name, a parent and a running flag.

    Subclasses override startService/stopService, calling the base methods
    so that ``running`` stays true to the service's state.
    """

    name: str | None = None
    running = False
    parent: IServiceCollection | None = None

    def __repr__(self) -> str:
        return "<%s %s>" % (type(self).__name__, serviceLabel(self))

    def setName(self, name: str) -> None:
        """
        Set the service's name.

        :raises RuntimeError: once the service has a parent, whose index of
            names would go stale.
        """
        if self.parent is not None:
            raise RuntimeError("cannot change name when parent exists")
        self.name = name

    def setServiceParent(self, parent: IServiceCollection) -> Deferred[Any] | None:
        """
        Leave the current parent, if any, and join parent.

        parent is adapted to IServiceCollection when it can be, and used as
        it is otherwise (anything with addService will do).  If parent refuses
        the service (a duplicate name), the service is left without a parent.

        :return: what parent.addService returned: the child's start Deferred
            when the parent is running, else None.
        """
        if self.parent is not None:
            self.disownServiceParent()
        parent = IServiceCollection(parent, parent)
        self.parent = parent
        try:
            return parent.addService(self)
        except BaseException:
            self.parent = None
            raise

    def disownServiceParent(self) -> Deferred[Any] | None:
        """
        Leave the parent.

        :return: what the parent's removeService returned: the Deferred of
            this service's stop if the parent was running, else None.
        """
        d = self.parent.removeService(self)  # type: ignore[union-attr]  # as in Twisted
        self.parent = None
        return d

    def privilegedStartService(self) -> None:
        """Do nothing; override to acquire what needs privileges."""

    def startService(self) -> Deferred[Any] | None:
        """Mark the service running."""
        self.running = True
        return None

    def stopService(self) -> Deferred[Any] | None:
        """Mark the service stopped."""
        self.running = False
        return None


def serviceLabel(service: IService) -> str:
    """A service's name, or its class name in angle brackets if it has none."""
    if service.name is not None:
        return str(service.name)
    return "<%s>" % (type(service).__name__,)
