"""The app the zero-downtime tests put under load.

GET /?id=N&ms=M   sleeps M ms (default 5), answers "<pid> <id>" so each
                  client checks that the body is its own and sees which
                  worker served it.
GET /grow?mb=N    keeps N more MiB alive in this worker (max_worker_memory).
GET /stuck?s=S    sleeps S seconds (request_timeout); answers "late" if the
                  sleep ends.
GET /stubborn?s=S sleeps S seconds, swallowing any exception thrown into the
                  sleep, and keeps sleeping (a request that ignores the
                  deadline).
"""
import os
import time
import urllib.parse

_hoard = []


def _qs(environ):
    return {k: v[0] for k, v in urllib.parse.parse_qs(environ.get("QUERY_STRING", "")).items()}


def _answer(start_response, body, status="200 OK"):
    body = body.encode()
    start_response(status, [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]


def app(environ, start_response):
    q = _qs(environ)
    path = environ["PATH_INFO"]
    if path == "/grow":
        block = bytearray(int(q.get("mb", "1")) << 20)
        for i in range(0, len(block), 4096):  # touch every page: resident, not just mapped
            block[i] = 1
        _hoard.append(block)
        return _answer(start_response, "%d grew %d" % (os.getpid(), len(_hoard)))
    if path == "/stuck":
        time.sleep(float(q.get("s", "30")))
        return _answer(start_response, "late")
    if path == "/stubborn":
        end = time.monotonic() + float(q.get("s", "30"))
        while time.monotonic() < end:
            try:
                time.sleep(0.05)
            except BaseException:  # noqa: B902 - the point is to ignore the deadline
                pass
        return _answer(start_response, "stubborn done")
    time.sleep(int(q.get("ms", "5")) / 1000.0)
    return _answer(start_response, "%d %s" % (os.getpid(), q.get("id", "")))
