"""examples/flask_app.py and examples/hello.py served by the server under test."""
import json

import pytest

from conftest import EXAMPLES_DIR, build_request, raw_exchange

pytest.importorskip("flask")


@pytest.fixture(scope="module")
def flask_srv(module_server_factory):
    return module_server_factory("flask_app:app", args=["--chdir", EXAMPLES_DIR], pythonpath=False)


def test_flask_index(flask_srv):
    r = flask_srv.get("/")
    assert r.status == 200
    assert r.body == b"Hello from Flask!\n"
    assert r.header("Content-Type", "").startswith("text/html")


def test_flask_json(flask_srv):
    r = flask_srv.get("/json?a=1")
    assert r.status == 200
    assert r.header("Content-Type") == "application/json"
    assert json.loads(r.body) == {"ok": True, "server": "cunicorn", "args": {"a": "1"}}


def test_flask_path_param(flask_srv):
    assert flask_srv.get("/hello/world").body == b"Hello, world!\n"


def test_flask_post_echo(flask_srv):
    body = b'{"k": "v", "n": [1, 2, 3]}' * 100
    r = raw_exchange(flask_srv, build_request("POST", "/echo", [("Content-Type", "application/json")],
                                              body, host="x"))
    assert r.status == 200
    assert r.body == body
    assert r.header("X-Echo-Length") == str(len(body))


def test_flask_post_echo_chunked(flask_srv):
    body = b"chunked flask body"
    req = (b"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: text/plain\r\n"
           b"Transfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n" % (len(body), body))
    r = raw_exchange(flask_srv, req)
    assert r.status == 200
    assert r.body == body


def test_flask_404(flask_srv):
    r = flask_srv.get("/no/such/page")
    assert r.status == 404


def test_flask_405(flask_srv):
    r = flask_srv.get("/echo")
    assert r.status == 405


@pytest.mark.parametrize("attr", ["app", "application"])
def test_hello_example(make_server, attr):
    s = make_server("hello:%s" % attr, args=["--chdir", EXAMPLES_DIR], pythonpath=False)
    r = s.get("/")
    assert r.status == 200
    assert r.body == b"Hello, World!\n"
    assert r.header("Content-Length") == "14"
