"""
Tests for reactor._safeopen: opening a file so that whoever may write to its
directory cannot redirect the write.  Real files, links and FIFOs in tmp_path.
"""

import errno
import os
import stat
import subprocess
import sys
import textwrap

import pytest

from reactor._safeopen import RefusedFile, checkPath, openDirectory, openFile

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
WRITE = os.O_WRONLY | os.O_APPEND | os.O_CREAT


@pytest.fixture
def precious(tmp_path):
    """A file that must stay untouched: its path."""
    path = tmp_path / "precious"
    path.write_text("do not touch\n")
    os.chmod(path, 0o600)
    return path


def untouched(path):
    info = os.stat(path)
    return path.read_text() == "do not touch\n" and stat.S_IMODE(info.st_mode) == 0o600


def openAndClose(path, what="log file", flags=WRITE):
    dirFd, fd = openFile(str(path), what, flags)
    os.close(fd)
    os.close(dirFd)


def test_aRegularFileIsCreatedAndOpened(tmp_path):
    dirFd, fd = openFile(str(tmp_path / "app.log"), "log file", WRITE)
    try:
        os.write(fd, b"line\n")
        assert os.get_blocking(fd)
        assert os.stat(".", dir_fd=dirFd).st_ino == os.stat(tmp_path).st_ino
    finally:
        os.close(fd)
        os.close(dirFd)
    assert (tmp_path / "app.log").read_text() == "line\n"


def test_symlinkIsRefused(tmp_path, precious):
    (tmp_path / "app.log").symlink_to(precious)
    with pytest.raises(RefusedFile) as caught:
        openAndClose(tmp_path / "app.log")
    assert str(caught.value) == (
        "refusing to open log file %s: it is a symbolic link" % (tmp_path / "app.log",)
    )
    assert untouched(precious)


def test_danglingSymlinkCreatesNothing(tmp_path):
    (tmp_path / "app.pid").symlink_to(tmp_path / "created")
    with pytest.raises(RefusedFile, match="pidfile .*: it is a symbolic link$"):
        openAndClose(tmp_path / "app.pid", "pidfile", os.O_RDWR | os.O_CREAT)
    assert not (tmp_path / "created").exists()


def test_hardLinkIsRefused(tmp_path, precious):
    os.link(precious, tmp_path / "app.log")
    with pytest.raises(RefusedFile, match=r"app\.log: it has 2 hard links$"):
        openAndClose(tmp_path / "app.log")
    assert untouched(precious)


def test_fifoIsRefusedWithoutBlocking(tmp_path):
    # Nobody reads the FIFO: a plain open for writing would wait forever.
    os.mkfifo(tmp_path / "app.log")
    for flags in (WRITE, os.O_RDONLY, os.O_RDWR):
        with pytest.raises(RefusedFile, match=r"it is not a regular file \(FIFO\)$"):
            openAndClose(tmp_path / "app.log", flags=flags)


def test_directoryIsRefused(tmp_path):
    (tmp_path / "app.log").mkdir()
    with pytest.raises(RefusedFile, match=r"it is not a regular file \(directory\)$"):
        openAndClose(tmp_path / "app.log")


def test_symlinkedDirectoryOthersCanWriteToIsRefused(tmp_path, precious):
    # /shared (world-writable, not sticky) holds a link "logs" -> the
    # directory of the precious file: anyone could have put it there.
    shared = tmp_path / "shared"
    shared.mkdir()
    os.chmod(shared, 0o777)
    (shared / "logs").symlink_to(tmp_path)
    with pytest.raises(RefusedFile) as caught:
        openAndClose(shared / "logs" / "precious")
    assert caught.value.reason == (
        "%s is a symbolic link in %s, which other users can write to" % (shared / "logs", shared)
    )
    assert untouched(precious)


def test_symlinkedDirectoryInATrustedDirectoryIsFollowed(tmp_path):
    # /var/run -> /run: a link only root (or we) could have made is fine,
    # relative (with ..) or absolute.
    real = tmp_path / "real"
    real.mkdir()
    os.chmod(tmp_path, 0o755)
    (tmp_path / "relative").symlink_to("sub/../real")
    (tmp_path / "sub").mkdir()
    (tmp_path / "absolute").symlink_to(real)
    openAndClose(tmp_path / "relative" / "a.log")
    openAndClose(tmp_path / "absolute" / "b.log")
    assert sorted(os.listdir(real)) == ["a.log", "b.log"]


def test_stickyDirectoryTrustsOnlyOurOwnLinks(tmp_path):
    sticky = tmp_path / "tmp"
    sticky.mkdir()
    os.chmod(sticky, 0o1777)
    (sticky / "mine").symlink_to(tmp_path)
    openAndClose(sticky / "mine" / "a.log")
    if os.geteuid() != 0:
        pytest.skip("a link owned by another user needs root to make")
    (sticky / "theirs").symlink_to(tmp_path)
    os.chown(sticky / "theirs", 65534, 65534, follow_symlinks=False)
    with pytest.raises(RefusedFile, match="which other users can write to$"):
        openAndClose(sticky / "theirs" / "b.log")


def test_aDirectoryOwnedBySomeoneElseIsNotTrustedForLinks(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to give a directory away")
    theirs = tmp_path / "theirs"
    theirs.mkdir(mode=0o755)
    os.chown(theirs, 65534, 65534)
    (theirs / "logs").symlink_to(tmp_path)
    with pytest.raises(RefusedFile, match="logs is a symbolic link in"):
        openAndClose(theirs / "logs" / "x.log")


def test_aFileOnTheWayIsNotADirectory(tmp_path):
    (tmp_path / "file").write_text("")
    with pytest.raises(RefusedFile, match="file is not a directory$"):
        openAndClose(tmp_path / "file" / "x.log")


def test_missingDirectoryIsAnOrdinaryError(tmp_path):
    path = tmp_path / "missing" / "x.log"
    with pytest.raises(FileNotFoundError) as caught:
        openAndClose(path)
    assert not isinstance(caught.value, RefusedFile)
    assert caught.value.filename == str(path)


def test_aLinkLoopEnds(tmp_path):
    os.chmod(tmp_path, 0o755)
    (tmp_path / "a").symlink_to("b")
    (tmp_path / "b").symlink_to("a")
    with pytest.raises(OSError) as caught:
        openDirectory(str(tmp_path / "a"), "log file", str(tmp_path / "a" / "x"))
    assert caught.value.errno == errno.ELOOP


def test_checkPathSaysWhatOpenWouldRefuseOpeningNothing(tmp_path, precious):
    (tmp_path / "link").symlink_to(precious)
    os.mkfifo(tmp_path / "fifo")
    assert checkPath(str(tmp_path / "link"), "log file") == (
        "refusing to open log file %s: it is a symbolic link" % (tmp_path / "link",)
    )
    assert checkPath(str(tmp_path / "fifo"), "log file").endswith("(FIFO)")
    assert checkPath(str(tmp_path / "new.log"), "log file") is None
    assert checkPath(str(tmp_path / "missing" / "x.log"), "log file") is None
    assert not (tmp_path / "new.log").exists()


RACE = textwrap.dedent(
    """
    import os, sys
    from reactor import _safeopen

    # The link appears between the check and the open: O_NOFOLLOW and the
    # fstat on the descriptor still refuse it.
    directory, target = sys.argv[1], sys.argv[2]
    realStat = os.stat

    def racingStat(path, *args, **kwargs):
        try:
            return realStat(path, *args, **kwargs)
        finally:
            if path == "app.log" and not os.path.lexists(os.path.join(directory, path)):
                os.symlink(target, os.path.join(directory, path))

    _safeopen.os.stat = racingStat
    try:
        _safeopen.openFile(os.path.join(directory, "app.log"), "log file",
                           os.O_WRONLY | os.O_APPEND | os.O_CREAT)
    except _safeopen.RefusedFile as error:
        print(error)
    """
)


def test_aLinkPlantedBetweenCheckAndOpenIsRefused(tmp_path, precious):
    # In a child: the race is staged by replacing os.stat for the module.
    done = subprocess.run(
        [sys.executable, "-c", RACE, str(tmp_path), str(precious)],
        capture_output=True,
        text=True,
        env=dict(os.environ, PYTHONPATH=ROOT),
        timeout=20,
    )
    assert done.stdout == "refusing to open log file %s: it is a symbolic link\n" % (
        tmp_path / "app.log",
    ), done.stderr
    assert untouched(precious)
