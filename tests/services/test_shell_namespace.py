"""
Tests for the names a ``--shell`` console starts with
(services.loomd.shell.shellNamespace and ServiceTree), and for openShell's
refusal of a directory others may write, without a daemon.
"""

import os

import pytest

from reactor.error import CannotListenError
from reactor.selectreactor import SelectReactor
from services.loomd.shell import ServiceTree, openShell, shellNamespace
from services.service import Application, MultiService, Service


def _tree():
    application = Application("app")
    web = Service()
    web.setName("web")
    web.setServiceParent(application)
    group = MultiService()
    group.setName("group")
    group.setServiceParent(application)
    for name in ("worker", "web"):
        child = Service()
        child.setName(name)
        child.setServiceParent(group)
    Service().setServiceParent(group)  # unnamed
    return application, web, group


def test_servicesByPathAndByUniqueName():
    application, web, group = _tree()
    services = ServiceTree(application)
    assert list(services) == ["web", "group", "group/worker", "group/web", "group/#2"]
    assert services["web"] is web
    assert services["group"] is group
    assert services["group/web"] is group.getServiceNamed("web")
    assert services["worker"] is group.getServiceNamed("worker")
    assert len(services) == 5


def test_unknownOrAmbiguousNameIsAKeyError():
    application, web, group = _tree()
    services = ServiceTree(application)
    with pytest.raises(KeyError, match="nothing"):
        services["nothing"]
    group.removeService(group.getServiceNamed("web"))
    other = MultiService()
    other.setName("other")
    other.setServiceParent(application)
    for parent in (group, other):
        child = Service()
        child.setName("cache")
        child.setServiceParent(parent)
    with pytest.raises(KeyError, match="'cache' names 2 services: give its path"):
        services["cache"]
    assert services["other/cache"].parent is other


def test_treeIsLiveAndItsReprShowsIt():
    application, web, group = _tree()
    services = ServiceTree(application)
    late = Service()
    late.setName("late")
    late.setServiceParent(application)
    web.startService()
    assert repr(services).splitlines() == [
        "<services of 'app'>",
        "  web: Service (running)",
        "  group: MultiService (stopped)",
        "  group/worker: Service (stopped)",
        "  group/web: Service (stopped)",
        "  group/#2: Service (stopped)",
        "  late: Service (stopped)",
    ]


def test_namespaceHoldsApplicationReactorAndServices():
    application, web, group = _tree()
    namespace = shellNamespace(application, "the reactor")
    assert namespace["application"] is application
    assert namespace["reactor"] == "the reactor"
    assert namespace["services"]["web"] is web


def test_directoryOthersMayWriteIsRefused(tmp_path):
    directory = tmp_path / "open"
    directory.mkdir()
    os.chmod(directory, 0o777)
    reactor = SelectReactor()
    with pytest.raises(CannotListenError, match="is writable by group or others"):
        openShell(str(directory / "shell.sock"), {}, reactor)
    assert os.listdir(directory) == []
    os.chmod(directory, 0o1777)  # sticky: others cannot rename or remove our file
    port = openShell(str(directory / "shell.sock"), {}, reactor)
    try:
        assert oct(os.lstat(directory / "shell.sock").st_mode & 0o777) == oct(0o600)
    finally:
        port.stopListening()


def test_directoryOfAnotherUserIsRefused(tmp_path):
    if os.geteuid() != 0:
        pytest.skip("needs root to give a directory to another user")
    directory = tmp_path / "theirs"
    directory.mkdir(mode=0o755)
    os.chown(directory, 12345, 12345)
    reactor = SelectReactor()
    with pytest.raises(CannotListenError, match="belongs to uid 12345, who could swap"):
        openShell(str(directory / "shell.sock"), {}, reactor)
    # The user the daemon becomes may own it: the socket is theirs anyway.
    port = openShell(str(directory / "shell.sock"), {}, reactor, uid=12345, gid=12345)
    try:
        info = os.lstat(directory / "shell.sock")
        assert (info.st_uid, info.st_gid) == (12345, 12345)
    finally:
        port.stopListening()
