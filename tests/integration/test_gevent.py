"""gevent worker: cooperative concurrency, patched I/O, slow clients,
graceful stop, WSGI flags, --worker-connections.

Runs only when CUNICORN_WORKER_CLASS=gevent.
"""
import http.server
import json
import selectors
import signal
import threading
import time

import pytest

from conftest import (WORKER_CLASS, Conn, check_slow_clients_do_not_delay,
                      only_cunicorn, quote, raise_nofile, simple_get, wait_until)

pytestmark = pytest.mark.skipif(WORKER_CLASS != "gevent",
                                reason="gevent-only tests (running %s)" % WORKER_CLASS)

APP = "app_concurrency:app"





def _parse(buf):
    """(status, body) if buf holds a complete Content-Length response, else None."""
    i = buf.find(b"\r\n\r\n")
    if i < 0:
        return None
    head = buf[:i].split(b"\r\n")
    status = int(head[0].split()[1])
    cl = None
    for ln in head[1:]:
        k, _, v = ln.partition(b":")
        if k.strip().lower() == b"content-length":
            cl = int(v.strip())
    if cl is None:
        return None  # read to EOF
    if len(buf) - (i + 4) < cl:
        return None
    return status, buf[i + 4:i + 4 + cl]


def open_and_send(srv, reqs):
    """Blocking connect + send of one request per connection (all before any read)."""
    socks = []
    try:
        for data in reqs:
            s = srv.connect(timeout=10)
            s.sendall(data)
            socks.append(s)
    except BaseException:
        for s in socks:
            s.close()
        raise
    return socks


def read_all(socks, timeout):
    """Read one response from every socket concurrently (selectors, one thread).
    Returns a list of (status, body, t_done) or ("error", reason, t)."""
    sel = selectors.DefaultSelector()
    bufs = {}
    results = [None] * len(socks)
    for idx, s in enumerate(socks):
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ, idx)
        bufs[idx] = b""
    deadline = time.monotonic() + timeout
    pending = len(socks)
    try:
        while pending and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=max(0.0, min(0.5, deadline - time.monotonic()))):
                idx = key.data
                try:
                    d = key.fileobj.recv(65536)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError as e:
                    d = b""
                    results[idx] = ("error", repr(e), time.monotonic())
                if d:
                    bufs[idx] += d
                    got = _parse(bufs[idx])
                    if got is None:
                        continue
                    results[idx] = got + (time.monotonic(),)
                elif results[idx] is None:
                    results[idx] = ("error", "EOF after %r" % bufs[idx][:100], time.monotonic())
                sel.unregister(key.fileobj)
                pending -= 1
    finally:
        sel.close()
    for i, r in enumerate(results):
        if r is None:
            results[i] = ("error", "timeout; have %r" % bufs[i][:100], time.monotonic())
    return results


def exchange_all(srv, reqs, timeout):
    """open_and_send, then read_all, then close every socket."""
    socks = open_and_send(srv, reqs)
    try:
        return read_all(socks, timeout)
    finally:
        close_all(socks)


def close_all(socks):
    for s in socks:
        try:
            s.close()
        except OSError:
            pass


# --------------------------------------------------------------------------
# cooperative concurrency
# --------------------------------------------------------------------------

def test_500_concurrent_sleeps_overlap(make_server):
    raise_nofile()
    srv = make_server(APP, args=["--worker-connections", "1000"], workers=1)
    n = 500
    t0 = time.monotonic()
    results = exchange_all(srv, [simple_get("/sleep?s=0.5") for _ in range(n)], timeout=30)
    elapsed = time.monotonic() - t0
    bad = [r for r in results if r[:2] != (200, b"slept")]
    assert not bad, "%d bad responses, e.g. %r" % (len(bad), bad[:3])
    # serialized this would be 250 s; overlapping it is ~0.5 s
    assert elapsed < 2.0, elapsed


class _SlowBackend(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.0"

    def do_GET(self):  # noqa: N802
        time.sleep(0.5)
        body = b"backend:" + self.path.encode()
        self.send_response(200)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *a):
        pass


class _Backend(http.server.ThreadingHTTPServer):
    daemon_threads = True
    request_queue_size = 256


@pytest.fixture
def slow_backend():
    httpd = _Backend(("127.0.0.1", 0), _SlowBackend)
    t = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.1}, daemon=True)
    t.start()
    try:
        yield "http://127.0.0.1:%d" % httpd.server_address[1]
    finally:
        httpd.shutdown()
        httpd.server_close()
        t.join(5)


def test_patched_urllib_fetches_overlap(make_server, slow_backend):
    srv = make_server(APP, args=["--worker-connections", "1000"], workers=1)
    n = 50
    reqs = [simple_get("/fetch?url=%s" % quote(slow_backend + "/item%d" % i)) for i in range(n)]
    t0 = time.monotonic()
    results = exchange_all(srv, reqs, timeout=30)
    elapsed = time.monotonic() - t0
    for i, r in enumerate(results):
        assert r[:2] == (200, b"backend:/item%d" % i), r
    # serialized: 25 s; overlapping: ~0.5 s
    assert elapsed < 2.5, elapsed


def test_slow_header_clients_do_not_delay_normal_request(make_server):
    raise_nofile()
    srv = make_server(APP, args=["--worker-connections", "1000", "--timeout", "30"], workers=1)
    check_slow_clients_do_not_delay(srv, 100)


# --------------------------------------------------------------------------
# graceful stop
# --------------------------------------------------------------------------

def test_graceful_stop_100_inflight(make_server):
    raise_nofile()
    srv = make_server(APP, args=["--worker-connections", "1000"], workers=1,
                      graceful_timeout=10)
    n = 100
    socks = open_and_send(srv, [simple_get("/sleep?s=1") for _ in range(n)])
    try:
        time.sleep(0.4)  # all accepted and sleeping in their greenlets
        t_term = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        results = read_all(socks, timeout=15)
        rc = srv.wait_exit(15)
        exit_after = time.monotonic() - t_term
    finally:
        close_all(socks)
    bad = [(i, r) for i, r in enumerate(results) if r[:2] != (200, b"slept")]
    assert not bad, "lost %d in-flight requests, e.g. %r" % (len(bad), bad[:3])
    assert rc == 0, "master exit %r\n%s" % (rc, srv.log_text()[-3000:])
    assert exit_after < 10, exit_after


# --------------------------------------------------------------------------
# WSGI flags / patching
# --------------------------------------------------------------------------

def test_wsgi_flags(make_server):
    """PEP 3333: wsgi.multithread is true when the app may be invoked
    concurrently in one process, as greenlets do (Gunicorn's gevent too)."""
    srv = make_server(APP, args=["--worker-connections", "100"], workers=2)
    env = srv.get_json("/env")
    assert env["multithread"] is True
    assert env["multiprocess"] is True
    assert env["run_once"] is False
    assert env["gevent_loaded"] is True
    assert env["time_sleep_patched"] is True


def test_requests_run_in_gevent_greenlets(make_server):
    """Apps may rely on gevent.getcurrent() being a gevent.Greenlet, and on
    gevent.local being per request."""
    srv = make_server(APP, args=["--worker-connections", "100"], workers=1)
    reqs = [simple_get("/greenlet?tag=t%d" % i) for i in range(10)]
    results = exchange_all(srv, reqs, timeout=10)
    for i, r in enumerate(results):
        assert r[0] == 200, r
        assert json.loads(r[1]) == {"is_gevent_greenlet": True, "tag": "t%d" % i}


def test_app_timeout_around_input_read_reaches_the_app(make_server):
    """The app's own gevent.Timeout fires while the server waits for body
    bytes: the app gets its Timeout (not an I/O error) and answers."""
    srv = make_server(APP, args=["--worker-connections", "100", "--timeout", "30"], workers=1)
    with Conn.open(srv, timeout=10) as c:
        t0 = time.monotonic()
        c.send(b"POST /read-timeout?s=0.5 HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nab")
        r = c.read_response(timeout=5)
        assert r.status == 200 and r.body == b"app timeout", r
        assert time.monotonic() - t0 < 3
    assert "Error handling request" not in srv.log_text()


def test_app_timeout_around_write_reaches_the_app(make_server):
    """The app's own gevent.Timeout fires while the server waits to write to
    a client that does not read: the app gets its Timeout."""
    srv = make_server(APP, args=["--worker-connections", "100", "--timeout", "30"], workers=1)
    with Conn.open(srv, timeout=10) as c:
        c.send(simple_get("/write-timeout?s=0.5"))
        wait_until(lambda: "app caught its write timeout" in srv.log_text(), 10,
                   what="the app's Timeout in write()")
    assert "Error handling request" not in srv.log_text()


def test_unpatched_blocking_call_still_works_serialized(make_server):
    srv = make_server(APP, args=["--worker-connections", "100"], workers=1)
    n = 5
    t0 = time.monotonic()
    results = exchange_all(srv, [simple_get("/rawsleep?s=0.3") for _ in range(n)], timeout=20)
    elapsed = time.monotonic() - t0
    for r in results:
        assert r[:2] == (200, b"rawslept"), r
    # the original select blocks the hub: the sleeps cannot overlap
    assert elapsed >= n * 0.3 * 0.9, elapsed
    assert elapsed < 10, elapsed
    r = srv.get("/fast")
    assert r.status == 200


# --------------------------------------------------------------------------
# --worker-connections
# --------------------------------------------------------------------------

def test_worker_connections_bounds_concurrent_greenlets(make_server, tmp_path):
    srv = make_server(APP, args=["--worker-connections", "5"], workers=1)
    rec = str(tmp_path / "record.txt")
    qfile = quote(rec)
    # 5 slow requests in flight, then a 6th
    first = open_and_send(srv, [simple_get("/record?s=1.5&id=%d&file=%s" % (i, qfile)) for i in range(5)])
    sixth = []
    try:
        time.sleep(0.3)
        sixth = open_and_send(srv, [simple_get("/record?s=0.1&id=6&file=%s" % qfile)])
        results = read_all(first + sixth, timeout=20)
    finally:
        close_all(first + sixth)
    for r in results:
        assert r[:2] == (200, b"recorded"), r
    starts, ends = {}, {}
    with open(rec) as f:
        for line in f:
            kind, tag, t = line.split()
            (starts if kind == "start" else ends)[tag] = float(t)
    assert len(starts) == 6 and len(ends) == 6, (starts, ends)
    first5 = [starts[str(i)] for i in range(5)]
    # the first five overlap
    assert max(first5) - min(first5) < 1.0, first5
    # the sixth does not start before one of the five has finished
    first_end = min(ends[str(i)] for i in range(5))
    assert starts["6"] >= first_end - 0.05, (starts, ends)


def test_keepalive_reuse_and_idle_timeout(make_server):
    srv = make_server(APP, args=["--worker-connections", "100", "--keep-alive", "1"], workers=1)
    with Conn.open(srv, timeout=10) as c:
        for i in range(50):
            c.send(simple_get("/echo/k%d" % i))
            r = c.read_response()
            assert r.status == 200 and r.body == b"/echo/k%d" % i
        t0 = time.monotonic()
        assert c.peer_closed(timeout=3.0), "idle keep-alive connection not closed"
        assert 0.5 <= time.monotonic() - t0 < 3.0


# --------------------------------------------------------------------------
# stop signals with idle connections
# --------------------------------------------------------------------------

def test_full_worker_leaves_new_connections_in_the_backlog(make_server):
    """A worker whose pool is full does not accept: the next connection
    stays in the listen backlog for a worker with room, so a worker that
    stops (HUP replaces it) never drops one it took. Its replacement serves
    it."""
    srv = make_server(APP, args=["--worker-connections", "2"], workers=1, graceful_timeout=10)
    socks = open_and_send(srv, [simple_get("/sleep?s=1") for _ in range(3)])
    try:
        time.sleep(0.3)  # two sleeping, the third waiting for a slot
        srv.send_signal(signal.SIGHUP)
        results = read_all(socks, timeout=10)
    finally:
        close_all(socks)
    assert [r[:2] for r in results] == [(200, b"slept")] * 3, results


@only_cunicorn("the warning is cunicorn's")
def test_quit_does_not_report_a_graceful_timeout(make_server):
    srv = make_server(APP, args=["--worker-connections", "100"], workers=1)
    with Conn.open(srv, timeout=10) as busy:
        busy.send(simple_get("/sleep?s=5"))
        time.sleep(0.3)
        srv.send_signal(signal.SIGQUIT)
        assert srv.wait_exit(10) is not None
    assert "graceful timeout" not in srv.log_text(), srv.log_text()[-3000:]


def _close_times(socks, timeout):
    """When each socket sees EOF/RST (monotonic seconds), watched together."""
    sel = selectors.DefaultSelector()
    for s in socks:
        s.setblocking(False)
        sel.register(s, selectors.EVENT_READ)
    times = {}
    deadline = time.monotonic() + timeout
    try:
        while len(times) < len(socks) and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.5):
                try:
                    data = key.fileobj.recv(4096)
                except (BlockingIOError, InterruptedError):
                    continue
                except OSError:
                    data = b""
                assert not data, data
                times[key.fileobj] = time.monotonic()
                sel.unregister(key.fileobj)
    finally:
        sel.close()
    assert len(times) == len(socks), "%d of %d closed" % (len(times), len(socks))
    return sorted(times.values())


def test_stop_closes_every_idle_connection_together(make_server):
    """A worker told to stop gives all its idle keep-alive connections the
    same last second for a next request, then closes them in one pass on
    the hub, not one and the rest at the next tick of the 0.1 s ticker. Four
    rounds (HUP replaces the worker each time), since one round could land
    just before a tick."""
    srv = make_server(APP, args=["--worker-connections", "100", "--keep-alive", "30"],
                      workers=1, graceful_timeout=10)
    for _ in range(4):
        worker = srv.worker_pids()
        socks = []
        try:
            for _ in range(10):
                with Conn.open(srv, timeout=10) as c:
                    c.send(simple_get("/fast"))
                    assert c.read_response().status == 200
                    socks.append(c.sock.dup())
            srv.send_signal(signal.SIGHUP)
            times = _close_times(socks, timeout=5)
            assert times[-1] - times[0] < 0.05, times[-1] - times[0]
        finally:
            close_all(socks)
        wait_until(lambda: srv.worker_pids() and srv.worker_pids() != worker, 10,
                   what="the worker replaced")


def test_term_closes_idle_keepalive_after_a_second(make_server):
    srv = make_server(APP, args=["--worker-connections", "100", "--keep-alive", "30"],
                      workers=1, graceful_timeout=10)
    idle = Conn.open(srv, timeout=10)
    busy = Conn.open(srv, timeout=10)
    try:
        idle.send(simple_get("/echo/idle"))
        assert idle.read_response().status == 200
        busy.send(simple_get("/sleep?s=1"))
        time.sleep(0.3)
        t0 = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        # not the keep-alive setting's 30 s: a stopping worker's idle wait is 1 s
        assert idle.peer_closed(timeout=3), "idle keep-alive connection not closed on TERM"
        assert 0.8 <= time.monotonic() - t0 < 2.5
        r = busy.read_response(timeout=10)
        assert r.status == 200 and r.body == b"slept"
        rc = srv.wait_exit(12)
        took = time.monotonic() - t0
        assert rc == 0, srv.log_text()[-3000:]
        # nothing left to wait for once the busy request is done: no need to
        # run into the 10 s graceful timeout
        assert took < 5.0, "master took %.1fs to exit\n%s" % (took, srv.log_text()[-3000:])
        assert "signal 9" not in srv.log_text(), srv.log_text()[-3000:]
    finally:
        idle.close()
        busy.close()
