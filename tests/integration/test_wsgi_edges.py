"""WSGI rule-breaking the server must handle without corrupting the
connection (found by review; each failed before its fix)."""

from conftest import WORKER_CLASS, Conn, build_request

APP = "app_edge:app"
KEEPALIVE_CLASS = WORKER_CLASS in ("gthread", "gevent")


def test_short_body_closes_the_connection(make_server):
    """A response shorter than its Content-Length must not be followed by the
    next response on the same connection (the client would read it as body)."""
    srv = make_server(APP)
    with srv.connect(10) as s:
        c = Conn(s, 10)
        c.send(build_request("GET", "/short") + build_request("GET", "/short"))
        data = b""
        while True:
            try:
                d = s.recv(65536)
            except OSError:
                break
            if not d:
                break
            data += d
    assert data.startswith(b"HTTP/1.1 200 "), data[:200]
    assert data.count(b"HTTP/1.1 ") == 1, "second response sent after a short body: %r" % data
    assert "shorter than its Content-Length" in srv.log_text()


def test_empty_first_chunk_does_not_send_the_head(make_server):
    """PEP 3333: the head waits for the first non-empty bytestring, so the
    app can still replace the status with exc_info."""
    srv = make_server(APP)
    r = srv.get("/empty-first")
    assert r.status == 503, r
    assert r.body == b"retry later"


def test_wsgi_input_refuses_other_threads(make_server):
    """Under gevent the thread is a greenlet (threading is patched): the
    request's I/O belongs to the greenlet serving it."""
    srv = make_server(APP)
    r = srv.get("/input-thread", method="POST", body=b"x")
    assert r.status == 200 and r.body == b"ValueError", r
