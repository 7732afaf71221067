"""
static.File and static.Data, in memory: content types, conditional requests
(304), ranges (206, 416), HEAD, directories (redirect, index, listing), and
every way out of the root answered 404.  Over real sockets at the end of
tests/protocols/web/test_sockets_static.py.
"""

import email
import gzip
import os

import pytest

from protocols.web import resource, static
from protocols.web._dates import datetimeToString
from protocols.web._encoding import GzipEncoderFactory
from tests.protocols.web.webhelpers import Connection, makeSite

BIG = bytes(range(256)) * 1024  # 256 KiB: streamed, not read whole


@pytest.fixture
def tree(tmp_path):
    """A root with files, a directory, and symlinks in and out; a secret outside."""
    root = tmp_path / "root"
    root.mkdir()
    (root / "hello.txt").write_bytes(b"hello, world\n")
    (root / "page.html").write_bytes(b"<p>page</p>")
    (root / "big.bin").write_bytes(BIG)
    (root / "archive.tar.gz").write_bytes(b"\x1f\x8b not really")
    (root / "sub").mkdir()
    (root / "sub" / "a.txt").write_bytes(b"a")
    (root / "sub" / "<b>&.txt").write_bytes(b"b")
    (root / "indexed").mkdir()
    (root / "indexed" / "index.html").write_bytes(b"the index")
    (tmp_path / "secret.txt").write_bytes(b"secret")
    (root / "out").symlink_to(tmp_path / "secret.txt")
    (root / "outdir").symlink_to(tmp_path)
    (root / "in").symlink_to(root / "hello.txt")
    os.mkfifo(root / "fifo")
    return root


def get(site, path, headers=b"", method=b"GET"):
    """Send one request; drive a streaming producer to the end; return the response."""
    connection = Connection(site)
    connection.send(b"%s %s HTTP/1.1\r\nHost: example.com\r\n%s\r\n" % (method, path, headers))
    pumpProducer(connection)
    return connection.response(method.decode())


def pumpProducer(connection):
    """Ask the registered pull producer for more until it unregisters (bounded)."""
    for _ in range(10_000):
        producer = connection.transport.producer
        if producer is None:
            return
        producer.resumeProducing()
    raise AssertionError("the producer never finished")


def test_fileHasItsContentType(tree, parser):
    site = makeSite(static.File(str(tree)), parser)
    response = get(site, b"/hello.txt")
    assert (response.status, response.body) == (200, b"hello, world\n")
    assert response.header("Content-Type") == "text/plain"
    assert get(site, b"/page.html").header("Content-Type") == "text/html"


def test_encodingFromTheExtension(tree, parser):
    response = get(makeSite(static.File(str(tree)), parser), b"/archive.tar.gz")
    assert response.header("Content-Type") == "application/x-tar"
    assert response.header("Content-Encoding") == "gzip"


def test_aSingleFileAsTheRoot(tree, parser):
    site = makeSite(static.File(str(tree / "hello.txt")), parser)
    assert get(site, b"/").body == b"hello, world\n"


def test_largeFileIsStreamed(tree, parser):
    site = makeSite(static.File(str(tree)), parser)
    connection = Connection(site)
    connection.get(b"/big.bin")
    assert connection.transport.producer is not None
    pumpProducer(connection)
    response = connection.response()
    assert response.body == BIG
    assert response.header("Content-Length") == str(len(BIG))
    assert not connection.closed


def test_aFileThatShrinksClosesTheConnection(tree, parser):
    # The rest of the body cannot be read: the producer lets go of the
    # connection and closes it.  A transport closes only once no producer
    # is registered; one left registered was pulled from at every turn.
    data = BIG * 4
    (tree / "bigger.bin").write_bytes(data)
    site = makeSite(static.File(str(tree)), parser)
    connection = Connection(site)
    connection.get(b"/bigger.bin")
    producer = connection.transport.producer
    producer.resumeProducing()
    sent = len(connection.output().partition(b"\r\n\r\n")[2])
    assert 0 < sent < len(data)
    os.truncate(tree / "bigger.bin", sent)
    producer.resumeProducing()
    assert connection.transport.producer is None
    assert connection.closed
    assert connection.output().partition(b"\r\n\r\n")[2] == data[:sent]


def test_headHasTheLengthAndNoBody(tree, parser):
    response = get(makeSite(static.File(str(tree)), parser), b"/big.bin", method=b"HEAD")
    assert (response.status, response.body) == (200, b"")
    assert response.header("Content-Length") == str(len(BIG))


def test_etagAndLastModifiedGive304(tree, parser):
    site = makeSite(static.File(str(tree)), parser)
    first = get(site, b"/hello.txt")
    etag, modified = first.header("ETag"), first.header("Last-Modified")
    assert etag and modified
    byTag = get(site, b"/hello.txt", b"If-None-Match: %s\r\n" % etag.encode())
    assert (byTag.status, byTag.body) == (304, b"")
    assert byTag.header("Content-Length") is None
    assert byTag.header("ETag") == etag
    for listed in (b'"x", %s', b'%s,"x"', b"W/%s"):
        header = b"If-None-Match: %s\r\n" % (listed % etag.encode(),)
        assert get(site, b"/hello.txt", header).status == 304
    byDate = get(site, b"/hello.txt", b"If-Modified-Since: %s\r\n" % modified.encode())
    assert (byDate.status, byDate.body) == (304, b"")


def test_ifNoneMatchDecidesOverIfModifiedSince(tree, parser):
    site = makeSite(static.File(str(tree)), parser)
    modified = get(site, b"/hello.txt").header("Last-Modified").encode()
    headers = b'If-None-Match: "other"\r\nIf-Modified-Since: %s\r\n' % modified
    assert get(site, b"/hello.txt", headers).status == 200


def test_changedFileIsNotCached(tree, parser):
    site = makeSite(static.File(str(tree)), parser)
    old = get(site, b"/hello.txt")
    (tree / "hello.txt").write_bytes(b"changed, and longer\n")
    os.utime(tree / "hello.txt", (1, 1))
    response = get(site, b"/hello.txt", b"If-None-Match: %s\r\n" % old.header("ETag").encode())
    assert (response.status, response.body) == (200, b"changed, and longer\n")
    assert response.header("Last-Modified") == datetimeToString(1).decode()


def test_singleRange(tree, parser):
    site = makeSite(static.File(str(tree)), parser)
    response = get(site, b"/big.bin", b"Range: bytes=1000-1999\r\n")
    assert response.status == 206
    assert response.body == BIG[1000:2000]
    assert response.header("Content-Range") == "bytes 1000-1999/%d" % len(BIG)
    suffix = get(site, b"/big.bin", b"Range: bytes=-100\r\n")
    assert suffix.body == BIG[-100:]
    assert get(site, b"/big.bin", b"Range: bytes=200000-\r\n").body == BIG[200000:]


def test_largeRangeIsStreamed(tree, parser):
    site = makeSite(static.File(str(tree)), parser)
    response = get(site, b"/big.bin", b"Range: bytes=10-200009\r\n")
    assert (response.status, response.body) == (206, BIG[10:200010])


def test_multipleRanges(tree, parser):
    site = makeSite(static.File(str(tree)), parser)
    response = get(site, b"/hello.txt", b"Range: bytes=0-4, 7-\r\n")
    assert response.status == 206
    contentType = response.header("Content-Type")
    assert contentType.startswith("multipart/byteranges; boundary=")
    message = email.message_from_bytes(
        b"Content-Type: %s\r\n\r\n%s" % (contentType.encode(), response.body)
    )
    parts = [(part["Content-Range"], part.get_payload()) for part in message.get_payload()]
    assert parts == [("bytes 0-4/13", "hello"), ("bytes 7-12/13", "world\n")]
    assert [part.get_content_type() for part in message.get_payload()] == ["text/plain"] * 2


def test_unsatisfiableRangeIs416(tree, parser):
    response = get(
        makeSite(static.File(str(tree)), parser), b"/hello.txt", b"Range: bytes=100-\r\n"
    )
    assert response.status == 416
    assert response.header("Content-Range") == "bytes */13"


@pytest.mark.parametrize(
    "header",
    [
        b"Range: lines=1-2",
        b"Range: bytes=5-1",
        b"Range: bytes=x-y",
        b"Range: bytes=" + b"0-0," * 40,
    ],
)
def test_rangeIgnoredWhenMalformedOrTooMany(tree, parser, header):
    response = get(makeSite(static.File(str(tree)), parser), b"/hello.txt", header + b"\r\n")
    assert (response.status, response.body) == (200, b"hello, world\n")


def test_ifRangeWithAnOldTagGivesTheWholeFile(tree, parser):
    site = makeSite(static.File(str(tree)), parser)
    etag = get(site, b"/hello.txt").header("ETag").encode()
    current = get(site, b"/hello.txt", b"Range: bytes=0-4\r\nIf-Range: %s\r\n" % etag)
    assert (current.status, current.body) == (206, b"hello")
    old = get(site, b"/hello.txt", b'Range: bytes=0-4\r\nIf-Range: "old"\r\n')
    assert (old.status, old.body) == (200, b"hello, world\n")


def test_directoryWithoutSlashRedirects(tree, parser):
    response = get(makeSite(static.File(str(tree)), parser), b"/sub?x=1")
    assert response.status == 301
    assert response.header("Location") == "/sub/?x=1"


def test_directoryListingIsOffByDefault(tree, parser):
    assert get(makeSite(static.File(str(tree)), parser), b"/sub/").status == 403


def test_directoryListingEscapesNames(tree, parser):
    site = makeSite(static.File(str(tree), listDirectories=True), parser)
    response = get(site, b"/sub/")
    assert response.status == 200
    assert b"<b>&" not in response.body
    assert b"&lt;b&gt;&amp;.txt" in response.body
    assert b'href="%3Cb%3E%26.txt"' in response.body
    assert b'href="a.txt"' in response.body


def test_directoryIndex(tree, parser):
    response = get(makeSite(static.File(str(tree)), parser), b"/indexed/")
    assert (response.status, response.body) == (200, b"the index")


def test_ignoredExts(tree, parser):
    site = makeSite(static.File(str(tree), ignoredExts=(".html",)), parser)
    assert get(site, b"/page").body == b"<p>page</p>"
    later = static.File(str(tree))
    later.ignoreExt(".txt")
    assert get(makeSite(later, parser), b"/hello").body == b"hello, world\n"
    assert get(makeSite(static.File(str(tree), allowExt=True), parser), b"/hello").status == 200


@pytest.mark.parametrize(
    "path",
    [
        b"/../secret.txt",
        b"/sub/../../secret.txt",
        b"/%2e%2e/secret.txt",
        b"/%2E%2E/secret.txt",
        b"/sub/%2e%2e%2f%2e%2e%2fsecret.txt",
        b"/..%2fsecret.txt",
        b"/..%5csecret.txt",
        b"/hello.txt%00.png",
        b"/%00",
        b"//etc/passwd",
        b"/%2fetc%2fpasswd",
        b"/out",
        b"/outdir/secret.txt",
        b"/fifo",
        b"/missing",
        b"/hello.txt/more",
    ],
)
def test_noWayOutOfTheRoot(tree, parser, path):
    response = get(makeSite(static.File(str(tree)), parser), path)
    assert response.status == 404
    assert b"secret" not in response.body


def test_symlinkInsideTheRootIsFollowed(tree, parser):
    response = get(makeSite(static.File(str(tree)), parser), b"/in")
    assert (response.status, response.body) == (200, b"hello, world\n")


def test_noSymlinksFollowedWhenSaid(tree, parser):
    site = makeSite(static.File(str(tree), followSymlinks=False), parser)
    assert get(site, b"/in").status == 404
    assert get(site, b"/hello.txt").status == 200


def test_everySymlinkFollowedWhenSaid(tree, parser):
    site = makeSite(static.File(str(tree), followSymlinks=True), parser)
    assert get(site, b"/out").body == b"secret"
    assert get(site, b"/../secret.txt").status == 404


def test_rootThroughASymlinkStillServes(tree, parser, tmp_path):
    (tmp_path / "link").symlink_to(tree)
    for follow in (False, "inside"):
        site = makeSite(static.File(str(tmp_path / "link"), followSymlinks=follow), parser)
        assert get(site, b"/hello.txt").status == 200


@pytest.mark.parametrize("follow", [False, "inside"])
def test_rootIsResolvedWhenFirstServed(tree, parser, tmp_path, follow):
    # What the root's path names is looked up at the first request, not
    # when the File is made: loomd makes it before --chroot, where the path
    # (one inside the jail) means something else.  Here the root is a
    # symlink re-pointed between the two.
    other = tmp_path / "other"
    other.mkdir()
    (other / "hello.txt").write_bytes(b"the other tree\n")
    (tmp_path / "current").symlink_to(other)
    site = makeSite(static.File(str(tmp_path / "current"), followSymlinks=follow), parser)
    os.unlink(tmp_path / "current")
    (tmp_path / "current").symlink_to(tree)
    response = get(site, b"/hello.txt")
    assert (response.status, response.body) == (200, b"hello, world\n")
    assert get(site, b"/out").status == 404  # still no way out, as resolved then


def test_mountedUnderAResource(tree, parser):
    root = resource.Resource()
    root.putChild(b"static", static.File(str(tree)))
    site = makeSite(root, parser)
    assert get(site, b"/static/hello.txt").body == b"hello, world\n"
    assert get(site, b"/static").header("Location") == "/static/"


@pytest.mark.parametrize("name", ["hello.txt", "big.bin"])
def test_gzipWrapperGetsTheWholeFileEncoded(tree, parser, name):
    # An encoder takes the length away: no range, and no sendfile beneath it.
    wrapped = resource.EncodingResourceWrapper(
        static.File(str(tree / name)), [GzipEncoderFactory()]
    )
    root = resource.Resource()
    root.putChild(b"z", wrapped)
    headers = b"Accept-Encoding: gzip\r\nRange: bytes=0-1\r\n"
    response = get(makeSite(root, parser), b"/z", headers)
    assert (response.status, response.header("Content-Encoding")) == (200, "gzip")
    assert gzip.decompress(response.body) == (tree / name).read_bytes()


def test_data(parser):
    root = resource.Resource()
    root.putChild(b"data", static.Data(b"some data", "text/plain"))
    site = makeSite(root, parser)
    response = get(site, b"/data")
    assert (response.body, response.header("Content-Type")) == (b"some data", "text/plain")
    head = get(site, b"/data", method=b"HEAD")
    assert (head.body, head.header("Content-Length")) == (b"", "9")


def test_getTypeAndEncoding():
    types, encodings = static.loadMimeTypes(), static.File.contentEncodings
    assert static.getTypeAndEncoding("a.tar.gz", types, encodings, "x/y") == (
        "application/x-tar",
        "gzip",
    )
    assert static.getTypeAndEncoding("a.unknownext", types, encodings, "x/y") == ("x/y", None)
    assert static.getTypeAndEncoding("a.PNG", types, encodings, None) == ("image/png", None)


def test_parseRange():
    assert static.parseRange(b"bytes=0-9,-5,95-", 100) == [(0, 10), (95, 5), (95, 5)]
    assert static.parseRange(b"bytes=100-", 100) == []
    assert static.parseRange(b"bytes=-0", 100) == []
    assert static.parseRange(b"bytes=-200", 100) == [(0, 100)]
    assert static.parseRange(b"bytes=1-2-3", 100) is None


def test_isDangerous():
    for segment in (b".", b"..", b"a/b", b"a\\b", b"a\x00"):
        assert static.isDangerous(segment)
    assert not static.isDangerous(b"..a")


def test_redirect(parser):
    root = resource.Resource()
    root.putChild(b"old", static.Redirect(b"/new?<x>"))
    response = get(makeSite(root, parser), b"/old/anything")
    assert (response.status, response.header("Location")) == (302, "/new?<x>")
    assert b"&lt;x&gt;" in response.body


def test_formatFileSize():
    assert [static.formatFileSize(n) for n in (10, 4096, 5 << 20, 3 << 30)] == [
        "10B",
        "4K",
        "5M",
        "3G",
    ]


def test_addSlash(parser):
    class Slashed(resource.Resource):
        isLeaf = True

        def render_GET(self, request):
            return static.addSlash(request)

    root = resource.Resource()
    root.putChild(b"dir", Slashed())
    assert get(makeSite(root, parser), b"/dir?q=1").body == b"http://example.com:12345/dir/?q=1"


class Custom(static.File):
    childNotFound = static.Data(b"no such page", "text/plain")
    forbidden = static.Data(b"keep out", "text/plain")


def test_childNotFoundAndForbiddenCanBeReplaced(tree, parser):
    # As in Twisted: a subclass's own pages (200 here, from static.Data).
    site = makeSite(Custom(str(tree)), parser)
    for path in (b"/missing.txt", b"/out", b"/fifo"):
        assert get(site, path).body == b"no such page"
    assert get(site, b"/sub/").body == b"keep out"
    plain = makeSite(static.File(str(tree)), parser)
    assert [get(plain, path).status for path in (b"/missing.txt", b"/sub/")] == [404, 403]


def test_directoryListingLinesFollowLinePattern(tree, parser):
    class Lister(static.DirectoryLister):
        linePattern = "[%(class)s %(href)s %(text)s %(size)s]"

    class Listed(static.File):
        def directoryListing(self):
            return Lister(self.path)

    response = get(makeSite(Listed(str(tree), listDirectories=True), parser), b"/sub/")
    assert b"[odd %3Cb%3E%26.txt &lt;b&gt;&amp;.txt 1B]\n[even a.txt a.txt 1B]" in response.body
