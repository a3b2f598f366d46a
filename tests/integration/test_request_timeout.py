"""request_timeout (cunicorn's; Gunicorn has no per-request deadline): a
request past it is answered 503 with its stack in the log and interrupted,
while the worker's other requests go on; one that ignores the interruption
gets its worker replaced."""
import os
import time

import pytest

from conftest import IS_GUNICORN, WORKER_CLASS, wait_until
from loadgen import Load

# Under AddressSanitizer, killing a gevent greenlet from the hub trips ASan's
# own stack bookkeeping (a CHECK in GetStackFrameAccessByAddr while it
# describes an address on a greenlet's switched stack): greenlet copies
# stacks behind ASan's back. The normal build runs these for gevent.
ASAN_GEVENT = bool(os.environ.get("CUNICORN_SANITIZED")) and WORKER_CLASS == "gevent"
pytestmark = [pytest.mark.skipif(IS_GUNICORN, reason="request_timeout is cunicorn's"),
              pytest.mark.skipif(ASAN_GEVENT, reason="ASan cannot follow greenlet stack switches")]

# sync serves one request at a time: a second worker takes the load there
WORKERS = 2 if WORKER_CLASS == "sync" else 1


def start(make_server, graceful=5):
    threads = ["--threads", "4"] if WORKER_CLASS == "gthread" else []  # sync + threads is gthread
    return make_server("app_load:app", workers=WORKERS, graceful_timeout=graceful,
                       args=["--request-timeout", "1", "--access-logfile", "-"] + threads)


def test_a_stuck_request_gets_503_and_its_stack_is_logged(make_server):
    s = start(make_server)
    load = Load(s, clients=5)
    try:
        load.wait_served(50, 15)
        t0 = time.monotonic()
        # gthread's exception waits for the sleep to return (Python checks for
        # it between instructions); the others interrupt the sleep itself
        r = s.get("/stuck?s=3")
        took = time.monotonic() - t0
        assert r.status == 503 and r.header("Connection") == "close", (r.status, r.headers)
        assert b"Service Unavailable" in r.body
        assert 1.0 <= took < 2.0, took
        s.wait_log(r"\[ERROR\] Request timeout \(pid:\d+\): GET /stuck\?s=3 ran past 1 s; "
                   r"answered 503 Service Unavailable\n(.*\n)*.*app_load.py\", line \d+, in app\n"
                   r"\s+time.sleep\(float\(q.get\(\"s\", \"30\"\)\)\)")
        load.wait_served(100, 15)  # the worker's other requests went on meanwhile
    finally:
        load.finish()
    load.assert_clean()
    # the exception ended the app's sleep: the request is over, the worker stays
    s.wait_log(r"Request /stuck\?s=3 ended after its deadline", 10)
    s.wait_log(r'"GET /stuck\?s=3 HTTP/1.1" 503 ', 10)  # the access log says what was sent
    assert "asking for a replacement" not in s.log_text()


def test_a_request_that_ignores_the_deadline_gets_its_worker_replaced(make_server):
    s = start(make_server, graceful=2)
    before = set(s.worker_pids())
    load = Load(s, clients=5)
    try:
        load.wait_served(50, 15)
        r = s.get("/stubborn?s=30")
        assert r.status == 503
        s.wait_log(r"a request still runs 2 s after its deadline", 10)
        wait_until(lambda: len(s.worker_pids()) == WORKERS and
                   len(before - set(s.worker_pids())) == 1, 15, what="the stuck worker replaced")
        load.wait_served(100, 15)
    finally:
        load.finish()
    load.assert_clean()


def test_requests_within_the_deadline_are_untouched(make_server):
    s = start(make_server)
    r = s.get("/stuck?s=0.5")
    assert r.status == 200 and r.body == b"late"
    time.sleep(1.2)  # past the deadline the request would have had: nothing fires
    r = s.get("/?id=next")
    assert r.status == 200 and r.body.endswith(b"next")
    assert "Request timeout" not in s.log_text()
