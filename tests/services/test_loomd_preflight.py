"""
``loomd --check`` and the real start judge the files a start needs in one
place (services.loomd.preflight): whatever makes the check fail makes the
start fail with the same message, before anything is forked, logged or
bound; whatever the check warns of, the start warns of in the same words
and runs.  Each case below runs both and compares what they printed.
"""

import os

import pytest

from tests.services.loomd_helpers import (
    alive,
    loomdFixture,  # noqa: F401 - the loomd fixture
    needRoot,
    readLog,
    readPid,
    tacFile,
)


def missingPidfileDirectory(tmp_path, args):
    args["--pidfile"] = str(tmp_path / "missing" / "app.pid")
    return "error", "cannot open pidfile %s: directory %s does not exist" % (
        args["--pidfile"],
        tmp_path / "missing",
    )


def missingLogDirectory(tmp_path, args):
    args["-l"] = str(tmp_path / "missing" / "app.log")
    return "error", "cannot open log file %s: directory %s does not exist" % (
        args["-l"],
        tmp_path / "missing",
    )


def pidfileDirectoryIsAFile(tmp_path, args):
    (tmp_path / "plain").write_text("")
    args["--pidfile"] = str(tmp_path / "plain" / "app.pid")
    return "error", "cannot open pidfile %s: directory %s is not a directory" % (
        args["--pidfile"],
        tmp_path / "plain",
    )


def pidfileIsASymlink(tmp_path, args):
    os.symlink(tmp_path / "elsewhere.pid", tmp_path / "link.pid")
    args["--pidfile"] = str(tmp_path / "link.pid")
    return "error", "symbolic link"


def missingRunDirectory(tmp_path, args):
    args["-d"] = str(tmp_path / "nowhere")
    return "error", "run directory %s does not exist" % (args["-d"],)


def _rootOnly(tmp_path):
    needRoot()
    directory = tmp_path / "rootonly"
    directory.mkdir(mode=0o755)
    return directory


def logDirectoryOnlyRootCanWrite(tmp_path, args):
    directory = _rootOnly(tmp_path)
    args["-u"], args["-l"] = "nobody", str(directory / "app.log")
    return "warning", (
        "log directory %s is not writable by nobody:nogroup: "
        "log rotation and reopening will fail" % (directory,)
    )


def pidfileDirectoryOnlyRootCanWrite(tmp_path, args):
    directory = _rootOnly(tmp_path)
    args["-u"], args["--pidfile"] = "nobody", str(directory / "app.pid")
    return "warning", (
        "pidfile directory %s is not writable by nobody:nogroup: "
        "the pidfile will be emptied at exit, not removed" % (directory,)
    )


CASES = [
    missingPidfileDirectory,
    missingLogDirectory,
    pidfileDirectoryIsAFile,
    pidfileIsASymlink,
    missingRunDirectory,
    logDirectoryOnlyRootCanWrite,
    pidfileDirectoryOnlyRootCanWrite,
]


def _commandLine(args):
    return [word for option, value in args.items() for word in (option, value)]


@pytest.mark.parametrize("case", CASES, ids=[case.__name__ for case in CASES])
def test_checkAndStartAgree(loomd, tmp_path, case):
    args = {"-y": tacFile(tmp_path, ""), "--pidfile": loomd.pidfile, "-l": loomd.logfile}
    kind, expected = case(tmp_path, args)
    check = loomd.run("--check", *_commandLine(args))
    start = loomd.run(*_commandLine(args))
    if kind == "error":
        assert check.returncode == 1 and start.returncode == 1
        [failed] = [line for line in check.stderr.splitlines() if "check failed" in line]
        problem = failed.split("loomd: check failed: ", 1)[1]
        assert expected in problem
        assert start.stderr == "loomd: %s\n" % (problem,)
        assert not os.path.exists(args["-l"])  # nothing was logged
    else:
        assert (check.returncode, start.returncode) == (0, 0), (check.stderr, start.stderr)
        # The other file is in tmp_path, which nobody cannot write either.
        assert check.stderr == start.stderr
        assert "loomd: warning: %s\n" % (expected,) in check.stderr
        for line in check.stderr.splitlines():
            assert line.startswith("loomd: warning: ")
            assert readLog(args["-l"]).count(line[len("loomd: warning: ") :]) == 1
        pid = readPid(args["--pidfile"])
        loomd.track(pid)
        assert loomd.run("--stop", "--pidfile", args["--pidfile"]).returncode == 0
        assert not alive(pid)
    assert loomd.leftovers() == []


@pytest.mark.parametrize("mode", [(), ("-n",)], ids=["daemon", "foreground"])
def test_missingPidfileDirectoryIsSaidOnceAndCreatesNoLog(loomd, tmp_path, mode):
    # The default log of a daemon is loomd.log in the run directory.
    missing = tmp_path / "missing"
    pidfile = missing / "app.pid"
    result = loomd.run(*mode, "-y", tacFile(tmp_path, ""), "--pidfile", pidfile)
    assert result.returncode == 1
    assert result.stdout == ""
    assert result.stderr == "loomd: cannot open pidfile %s: directory %s does not exist\n" % (
        pidfile,
        missing,
    )
    assert sorted(os.listdir(tmp_path)) == ["app.tac"]
