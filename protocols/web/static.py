"""
Static files: ``File`` serves a directory tree (or one file), ``Data``
serves bytes held in memory, as twisted.web.static has them.

The one idea: a request can never get out of the root.  Each path segment
is checked as it is walked (``..``, ``.``, a slash or backslash, a NUL:
404; the segments arrive %-decoded, so ``%2e%2e`` and ``%2f`` are caught
too), and the file finally opened is the ``os.path.realpath`` of the path,
which must still lie under the root's; symlinks are followed only as
``followSymlinks`` says (by default, when they lead to somewhere inside
the root), and the last component is opened with ``O_NOFOLLOW``.

Per request a file costs one ``realpath``, one ``open`` and one ``fstat``;
nothing is cached.  Small files are read whole and answered as bytes;
larger ones (and ranges of them) are streamed by a pull producer, which the
connection asks for more each time its buffer has drained: with
``os.sendfile`` straight from the file to the socket when the connection is
plain TCP or UNIX, by reads elsewhere (TLS, tests' in-memory transports, a
response being gzip-encoded).

On TCP, a sendfile transfer keeps at most ``File.sendfileUnsentLimit``
bytes (128 KiB) waiting unsent in the kernel (TCP_NOTSENT_LOWAT, Linux):
without it sendfile fills the socket's whole send buffer (up to 4 MiB by
default), kernel memory for each download that the peer has not even been
sent yet, and on loopback the peer's own ACKs then do the sending, on the
peer's CPU.
"""

from __future__ import annotations

import errno
import html
import math
import mimetypes
import os
import stat
import time
from typing import Any
from urllib.parse import quote

from zope.interface import implementer

from protocols.web import resource, server
from protocols.web._dates import stringToDatetime
from protocols.web._responses import (
    MOVED_PERMANENTLY,
    PARTIAL_CONTENT,
    REQUESTED_RANGE_NOT_SATISFIABLE,
)
from protocols.web.http import CACHED
from reactor.interfaces import IPullProducer, ISSLTransport
from reactor.stream import StreamTransport

__all__ = [
    "Data",
    "File",
    "DirectoryLister",
    "getTypeAndEncoding",
    "loadMimeTypes",
    "StaticProducer",
    "NoRangeStaticProducer",
    "SingleRangeStaticProducer",
    "MultipleRangeStaticProducer",
    "dangerousPathError",
    "parseRange",
    "addSlash",
    "formatFileSize",
    "isDangerous",
    "Redirect",
]

dangerousPathError = resource.NoResource("Invalid request URL.")

_READ_WHOLE = 1 << 16  # files up to this size are read and answered as bytes
_CHUNK = 1 << 18  # the read path's piece (the sendfile path takes what the socket takes)
_MAX_RANGES = 32  # more ranges than this in one request: answered whole (RFC 9110 allows it)
_OPEN_FLAGS = os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_CLOEXEC
_sendfile = os.sendfile  # tests wrap it to see it used


def loadMimeTypes(mimetype_locations: Any = None, init: Any = mimetypes.init) -> dict[str, str]:
    """
    Return {extension: content type} from the system's mime.types files (or
    those listed) and mimetypes' own table, with a few additions.

    :param mimetype_locations: files to read instead of the system's.
    :param init: mimetypes.init, or what stands for it in a test.
    """
    init(mimetype_locations)
    contentTypes = dict(mimetypes.types_map)
    contentTypes.update(
        {
            ".conf": "text/plain",
            ".diff": "text/plain",
            ".flac": "audio/x-flac",
            ".java": "text/plain",
            ".oz": "text/x-oz",
            ".py": "text/plain",
            ".txt": "text/plain",
            ".webp": "image/webp",
        }
    )
    return contentTypes


def getTypeAndEncoding(
    filename: str,
    types: dict[str, str],
    encodings: dict[str, str],
    defaultType: str | None,
) -> tuple[str | None, str | None]:
    """
    Return (content type, content encoding) of filename from its extensions:
    ``a.tar.gz`` is (``application/x-tar``, ``gzip``).
    """
    stem, ext = os.path.splitext(filename)
    ext = ext.lower()
    encoding = encodings.get(ext)
    if encoding is not None:
        ext = os.path.splitext(stem)[1].lower()
    return types.get(ext, defaultType), encoding


class Data(resource.Resource):
    """
    A resource answering GET and HEAD with bytes held in memory.

    :param data: the body; :param type: its content type (str).
    """

    def __init__(self, data: bytes, type: str) -> None:
        resource.Resource.__init__(self)
        self.data = data
        self.type = type

    def render_GET(self, request: Any) -> bytes:
        """Answer with the data and its type."""
        request.setHeader(b"Content-Type", self.type.encode("ascii"))
        request.setHeader(b"Content-Length", b"%d" % (len(self.data),))
        if request.method == b"HEAD":
            return b""
        return self.data

    render_HEAD = render_GET


def isDangerous(path: bytes) -> bool:
    """
    Return whether path (one %-decoded segment) could name something other
    than an entry of its directory: ``.``, ``..``, or a slash, backslash or
    NUL in it.
    """
    return path in (b".", b"..") or b"/" in path or b"\\" in path or b"\x00" in path


def addSlash(request: Any) -> bytes:
    """Return the URL of request with a ``/`` added to its path (the query kept)."""
    url = request.prePathURL()
    query = request.uri.find(b"?")
    return url + b"/" + (request.uri[query:] if query >= 0 else b"")


class Redirect(resource.Resource):
    """A leaf answering every request with a 302 to url (bytes)."""

    isLeaf = True

    def __init__(self, url: bytes) -> None:
        resource.Resource.__init__(self)
        self.url = url

    def render(self, request: Any) -> bytes:
        """Redirect, with a short page linking to the URL."""
        request.redirect(self.url)
        request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
        link = html.escape(self.url.decode("latin-1"), quote=True).encode("latin-1")
        return b'<html><body><a href="%s">click here</a></body></html>' % (link,)


class File(resource.Resource):
    """
    A file or a directory tree, served.

    A directory answers a path ending in ``/`` with its index file (one of
    ``indexNames``), else with a listing if ``listDirectories`` is true,
    else 403; without the ``/`` it redirects (301) to it.

    :param path: the file or directory (str or bytes).
    :param defaultType: the content type of files whose extension is unknown.
    :param ignoredExts: extensions tried when a name is not found
        (``(".html",)`` serves ``/about`` from about.html).
    :param registry: accepted for Twisted's signature, unused.
    :param allowExt: Twisted's older spelling of ignoredExts: true means
        every extension in contentTypes.
    :param listDirectories: list directories without an index (off by default).
    :param followSymlinks: ``"inside"`` (the default): a symlink is followed
        when where it leads is inside the root; ``True`` follows every
        symlink (the root is then only the tree of names); ``False``
        follows none: a path through a symlink is 404.

    :cvar childNotFound: the resource rendered for a file that is not there
        or may not be reached (outside the root, not a regular file): the
        same 404 for all, as in Twisted.
    :cvar forbidden: the resource rendered for a directory without an
        index when listing is off (403).
    :cvar sendfileUnsentLimit: the most bytes of a sendfile transfer left
        waiting unsent in the kernel on a TCP connection (TCP_NOTSENT_LOWAT;
        see the module docstring), or None for the system's setting.  Set
        on an instance, its children have it too.
    """

    childNotFound: Any = resource.NoResource("File not found.")
    sendfileUnsentLimit: int | None = 128 * 1024
    forbidden: Any = resource.ForbiddenResource("Directory listing is not allowed.")
    contentTypes = loadMimeTypes()
    contentEncodings = {".gz": "gzip", ".bz2": "bzip2"}
    indexNames = ["index", "index.html", "index.htm"]
    type: str | None = None
    encoding: str | None = None

    def __init__(
        self,
        path: str | bytes,
        defaultType: str = "text/html",
        ignoredExts: Any = (),
        registry: Any = None,
        allowExt: Any = 0,
        *,
        listDirectories: bool = False,
        followSymlinks: bool | str = "inside",
    ) -> None:
        resource.Resource.__init__(self)
        self.path = os.path.abspath(os.fsdecode(path))
        self.defaultType = defaultType
        if ignoredExts in (0, 1) or allowExt:
            ignoredExts = ["*"] if (ignoredExts or allowExt) else []
        self.ignoredExts = list(ignoredExts)
        self.registry = registry
        if followSymlinks not in (True, False, "inside"):
            raise ValueError(
                "followSymlinks is True, False or 'inside', not %r" % (followSymlinks,)
            )
        self.listDirectories = listDirectories
        self.followSymlinks = followSymlinks
        self._rootPath = self.path
        # The root's real path is found when the first request needs it, not
        # here: a File made before loomd's --chroot names a path inside the
        # jail, which only means that once there (test_rootIsResolvedWhenFirstServed).
        self._root: str | None = None

    def ignoreExt(self, ext: str) -> None:
        """Add ext to the extensions tried when a name is not found."""
        self.ignoredExts.append(ext)

    def createSimilarFile(self, path: str) -> File:
        """Return a File for path (a child) with this one's settings and root."""
        if self._root is None:
            self._realRoot()  # once, for this File and every child made from it
        child = File.__new__(type(self))
        resource.Resource.__init__(child)
        child.__dict__.update(
            {name: value for name, value in self.__dict__.items() if name != "children"}
        )
        child.path = path
        return child

    def getChild(self, path: bytes, request: Any) -> Any:
        """
        Return the File for the entry path of this directory, or a 404 for
        a segment that would leave it.
        """
        if isDangerous(path):
            return dangerousPathError
        if path == b"":
            if request.postpath:
                # An empty segment inside the path (//): no such entry.
                return dangerousPathError
            return self
        return self.createSimilarFile(os.path.join(self.path, os.fsdecode(path)))

    def _realRoot(self) -> str:
        # The root's real path, found the first time it is needed.
        root = self._root
        if root is None:
            root = self._root = os.path.realpath(self._rootPath)
        return root

    def _resolve(self, path: str) -> str | None:
        # The real path to open, or None if it is outside the root or goes
        # through a symlink it may not.
        real = os.path.realpath(path)
        follow = self.followSymlinks
        if follow is True:
            return real
        root = self._root if self._root is not None else self._realRoot()
        if follow is False:
            # No symlink below the root: the real path is the root's plus the names.
            return real if real == root + path[len(self._rootPath) :] else None
        if real == root or real.startswith(root + os.sep) or root == os.sep:
            return real
        return None

    def _open(self) -> tuple[int, os.stat_result, str] | None:
        # Open this file (or one with an ignored extension): (fd, stat, name).
        candidates = [self.path]
        if self.ignoredExts:
            candidates += self._extended()
        for candidate in candidates:
            real = self._resolve(candidate)
            if real is None:
                return None
            try:
                fd = os.open(real, _OPEN_FLAGS)
            except OSError as error:
                if error.errno in (errno.ENOENT, errno.ENOTDIR) and candidate is not candidates[-1]:
                    continue
                return None
            return fd, os.fstat(fd), candidate
        return None

    def _extended(self) -> list[str]:
        # The names tried for ignoredExts.
        if "*" not in self.ignoredExts:
            return [self.path + ext for ext in self.ignoredExts]
        directory, base = os.path.split(self.path)
        try:
            names = sorted(os.listdir(directory))
        except OSError:
            return []
        return [os.path.join(directory, name) for name in names if name.startswith(base + ".")]

    def render_GET(self, request: Any) -> Any:
        """Answer with the file, the directory's index or listing, or 404."""
        opened = self._open()
        if opened is None:
            return self.childNotFound.render(request)
        fd, info, name = opened
        if stat.S_ISDIR(info.st_mode):
            os.close(fd)
            return self._renderDirectory(request)
        if not stat.S_ISREG(info.st_mode):
            os.close(fd)
            return self.childNotFound.render(request)
        return self._renderFile(request, fd, info, name)

    render_HEAD = render_GET

    def _renderDirectory(self, request: Any) -> Any:
        if not request.path.endswith(b"/"):
            location = request.path + b"/"
            if location.startswith(b"//"):
                location = b"/" + location.lstrip(b"/")
            query = request.uri.find(b"?")
            if query >= 0:
                location += request.uri[query:]
            request.setResponseCode(MOVED_PERMANENTLY)
            request.setHeader(b"Location", location)
            request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
            body = b'<html><body><a href="%s">moved here</a></body></html>' % (
                html.escape(location.decode("latin-1"), quote=True).encode("latin-1"),
            )
            return body
        for indexName in self.indexNames:
            index = self.createSimilarFile(os.path.join(self.path, indexName))
            opened = index._open()
            if opened is not None:
                fd, info, name = opened
                if stat.S_ISREG(info.st_mode):
                    return index._renderFile(request, fd, info, name)
                os.close(fd)
        if not self.listDirectories:
            return self.forbidden.render(request)
        return self.directoryListing().render(request)

    def directoryListing(self) -> DirectoryLister:
        """Return the DirectoryLister for this directory."""
        return DirectoryLister(
            self.path,
            contentEncodings=self.contentEncodings,
            contentTypes=self.contentTypes,
            defaultType=self.defaultType,
        )

    def _renderFile(self, request: Any, fd: int, info: os.stat_result, name: str) -> Any:
        try:
            return self._answerFile(request, fd, info, name)
        except BaseException:
            os.close(fd)
            raise

    def _answerFile(self, request: Any, fd: int, info: os.stat_result, name: str) -> Any:
        size = info.st_size
        headers = request.responseHeaders
        encoded = headers.hasHeader(b"Content-Encoding")  # gzip wrapper: no ranges, no sendfile
        contentType, encoding = getTypeAndEncoding(
            os.path.basename(name), self.contentTypes, self.contentEncodings, self.defaultType
        )
        if contentType is not None:
            headers.setRawHeaders(b"Content-Type", [contentType.encode("ascii")])
        if encoding is not None and not encoded:
            headers.setRawHeaders(b"Content-Encoding", [encoding.encode("ascii")])
        etag = b'"%x-%x-%x"' % (info.st_ino, size, info.st_mtime_ns)
        if _notModified(request, etag, info.st_mtime):
            os.close(fd)
            request.finish()  # a 304 has neither body nor Content-Length
            return server.NOT_DONE_YET
        headers.setRawHeaders(b"Accept-Ranges", [b"bytes"])
        ranges = None
        rangeHeader = request.getHeader(b"Range")
        if rangeHeader is not None and not encoded and _ifRangeHolds(request, etag, info.st_mtime):
            ranges = parseRange(rangeHeader, size)
            if ranges == []:
                os.close(fd)
                request.setResponseCode(REQUESTED_RANGE_NOT_SATISFIABLE)
                headers.setRawHeaders(b"Content-Range", [b"bytes */%d" % (size,)])
                headers.removeHeader(b"Content-Encoding")
                headers.setRawHeaders(b"Content-Type", [b"text/plain; charset=utf-8"])
                return b"416 Range Not Satisfiable\n"
        fileObject = os.fdopen(fd, "rb", buffering=0)
        if ranges is None:
            producer: StaticProducer = NoRangeStaticProducer(request, fileObject, size)
        elif len(ranges) == 1:
            offset, length = ranges[0]
            producer = SingleRangeStaticProducer(request, fileObject, offset, length, size)
        else:
            producer = MultipleRangeStaticProducer(
                request, fileObject, ranges, size, headers.getRawHeaders(b"Content-Type", [b""])[0]
            )
        if request.method == b"HEAD":
            fileObject.close()
            request.write(b"")
            request.finish()
            return server.NOT_DONE_YET
        if producer.length <= _READ_WHOLE and not producer.multipart:
            return producer.readWhole()
        producer.sendfileUnsentLimit = self.sendfileUnsentLimit
        producer.start()
        return server.NOT_DONE_YET


def _notModified(request: Any, etag: bytes, mtime: float) -> bool:
    # Set ETag and Last-Modified; True (the code is 304) if the client's
    # copy is current.  If-None-Match, when sent, decides alone (RFC 9110).
    if request.getHeader(b"If-None-Match") is not None:
        request.lastModified = math.ceil(mtime)
        return request.setETag(etag) is CACHED
    request.etag = etag
    return request.setLastModified(mtime) is CACHED


def _ifRangeHolds(request: Any, etag: bytes, mtime: float) -> bool:
    # Whether a Range applies: no If-Range, or one naming this version.
    ifRange = request.getHeader(b"If-Range")
    if ifRange is None:
        return True
    ifRange = ifRange.strip()
    if ifRange.startswith(b'"'):
        return ifRange == etag
    try:
        return stringToDatetime(ifRange) == math.ceil(mtime)
    except ValueError:
        return False


def parseRange(header: bytes, size: int) -> list[tuple[int, int]] | None:
    """
    Return the (offset, length) ranges a Range header asks of size bytes:
    None when the header is to be ignored (not bytes, malformed, or more
    than 32 ranges: the whole file is answered), [] when none can be
    satisfied (416).
    """
    unit, _, spec = header.partition(b"=")
    if unit.strip().lower() != b"bytes" or not spec:
        return None
    parts = spec.split(b",")
    if len(parts) > _MAX_RANGES:
        return None
    ranges = []
    for part in parts:
        first, dash, last = part.strip().partition(b"-")
        if not dash or not (first.isdigit() or last.isdigit()):
            return None
        if first and not first.isdigit() or last and not last.isdigit():
            return None
        if not first:
            length = min(int(last), size)
            if length:
                ranges.append((size - length, length))
            continue
        start = int(first)
        end = int(last) if last else size - 1
        if last and end < start:
            return None
        if start < size:
            ranges.append((start, min(end, size - 1) - start + 1))
    return ranges


def _limitUnsent(transport: Any, limit: int) -> None:
    # At most limit bytes wait unsent in the kernel: a TCP transport's
    # option (a UNIX one has none, and keeps its way).
    setLimit = getattr(transport, "setTcpNotSentLowat", None)
    if setLimit is None or transport.fileno() < 0:  # (-1: the connection is closed)
        return
    try:
        setLimit(limit)
    except OSError:
        pass  # a system without the option


@implementer(IPullProducer)
class StaticProducer:
    """
    Writes parts of an open file as a request's response body, a piece
    each time the connection asks (a pull producer), then finishes it.

    :ivar length: the body's length in bytes; :ivar multipart: whether it
        is a multipart/byteranges body.
    """

    multipart = False
    #: On TCP, the most bytes left unsent in the kernel by sendfile (None:
    #: the system's setting); File sets its own.
    sendfileUnsentLimit: int | None = None

    def __init__(self, request: Any, fileObject: Any) -> None:
        self.request = request
        self.fileObject = fileObject
        # [(bytes written before, offset, length)], and bytes written after.
        self._pieces: list[tuple[bytes, int, int]] = []
        self._tail = b""
        self.length = 0

    def _setPieces(self, pieces: list[tuple[bytes, int, int]], tail: bytes = b"") -> None:
        self._pieces = pieces
        self._tail = tail
        self.length = sum(len(before) + length for before, _, length in pieces) + len(tail)
        self.request.setHeader(b"Content-Length", b"%d" % (self.length,))

    def readWhole(self) -> bytes:
        """Read the whole (small) body now, close the file and return it."""
        fd = self.fileObject.fileno()
        try:
            parts = [
                before + os.pread(fd, length, offset) for before, offset, length in self._pieces
            ]
        finally:
            self.fileObject.close()
        body = b"".join(parts) + self._tail
        if len(body) != self.length:
            self.request.setHeader(b"Content-Length", b"%d" % (len(body),))
        return body

    def start(self) -> None:
        """Register with the request; the connection pulls the body from here."""
        request = self.request
        request.write(b"")  # the head, now: the sendfile path writes beneath the request
        transport = getattr(request.channel, "transport", None)
        self._socket = None
        if (
            isinstance(transport, StreamTransport)
            and not ISSLTransport.providedBy(transport)
            and not self.multipart
            # An encoder (gzip) took the length away: the bytes must go through it.
            and request.responseHeaders.getRawHeaders(b"Content-Length") == [b"%d" % self.length]
        ):
            self._socket = transport
            if self.sendfileUnsentLimit is not None:
                _limitUnsent(transport, self.sendfileUnsentLimit)
        self._pieces.reverse()  # taken from the end
        request.registerProducer(self, False)

    def resumeProducing(self) -> None:
        """Write the next piece of the body, or finish the response."""
        request = self.request
        if request is None:
            return
        pieces = self._pieces
        if not pieces:
            self._finish()
            return
        before, offset, length = pieces[-1]
        if before:
            pieces[-1] = (b"", offset, length)
            request.write(before)
            return
        fd = self.fileObject.fileno()
        transport = self._socket
        try:
            if transport is not None:
                if transport.getBufferSize():
                    return  # the head is still buffered: we are asked again once it drains
                sent = _sendfile(transport.fileno(), fd, offset, length)
                if sent:
                    request.sentLength += sent
            else:
                data = os.pread(fd, min(length, _CHUNK), offset)
                sent = len(data)
                if sent:
                    request.write(data)
        except BlockingIOError:
            return
        except OSError:
            sent = 0
        if not sent:
            # The file shrank, or the socket failed: the response cannot be
            # completed; only closing the connection says so.  Unregistered
            # first: a transport closes once no producer is left to pull
            # from, and would otherwise pull from this one, which writes
            # nothing more, at every turn for ever (a busy loop).
            self.stopProducing()
            request.unregisterProducer()
            request.loseConnection()
            return
        if sent == length:
            pieces.pop()
        else:
            pieces[-1] = (b"", offset + sent, length - sent)

    def _finish(self) -> None:
        request, self.request = self.request, None
        self.fileObject.close()
        if self._tail:
            request.write(self._tail)
        request.unregisterProducer()
        request.finish()

    def stopProducing(self) -> None:
        """The connection is gone: close the file."""
        self.request = None
        self.fileObject.close()

    def pauseProducing(self) -> None:
        """Nothing to do for a pull producer."""


class NoRangeStaticProducer(StaticProducer):
    """Writes a whole file."""

    def __init__(self, request: Any, fileObject: Any, size: int | None = None) -> None:
        StaticProducer.__init__(self, request, fileObject)
        if size is None:
            size = os.fstat(fileObject.fileno()).st_size
        self._setPieces([(b"", 0, size)])


class SingleRangeStaticProducer(StaticProducer):
    """Writes one range of a file (206, with its Content-Range)."""

    def __init__(
        self, request: Any, fileObject: Any, offset: int, size: int, total: int | None = None
    ) -> None:
        StaticProducer.__init__(self, request, fileObject)
        if total is None:
            total = os.fstat(fileObject.fileno()).st_size
        request.setResponseCode(PARTIAL_CONTENT)
        request.setHeader(b"Content-Range", b"bytes %d-%d/%d" % (offset, offset + size - 1, total))
        self._setPieces([(b"", offset, size)])


class MultipleRangeStaticProducer(StaticProducer):
    """Writes several ranges of a file as a multipart/byteranges body (206)."""

    multipart = True

    def __init__(
        self,
        request: Any,
        fileObject: Any,
        rangeInfo: list[tuple[int, int]],
        total: int | None = None,
        contentType: bytes = b"",
    ) -> None:
        StaticProducer.__init__(self, request, fileObject)
        if total is None:
            total = os.fstat(fileObject.fileno()).st_size
        boundary = b"%x%x" % (int(time.time() * 1000000), os.getpid())
        request.setResponseCode(PARTIAL_CONTENT)
        request.setHeader(b"Content-Type", b"multipart/byteranges; boundary=" + boundary)
        request.responseHeaders.removeHeader(b"Content-Encoding")
        typeLine = b"Content-Type: %s\r\n" % (contentType,) if contentType else b""
        pieces = []
        for offset, length in rangeInfo:
            before = b"\r\n--%s\r\n%sContent-Range: bytes %d-%d/%d\r\n\r\n" % (
                boundary,
                typeLine,
                offset,
                offset + length - 1,
                total,
            )
            pieces.append((before, offset, length))
        self._setPieces(pieces, b"\r\n--%s--\r\n" % (boundary,))


class DirectoryLister(resource.Resource):
    """
    An HTML listing of a directory: each entry's name (a link), size, type
    and encoding; names are escaped.

    :param pathname: the directory.
    :cvar linePattern: the HTML of one entry, with Twisted's keys: ``class``
        (``odd`` or ``even``), ``href``, ``text``, ``size``, ``type`` and
        ``encoding``, each escaped already.
    """

    linePattern = """<tr class="%(class)s">
<td><a href="%(href)s">%(text)s</a></td><td>%(size)s</td><td>%(type)s</td><td>%(encoding)s</td>
</tr>"""

    template = """<!DOCTYPE html>
<html>
<head><meta charset="utf-8"><title>%(header)s</title></head>
<body>
<h1>%(header)s</h1>
<table>
<thead><tr><th>Filename</th><th>Size</th><th>Content type</th><th>Content encoding</th></tr></thead>
<tbody>
%(rows)s
</tbody>
</table>
</body>
</html>
"""

    def __init__(
        self,
        pathname: str,
        dirs: list[str] | None = None,
        contentEncodings: dict[str, str] | None = None,
        contentTypes: dict[str, str] | None = None,
        defaultType: str = "text/html",
    ) -> None:
        resource.Resource.__init__(self)
        self.path = pathname
        self.dirs = dirs
        self.contentEncodings = contentEncodings or File.contentEncodings
        self.contentTypes = contentTypes or File.contentTypes
        self.defaultType = defaultType

    def _entries(self) -> list[tuple[str, str, str, str, str]]:
        # (link, name, size, type, encoding) of each entry, directories first.
        names = self.dirs if self.dirs is not None else sorted(os.listdir(self.path))
        directories, files = [], []
        for name in names:
            try:
                info = os.stat(os.path.join(self.path, name))
            except OSError:
                continue
            link = quote(os.fsencode(name), safe="")
            if stat.S_ISDIR(info.st_mode):
                directories.append((link + "/", name + "/", "", "[Directory]", ""))
            else:
                kind, encoding = getTypeAndEncoding(
                    name, self.contentTypes, self.contentEncodings, self.defaultType
                )
                files.append((link, name, formatFileSize(info.st_size), kind or "", encoding or ""))
        return directories + files

    def render(self, request: Any) -> bytes:
        """Return the listing page."""
        rows = []
        for index, entry in enumerate(self._entries()):
            parts = dict(zip(("href", "text", "size", "type", "encoding"), entry, strict=True))
            row = {key: html.escape(part, quote=True) for key, part in parts.items()}
            row["class"] = "even" if index % 2 else "odd"
            rows.append(self.linePattern % row)
        path = request.path.decode("latin-1") if request is not None else self.path
        header = html.escape("Directory listing for %s" % (path,))
        request.setHeader(b"Content-Type", b"text/html; charset=utf-8")
        page = self.template % {"header": header, "rows": "\n".join(rows)}
        return page.encode("utf-8", "surrogateescape")

    def __repr__(self) -> str:
        return "<DirectoryLister of %r>" % (self.path,)


def formatFileSize(size: int) -> str:
    """Return size (bytes) for people: ``512B``, ``3K``, ``12M``, ``2G``."""
    for unit in ("B", "K", "M"):
        if size < 1024:
            return "%d%s" % (size, unit)
        size //= 1024
    return "%dG" % (size,)
