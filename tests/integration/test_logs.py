"""Error log (startup lines, levels, files) and access log formats."""
import re
import time

import pytest

from conftest import LOG_LINE_RE, NAME, WORKER_CLASS, build_request, raw_exchange, wait_until

ACCESS_TIME = r"\[\d{2}/(Jan|Feb|Mar|Apr|May|Jun|Jul|Aug|Sep|Oct|Nov|Dec)/\d{4}:\d{2}:\d{2}:\d{2} [+-]\d{4}\]"


def _read(path):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return f.read()
    except OSError:
        return ""


def test_startup_lines_format(make_server):
    s = make_server("app_env:app", workers=2)
    workers = s.worker_pids()
    for w in workers:  # the worker itself logs this line right after fork
        s.wait_log(r"Booting worker with pid: %d\b" % w, timeout=10, text=s.stderr_text)
    err = s.stderr_text()
    pid = s.pid
    assert re.search(r"^%s\[%d\] \[INFO\] Starting %s \d+\.\d+\.\d+$"
                     % (LOG_LINE_RE.replace(r"\[(\d+)\] \[(\w+)\] ", ""), pid, NAME), err, re.M), err
    assert re.search(r"^%s\[%d\] \[INFO\] Listening at: http://127\.0\.0\.1:%d \(%d\)$"
                     % (LOG_LINE_RE.replace(r"\[(\d+)\] \[(\w+)\] ", ""), pid, s.port, pid), err, re.M), err
    assert re.search(r"\[%d\] \[INFO\] Using worker: %s$" % (pid, WORKER_CLASS), err, re.M), err
    booted = [int(x) for x in re.findall(r"^" + LOG_LINE_RE.replace(r"\[(\d+)\] \[(\w+)\] ", "")
                                         + r"\[\d+\] \[INFO\] Booting worker with pid: (\d+)$", err, re.M)]
    assert set(workers) <= set(booted), (workers, err)
    # every line produced by the master at startup follows the gunicorn format
    for line in err.splitlines()[:4]:
        assert re.match(LOG_LINE_RE, line), line


def test_shutdown_lines(make_server):
    s = make_server("app_env:app")
    assert s.stop() == 0
    err = s.stderr_text()
    assert re.search(r"\[INFO\] Handling signal: term", err), err
    assert re.search(r"\[INFO\] Shutting down: Master", err), err


def test_no_access_log_by_default(make_server):
    s = make_server("app_env:app")
    s.get("/nolog")
    time.sleep(0.3)
    assert "/nolog" not in s.log_text()


def test_access_log_stdout_default_format(make_server):
    s = make_server("app_env:app", args=["--access-logfile", "-"])
    r = s.get("/path?x=1", headers=[("User-Agent", "curl/7.88.1")])
    n = len(r.body)
    pat = (r'^127\.0\.0\.1 - - %s "GET /path\?x=1 HTTP/1\.1" 200 %d "-" "curl/7\.88\.1"$'
           % (ACCESS_TIME, n))
    s.wait_log(pat.replace("^", "(?m)^", 1), timeout=5, text=s.stdout_text)


def test_access_log_referer_and_http10(make_server):
    s = make_server("app_env:app", args=["--access-logfile", "-"])
    raw_exchange(s, b"GET /ten HTTP/1.0\r\nReferer: http://ref.example/\r\nUser-Agent: ua-x\r\n\r\n")
    s.wait_log(r'(?m)"GET /ten HTTP/1\.0" 200 \d+ "http://ref\.example/" "ua-x"$', timeout=5,
               text=s.stdout_text)


def test_access_log_file(make_server, tmp_path):
    path = str(tmp_path / "access.log")
    s = make_server("app_env:app", args=["--access-logfile", path])
    s.get("/to-file")
    wait_until(lambda: "/to-file" in _read(path), 5, what="access log file line")
    assert re.search(r'"GET /to-file HTTP/1\.1" 200 \d+', _read(path))
    assert "/to-file" not in s.stdout_text()


def test_access_log_status_for_errors(make_server, tmp_path):
    path = str(tmp_path / "access.log")
    s = make_server("app_router:app", args=["--access-logfile", path])
    s.get("/__raise_before")
    s.get("/__status?code=204")
    wait_until(lambda: '"GET /__raise_before HTTP/1.1" 500' in _read(path)
               and '"GET /__status?code=204 HTTP/1.1" 204' in _read(path), 5,
               what="500 and 204 access lines:\n" + _read(path))


ATOMS = "h l u t r s m U q H b B f a T D L p M".split()


def test_access_log_custom_format_all_atoms(make_server, tmp_path):
    path = str(tmp_path / "access.log")
    fmt = "|".join("%s=%%(%s)s" % (a, a) for a in ATOMS)
    fmt += "|xreq=%({x-req}i)s|ct=%({content-type}o)s|ra=%({REMOTE_ADDR}e)s|missing=%({x-nope}i)s"
    s = make_server("app_router:app", args=["--access-logfile", path, "--access-logformat", fmt])
    (wpid,) = s.worker_pids()
    req = build_request("GET", "/__sleep?seconds=1.1", [("X-Req", "req-value-42"),
                                                        ("Referer", "http://r/"),
                                                        ("User-Agent", "agent/9")],
                        host="127.0.0.1:%d" % s.port)
    r = raw_exchange(s, req)
    assert r.status == 200
    wait_until(lambda: "xreq=" in _read(path), 5, what="custom access line")
    line = [l for l in _read(path).splitlines() if "xreq=" in l][0]
    fields = dict(p.split("=", 1) for p in line.split("|"))
    assert fields["h"] == "127.0.0.1"
    assert fields["l"] == "-"
    assert fields["u"] == "-"
    assert re.match(ACCESS_TIME + "$", fields["t"]), fields["t"]
    assert fields["r"] == "GET /__sleep?seconds=1.1 HTTP/1.1"
    assert fields["s"] == "200"
    assert fields["m"] == "GET"
    assert fields["U"] == "/__sleep"
    assert fields["q"] == "seconds=1.1"
    assert fields["H"] == "HTTP/1.1"
    assert fields["b"] == str(len(r.body))
    assert fields["B"] == str(len(r.body))
    assert fields["f"] == "http://r/"
    assert fields["a"] == "agent/9"
    assert fields["T"] == "1"
    assert 1_000_000 <= int(fields["D"]) < 10_000_000
    assert re.match(r"^1\.\d{6}$", fields["L"]), fields["L"]
    assert 1000 <= int(fields["M"]) < 10_000
    assert fields["p"] == "<%d>" % wpid
    assert fields["xreq"] == "req-value-42"
    assert fields["ct"] == "text/plain"
    assert fields["ra"] == "127.0.0.1"
    assert fields["missing"] == "-"


def test_access_log_b_dash_for_empty_body(make_server, tmp_path):
    path = str(tmp_path / "access.log")
    s = make_server("app_router:app", args=["--access-logfile", path,
                                            "--access-logformat", "%(U)s b=%(b)s B=%(B)s"])
    s.get("/__status?code=204")
    wait_until(lambda: "/__status" in _read(path), 5, what="access line")
    line = [l for l in _read(path).splitlines() if "/__status" in l][0]
    assert line in ("/__status b=- B=0", "/__status b=0 B=0", "/__status b=- B=None"), line


@pytest.mark.parametrize("flag", ["--error-logfile", "--log-file"])
def test_error_logfile(make_server, tmp_path, flag):
    path = str(tmp_path / "error.log")
    s = make_server("app_router:app", args=[flag, path])
    s.get("/?errors=marker-in-error-file")
    wait_until(lambda: "marker-in-error-file" in _read(path), 5, what="wsgi.errors line in file")
    text = _read(path)
    assert re.search(r"\[INFO\] Starting %s " % NAME, text)
    assert "Listening at: http://127.0.0.1:%d" % s.port in text
    assert "Starting %s" % NAME not in s.stderr_text()


def test_log_level_debug(make_server):
    s = make_server("app_env:app", args=["--log-level", "debug"])
    s.get("/dbg")
    s.wait_log(r"\[DEBUG\]", timeout=5, text=s.stderr_text)
    assert "[INFO] Starting %s" % NAME in s.stderr_text()


def test_log_level_warning_hides_info(make_server):
    s = make_server("app_router:app", args=["--log-level", "warning"])
    s.get("/")
    s.get("/__raise_before")
    s.wait_log(r"\[ERROR\]", timeout=5, text=s.stderr_text)
    err = s.stderr_text()
    assert "[INFO]" not in err, err
    assert "[DEBUG]" not in err


def test_log_level_error_on_app_exception(make_server):
    s = make_server("app_router:app")
    s.get("/__raise_before")
    s.wait_log(r"\[ERROR\] Error handling request", timeout=5, text=s.stderr_text)
