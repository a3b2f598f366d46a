"""Misbehaving apps and error paths."""
import os
import sys
import time
import urllib.parse


def _qs(environ):
    return {k: v[0] for k, v in urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).items()}


def raise_before(environ, start_response):
    raise RuntimeError("boom-before-start-response")


def raise_after(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])

    def gen():
        yield b"first chunk;"
        time.sleep(0.05)
        raise RuntimeError("boom-after-first-chunk")
    return gen()


def raise_after_cl(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "100")])

    def gen():
        yield b"first chunk;"
        raise RuntimeError("boom-after-first-chunk-cl")
    return gen()


def bad_status(environ, start_response):
    start_response("abc", [("Content-Type", "text/plain")])
    return [b"should not be sent"]


def crlf_header(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("X-Evil", "ok\r\nInjected: yes")])
    return [b"should not be sent"]


def crlf_header_name(environ, start_response):
    start_response("200 OK", [("X-Evil\r\nInjected", "yes")])
    return [b"should not be sent"]


def hop_header(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain"), ("Connection", "x")])
    return [b"should not be sent"]


def double_start(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    start_response("201 Created", [("Content-Type", "text/plain")])
    return [b"should not be sent"]


def exc_info_restart(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    try:
        raise ValueError("replace the status")
    except ValueError:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain"),
                                                   ("X-Replaced", "yes")], sys.exc_info())
    return [b"replaced\n"]


def exc_info_reraise(environ, start_response):
    """start_response(exc_info) after the headers went out must re-raise: the
    connection is then aborted."""
    start_response("200 OK", [("Content-Type", "text/plain")])

    def gen():
        yield b"partial;"
        try:
            raise ValueError("late failure")
        except ValueError:
            start_response("500 Internal Server Error", [("Content-Type", "text/plain")],
                           sys.exc_info())
        yield b"must not be reached"
    return gen()


def not_iterable(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return 42


def str_body(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return ["text instead of bytes"]


def errors_write(environ, start_response):
    environ["wsgi.errors"].write("wsgi-errors-marker-%s\n" % _qs(environ).get("id", "x"))
    environ["wsgi.errors"].flush()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", "3")])
    return [b"ok\n"]


def pid(environ, start_response):
    body = str(os.getpid()).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def sleep(environ, start_response):
    """?seconds=S"""
    secs = float(_qs(environ).get("seconds", 1))
    deadline = time.monotonic() + secs
    while time.monotonic() < deadline:  # bounded busy-ish sleep (survives signals)
        time.sleep(min(0.05, max(0.0, deadline - time.monotonic())))
    body = b"slept %s\n" % str(secs).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def echo_headers(environ, start_response):
    """Response headers taken from the query string (name=value)."""
    q = _qs(environ)
    hdrs = [("Content-Type", q.pop("ct", "text/plain"))]
    for k, v in q.items():
        hdrs.append((k, v))
    body = b"hello\n"
    hdrs.append(("Content-Length", str(len(body))))
    start_response("200 OK", hdrs)
    return [body]
