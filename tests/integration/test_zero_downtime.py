"""Operations under keep-alive load lose no request (issue 12): every
request 20 clients send across HUP, TTOU, max_requests recycling, memory
recycling, a binary upgrade and TERM gets its own complete answer."""
import os
import signal
import socket
import subprocess
import time
import types

import pytest

from conftest import (APPS_DIR, BIN, WORKER_CLASS, Conn, base_env, children_of, free_port,
                      only_cunicorn, pid_alive, read_pid, recv_until_eof, skip_class,
                      wait_until)
from loadgen import Load

LOAD_SECONDS = 10.0


def hup_new_generation(s, n):
    """HUP, and wait until n workers serve, none of the generation before."""
    old = set(s.worker_pids())
    s.send_signal(signal.SIGHUP)
    wait_until(lambda: len(s.worker_pids()) == n and not old & set(s.worker_pids()), 15,
               what="a new generation of %d" % n)
    return old



def test_hup_replaces_workers_without_losing_a_request(make_server):
    s = make_server("app_load:app", workers=2)
    load = Load(s)
    try:
        load.wait_served(200, 15)
        end = time.monotonic() + LOAD_SECONDS
        while time.monotonic() < end:
            hup_new_generation(s, 2)
            load.wait_served(100, 15)
    finally:
        load.finish()
    load.assert_clean()


def test_hup_spreads_the_reconnecting_clients_over_the_new_workers(make_server):
    s = make_server("app_load:app", workers=2)
    load = Load(s)
    try:
        load.wait_served(200, 15)
        hup_new_generation(s, 2)
        new = set(s.worker_pids())
        before = load.snapshot()
        load.wait_served(1000, 20)
        after = load.pids_since(before)
    finally:
        load.finish()
    load.assert_clean()
    assert set(after) == new, after
    # the fair share (worker.h) keeps the connections within one or two of
    # each other: 502/503 under two CPU hogs. Left to the kernel's accept
    # race the split was 83/17, and 100/0 under ASan.
    assert min(after.values()) >= 0.3 * sum(after.values()), after


def test_ttou_and_ttin_lose_no_request(make_server):
    s = make_server("app_load:app", workers=3)
    load = Load(s)
    try:
        load.wait_served(200, 15)
        end = time.monotonic() + LOAD_SECONDS
        while time.monotonic() < end:
            s.send_signal(signal.SIGTTOU)
            s.wait_workers(2, 15)
            load.wait_served(100, 15)
            s.send_signal(signal.SIGTTIN)
            s.wait_workers(3, 15)
            load.wait_served(100, 15)
    finally:
        load.finish()
    load.assert_clean()


def test_max_requests_recycling_loses_no_request(make_server):
    s = make_server("app_load:app", workers=2, args=["--max-requests", "50"])
    load = Load(s)
    try:
        end = time.monotonic() + LOAD_SECONDS
        while time.monotonic() < end:
            load.wait_served(200, 15)
    finally:
        load.finish()
    load.assert_clean()
    assert len(load.pids) >= load.ok // 60  # workers really were replaced


def write_app(path, body_prefix):
    path.write_text('''import os, time
def app(environ, start_response):
    qs = dict(p.split("=", 1) for p in environ["QUERY_STRING"].split("&") if "=" in p)
    time.sleep(int(qs.get("ms", "5")) / 1000.0)
    body = ("%%d %%s" %% (os.getpid(), qs.get("id", ""))).encode()
    start_response("200 OK", [("Content-Length", str(len(body))), ("X-Gen", %r)])
    return [body]
''' % body_prefix)


@only_cunicorn("Gunicorn stops the whole server when a reload cannot load the app")
def test_hup_applies_a_changed_config_file(make_server, tmp_path):
    conf = tmp_path / "live.conf.py"
    conf.write_text("workers = 2\naccess_log_format = 'gen-one %(s)s'\n")
    log = tmp_path / "access.log"
    s = make_server("app_load:app", workers=None,
                    args=["-c", str(conf), "--access-logfile", str(log)], expect_workers=2)
    load = Load(s)
    try:
        load.wait_served(200, 15)
        conf.write_text("workers = 3\naccess_log_format = 'gen-two %(s)s'\n")
        hup_new_generation(s, 3)
        load.wait_served(300, 15)
    finally:
        load.finish()
    load.assert_clean()
    assert "gen-two 200" in log.read_text()


@only_cunicorn("Gunicorn stops the whole server when a reload cannot load the app")
def test_hup_with_a_broken_app_keeps_the_old_workers_serving(make_server, tmp_path):
    appdir = tmp_path / "code"
    appdir.mkdir()
    write_app(appdir / "live_app.py", "one")
    s = make_server("live_app:app", workers=2, args=["--pythonpath", str(appdir)])
    load = Load(s)
    try:
        load.wait_served(200, 15)
        old = set(s.worker_pids())
        (appdir / "live_app.py").write_text("def app(:\n")  # a SyntaxError
        s.send_signal(signal.SIGHUP)
        # a SyntaxError is a boot error (3), as in Gunicorn; an ImportError would be 4
        s.wait_log(r"Reload abandoned: Worker failed to boot\. The previous workers keep "
                   r"serving\.", 15)
        load.wait_served(300, 15)
        assert s.proc.poll() is None
        wait_until(lambda: set(s.worker_pids()) == old, 15, what="only the old workers left")
        write_app(appdir / "live_app.py", "two")  # fixed: the next HUP goes through
        hup_new_generation(s, 2)
        load.wait_served(200, 15)
    finally:
        load.finish()
    load.assert_clean()
    r = s.get("/?id=x")
    assert r.status == 200 and r.header("X-Gen") == "two"


@only_cunicorn("Gunicorn exits when a reload cannot read its config file")
def test_hup_with_a_broken_config_file_changes_nothing(make_server, tmp_path):
    conf = tmp_path / "live.conf.py"
    conf.write_text("workers = 2\n")
    s = make_server("app_load:app", workers=None, args=["-c", str(conf)], expect_workers=2)
    old = set(s.worker_pids())
    conf.write_text("workers = (\n")
    s.send_signal(signal.SIGHUP)
    s.wait_log(r"Reload failed: the workers keep serving with the previous settings")
    time.sleep(0.5)
    assert set(s.worker_pids()) == old
    assert s.get("/?id=a").status == 200


def test_term_answers_the_connections_already_queued(make_server):
    """A worker busy with one request when TERM arrives still answers the
    connections waiting in the accept queue (Gunicorn's sync worker drops
    them)."""
    s = make_server("app_load:app", workers=1, graceful_timeout=10)
    socks = []
    for i in range(8):
        c = s.connect()
        c.sendall(b"GET /?id=q%d&ms=250 HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n" % i)
        socks.append(c)
    time.sleep(0.1)
    s.send_signal(signal.SIGTERM)
    bodies = []
    for i, c in enumerate(socks):
        with c:
            data = recv_until_eof(c)
        assert data.startswith(b"HTTP/1.1 200 "), (i, data[:200])
        bodies.append(data.rsplit(b" ", 1)[-1])
    assert sorted(bodies) == sorted(b"q%d" % i for i in range(8))
    assert s.wait_exit(15) == 0


@only_cunicorn("shutdown_delay is cunicorn's")
def test_term_with_shutdown_delay_keeps_serving_then_drains(make_server):
    s = make_server("app_load:app", workers=2, args=["--shutdown-delay", "3"])
    load = Load(s)
    try:
        load.wait_served(200, 15)
        s.send_signal(signal.SIGTERM)
        t0 = time.monotonic()
        s.wait_log(r"Shutdown delay: serving for 3 more seconds before stopping")
        load.wait_served(300, 10)  # new connections too: the load reconnects as it goes
        fresh = s.get("/?id=fresh")
        assert fresh.status == 200 and fresh.body.endswith(b"fresh")
        assert time.monotonic() - t0 < 2.5, "the delay is over before the checks ran"
    finally:
        load.finish()  # the balancer has taken us out of rotation
    load.assert_clean()
    assert s.wait_exit(15) == 0
    assert time.monotonic() - t0 >= 3.0


@only_cunicorn("max_worker_memory is cunicorn's")
def test_max_worker_memory_replaces_a_growing_worker_without_losing_a_request(make_server):
    s = make_server("app_load:app", workers=2, args=["--max-worker-memory", "300"])
    load = Load(s)
    try:
        load.wait_served(200, 15)
        old = set(s.worker_pids())
        grown = int(s.get("/grow?mb=400").body.split()[0])
        assert grown in old
        s.wait_log(r"Worker \(pid:%d\) uses \d+ MiB, over max_worker_memory \(300 MiB\): "
                   r"replacing it" % grown, 10)
        wait_until(lambda: grown not in s.worker_pids() and len(s.worker_pids()) == 2, 15,
                   what="the grown worker replaced")
        assert old - {grown} <= set(s.worker_pids())  # the other one stays
        load.wait_served(200, 15)
    finally:
        load.finish()
    load.assert_clean()


def refused(port):
    try:
        socket.create_connection(("127.0.0.1", port), timeout=2).close()
        return False
    except ConnectionRefusedError:
        return True


def start_daemon(tmp_path):
    """cunicorn -D on app_load; returns (an address object for Load, pidfile)."""
    port = free_port()
    pidfile = str(tmp_path / "d.pid")
    p = subprocess.run([BIN, "--pythonpath", APPS_DIR, "-D", "-k", WORKER_CLASS, "-w", "2",
                        "-b", "127.0.0.1:%d" % port, "-p", pidfile, "--graceful-timeout", "3",
                        "--error-logfile", str(tmp_path / "error.log"), "app_load:app"],
                       cwd=str(tmp_path), env=base_env(), stdin=subprocess.DEVNULL,
                       stdout=subprocess.PIPE, stderr=subprocess.STDOUT, timeout=20)
    assert p.returncode == 0, p.stdout
    pid = wait_until(lambda: read_pid(pidfile), 15, what="the pidfile")
    wait_until(lambda: len(children_of(pid)) == 2, 15, what="the daemon's workers")
    return types.SimpleNamespace(host="127.0.0.1", port=port, unix_path=None, pid=pid), pidfile


@only_cunicorn("checks cunicorn's log lines")
@pytest.mark.parametrize("daemonized", [False, True], ids=["foreground", "daemon"])
def test_usr2_winch_term_hand_over_without_losing_a_request(make_server, tmp_path, daemonized):
    if daemonized:
        srv, pidfile = start_daemon(tmp_path)
    else:
        pidfile = str(tmp_path / "f.pid")
        srv = make_server("app_load:app", workers=2, args=["-p", pidfile])
    old, new = srv.pid, 0
    load = Load(srv)
    try:
        load.wait_served(200, 15)
        os.kill(old, signal.SIGUSR2)
        new = wait_until(lambda: read_pid(pidfile + ".2"), 15, what="PIDFILE.2")
        assert read_pid(pidfile) == old
        wait_until(lambda: len(children_of(new)) == 2, 15, what="the new master's workers")
        load.wait_served(200, 15)
        os.kill(old, signal.SIGWINCH)
        if daemonized:  # Gunicorn's rule: only a daemon's workers stop on WINCH
            wait_until(lambda: children_of(old) == [new], 15, what="the old workers stopped")
        load.wait_served(200, 15)
        os.kill(old, signal.SIGTERM)
        wait_until(lambda: not pid_alive(old), 15, what="the old master gone")
        wait_until(lambda: read_pid(pidfile) == new and not os.path.exists(pidfile + ".2"), 15,
                   what="the new master promoted")
        load.wait_served(200, 15)
    finally:
        load.finish()
        if new and pid_alive(new):
            os.kill(new, signal.SIGTERM)
            wait_until(lambda: not pid_alive(new), 15, what="the new master stopped")
        if daemonized and pid_alive(old):
            os.kill(old, signal.SIGTERM)
    load.assert_clean()


@only_cunicorn("Gunicorn rebinds every address when bind changes")
def test_hup_with_a_changed_bind_keeps_the_shared_socket(make_server, tmp_path):
    a, b = free_port(), free_port()
    conf = tmp_path / "bind.conf.py"
    conf.write_text("bind = ['127.0.0.1:%d']\n" % a)
    s = make_server("app_load:app", workers=2, add_bind=False, port=a, args=["-c", str(conf)])
    load = Load(s)
    try:
        load.wait_served(200, 15)
        conf.write_text("bind = ['127.0.0.1:%d', '127.0.0.1:%d']\n" % (a, b))
        hup_new_generation(s, 2)
        load.wait_served(200, 15)
    finally:
        load.finish()
    load.assert_clean()  # port a was never closed nor bound again
    with socket.create_connection(("127.0.0.1", b), timeout=5) as c:
        c.sendall(b"GET /?id=b HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        assert c.recv(65536).startswith(b"HTTP/1.1 200 ")
    s.wait_log(r"Listening at: http://127.0.0.1:%d,http://127.0.0.1:%d" % (a, b))
    conf.write_text("bind = ['127.0.0.1:%d']\n" % b)  # a is dropped
    hup_new_generation(s, 2)
    wait_until(lambda: refused(a), 10, what="port a closed")


@skip_class("sync", reason="(no keep-alive)")
def test_a_request_on_an_idle_connection_after_term_is_answered_with_close(make_server):
    """The race that loses requests elsewhere: a keep-alive client sends its
    next request just as the worker is told to stop."""
    s = make_server("app_load:app", workers=1, graceful_timeout=10)
    idle, busy = s.connect(), s.connect()
    with idle, busy:
        c = Conn(idle, 10)
        c.send(b"GET /?id=first HTTP/1.1\r\nHost: x\r\n\r\n")
        assert c.read_response().status == 200
        busy.sendall(b"GET /stuck?s=2 HTTP/1.1\r\nHost: x\r\n\r\n")  # keeps the worker busy
        time.sleep(0.2)
        s.send_signal(signal.SIGTERM)
        time.sleep(0.3)
        c.send(b"GET /?id=second HTTP/1.1\r\nHost: x\r\n\r\n")
        r = c.read_response()
        assert r.status == 200 and r.body.endswith(b" second")
        assert r.header("Connection") == "close"
        assert c.peer_closed(timeout=3)
    assert s.wait_exit(15) == 0
