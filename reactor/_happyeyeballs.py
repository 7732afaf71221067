"""
Happy eyeballs (RFC 8305): one connection out of the addresses a name has.

HostnameEndpoint.connect hands its work to one _Race.  The name is resolved
through an IHostnameResolver, off the loop; the addresses are put in the
order RFC 8305 asks, IPv6 and IPv4 interleaved starting with the family the
resolver put first; then an attempt starts on the first address, and another
on the next one every ``attemptDelay`` seconds until one connects.  A failed
attempt does not wait out the delay: the next starts at once, as asyncio's
staggered race does (Twisted waits the full delay).  The first attempt to
connect wins and every other is cancelled, its socket closed before it
connects, so no other protocol is built; when every address has failed, the
last failure is the answer, as in Twisted.  Cancelling the race, while the
name resolves or while attempts are under way, stops everything and fails
with ConnectingCancelledError naming the HostnameAddress.
"""

import itertools
from collections import deque

from zope.interface import implementer

from reactor.address import IPv4Address, IPv6Address
from reactor.defer import Deferred
from reactor.error import ConnectingCancelledError, DNSLookupError
from reactor.failure import Failure
from reactor.interfaces import IResolutionReceiver

__all__ = ["interleave"]


def interleave(addresses):
    """
    Order addresses for connection attempts, as RFC 8305 section 4 does.

    Duplicates and addresses that are neither IPv4Address nor IPv6Address
    are dropped; the family of the first address leads, and the two
    families alternate, each keeping the resolver's order.
    """
    unique = [a for a in dict.fromkeys(addresses) if isinstance(a, (IPv4Address, IPv6Address))]
    if not unique:
        return []
    leading = type(unique[0])
    first = [a for a in unique if type(a) is leading]
    second = [a for a in unique if type(a) is not leading]
    ordered = []
    for pair in itertools.zip_longest(first, second):
        ordered.extend(address for address in pair if address is not None)
    return ordered


@implementer(IResolutionReceiver)
class _Race:
    """
    One HostnameEndpoint.connect: resolve, then race the attempts.

    :ivar deferred: fires with the winning protocol, or fails.
    """

    def __init__(self, reactor, connectAddress, factory, attemptDelay, destination):
        """
        :param connectAddress: ``connectAddress(address, factory)`` starts one
            attempt and returns its cancellable Deferred.
        :param destination: the HostnameAddress, for errors.
        """
        self._reactor = reactor
        self._connectAddress = connectAddress
        self._factory = factory
        self._attemptDelay = attemptDelay
        self._destination = destination
        self.deferred = Deferred(self._cancel)
        self._resolution = None
        self._resolved = []
        self._remaining = deque()
        self._pending = []
        self._timer = None
        self._done = False

    # -- resolving (IResolutionReceiver) ---------------------------------------

    def resolve(self, resolver, hostText, port):
        """Ask resolver for hostText's addresses; the race starts when it is done."""
        try:
            resolver.resolveHostName(self, hostText, portNumber=port)
        except Exception as error:
            self._finish(Failure(DNSLookupError("cannot resolve %r: %s" % (hostText, error))))

    def resolutionBegan(self, resolutionInProgress):
        """Keep the resolution, to cancel it."""
        self._resolution = resolutionInProgress

    def addressResolved(self, address):
        """Note one address."""
        if not self._done:
            self._resolved.append(address)

    def resolutionComplete(self):
        """Start the attempts on what was found."""
        if not self._done:
            self.start(self._resolved)

    # -- racing --------------------------------------------------------------

    def start(self, addresses):
        """Race connection attempts to addresses (interleaved first)."""
        self._remaining.extend(interleave(addresses))
        if not self._remaining:
            hostname = self._destination.hostname.decode("ascii", "backslashreplace")
            self._finish(Failure(DNSLookupError("no results for hostname lookup: %s" % hostname)))
            return
        self._startNext()

    def _startNext(self):
        self._stopTimer()
        address = self._remaining.popleft()
        if self._remaining:
            self._timer = self._reactor.callLater(self._attemptDelay, self._startNext)
        # Appended before the callbacks are added: an attempt may fail at once.
        attempt = self._connectAddress(address, self._factory)
        self._pending.append(attempt)
        attempt.addCallbacks(
            self._attemptSucceeded,
            self._attemptFailed,
            callbackArgs=(attempt,),
            errbackArgs=(attempt,),
        )

    def _attemptSucceeded(self, protocol, attempt):
        self._pending.remove(attempt)
        if self._done:
            # Connected after the race was decided (a reactor that completes
            # two connects in one turn): this connection is not wanted.
            protocol.transport.loseConnection()
            return None
        self._finish(protocol)
        return None

    def _attemptFailed(self, failure, attempt):
        self._pending.remove(attempt)
        if self._done:
            return None  # a loser being cancelled
        if self._remaining:
            self._startNext()  # a failure does not wait out the delay
        elif not self._pending:
            self._finish(failure)
        return None

    def _stopTimer(self):
        if self._timer is not None and self._timer.active():
            self._timer.cancel()
        self._timer = None

    def _finish(self, result):
        self._done = True
        self._stopTimer()
        for attempt in list(self._pending):
            attempt.cancel()
        if isinstance(result, Failure):
            self.deferred.errback(result)
        else:
            self.deferred.callback(result)

    def _cancel(self, deferred):
        if self._done:
            return
        if self._resolution is not None:
            try:
                self._resolution.cancel()
            except NotImplementedError:  # Twisted's GAIResolver cannot cancel
                pass
        self._finish(Failure(ConnectingCancelledError(self._destination)))
