"""
Finger (RFC 1288): a one-line query, one answer, then the server closes.

This is the server Twisted's finger tutorial grows step by step (see
doc/examples/finger/).  The idea that carries it is the split between the
protocol and where answers come from: FingerProtocol reads one line and asks
``factory.getUser(user)`` through maybeDeferred, so a user source may answer
at once (a dict), later (a child process) or fail; the protocol only writes
what comes back, or "Internal error in server", and closes.

- A user source provides ``getUser(user)``, returning the answer or a
  Deferred of it, and may provide ``getUsers()`` (the names, for an empty
  query): DictUserSource; FileUserSource, a "user:info" file re-read every
  ``interval`` seconds by a LoopingCall; CommandUserSource, the output of a
  local command through protocols.process.getProcessOutput.
- FingerService is what a .tac builds: a source, plus the statuses set
  through the setter protocol (the client sends a user line, then status
  lines, and closes).  ``getFingerFactory()`` and ``getFingerSetterFactory()``
  give the factories to listen with.
- ``query(host, port, user, reactor)`` is the client: a Deferred firing with
  the server's whole answer as bytes (finger text declares no encoding, so
  decoding is the caller's choice).

User names and answers are bytes throughout; a str is encoded as UTF-8.

FingerService is a services.service.Service, so it can be added to an
Application or MultiService like any other service.  protocols/ must not
import services/ (tests/test_layering.py): the Service class itself lives in
protocols._servicebase, which services.service re-exports.
"""

import re

from protocols._servicebase import Service
from protocols.basic import LineReceiver
from protocols.process import getProcessOutput
from protocols.protocol import ClientFactory, Protocol, ServerFactory
from reactor import defer, getReactor, log
from reactor.error import ConnectionDone, TimeoutError
from reactor.task import LoopingCall

__all__ = [
    "CommandUserSource",
    "DictUserSource",
    "FileUserSource",
    "FingerClient",
    "FingerClientFactory",
    "FingerFactory",
    "FingerProtocol",
    "FingerService",
    "FingerSetterFactory",
    "FingerSetterProtocol",
    "INTERNAL_ERROR",
    "NO_SUCH_USER",
    "parseQuery",
    "query",
]

NO_SUCH_USER = b"No such user"
INTERNAL_ERROR = b"Internal error in server"
NO_USER_LIST = b"This server does not list its users; ask for one by name."
NO_USERS = b"Nobody is known here."
NO_FORWARDING = b"This server does not forward queries to other hosts."


def _asBytes(value):
    if isinstance(value, str):
        return value.encode("utf-8")
    if isinstance(value, (bytes, bytearray, memoryview)):
        return bytes(value)
    raise TypeError("a finger answer must be bytes or str, not %r" % (value,))


def parseQuery(line):
    """
    Split a query line into (user, verbose).

    ``b"/W alice"`` gives ``(b"alice", True)``; ``b""`` gives ``(b"", False)``
    (a request for the list of users).  The user may still hold ``@host``
    (a forwarding request), which the caller decides about.
    """
    line = line.strip()
    verbose = line[:2].upper() == b"/W"
    if verbose:
        line = line[2:].lstrip()
    return line, verbose


# -- the server protocol ------------------------------------------------------


class FingerProtocol(LineReceiver):
    """
    Answer one query, then close.

    The factory provides ``getUser(user)`` (the answer, or a Deferred of it)
    and may provide ``getUsers()`` (the names, or a Deferred of them) for an
    empty query.  ``/W`` (verbose) is accepted and answered like a plain
    query; ``user@host`` is refused, as forwarding is not offered.  The
    answer's newlines are sent as CRLF and it ends with CRLF.

    :ivar verbose: whether the query asked for the verbose form.
    """

    verbose = False
    _answering = False

    def lineReceived(self, line):
        """Ask the factory about the user named in line, once per connection."""
        if self._answering:
            return
        self._answering = True
        user, self.verbose = parseQuery(line)
        if b"@" in user:
            d = defer.succeed(NO_FORWARDING)
        elif not user:
            d = defer.maybeDeferred(self._listUsers)
        else:
            d = defer.maybeDeferred(self.factory.getUser, user)
        d.addCallback(_asBytes)
        d.addErrback(self._ebAnswer, user)
        d.addCallback(self._writeAnswer)

    def _listUsers(self):
        getUsers = getattr(self.factory, "getUsers", None)
        if getUsers is None:
            return NO_USER_LIST
        return defer.maybeDeferred(getUsers).addCallback(_formatUserList)

    def _ebAnswer(self, failure, user):
        log.err(failure, "finger: no answer for %r" % (user,))
        return INTERNAL_ERROR

    def _writeAnswer(self, answer):
        text = answer.replace(b"\r\n", b"\n").rstrip(b"\n")
        self.transport.write(text.replace(b"\n", b"\r\n") + b"\r\n")
        self.transport.loseConnection()


def _formatUserList(names):
    if names is None:
        return NO_USER_LIST
    names = [_asBytes(name) for name in names]
    return b"\n".join(names) if names else NO_USERS


class FingerFactory(ServerFactory):
    """
    Builds FingerProtocols answering from a user source.

    :param source: an object with ``getUser(user)`` (and optionally
        ``getUsers()``), such as a FingerService or one of the user sources;
        or a dict of user to answer, wrapped in a DictUserSource.
    """

    protocol = FingerProtocol

    def __init__(self, source=None):
        if source is None or isinstance(source, dict):
            source = DictUserSource(source or {})
        self.source = source

    def getUser(self, user):
        """Return the source's answer (or Deferred of it) for user."""
        return self.source.getUser(user)

    def getUsers(self):
        """Return the source's user names, or None if it does not list them."""
        getUsers = getattr(self.source, "getUsers", None)
        return None if getUsers is None else getUsers()


# -- user sources -------------------------------------------------------------


def _userDict(users):
    return {_asBytes(user): _asBytes(info) for user, info in users.items()}


class DictUserSource:
    """
    Answers from a dict of user name to information.

    :ivar users: the dict (bytes to bytes); change it at will.
    """

    def __init__(self, users=None):
        self.users = _userDict(users or {})

    def getUser(self, user):
        """Return a Deferred firing with user's information, or NO_SUCH_USER."""
        return defer.succeed(self.users.get(_asBytes(user), NO_SUCH_USER))

    def getUsers(self):
        """Return a Deferred firing with the sorted user names."""
        return defer.succeed(sorted(self.users))


def parseUserFile(data):
    """
    Parse the lines of a user file into a dict.

    Each line is ``user:info``; blank lines, lines starting with ``#`` and
    lines without a colon are skipped; spaces around both parts are dropped.
    """
    users = {}
    for line in data.splitlines():
        line = line.strip()
        if not line or line.startswith(b"#") or b":" not in line:
            continue
        user, info = line.split(b":", 1)
        if user.strip():
            users[user.strip()] = info.strip()
    return users


class FileUserSource(DictUserSource):
    """
    Answers from a ``user:info`` file, re-read every ``interval`` seconds.

    ``start()`` reads it at once and then every interval (a LoopingCall on
    ``reactor``, which may be a task.Clock); ``stop()`` ends that.  A file
    that cannot be read is logged and the users read before are kept.

    :param path: the file.
    :param interval: seconds between reads.
    :param reactor: the IReactorTime for the reloads (the global reactor by
        default).
    """

    def __init__(self, path, interval=30.0, *, reactor=None):
        DictUserSource.__init__(self)
        self.path = path
        self.interval = interval
        self._loop = LoopingCall(self.reload)
        if reactor is not None:
            self._loop.clock = reactor

    def reload(self):
        """
        Read the file now.

        :return: True if it was read, False if it could not be (logged).
        """
        try:
            with open(self.path, "rb") as file:
                data = file.read()
        except OSError as error:
            log.msg(
                "finger: cannot read %s: %s; keeping %d users" % (self.path, error, len(self.users))
            )
            return False
        self.users = parseUserFile(data)
        return True

    def start(self):
        """Read the file now and every interval seconds from now on."""
        if not self._loop.running:
            self._loop.start(self.interval, now=True)

    def stop(self):
        """Stop re-reading the file."""
        if self._loop.running:
            self._loop.stop()


# A user name we hand to a command: no options ("-l"), no paths, no shell
# characters; the command never sees anything else (see
# test_commandSourceRefusesOddNames).
_SAFE_NAME = re.compile(rb"[A-Za-z0-9_][A-Za-z0-9._-]{0,63}\Z")


class CommandUserSource:
    """
    Answers with the output of a local command run with the user name.

    ``getUser(b"alice")`` runs ``executable *args alice`` and answers with
    what it prints (standard error included, so "no such user" messages
    reach the client).  Names that could be taken as options or carry odd
    characters are answered NO_SUCH_USER without running anything.

    :param executable: the program, as a path (e.g. ``/usr/bin/finger``).
    :param args: arguments before the user name.
    :param env: the child's environment (None: empty, as getProcessOutput).
    :param reactor: the reactor that runs the child.
    :param timeout: seconds before the child is killed (the query then
        gets "Internal error in server").
    """

    def __init__(self, executable, args=(), *, env=None, reactor=None, timeout=10.0):
        self.executable = executable
        self.args = tuple(args)
        self.env = env
        self.reactor = reactor
        self.timeout = timeout

    def getUser(self, user):
        """Return a Deferred firing with the command's output for user."""
        user = _asBytes(user)
        if not _SAFE_NAME.match(user):
            return defer.succeed(NO_SUCH_USER)
        return getProcessOutput(
            self.executable,
            (*self.args, user.decode("ascii")),
            env=self.env,
            reactor=self.reactor,
            errortoo=True,
            timeout=self.timeout,
        )


# -- the service --------------------------------------------------------------


class FingerService(Service):
    """
    The finger service: a user source, and statuses set over the setter port.

    A status set with setUser (by a FingerSetterProtocol) is answered before
    the source is asked; it lives in memory only.  Starting the service
    starts the source if it has ``start()`` (FileUserSource's reloads) and
    stopping it stops them.

    :param source: a user source (anything with ``getUser``), a dict, or None.
    :param users: statuses to begin with (user to status).
    :ivar users: the statuses set through setUser, bytes to bytes.
    """

    def __init__(self, source=None, users=None):
        if isinstance(source, dict):
            source = DictUserSource(source)
        self.source = source
        self.users = _userDict(users or {})

    def startService(self):
        """Start the source's periodic work, if it has any."""
        Service.startService(self)
        start = getattr(self.source, "start", None)
        if start is not None:
            start()

    def stopService(self):
        """Stop the source's periodic work."""
        Service.stopService(self)
        stop = getattr(self.source, "stop", None)
        if stop is not None:
            stop()

    def getUser(self, user):
        """Return a Deferred firing with user's status, or the source's answer."""
        user = _asBytes(user)
        if user in self.users:
            return defer.succeed(self.users[user])
        if self.source is None:
            return defer.succeed(NO_SUCH_USER)
        return defer.maybeDeferred(self.source.getUser, user)

    def getUsers(self):
        """Return a Deferred firing with the names known here, or None if unlisted."""
        getUsers = getattr(self.source, "getUsers", None)
        if getUsers is None:
            if self.source is not None:
                return defer.succeed(None)
            return defer.succeed(sorted(self.users))
        d = defer.maybeDeferred(getUsers)
        return d.addCallback(lambda names: sorted(set(self.users) | set(names or ())))

    def setUser(self, user, status):
        """Set user's status (bytes or str); a status of None removes it."""
        user = _asBytes(user)
        if status is None:
            self.users.pop(user, None)
        else:
            self.users[user] = _asBytes(status)

    def getFingerFactory(self):
        """Return a FingerFactory answering from this service."""
        return FingerFactory(self)

    def getFingerSetterFactory(self):
        """Return a FingerSetterFactory updating this service."""
        return FingerSetterFactory(self)


# -- the setter ---------------------------------------------------------------


class FingerSetterProtocol(LineReceiver):
    """
    Receive a user line, then status lines; apply them when the connection ends.

    The status is the status lines joined with newlines; a user line alone
    removes that user's status.  More than ``maxLines`` lines drop the
    connection with nothing applied.  Listen on a trusted interface only:
    anyone who can connect can change what the server says.
    """

    maxLines = 100

    def connectionMade(self):
        """Start with no lines."""
        self.lines = []

    def lineReceived(self, line):
        """Collect line (at most maxLines of them)."""
        if len(self.lines) >= self.maxLines:
            self.lines = None
            self.transport.loseConnection()
            return
        self.lines.append(line)

    def connectionLost(self, reason):
        """Apply what was received."""
        LineReceiver.connectionLost(self, reason)
        lines = self.lines
        if not lines:
            return
        user = lines[0].strip()
        if user:
            self.factory.setUser(user, b"\n".join(lines[1:]) if len(lines) > 1 else None)


class FingerSetterFactory(ServerFactory):
    """
    Builds FingerSetterProtocols that update service.

    :param service: anything with ``setUser(user, status)`` (a FingerService).
    """

    protocol = FingerSetterProtocol

    def __init__(self, service):
        self.service = service

    def setUser(self, user, status):
        """Pass the update on to the service."""
        self.service.setUser(user, status)


# -- the client ---------------------------------------------------------------


class FingerClient(Protocol):
    """Send the factory's query line, collect the answer until the server closes."""

    def connectionMade(self):
        """Send the query."""
        self._chunks = []
        self._received = 0
        self.transport.write(self.factory.query + b"\r\n")

    def dataReceived(self, data):
        """Keep data; abort if the answer grows past the factory's maxLength."""
        self._received += len(data)
        if self._received > self.factory.maxLength:
            self.factory.tooLong = True
            self.transport.abortConnection()
            return
        self._chunks.append(data)

    def connectionLost(self, reason):
        """Hand the answer (or the reason) to the factory."""
        self.factory.answerReceived(b"".join(self._chunks), reason)


class FingerClientFactory(ClientFactory):
    """
    Makes one query; ``deferred`` fires with the answer or fails.

    :param query: the query line, bytes, without CRLF.
    :param maxLength: the longest answer accepted, in bytes.
    """

    protocol = FingerClient
    noisy = False
    tooLong = False
    timedOut = False
    client = None

    def __init__(self, query, maxLength=1 << 20):
        self.query = query
        self.maxLength = maxLength
        self.deferred = defer.Deferred()

    def buildProtocol(self, addr):
        """Build the one FingerClient, and remember it (for the timeout)."""
        self.client = ClientFactory.buildProtocol(self, addr)
        return self.client

    def answerReceived(self, answer, reason):
        """The connection ended: fire with answer if it ended cleanly."""
        if self.tooLong:
            reason = ValueError("finger answer longer than %d bytes" % (self.maxLength,))
        elif self.timedOut:
            reason = TimeoutError(string="no complete finger answer in time")
        elif reason.check(ConnectionDone):
            self._fire(answer)
            return
        self._fire(reason)

    def clientConnectionFailed(self, connector, reason):
        """The connection could not be made."""
        if self.timedOut:
            reason = TimeoutError(string="finger server did not answer in time")
        self._fire(reason)

    def _fire(self, result):
        d, self.deferred = self.deferred, None
        if d is None:
            return
        if isinstance(result, bytes):
            d.callback(result)
        else:
            d.errback(result)


def query(host, port, user, reactor=None, *, verbose=False, timeout=30.0):
    """
    Ask the finger server at host:port about user.

    :param user: the name (bytes or str); empty asks for the list of users.
    :param reactor: the reactor to connect with (the global one by default).
    :param verbose: send the ``/W`` prefix.
    :param timeout: seconds for the whole exchange.
    :return: a Deferred firing with the server's answer as bytes, exactly as
        sent (CRLF line ends included), once the server closes; failing with
        the connection error, TimeoutError, or ValueError if the answer is
        longer than 1 MiB.
    """
    reactor = getReactor(reactor)
    line = (b"/W " if verbose else b"") + _asBytes(user)
    factory = FingerClientFactory(line)
    d = factory.deferred
    connector = reactor.connectTCP(host, port, factory, timeout=timeout)
    timer = reactor.callLater(timeout, _timeOut, factory, connector)

    def _cancelTimer(result):
        if timer.active():
            timer.cancel()
        return result

    return d.addBoth(_cancelTimer)


def _timeOut(factory, connector):
    factory.timedOut = True
    client = factory.client
    if client is not None and client.transport is not None:
        client.transport.abortConnection()
    else:
        connector.disconnect()
