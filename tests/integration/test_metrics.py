"""--metrics-bind: the master's GET /metrics, parsed by prometheus_client's
own parsers (python3-prometheus-client): counters summed over every worker,
exited ones included, never going backwards; histograms cumulative; the
endpoint's own errors; never on the app's sockets."""
import os
import signal
import socket
import threading
import time
import urllib.request

import pytest

from conftest import IO_TIMEOUT, IS_GUNICORN, Server, free_port, recv_until_eof, wait_until

prom = pytest.importorskip("prometheus_client.parser")
openmetrics = pytest.importorskip("prometheus_client.openmetrics.parser")
pytestmark = [
    pytest.mark.skipif(IS_GUNICORN, reason="cunicorn's /metrics endpoint"),
    # Under ASan a worker forked while the exporter thread is starting (or
    # allocating for a scrape) can inherit ASan's allocator lock held and
    # hang (CI, gthread: a request never answered). glibc's own malloc is
    # fork-safe; see the closing note: the exporter must stop allocating
    # across forks before these run under the sanitizers again.
    pytest.mark.skipif(bool(os.environ.get("CUNICORN_SANITIZED")),
                       reason="the exporter thread and fork under ASan (open, issue 14)"),
]


def start(tmp_path, args=(), **kw):
    port = free_port()
    s = Server(tmp_path, args=["--metrics-bind", "127.0.0.1:%d" % port] + list(args), **kw)
    s.metrics_port = port
    return s


def scrape(s, accept=None):
    req = urllib.request.Request("http://127.0.0.1:%d/metrics" % s.metrics_port)
    if accept:
        req.add_header("Accept", accept)
    with urllib.request.urlopen(req, timeout=IO_TIMEOUT) as r:
        return r.headers["Content-Type"], r.read().decode()


def samples(text):
    """{(name, frozenset(labels)): value} of every sample."""
    out = {}
    for fam in prom.text_string_to_metric_families(text):
        for smp in fam.samples:
            out[(smp.name, frozenset(smp.labels.items()))] = smp.value
    return out


def total(smp, name):
    return sum(v for (n, _), v in smp.items() if n == name)


def raw(port, data):
    with socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT) as c:
        c.sendall(data)
        return recv_until_eof(c)


def test_counters_add_up_across_killed_and_recycled_workers(tmp_path):
    """1,000 requests over 3 workers, one killed midway and others recycled
    by max_requests: the scraped requests add up to exactly 1,000, no
    counter ever goes backwards between scrapes, and the restarts are told
    apart by reason."""
    s = start(tmp_path, workers=3, args=["--max-requests", "150"])
    try:
        last = {}
        killed = False
        for i in range(1000):
            assert s.get("/").status == 200
            if i == 400 and not killed:
                # a request counts once its worker has finished it (after the
                # response's last byte): kill only when all 401 are in
                wait_until(lambda: total(samples(scrape(s)[1]), "cunicorn_requests_total") == 401,
                           10, what="401 requests counted")
                os.kill(s.worker_pids()[0], signal.SIGKILL)
                killed = True
            if i % 100 == 99:
                now = samples(scrape(s)[1])
                for key, value in last.items():
                    if key[0].endswith(("_total", "_count", "_sum", "_bucket")):
                        assert now.get(key, 0) >= value, (key, value, now.get(key))
                last = now
        def settled():
            smp = samples(scrape(s)[1])
            return smp if total(smp, "cunicorn_requests_total") == 1000 else None
        smp = wait_until(settled, 10, what="1,000 requests counted")
        assert smp[("cunicorn_requests_total", frozenset({("method", "GET"),
                                                          ("status", "2xx")}))] == 1000
        restarts = {dict(k[1])["reason"]: v for k, v in smp.items()
                    if k[0] == "cunicorn_worker_restarts_total"}
        assert restarts["crash"] == 1
        assert restarts["max_requests"] >= 4  # 1,000 / 150 over 3 workers
        assert smp[("cunicorn_requests_in_flight", frozenset())] == 0
        wait_until(lambda: samples(scrape(s)[1])[("cunicorn_workers", frozenset())] == 3, 10,
                   what="3 workers again")
    finally:
        assert s.stop() == 0


def test_histogram_and_bytes(tmp_path):
    s = start(tmp_path, app="app_misc:sleep")
    try:
        for secs in ("0", "0", "0.06", "0.3"):
            assert s.get("/?seconds=" + secs).status == 200
        smp = samples(scrape(s)[1])
        name = "cunicorn_request_duration_seconds"
        buckets = sorted((float(dict(k[1])["le"]), v) for k, v in smp.items()
                         if k[0] == name + "_bucket")
        counts = [v for _, v in buckets]
        assert counts == sorted(counts)  # cumulative
        assert buckets[-1] == (float("inf"), 4) and smp[(name + "_count", frozenset())] == 4
        le = dict(buckets)
        assert le[0.05] == 2 and le[0.1] == 3 and le[0.25] == 3 and le[0.5] == 4
        assert 0.36 <= smp[(name + "_sum", frozenset())] < 2
        waits = smp[("cunicorn_request_wait_seconds_count", frozenset())]
        assert waits == 4
        assert smp[("cunicorn_request_bytes_total", frozenset())] > 4 * len("GET / HTTP/1.1\r\n")
        assert smp[("cunicorn_response_bytes_total", frozenset())] > 4 * len("slept 0\n")
    finally:
        assert s.stop() == 0


def test_refused_requests_counted_by_status(tmp_path):
    s = start(tmp_path, args=["--limit-request-line", "100"])
    try:
        assert raw(s.port, b"BAD\r\n\r\n").startswith(b"HTTP/1.1 400")
        # read whole by the server (one small write): the 414 is not lost to a reset
        assert raw(s.port, b"GET /" + b"a" * 200 + b" HTTP/1.1\r\n\r\n").startswith(
            b"HTTP/1.1 414")
        smp = samples(scrape(s)[1])
        refused = {dict(k[1])["status"]: v for k, v in smp.items()
                   if k[0] == "cunicorn_requests_refused_total"}
        assert refused["400"] == 1 and refused["414"] == 1 and refused["431"] == 0
        assert total(smp, "cunicorn_requests_total") == 0  # the app never saw them
    finally:
        assert s.stop() == 0


def test_openmetrics_when_asked(tmp_path):
    s = start(tmp_path)
    try:
        s.get("/")
        ctype, text = scrape(s, accept="application/openmetrics-text; version=1.0.0")
        assert ctype.startswith("application/openmetrics-text")
        fams = {f.name: f for f in openmetrics.text_string_to_metric_families(text)}
        assert fams["cunicorn_requests"].type == "counter"
        assert fams["cunicorn_request_duration_seconds"].type == "histogram"
        ctype, _ = scrape(s)
        assert ctype.startswith("text/plain; version=0.0.4")
    finally:
        assert s.stop() == 0


def test_endpoint_errors_and_isolation(tmp_path):
    s = start(tmp_path)
    try:
        m = s.metrics_port
        assert raw(m, b"GET /other HTTP/1.1\r\n\r\n").startswith(b"HTTP/1.1 404")
        r = raw(m, b"POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n")
        assert r.startswith(b"HTTP/1.1 405") and b"Allow: GET, HEAD" in r
        assert raw(m, b"garbage\r\n\r\n").startswith(b"HTTP/1.1 400")
        assert raw(m, b"GET /metrics HTTP/2.0\r\n\r\n").startswith(b"HTTP/1.1 400")
        head = raw(m, b"HEAD /metrics HTTP/1.1\r\n\r\n")
        assert head.startswith(b"HTTP/1.1 200") and head.endswith(b"\r\n\r\n")
        assert raw(m, b"GET /metrics?x=1 HTTP/1.0\r\n\r\n").startswith(b"HTTP/1.1 200")
        # a client that sends nothing does not stop the next scrape for long
        idle = socket.create_connection(("127.0.0.1", m), timeout=IO_TIMEOUT)
        try:
            t0 = time.monotonic()
            assert "cunicorn_workers 1" in scrape(s)[1]
            assert time.monotonic() - t0 < IO_TIMEOUT
        finally:
            idle.close()
        # the app's socket serves the app, never the metrics
        r = s.get("/metrics")
        assert r.status == 200 and b"cunicorn_requests_total" not in r.body
        assert s.get("/").status == 200
    finally:
        assert s.stop() == 0


def test_a_trickling_client_delays_a_scrape_only_so_long(tmp_path):
    """A client that sends a byte a second never finishes its head: it gets
    5 s in all, not 5 s per byte, so the next scrape is answered; and the
    master's exit does not wait for it."""
    s = start(tmp_path)
    stop = threading.Event()
    slow = socket.create_connection(("127.0.0.1", s.metrics_port), timeout=IO_TIMEOUT)

    def trickle():
        for b in b"GET /metrics HTTP/1.1\r\nX: " + b"y" * 60:
            if stop.wait(1.0):
                return
            try:
                slow.send(bytes([b]))
            except OSError:
                return

    t = threading.Thread(target=trickle)
    t.start()
    try:
        time.sleep(0.5)  # the slow client is the one being served
        answered = []
        scraper = threading.Thread(target=lambda: answered.append(scrape(s)))
        scraper.start()
        scraper.join(20)  # 5 s for the slow client, then this scrape
        assert answered and "cunicorn_workers 1" in answered[0][1]
        again = socket.create_connection(("127.0.0.1", s.metrics_port), timeout=IO_TIMEOUT)
        again.sendall(b"GET /metr")  # being served when TERM arrives
        time.sleep(0.3)
        s.send_signal(signal.SIGTERM)
        assert s.wait_exit(10) == 0  # not held by the client
        again.close()
    finally:
        stop.set()
        t.join(5)
        slow.close()
        s.stop()


def test_metrics_over_a_unix_socket(tmp_path):
    path = str(tmp_path / "metrics.sock")
    s = Server(tmp_path, args=["--metrics-bind", "unix:" + path])
    try:
        s.wait_log(r"Metrics at: unix:%s/metrics" % path)
        with socket.socket(socket.AF_UNIX, socket.SOCK_STREAM) as c:
            c.settimeout(IO_TIMEOUT)
            c.connect(path)
            c.sendall(b"GET /metrics HTTP/1.0\r\n\r\n")
            data = recv_until_eof(c)
        assert samples(data.partition(b"\r\n\r\n")[2].decode())[("cunicorn_workers",
                                                                 frozenset())] == 1
    finally:
        assert s.stop() == 0
    assert not os.path.exists(path)


def test_metrics_bind_in_use_is_an_error(tmp_path):
    busy = socket.socket()
    busy.bind(("127.0.0.1", 0))
    busy.listen(1)
    try:
        pidfile = tmp_path / "app.pid"
        s = Server(tmp_path, args=["--metrics-bind", "127.0.0.1:%d" % busy.getsockname()[1],
                                   "-p", str(pidfile)], wait=False)
        assert s.wait_exit(15) == 1
        assert "Connection in use" in s.stderr_text()
        assert not pidfile.exists()  # nothing left behind
    finally:
        busy.close()
