"""
Resources: the tree, render methods, 405 and 501, error pages, Deferred and
async renders, and what a failing render answers.
"""

import pytest

from protocols.web import error, resource, server
from reactor import log
from reactor.defer import Deferred, succeed
from reactor.task import deferLater
from tests.protocols.web.webhelpers import Connection, Text, makeSite


class Named(resource.Resource):
    """Says its name and the rest of the path."""

    def __init__(self, name):
        resource.Resource.__init__(self)
        self.name = name

    def render_GET(self, request):
        return self.name + b" " + b"/".join(request.postpath)


def get(root, path, method=b"GET", **kwargs):
    connection = Connection(makeSite(root, **kwargs))
    connection.send(b"%s %s HTTP/1.1\r\nHost: h\r\n\r\n" % (method, path))
    return connection.response(method=method.decode())


@pytest.fixture
def errors():
    """The errors logged during the test (they would fail nothing otherwise)."""
    seen = []

    def observer(event):
        if event.get("isError"):
            seen.append(event)

    log.addObserver(observer)
    yield seen
    log.removeObserver(observer)


def test_putChildAndGetChild():
    root = Named(b"root")
    child = Named(b"child")
    root.putChild(b"child", child)
    child.putChild(b"", Named(b"slash"))
    # "/" is the root's child b"", as in Twisted.
    assert get(root, b"/").status == 404
    root.putChild(b"", Named(b"index"))
    assert get(root, b"/").body == b"index "
    assert get(root, b"/child").body == b"child "
    assert get(root, b"/child/").body == b"slash "
    assert get(root, b"/nothing").status == 404


def test_putChildWantsBytes():
    with pytest.raises(TypeError):
        resource.Resource().putChild("text", resource.Resource())


def test_isLeafTakesTheRestOfThePath():
    root = resource.Resource()
    leaf = Named(b"leaf")
    leaf.isLeaf = True
    root.putChild(b"leaf", leaf)
    assert get(root, b"/leaf/a/b%2Fc").body == b"leaf a/b/c"


def test_getChildMakesDynamicChildren():
    class Users(resource.Resource):
        def getChild(self, name, request):
            return Named(b"user:" + name)

    root = resource.Resource()
    root.putChild(b"users", Users())
    assert get(root, b"/users/alice").body == b"user:alice "


def test_getChildWithDefaultSeesTheRequest():
    seen = []

    class Host(resource.Resource):
        def getChildWithDefault(self, name, request):
            seen.append((name, request.getHeader(b"Host")))
            return Named(b"any")

    assert get(Host(), b"/x").body == b"any "
    assert seen == [(b"x", b"h")]


def test_getChildForRequest():
    class FakeRequest:
        prepath = []
        postpath = [b"a", b"b", b"c"]

    root = resource.Resource()
    a = resource.Resource()
    b = Named(b"b")
    b.isLeaf = True
    root.putChild(b"a", a)
    a.putChild(b"b", b)
    request = FakeRequest()
    assert resource.getChildForRequest(root, request) is b
    assert (request.prepath, request.postpath) == ([b"a", b"b"], [b"c"])


def test_methodNotAllowedHasAllow():
    class Both(resource.Resource):
        isLeaf = True

        def render_GET(self, request):
            return b""

        def render_POST(self, request):
            return b""

    response = get(Both(), b"/", method=b"PUT")
    assert response.status == 405
    assert response.header("Allow") == "GET, HEAD, POST"
    assert b"PUT" in response.body


def test_allowedMethodsAttributeWins():
    class Listed(resource.Resource):
        isLeaf = True
        allowedMethods = (b"GET", b"PROPFIND")

        def render_GET(self, request):
            return b""

    assert get(Listed(), b"/", method=b"DELETE").header("Allow") == "GET, PROPFIND"


def test_headIsAnsweredAsGetWithoutBody():
    response = get(Text(b"body!"), b"/", method=b"HEAD")
    assert (response.status, response.header("Content-Length"), response.body) == (200, "5", b"")


def test_headOnACustomRenderFallsBackToGet():
    class OnlyGet(resource.Resource):
        isLeaf = True

        def render(self, request):
            if request.method != b"GET":
                raise error.UnsupportedMethod([b"GET"])
            request.setHeader(b"X-Seen", b"get")
            return b"twelve bytes"

    response = get(OnlyGet(), b"/", method=b"HEAD")
    assert response.status == 200
    assert response.header("Content-Length") == "12"
    assert response.header("X-Seen") == "get"
    assert response.body == b""


def test_noResourceAndForbidden():
    assert get(resource.NoResource(), b"/").status == 404
    response = get(resource.ForbiddenResource(), b"/")
    assert response.status == 403
    assert b"Forbidden Resource" in response.body


def test_errorPageEscapes():
    page = resource.ErrorPage(418, "<b>tea</b>", "<script>alert(1)</script>")
    response = get(page, b"/")
    assert response.status == 418
    assert b"<script>" not in response.body
    assert b"&lt;script&gt;" in response.body
    assert response.header("Content-Type") == "text/html; charset=utf-8"


def test_notFoundDoesNotReflectThePath():
    response = get(resource.Resource(), b"/%3Cscript%3E")
    assert response.status == 404
    assert b"<script>" not in response.body


def test_renderReturningADeferred():
    clock_holder = {}

    class Later(resource.Resource):
        isLeaf = True

        def render_GET(self, request):
            return deferLater(clock_holder["clock"], 5, lambda: b"later")

    site = makeSite(Later())
    clock_holder["clock"] = site.reactor
    connection = Connection(site)
    connection.get()
    assert connection.output() == b""
    site.reactor.advance(5)
    response = connection.response()
    assert (response.status, response.body) == (200, b"later")


def test_asyncRender():
    waiting = Deferred()

    class Async(resource.Resource):
        isLeaf = True

        async def render_GET(self, request):
            name = await waiting
            request.setHeader(b"X-Name", name)
            return b"hello " + name

    connection = Connection(makeSite(Async()))
    connection.get()
    assert connection.output() == b""
    waiting.callback(b"world")
    response = connection.response()
    assert (response.body, response.header("X-Name")) == (b"hello world", "world")


def test_asyncRenderThatFinishesItself():
    class Writes(resource.Resource):
        isLeaf = True

        async def render_GET(self, request):
            await succeed(None)
            request.write(b"streamed")
            request.finish()

    connection = Connection(makeSite(Writes()))
    connection.get()
    assert connection.response().body == b"streamed"


def test_pendingRenderIsCancelledWhenTheClientGoes():
    cancelled = []
    pending = Deferred(cancelled.append)

    class Waits(resource.Resource):
        isLeaf = True

        def render_GET(self, request):
            return pending

    connection = Connection(makeSite(Waits()))
    connection.get()
    connection.channel.connectionLost(None)
    assert cancelled == [pending]


def test_errorGives500WithoutTraceback(errors):
    class Broken(resource.Resource):
        isLeaf = True

        def render_GET(self, request):
            raise ValueError("secret detail")

    response = get(Broken(), b"/")
    assert response.status == 500
    assert b"secret detail" not in response.body
    assert b"Traceback" not in response.body
    assert len(errors) == 1
    assert errors[0]["failure"].check(ValueError)


def test_displayTracebacksShowsThem(errors):
    class Broken(resource.Resource):
        isLeaf = True

        def render_GET(self, request):
            raise ValueError("<detail>")

    response = get(Broken(), b"/", displayTracebacks=True)
    assert response.status == 500
    assert b"ValueError" in response.body
    assert b"&lt;detail&gt;" in response.body
    assert len(errors) == 1


def test_failedDeferredGives500(errors):
    class Fails(resource.Resource):
        isLeaf = True

        async def render_GET(self, request):
            raise KeyError("gone")

    assert get(Fails(), b"/").status == 500
    assert errors[0]["failure"].check(KeyError)


def test_webErrorGivesItsStatus(errors):
    class Teapot(resource.Resource):
        isLeaf = True

        def render_GET(self, request):
            raise error.Error(418)

    response = get(Teapot(), b"/")
    assert response.status == 418
    assert b"I'm a teapot" in response.body


def test_nonBytesBodyGives500(errors):
    class Text(resource.Resource):
        isLeaf = True

        def render_GET(self, request):
            return "a str"

    assert get(Text(), b"/").status == 500
    assert errors[0]["failure"].check(TypeError)


def test_errorAfterWritingClosesTheConnection(errors):
    class Half(resource.Resource):
        isLeaf = True

        def render_GET(self, request):
            request.write(b"half of it")
            raise RuntimeError("midway")

    connection = Connection(makeSite(Half()))
    connection.get()
    assert connection.transport.disconnecting
    assert b"500" not in connection.output()


def test_errorInGetChildGives500(errors):
    class BadTree(resource.Resource):
        def getChild(self, name, request):
            raise LookupError(name)

    assert get(BadTree(), b"/x").status == 500
    assert errors[0]["failure"].check(LookupError)


def test_notDoneYet():
    seen = []

    class Later(resource.Resource):
        isLeaf = True

        def render_GET(self, request):
            seen.append(request)
            return server.NOT_DONE_YET

    connection = Connection(makeSite(Later()))
    connection.get()
    assert connection.output() == b""
    seen[0].write(b"done")
    seen[0].finish()
    assert connection.response().body == b"done"


def test_resourceCollectionInterface():
    root = resource.Resource()
    child = resource.Resource()
    root.putChild(b"c", child)
    assert root.listNames() == [b"c"]
    assert root.listEntities() == [(b"c", child)]
    assert root.getStaticEntity(b"c") is child
    assert root.getDynamicEntity(b"c", None) is None
    root.delEntity(b"c")
    assert root.listNames() == []
