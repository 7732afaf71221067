"""
Tests for services.loomd.pidfile: real files, real locks, real competing processes.
"""

import os
import subprocess
import sys
import textwrap

import pytest

from reactor import log
from services.loomd.pidfile import (
    AlreadyRunning,
    PidFile,
    PidFileError,
    isLocked,
    lockHolder,
    readPid,
)

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))

# Acquire the pidfile given in argv[1] once told "go", report, then hold it
# until stdin closes.
CONTENDER = textwrap.dedent(
    """
    import sys
    from services.loomd.pidfile import AlreadyRunning, PidFile
    pidFile = PidFile(sys.argv[1])
    print("ready", flush=True)
    sys.stdin.readline()
    try:
        pidFile.acquire()
    except AlreadyRunning as error:
        print("lost", error.pid, error, flush=True)
        sys.exit(0)
    print("won", flush=True)
    sys.stdin.read()
    pidFile.release()
    """
)


def spawn(code, *args, **options):
    """Start a Python child running code with the repository importable."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    return subprocess.Popen(
        [sys.executable, "-c", code, *map(str, args)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
        env=env,
        cwd=ROOT,
        **options,
    )


def runChild(code, *args):
    """Run a Python child to completion and return its stdout."""
    env = dict(os.environ, PYTHONPATH=ROOT)
    done = subprocess.run(
        [sys.executable, "-c", code, *map(str, args)],
        capture_output=True,
        text=True,
        env=env,
        cwd=ROOT,
        timeout=20,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


@pytest.fixture
def events():
    seen = []
    log.addObserver(seen.append)
    yield seen
    log.removeObserver(seen.append)


@pytest.fixture
def pidFile(tmp_path):
    pidFile = PidFile(tmp_path / "loomd.pid")
    yield pidFile
    pidFile.release()


def test_fiveConcurrentStartsHaveExactlyOneWinner(tmp_path):
    path = tmp_path / "race.pid"
    contenders = [spawn(CONTENDER, path) for _ in range(5)]
    try:
        for contender in contenders:
            assert contender.stdout.readline() == "ready\n"
        for contender in contenders:
            contender.stdin.write("go\n")
            contender.stdin.flush()
        outcomes = {contender.pid: contender.stdout.readline().split() for contender in contenders}
        winners = [pid for pid, words in outcomes.items() if words == ["won"]]
        assert len(winners) == 1
        losers = [words for words in outcomes.values() if words[0] == "lost"]
        assert len(losers) == 4
        for words in losers:
            # "lost PID already running (pid PID)"
            assert words[1] == str(winners[0])
            assert " ".join(words[2:]) == "already running (pid %d)" % (winners[0],)
        assert readPid(path) == winners[0]
        assert lockHolder(path) == (True, winners[0])
    finally:
        for contender in contenders:
            contender.stdin.close()
            contender.wait(timeout=10)
            contender.stdout.close()
    assert not path.exists()


def deadPid():
    child = subprocess.Popen([sys.executable, "-c", "pass"])
    child.wait(timeout=10)
    return child.pid


@pytest.mark.parametrize("content", ["dead", "", "garbage\x00\n", "own", "-5\n"])
def test_unlockedPidfileIsStaleAndReplaced(pidFile, events, content):
    if content == "dead":
        content = "%d\n" % (deadPid(),)
    elif content == "own":
        content = "%d\n" % (os.getpid(),)
    with open(pidFile.path, "w") as existing:
        existing.write(content)
    pidFile.acquire()
    with open(pidFile.path) as written:
        assert written.read() == "%d\n" % (os.getpid(),)
    stale = [log.textFromEventDict(event) for event in events if "stale" in str(event["message"])]
    expected = "Replacing stale pidfile %s (it held %r)" % (pidFile.path, content.strip())
    assert stale == [expected]


def test_newPidfileLogsNothingStale(pidFile, events):
    pidFile.acquire()
    assert readPid(pidFile.path) == os.getpid()
    assert not [event for event in events if "stale" in str(event["message"])]


def test_symlinkIsRefused(tmp_path):
    target = tmp_path / "target"
    target.write_text("precious\n")
    link = tmp_path / "loomd.pid"
    link.symlink_to(target)
    with pytest.raises(PidFileError, match=": it is a symbolic link$"):
        PidFile(link).acquire()
    assert target.read_text() == "precious\n"


def test_danglingSymlinkIsRefusedAndNothingCreated(tmp_path):
    link = tmp_path / "loomd.pid"
    link.symlink_to(tmp_path / "nowhere")
    with pytest.raises(PidFileError, match="symbolic link"):
        PidFile(link).acquire()
    assert not (tmp_path / "nowhere").exists()


def test_directoryIsRefused(tmp_path):
    (tmp_path / "loomd.pid").mkdir()
    with pytest.raises(PidFileError, match=r"it is not a regular file \(directory\)$"):
        PidFile(tmp_path / "loomd.pid").acquire()


def test_hardLinkIsRefusedAndItsTargetUntouched(tmp_path):
    # A hard link to a root file (fs.protected_hardlinks=0 lets anyone make
    # one): writing the pid would truncate the target.
    target = tmp_path / "shadow"
    target.write_text("root:secret\n")
    os.chmod(target, 0o600)
    os.link(target, tmp_path / "loomd.pid")
    with pytest.raises(PidFileError) as caught:
        PidFile(tmp_path / "loomd.pid").acquire()
    assert str(caught.value) == (
        "refusing to open pidfile %s: it has 2 hard links" % (tmp_path / "loomd.pid",)
    )
    assert target.read_text() == "root:secret\n"
    assert os.stat(target).st_mode & 0o777 == 0o600


# Each of the pidfile's readers and its writer on a FIFO nobody writes to or
# reads from: an open that waited would hang loomd --status or the start.
FIFO_PROBE = textwrap.dedent(
    """
    import sys
    from services.loomd import pidfile
    path = sys.argv[1]
    try:
        pidfile.PidFile(path).acquire()
    except pidfile.PidFileError as error:
        print("acquire:", error)
    try:
        pidfile.lockHolder(path)
    except pidfile.PidFileError as error:
        print("lockHolder:", error)
    print("readPid:", pidfile.readPid(path))
    print("removeStale:", pidfile.removeStale(path))
    """
)


def test_fifoIsRefusedWithoutBlocking(tmp_path):
    path = tmp_path / "loomd.pid"
    os.mkfifo(path)
    refusal = "refusing to open pidfile %s: it is not a regular file (FIFO)" % (path,)
    assert runChild(FIFO_PROBE, path).splitlines() == [
        "acquire: " + refusal,
        "lockHolder: " + refusal,
        "readPid: None",
        "removeStale: False",
    ]
    assert os.path.exists(path)


def test_releaseRemovesThePidfile(pidFile):
    pidFile.acquire()
    assert os.path.exists(pidFile.path)
    pidFile.release()
    assert not os.path.exists(pidFile.path)
    assert not pidFile.held
    pidFile.release()  # a second release is a no-op


def test_releaseTruncatesWhenUnlinkIsNotPermitted(pidFile, monkeypatch, events):
    pidFile.acquire()

    def refuse(*args, **kwargs):
        raise PermissionError(13, "Permission denied")

    monkeypatch.setattr(os, "unlink", refuse)
    pidFile.release()
    monkeypatch.undo()
    with open(pidFile.path) as left:
        assert left.read() == ""
    assert readPid(pidFile.path) is None
    assert not isLocked(pidFile.path)
    assert any("emptied it instead" in str(event["message"]) for event in events)


def test_releaseUnlinksRelativeToTheDirectoryEvenWhenThePathMoved(tmp_path):
    # What happens after --chroot: the absolute path no longer leads there.
    runDirectory = tmp_path / "run"
    runDirectory.mkdir()
    pidFile = PidFile(runDirectory / "loomd.pid")
    pidFile.acquire()
    os.rename(runDirectory, tmp_path / "moved")
    pidFile.release()
    assert os.listdir(tmp_path / "moved") == []


def test_relativePathIsResolvedWhenCreated(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    pidFile = PidFile("loomd.pid")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    pidFile.acquire()
    try:
        assert pidFile.path == str(tmp_path / "loomd.pid")
        assert readPid(tmp_path / "loomd.pid") == os.getpid()
        assert not (elsewhere / "loomd.pid").exists()
    finally:
        pidFile.release()


def test_holderIsSeenLockedByAnotherProcess(pidFile):
    pidFile.acquire(pid=os.getpid())
    probe = (
        "import sys; from services.loomd.pidfile import lockHolder; print(*lockHolder(sys.argv[1]))"
    )
    assert runChild(probe, pidFile.path).split() == ["True", str(os.getpid())]


def test_checkingOwnPidfileKeepsTheLock(pidFile):
    # Opening and closing the file in the holder would drop a POSIX lock;
    # readPid and isLocked answer from memory instead.
    pidFile.acquire()
    assert readPid(pidFile.path) == os.getpid()
    assert isLocked(pidFile.path)
    probe = "import sys; from services.loomd.pidfile import isLocked; print(isLocked(sys.argv[1]))"
    assert runChild(probe, pidFile.path).strip() == "True"


def test_secondAcquireInTheSameProcessIsRefused(pidFile):
    pidFile.acquire()
    with pytest.raises(AlreadyRunning, match=r"already running \(pid %d\)" % os.getpid()):
        PidFile(pidFile.path).acquire()
    probe = "import sys; from services.loomd.pidfile import isLocked; print(isLocked(sys.argv[1]))"
    assert runChild(probe, pidFile.path).strip() == "True"


def test_missingOrUnlockedPidfileIsNotLocked(tmp_path):
    path = tmp_path / "loomd.pid"
    assert lockHolder(path) == (False, None)
    assert readPid(path) is None
    path.write_text("123\n")
    assert lockHolder(path) == (False, None)
    assert readPid(path) == 123


def test_lockIsNotInheritedByForkedChildren(tmp_path):
    # The documented reason for POSIX locks: a child forked by the daemon
    # does not keep the pidfile locked once the daemon is gone.
    path = tmp_path / "loomd.pid"
    code = textwrap.dedent(
        """
        import os, sys
        from services.loomd.pidfile import PidFile
        PidFile(sys.argv[1]).acquire()
        child = os.fork()
        if child == 0:
            os.read(0, 1)  # lives until the test closes our shared stdin
            os._exit(0)
        print(child, flush=True)
        os.read(0, 1)
        """
    )
    holder = spawn(code, path)
    try:
        child = int(holder.stdout.readline())
        assert isLocked(path)
        holder.terminate()
        holder.wait(timeout=10)
        os.kill(child, 0)  # the forked child still runs...
        assert not isLocked(path)  # ...but the lock went with the holder
        assert readPid(path) == holder.pid
    finally:
        holder.stdin.close()
        holder.stdout.close()


def test_acquireRetriesWhenThePreviousHolderUnlinksMeanwhile(pidFile, monkeypatch):
    # The previous daemon's release() unlinks the file between our open and
    # our lock: the lock would be on an orphan inode, so acquire starts over.
    original = PidFile._lock
    calls = []

    def lockAfterUnlink(self, fd):
        calls.append(fd)
        if len(calls) == 1:
            os.unlink(self.path)
        return original(self, fd)

    monkeypatch.setattr(PidFile, "_lock", lockAfterUnlink)
    pidFile.acquire()
    assert len(calls) == 2
    assert readPid(pidFile.path) == os.getpid()
    probe = "import sys; from services.loomd.pidfile import isLocked; print(isLocked(sys.argv[1]))"
    assert runChild(probe, pidFile.path).strip() == "True"


def test_releaseInAForkedChildLeavesThePidfile(tmp_path):
    # Forking happens in a child Python, never in pytest's own process.
    code = textwrap.dedent(
        """
        import os, sys
        from services.loomd.pidfile import PidFile, isLocked, readPid
        pidFile = PidFile(sys.argv[1])
        pidFile.acquire()
        child = os.fork()
        if child == 0:
            try:
                pidFile.release()
            finally:
                os._exit(0)
        os.waitpid(child, 0)
        print(readPid(sys.argv[1]) == os.getpid(), os.path.exists(sys.argv[1]))
        """
    )
    assert runChild(code, tmp_path / "loomd.pid").split() == ["True", "True"]


def test_removeStaleRemovesOnlyAnUnlockedFileWithThatPid(tmp_path):
    from services.loomd.pidfile import removeStale

    path = tmp_path / "loomd.pid"
    assert not removeStale(path)
    path.write_text("123\n")
    assert not removeStale(path, pid=456)
    assert path.exists()
    assert removeStale(path, pid=123)
    assert not path.exists()


def test_removeStaleLeavesALockedPidfile(tmp_path):
    from services.loomd.pidfile import removeStale

    path = tmp_path / "race.pid"
    holder = spawn(CONTENDER, path)
    try:
        assert holder.stdout.readline() == "ready\n"
        holder.stdin.write("go\n")
        holder.stdin.flush()
        assert holder.stdout.readline() == "won\n"
        assert not removeStale(path)
        assert not removeStale(path, pid=holder.pid)
        assert readPid(path) == holder.pid
    finally:
        holder.stdin.close()
        holder.wait(timeout=10)
        holder.stdout.close()
