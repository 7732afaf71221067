"""
UDP ports under ``loomd --workers``: a reload adopts the socket the old
generation reads from (services.loomd.listeners), as it adopts a TCP one.

Real loomd processes on loopback.  The reply to each datagram names the
generation's text (from answers.py beside the .tac, which a reload imports
afresh) and the pid of the worker that answered.
"""

import os
import pwd
import shutil
import signal
import socket
import tempfile
import time

import pytest

from tests.services.loomd_helpers import (
    alive,
    loomdFixture,  # noqa: F401 - the loomd fixture
    needRoot,
    readLog,
    tacFile,
    waitFor,
)
from tests.services.test_loomd_workers import readyPids, workers

pytestmark = pytest.mark.timeout(120)

UDP_APP = """
import answers
from protocols.protocol import DatagramProtocol
from services.internet import TCPServer, UDPServer

TEXT = answers.TEXT


class Reply(DatagramProtocol):
    def datagramReceived(self, data, address):
        self.transport.write(("%s %d " % (TEXT, os.getpid())).encode() + data, address)


for number in answers.UDP:
    UDPServer(number, Reply(), interface="127.0.0.1").setServiceParent(application)
for number in getattr(answers, "TCP", []):
    TCPServer(number, Factory.forProtocol(Echo), interface="127.0.0.1").setServiceParent(
        application
    )
"""


def freeUDPPort():
    """A UDP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def freeLowUDPPort():
    """A UDP port below 1024 on 127.0.0.1, free a moment ago (needs root)."""
    for port in range(989, 900, -1):
        with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
            try:
                probe.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.skip("no free UDP port below 1024")


def setAnswers(directory, text, udp, tcp=()):
    with open(os.path.join(str(directory), "answers.py"), "w") as module:
        module.write("TEXT = %r\nUDP = %r\nTCP = %r\n" % (text, list(udp), list(tcp)))


def bindable(port):
    """True if nothing is bound to UDP 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            probe.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


class Asker:
    """One client socket; ask() sends a numbered datagram and waits for its reply."""

    def __init__(self, port, timeout=10):
        self.port = port
        self.client = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        self.client.settimeout(timeout)
        self.number = 0

    def ask(self):
        """(text, pid, source address) of the reply, or None if none came in time."""
        self.number += 1
        payload = b"%d" % (self.number,)
        self.client.sendto(payload, ("127.0.0.1", self.port))
        try:
            data, source = self.client.recvfrom(4096)
        except socket.timeout:
            return None
        text, pid, echoed = data.decode().rsplit(" ", 2)
        assert echoed.encode() == payload, (data, payload)
        return text, int(pid), source

    def close(self):
        self.client.close()


def test_udpPortIsAdoptedAcrossAReload(loomd, tmp_path):
    # Datagrams in a loop through a SIGHUP: every one is answered, from the
    # same port, by the new generation once the old one is gone.  Before
    # the adoption the new tree's bind failed (address in use) and the
    # reload with it.
    port = freeUDPPort()
    setAnswers(tmp_path, "first", [port])
    master = loomd.daemon(tacFile(tmp_path, UDP_APP), "--workers", "2")
    old = readyPids(loomd)
    asker = Asker(port)
    replies, lost, phase, mark = [], [], "before", 0
    deadline = time.monotonic() + 60
    try:
        while time.monotonic() < deadline:
            reply = asker.ask()
            if reply is None:
                lost.append(asker.number)
            else:
                replies.append(reply)
            if phase == "before" and len(replies) >= 20:
                setAnswers(tmp_path, "second", [port])
                os.kill(master, signal.SIGHUP)
                phase = "reloading"
            elif phase == "reloading" and "reload finished" in readLog(loomd.logfile):
                if not any(alive(pid) for pid in old):
                    phase, mark = "after", len(replies)
            elif phase == "after" and len(replies) >= mark + 20:
                break
    finally:
        asker.close()
    log = readLog(loomd.logfile)
    assert phase == "after" and len(replies) >= mark + 20, (phase, log)
    assert "reload failed" not in log
    assert lost == []
    assert {source for _, _, source in replies} == {("127.0.0.1", port)}
    assert replies[0][0] == "first"
    newPids = readyPids(loomd, generation=2)
    assert len(newPids) == 2 and not (newPids & old)
    assert all(text == "second" and pid in newPids for text, pid, _ in replies[mark:])
    assert {pid for text, pid, _ in replies if text == "second"} <= newPids


def test_reloadBindsTheNewUdpPortsAndClosesTheDroppedOnes(loomd, tmp_path):
    kept, dropped, added = freeUDPPort(), freeUDPPort(), freeUDPPort()
    setAnswers(tmp_path, "first", [kept, dropped])
    master = loomd.daemon(tacFile(tmp_path, UDP_APP), "--workers", "2")
    setAnswers(tmp_path, "second", [kept, added])
    os.kill(master, signal.SIGHUP)
    waitFor(
        lambda: readyPids(loomd, 1) == set() and len(workers(loomd)) == 2,
        timeout=30,
        what="generation 2 alone",
        context=lambda: readLog(loomd.logfile),
    )
    assert "reload finished" in readLog(loomd.logfile)
    for port in (kept, added):
        asker = Asker(port)
        try:
            assert asker.ask()[0] == "second"
        finally:
            asker.close()
    # The master closed its copy once the old generation had exited.
    waitFor(lambda: bindable(dropped), timeout=30, what="the dropped port closed")
    assert not bindable(kept) and not bindable(added)


@pytest.fixture
def nobodyDirectory(loomd):
    """
    A directory of nobody's (tmp_path's parents are root's, 0700): the
    .tac's, which a reload reads as nobody, and the pidfile's, beside which
    the master, as nobody, rewrites its table of workers.
    """
    needRoot()
    directory = tempfile.mkdtemp(prefix="loomd-udp-")
    os.chmod(directory, 0o755)
    nobody = pwd.getpwnam("nobody")
    os.chown(directory, nobody.pw_uid, nobody.pw_gid)
    loomd.pidfile = os.path.join(directory, "loomd.pid")
    yield directory
    shutil.rmtree(directory, ignore_errors=True)


def startAsNobody(loomd, directory, port):
    """(master pid, the 2 ready workers' pids) of UDP_APP on port, run as nobody."""
    setAnswers(directory, "first", [port])
    tac = tacFile(directory, UDP_APP)
    os.chmod(os.path.join(directory, "answers.py"), 0o644)
    os.chmod(tac, 0o644)
    master = loomd.daemon(tac, "--workers", "2", "-u", "nobody", "-g", "nogroup")
    old = readyPids(loomd)
    assert len(old) == 2
    return master, old


def test_lowUdpPortIsKeptAcrossAReloadAfterThePrivilegeDrop(loomd, nobodyDirectory):
    # Bound as root before -u nobody; the reload, as nobody, could not bind
    # it again: it adopts the socket.
    port = freeLowUDPPort()
    master, old = startAsNobody(loomd, nobodyDirectory, port)
    asker = Asker(port)
    try:
        assert asker.ask()[0] == "first"
        setAnswers(nobodyDirectory, "second", [port])
        os.kill(master, signal.SIGHUP)
        waitFor(
            lambda: (
                "reload finished" in readLog(loomd.logfile)
                or "reload failed" in readLog(loomd.logfile)
            ),
            timeout=30,
            what="the reload",
        )
        assert "reload failed" not in readLog(loomd.logfile), readLog(loomd.logfile)
        waitFor(lambda: not any(alive(pid) for pid in old), timeout=30, what="generation 1 gone")
        assert asker.ask()[0] == "second"
    finally:
        asker.close()
    # The old workers stopped cleanly, as nobody: nothing they needed to
    # stop was out of nobody's reach.
    waitFor(
        lambda: all("pid %d) exited" % (pid,) in readLog(loomd.logfile) for pid in old),
        timeout=30,
        what="the master to reap the old workers",
    )
    log = readLog(loomd.logfile)
    assert "stopService failed" not in log and "shutdown timed out" not in log, log
    for pid in old:
        assert "pid %d) exited with status 0" % (pid,) in log, log


@pytest.mark.parametrize("kind", ["UDP", "TCP"])
def test_newLowPortOnAReloadAfterThePrivilegeDropSaysItNeedsRoot(loomd, nobodyDirectory, kind):
    # A port below 1024 that only the new .tac names must be bound now, as
    # nobody: the reload fails as it does for TCP, and the old generation
    # serves on.
    port = freeUDPPort()
    master, old = startAsNobody(loomd, nobodyDirectory, port)
    low = freeLowUDPPort()
    if kind == "UDP":
        setAnswers(nobodyDirectory, "second", [port, low])
    else:
        setAnswers(nobodyDirectory, "second", [port], tcp=[low])
    os.kill(master, signal.SIGHUP)
    waitFor(lambda: "reload failed" in readLog(loomd.logfile), timeout=30, what="the reload")
    assert (
        "reload failed: cannot listen on 127.0.0.1:%d: binding a port below 1024 needs root; "
        "generation 1 keeps serving" % (low,)
    ) in readLog(loomd.logfile)
    assert readyPids(loomd) == old
    assert bindable(low)
    asker = Asker(port)
    try:
        assert asker.ask()[0] == "first"
    finally:
        asker.close()


MULTICAST_APP = """
import answers
from protocols.protocol import DatagramProtocol

TEXT = answers.TEXT


class Reply(DatagramProtocol):
    def datagramReceived(self, data, address):
        self.transport.write(("%%s %%d " %% (TEXT, os.getpid())).encode() + data, address)


class Multicast(Service):
    def privilegedStartService(self):
        Service.privilegedStartService(self)
        self.port = reactor.listenMulticast(
            %(port)d, Reply(), interface="127.0.0.1", listenMultiple=True
        )


Multicast().setServiceParent(application)
"""


def test_multicastPortOfTheOldGenerationClosesWithIt(loomd, tmp_path):
    # Bound afresh by the reload (listenMultiple: both sockets share the
    # port), and the old one closed once its generation has exited: left
    # open in the master, unread, it took its share of the datagrams that
    # the kernel spreads over the sockets of the port.
    port = freeUDPPort()
    setAnswers(tmp_path, "first", [])
    master = loomd.daemon(tacFile(tmp_path, MULTICAST_APP % {"port": port}), "--workers", "2")
    old = readyPids(loomd)
    setAnswers(tmp_path, "second", [])
    os.kill(master, signal.SIGHUP)
    waitFor(
        lambda: "reload finished" in readLog(loomd.logfile) and not any(map(alive, old)),
        timeout=30,
        what="generation 2 alone",
        context=lambda: readLog(loomd.logfile),
    )
    # The master closes the old socket as it reaps the last old worker.
    waitFor(
        lambda: len(readyPids(loomd, 2)) == 2 and len(workers(loomd)) == 2,
        timeout=30,
        what="the table",
    )
    replies = []
    for _ in range(16):  # from 16 source ports: spread over the port's sockets by hash
        asker = Asker(port, timeout=5)
        try:
            reply = asker.ask()
        finally:
            asker.close()
        replies.append(reply and reply[0])
    assert replies == ["second"] * 16
