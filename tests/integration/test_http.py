"""HTTP/1.x protocol behaviour, exercised with raw sockets."""
import email.utils
import hashlib
import re
import socket
import time

import pytest

from conftest import (NAME, WORKER_CLASS, Conn, ConnectionClosed, build_request, chunk_encode,
                      needs_class, only_cunicorn, raw_exchange, wait_until)

IMF_FIXDATE = re.compile(r"^(Mon|Tue|Wed|Thu|Fri|Sat|Sun), \d{2} "
                         r"(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec) \d{4} "
                         r"\d{2}:\d{2}:\d{2} GMT$")
KEEPALIVE_CLASSES = ("gthread", "gevent")


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory("app_router:app", workers=1, args=["--log-level", "debug"])


def H(srv):
    return "127.0.0.1:%d" % srv.port


def no_more_bytes(conn, wait=0.5):
    """Nothing (not even one byte) arrives within `wait` seconds (EOF is fine)."""
    conn.sock.settimeout(wait)
    if conn.buf:
        return False
    try:
        d = conn.sock.recv(1)
    except (socket.timeout, TimeoutError):
        return True
    except ConnectionResetError:
        return True
    return d == b""


def assert_still_serving(srv, pids_before=None):
    r = srv.get("/still-alive")
    assert r.status == 200, r
    if pids_before is not None:
        assert srv.worker_pids() == pids_before, "a worker died/was replaced:\n" + srv.log_text()[-3000:]


# --------------------------------------------------------------------------
# basics
# --------------------------------------------------------------------------

def test_get_server_and_date_headers(srv):
    r = srv.get("/hello")
    assert r.status == 200
    assert r.version == "HTTP/1.1"
    assert r.header("Server") == NAME
    date = r.header("Date")
    assert date and IMF_FIXDATE.match(date), date
    ts = email.utils.parsedate_to_datetime(date).timestamp()
    assert abs(ts - time.time()) < 60
    assert r.json()["PATH_INFO"] == "/hello"


@needs_class("sync")
def test_sync_closes_after_every_response(srv):
    with Conn.open(srv) as c:
        c.send(build_request("GET", "/a", host=H(srv)))
        r = c.read_response()
        assert r.status == 200
        assert (r.header("Connection") or "").lower() == "close"
        assert c.peer_closed(timeout=5)


@needs_class("sync")
def test_sync_pipelined_second_request_not_answered(srv):
    with Conn.open(srv) as c:
        c.send(build_request("GET", "/one", host=H(srv)) + build_request("GET", "/two", host=H(srv)))
        r = c.read_response()
        assert r.json()["PATH_INFO"] == "/one"
        assert c.peer_closed(timeout=5)


@needs_class(*KEEPALIVE_CLASSES)
def test_keepalive_by_default_http11(srv):
    with Conn.open(srv) as c:
        for i in range(3):
            c.send(build_request("GET", "/ka%d" % i, host=H(srv)))
            r = c.read_response()
            assert r.status == 200
            assert (r.header("Connection") or "").lower() != "close"
            assert r.json()["PATH_INFO"] == "/ka%d" % i


@needs_class(*KEEPALIVE_CLASSES)
def test_keepalive_pipelined(srv):
    with Conn.open(srv) as c:
        c.send(b"".join(build_request("GET", "/p%d" % i, host=H(srv)) for i in range(3)))
        for i in range(3):
            r = c.read_response()
            assert r.json()["PATH_INFO"] == "/p%d" % i


@needs_class(*KEEPALIVE_CLASSES)
def test_keepalive_connection_close_request_header(srv):
    with Conn.open(srv) as c:
        c.send(build_request("GET", "/", [("Connection", "close")], host=H(srv)))
        r = c.read_response()
        assert r.status == 200
        assert (r.header("Connection") or "").lower() == "close"
        assert c.peer_closed(timeout=5)


@needs_class(*KEEPALIVE_CLASSES)
def test_keepalive_http10_closes_by_default(srv):
    with Conn.open(srv) as c:
        c.send(build_request("GET", "/", version="HTTP/1.0"))
        r = c.read_response()
        assert r.status == 200
        assert c.peer_closed(timeout=5)


@needs_class(*KEEPALIVE_CLASSES)
def test_keepalive_idle_timeout(make_server):
    s = make_server("app_env:app", args=["--keep-alive", "1"])
    with Conn.open(s) as c:
        c.send(build_request("GET", "/", host="x"))
        assert c.read_response().status == 200
        t0 = time.monotonic()
        assert c.peer_closed(timeout=6), "idle keep-alive connection not closed"
        assert time.monotonic() - t0 < 6


# --------------------------------------------------------------------------
# request bodies
# --------------------------------------------------------------------------

def _body_result(r):
    assert r.status == 200, r
    return r.json()


def test_content_length_body(srv):
    body = bytes(range(256)) * 40
    r = raw_exchange(srv, build_request("POST", "/__body?mode=read", [], body, host=H(srv)))
    res = _body_result(r)
    assert res["len"] == len(body)
    assert res["sha256"] == hashlib.sha256(body).hexdigest()


def test_chunked_body_with_extensions_and_trailers(srv):
    body = b"hello chunked world! " * 50
    req = (b"POST /__body?mode=read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           + chunk_encode(body, size=17, ext=True, trailers=[("X-Trailer", "yes"),
                                                            ("X-Other", "1")]))
    res = _body_result(raw_exchange(srv, req))
    assert res["len"] == len(body)
    assert res["sha256"] == hashlib.sha256(body).hexdigest()


def test_chunked_body_uppercase_hex_and_empty(srv):
    req = (b"POST /__body?mode=read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"A\r\n0123456789\r\n0\r\n\r\n")
    res = _body_result(raw_exchange(srv, req))
    assert res["pieces"] == ["0123456789"]
    req = (b"POST /__body?mode=read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           b"0\r\n\r\n")
    assert _body_result(raw_exchange(srv, req))["len"] == 0


def test_content_length_body_slow_small_writes(srv):
    body = b"0123456789abcdef" * 64
    req = build_request("POST", "/__body?mode=readn&n=100", [], body, host=H(srv))
    with Conn.open(srv) as c:
        c.send_slowly(req, piece=13, delay=0.002)
        res = _body_result(c.read_response())
    assert res["len"] == len(body)
    assert res["sha256"] == hashlib.sha256(body).hexdigest()


def test_chunked_body_slow_small_writes(srv):
    body = b"The quick brown fox jumps over the lazy dog. " * 30
    req = (b"POST /__body?mode=read HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
           + chunk_encode(body, size=23, ext=True, trailers=[("X-T", "v")]))
    with Conn.open(srv) as c:
        c.send_slowly(req, piece=5, delay=0.002)
        res = _body_result(c.read_response())
    assert res["len"] == len(body)
    assert res["sha256"] == hashlib.sha256(body).hexdigest()


# --------------------------------------------------------------------------
# Expect: 100-continue
# --------------------------------------------------------------------------

def _expect_head(path, n, version="HTTP/1.1"):
    return ("POST %s %s\r\nHost: x\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n"
            % (path, version, n)).encode()


def test_expect_100_continue_basic(srv):
    body = b"x" * 1000
    with Conn.open(srv) as c:
        c.send(_expect_head("/__body?mode=read", len(body)))
        head = c.read_until(b"\r\n\r\n", time.monotonic() + 10)
        assert head == b"HTTP/1.1 100 Continue\r\n\r\n"
        c.send(body)
        r = c.read_response()
    assert r.status == 200
    assert r.json()["len"] == 1000


@only_cunicorn("gunicorn 20.1 sends 100 Continue eagerly")
def test_expect_100_sent_only_when_app_reads(srv):
    body = b"y" * 100
    with Conn.open(srv) as c:
        t0 = time.monotonic()
        c.send(_expect_head("/__body?mode=read&sleep=1.0", len(body)))
        head = c.read_until(b"\r\n\r\n", time.monotonic() + 10)
        elapsed = time.monotonic() - t0
        assert head == b"HTTP/1.1 100 Continue\r\n\r\n"
        assert elapsed >= 0.7, "100 Continue sent before the app read the body (%.2fs)" % elapsed
        c.send(body)
        r = c.read_response()
    assert r.status == 200 and r.json()["len"] == 100


@only_cunicorn("gunicorn 20.1 sends 100 Continue eagerly")
def test_expect_100_not_sent_if_app_does_not_read(srv):
    with Conn.open(srv) as c:
        c.send(_expect_head("/__body?mode=none", 100))
        r = c.read_response()
    assert r.status == 200
    assert r.interim == [], "100 Continue sent although the app never read the body"


def test_expect_100_http10_gets_no_interim(srv):
    body = b"z" * 50
    with Conn.open(srv) as c:
        c.send(_expect_head("/__body?mode=read", len(body), version="HTTP/1.0") + body)
        r = c.read_response()
    assert r.status == 200
    assert r.interim == []
    assert r.json()["len"] == 50


# --------------------------------------------------------------------------
# response framing
# --------------------------------------------------------------------------

def test_head_has_headers_but_no_body(srv):
    with Conn.open(srv) as c:
        c.send(build_request("HEAD", "/__status?code=200", host=H(srv)))
        r = c.read_response(head=True)
        assert r.status == 200
        assert r.header("Content-Length") == str(len(b"body for status 200\n"))
        assert r.header("X-Method") == "HEAD"
        assert no_more_bytes(c)


def test_head_streaming_app_no_body_bytes(srv):
    with Conn.open(srv) as c:
        c.send(build_request("HEAD", "/__head_stream", host=H(srv)))
        r = c.read_response(head=True)
        assert r.status == 200
        assert no_more_bytes(c), "HEAD response carried body/chunk bytes: %r" % c.buf


@pytest.mark.parametrize("code", [204, 304])
def test_204_304_no_body_no_te(srv, code):
    with Conn.open(srv) as c:
        c.send(build_request("GET", "/__status?code=%d" % code, host=H(srv)))
        r = c.read_response()
        assert r.status == code
        assert r.header("Transfer-Encoding") is None
        assert r.header("Content-Length") in (None, "0")
        assert no_more_bytes(c), "body bytes after %d: %r" % (code, c.buf)


def test_stream_http11_chunked(srv):
    with Conn.open(srv) as c:
        c.send(build_request("GET", "/__stream?n=5&size=10", host=H(srv)))
        r = c.read_response()
    assert r.status == 200
    assert (r.header("Transfer-Encoding") or "").lower() == "chunked"
    assert r.header("Content-Length") is None
    assert r.complete, "chunked body not terminated"
    assert r.body == b"".join((b"%d" % i) * 10 for i in range(5))


def test_stream_http10_close_delimited(srv):
    with Conn.open(srv) as c:
        c.send(build_request("GET", "/__stream?n=4&size=3", version="HTTP/1.0"))
        r = c.read_response()
        assert r.status == 200
        assert r.header("Transfer-Encoding") is None
        assert r.body == b"000111222333"
        assert c.eof


def test_single_element_list_gets_content_length(srv):
    r = srv.get("/__single")
    assert r.status == 200
    assert r.header("Content-Length") == str(len(b"exactly one element"))
    assert r.header("Transfer-Encoding") is None
    assert r.body == b"exactly one element"


def test_multi_element_list_body(srv):
    r = srv.get("/__multi")
    assert r.status == 200 and r.body == b"abbccc"


def test_large_response_with_content_length(srv):
    r = srv.get("/__big?size=3000000")
    assert r.status == 200 and len(r.body) == 3000000 and r.body == b"x" * 3000000


def test_absolute_form_target(srv):
    r = raw_exchange(srv, b"GET http://example.com/path?x=1 HTTP/1.1\r\nHost: example.com\r\n\r\n")
    env = r.json()
    assert env["PATH_INFO"] == "/path"
    assert env["QUERY_STRING"] == "x=1"


# --------------------------------------------------------------------------
# limits
# --------------------------------------------------------------------------

def test_request_line_too_long_default(srv):
    pids = srv.worker_pids()
    r = raw_exchange(srv, b"GET /" + b"a" * 5000 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.status in (414, 400)
    assert_still_serving(srv, pids)


def test_request_line_just_under_default_limit_ok(srv):
    path = b"/" + b"a" * (4094 - len(b"GET  HTTP/1.1") - 1)
    line = b"GET " + path + b" HTTP/1.1"
    assert len(line) <= 4094
    r = raw_exchange(srv, line + b"\r\nHost: x\r\n\r\n")
    assert r.status == 200


def test_too_many_header_fields_default(srv):
    pids = srv.worker_pids()
    hdrs = b"".join(b"X-H%d: v\r\n" % i for i in range(150))
    r = raw_exchange(srv, b"GET / HTTP/1.1\r\nHost: x\r\n" + hdrs + b"\r\n")
    assert r.status in (431, 400)
    assert_still_serving(srv, pids)


def test_header_field_too_big_default(srv):
    pids = srv.worker_pids()
    r = raw_exchange(srv, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 9000 + b"\r\n\r\n")
    assert r.status in (431, 400)
    assert_still_serving(srv, pids)


def test_custom_limits(make_server):
    s = make_server("app_env:app", args=["--limit-request-line", "100",
                                         "--limit-request-fields", "5",
                                         "--limit-request-field_size", "60"])
    ok = raw_exchange(s, b"GET /" + b"a" * 50 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert ok.status == 200
    r = raw_exchange(s, b"GET /" + b"a" * 150 + b" HTTP/1.1\r\nHost: x\r\n\r\n")
    assert r.status in (414, 400)
    hdrs = b"".join(b"X-H%d: v\r\n" % i for i in range(8))
    r = raw_exchange(s, b"GET / HTTP/1.1\r\nHost: x\r\n" + hdrs + b"\r\n")
    assert r.status in (431, 400)
    ok = raw_exchange(s, b"GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\nX-B: 2\r\n\r\n")
    assert ok.status == 200
    r = raw_exchange(s, b"GET / HTTP/1.1\r\nHost: x\r\nX-Big: " + b"b" * 100 + b"\r\n\r\n")
    assert r.status in (431, 400)
    assert raw_exchange(s, b"GET / HTTP/1.1\r\nHost: x\r\n\r\n").status == 200


# --------------------------------------------------------------------------
# malformed requests -> 400, worker survives
# --------------------------------------------------------------------------

BAD_REQUESTS = {
    "cl_and_te": b"POST /__body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                 b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
    "two_differing_cl": b"POST /__body HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n"
                        b"Content-Length: 6\r\n\r\nhello!",
    "cl_plus": b"POST /__body HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\nx",
    "cl_abc": b"POST /__body HTTP/1.1\r\nHost: x\r\nContent-Length: abc\r\n\r\n",
    "cl_negative": b"POST /__body HTTP/1.1\r\nHost: x\r\nContent-Length: -1\r\n\r\n",
    "te_gzip_alone": b"POST /__body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip\r\n\r\n",
    "te_chunked_then_gzip": b"POST /__body HTTP/1.1\r\nHost: x\r\n"
                            b"Transfer-Encoding: chunked, gzip\r\n\r\n0\r\n\r\n",
    "bad_chunk_size": b"POST /__body HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n"
                      b"zz\r\nhello\r\n0\r\n\r\n",
    "obs_fold": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\r\n b\r\n\r\n",
    "space_before_colon": b"GET / HTTP/1.1\r\nHost : x\r\n\r\n",
    "bare_cr_in_value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n",
    "nul_in_value": b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
    "bare_lf_line_endings": b"GET / HTTP/1.1\nHost: x\n\n",
    "http_2_0": b"GET / HTTP/2.0\r\nHost: x\r\n\r\n",
    "http_1_2": b"GET / HTTP/1.2\r\nHost: x\r\n\r\n",
    "garbage_line": b"THIS IS NOT HTTP\r\n\r\n",
    "missing_version": b"GET /\r\nHost: x\r\n\r\n",
    "bad_method_chars": b"G(E)T / HTTP/1.1\r\nHost: x\r\n\r\n",
}


@pytest.mark.parametrize("name", sorted(BAD_REQUESTS))
def test_bad_request_400_and_worker_survives(srv, name):
    pids = srv.worker_pids()
    assert pids
    with Conn.open(srv, timeout=5) as c:
        c.send(BAD_REQUESTS[name])
        try:
            r = c.read_response()
        except ConnectionClosed:
            pytest.fail("server closed the connection without a 400 for %s" % name)
    assert r.status == 400, "%s -> %s" % (name, r)
    assert_still_serving(srv, pids)


def test_bad_request_is_logged(srv):
    before = srv.log_text()
    raw_exchange(srv, BAD_REQUESTS["cl_and_te"])
    wait_until(lambda: len(srv.log_text()) > len(before), 5, what="a log line for a bad request")


def test_client_disconnect_mid_request_worker_survives(srv):
    pids = srv.worker_pids()
    for _ in range(3):
        with Conn.open(srv) as c:
            c.send(b"POST /__body HTTP/1.1\r\nHost: x\r\nContent-Length: 1000\r\n\r\npartial")
    with Conn.open(srv) as c:
        c.send(b"GET / HT")
    assert_still_serving(srv, pids)


# --------------------------------------------------------------------------
# concurrency per worker class
# --------------------------------------------------------------------------

def test_concurrent_requests_served_in_parallel(make_server):
    """4 requests sleeping 1 s each finish well under 4 s: sync with 4 workers,
    gthread with 1 worker x 4 threads, gevent with 1 worker."""
    import threading
    if WORKER_CLASS == "sync":
        s = make_server("app_router:app", workers=4)
    elif WORKER_CLASS == "gthread":
        s = make_server("app_router:app", workers=1, args=["--threads", "4"])
    else:
        s = make_server("app_router:app", workers=1, args=["--worker-connections", "50"])
    results = []

    def one():
        try:
            results.append(s.get("/__sleep?seconds=1").status)
        except Exception as e:  # noqa
            results.append(repr(e))
    threads = [threading.Thread(target=one, daemon=True) for _ in range(4)]
    t0 = time.monotonic()
    for t in threads:
        t.start()
    for t in threads:
        t.join(15)
    elapsed = time.monotonic() - t0
    assert results == [200] * 4, results
    assert elapsed < 2.8, "requests were serialized (%.2fs)" % elapsed


@pytest.mark.parametrize("keepalive", ["2", "0"])
def test_timeout_zero_still_reads_a_slow_head(make_server, keepalive):
    """`--timeout 0` turns the master's heartbeat check off, not the read
    timeout: a head that arrives in pieces, and (without keep-alive) a
    request sent a little after connecting, are answered by every class.
    gevent used to treat 0 as an expired deadline and close both unanswered."""
    srv = make_server("app_router:app", workers=1,
                      args=["--timeout", "0", "--keep-alive", keepalive])
    with Conn.open(srv) as c:
        time.sleep(0.3)
        for piece in (b"GET /echo HTTP/1.1\r\n", b"Host: x\r\n", b"X-A: 1\r\n", b"\r\n"):
            c.send(piece)
            time.sleep(0.1)
        r = c.read_response()
        assert r.status == 200, srv.log_text()[-2000:]
