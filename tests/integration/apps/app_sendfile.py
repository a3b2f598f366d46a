"""Serves a file through environ['wsgi.file_wrapper'] (test_sendfile.py).

Query: path=FILE (required), kind=buffered|raw|bytesio|nofileno|badfileno|
gzip|upper (how the file is wrapped; default buffered: open(path, "rb")),
seek=N (position the file at N first), read=N (then read N bytes: a
buffered file reads ahead on its fd), cl=N (send Content-Length: N; "size"
for the bytes after the position), write=1 (write() a prefix first),
blksize=N.
"""
import gzip
import io
import os
import urllib.parse


class NoFileno:
    """A file-like object with read() and close() only."""

    def __init__(self, f):
        self.f = f

    def read(self, n=-1):
        return self.f.read(n)

    def close(self):
        self.f.close()


class BadFileno(NoFileno):
    """fileno() raises, as for a socket-less stream."""

    def fileno(self):
        raise io.UnsupportedOperation("fileno")


class Upper(io.FileIO):
    """A FileIO subclass whose read() changes the bytes: must be iterated."""

    def read(self, n=-1):
        return super().read(n).upper()


def _open(kind, path):
    if kind == "raw":
        return open(path, "rb", buffering=0)
    if kind == "bytesio":
        with open(path, "rb") as f:
            return io.BytesIO(f.read())
    if kind == "nofileno":
        return NoFileno(open(path, "rb"))
    if kind == "badfileno":
        return BadFileno(open(path, "rb"))
    if kind == "gzip":
        return gzip.open(path, "rb")
    if kind == "upper":
        return Upper(path, "rb")
    return open(path, "rb")


def app(environ, start_response):
    q = {k: v[0] for k, v in urllib.parse.parse_qs(environ["QUERY_STRING"]).items()}
    f = _open(q.get("kind", "buffered"), q["path"])
    if "seek" in q:
        f.seek(int(q["seek"]))
    if "read" in q:
        f.read(int(q["read"]))
    headers = [("Content-Type", "application/octet-stream")]
    cl = q.get("cl")
    if cl == "size":
        cl = str(os.path.getsize(q["path"]) - f.tell())
    if cl is not None:
        headers.append(("Content-Length", cl))
    write = start_response("200 OK", headers)
    if q.get("write"):
        write(b"prefix:")
    return environ["wsgi.file_wrapper"](f, int(q.get("blksize", 8192)))
