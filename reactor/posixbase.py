"""
PosixReactorBase: the glue between a POSIX reactor and its transports.

The select, poll, epoll and asyncio reactors all inherit from it.  It is
where listenTCP/connectTCP, listenUNIX and friends are added (reactor.tcp and
reactor.unix build on the FD-set API: addReader, addWriter, removeReader,
removeWriter), so the reactors themselves hold only their loop.
"""

from reactor.base import ReactorBase

__all__ = ["PosixReactorBase"]


class PosixReactorBase(ReactorBase):
    """A ReactorBase for POSIX systems: the home of transport methods."""
