"""Application errors: misbehaving apps, and apps that cannot be loaded."""
import re
import time

import pytest

from conftest import (APPS_DIR, Conn, Server, build_request, run_bin)


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory("app_router:app", workers=1)


def H(s):
    return "127.0.0.1:%d" % s.port


def _same_worker(srv, pids):
    assert srv.get("/after").status == 200
    assert srv.worker_pids() == pids, "worker was replaced:\n" + srv.log_text()[-3000:]


def test_raise_before_start_response_500(srv):
    pids = srv.worker_pids()
    r = srv.get("/__raise_before")
    assert r.status == 500
    assert b"boom-before-start-response" not in r.body  # no traceback leaked to the client
    srv.wait_log(r"Traceback \(most recent call last\)", timeout=5, text=srv.stderr_text)
    srv.wait_log("boom-before-start-response", timeout=5, text=srv.stderr_text)
    _same_worker(srv, pids)


def test_raise_after_first_chunk_closes_connection(srv):
    pids = srv.worker_pids()
    with Conn.open(srv) as c:
        c.send(build_request("GET", "/__raise_after", host=H(srv)))
        r = c.read_response()
        assert r.status == 200
        assert r.body.startswith(b"first chunk;")
        assert not r.complete, "chunked body must not be terminated normally after an app error"
        assert b"HTTP/1." not in r.body, "a second response was sent"
        assert c.eof or c.peer_closed(timeout=5)
    srv.wait_log("boom-after-first-chunk", timeout=5, text=srv.stderr_text)
    _same_worker(srv, pids)


def test_raise_after_first_chunk_with_content_length(srv):
    pids = srv.worker_pids()
    with Conn.open(srv) as c:
        c.send(build_request("GET", "/__raise_after_cl", host=H(srv)))
        r = c.read_response()
        assert r.status == 200
        assert not r.complete and r.body == b"first chunk;"
    _same_worker(srv, pids)


def test_bad_status_500(srv):
    pids = srv.worker_pids()
    r = srv.get("/__bad_status")
    assert r.status == 500
    assert b"should not be sent" not in r.body
    _same_worker(srv, pids)


def test_crlf_in_header_value_500_no_injection(srv):
    pids = srv.worker_pids()
    with Conn.open(srv) as c:
        c.send(build_request("GET", "/__crlf_header", host=H(srv)))
        r = c.read_response()
        raw = r.raw_head + r.body + c.buf
    assert r.status == 500
    assert b"Injected" not in raw
    assert r.header("Injected") is None and r.header("X-Evil") is None
    _same_worker(srv, pids)


def test_crlf_in_header_name_500(srv):
    r = srv.get("/__crlf_header_name")
    assert r.status == 500
    assert r.header("Injected") is None


def test_hop_by_hop_header_from_app_500(srv):
    r = srv.get("/__hop_header")
    assert r.status == 500
    assert r.header("Connection") in (None, "close")


def test_start_response_twice_without_exc_info_500(srv):
    r = srv.get("/__double_start")
    assert r.status == 500


def test_start_response_with_exc_info_before_headers_sent(srv):
    r = srv.get("/__exc_info_restart")
    assert r.status == 503
    assert r.header("X-Replaced") == "yes"
    assert r.body == b"replaced\n"


def test_start_response_exc_info_after_headers_sent_reraises(srv):
    pids = srv.worker_pids()
    with Conn.open(srv) as c:
        c.send(build_request("GET", "/__exc_info_reraise", host=H(srv)))
        r = c.read_response()
        assert r.status == 200
        assert r.body.startswith(b"partial;")
        assert b"must not be reached" not in r.body
        assert not r.complete
    _same_worker(srv, pids)


def test_non_iterable_return_500(srv):
    r = srv.get("/__not_iterable")
    assert r.status == 500


def test_str_instead_of_bytes_not_sent(srv):
    """A str body element is an app error: 500 if detected before the headers
    went out, otherwise an aborted response. Never the text itself."""
    pids = srv.worker_pids()
    with Conn.open(srv) as c:
        c.send(build_request("GET", "/__str_body", host=H(srv)))
        r = c.read_response()
    assert r.status == 500 or not r.complete or r.body == b""
    assert b"text instead of bytes" not in r.body
    _same_worker(srv, pids)


# --------------------------------------------------------------------------
# application load failures
# --------------------------------------------------------------------------

def _run_until_exit(tmp_path, app, timeout=20):
    s = Server(str(tmp_path / "srv"), app=app, wait=False)
    try:
        rc = s.wait_exit(timeout)
        assert rc is not None, "master kept running (respawning forever?)\n" + s.log_text()[-3000:]
        return rc, s.log_text()
    finally:
        s.stop(timeout=3)


def test_import_error_exits_3(tmp_path):
    t0 = time.monotonic()
    rc, log = _run_until_exit(tmp_path, "app_importerror:app")
    assert rc == 3, log
    assert time.monotonic() - t0 < 15
    assert "Traceback" in log
    assert "failing at import on purpose" in log
    assert re.search(r"Worker failed to boot|Reason: Worker failed to boot", log), log


def test_missing_attribute_exits_4(tmp_path):
    t0 = time.monotonic()
    rc, log = _run_until_exit(tmp_path, "app_noattr:app")
    assert rc == 4, log
    assert time.monotonic() - t0 < 15
    assert "Failed to find attribute" in log


def test_missing_module_exits_nonzero(tmp_path):
    rc, log = _run_until_exit(tmp_path, "no_such_module_xyz:app")
    assert rc in (3, 4), log
    assert "no_such_module_xyz" in log


def test_check_config_good_app(tmp_path):
    p = run_bin(["--chdir", APPS_DIR, "--check-config", "app_env:app"], cwd=str(tmp_path),
                pythonpath=False)
    assert p.returncode == 0, p.stderr


def test_check_config_bad_app(tmp_path):
    p = run_bin(["--chdir", APPS_DIR, "--check-config", "app_importerror:app"],
                cwd=str(tmp_path), pythonpath=False)
    assert p.returncode == 1, (p.returncode, p.stderr)
    assert b"failing at import on purpose" in p.stderr + p.stdout


def test_check_config_missing_attribute(tmp_path):
    p = run_bin(["--chdir", APPS_DIR, "--check-config", "app_noattr:app"], cwd=str(tmp_path),
                pythonpath=False)
    assert p.returncode != 0
