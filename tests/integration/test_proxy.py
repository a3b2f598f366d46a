"""Behind a proxy: forwarded_allow_ips decides who may set the scheme
(secure_scheme_headers) and send a PROXY protocol preamble; the scheme trust
is the proxy's (the socket peer), never the client a preamble names."""
import json
import struct

from conftest import IO_TIMEOUT, Conn, build_request, only_cunicorn

pytestmark = only_cunicorn("--proxy-protocol and strict scheme handling")

APP = "app_env:app"


def environ_via(srv, data):
    with srv.connect(IO_TIMEOUT) as s:
        c = Conn(s, IO_TIMEOUT)
        c.send(data)
        r = c.read_response()
    return r.status, (json.loads(r.body) if r.status == 200 else None)


def get(headers=()):
    return build_request("GET", "/", headers=list(headers) + [("Connection", "close")])


def test_scheme_from_trusted_peer(make_server):
    srv = make_server(APP)  # default forwarded_allow_ips: 127.0.0.1
    status, env = environ_via(srv, get([("X-Forwarded-Proto", "https")]))
    assert status == 200 and env["wsgi.url_scheme"] == "https"
    status, env = environ_via(srv, get([("X-Forwarded-Ssl", "on")]))
    assert env["wsgi.url_scheme"] == "https"
    status, env = environ_via(srv, get())
    assert env["wsgi.url_scheme"] == "http"


def test_scheme_headers_ignored_from_untrusted_peer(make_server):
    srv = make_server(APP, args=["--forwarded-allow-ips", "10.0.0.0/8"])
    status, env = environ_via(srv, get([("X-Forwarded-Proto", "https")]))
    assert status == 200 and env["wsgi.url_scheme"] == "http"


def test_contradictory_scheme_headers_rejected(make_server):
    srv = make_server(APP)
    status, _ = environ_via(srv, get([("X-Forwarded-Proto", "https"), ("X-Forwarded-Ssl", "off")]))
    assert status == 400


def test_proxy_v1_sets_remote_addr_and_keeps_proxy_trust(make_server):
    srv = make_server(APP, args=["--proxy-protocol"])
    pre = b"PROXY TCP4 203.0.113.7 127.0.0.1 51234 8000\r\n"
    status, env = environ_via(srv, pre + get([("X-Forwarded-Proto", "https")]))
    assert status == 200
    assert env["REMOTE_ADDR"] == "203.0.113.7" and env["REMOTE_PORT"] == "51234"
    # the scheme is trusted because the proxy (127.0.0.1) is, not the client
    assert env["wsgi.url_scheme"] == "https"


def test_proxy_v2_sets_remote_addr(make_server):
    srv = make_server(APP, args=["--proxy-protocol"])
    sig = b"\r\n\r\n\x00\r\nQUIT\n"
    addrs = bytes([198, 51, 100, 9]) + bytes([127, 0, 0, 1]) + struct.pack("!HH", 40000, 8000)
    pre = sig + bytes([0x21, 0x11]) + struct.pack("!H", len(addrs)) + addrs
    status, env = environ_via(srv, pre + get())
    assert status == 200
    assert env["REMOTE_ADDR"] == "198.51.100.9" and env["REMOTE_PORT"] == "40000"


def test_proxy_preamble_from_untrusted_peer_refused(make_server):
    srv = make_server(APP, args=["--proxy-protocol", "--proxy-allow-from", "10.0.0.0/8"])
    status, _ = environ_via(srv, b"PROXY TCP4 203.0.113.7 127.0.0.1 1 2\r\n" + get())
    assert status == 403
    assert "not in proxy_allow_ips" in srv.log_text()


def test_proxy_senders_are_proxy_allow_ips_not_forwarded_allow_ips(make_server):
    """As Gunicorn: who may send a PROXY preamble (proxy_allow_ips, default
    127.0.0.1,::1) is separate from who may set scheme headers."""
    srv = make_server(APP, args=["--proxy-protocol", "--forwarded-allow-ips", "10.0.0.1"])
    status, env = environ_via(srv, b"PROXY TCP4 203.0.113.7 127.0.0.1 1 2\r\n" + get())
    assert status == 200 and env["REMOTE_ADDR"] == "203.0.113.7"


def test_proxy_protocol_modes(make_server):
    v1 = b"PROXY TCP4 203.0.113.7 127.0.0.1 1 2\r\n"
    addrs = bytes([198, 51, 100, 9]) + bytes([127, 0, 0, 1]) + struct.pack("!HH", 40000, 8000)
    v2 = b"\r\n\r\n\x00\r\nQUIT\n" + bytes([0x21, 0x11]) + struct.pack("!H", len(addrs)) + addrs
    only_v1 = make_server(APP, args=["--proxy-protocol", "v1"])
    assert environ_via(only_v1, v1 + get())[0] == 200
    assert environ_via(only_v1, v2 + get())[0] == 400
    only_v2 = make_server(APP, args=["--proxy-protocol=v2"])
    assert environ_via(only_v2, v2 + get())[0] == 200
    assert environ_via(only_v2, v1 + get())[0] == 400
    off = make_server(APP, args=["--proxy-protocol", "off"])
    assert environ_via(off, v1 + get())[0] == 400  # "PROXY" is then a request line


def test_malformed_proxy_preamble_refused(make_server):
    srv = make_server(APP, args=["--proxy-protocol"])
    status, _ = environ_via(srv, b"PROXY TCP4 not-an-ip 127.0.0.1 1 2\r\n" + get())
    assert status == 400
    status, env = environ_via(srv, get())  # plain requests still work
    assert status == 200 and env["REMOTE_ADDR"] == "127.0.0.1"
