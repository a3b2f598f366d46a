"""Keep-alive load for the zero-downtime tests: N clients, each on its own
persistent connection, each request checked for status, framing and its own
body. Every request that does not get its full, right answer counts, with
why: a connection closed before the response ("closed") is counted apart
from a wrong answer ("failed")."""
import http.client
import socket
import threading
import time

# a close or reset where a response should have been
CLOSED = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError,
          http.client.IncompleteRead, ConnectionAbortedError)


class Client(threading.Thread):
    def __init__(self, load, n):
        super().__init__(daemon=True)
        self.load, self.n = load, n
        self.conn = None

    def _connection(self):
        if self.conn is None:
            srv = self.load.srv
            if srv.unix_path:
                self.conn = http.client.HTTPConnection("localhost", timeout=self.load.timeout)
                sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                sock.settimeout(self.load.timeout)
                sock.connect(srv.unix_path)
                self.conn.sock = sock
            else:
                self.conn = http.client.HTTPConnection(srv.host, srv.port,
                                                       timeout=self.load.timeout)
        return self.conn

    def _drop(self):
        if self.conn is not None:
            self.conn.close()
            self.conn = None

    def one(self, i):
        rid = "%d-%d" % (self.n, i)
        try:
            c = self._connection()
            c.request("GET", "/?id=%s&ms=%d" % (rid, self.load.ms))
            r = c.getresponse()
            body = r.read()
        except CLOSED as e:
            self._drop()
            return "closed", repr(e)
        except (OSError, http.client.HTTPException) as e:
            self._drop()
            return "failed", repr(e)
        length = r.getheader("Content-Length")
        if r.will_close:
            self._drop()
        if r.status != 200:
            return "failed", "status %d" % r.status
        if length is None or int(length) != len(body):
            return "failed", "framing: Content-Length %s, %d bytes" % (length, len(body))
        pid, _, got = body.decode("latin-1").partition(" ")
        if got != rid:
            return "failed", "body %r is not request %s's" % (body, rid)
        return "ok", int(pid)

    def run(self):
        for i in range(self.load.max_requests):
            if self.load.stopping.is_set():
                break
            kind, what = self.one(i)
            self.load.record(kind, what)
        self._drop()


class Load:
    """Start with Load(server, clients=20); stop with finish(), which returns
    self; then ok, pids (a Counter of who served), failed and closed."""

    def __init__(self, srv, clients=20, ms=5, timeout=15.0, max_requests=100000):
        self.srv, self.ms, self.timeout, self.max_requests = srv, ms, timeout, max_requests
        self.lock = threading.Lock()
        self.stopping = threading.Event()
        self.ok, self.failed, self.closed = 0, [], []
        self.pids = {}
        self.clients = [Client(self, n) for n in range(clients)]
        for c in self.clients:
            c.start()

    def record(self, kind, what):
        with self.lock:
            if kind == "ok":
                self.ok += 1
                self.pids[what] = self.pids.get(what, 0) + 1
            elif kind == "closed":
                self.closed.append(what)
            else:
                self.failed.append(what)

    def served(self):
        with self.lock:
            return self.ok

    def wait_served(self, n, timeout):
        """Wait until n more requests were answered."""
        target = self.served() + n
        end = time.monotonic() + timeout
        while self.served() < target:
            if time.monotonic() > end:
                raise AssertionError("load stalled: %d of %d answered" % (self.served(), target))
            time.sleep(0.02)

    def finish(self):
        self.stopping.set()
        for c in self.clients:
            c.join(self.timeout + 5)
        return self

    def pids_since(self, before):
        """The pids that served after a snapshot of self.pids, with counts."""
        with self.lock:
            return {p: n - before.get(p, 0) for p, n in self.pids.items()
                    if n - before.get(p, 0) > 0}

    def snapshot(self):
        with self.lock:
            return dict(self.pids)

    def assert_clean(self):
        assert self.failed == [] and self.closed == [], (
            "failed %d %s; closed before response %d %s"
            % (len(self.failed), self.failed[:5], len(self.closed), self.closed[:5]))
        assert self.ok > 0
