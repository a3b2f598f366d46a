"""Black-box fixtures for the cunicorn integration suite.

Environment:
  CUNICORN_BIN           path of the server binary (default: <repo>/build/cunicorn).
                         /usr/bin/gunicorn can be used to validate the tests.
  CUNICORN_WORKER_CLASS  sync | gthread | gevent (default sync); every server
                         started by the suite uses ``-k $CUNICORN_WORKER_CLASS``.
"""
import json
import os
import re
import resource
import selectors
import signal
import socket
import subprocess
import threading
import time
import urllib.parse

import pytest

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
APPS_DIR = os.path.join(HERE, "apps")
EXAMPLES_DIR = os.path.join(REPO, "examples")

BIN = os.path.abspath(os.environ.get("CUNICORN_BIN") or os.path.join(REPO, "build", "cunicorn"))
# "cunicorn" or "gunicorn": the name printed in log lines / Server header and
# used for $NAME_CMD_ARGS and ./name.conf.py.
NAME = os.path.basename(BIN).split(".")[0] or "cunicorn"
IS_GUNICORN = NAME == "gunicorn"
WORKER_CLASS = os.environ.get("CUNICORN_WORKER_CLASS") or "sync"
CMD_ARGS_ENV = NAME.upper() + "_CMD_ARGS"

START_TIMEOUT = 20.0
IO_TIMEOUT = 10.0

LOG_LINE_RE = r"\[\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2} [+-]\d{4}\] \[(\d+)\] \[(\w+)\] "


def only_cunicorn(reason="behaviour specific to cunicorn"):
    return pytest.mark.skipif(IS_GUNICORN, reason="%s (running against gunicorn)" % reason)


def needs_class(*classes):
    return pytest.mark.skipif(WORKER_CLASS not in classes,
                              reason="only meaningful for worker class %s (running %s)"
                              % ("/".join(classes), WORKER_CLASS))


def skip_class(*classes, reason=""):
    return pytest.mark.skipif(WORKER_CLASS in classes,
                              reason="not meaningful for worker class %s %s" % (WORKER_CLASS, reason))


# --------------------------------------------------------------------------
# process helpers
# --------------------------------------------------------------------------

def free_port(family=socket.AF_INET, host="127.0.0.1"):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def has_ipv6():
    if not socket.has_ipv6:
        return False
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


def _proc_stat(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except (OSError, ValueError):
        return None
    rparen = data.rfind(")")
    fields = data[rparen + 2:].split()
    # fields[0] = state, fields[1] = ppid, utime = fields[11], stime = fields[12]
    return fields


def children_of(pid):
    """Child process pids of pid (state != zombie)."""
    kids = set()
    # fast path: /proc/<pid>/task/*/children
    try:
        for tid in os.listdir("/proc/%d/task" % pid):
            try:
                with open("/proc/%d/task/%s/children" % (pid, tid)) as f:
                    kids.update(int(x) for x in f.read().split())
            except OSError:
                raise
    except OSError:
        kids = set()
        for ent in os.listdir("/proc"):
            if not ent.isdigit():
                continue
            st = _proc_stat(int(ent))
            if st and int(st[1]) == pid:
                kids.add(int(ent))
    alive = []
    for k in sorted(kids):
        st = _proc_stat(k)
        if st and st[0] not in ("Z", "X"):
            alive.append(k)
    return alive


def pid_alive(pid):
    st = _proc_stat(pid)
    return st is not None and st[0] not in ("Z", "X")


def proc_status_kb(pid, key):
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    raise KeyError(key)


def cpu_ticks(pid):
    st = _proc_stat(pid)
    if not st:
        return 0
    return int(st[11]) + int(st[12])


def read_pid(path):
    """The pid a pidfile holds; 0 while it is missing or empty."""
    try:
        with open(path) as f:
            return int(f.read().strip() or 0)
    except (FileNotFoundError, ValueError):
        return 0


def wait_until(pred, timeout, interval=0.05, what="condition"):
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        last = pred()
        if last:
            return last
        time.sleep(interval)
    last = pred()
    if last:
        return last
    raise AssertionError("timed out after %.1fs waiting for %s" % (timeout, what))


def run_bin(args, cwd=None, env=None, timeout=20, pythonpath=True):
    """Run the binary to completion (for --version, --print-config, errors...)."""
    e = base_env()
    if env:
        e.update(env)
    cmd = [BIN]
    if pythonpath:
        cmd += ["--pythonpath", APPS_DIR]
    cmd += list(args)
    return subprocess.run(cmd, cwd=cwd, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                          timeout=timeout, stdin=subprocess.DEVNULL)


def base_env():
    e = dict(os.environ)
    for k in ("WEB_CONCURRENCY", "PORT", "SCRIPT_NAME", "VIRTUAL_ENV", CMD_ARGS_ENV,
              "GUNICORN_CMD_ARGS", "CUNICORN_CMD_ARGS", "PYTHONPATH", "PYTHONHOME"):
        e.pop(k, None)
    e["PYTHONDONTWRITEBYTECODE"] = "1"
    e["PYTHONUNBUFFERED"] = "1"
    return e


def parse_print_config(text):
    cfg = {}
    for line in text.splitlines():
        m = re.match(r"^([a-z_]+)\s*=\s?(.*)$", line)
        if m:
            cfg[m.group(1)] = m.group(2).strip()
    return cfg



def raise_nofile(want=8192):
    """Raise this process's soft RLIMIT_NOFILE (servers started afterwards
    inherit it); returns the new soft limit."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if hard != resource.RLIM_INFINITY:
        want = min(want, hard)
    if soft != resource.RLIM_INFINITY and soft < want:
        resource.setrlimit(resource.RLIMIT_NOFILE, (want, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


def simple_get(path, version="HTTP/1.1", headers=()):
    """Bytes of a GET request for path with Host: 127.0.0.1."""
    return build_request("GET", path, headers=headers, version=version, host="127.0.0.1")


class SlowLoris:
    """Slow-header clients: n connections, each sending one header byte every
    `interval` seconds from one selectors-based background thread, for at
    most `duration` seconds (the head is never completed). Records when each
    connection sees EOF or a reset (`closed`: fd -> seconds after its first
    byte) and what the server sent on it (`data`: fd -> bytes, e.g. a 408)."""

    HEAD = b"GET /fast HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: " + b"a" * 400

    def __init__(self, srv, n, interval=0.2, duration=12.0):
        self.srv, self.n, self.interval, self.duration = srv, n, interval, duration
        self.socks = []
        self.first = {}     # fd -> monotonic time of first byte
        self.closed = {}    # fd -> seconds from first byte to EOF/reset
        self.data = {}      # fd -> bytes the server sent
        self._stop = threading.Event()
        self.thread = None

    def open(self):
        for _ in range(self.n):
            s = self.srv.connect(timeout=5)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            s.setblocking(False)
            self.socks.append(s)
        return self

    def start(self):
        if not self.socks:
            self.open()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()
        return self

    def _close_one(self, sel, s, now):
        fd = s.fileno()
        self.closed[fd] = now - self.first.get(fd, now)
        try:
            sel.unregister(s)
        except (KeyError, ValueError):
            pass

    def _run(self):
        sel = selectors.DefaultSelector()
        try:
            for s in self.socks:
                sel.register(s, selectors.EVENT_READ)
            t0 = time.monotonic()
            next_tick = t0
            ticks = 0
            while not self._stop.is_set():
                now = time.monotonic()
                if now - t0 > self.duration or len(self.closed) >= len(self.socks):
                    break
                if now >= next_tick and ticks < len(self.HEAD):
                    for s in self.socks:
                        fd = s.fileno()
                        if fd in self.closed:
                            continue
                        try:
                            s.send(self.HEAD[ticks:ticks + 1])
                            self.first.setdefault(fd, now)
                        except BlockingIOError:
                            pass
                        except OSError:
                            self._close_one(sel, s, now)
                    ticks += 1
                    next_tick += self.interval
                wait = max(0.0, min(0.05, next_tick - time.monotonic()))
                for key, _ in sel.select(wait):
                    s = key.fileobj
                    now = time.monotonic()
                    try:
                        d = s.recv(65536)
                    except BlockingIOError:
                        continue
                    except OSError:
                        self._close_one(sel, s, now)
                        continue
                    if not d:
                        self._close_one(sel, s, now)
                    else:
                        self.data[s.fileno()] = self.data.get(s.fileno(), b"") + d
        finally:
            sel.close()

    def join(self, timeout):
        self.thread.join(timeout)

    def running(self):
        return self.thread is not None and self.thread.is_alive()

    def stop(self):
        self._stop.set()
        if self.thread:
            self.thread.join(5)
        for s in self.socks:
            try:
                s.close()
            except OSError:
                pass


def check_slow_clients_do_not_delay(srv, n):
    """With n slow-header clients trickling for 2 s, three normal requests
    are each answered within 1 s, the slow connections stay open, and the
    server is healthy afterwards (app_concurrency's /echo and /fast)."""
    loris = SlowLoris(srv, n, interval=0.1, duration=2.0).start()
    try:
        time.sleep(0.4)  # let the trickle get going
        timings = []
        for i in range(3):
            if not loris.running():
                break
            t0 = time.monotonic()
            with Conn.open(srv, timeout=10) as c:
                c.send(simple_get("/echo/normal%d" % i))
                r = c.read_response()
            timings.append(time.monotonic() - t0)
            assert r.status == 200 and r.body == b"/echo/normal%d" % i
            time.sleep(0.3)
        assert timings, "slowloris thread ended before any normal request"
        assert loris.running(), "normal requests took longer than the slow-client window"
        assert max(timings) < 1.0, timings
        assert not loris.closed, "%d slow connections were dropped" % len(loris.closed)
    finally:
        loris.stop()
    r = srv.get("/fast")
    assert r.status == 200 and r.body == b"fast"

class Server:
    """One server process (master + workers) started from a temp dir."""

    def __init__(self, tmpdir, app="app_env:app", args=(), env=None, workers=1,
                 bind=None, worker_class=None, cwd=None, pythonpath=True,
                 graceful_timeout=3, pass_fds=(), add_bind=True, wait=True,
                 expect_workers=None, port=None, prefix=()):
        self.tmpdir = str(tmpdir)
        os.makedirs(self.tmpdir, exist_ok=True)
        self.app = app
        self.port = None
        self.host = "127.0.0.1"
        self.unix_path = None
        args = list(args)
        cmd = list(prefix) + [BIN, "-k", worker_class or WORKER_CLASS]
        if workers is not None and not any(a in ("-w", "--workers") or a.startswith("--workers=")
                                           for a in args):
            cmd += ["-w", str(workers)]
        if graceful_timeout is not None and "--graceful-timeout" not in args:
            cmd += ["--graceful-timeout", str(graceful_timeout)]
        if pythonpath:
            cmd += ["--pythonpath", APPS_DIR]
        if bind is not None:
            self.binds = [bind] if isinstance(bind, str) else list(bind)
        elif add_bind:
            self.port = free_port()
            self.binds = ["127.0.0.1:%d" % self.port]
        else:
            self.binds = []
        for b in self.binds:
            cmd += ["-b", b]
        if self.port is None and self.binds:
            b = self.binds[0]
            if b.startswith("unix:"):
                self.unix_path = b[5:]
            else:
                m = re.match(r"^\[(.*)\]:(\d+)$", b) or re.match(r"^(.*):(\d+)$", b)
                if m:
                    self.host, self.port = m.group(1), int(m.group(2))
        if port is not None:
            self.port = port
        cmd += args
        if app:
            cmd.append(app)
        self.cmd = cmd
        self.env = base_env()
        if env:
            self.env.update(env)
        self.cwd = cwd or self.tmpdir
        self.out_path = os.path.join(self.tmpdir, "server.stdout")
        self.err_path = os.path.join(self.tmpdir, "server.stderr")
        self._out = open(self.out_path, "wb")
        self._err = open(self.err_path, "wb")
        self.known_workers = set()
        self.proc = subprocess.Popen(cmd, cwd=self.cwd, env=self.env, stdout=self._out,
                                     stderr=self._err, stdin=subprocess.DEVNULL,
                                     pass_fds=tuple(pass_fds))
        self.pid = self.proc.pid
        self.expect_workers = workers if expect_workers is None else expect_workers
        if wait:
            self.wait_ready()

    # ---- startup -------------------------------------------------------
    def wait_ready(self, timeout=START_TIMEOUT):
        try:
            self._wait_ready(timeout)
        except BaseException:
            self.stop(timeout=5)
            raise

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise AssertionError("server exited early with %s\ncmd: %s\n%s"
                                     % (self.proc.returncode, self.cmd, self.log_text()))
            if self._can_connect():
                break
            time.sleep(0.05)
        else:
            self.stop()
            raise AssertionError("server did not accept within %ss\ncmd: %s\n%s"
                                 % (timeout, self.cmd, self.log_text()))
        if self.expect_workers:
            try:
                self.wait_workers(self.expect_workers, max(1.0, deadline - time.monotonic()))
            except AssertionError:
                pass  # tests that care about the count check it themselves

    def wait_booted(self, n, timeout):
        # "Booting worker with pid" means the worker process exists; give the
        # worker a moment to finish loading the app by doing a real request.
        try:
            wait_until(lambda: len(re.findall(r"Booting worker with pid", self.log_text())) >= n,
                       timeout, what="%d workers booted" % n)
        except AssertionError:
            pass

    def _can_connect(self):
        try:
            s = self.connect(timeout=0.5)
            s.close()
            return True
        except OSError:
            return False

    def connect(self, timeout=IO_TIMEOUT):
        if self.unix_path:
            s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            s.settimeout(timeout)
            try:
                s.connect(self.unix_path)
            except OSError:
                s.close()
                raise
            return s
        fam = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        s = socket.socket(fam, socket.SOCK_STREAM)
        s.settimeout(timeout)
        try:
            s.connect((self.host, self.port))
        except OSError:
            s.close()
            raise
        return s

    # ---- introspection -------------------------------------------------
    def worker_pids(self):
        pids = children_of(self.pid)
        self.known_workers.update(pids)
        return pids

    def wait_workers(self, n, timeout=10.0):
        return wait_until(lambda: (lambda p: p if len(p) == n else None)(self.worker_pids()),
                          timeout, what="%d workers (have %s)" % (n, self.worker_pids()))

    def stdout_text(self):
        with open(self.out_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def stderr_text(self):
        with open(self.err_path, "rb") as f:
            return f.read().decode("utf-8", "replace")

    def log_text(self):
        return self.stderr_text() + self.stdout_text()

    def wait_log(self, pattern, timeout=10.0, text=None):
        src = text or self.log_text
        return wait_until(lambda: re.search(pattern, src()), timeout,
                          what="log pattern %r; log:\n%s" % (pattern, self.log_text()[-3000:]))

    # ---- requests ------------------------------------------------------
    def request(self, data, timeout=IO_TIMEOUT, head=False):
        with self.connect(timeout) as s:
            c = Conn(s, timeout)
            c.send(data)
            return c.read_response(head=head)

    def get(self, target="/", headers=(), version="HTTP/1.1", method="GET", body=b""):
        return self.request(build_request(method, target, headers, body, version,
                                          host="%s:%s" % (self.host, self.port)),
                            head=(method == "HEAD"))

    def get_json(self, target="/", headers=(), **kw):
        r = self.get(target, headers, **kw)
        assert r.status == 200, (r.status, r.body[:2000], self.log_text()[-3000:])
        return json.loads(r.body.decode("utf-8"))

    # ---- shutdown ------------------------------------------------------
    def send_signal(self, sig):
        os.kill(self.pid, sig)

    def wait_exit(self, timeout):
        try:
            return self.proc.wait(timeout)
        except subprocess.TimeoutExpired:
            return None

    def stop(self, sig=signal.SIGTERM, timeout=10.0):
        self.worker_pids()
        if self.proc.poll() is None:
            try:
                os.kill(self.pid, sig)
            except ProcessLookupError:
                pass
            if self.wait_exit(timeout) is None:
                try:
                    os.kill(self.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                self.wait_exit(5)
        # reap any straggling workers we have seen (children of our master)
        for w in list(self.known_workers):
            st = _proc_stat(w)
            # only if it is still one of "ours": parent is our master, or init
            # after the master died (a reused pid would have another parent)
            if st is not None and int(st[1]) in (self.pid, 1):
                try:
                    os.kill(w, signal.SIGKILL)
                except (ProcessLookupError, PermissionError):
                    pass
        for f in (self._out, self._err):
            try:
                f.close()
            except Exception:
                pass
        return self.proc.returncode


SANITIZER_REPORT = re.compile(r"ERROR: AddressSanitizer|ERROR: LeakSanitizer|"
                              r"WARNING: ThreadSanitizer|runtime error: ")


class ServerFactory:
    def __init__(self, tmp_path):
        self.tmp_path = tmp_path
        self.servers = []

    def __call__(self, app="app_env:app", args=(), **kw):
        d = os.path.join(str(self.tmp_path), "srv%d" % len(self.servers))
        kw.setdefault("tmpdir", d)
        wait = kw.pop("wait", True)
        srv = Server(app=app, args=args, wait=False, **kw)
        self.servers.append(srv)  # registered first: always stopped in teardown
        if wait:
            srv.wait_ready()
        return srv

    def close(self):
        reports = []
        for s in self.servers:
            try:
                s.stop(timeout=5)
            except Exception:
                pass
            try:
                text = s.log_text()
            except OSError:
                continue
            # A sanitizer build reports memory and UB errors on the server's
            # stderr; any such report fails the test that ran the server.
            m = SANITIZER_REPORT.search(text)
            if m:
                reports.append(text[max(0, m.start() - 200):m.start() + 3000])
        if reports:
            pytest.fail("sanitizer report in the server log:\n" + reports[0], pytrace=False)


@pytest.fixture
def server_factory(tmp_path):
    f = ServerFactory(tmp_path)
    yield f
    f.close()


@pytest.fixture
def make_server(server_factory):
    return server_factory


@pytest.fixture(scope="module")
def module_server_factory(tmp_path_factory):
    f = ServerFactory(tmp_path_factory.mktemp("modsrv"))
    yield f
    f.close()


# --------------------------------------------------------------------------
# raw HTTP client
# --------------------------------------------------------------------------

def build_request(method="GET", target="/", headers=(), body=b"", version="HTTP/1.1",
                  host="127.0.0.1"):
    lines = ["%s %s %s" % (method, target, version)]
    names = {h[0].lower() for h in headers}
    if "host" not in names and version == "HTTP/1.1":
        lines.append("Host: %s" % host)
    for k, v in headers:
        lines.append("%s: %s" % (k, v))
    if body and "content-length" not in names and "transfer-encoding" not in names:
        lines.append("Content-Length: %d" % len(body))
    return ("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body


class Response:
    def __init__(self):
        self.version = None
        self.status = None
        self.reason = None
        self.headers = []  # list of (name, value) as sent
        self.body = b""
        self.raw_head = b""
        self.interim = []  # list of (status, raw head) for 1xx
        self.chunked = False
        self.trailers = []
        self.complete = True  # False if body ended by an unexpected EOF

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def header_all(self, name):
        return [v for k, v in self.headers if k.lower() == name.lower()]

    def has(self, name):
        return self.header(name) is not None

    def json(self):
        return json.loads(self.body.decode("utf-8"))

    def __repr__(self):
        return "<Response %s %s %r body=%r>" % (self.status, self.reason, self.headers, self.body[:200])


class ConnectionClosed(Exception):
    pass


class Conn:
    """Buffered reader over a socket with a per-operation deadline."""

    def __init__(self, sock, timeout=IO_TIMEOUT):
        self.sock = sock
        self.timeout = timeout
        self.buf = b""
        self.eof = False

    @classmethod
    def open(cls, server, timeout=IO_TIMEOUT):
        return cls(server.connect(timeout), timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    def __enter__(self):
        return self

    def __exit__(self, *a):
        self.close()

    def send(self, data):
        self.sock.sendall(data)

    def send_slowly(self, data, piece=7, delay=0.005, max_pieces=4000):
        # bounded: never more than max_pieces writes
        piece = max(piece, (len(data) + max_pieces - 1) // max_pieces)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1) \
            if self.sock.family != socket.AF_UNIX else None
        for i in range(0, len(data), piece):
            self.sock.sendall(data[i:i + piece])
            time.sleep(delay)

    def _fill(self, deadline):
        if self.eof:
            raise ConnectionClosed("EOF")
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("deadline exceeded; have %r" % self.buf[:300])
        self.sock.settimeout(remaining)
        try:
            d = self.sock.recv(65536)
        except ConnectionResetError:
            d = b""
        if not d:
            self.eof = True
            raise ConnectionClosed("EOF")
        self.buf += d

    def read_until(self, sep, deadline, limit=1 << 20):
        while sep not in self.buf:
            if len(self.buf) > limit:
                raise AssertionError("no %r within %d bytes" % (sep, limit))
            self._fill(deadline)
        i = self.buf.index(sep) + len(sep)
        out, self.buf = self.buf[:i], self.buf[i:]
        return out

    def read_exact(self, n, deadline):
        while len(self.buf) < n:
            self._fill(deadline)
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def read_to_eof(self, deadline, limit=256 << 20):
        try:
            while len(self.buf) <= limit:
                self._fill(deadline)
        except ConnectionClosed:
            pass
        out, self.buf = self.buf, b""
        return out

    def read_head(self, deadline):
        head = self.read_until(b"\r\n\r\n", deadline)
        lines = head[:-4].split(b"\r\n")
        m = re.match(rb"^(HTTP/\d\.\d) (\d{3})(?: (.*))?$", lines[0])
        if not m:
            raise AssertionError("bad status line %r" % lines[0])
        hdrs = []
        for ln in lines[1:]:
            k, _, v = ln.partition(b":")
            hdrs.append((k.decode("latin-1"), v.strip().decode("latin-1")))
        return m.group(1).decode(), int(m.group(2)), (m.group(3) or b"").decode("latin-1"), hdrs, head

    def read_response(self, head=False, timeout=None, skip_interim=True):
        deadline = time.monotonic() + (timeout or self.timeout)
        r = Response()
        while True:
            version, status, reason, hdrs, raw = self.read_head(deadline)
            if 100 <= status < 200 and status != 101 and skip_interim:
                r.interim.append((status, raw))
                continue
            break
        r.version, r.status, r.reason, r.headers, r.raw_head = version, status, reason, hdrs, raw
        te = (r.header("Transfer-Encoding") or "").lower()
        cl = r.header("Content-Length")
        if head or status in (204, 304) or 100 <= status < 200:
            return r
        if "chunked" in te:
            r.chunked = True
            body = []
            try:
                while True:
                    line = self.read_until(b"\r\n", deadline)
                    size = int(line.split(b";")[0].strip(), 16)
                    if size == 0:
                        while True:
                            t = self.read_until(b"\r\n", deadline)
                            if t == b"\r\n":
                                break
                            k, _, v = t.partition(b":")
                            r.trailers.append((k.decode("latin-1"), v.strip().decode("latin-1")))
                        break
                    body.append(self.read_exact(size, deadline))
                    crlf = self.read_exact(2, deadline)
                    assert crlf == b"\r\n", "bad chunk terminator %r" % crlf
            except ConnectionClosed:
                r.complete = False
                body.append(self.buf)
                self.buf = b""
            r.body = b"".join(body)
        elif cl is not None:
            try:
                r.body = self.read_exact(int(cl), deadline)
            except ConnectionClosed:
                r.complete = False
                r.body, self.buf = self.buf, b""
        else:
            r.body = self.read_to_eof(deadline)
        return r

    def peer_closed(self, timeout=3.0):
        """True if the server closes the connection (EOF/RST) within timeout and sent nothing more."""
        deadline = time.monotonic() + timeout
        try:
            while True:
                self._fill(deadline)
                if self.buf:
                    return False
        except ConnectionClosed:
            return not self.buf
        except (socket.timeout, TimeoutError):
            return False


def recv_until_eof(sock):
    """Everything the peer sends until it closes (the socket's timeout
    bounds each wait)."""
    data = b""
    while True:
        chunk = sock.recv(65536)
        if not chunk:
            return data
        data += chunk


def raw_exchange(server, data, timeout=IO_TIMEOUT, head=False):
    """Send raw bytes on a fresh connection and read one response."""
    with Conn.open(server, timeout) as c:
        c.send(data)
        return c.read_response(head=head)


def chunk_encode(data, size=5, ext=False, trailers=()):
    out = b""
    for i in range(0, len(data), size):
        piece = data[i:i + size]
        out += b"%x" % len(piece)
        if ext:
            out += b";foo=bar;baz"
        out += b"\r\n" + piece + b"\r\n"
    out += b"0\r\n"
    for k, v in trailers:
        out += ("%s: %s\r\n" % (k, v)).encode()
    out += b"\r\n"
    return out


def quote(s):
    return urllib.parse.quote(s, safe="")
