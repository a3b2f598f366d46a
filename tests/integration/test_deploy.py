"""Deployment as users run it, with the real tools: nginx in front over a
unix socket (examples/nginx/cunicorn.conf), the systemd units of
examples/systemd checked by systemd-analyze and run as systemd would run
them, cunicorn as PID 1 of a container's pid namespace (unshare), and the
Dockerfile of examples/docker."""
import configparser
import json
import os
import shlex
import shutil
import signal
import socket
import subprocess
import tempfile
import threading

import pytest

from conftest import (BIN, EXAMPLES_DIR, IO_TIMEOUT, IS_GUNICORN, REPO, Server, children_of,
                      free_port, needs_class, recv_until_eof, wait_until)
from test_systemd import SOCKET_UNIT, Notifications, tcp, unix

NGINX = shutil.which("nginx") or ("/usr/sbin/nginx" if os.path.exists("/usr/sbin/nginx") else None)
needs_nginx = pytest.mark.skipif(NGINX is None, reason="nginx (Debian package) missing")
needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (nginx user, unshare)")


@pytest.fixture
def shared_dir():
    """A directory nginx's www-data workers can reach (pytest's tmp_path is
    private to root), for the unix socket."""
    d = tempfile.mkdtemp(prefix="cn-deploy-", dir="/tmp")
    os.chmod(d, 0o755)
    yield d
    shutil.rmtree(d, ignore_errors=True)


def example(*parts):
    with open(os.path.join(EXAMPLES_DIR, *parts)) as f:
        return f.read()


def substitute(text, pairs):
    """Replace each (old, new) exactly once: the test fails when the
    example no longer has what it adapts."""
    for old, new in pairs:
        assert text.count(old) == 1, "%r appears %d times" % (old, text.count(old))
        text = text.replace(old, new)
    return text


class Nginx:
    """The example site under a real nginx: root master, www-data workers."""

    def __init__(self, workdir, sock_path):
        self.dir = workdir
        self.port = free_port()
        site = substitute(example("nginx", "cunicorn.conf"), [
            ("server unix:/run/cunicorn.sock", "server unix:" + sock_path),
            ("listen 80;", "listen 127.0.0.1:%d;" % self.port),
        ])
        with open(os.path.join(workdir, "site.conf"), "w") as f:
            f.write(site)
        temps = " ".join("%s_temp_path %s/%s;" % (k, workdir, k)
                         for k in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi"))
        conf = os.path.join(workdir, "nginx.conf")
        with open(conf, "w") as f:
            f.write("daemon off;\nmaster_process on;\nworker_processes 1;\nuser www-data;\n"
                    "pid %s/nginx.pid;\nerror_log %s/error.log info;\n"
                    "events { worker_connections 64; }\n"
                    "http { access_log off; %s include %s/site.conf; }\n"
                    % (workdir, workdir, temps, workdir))
        self.proc = subprocess.Popen([NGINX, "-p", workdir, "-c", conf, "-e",
                                      os.path.join(workdir, "error.log")],
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        wait_until(self.listening, 10, what="nginx listening")

    def listening(self):
        assert self.proc.poll() is None, self.error_log()
        try:
            socket.create_connection(("127.0.0.1", self.port), timeout=1).close()
            return True
        except OSError:
            return False

    def error_log(self):
        try:
            with open(os.path.join(self.dir, "error.log")) as f:
                return f.read()
        except FileNotFoundError:
            return ""

    def get(self, target, headers=()):
        """Status and body of a request through nginx."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=IO_TIMEOUT) as s:
            head = "GET %s HTTP/1.1\r\nHost: example.test\r\nConnection: close\r\n" % target
            head += "".join("%s: %s\r\n" % h for h in headers) + "\r\n"
            s.sendall(head.encode())
            data = recv_until_eof(s)
        top, _, body = data.partition(b"\r\n\r\n")
        return int(top.split()[1]), body

    def stop(self):
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(5)


SPOOF = (("X-Forwarded-For", "6.6.6.6"), ("X-Forwarded-Proto", "https"))


@needs_root
@needs_nginx
@pytest.mark.parametrize("umask, status", [(None, 200), ("0o077", 502)])
def test_nginx_over_unix_socket_under_umask_022(tmp_path, shared_dir, umask, status):
    """cunicorn binds the socket itself from a shell whose umask is 022:
    its umask setting (default 0, as Gunicorn) decides whether nginx's
    www-data workers may connect; 0o077 shows the test can see a 502."""
    sock = os.path.join(shared_dir, "app.sock")
    args = ["--umask", umask] if umask else []
    s = Server(tmp_path, bind="unix:" + sock, args=args,
               prefix=["sh", "-c", 'umask 022 && exec "$@"', "sh"])
    nginx = Nginx(shared_dir, sock)
    try:
        code, body = nginx.get("/?via=nginx", headers=SPOOF)
        assert code == status, nginx.error_log()
        if status == 200:
            env = json.loads(body)
            # nginx overwrote what the client sent: the client cannot spoof them
            assert env["HTTP_X_FORWARDED_FOR"] == "127.0.0.1"
            assert env["HTTP_X_FORWARDED_PROTO"] == "http"
            assert env["wsgi.url_scheme"] == "http"
            assert env["REMOTE_ADDR"] == ""  # a unix socket peer has no address (Gunicorn: '')
            assert env["HTTP_HOST"] == "example.test"
    finally:
        nginx.stop()
        assert s.stop() == 0


@pytest.mark.skipif(IS_GUNICORN, reason="cunicorn's url_scheme from a unix socket peer")
def test_forwarded_headers_trusted_from_the_proxy_socket_only(tmp_path, shared_dir):
    """The proxy's unix socket is trusted (as in Gunicorn), so its
    X-Forwarded-Proto sets wsgi.url_scheme; a client reaching the TCP port
    directly from an address not in forwarded_allow_ips cannot."""
    sock = os.path.join(shared_dir, "app.sock")
    port = free_port()
    s = Server(tmp_path, bind=["unix:" + sock, "127.0.0.1:%d" % port],
               args=["--forwarded-allow-ips", "192.0.2.1"])
    try:
        req = "/ HTTP/1.0\r\nX-Forwarded-Proto: https\r\nX-Forwarded-For: 6.6.6.6\r\n"
        for connect, scheme in ((unix(sock), "https"), (tcp(port), "http")):
            with connect() as c:
                c.sendall(("GET " + req + "\r\n").encode())
                data = recv_until_eof(c)
            env = json.loads(data.partition(b"\r\n\r\n")[2])
            assert env["wsgi.url_scheme"] == scheme
        assert env["REMOTE_ADDR"] == "127.0.0.1"  # the TCP peer, not X-Forwarded-For
    finally:
        assert s.stop() == 0


# ---- examples/systemd ------------------------------------------------------------


def unit(name):
    """An example unit file as configparser sections (systemd's syntax is
    close enough for the keys read here)."""
    p = configparser.ConfigParser(strict=False, interpolation=None)
    p.optionxform = str
    p.read_string(example("systemd", name))
    return p


@pytest.mark.skipif(shutil.which("systemd-analyze") is None, reason="systemd-analyze missing")
def test_systemd_units_verify(tmp_path):
    """systemd-analyze verify: every directive known, ExecStart runnable,
    the service's socket found. Only the paths are adapted to this checkout."""
    service = substitute(example("systemd", "cunicorn.service"), [
        ("/usr/local/bin/cunicorn", BIN),
        ("WorkingDirectory=/srv/app", "WorkingDirectory=" + EXAMPLES_DIR),
    ])
    (tmp_path / "cunicorn.service").write_text(service)
    (tmp_path / "cunicorn.socket").write_text(example("systemd", "cunicorn.socket"))
    r = subprocess.run(["systemd-analyze", "verify", "--man=no",
                        str(tmp_path / "cunicorn.socket"), str(tmp_path / "cunicorn.service")],
                       capture_output=True, text=True, timeout=60)
    problems = [line for line in (r.stdout + r.stderr).splitlines()
                if "cunicorn." in line and "Failed to " not in line.split(":", 1)[0]]
    assert r.returncode == 0 and problems == [], r.stdout + r.stderr


@pytest.mark.skipif(IS_GUNICORN, reason="cunicorn's flags and notify messages")
@needs_class("gthread")  # the example's class
@needs_root
@needs_nginx
def test_systemd_units_run_as_systemd_runs_them(tmp_path, shared_dir):
    """The socket unit's socket (mode and backlog from cunicorn.socket), the
    service's ExecStart as written (binary and app path adapted), its
    environment as systemd sets it (LISTEN_FDS, NOTIFY_SOCKET,
    WATCHDOG_USEC from WatchdogSec), nginx's example site in front, and the
    service's ExecReload."""
    sock_unit, service = unit("cunicorn.socket"), unit("cunicorn.service")
    path = os.path.join(shared_dir, "cunicorn.sock")
    assert sock_unit["Socket"]["ListenStream"] == "/run/cunicorn.sock"
    listener = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    listener.bind(path)
    os.chmod(path, int(sock_unit["Socket"]["SocketMode"], 8))
    shutil.chown(path, sock_unit["Socket"]["SocketUser"], sock_unit["Socket"]["SocketGroup"])
    listener.listen(int(sock_unit["Socket"]["Backlog"]))
    svc = service["Service"]
    assert svc["Type"] == "notify" and svc["NotifyAccess"] == "main"
    argv = shlex.split(svc["ExecStart"])
    assert argv[0] == "/usr/local/bin/cunicorn" and "--bind" not in argv
    argv = argv[1:] + ["--chdir", EXAMPLES_DIR]  # WorkingDirectory=
    notify = Notifications(str(tmp_path / "notify.sock"))
    env = {"NOTIFY_SOCKET": notify.address,
           "WATCHDOG_USEC": str(int(svc["WatchdogSec"]) * 1000000)}
    prefix = ["/usr/bin/python3", "-c", SOCKET_UNIT, str(listener.fileno())]
    s = Server(tmp_path / "srv", app=None, args=argv, env=env, workers=None,
               prefix=prefix, pass_fds=[listener.fileno()], add_bind=False, wait=False,
               pythonpath=False, graceful_timeout=None, worker_class="gthread")
    nginx = None
    try:
        _, pid, _ = notify.wait_for("READY", "1")
        assert pid == s.pid
        nginx = Nginx(shared_dir, path)
        code, body = nginx.get("/")
        assert code == 200 and body == b"Hello, World!\n", nginx.error_log()
        reload_cmd = shlex.split(svc["ExecReload"].replace("$MAINPID", str(s.pid)))
        before = len(notify.got)
        subprocess.run(reload_cmd, check=True, timeout=10)
        notify.wait_for("RELOADING", "1", after=before)
        notify.wait_for("READY", "1", after=before + 1)
        assert nginx.get("/")[0] == 200
        notify.wait_for("WATCHDOG", "1")
    finally:
        if nginx:
            nginx.stop()
        rc = s.stop()
        notify.close()
        listener.close()
    assert rc == 0
    assert os.path.exists(path)  # the socket unit's, left in place


def test_app_waits_for_its_own_children(tmp_path):
    """subprocess.run and os.waitpid in the app get their child's status:
    no worker class reaps the app's children behind its back (gthread's
    libev default loop did, and the app saw ECHILD)."""
    s = Server(tmp_path, app="app_orphans:app")
    try:
        for _ in range(3):
            r = s.get("/subprocess")
            assert (r.status, r.body) == (200, b"7 3"), s.log_text()
    finally:
        assert s.stop() == 0


# ---- PID 1 in a container -------------------------------------------------------


def unshared(tmp_path, args=()):
    """cunicorn as PID 1 of a new pid namespace (with its own /proc), as in
    a container whose ENTRYPOINT is cunicorn; the master's pid seen from
    here."""
    s = Server(tmp_path, app="app_orphans:app", workers=2, args=list(args), expect_workers=0,
               prefix=["unshare", "--pid", "--fork", "--mount-proc"])
    master = wait_until(lambda: (children_of(s.pid) or [None])[0], 10, what="the master")
    return s, master


@needs_root
@pytest.mark.skipif(shutil.which("unshare") is None, reason="unshare (util-linux) missing")
def test_pid1_reaps_orphans_and_drains_on_term(tmp_path):
    s, master = unshared(tmp_path)
    try:
        pid_in_ns = s.get("/").body
        assert pid_in_ns.startswith(b"pid ")
        orphans = [int(s.get("/spawn").body) for _ in range(3)]
        # reparented to PID 1 (the master), which reaps them: no zombie left
        for pid in orphans:
            wait_until(lambda: s.get("/state?pid=%d" % pid).body == b"gone", 10,
                       what="orphan %d reaped" % pid)
        result, mark = {}, tmp_path / "started"
        slow = threading.Thread(
            target=lambda: result.update(r=s.get("/sleep?seconds=1.5&mark=%s" % mark)))
        slow.start()
        wait_until(mark.exists, 10, what="the request running")
        os.kill(master, signal.SIGTERM)
        slow.join(15)
        assert result["r"].status == 200  # drained, not cut
        assert s.proc.wait(15) == 0
    finally:
        if s.proc.poll() is None:
            os.kill(master, signal.SIGKILL)
            s.proc.wait(10)


@needs_root
@pytest.mark.skipif(shutil.which("unshare") is None, reason="unshare (util-linux) missing")
def test_pid1_int_stops_without_waiting_for_requests(tmp_path):
    s, master = unshared(tmp_path, args=["--graceful-timeout", "60"])
    try:
        conn = socket.create_connection(("127.0.0.1", s.port), timeout=IO_TIMEOUT)
        mark = tmp_path / "started"
        conn.sendall(b"GET /sleep?seconds=30&mark=%s HTTP/1.0\r\n\r\n" % str(mark).encode())
        wait_until(mark.exists, 10, what="the request running")
        os.kill(master, signal.SIGINT)
        assert s.proc.wait(10) == 0  # long before the request or graceful_timeout
        conn.close()
    finally:
        if s.proc.poll() is None:
            os.kill(master, signal.SIGKILL)
            s.proc.wait(10)


# ---- examples/docker ------------------------------------------------------------


def dockerfile():
    lines, cur = [], ""
    for raw in example("docker", "Dockerfile").splitlines():
        line = raw.strip()
        if not line or line.startswith("#"):
            continue
        cur += line[:-1] + " " if line.endswith("\\") else line
        if not line.endswith("\\"):
            lines.append(cur)
            cur = ""
    return [(line.split(None, 1)[0].upper(), line.split(None, 1)[1]) for line in lines]


def test_dockerfile_lint():
    """What hadolint would check that matters here, and that its build runs
    the scripts CI runs, with an exec-form ENTRYPOINT (cunicorn as PID 1)."""
    steps = dockerfile()
    known = {"FROM", "WORKDIR", "COPY", "RUN", "USER", "EXPOSE", "ENTRYPOINT", "CMD", "ENV"}
    assert {k for k, _ in steps} <= known
    assert steps[0] == ("FROM", "debian:12")
    runs = " && ".join(v for k, v in steps if k == "RUN")
    assert "scripts/install-deps.sh" in runs and "scripts/build.sh" in runs
    assert "cmake --install build" in runs
    assert "apt-get" not in runs  # dependencies come through the project's script
    assert "rm -rf /var/lib/apt/lists/*" in runs
    for script in ("install-deps.sh", "build.sh"):
        assert os.access(os.path.join(REPO, "scripts", script), os.R_OK)
    entry = json.loads(dict(steps)["ENTRYPOINT"])  # exec form: a JSON array
    assert entry[0] == "/usr/local/bin/cunicorn"
    assert json.loads(dict(steps)["CMD"]) == ["hello:app"]
    assert dict(steps)["USER"] not in ("root", "0")
    assert os.path.exists(os.path.join(EXAMPLES_DIR, "hello.py"))
    # the ENTRYPOINT's flags are cunicorn's: --check-config loads the app with them
    r = subprocess.run([BIN] + entry[1:] + ["--check-config", "hello:app"], cwd=EXAMPLES_DIR,
                       capture_output=True, text=True, timeout=30)
    assert r.returncode == 0, r.stderr
