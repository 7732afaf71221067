"""
Tests for loadApplication: running a .tac file and its error messages.
"""

import os
import textwrap

import pytest

from services import service
from services.service import Application, IService, TacError, loadApplication


def writeTac(tmp_path, source, name="app.tac"):
    path = tmp_path / name
    path.write_text(textwrap.dedent(source))
    return path


def test_loadReturnsTheApplication(tmp_path):
    path = writeTac(
        tmp_path,
        """
        from services.service import Application, Service
        application = Application("finger")
        Service().setServiceParent(application)
        """,
    )
    application = loadApplication(str(path))
    assert isinstance(application, Application)
    assert application.name == "finger"
    assert len(list(application)) == 1


def test_tacSeesItsAbsolutePathAndName(tmp_path):
    (tmp_path / "users.txt").write_text("moshez\n")
    path = writeTac(
        tmp_path,
        """
        import os
        from services.service import Application
        here = os.path.dirname(__file__)
        with open(os.path.join(here, "users.txt")) as f:
            users = f.read().split()
        application = Application("finger")
        application.users = users
        application.loadedAs = (__file__, __name__)
        """,
    )
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        application = loadApplication("app.tac")
    finally:
        os.chdir(cwd)
    assert application.users == ["moshez"]
    assert application.loadedAs == (str(path), "__loom_tac__")


def test_eachLoadGetsAFreshNamespace(tmp_path):
    path = writeTac(
        tmp_path,
        """
        from services.service import Application
        assert "counter" not in globals()
        counter = 1
        application = Application("x")
        """,
    )
    assert loadApplication(str(path)) is not loadApplication(str(path))


def test_anyServiceIsAcceptedAsApplication(tmp_path):
    path = writeTac(
        tmp_path,
        """
        from services.service import MultiService
        application = MultiService()
        """,
    )
    assert IService(loadApplication(str(path)), None) is not None


def test_syntaxErrorReportsFileLineAndText(tmp_path):
    path = writeTac(
        tmp_path,
        """\
        from services.service import Application
        application = Application("x"
        port = 79
        """,
    )
    with pytest.raises(TacError) as info:
        loadApplication(str(path))
    message = str(info.value)
    assert message.startswith("%s, line 2: SyntaxError:" % (path,))
    assert 'application = Application("x"' in message
    assert info.value.path == str(path)


def test_syntaxErrorShowsCaretUnderTheOffendingText(tmp_path):
    path = writeTac(tmp_path, "x = 1 +* 2\n")
    with pytest.raises(TacError) as info:
        loadApplication(str(path))
    lines = str(info.value).splitlines()
    assert lines[0].startswith("%s, line 1: SyntaxError:" % (path,))
    assert lines[1] == "    x = 1 +* 2"
    assert lines[2].strip() == "^"


def test_indentationErrorIsNamed(tmp_path):
    path = writeTac(tmp_path, "if True:\nx = 1\n")
    with pytest.raises(TacError, match="line 2: IndentationError"):
        loadApplication(str(path))


def test_nulByteIsReportedClearly(tmp_path):
    path = tmp_path / "nul.tac"
    path.write_bytes(b"x = 1\x00\n")
    with pytest.raises(TacError) as info:
        loadApplication(str(path))
    assert str(info.value).startswith("%s: " % (path,))
    assert "null bytes" in str(info.value)
    assert "line None" not in str(info.value)


def test_compileValueErrorIsReportedClearly(tmp_path, monkeypatch):
    # Older 3.11 releases raise ValueError, not SyntaxError, for NUL bytes.
    def refuse(*args, **kwargs):
        raise ValueError("source code string cannot contain null bytes")

    monkeypatch.setattr(service, "compile", refuse, raising=False)
    path = writeTac(tmp_path, "x = 1\n")
    with pytest.raises(TacError) as info:
        loadApplication(str(path))
    assert str(info.value) == (
        "%s: cannot compile: source code string cannot contain null bytes" % (path,)
    )


def test_exceptionShowsTheTacTracebackNotTheLoader(tmp_path):
    path = writeTac(
        tmp_path,
        """\
        from services.service import Application

        def readConfig():
            return {}["port"]

        application = Application("x")
        port = readConfig()
        """,
    )
    with pytest.raises(TacError) as info:
        loadApplication(str(path))
    message = str(info.value)
    assert message.startswith("%s raised an exception while loading:" % (path,))
    assert 'File "%s", line 7, in <module>' % (path,) in message
    assert 'File "%s", line 4, in readConfig' % (path,) in message
    assert message.rstrip().endswith("KeyError: 'port'")
    assert "service.py" not in message
    assert "loadApplication" not in message


def test_exceptionFromLibraryCodeKeepsThoseFrames(tmp_path):
    path = writeTac(
        tmp_path,
        """\
        from services.service import MultiService, Service
        a, b = Service(), Service()
        a.name = b.name = "same"
        application = MultiService()
        a.setServiceParent(application)
        b.setServiceParent(application)
        """,
    )
    with pytest.raises(TacError) as info:
        loadApplication(str(path))
    message = str(info.value)
    assert 'File "%s", line 6, in <module>' % (path,) in message
    assert "in addService" in message
    assert "RuntimeError: cannot have two services with same name 'same'" in message


def test_missingApplicationSaysSoByName(tmp_path):
    path = writeTac(tmp_path, "app = 1\n")
    with pytest.raises(TacError) as info:
        loadApplication(str(path))
    assert str(info.value) == "%s does not define 'application'" % (path,)


def test_applicationThatIsNotAServiceIsRefused(tmp_path):
    path = writeTac(tmp_path, "application = 'finger'\n")
    with pytest.raises(TacError) as info:
        loadApplication(str(path))
    assert str(info.value) == ("%s: 'application' is 'finger', which is not a service" % (path,))


def test_missingFileSaysSo(tmp_path):
    path = tmp_path / "nowhere.tac"
    with pytest.raises(TacError) as info:
        loadApplication(str(path))
    assert str(info.value) == "%s: no such file" % (path,)


def test_unreadableFileSaysWhy(tmp_path):
    # A directory cannot be read as a file, whoever runs the test (root too).
    with pytest.raises(TacError) as info:
        loadApplication(str(tmp_path))
    assert str(info.value).startswith("%s: cannot read: " % (tmp_path,))


def test_relativePathIsReportedAbsolute(tmp_path):
    writeTac(tmp_path, "x = 1\n")
    cwd = os.getcwd()
    os.chdir(tmp_path)
    try:
        with pytest.raises(TacError) as info:
            loadApplication("app.tac")
    finally:
        os.chdir(cwd)
    assert str(info.value).startswith(str(tmp_path / "app.tac"))
