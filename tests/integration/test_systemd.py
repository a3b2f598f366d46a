"""systemd, with its real tools: socket activation (LISTEN_FDS, from
systemd-socket-activate and from a socket held across restarts as a socket
unit holds it) and the notify protocol (NOTIFY_SOCKET: a real unix datagram
socket receives what a Type=notify / notify-reload unit would)."""
import json
import os
import shutil
import signal
import socket
import stat
import struct
import sys
import time

import pytest

from conftest import (IO_TIMEOUT, IS_GUNICORN, Server, children_of, cpu_ticks, free_port,
                      pid_alive, read_pid, recv_until_eof, wait_until)

ACTIVATE = shutil.which("systemd-socket-activate")
needs_activate = pytest.mark.skipif(ACTIVATE is None,
                                    reason="systemd-socket-activate (package systemd) missing")
notify_only = pytest.mark.skipif(IS_GUNICORN, reason="cunicorn's sd_notify messages")

# What systemd does for a socket unit's service: the listening socket as
# fd 3, LISTEN_PID naming the process that runs the server.
SOCKET_UNIT = ("import os, sys\n"
               "os.dup2(int(sys.argv[1]), 3)\n"
               "os.environ.update(LISTEN_PID=str(os.getpid()), LISTEN_FDS='1',"
               " LISTEN_FDNAMES='web')\n"
               "os.execv(sys.argv[2], sys.argv[2:])\n")


def http_get(connect, target="/", timeout=IO_TIMEOUT):
    """One HTTP/1.0 GET over a fresh connection made by connect(); the
    status code and body. Retries while nothing listens yet."""
    deadline = time.monotonic() + timeout
    while True:
        try:
            s = connect()
            break
        except (ConnectionRefusedError, FileNotFoundError):
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)
    with s:
        s.settimeout(timeout)
        s.sendall(b"GET %s HTTP/1.0\r\nHost: x\r\n\r\n" % target.encode())
        data = recv_until_eof(s)
    head, _, body = data.partition(b"\r\n\r\n")
    return int(head.split()[1]), body


def tcp(port):
    return lambda: socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)


def unix(path):
    def connect():
        s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        s.settimeout(IO_TIMEOUT)
        try:
            s.connect(path)
        except OSError:
            s.close()
            raise
        return s
    return connect


def activated(tmp_path, listen, args=(), env=None, name="srv"):
    """Under systemd-socket-activate, which gives the server a clean
    environment, as systemd does: only the sanitizers' settings pass."""
    keep = [n for n in os.environ if n.startswith(("ASAN_", "UBSAN_", "CUNICORN_SANITIZED"))]
    prefix = [ACTIVATE, "-l", listen] + ["-E%s" % n for n in keep + list(env or ())]
    return Server(tmp_path / name, prefix=prefix, args=args, env=env, add_bind=False,
                  wait=False)


# ---- socket activation ---------------------------------------------------------


@needs_activate
def test_activated_tcp_socket_answers_the_activating_request(tmp_path):
    port = free_port()
    s = activated(tmp_path, "127.0.0.1:%d" % port)
    try:
        # this first connection is what makes systemd-socket-activate start the server
        code, body = http_get(tcp(port), "/?env=LISTEN_FDS&env=LISTEN_PID&env=LISTEN_FDNAMES")
        assert code == 200
        assert json.loads(body)["_os_environ"] == {"LISTEN_FDS": None, "LISTEN_PID": None,
                                                   "LISTEN_FDNAMES": None}
        s.wait_log(r"Listening at: http://127.0.0.1:%d \(%d\)" % (port, s.pid))
        assert "8000" not in s.log_text()  # the default bind is not used
    finally:
        assert s.stop() == 0


@needs_activate
def test_bind_naming_the_activated_socket_is_that_socket(tmp_path):
    port, extra = free_port(), free_port()
    s = activated(tmp_path, "127.0.0.1:%d" % port,
                  args=["-b", "127.0.0.1:%d" % port, "-b", "127.0.0.1:%d" % extra])
    try:
        assert http_get(tcp(port))[0] == 200
        assert http_get(tcp(extra))[0] == 200  # a bind systemd did not pass is bound too
        log = s.log_text()
        assert "Connection in use" not in log
        assert "Listening at: http://127.0.0.1:%d,http://127.0.0.1:%d" % (port, extra) in log
        s.send_signal(signal.SIGHUP)  # a reload keeps systemd's socket and binds nothing twice
        s.wait_log(r"Booting worker with pid", timeout=10)
        wait_until(lambda: s.log_text().count("Booting worker") >= 2, 15, what="new worker")
        assert http_get(tcp(port))[0] == 200
        assert "Connection in use" not in s.log_text()
    finally:
        assert s.stop() == 0


@needs_activate
@pytest.mark.parametrize("with_bind", [False, True])
def test_activated_unix_socket_is_never_unlinked(tmp_path, with_bind):
    path = str(tmp_path / "app.sock")
    args = ["-b", "unix:" + path] if with_bind else []
    s = activated(tmp_path, path, args=args)
    try:
        wait_until(lambda: os.path.exists(path), 10, what="systemd-socket-activate's socket")
        inode = os.stat(path).st_ino
        assert http_get(unix(path))[0] == 200
        assert os.stat(path).st_ino == inode  # not replaced by a socket of its own
        s.wait_log(r"Listening at: unix:%s \(" % path)
    finally:
        assert s.stop() == 0
    st = os.stat(path)  # left for the socket unit, which owns it
    assert stat.S_ISSOCK(st.st_mode) and st.st_ino == inode


def test_socket_unit_keeps_its_socket_across_restarts(tmp_path):
    """As with a .socket unit: the socket outlives the service; a client that
    connects while the service is stopped is answered by the next start."""
    path = str(tmp_path / "web.sock")
    unit = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    unit.bind(path)
    unit.listen(16)
    inode = os.stat(path).st_ino
    prefix = [sys.executable, "-c", SOCKET_UNIT, str(unit.fileno())]
    try:
        first = Server(tmp_path / "first", prefix=prefix, pass_fds=[unit.fileno()],
                       bind="unix:" + path)
        assert http_get(unix(path))[0] == 200
        assert first.stop() == 0
        assert os.stat(path).st_ino == inode
        waiting = unix(path)()  # queued in the unit's backlog while nothing serves
        waiting.sendall(b"GET / HTTP/1.0\r\n\r\n")
        second = Server(tmp_path / "second", prefix=prefix, pass_fds=[unit.fileno()],
                        add_bind=False, wait=False)
        try:
            waiting.settimeout(IO_TIMEOUT)
            reply = waiting.recv(4096)
            assert reply.startswith(b"HTTP/1.1 200"), (reply, second.log_text())
            waiting.close()
            assert http_get(unix(path))[0] == 200
        finally:
            assert second.stop() == 0
        assert os.stat(path).st_ino == inode
    finally:
        unit.close()


def test_listen_fds_for_another_process_are_not_taken(tmp_path):
    """LISTEN_PID names the parent: the variables are dropped and the bind
    setting is used, as sd_listen_fds() does."""
    s = Server(tmp_path, env={"LISTEN_PID": str(os.getpid()), "LISTEN_FDS": "1"})
    try:
        assert s.get("/").status == 200
    finally:
        assert s.stop() == 0


@pytest.mark.skipif(IS_GUNICORN, reason="cunicorn's message")
def test_malformed_listen_fds_is_refused(tmp_path):
    s = Server(tmp_path, env={"LISTEN_PID": "self", "LISTEN_FDS": "1"}, wait=False)
    assert s.wait_exit(10) == 1
    assert "Invalid LISTEN_PID: 'self'" in s.stderr_text()


# ---- sd_notify -----------------------------------------------------------------


class Notifications:
    """A NOTIFY_SOCKET: every datagram with the pid that sent it."""

    def __init__(self, address):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_PASSCRED, 1)
        self.sock.bind(address)
        self.sock.settimeout(0.1)
        self.address = address if address[0] != "\0" else "@" + address[1:]
        self.got = []  # (monotonic time, sender pid, {key: value})

    def poll(self, seconds):
        end = time.monotonic() + seconds
        while time.monotonic() < end:
            try:
                data, anc, _, _ = self.sock.recvmsg(4096, socket.CMSG_SPACE(12))
            except socket.timeout:
                continue
            pid = 0
            for level, kind, cdata in anc:
                if level == socket.SOL_SOCKET and kind == socket.SCM_CREDENTIALS:
                    pid = struct.unpack("iII", cdata[:12])[0]
            fields = dict(line.split("=", 1) for line in data.decode().split("\n") if line)
            self.got.append((time.monotonic(), pid, fields))

    def wait_for(self, key, value=None, timeout=20, after=0):
        deadline = time.monotonic() + timeout
        while True:
            for i, (_, pid, f) in enumerate(self.got[after:], after):
                if key in f and (value is None or f[key] == value):
                    return i, pid, f
            if time.monotonic() > deadline:
                raise AssertionError("no %s=%s in %s" % (key, value, self.got))
            self.poll(0.1)

    def close(self):
        self.sock.close()


@pytest.fixture
def notify_socket(tmp_path):
    n = Notifications(str(tmp_path / "notify.sock"))
    yield n
    n.close()


@notify_only
def test_notify_ready_status_reload_stopping_in_order(tmp_path, notify_socket):
    n = notify_socket
    s = Server(tmp_path, workers=2, env={"NOTIFY_SOCKET": n.address})
    try:
        ready, pid, _ = n.wait_for("READY", "1")
        assert pid == s.pid
        for _ in range(3):
            assert s.get("/").status == 200
        i, _, f = n.wait_for("STATUS", "2 workers, 3 requests", after=ready)
        s.send_signal(signal.SIGHUP)
        reloading, _, f = n.wait_for("RELOADING", "1", after=i)
        assert int(f["MONOTONIC_USEC"]) > 0
        ready2, _, _ = n.wait_for("READY", "1", after=reloading)
        assert s.get("/").status == 200
    finally:
        rc = s.stop()
    assert rc == 0
    stopping, _, _ = n.wait_for("STOPPING", "1", after=ready2, timeout=1)
    assert ready < reloading < ready2 < stopping
    assert {pid for _, pid, _ in n.got} == {s.pid}  # the master speaks, never a worker


@notify_only
def test_notify_abstract_socket_and_no_env_leak(tmp_path):
    n = Notifications("\0cunicorn-test-%d" % os.getpid())
    try:
        s = Server(tmp_path, env={"NOTIFY_SOCKET": n.address})
        try:
            n.wait_for("READY", "1")
        finally:
            assert s.stop(sig=signal.SIGINT) == 0
        n.wait_for("STOPPING", "1", timeout=2)
    finally:
        n.close()


@notify_only
def test_watchdog_only_while_workers_heartbeat(tmp_path, notify_socket):
    n = notify_socket
    s = Server(tmp_path, workers=2, env={"NOTIFY_SOCKET": n.address,
                                         "WATCHDOG_USEC": "1000000"})
    try:
        n.wait_for("READY", "1")
        n.poll(2.0)
        beats = [t for t, _, f in n.got if f.get("WATCHDOG") == "1"]
        assert len(beats) >= 3  # every half period
        workers = s.worker_pids()
        assert len(workers) == 2
        for pid in workers:
            os.kill(pid, signal.SIGSTOP)
        try:
            n.poll(1.5)  # past the period: their last beats are too old
            stopped_at = len(n.got)
            n.poll(2.5)
            assert [f for _, _, f in n.got[stopped_at:] if "WATCHDOG" in f] == []
        finally:
            for pid in workers:
                os.kill(pid, signal.SIGCONT)
        n.wait_for("WATCHDOG", "1", after=len(n.got), timeout=5)
    finally:
        assert s.stop() == 0


@notify_only
@pytest.mark.parametrize("notify", [False, True])
def test_master_does_not_spin_while_no_worker_beats(tmp_path, notify_socket, notify):
    """With WATCHDOG_USEC set (and NOTIFY_SOCKET or not), a master whose
    workers are still importing the app sleeps between its checks (it polled
    with a zero timeout before)."""
    (tmp_path / "slow_app.py").write_text(SLOW_APP)
    env = {"WATCHDOG_USEC": "1000000"}
    if notify:
        env["NOTIFY_SOCKET"] = notify_socket.address
    s = Server(tmp_path / "srv", app="slow_app:app", args=["--pythonpath", str(tmp_path)],
               env=env, wait=False)
    try:
        time.sleep(0.3)
        before = cpu_ticks(s.pid)
        time.sleep(2.0)  # the import sleeps 2.5 s: no worker beats meanwhile
        used = (cpu_ticks(s.pid) - before) / os.sysconf("SC_CLK_TCK")
        assert used < 0.5, "the master used %.2f s of CPU in 2 s" % used
        s.wait_ready()
    finally:
        assert s.stop() == 0


@notify_only
def test_watchdog_for_another_pid_is_not_sent(tmp_path, notify_socket):
    n = notify_socket
    s = Server(tmp_path, env={"NOTIFY_SOCKET": n.address, "WATCHDOG_USEC": "500000",
                              "WATCHDOG_PID": str(os.getpid())})
    try:
        n.wait_for("READY", "1")
        n.poll(1.5)
        assert [f for _, _, f in n.got if "WATCHDOG" in f] == []
    finally:
        assert s.stop() == 0


SLOW_APP = "import time\ntime.sleep(2.5)\n\n\ndef app(environ, start_response):\n" \
           "    start_response('200 OK', [])\n    return [b'slow']\n"


@notify_only
@pytest.mark.parametrize("preload", [False, True])
def test_slow_app_import_extends_the_start_timeout(tmp_path, notify_socket, preload):
    n = notify_socket
    (tmp_path / "slow_app.py").write_text(SLOW_APP)
    args = ["--pythonpath", str(tmp_path)] + (["--preload"] if preload else [])
    s = Server(tmp_path / "srv", app="slow_app:app", args=args,
               env={"NOTIFY_SOCKET": n.address}, wait=False)
    try:
        ready, _, _ = n.wait_for("READY", "1", timeout=30)
        extends = [(t, f) for t, _, f in n.got[:ready] if "EXTEND_TIMEOUT_USEC" in f]
        assert len(extends) >= 2, n.got  # kept extending while the import ran
        assert all(int(f["EXTEND_TIMEOUT_USEC"]) >= 5000000 for _, f in extends)
        s.wait_ready()
    finally:
        assert s.stop() == 0


@notify_only
def test_usr2_upgrade_hands_the_main_pid_over(tmp_path, notify_socket):
    n = notify_socket
    pidfile = str(tmp_path / "app.pid")
    s = Server(tmp_path, workers=1, args=["-p", pidfile], env={"NOTIFY_SOCKET": n.address})
    new = 0
    try:
        n.wait_for("READY", "1")
        s.send_signal(signal.SIGUSR2)
        new = wait_until(lambda: read_pid(pidfile + ".2"), 15, what="PIDFILE.2")
        wait_until(lambda: len(children_of(new)) == 1, 15, what="the new master's worker")
        before = len(n.got)
        os.kill(s.pid, signal.SIGTERM)
        i, pid, f = n.wait_for("MAINPID", str(new), after=before)
        assert pid == s.pid and "STOPPING" not in f  # the service goes on
        wait_until(lambda: not pid_alive(s.pid), 15, what="the old master gone")
        _, pid, f = n.wait_for("READY", "1", after=i + 1)
        assert pid == new and f["MAINPID"] == str(new)
        assert http_get(tcp(s.port))[0] == 200
    finally:
        if new and pid_alive(new):
            os.kill(new, signal.SIGTERM)
            wait_until(lambda: not pid_alive(new), 15, what="the new master stopped")
        s.stop()
    _, pid, _ = n.wait_for("STOPPING", "1", timeout=2)
    assert pid == new
