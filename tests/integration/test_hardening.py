"""Hardening: slow clients, body limits, read/write timeouts, a long
keep-alive soak and a mutation fuzz against the real binary.

Runs for every worker class (CUNICORN_WORKER_CLASS=sync|gthread|gevent);
tests that do not apply to a class are skipped with a reason.

Environment:
  CUNICORN_SOAK_REQUESTS   requests in the keep-alive soak (default 1000000)
  CUNICORN_SANITIZED       set for sanitizer builds: the soak is skipped
  CUNICORN_FUZZ_REQUESTS   mutated requests in the fuzz test (default 2000)
  CUNICORN_FUZZ_SEED       its random seed (default 20240601)
"""
import os
import random
import selectors
import socket
import threading
import time

import pytest

from conftest import (WORKER_CLASS, only_cunicorn, Conn, ConnectionClosed, SlowLoris,
                      build_request, pid_alive, proc_status_kb, wait_until, raise_nofile)

APP = "app_harden:app"
# Gunicorn has no --limit-request-body, header/body/write timeouts or idle
# timeout of this kind: these are cunicorn's own guarantees.
pytestmark = only_cunicorn("hardening guarantees specific to cunicorn")
ASYNC_CLASSES = ("gthread", "gevent")


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------



def class_args(threads=2, extra=()):
    args = []
    if WORKER_CLASS == "gthread":
        args += ["--threads", str(threads)]
    return args + list(extra)


def only_worker(srv):
    pids = srv.wait_workers(1, 10)
    return pids[0]


def fd_count(pid):
    try:
        return len(os.listdir("/proc/%d/fd" % pid))
    except OSError:
        return -1


def settled_fds(pid, timeout=3.0):
    """The worker's fd count once it stops changing (a just-closed client
    connection may still be open for a moment after the response)."""
    last = fd_count(pid)
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        time.sleep(0.2)
        now = fd_count(pid)
        if now == last:
            return now
        last = now
    return last


def timed_get(srv, path="/hello", timeout=5.0):
    """One GET on a fresh connection; returns (status, seconds)."""
    t0 = time.monotonic()
    with Conn(srv.connect(timeout), timeout) as c:
        c.send(build_request("GET", path, headers=[("Connection", "close")]))
        r = c.read_response()
    return r.status, time.monotonic() - t0


def served_meanwhile(srv, until, pause=0.2, tries=10):
    """GETs on fresh connections until the monotonic time `until` while a
    stalled client is held; each must be answered within 1 s. Returns their
    latencies."""
    lat = []
    for _ in range(tries):
        if time.monotonic() >= until:
            break
        status, dt = timed_get(srv, timeout=5)
        assert status == 200
        lat.append(dt)
        time.sleep(pause)
    assert lat, "no request was made while the client stalled"
    assert max(lat) < 1.0, "normal requests delayed by the stalled client: %s" % lat
    return lat


def wait_closed(sock, timeout):
    """Read (and discard) until EOF/reset; returns (closed, seconds, bytes read).
    Bounded by timeout."""
    t0 = time.monotonic()
    deadline = t0 + timeout
    got = 0
    while True:
        left = deadline - time.monotonic()
        if left <= 0:
            return False, time.monotonic() - t0, got
        sock.settimeout(left)
        try:
            d = sock.recv(65536)
        except (ConnectionResetError, BrokenPipeError):
            return True, time.monotonic() - t0, got
        except (socket.timeout, TimeoutError):
            return False, time.monotonic() - t0, got
        if not d:
            return True, time.monotonic() - t0, got
        got += len(d)


def first_status(data):
    if data.startswith(b"HTTP/1.") and len(data) >= 12:
        try:
            return int(data[9:12])
        except ValueError:
            return None
    return None


# --------------------------------------------------------------------------
# 1. slowloris / header timeout / idle timeout
# --------------------------------------------------------------------------

# about 4 s (1,000 connections, --timeout 3)
@pytest.mark.skipif(WORKER_CLASS not in ASYNC_CLASSES,
                    reason="slowloris with 1,000 connections needs an async class "
                           "(sync is covered by test_sync_half_head_dropped)")
def test_slowloris_does_not_delay_requests_and_is_closed_at_header_timeout(make_server):
    n = 1000
    timeout = 3
    nofile = raise_nofile(8192)
    if nofile < n + 200:
        pytest.skip("RLIMIT_NOFILE too low (%d)" % nofile)
    srv = make_server(APP, args=class_args(2, ["--timeout", str(timeout), "--keep-alive", "2",
                                                "--worker-connections", "4000"]))
    wpid = only_worker(srv)
    loris = SlowLoris(srv, n, interval=0.2, duration=timeout + 8).open()
    try:
        loris.start()
        # normal requests during the trickle, before the header timeout fires
        lat = served_meanwhile(srv, time.monotonic() + timeout - 0.5, pause=0.1, tries=40)
        loris.join(timeout + 9)
        assert pid_alive(wpid) and srv.worker_pids() == [wpid], "worker replaced"
        closed = sorted(loris.closed.values())
        in_time = [c for c in closed if c <= timeout + 3]
        early = [c for c in closed if c < timeout - 1]
        print("slowloris: %d/%d closed; within %ds: %d; early (<%ds): %d; "
              "median %.2fs; max %.2fs; answered bytes on %d; requests %s"
              % (len(closed), n, timeout + 3, len(in_time), timeout - 1, len(early),
                 closed[len(closed) // 2] if closed else -1, closed[-1] if closed else -1,
                 len(loris.data), ["%.3f" % x for x in lat]))
        assert len(in_time) >= 0.9 * n, (
            "only %d/%d slow connections closed within timeout + 3 s (closed %d)"
            % (len(in_time), n, len(closed)))
        assert len(early) <= 0.1 * n, "%d slow connections closed before timeout - 1 s" % len(early)
        for d in loris.data.values():
            st = first_status(d)
            assert st in (None, 408, 400), "unexpected answer to a slow head: %r" % d[:200]
    finally:
        loris.stop()
    # the server is still fine afterwards
    status, dt = timed_get(srv)
    assert status == 200 and dt < 1.0


@pytest.mark.skipif(WORKER_CLASS not in ASYNC_CLASSES,
                    reason="sync serves one connection at a time; idle keep-alive does not apply")
def test_idle_connections_closed_after_keepalive(make_server):
    keepalive, n = 2, 50
    raise_nofile(4096)
    srv = make_server(APP, args=class_args(2, ["--timeout", "10", "--keep-alive", str(keepalive)]))
    socks = [srv.connect(timeout=5) for _ in range(n)]
    t0 = time.monotonic()
    try:
        # requests are still served while they sit idle
        status, dt = timed_get(srv)
        assert status == 200 and dt < 1.0
        results = []
        for s in socks:
            left = max(0.02, t0 + keepalive + 3 - time.monotonic())
            closed, _, got = wait_closed(s, left)
            results.append((closed, time.monotonic() - t0, got))
        n_closed = sum(1 for r in results if r[0])
        times = sorted(r[1] for r in results if r[0])
        print("idle: %d/%d closed; first %.2fs last %.2fs" %
              (n_closed, n, times[0] if times else -1, times[-1] if times else -1))
        assert n_closed == n, "%d/%d idle connections still open after keep-alive + 3 s" % (
            n - n_closed, n)
        assert times[0] >= keepalive - 0.5, "idle connection closed too early: %.2fs" % times[0]
        assert all(r[2] == 0 for r in results), "server sent bytes on an idle connection"
    finally:
        for s in socks:
            s.close()


@pytest.mark.skipif(WORKER_CLASS != "sync", reason="sync-only form of the slowloris test")
def test_sync_half_head_dropped(make_server):
    timeout = 2
    srv = make_server(APP, args=["--timeout", str(timeout)])
    wpid = only_worker(srv)
    s = srv.connect(timeout=5)
    try:
        s.sendall(b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Half: ")
        # a second client queues behind the stalled one
        nxt = srv.connect(timeout=10)
        t0 = time.monotonic()
        closed, dt, got = wait_closed(s, timeout + 3)
        assert closed, "half head not dropped within --timeout + 3 s"
        print("sync half head dropped after %.2fs (answer %r)" % (dt, got))
        assert dt >= timeout - 1.0, "dropped too early (%.2fs)" % dt
        with Conn(nxt, 5) as c:
            c.send(build_request("GET", "/pid", headers=[("Connection", "close")]))
            r = c.read_response()
        assert r.status == 200
        assert time.monotonic() - t0 < timeout + 4
        assert int(r.body) == wpid, "the worker was replaced instead of dropping the client"
    finally:
        s.close()


# --------------------------------------------------------------------------
# 2. --limit-request-body
# --------------------------------------------------------------------------

LIMIT = 1 << 20


def test_limit_body_content_length_over_limit_413_before_body(make_server):
    srv = make_server(APP, args=class_args(2, ["--limit-request-body", str(LIMIT)]))
    with Conn(srv.connect(5), 5) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: %d\r\n\r\n" % (LIMIT + 1))
        r = c.read_response(timeout=2)
    assert r.status == 413, r
    # still serving
    status, _ = timed_get(srv)
    assert status == 200


def test_limit_body_exactly_at_limit_accepted(make_server):
    srv = make_server(APP, args=class_args(2, ["--limit-request-body", str(LIMIT)]))
    body = b"b" * LIMIT
    with Conn(srv.connect(10), 10) as c:
        c.send(build_request("POST", "/echo", body=body, headers=[("Connection", "close")]))
        r = c.read_response()
    assert r.status == 200, r
    assert r.json()["len"] == LIMIT
    # chunked, exactly at the limit, in uneven chunks
    data = b"c" * LIMIT
    parts = []
    for i in range(0, len(data), 300000):
        p = data[i:i + 300000]
        parts.append(b"%x\r\n%s\r\n" % (len(p), p))
    with Conn(srv.connect(10), 10) as c:
        c.send(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n"
               b"Connection: close\r\n\r\n" + b"".join(parts) + b"0\r\n\r\n")
        r = c.read_response()
    assert r.status == 200, r
    assert r.json()["len"] == LIMIT


def test_limit_body_chunked_small_over_limit(make_server):
    srv = make_server(APP, args=class_args(2, ["--limit-request-body", "1000"]))
    body = b"%x\r\n%s\r\n" % (600, b"z" * 600)
    data = (b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
            + body + body + b"0\r\n\r\n")
    with Conn(srv.connect(5), 5) as c:
        c.send(data)
        try:
            r = c.read_response(timeout=3)
            assert r.status == 413, r
        except ConnectionClosed:
            pass  # closing is allowed


# normally well under 1 s: it stops at the 413 (bounded at 60 s)
def test_limit_body_chunked_2gib_stream_rejected_early(make_server):
    """Stream 2 GiB of chunked data in 1 MiB chunks against a 1 MiB limit: the
    server must answer 413 (or close) early, never read it all, and not grow."""
    total_chunks = 2048  # 2 GiB
    srv = make_server(APP, args=class_args(2, ["--limit-request-body", str(LIMIT),
                                                "--timeout", "30"]))
    wpid = only_worker(srv)
    status, _ = timed_get(srv)  # warm up
    assert status == 200
    hwm0 = proc_status_kb(wpid, "VmHWM")
    chunk = b"%x\r\n" % LIMIT + b"q" * LIMIT + b"\r\n"
    s = srv.connect(10)
    sent = 0
    answer = b""
    outcome = None
    t0 = time.monotonic()
    try:
        s.setblocking(False)
        head = (b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n")
        pending = head
        chunks_queued = 0
        sel = selectors.DefaultSelector()
        sel.register(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
        deadline = t0 + 60
        view = memoryview(pending)
        while time.monotonic() < deadline and outcome is None:
            events = sel.select(1.0)
            for _, ev in events:
                if ev & selectors.EVENT_READ:
                    try:
                        d = s.recv(65536)
                    except BlockingIOError:
                        d = None
                    except OSError as e:
                        outcome = "reset (%s)" % e.__class__.__name__
                        break
                    if d == b"":
                        outcome = "eof"
                        break
                    if d:
                        answer += d
                        if b"\r\n\r\n" in answer:
                            outcome = "answered"
                            break
                if ev & selectors.EVENT_WRITE:
                    if not view:
                        if chunks_queued >= total_chunks:
                            view = memoryview(b"0\r\n\r\n")
                            chunks_queued += 1
                            if chunks_queued > total_chunks + 1:
                                sel.modify(s, selectors.EVENT_READ)
                                continue
                        else:
                            view = memoryview(chunk)
                            chunks_queued += 1
                    try:
                        k = s.send(view)
                    except BlockingIOError:
                        continue
                    except OSError as e:
                        outcome = "send error (%s)" % e.__class__.__name__
                        break
                    sent += k
                    view = view[k:]
        sel.close()
        # the answer may still be on its way after a send error
        if outcome != "answered":
            s.setblocking(True)
            s.settimeout(2)
            try:
                for _ in range(100):
                    d = s.recv(65536)
                    if not d:
                        break
                    answer += d
                    if b"\r\n\r\n" in answer:
                        break
            except OSError:
                pass
    finally:
        s.close()
    elapsed = time.monotonic() - t0
    st = first_status(answer)
    hwm1 = proc_status_kb(wpid, "VmHWM") if pid_alive(wpid) else -1
    print("2GiB chunked: outcome=%s status=%s sent=%.1f MiB in %.2fs; worker VmHWM %d -> %d kB"
          % (outcome, st, sent / 2**20, elapsed, hwm0, hwm1))
    assert outcome is not None, "server still reading after 60 s (%d MiB sent)" % (sent >> 20)
    assert st in (413, None), "expected 413, got %r" % answer[:200]
    assert sent < 64 * 2**20, "server accepted %d MiB before rejecting" % (sent >> 20)
    assert pid_alive(wpid), "worker died"
    assert hwm1 - hwm0 < 20 * 1024, "worker VmHWM grew by %d kB" % (hwm1 - hwm0)
    status, _ = timed_get(srv)
    assert status == 200


# --------------------------------------------------------------------------
# 3. body read timeout
# --------------------------------------------------------------------------

@pytest.mark.skipif(WORKER_CLASS not in ASYNC_CLASSES, reason="keep-alive classes only")
def test_busy_keepalive_connection_outlives_idle_timeout(make_server):
    """The keep-alive idle timer restarts with every request: a connection
    in steady use for 2.5 keep-alive periods is never closed (a reused gevent
    Timeout once fired from its first start and closed busy connections)."""
    srv = make_server(APP, args=class_args(2, ["--keep-alive", "1"]))
    with srv.connect(timeout=5) as s:
        c = Conn(s, 5)
        end = time.monotonic() + 2.5
        n = 0
        while time.monotonic() < end and n < 100000:
            c.send(build_request("GET", "/hello"))
            r = c.read_response()
            assert r.status == 200, "request %d on the connection: %r" % (n, r)
            n += 1
    assert n > 100


def test_body_cut_short_gets_400(make_server):
    """A client that half-closes inside a Content-Length body: the app reading
    it gets no data it did not send, and the client gets 400 (every class;
    gthread reads small bodies in its loop, where this used to be a silent
    close)."""
    srv = make_server(APP, args=class_args(2, ["--timeout", "5"]))
    with srv.connect(timeout=5) as s:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 11\r\n\r\nhell")
        s.shutdown(socket.SHUT_WR)
        data = b""
        deadline = time.monotonic() + 5
        while time.monotonic() < deadline:
            d = s.recv(65536)
            if not d:
                break
            data += d
    assert data.startswith(b"HTTP/1.1 400 "), data[:200]
    status, dt = timed_get(srv)
    assert status == 200


def test_body_read_timeout(make_server):
    timeout = 3
    srv = make_server(APP, args=class_args(2, ["--timeout", str(timeout)]))
    wpid = only_worker(srv)
    s = srv.connect(10)
    try:
        s.sendall(b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 100\r\n\r\n"
                  + b"0123456789")
        t0 = time.monotonic()
        # others are served while the body stalls
        lat = served_meanwhile(srv, t0 + timeout - 1) if WORKER_CLASS in ASYNC_CLASSES else []
        c = Conn(s, timeout + 3)
        answer = b""
        try:
            answer = c.read_to_eof(t0 + timeout + 3)
            closed = c.eof
        except (socket.timeout, TimeoutError):
            closed = False
        dt = time.monotonic() - t0
        st = first_status(answer)
        print("stalled body: closed=%s after %.2fs, status %s, others %s"
              % (closed, dt, st, ["%.3f" % x for x in lat]))
        assert closed or st == 408, "no 408/close within --timeout + 3 s"
        assert st in (None, 408, 400), "unexpected answer %r" % answer[:300]
    finally:
        s.close()
    status, dt = timed_get(srv, "/pid")
    assert status == 200
    assert srv.worker_pids() == [wpid], "worker was replaced"


# --------------------------------------------------------------------------
# 4. write timeout
# --------------------------------------------------------------------------

def test_write_timeout_non_reading_client(make_server):
    timeout = 3
    size = 64 << 20
    srv = make_server(APP, args=class_args(2, ["--timeout", str(timeout)]))
    wpid = only_worker(srv)
    status, _ = timed_get(srv)
    assert status == 200
    fd0 = settled_fds(wpid)
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    s.settimeout(5)
    s.connect((srv.host, srv.port))
    try:
        s.sendall(b"GET /stream?size=%d HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n" % size)
        t0 = time.monotonic()
        # wait until the worker has accepted it
        wait_until(lambda: fd_count(wpid) > fd0, 5, what="connection accepted")
        lat = served_meanwhile(srv, t0 + timeout - 1) if WORKER_CLASS in ASYNC_CLASSES else []
        # the worker gives the connection up: its fd goes away
        gave_up = None
        for _ in range(int((timeout + 5) / 0.1) + 1):
            if fd_count(wpid) <= fd0 or not pid_alive(wpid):
                gave_up = time.monotonic() - t0
                break
            time.sleep(0.1)
        # then reading gets a truncated body and EOF/reset
        closed, _, got = wait_closed(s, 10)
        print("write stall: server gave up after %s s; client then read %.1f MiB, closed=%s;"
              " others %s" % ("%.2f" % gave_up if gave_up else "never", got / 2**20, closed,
                              ["%.3f" % x for x in lat]))
        assert gave_up is not None, "worker still holds the connection after --timeout + 5 s"
        assert closed and got < size, "the whole body was still delivered (%d bytes)" % got
    finally:
        s.close()
    status, dt = timed_get(srv, "/pid")
    assert status == 200 and dt < 2
    pids = srv.worker_pids()
    assert len(pids) == 1
    if pids != [wpid]:
        print("note: worker %d was replaced by %s" % (wpid, pids))


# --------------------------------------------------------------------------
# 5. long keep-alive soak
# --------------------------------------------------------------------------

def _soak(srv, total, conns=20, batch=100, warmup=50000, on_warm=None, time_limit=900):
    """Pipelined keep-alive GETs over `conns` connections, `batch` per send.
    Returns the number of 200 responses. Calls on_warm() once after `warmup`."""
    req = b"GET /hello HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
    payload = req * batch
    sel = selectors.DefaultSelector()
    state = {}
    issued = 0
    for _ in range(conns):
        s = srv.connect(10)
        s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        s.setblocking(False)
        st = {"sock": s, "buf": b"", "outstanding": 0, "out": memoryview(b"")}
        state[s.fileno()] = st
        sel.register(s, selectors.EVENT_READ)

    def issue(st):
        nonlocal issued
        n = min(batch, total - issued)
        if n <= 0:
            return
        issued += n
        st["outstanding"] += n
        st["out"] = memoryview(payload if n == batch else req * n)
        flush(st)

    def flush(st):
        s = st["sock"]
        while st["out"]:
            try:
                k = s.send(st["out"])
            except BlockingIOError:
                sel.modify(s, selectors.EVENT_READ | selectors.EVENT_WRITE)
                return
            st["out"] = st["out"][k:]
        sel.modify(s, selectors.EVENT_READ)

    done = 0
    warmed = False
    deadline = time.monotonic() + time_limit
    for st in list(state.values()):
        issue(st)
    try:
        while done < total:
            if time.monotonic() > deadline:
                raise AssertionError("soak exceeded %ss at %d responses" % (time_limit, done))
            events = sel.select(5.0)
            if not events:
                raise AssertionError("soak stalled at %d/%d responses" % (done, total))
            for key, ev in events:
                st = state[key.fd]
                if ev & selectors.EVENT_WRITE:
                    flush(st)
                if not ev & selectors.EVENT_READ:
                    continue
                try:
                    d = st["sock"].recv(1 << 20)
                except BlockingIOError:
                    continue
                if not d:
                    raise AssertionError("server closed a keep-alive connection at %d" % done)
                buf = st["buf"] + d
                pos = 0
                n = len(buf)
                while True:
                    he = buf.find(b"\r\n\r\n", pos)
                    if he < 0:
                        break
                    if buf[pos:pos + 13] != b"HTTP/1.1 200 ":
                        raise AssertionError("bad response %r" % buf[pos:pos + 200])
                    ci = buf.find(b"Content-Length: ", pos, he)
                    if ci < 0:
                        ci = buf.lower().find(b"content-length: ", pos, he)
                    cl = int(buf[ci + 16:buf.find(b"\r\n", ci)])
                    end = he + 4 + cl
                    if end > n:
                        break
                    pos = end
                    st["outstanding"] -= 1
                    done += 1
                st["buf"] = buf[pos:]
                if st["outstanding"] == 0:
                    issue(st)
                if not warmed and done >= warmup:
                    warmed = True
                    if on_warm:
                        on_warm()
    finally:
        sel.close()
        for st in state.values():
            st["sock"].close()
    return done


# > 20 s: 1,000,000 requests by default, ~20 s at 50k req/s (CUNICORN_SOAK_REQUESTS to change)
@pytest.mark.skipif(WORKER_CLASS not in ASYNC_CLASSES, reason="keep-alive soak is for gthread/gevent")
@pytest.mark.skipif(bool(os.environ.get("CUNICORN_SANITIZED")), reason="sanitizer builds are slow")
def test_keepalive_soak_rss_and_fds_stable(make_server):
    total = int(os.environ.get("CUNICORN_SOAK_REQUESTS", "1000000"))
    warmup = min(50000, total // 4)
    raise_nofile(4096)
    srv = make_server(APP, args=class_args(2, ["--keep-alive", "30", "--timeout", "60"]))
    wpid = only_worker(srv)
    status, _ = timed_get(srv)
    assert status == 200
    fd_base = settled_fds(wpid)
    marks = {}

    def on_warm():
        marks["rss_warm"] = proc_status_kb(wpid, "VmRSS")
        marks["fd_busy"] = fd_count(wpid)
        marks["t_warm"] = time.monotonic()

    t0 = time.monotonic()
    done = _soak(srv, total, warmup=warmup, on_warm=on_warm)
    elapsed = time.monotonic() - t0
    rss_end = proc_status_kb(wpid, "VmRSS")
    # fds back to the baseline once the clients are gone
    fds_after = None
    for _ in range(100):
        fds_after = fd_count(wpid)
        if fds_after <= fd_base:
            break
        time.sleep(0.1)
    print("soak: %d requests in %.1fs (%.0f req/s); VmRSS after warm-up %d kB, end %d kB "
          "(+%d kB); fds %d -> %d" % (done, elapsed, done / elapsed, marks["rss_warm"], rss_end,
                                       rss_end - marks["rss_warm"], fd_base, fds_after))
    assert done == total
    assert marks["fd_busy"] >= fd_base + 20, "soak connections not seen in the worker's fds"
    assert srv.worker_pids() == [wpid], "worker replaced during the soak"
    assert rss_end - marks["rss_warm"] < 5 * 1024, "RSS grew by %d kB" % (rss_end - marks["rss_warm"])
    assert fds_after <= fd_base, "fd count %d did not return to %d" % (fds_after, fd_base)


# --------------------------------------------------------------------------
# 6. mutation fuzz
# --------------------------------------------------------------------------

SEEDS = [
    b"GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
    b"GET /hello?x=1&y=%20z HTTP/1.1\r\nHost: 127.0.0.1\r\nUser-Agent: fuzz\r\n"
    b"Accept: */*\r\nConnection: keep-alive\r\n\r\n",
    b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 11\r\n\r\nhello world",
    b"POST /echo HTTP/1.1\r\nHost: 127.0.0.1\r\nTransfer-Encoding: chunked\r\n\r\n"
    b"5\r\nhello\r\n6;ext=1\r\n world\r\n0\r\nX-Trailer: t\r\n\r\n",
    b"GET /pid HTTP/1.0\r\n\r\n",
    b"HEAD /hello HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\n\r\n",
    b"PUT /echo HTTP/1.1\r\nHost: h\r\nExpect: 100-continue\r\nContent-Length: 3\r\n\r\nabc",
    b"GET /hello HTTP/1.1\r\nHost: h\r\n\r\nGET /pid HTTP/1.1\r\nHost: h\r\n\r\n",
    b"OPTIONS * HTTP/1.1\r\nHost: h\r\n\r\n",
    b"GET http://example.com/hello HTTP/1.1\r\nHost: h\r\nX-Forwarded-For: 1.2.3.4\r\n"
    b"X-Forwarded-Proto: https\r\n\r\n",
]

INTERESTING = [
    b"Content-Length: 5", b"Content-Length: -1", b"Content-Length: 99999999999999999999",
    b"Content-Length: 1, 2", b"Transfer-Encoding: chunked", b"Transfer-Encoding: gzip, chunked",
    b"Transfer-Encoding: chunked, identity", b"Host: a", b"Connection: upgrade",
    b"Upgrade: websocket", b"Expect: 100-continue", b"Expect: foo", b"X: \x00", b" folded",
    b"\tX: y", b"X-Forwarded-Proto: https", b"Content-Length: 0x10", b"Content-Length:  7 ",
    b"Transfer-Encoding: \x0bchunked", b"SCRIPT_NAME: /x", b"Cookie: " + b"c=" * 500,
]


def mutate(rng, base):
    data = bytearray(base)
    ops = rng.randint(1, 4)
    for _ in range(ops):
        op = rng.randrange(12)
        if op == 0 and data:  # bit flips
            for _ in range(rng.randint(1, 8)):
                i = rng.randrange(len(data))
                data[i] ^= 1 << rng.randrange(8)
        elif op == 1 and data:  # truncation
            data = data[:rng.randrange(len(data))]
        elif op == 2:  # duplicated header lines
            lines = bytes(data).split(b"\r\n")
            if len(lines) > 2:
                i = rng.randrange(1, len(lines) - 1)
                lines[i:i] = [lines[i]] * rng.randint(1, 3)
                data = bytearray(b"\r\n".join(lines))
        elif op == 3:  # huge value
            size = rng.choice([1000, 8190, 8191, 8200, 65536, 200000])
            hdr = b"X-Big: " + bytes([rng.choice(b"aZ09-_ \t")]) * size + b"\r\n"
            i = bytes(data).find(b"\r\n")
            if i >= 0:
                data[i + 2:i + 2] = hdr
        elif op == 4:  # random bytes spliced in
            i = rng.randrange(len(data) + 1)
            data[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 32)))
        elif op == 5:  # entirely random
            data = bytearray(rng.randbytes(rng.randint(1, 2000)))
        elif op == 6:  # interesting header inserted
            i = bytes(data).find(b"\r\n")
            if i >= 0:
                data[i + 2:i + 2] = rng.choice(INTERESTING) + b"\r\n"
        elif op == 7 and data:  # delete a range
            i = rng.randrange(len(data))
            del data[i:i + rng.randint(1, 20)]
        elif op == 8:  # CR/LF games
            data = bytearray(bytes(data).replace(b"\r\n", rng.choice([b"\n", b"\r", b"\r\r\n",
                                                                    b"\n\r", b"\r\n "])))
        elif op == 9:  # huge request line / many headers
            if rng.random() < 0.5:
                data = bytearray(b"GET /" + b"a" * rng.choice([4094, 4095, 8190, 100000])
                                 + b" HTTP/1.1\r\nHost: h\r\n\r\n")
            else:
                n = rng.choice([99, 100, 101, 1000])
                data = bytearray(b"GET / HTTP/1.1\r\n" + b"X: y\r\n" * n + b"\r\n")
        elif op == 10:  # bogus chunk sizes
            data = bytearray(b"POST /echo HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n"
                             + rng.choice([b"ffffffffffffffffffff\r\n", b"-1\r\n", b"5\r\nab\r\n",
                                           b"1;" + b"e" * 10000 + b"\r\nx\r\n0\r\n\r\n",
                                           b"0\r\n" + b"T: v\r\n" * 200 + b"\r\n",
                                           b"3\r\nabcXX0\r\n\r\n", b"\r\n\r\n"]))
        elif op == 11:  # method / version oddities
            data = bytearray(bytes(data).replace(b"HTTP/1.1", rng.choice(
                [b"HTTP/1.2", b"HTTP/2.0", b"HTTP/0.9", b"HTTP/1.10", b"http/1.1", b"HTTP/11",
                 b""]), 1))
    return bytes(data)


def _fuzz_one(srv, payload, timeout=4.0):
    """Send payload, half-close, read until EOF or timeout. Returns first status or a tag."""
    try:
        s = srv.connect(timeout=5)
    except OSError as e:
        return "connect-error:%s" % e.__class__.__name__
    try:
        try:
            s.sendall(payload)
            s.shutdown(socket.SHUT_WR)
        except OSError:
            pass
        got = b""
        deadline = time.monotonic() + timeout
        while len(got) < (1 << 20):
            left = deadline - time.monotonic()
            if left <= 0:
                break
            s.settimeout(left)
            try:
                d = s.recv(65536)
            except (socket.timeout, TimeoutError):
                break
            except OSError:
                break
            if not d:
                break
            got += d
        st = first_status(got)
        return st if st is not None else ("empty" if not got else "noparse")
    finally:
        s.close()


# about 1 s (2,000 payloads over 8 client threads; bounded at 920 s)
def test_mutation_fuzz_does_not_crash_workers(make_server):
    n = int(os.environ.get("CUNICORN_FUZZ_REQUESTS", "2000"))
    workers = 2
    rng = random.Random(int(os.environ.get("CUNICORN_FUZZ_SEED", "20240601")))
    payloads = [mutate(rng, rng.choice(SEEDS)) for _ in range(n)]
    srv = make_server(APP, args=class_args(2, ["--timeout", "3", "--keep-alive", "1",
                                                "--limit-request-body", "100000"]),
                      workers=workers)
    pids0 = sorted(srv.wait_workers(workers, 10))
    results = {}
    lock = threading.Lock()
    idx = iter(range(n))
    t0 = time.monotonic()

    def worker():
        for _ in range(n):
            with lock:
                i = next(idx, None)
            if i is None or time.monotonic() - t0 > 900:
                return
            r = _fuzz_one(srv, payloads[i])
            with lock:
                results[r] = results.get(r, 0) + 1

    threads = [threading.Thread(target=worker, daemon=True) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(max(0.0, t0 + 920 - time.monotonic()))
    elapsed = time.monotonic() - t0
    print("fuzz: %d payloads in %.1fs; outcomes %s" %
          (sum(results.values()), elapsed, sorted(results.items(), key=lambda kv: str(kv[0]))))
    assert not any(t.is_alive() for t in threads), "fuzz clients still running"
    assert sum(results.values()) == n
    assert sorted(srv.worker_pids()) == pids0, (
        "worker pids changed: %s -> %s\n%s" % (pids0, srv.worker_pids(), srv.log_text()[-3000:]))
    assert 500 not in results, "a mutated request produced a 500"
    status, dt = timed_get(srv)
    assert status == 200
    log = srv.log_text()
    # (tracebacks are expected: the echo app lets wsgi.input's OSError through)
    for bad in ("Segmentation", "SIGSEGV", "SIGABRT", "Worker exiting", "was sent SIG"):
        assert bad not in log, "%r in the server log:\n%s" % (bad, log[-3000:])
    assert log.count("Booting worker") == workers, "a worker was respawned"
