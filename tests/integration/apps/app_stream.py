"""Response shapes: streaming generator, single-element list, write() callable,
file_wrapper, HEAD/204/304 responders."""
import os
import time
import urllib.parse


def _qs(environ):
    return {k: v[0] for k, v in urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).items()}


def stream(environ, start_response):
    """?n=chunks&size=bytes&delay=s -- generator, no Content-Length."""
    q = _qs(environ)
    n, size, delay = int(q.get("n", 5)), int(q.get("size", 10)), float(q.get("delay", 0))
    start_response("200 OK", [("Content-Type", "text/plain")])

    def gen():
        for i in range(n):
            yield (b"%d" % (i % 10)) * size
            if delay:
                time.sleep(delay)
    return gen()


def single(environ, start_response):
    """single-element list without Content-Length"""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"exactly one element"]


def multi_list(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"a", b"bb", b"ccc"]


def write_app(environ, start_response):
    write = start_response("200 OK", [("Content-Type", "text/plain")])
    write(b"from-write;")
    write(b"again;")
    return [b"from-iterable"]


def file_wrapper(environ, start_response):
    path = os.path.abspath(__file__)
    f = open(path, "rb")
    size = os.path.getsize(path)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(size))])
    return environ["wsgi.file_wrapper"](f, 4096)


def file_wrapper_nolen(environ, start_response):
    f = open(os.path.abspath(__file__), "rb")
    start_response("200 OK", [("Content-Type", "text/plain")])
    return environ["wsgi.file_wrapper"](f, 1000)


def status(environ, start_response):
    """?code=204|304|200 ; body always offered by the app (server must drop it for 204/304/HEAD)"""
    q = _qs(environ)
    code = int(q.get("code", 200))
    reasons = {200: "OK", 204: "No Content", 304: "Not Modified", 201: "Created"}
    hdrs = [("Content-Type", "text/plain"), ("X-Method", environ["REQUEST_METHOD"])]
    body = b"" if code in (204, 304) else b"body for status %d\n" % code
    if q.get("cl") == "1" or code not in (204, 304):
        hdrs.append(("Content-Length", str(len(body))))
    start_response("%d %s" % (code, reasons.get(code, "Whatever")), hdrs)
    return [body]


def head_stream(environ, start_response):
    """Streaming body; used for HEAD without Content-Length."""
    start_response("200 OK", [("Content-Type", "text/plain")])
    return iter([b"chunk1", b"chunk2"])


def big(environ, start_response):
    """?size=N bytes, with Content-Length."""
    size = int(_qs(environ).get("size", 1 << 20))
    start_response("200 OK", [("Content-Type", "application/octet-stream"),
                              ("Content-Length", str(size))])
    block = b"x" * 65536

    def gen():
        left = size
        while left > 0:
            b = block[:min(left, len(block))]
            left -= len(b)
            yield b
    return gen()
