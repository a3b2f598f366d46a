"""gthread worker: keep-alive, pipelining, idle timeout, slow clients,
--worker-connections, graceful stop, thread-pool concurrency.

Runs only when CUNICORN_WORKER_CLASS=gthread.
"""
import signal
import socket
import threading
import time

import pytest

from conftest import (WORKER_CLASS, Conn, check_slow_clients_do_not_delay, raise_nofile,
                      simple_get)

pytestmark = pytest.mark.skipif(WORKER_CLASS != "gthread",
                                reason="gthread-only tests (running %s)" % WORKER_CLASS)

APP = "app_concurrency:app"





def _run_threads(targets, timeout):
    """Start one thread per callable, join them all within timeout (bounded)."""
    threads = [threading.Thread(target=t, daemon=True) for t in targets]
    for t in threads:
        t.start()
    deadline = time.monotonic() + timeout
    for t in threads:
        t.join(max(0.0, deadline - time.monotonic()))
    alive = [t for t in threads if t.is_alive()]
    assert not alive, "%d client threads still running after %ss" % (len(alive), timeout)


# --------------------------------------------------------------------------
# keep-alive
# --------------------------------------------------------------------------

def test_keepalive_1000_requests_over_50_connections(make_server):
    raise_nofile()
    srv = make_server(APP, args=["--threads", "4", "--keep-alive", "10"], workers=1)
    n_conns, per_conn = 50, 20
    results = {}

    def client(i):
        def run():
            statuses, ports = [], set()
            try:
                with Conn.open(srv, timeout=20) as c:
                    port = c.sock.getsockname()[1]
                    for j in range(per_conn):
                        path = "/echo/c%d/r%d" % (i, j)
                        c.send(simple_get(path))
                        r = c.read_response()
                        ports.add(c.sock.getsockname()[1])
                        statuses.append((r.status, r.body == path.encode(),
                                         (r.header("Connection") or "").lower()))
                    # the server must not have closed the connection after the last one
                    closed = c.peer_closed(timeout=0.2)
                results[i] = {"statuses": statuses, "ports": ports, "port": port,
                              "closed_after": closed}
            except Exception as e:  # noqa
                results[i] = {"error": repr(e), "statuses": statuses}
        return run

    t0 = time.monotonic()
    _run_threads([client(i) for i in range(n_conns)], timeout=90)
    elapsed = time.monotonic() - t0

    errors = {i: r for i, r in results.items() if "error" in r}
    assert not errors, "client errors (connection closed early?): %r" % list(errors.items())[:5]
    assert len(results) == n_conns
    total = 0
    local_ports = set()
    for i, r in results.items():
        assert len(r["statuses"]) == per_conn
        for status, echoed, conn_hdr in r["statuses"]:
            assert status == 200
            assert echoed, "wrong body on connection %d" % i
            assert conn_hdr != "close", "server asked to close keep-alive connection %d" % i
            total += 1
        # every request of one connection went over the same socket (one accept)
        assert r["ports"] == {r["port"]}
        assert not r["closed_after"], "server closed connection %d after its 20 requests" % i
        local_ports.add(r["port"])
    assert total == n_conns * per_conn == 1000
    assert len(local_ports) == n_conns
    assert elapsed < 60, elapsed


# --------------------------------------------------------------------------
# pipelining
# --------------------------------------------------------------------------

def test_pipelined_requests_answered_in_order(make_server):
    srv = make_server(APP, args=["--threads", "4"], workers=1)
    paths = ["/echo/first", "/echo/second/x", "/echo/third?q=1", "/fast", "/echo/fifth"]
    blob = b"".join(simple_get(p) for p in paths)
    with Conn.open(srv, timeout=10) as c:
        c.send(blob)  # all requests in one send()
        for p in paths:
            r = c.read_response()
            assert r.status == 200, r
            expect = b"fast" if p == "/fast" else p.split("?")[0].encode()
            assert r.body == expect, (p, r.body)
        # connection still usable afterwards
        c.send(simple_get("/echo/after"))
        r = c.read_response()
        assert r.status == 200 and r.body == b"/echo/after"


def test_pipelined_with_slow_first_request_keeps_order(make_server):
    # a slow first request must not let the fast ones overtake it
    srv = make_server(APP, args=["--threads", "4"], workers=1)
    blob = (simple_get("/sleep?s=0.5") + simple_get("/echo/b") + simple_get("/echo/c"))
    with Conn.open(srv, timeout=10) as c:
        c.send(blob)
        r1, r2, r3 = c.read_response(), c.read_response(), c.read_response()
    assert (r1.status, r1.body) == (200, b"slept")
    assert (r2.status, r2.body) == (200, b"/echo/b")
    assert (r3.status, r3.body) == (200, b"/echo/c")


def test_pipelined_http10_keepalive(make_server):
    srv = make_server(APP, args=["--threads", "2"], workers=1)
    ka = [("Connection", "keep-alive")]
    paths = ["/echo/one", "/echo/two", "/echo/three"]
    blob = b"".join(simple_get(p, version="HTTP/1.0", headers=ka) for p in paths)
    with Conn.open(srv, timeout=10) as c:
        c.send(blob)
        for p in paths:
            r = c.read_response()
            assert r.status == 200, r
            assert r.body == p.encode()
            assert r.has("Content-Length")
            assert (r.header("Connection") or "").lower() != "close", r
        # still open: one more HTTP/1.0 keep-alive request, then a plain 1.0 one
        c.send(simple_get("/echo/four", version="HTTP/1.0", headers=ka)
               + simple_get("/echo/last", version="HTTP/1.0"))
        r = c.read_response()
        assert r.status == 200 and r.body == b"/echo/four"
        r = c.read_response()
        assert r.status == 200 and r.body == b"/echo/last"
        # plain HTTP/1.0 without keep-alive: server closes after the response
        assert c.peer_closed(timeout=3.0)


def test_pipelined_close_ends_connection(make_server):
    srv = make_server(APP, args=["--threads", "2"], workers=1)
    blob = (simple_get("/echo/a") + simple_get("/echo/b", headers=[("Connection", "close")])
            + simple_get("/echo/never"))
    with Conn.open(srv, timeout=10) as c:
        c.send(blob)
        r = c.read_response()
        assert r.body == b"/echo/a"
        r = c.read_response()
        assert r.body == b"/echo/b"
        assert (r.header("Connection") or "").lower() == "close"
        assert c.peer_closed(timeout=3.0), "request after Connection: close was answered"


# --------------------------------------------------------------------------
# keep-alive idle timeout
# --------------------------------------------------------------------------

def test_keepalive_idle_timeout_closes_silent_connection(make_server):
    srv = make_server(APP, args=["--threads", "2", "--keep-alive", "1"], workers=1)
    silent = Conn.open(srv, timeout=10)
    active = Conn.open(srv, timeout=10)
    try:
        silent.send(simple_get("/echo/s"))
        assert silent.read_response().status == 200
        t_idle = time.monotonic()

        active_ok = []
        active_err = []

        def keep_busy():
            try:
                for i in range(12):  # ~2.4 s of activity, gaps of 0.2 s < keep-alive
                    active.send(simple_get("/echo/a%d" % i))
                    r = active.read_response()
                    active_ok.append(r.status == 200 and r.body == b"/echo/a%d" % i)
                    time.sleep(0.2)
            except Exception as e:  # noqa
                active_err.append(repr(e))

        t = threading.Thread(target=keep_busy, daemon=True)
        t.start()

        # the silent connection must be closed by the server (EOF) within 3 s
        silent.sock.settimeout(3.0)
        try:
            data = silent.sock.recv(100)
        except ConnectionResetError:
            data = b""
        except socket.timeout:
            data = None
        closed_after = time.monotonic() - t_idle
        assert data == b"", "silent keep-alive connection not closed within 3 s (got %r)" % data
        assert 0.5 <= closed_after < 3.0, closed_after

        t.join(10)
        assert not t.is_alive()
        assert not active_err, active_err
        assert len(active_ok) == 12 and all(active_ok)
    finally:
        silent.close()
        active.close()


# --------------------------------------------------------------------------
# slow clients
# --------------------------------------------------------------------------

def test_slowloris_does_not_delay_normal_requests(make_server):
    raise_nofile()
    srv = make_server(APP, args=["--threads", "2", "--timeout", "30"], workers=1)
    check_slow_clients_do_not_delay(srv, 200)


# --------------------------------------------------------------------------
# --worker-connections
# --------------------------------------------------------------------------

def test_worker_connections_bounds_open_connections(make_server):
    srv = make_server(APP, args=["--threads", "2", "--worker-connections", "10",
                                 "--keep-alive", "30"], workers=1)
    idle = []
    extra = None
    try:
        for i in range(10):
            c = Conn.open(srv, timeout=10)
            c.send(simple_get("/echo/idle%d" % i))
            r = c.read_response()
            assert r.status == 200
            idle.append(c)  # kept open, idle keep-alive

        extra = Conn.open(srv, timeout=10)  # TCP connect succeeds (backlog)
        extra.send(simple_get("/echo/eleventh"))
        try:
            r = extra.read_response(timeout=1.2)
            pytest.fail("11th connection was served while 10 were open: %r" % r)
        except (socket.timeout, TimeoutError):
            pass

        # the 10 idle ones are still served fine
        idle[0].send(simple_get("/echo/still"))
        r = idle[0].read_response(timeout=5)
        assert r.status == 200 and r.body == b"/echo/still"

        # close some of them; the 11th gets served
        for c in idle[:3]:
            c.close()
        r = extra.read_response(timeout=10)
        assert r.status == 200 and r.body == b"/echo/eleventh"
    finally:
        for c in idle:
            c.close()
        if extra is not None:
            extra.close()


# --------------------------------------------------------------------------
# graceful stop
# --------------------------------------------------------------------------

def test_graceful_stop_finishes_inflight_requests(make_server):
    srv = make_server(APP, args=["--threads", "4"], workers=1, graceful_timeout=10)
    n = 20
    conns = []
    results = [None] * n
    try:
        for i in range(n):
            c = Conn.open(srv, timeout=30)
            c.send(simple_get("/sleep?s=1"))
            conns.append(c)

        def reader(i):
            def run():
                try:
                    r = conns[i].read_response(timeout=30)
                    results[i] = (r.status, r.body)
                except Exception as e:  # noqa
                    results[i] = ("error", repr(e))
            return run

        threads = [threading.Thread(target=reader(i), daemon=True) for i in range(n)]
        for t in threads:
            t.start()
        time.sleep(0.5)  # all 20 accepted / queued; 4 running
        t_term = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        rc = srv.wait_exit(15)
        exit_after = time.monotonic() - t_term
        for t in threads:
            t.join(10)
        assert rc == 0, "master exit status %r after %.1fs\n%s" % (rc, exit_after,
                                                                  srv.log_text()[-3000:])
        assert exit_after < 10 + 2, exit_after
        bad = [(i, r) for i, r in enumerate(results) if r != (200, b"slept")]
        assert not bad, "lost in-flight requests: %r" % bad
    finally:
        for c in conns:
            c.close()


def test_graceful_stop_closes_idle_keepalive_after_a_second(make_server):
    """A stopping worker waits at most a second (CN_TIMEOUTS_STOP_IDLE) for
    the next request on an idle keep-alive connection, then closes it; the
    keep-alive setting (30 s here) does not keep it open."""
    srv = make_server(APP, args=["--threads", "2", "--keep-alive", "30"], workers=1,
                      graceful_timeout=10)
    c = Conn.open(srv, timeout=10)
    busy = Conn.open(srv, timeout=10)
    try:
        c.send(simple_get("/echo/idle"))
        assert c.read_response().status == 200
        busy.send(simple_get("/sleep?s=3"))
        time.sleep(0.3)
        t0 = time.monotonic()
        srv.send_signal(signal.SIGTERM)
        assert c.peer_closed(timeout=3), "idle keep-alive connection not closed on TERM"
        assert 0.8 <= time.monotonic() - t0 < 2.5
        r = busy.read_response(timeout=10)
        assert r.status == 200 and r.body == b"slept"
        assert srv.wait_exit(12) == 0
    finally:
        c.close()
        busy.close()


# --------------------------------------------------------------------------
# thread pool
# --------------------------------------------------------------------------

def test_blocked_thread_does_not_stop_other_threads(make_server):
    srv = make_server(APP, args=["--threads", "4"], workers=1)
    block = Conn.open(srv, timeout=20)
    try:
        t_block = time.monotonic()
        block.send(simple_get("/block?s=5"))
        time.sleep(0.3)
        timings = []
        for i in range(5):
            t0 = time.monotonic()
            with Conn.open(srv, timeout=10) as c:
                c.send(simple_get("/fast"))
                r = c.read_response()
            timings.append(time.monotonic() - t0)
            assert r.status == 200 and r.body == b"fast"
        assert time.monotonic() - t_block < 5.0, "/block finished before the fast requests"
        assert max(timings) < 1.0, timings
        r = block.read_response(timeout=15)
        assert r.status == 200 and r.body == b"blocked"
    finally:
        block.close()


def test_threads_run_concurrently(make_server):
    # 4 x 1 s sleeps with --threads 4 overlap (well under 4 s)
    srv = make_server(APP, args=["--threads", "4"], workers=1)
    results = []

    def one():
        with Conn.open(srv, timeout=20) as c:
            c.send(simple_get("/sleep?s=1"))
            r = c.read_response()
            results.append(r.status)

    t0 = time.monotonic()
    _run_threads([one for _ in range(4)], timeout=20)
    elapsed = time.monotonic() - t0
    assert results == [200] * 4
    assert elapsed < 3.0, elapsed


def test_wsgi_multithread_true(make_server):
    srv = make_server(APP, args=["--threads", "4"], workers=1)
    env = srv.get_json("/env")
    assert env["multithread"] is True
    assert isinstance(env["multiprocess"], bool)
    assert env["run_once"] is False
    assert env["gevent_loaded"] is False
