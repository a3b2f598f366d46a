"""App for the hardening suite (test_hardening.py), routed by PATH_INFO.

/hello            fixed 14-byte body with Content-Length
/pid              the worker pid as text
/echo             reads wsgi.input in 64 KiB pieces; answers {"len": N}
/stream?size=N    generator of 64 KiB blocks (no Content-Length), N bytes in all
anything else     same as /hello
"""
import json
import os
import urllib.parse

HELLO = b"Hello, World!\n"
BLOCK = b"x" * 65536


def _hello(start_response):
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(HELLO)))])
    return [HELLO]


def _echo(environ, start_response):
    inp = environ["wsgi.input"]
    total = 0
    # bounded: at most 64 Ki pieces of 64 KiB (4 GiB)
    for _ in range(1 << 16):
        piece = inp.read(65536)
        if not piece:
            break
        total += len(piece)
    body = json.dumps({"len": total}).encode()
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


def _stream(environ, start_response):
    qs = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    size = int(qs.get("size", [str(64 << 20)])[0])
    start_response("200 OK", [("Content-Type", "application/octet-stream")])

    def gen():
        left = size
        while left > 0:
            b = BLOCK if left >= len(BLOCK) else BLOCK[:left]
            left -= len(b)
            yield b
    return gen()


def app(environ, start_response):
    path = environ.get("PATH_INFO", "/")
    if path == "/echo":
        return _echo(environ, start_response)
    if path == "/stream":
        return _stream(environ, start_response)
    if path == "/pid":
        body = str(os.getpid()).encode()
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    return _hello(start_response)


application = app
