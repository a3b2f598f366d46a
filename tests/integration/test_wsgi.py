"""WSGI (PEP 3333) contract: environ, wsgi.input, response iterables, app loading."""
import hashlib
import os
import socket
import subprocess
import sys
import textwrap
import time

import pytest

from conftest import (WORKER_CLASS, Conn, build_request, chunk_encode, only_cunicorn,
                      proc_status_kb, quote, raw_exchange, wait_until)


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory("app_router:app", workers=1)


@pytest.fixture(scope="module")
def srv2(module_server_factory):
    """two workers (wsgi.multiprocess must be True)"""
    return module_server_factory("app_env:app", workers=2)


def H(s):
    return "127.0.0.1:%d" % s.port


# --------------------------------------------------------------------------
# environ
# --------------------------------------------------------------------------

def test_environ_basic_keys(srv):
    with Conn.open(srv) as c:
        local_port = c.sock.getsockname()[1]
        c.send(build_request("GET", "/some/path?a=1&b=%20x", [("Host", H(srv))]))
        env = c.read_response().json()
    assert env["REQUEST_METHOD"] == "GET"
    assert env["SCRIPT_NAME"] == ""
    assert env["PATH_INFO"] == "/some/path"
    assert env["QUERY_STRING"] == "a=1&b=%20x"
    assert env["RAW_URI"] == "/some/path?a=1&b=%20x"
    assert env["SERVER_PROTOCOL"] == "HTTP/1.1"
    assert env["SERVER_NAME"] == "127.0.0.1"
    assert env["SERVER_PORT"] == str(srv.port)
    assert isinstance(env["SERVER_PORT"], str)
    assert env["REMOTE_ADDR"] == "127.0.0.1"
    assert isinstance(env["REMOTE_PORT"], str) and env["REMOTE_PORT"] == str(local_port)
    assert env["HTTP_HOST"] == H(srv)
    assert env["wsgi.version"] == [1, 0]
    assert env["wsgi.url_scheme"] == "http"
    assert env["_has_input_read"] is True
    assert env["_has_errors_write"] is True
    assert env["_has_file_wrapper"] is True
    assert env["wsgi.run_once"] is False
    assert env["wsgi.input_terminated"] is True


def test_environ_http10(srv):
    env = raw_exchange(srv, b"GET /x HTTP/1.0\r\n\r\n").json()
    assert env["SERVER_PROTOCOL"] == "HTTP/1.0"
    assert env["PATH_INFO"] == "/x"


def test_environ_multithread_flag(srv):
    env = srv.get_json("/")
    if WORKER_CLASS == "sync":
        assert env["wsgi.multithread"] is False
    else:
        assert isinstance(env["wsgi.multithread"], bool)


def test_environ_multiprocess_true(srv2):
    assert srv2.get_json("/")["wsgi.multiprocess"] is True


def test_environ_path_info_percent_decoded_latin1(srv):
    env = srv.get_json("/caf%C3%A9/a%20b")
    assert env["PATH_INFO"] == "/caf\u00c3\u00a9/a b"  # 'cafÃ©' : bytes shown as latin-1
    assert env["RAW_URI"] == "/caf%C3%A9/a%20b"


def test_environ_content_type_and_length(srv):
    body = b"a=1&b=2"
    r = raw_exchange(srv, build_request("POST", "/form", [("Content-Type", "application/x-www-form-urlencoded")],
                                        body, host=H(srv)))
    env = r.json()
    assert env["REQUEST_METHOD"] == "POST"
    assert env["CONTENT_TYPE"] == "application/x-www-form-urlencoded"
    assert env["CONTENT_LENGTH"] == str(len(body))
    assert "HTTP_CONTENT_TYPE" not in env
    assert "HTTP_CONTENT_LENGTH" not in env


def test_environ_http_headers_and_repeats(srv):
    r = raw_exchange(srv, b"GET / HTTP/1.1\r\nHost: x\r\nX-Custom-Thing: hello\r\n"
                          b"X-Multi: a\r\nX-Multi: b\r\nAccept: text/plain\r\n\r\n")
    env = r.json()
    assert env["HTTP_X_CUSTOM_THING"] == "hello"
    assert env["HTTP_X_MULTI"] == "a,b"
    assert env["HTTP_ACCEPT"] == "text/plain"


def test_environ_underscore_header_not_mapped(srv):
    r = raw_exchange(srv, b"GET / HTTP/1.1\r\nHost: x\r\nX_Foo: evil\r\nX-Foo: good\r\n\r\n")
    if r.status == 400:
        return  # rejecting the request outright is also safe
    env = r.json()
    assert env.get("HTTP_X_FOO") in (None, "good")
    assert "evil" not in (env.get("HTTP_X_FOO") or "")


def test_environ_script_name_from_env(make_server):
    s = make_server("app_env:app", env={"SCRIPT_NAME": "/prefix"})
    env = s.get_json("/prefix/foo?q=1")
    assert env["SCRIPT_NAME"] == "/prefix"
    assert env["PATH_INFO"] == "/foo"
    assert env["QUERY_STRING"] == "q=1"


def test_wsgi_errors_goes_to_error_log(srv):
    srv.get_json("/?errors=hello-from-wsgi-errors-12345")
    srv.wait_log("hello-from-wsgi-errors-12345", timeout=5, text=srv.stderr_text)


# --------------------------------------------------------------------------
# wsgi.input
# --------------------------------------------------------------------------

BODY = b"line1\nline2 is longer\n\nlast-no-newline"
LINES = ["line1\n", "line2 is longer\n", "\n", "last-no-newline"]


def _post_body(s, query, body, chunked=False):
    if chunked:
        req = (("POST /__body?%s HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n" % query).encode()
               + chunk_encode(body, size=4))
    else:
        req = build_request("POST", "/__body?" + query, [], body, host=H(s))
    r = raw_exchange(s, req)
    assert r.status == 200, (r, s.log_text()[-2000:])
    return r.json()


@pytest.mark.parametrize("chunked", [False, True], ids=["cl", "chunked"])
@pytest.mark.parametrize("mode,n,expected", [
    ("read", 0, [BODY.decode()]),
    ("readn", 5, [BODY[i:i + 5].decode() for i in range(0, len(BODY), 5)]),
    ("readline", 0, LINES),
    ("readline_n", 4, ["line", "1\n", "line", "2 is", " lon", "ger\n", "\n", "last", "-no-",
                       "newl", "ine"]),
    ("readlines", 0, LINES),
    ("iter", 0, LINES),
])
def test_wsgi_input_methods(srv, mode, n, expected, chunked):
    res = _post_body(srv, "mode=%s&n=%d" % (mode, n), BODY, chunked)
    assert res["len"] == len(BODY)
    assert res["pieces"] == expected


def test_wsgi_input_empty_body(srv):
    res = _post_body(srv, "mode=read", b"")
    assert res["len"] == 0


def test_wsgi_input_get_without_body_reads_empty(srv):
    r = srv.get("/__body?mode=read")
    assert r.status == 200 and r.json()["len"] == 0


def test_large_upload_streamed_sha_and_rss(make_server):
    s = make_server("app_router:app", workers=1)
    s.get("/")  # make sure the worker is fully booted
    (wpid,) = s.worker_pids()
    rss_before = proc_status_kb(wpid, "VmRSS")
    size = 50 * 1024 * 1024
    block = hashlib.sha256(b"seed").digest() * 2048  # 64 KiB
    h = hashlib.sha256()
    head = ("POST /__body?mode=readn&n=65536 HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n"
            % size).encode()
    with Conn.open(s, timeout=60) as c:
        c.send(head)
        for i in range(size // len(block)):
            piece = block[:-4] + i.to_bytes(4, "big")
            h.update(piece)
            c.sock.sendall(piece)
        r = c.read_response(timeout=60)
    assert r.status == 200, r
    res = r.json()
    assert res["len"] == size
    assert res["sha256"] == h.hexdigest()
    hwm_after = proc_status_kb(wpid, "VmHWM")
    grew_mb = (hwm_after - rss_before) / 1024.0
    assert grew_mb < 20, "worker peak RSS grew by %.1f MB for a streamed 50 MB upload" % grew_mb


# --------------------------------------------------------------------------
# response iterables
# --------------------------------------------------------------------------

def test_write_callable_precedes_iterable(srv):
    r = srv.get("/__write")
    assert r.status == 200
    assert r.body == b"from-write;again;from-iterable"


def test_file_wrapper(srv):
    r = srv.get("/__filewrapper")
    assert r.status == 200
    with open(os.path.join(os.path.dirname(__file__), "apps", "app_stream.py"), "rb") as f:
        assert r.body == f.read()


def test_file_wrapper_without_length(srv):
    r = srv.get("/__filewrapper_nolen")
    assert r.status == 200
    with open(os.path.join(os.path.dirname(__file__), "apps", "app_stream.py"), "rb") as f:
        assert r.body == f.read()


def _marker(tmp_path, name):
    p = str(tmp_path / name)
    return p


def _wait_marker(path, text, timeout=10):
    def check():
        try:
            with open(path) as f:
                return text in f.read()
        except OSError:
            return False
    wait_until(check, timeout, what="%r in %s" % (text, path))


def test_close_called_normal(srv, tmp_path):
    m = _marker(tmp_path, "close_ok")
    r = srv.get("/__close?mode=ok&marker=" + quote(m))
    assert r.body == b"part1;part2;part3;"
    _wait_marker(m, "closed ok")


def test_close_called_on_client_disconnect(srv, tmp_path):
    m = _marker(tmp_path, "close_slow")
    with Conn.open(srv) as c:
        c.send(build_request("GET", "/__close?mode=slow&marker=" + quote(m), host=H(srv)))
        c.read_until(b"\r\n\r\n", time.monotonic() + 10)
        c.read_exact(1000, time.monotonic() + 10)
        c.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, b"\x01\x00\x00\x00\x00\x00\x00\x00")
    _wait_marker(m, "closed slow", timeout=15)
    assert srv.get("/").status == 200


def test_close_called_when_iterable_raises(srv, tmp_path):
    m = _marker(tmp_path, "close_raise")
    with Conn.open(srv) as c:
        c.send(build_request("GET", "/__close?mode=raise&marker=" + quote(m), host=H(srv)))
        try:
            c.read_response(timeout=10)
        except Exception:
            pass
    _wait_marker(m, "closed raise")
    assert srv.get("/").status == 200


# --------------------------------------------------------------------------
# app loading
# --------------------------------------------------------------------------

def test_factory_with_args(make_server):
    s = make_server('app_factory:make_app("hi")')
    r = s.get("/")
    assert r.status == 200 and r.body == b"factory:hi!"


def test_factory_with_kwargs(make_server):
    s = make_server("app_factory:make_app('x', suffix='?')")
    assert s.get("/").body == b"factory:x?"


def test_application_attr_default(make_server):
    """`module` alone means `module:application`."""
    s = make_server("app_env")
    assert s.get("/").status == 200


MOD_SRC = textwrap.dedent('''
    import os
    VALUE = %r
    def app(environ, start_response):
        body = ("%%s|%%s" %% (VALUE, os.getcwd())).encode()
        start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
        return [body]
''')


def test_chdir(make_server, tmp_path):
    d = tmp_path / "chdir_target"
    d.mkdir()
    (d / "chdirmod.py").write_text(MOD_SRC % "from-chdir")
    s = make_server("chdirmod:app", args=["--chdir", str(d)], pythonpath=False)
    r = s.get("/")
    assert r.status == 200
    value, cwd = r.body.decode().split("|")
    assert value == "from-chdir"
    assert os.path.realpath(cwd) == os.path.realpath(str(d))


def test_pythonpath_multiple_dirs(make_server, tmp_path):
    d1, d2 = tmp_path / "pp1", tmp_path / "pp2"
    d1.mkdir()
    d2.mkdir()
    (d1 / "ppmod.py").write_text(MOD_SRC % "from-pp1")
    (d2 / "ppother.py").write_text("VALUE = 'other-module'\n")
    s = make_server("ppmod:app", args=["--pythonpath", "%s,%s" % (d1, d2)], pythonpath=False)
    assert s.get("/").body.decode().startswith("from-pp1|")


def test_env_flag_sets_os_environ(make_server):
    s = make_server("app_env:app", args=["-e", "FOO=bar", "--env", "BAZ=a=b"])
    env = s.get_json("/?env=FOO&env=BAZ")
    assert env["_os_environ"] == {"FOO": "bar", "BAZ": "a=b"}


@only_cunicorn("gunicorn 20.1 does not read $VIRTUAL_ENV (it relies on the venv's interpreter)")
def test_virtualenv(make_server, tmp_path):
    venv = tmp_path / "venv"
    subprocess.run(["/usr/bin/python3", "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=60)
    sp = venv / "lib" / ("python%d.%d" % sys.version_info[:2]) / "site-packages"
    assert sp.is_dir()
    (sp / "venv_only_module.py").write_text("VALUE = 'from-venv'\n")
    s = make_server("app_venv_probe:app", env={"VIRTUAL_ENV": str(venv)})
    r = s.get("/")
    assert r.body == b"venv:from-venv", r.body
