"""
The small Internet services of the early RFCs: echo, discard, chargen, quote
of the day, daytime and time.

Each is a Protocol you can hand to a factory (``Factory.forProtocol(Echo)``).
The one with an idea in it is Chargen: it is a *push* producer registered with
its own transport, so it writes only while the transport lets it.  It writes
bursts until the transport pauses it (its buffer went past ``highWater``) or
until it has written ``bytesPerTurn`` in this turn, and then waits for
``resumeProducing`` or for its next turn; so a slow reader costs the server
at most about ``highWater`` plus one burst of memory, and a fast one cannot
starve the other connections (see test_chargenRespectsBackpressure).

Services that need the time (Daytime, Time) take a ``clock``: an object with
``seconds()`` (a reactor, a task.Clock) or a plain function returning the
POSIX time, so tests never depend on the wall clock.
"""

import struct
import time

from zope.interface import implementer

from protocols.protocol import Protocol
from reactor import getReactor
from reactor.interfaces import IPushProducer

__all__ = ["Chargen", "Daytime", "Discard", "Echo", "QOTD", "Time", "chargenPattern"]


class Echo(Protocol):
    """
    RFC 862: send back every byte received.

    Bounded with no code of its own: on a connection a server accepted, the
    transport stops reading while more than ``highWater`` bytes of echo wait
    for a client that does not read (see reactor.stream).
    """

    def dataReceived(self, data):
        """Write data back to the peer."""
        self.transport.write(data)


class Discard(Protocol):
    """RFC 863: read everything, answer nothing."""

    def dataReceived(self, data):
        """Throw data away."""


# -- chargen ------------------------------------------------------------------

# RFC 864: the 95 printable ASCII characters in a ring; each 72-character line
# starts one character further along the ring than the one before.
_PRINTABLE = bytes(range(32, 127))
_LINE_WIDTH = 72


def chargenPattern(lines):
    """
    Return the first ``lines`` lines of the RFC 864 pattern, each ending CRLF.

    The pattern repeats every 95 lines.
    """
    ring = _PRINTABLE * 2
    size = len(_PRINTABLE)
    return b"".join(
        ring[index % size : index % size + _LINE_WIDTH] + b"\r\n" for index in range(lines)
    )


# One full cycle (95 lines, 7030 bytes); bursts are whole cycles, so the
# pattern runs on unbroken from one burst to the next.
_CYCLE = chargenPattern(len(_PRINTABLE))


def _now(clock):
    # clock: None (wall clock), an IReactorTime, or a function.
    if clock is None:
        return time.time()
    seconds = getattr(clock, "seconds", None)
    if seconds is not None:
        return seconds()
    return clock()


@implementer(IPushProducer)
class Chargen(Protocol):
    """
    RFC 864: send the character pattern until the peer goes away.

    A push producer: it registers itself with its transport in
    connectionMade and writes bursts of ``burstCycles`` × 7030 bytes while
    it is not paused.  When the transport has taken ``bytesPerTurn`` bytes
    without pushing back (a fast reader), the next turn is scheduled
    ``interval`` seconds later rather than at once: this keeps the loop fair
    and keeps a task.Clock's ``advance(0)`` from running turns for ever.
    Received data is discarded.

    :ivar reactor: the IReactorTime used to schedule turns; if None, the
        factory's ``reactor`` attribute, else the global reactor.
    :ivar producing: True while neither paused nor stopped.
    """

    reactor = None
    burstCycles = 2
    bytesPerTurn = 65536
    interval = 0.001
    _paused = False
    _stopped = False
    _call = None

    def __init__(self, reactor=None):
        if reactor is not None:
            self.reactor = reactor
        self._burst = _CYCLE * self.burstCycles

    @property
    def producing(self):
        """True while neither paused nor stopped."""
        return not (self._paused or self._stopped)

    def connectionMade(self):
        """Register as a push producer and write the first turn's bursts."""
        self.transport.registerProducer(self, True)
        self._produce()

    def dataReceived(self, data):
        """Throw data away (RFC 864)."""

    def connectionLost(self, reason):
        """Stop producing."""
        self.stopProducing()

    def pauseProducing(self):
        """The transport is full: write nothing until resumeProducing."""
        self._paused = True
        self._cancel()

    def resumeProducing(self):
        """The transport drained: write again at once (if not already running)."""
        if self._stopped or not self._paused:
            return
        self._paused = False
        self._cancel()
        self._produce()

    def stopProducing(self):
        """Stop for good."""
        self._stopped = True
        self._cancel()

    def _clock(self):
        if self.reactor is None:
            self.reactor = getattr(self.factory, "reactor", None)
        if self.reactor is None:
            self.reactor = getReactor()
        return self.reactor

    def _cancel(self):
        call, self._call = self._call, None
        if call is not None and call.active():
            call.cancel()

    def _produce(self):
        self._call = None
        written = 0
        # write() may call pauseProducing (or, via connectionLost,
        # stopProducing) before it returns; that ends the loop.
        while self.producing and written < self.bytesPerTurn:
            self.transport.write(self._burst)
            written += len(self._burst)
        if self.producing and self._call is None:
            self._call = self._clock().callLater(self.interval, self._produce)


# -- one-shot services ----------------------------------------------------------


class QOTD(Protocol):
    """
    RFC 865: send a quote and close.

    The quote is, in order of preference: the ``quote`` given to the
    constructor, the factory's ``quote`` attribute, the class's ``quote``.
    A str is sent UTF-8 encoded.
    """

    quote = b"An apple a day keeps the doctor away.\r\n"

    def __init__(self, quote=None):
        if quote is not None:
            self.quote = quote

    def getQuote(self):
        """Return the quote to send, as bytes."""
        quote = self.__dict__.get("quote")
        if quote is None:
            quote = getattr(self.factory, "quote", None) or type(self).quote
        if isinstance(quote, str):
            quote = quote.encode("utf-8")
        return quote

    def connectionMade(self):
        """Write the quote, then close."""
        self.transport.write(self.getQuote())
        self.transport.loseConnection()


# Spelled out here: strftime's %A and %B follow the locale.
_DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
_MONTHS = (
    "January February March April May June July August September October November December"
).split()


class Daytime(Protocol):
    """
    RFC 867: send the current date and time as a line of text, and close.

    The line has the RFC's suggested shape, in UTC and independent of the
    locale: ``Tuesday, February 22, 1982 17:37:43-UTC\\r\\n``.

    :ivar clock: None for the wall clock, an object with ``seconds()``, or
        a function returning the POSIX time.
    """

    clock = None

    def __init__(self, clock=None):
        if clock is not None:
            self.clock = clock

    def connectionMade(self):
        """Write the date line, then close."""
        self.transport.write(self.dateLine(_now(self.clock)))
        self.transport.loseConnection()

    @staticmethod
    def dateLine(now):
        """Return the RFC 867 line (bytes, CRLF-terminated) for POSIX time now."""
        moment = time.gmtime(now)
        text = "%s, %s %d, %d %02d:%02d:%02d-UTC\r\n" % (
            _DAYS[moment.tm_wday],
            _MONTHS[moment.tm_mon - 1],
            moment.tm_mday,
            moment.tm_year,
            moment.tm_hour,
            moment.tm_min,
            moment.tm_sec,
        )
        return text.encode("ascii")


# Seconds from 1900-01-01 (RFC 868's epoch) to 1970-01-01 (POSIX's).
EPOCH_OFFSET = 2208988800


class Time(Protocol):
    """
    RFC 868: send the time as 4 big-endian bytes of seconds since 1900, and close.

    The 32-bit count wraps in 2036, as the RFC's format does.

    :ivar clock: as for Daytime.
    """

    clock = None

    def __init__(self, clock=None):
        if clock is not None:
            self.clock = clock

    def connectionMade(self):
        """Write the 4-byte time, then close."""
        seconds = (int(_now(self.clock)) + EPOCH_OFFSET) % 2**32
        self.transport.write(struct.pack("!I", seconds))
        self.transport.loseConnection()
