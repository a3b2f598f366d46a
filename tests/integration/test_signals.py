"""Master process: signals, worker supervision, timeouts."""
import os
import re
import signal
import threading
import time

import pytest

from conftest import (WORKER_CLASS, Conn, build_request, needs_class, pid_alive, simple_get,
                      wait_until)


def _start_slow_request(srv, seconds):
    """Send a sleep request; returns (conn, result dict filled by a thread)."""
    c = Conn.open(srv, timeout=30)
    c.send(build_request("GET", "/__sleep?seconds=%s" % seconds, host="x"))
    result = {}

    def reader():
        try:
            result["resp"] = c.read_response(timeout=30)
        except Exception as e:  # noqa
            result["error"] = e
    t = threading.Thread(target=reader, daemon=True)
    t.start()
    return c, t, result


def test_sigterm_graceful_completes_inflight(make_server):
    s = make_server("app_router:app", workers=1, graceful_timeout=6)
    assert s.get("/").status == 200
    c, t, result = _start_slow_request(s, 2)
    try:
        time.sleep(0.5)  # let the worker pick the request up
        t0 = time.monotonic()
        s.send_signal(signal.SIGTERM)
        rc = s.wait_exit(10)
        t.join(10)
        assert "resp" in result, result.get("error")
        assert result["resp"].status == 200
        assert result["resp"].body == b"slept 2.0\n"
        assert rc == 0, s.log_text()
        assert time.monotonic() - t0 < 8
    finally:
        c.close()
    log = s.log_text()
    assert re.search(r"Handling signal: term", log), log
    assert "Shutting down: Master" in log


def test_sigterm_graceful_timeout_bounds_shutdown(make_server):
    s = make_server("app_router:app", workers=1, graceful_timeout=1)
    c, t, result = _start_slow_request(s, 8)
    try:
        time.sleep(0.5)
        t0 = time.monotonic()
        s.send_signal(signal.SIGTERM)
        rc = s.wait_exit(8)
        assert rc is not None, "master did not exit after graceful_timeout"
        assert time.monotonic() - t0 < 5
        t.join(5)
        assert "resp" not in result or result["resp"].status != 200
    finally:
        c.close()


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGQUIT], ids=["INT", "QUIT"])
def test_quick_shutdown(make_server, sig):
    s = make_server("app_env:app", workers=2)
    workers = s.worker_pids()
    assert len(workers) == 2
    s.send_signal(sig)
    rc = s.wait_exit(5)
    assert rc == 0, (rc, s.log_text())
    wait_until(lambda: not any(pid_alive(w) for w in workers), 5, what="workers gone")


def test_killed_worker_is_replaced(make_server):
    s = make_server("app_misc:pid", workers=2)
    before = s.worker_pids()
    assert len(before) == 2
    victim = before[0]
    os.kill(victim, signal.SIGKILL)
    after = wait_until(lambda: (lambda p: p if len(p) == 2 and victim not in p else None)(s.worker_pids()),
                       10, what="replacement worker")
    assert set(after) != set(before)
    s.wait_log(r"Booting worker with pid: (?!%d)\d+" % victim, timeout=10)
    for _ in range(4):
        r = s.get("/")
        assert r.status == 200
        assert int(r.body) in after


def _pids_until_restart(s, limit):
    """The pids that answer sequential requests (a new connection each),
    until the first worker has been replaced."""
    first = s.worker_pids()
    assert len(first) == 1
    seen = []
    for _ in range(limit):
        r = s.get("/", headers=[("Connection", "close")])
        assert r.status == 200, r
        seen.append(int(r.body))
        if seen[-1] != first[0]:
            break
    return first[0], seen


def test_max_requests_restarts_the_worker(make_server):
    """After --max-requests requests the worker finishes, says so as
    Gunicorn does, exits, and the master starts a new one."""
    s = make_server("app_misc:pid", workers=1, args=["--max-requests", "3"])
    first, seen = _pids_until_restart(s, 10)
    assert seen[:3] == [first] * 3 and len(seen) == 4 and seen[3] != first, seen
    s.wait_log(r"Autorestarting worker after current request\.", timeout=10)
    assert s.proc.poll() is None


def test_max_requests_jitter_bounds_the_restart(make_server):
    s = make_server("app_misc:pid", workers=1,
                    args=["--max-requests", "2", "--max-requests-jitter", "3"])
    first, seen = _pids_until_restart(s, 10)
    served_by_first = seen.count(first)
    assert 2 <= served_by_first <= 5 and seen[-1] != first, seen


def test_max_requests_answers_every_connection(make_server):
    """Concurrent clients against retiring workers: every request gets a
    full answer, and no worker serves more than --max-requests. A worker
    used to accept a connection after deciding to retire and close it
    unanswered, or serve one request more than the limit."""
    limit, clients, per_client = 3, 6, 12
    s = make_server("app_misc:pid", workers=2, args=["--max-requests", str(limit)])
    served, errors = [], []

    def client():
        conn = None
        try:
            for _ in range(per_client):
                if conn is None:
                    conn = Conn.open(s, timeout=15)
                conn.send(simple_get("/"))
                r = conn.read_response(timeout=15)
                assert r.status == 200, r
                served.append(int(r.body))
                if (r.header("Connection") or "").lower() == "close":
                    conn.close()
                    conn = None
        except Exception as e:  # noqa: BLE001 - reported below with the log
            errors.append(repr(e))
        finally:
            if conn is not None:
                conn.close()
    threads = [threading.Thread(target=client) for _ in range(clients)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, "%s\n%s" % (errors, s.log_text()[-3000:])
    assert len(served) == clients * per_client
    counts = {pid: served.count(pid) for pid in set(served)}
    assert max(counts.values()) <= limit, counts


def test_ttin_ttou(make_server):
    s = make_server("app_env:app", workers=2)
    assert len(s.worker_pids()) == 2
    s.send_signal(signal.SIGTTIN)
    s.wait_workers(3, timeout=10)
    s.send_signal(signal.SIGTTIN)
    s.wait_workers(4, timeout=10)
    s.send_signal(signal.SIGTTOU)
    s.wait_workers(3, timeout=10)
    s.send_signal(signal.SIGTTOU)
    s.wait_workers(2, timeout=10)
    assert s.get("/").status == 200


@needs_class("sync")
def test_worker_timeout_killed_and_replaced(make_server):
    s = make_server("app_router:app", workers=1, args=["--timeout", "2"])
    (w0,) = s.worker_pids()
    c, t, result = _start_slow_request(s, 10)
    try:
        s.wait_log(r"WORKER TIMEOUT \(pid:%d\)" % w0, timeout=12)
        t.join(10)
        assert "resp" not in result or result["resp"].status != 200
    finally:
        c.close()
    new = wait_until(lambda: (lambda p: p if len(p) == 1 and w0 not in p else None)(s.worker_pids()),
                     10, what="replacement worker")
    assert new
    assert s.get("/").status == 200
    assert not pid_alive(w0)


def test_sighup_reloads_workers(make_server):
    s = make_server("app_env:app", workers=2)
    before = set(s.worker_pids())
    s.send_signal(signal.SIGHUP)
    wait_until(lambda: (lambda p: len(p) == 2 and not (set(p) & before))(s.worker_pids()),
               15, what="all workers replaced after HUP")
    assert s.get("/").status == 200
    s.wait_log(r"Handling signal: hup", timeout=5)


# A quick stop must not wait for this request (nor for graceful_timeout,
# longer still): the margins between "stopped at once" and "waited" are
# wide enough for a busy machine.
QUICK_STOP_BLOCK = "/block?s=20"
QUICK_STOP_GRACE = 30


def assert_quick_exit(srv, sig):
    """Send sig; the master must exit 0 long before the request ends."""
    t0 = time.monotonic()
    srv.send_signal(sig)
    rc = srv.wait_exit(QUICK_STOP_GRACE + 5)
    took = time.monotonic() - t0
    assert rc == 0, "master exit %r\n%s" % (rc, srv.log_text()[-3000:])
    assert took < 10.0, "master took %.1fs to exit\n%s" % (took, srv.log_text()[-3000:])


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGQUIT], ids=["INT", "QUIT"])
def test_quick_stop_interrupts_the_app(make_server, sig):
    """INT/QUIT stop at once, every class: an app sleeping 20 s is
    interrupted, and the master exits long before graceful_timeout. sync
    used to wait for the request and then be SIGKILLed."""
    srv = make_server("app_concurrency:app", workers=1, graceful_timeout=QUICK_STOP_GRACE)
    busy = Conn.open(srv, timeout=10)
    try:
        busy.send(simple_get(QUICK_STOP_BLOCK))
        time.sleep(0.5)
        assert_quick_exit(srv, sig)
        assert busy.peer_closed(timeout=2.0)
        assert "Traceback" not in srv.log_text(), srv.log_text()[-3000:]
    finally:
        busy.close()


@pytest.mark.skipif(WORKER_CLASS not in ("gthread", "gevent"),
                    reason="keep-alive classes: an idle and a busy connection at once")
@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGQUIT], ids=["INT", "QUIT"])
def test_quick_stop_does_not_wait(make_server, sig):
    """INT/QUIT neither wait for a long request nor for graceful_timeout,
    and idle keep-alive connections are closed."""
    args = ["--threads", "2"] if WORKER_CLASS == "gthread" else ["--worker-connections", "100"]
    srv = make_server("app_concurrency:app", args=args + ["--keep-alive", "30"], workers=1,
                      graceful_timeout=QUICK_STOP_GRACE)
    idle = Conn.open(srv, timeout=10)
    busy = Conn.open(srv, timeout=10)
    try:
        idle.send(simple_get("/echo/idle"))
        assert idle.read_response().status == 200
        busy.send(simple_get(QUICK_STOP_BLOCK))
        time.sleep(0.3)
        assert_quick_exit(srv, sig)
        assert idle.peer_closed(timeout=2.0)
    finally:
        idle.close()
        busy.close()


def test_signals_during_worker_exit_are_harmless(make_server):
    """TERM after TERM while a worker leaves: the handler used to store its
    flag through a pointer into cn_worker_main's returned stack frame, so a
    late signal overwrote the exit path's locals (a crash under UBSan, seen
    once in CI after HUP). Each worker, told to stop, must exit 0."""
    s = make_server("app_env:app", workers=1)
    for _ in range(5):
        (pid,) = wait_until(lambda: (lambda p: p if len(p) == 1 else None)(s.worker_pids()),
                            15, what="one worker")
        assert s.get("/").status == 200  # booted: its handlers are in place
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline and pid_alive(pid):
            try:
                os.kill(pid, signal.SIGTERM)
            except ProcessLookupError:
                break
        assert not pid_alive(pid), "worker %d still running after 10 s of TERM" % pid
        wait_until(lambda: pid not in s.worker_pids(), 10, what="worker %d reaped" % pid)
        log = s.log_text()
        assert "Worker (pid:%d) exited" % pid not in log, log[-3000:]
        assert "Worker with pid %d was terminated" % pid not in log, log[-3000:]
        assert "runtime error" not in log, log[-3000:]
