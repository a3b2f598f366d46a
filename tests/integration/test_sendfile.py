"""wsgi.file_wrapper over real files goes out with sendfile(2); everything
else is iterated in blocks (app_sendfile.py serves both).

Checked per worker class: strace sees the sendfile calls (and none for a
BytesIO), a 100 MiB file arrives whole (SHA-256), Content-Length cuts the
file or, when it is larger, ends keep-alive as any short body does; HEAD
sends no body; a seek()ed or partly read file is sent from its position;
objects whose fileno() would give other bytes (gzip, a FileIO subclass,
write() before the wrapper) are iterated; and in gthread/gevent a client
that stops reading a large file does not stall the worker.
"""
import gzip
import hashlib
import http.client
import os
import re
import socket
import subprocess
import threading
import time

import pytest

from conftest import (Conn, build_request, children_of, needs_class, only_cunicorn, quote,
                      wait_until)

APP = "app_sendfile:app"
MIB = 1 << 20
_strace_ok = None
NOT_CHUNKED = only_cunicorn("a file body gets a Content-Length; Gunicorn 20.1 chunks it")


def strace_works():
    """Whether strace can trace a child here (checked once)."""
    global _strace_ok
    if _strace_ok is None:
        try:
            p = subprocess.run(["strace", "-f", "-o", "/dev/null", "-e", "trace=sendfile",
                                "/bin/true"], stdout=subprocess.DEVNULL,
                               stderr=subprocess.DEVNULL, timeout=20)
            _strace_ok = p.returncode == 0
        except (OSError, subprocess.TimeoutExpired):
            _strace_ok = False
    return _strace_ok


def make_file(path, size):
    """A file of size random bytes (so a body sent from the wrong position
    cannot match); returns them when they are few enough to keep."""
    with open(path, "wb") as f:
        for left in range(size, 0, -MIB):
            f.write(os.urandom(min(left, MIB)))
    if size <= 8 * MIB:
        with open(path, "rb") as f:
            return f.read()
    return None


def sha256_file(path):
    with open(path, "rb") as f:
        return hashlib.file_digest(f, "sha256").hexdigest()


def target(path, **q):
    return "/?path=%s%s" % (quote(str(path)), "".join("&%s=%s" % kv for kv in q.items()))


@pytest.fixture(scope="module")
def data_file(tmp_path_factory):
    path = tmp_path_factory.mktemp("files") / "data.bin"
    return path, make_file(path, 3 * MIB + 12345)


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory(APP, args=["--threads", "2"], workers=1)


def get(srv, path, method="GET", version="HTTP/1.1", headers=(), **q):
    with Conn.open(srv, timeout=30) as c:
        c.send(build_request(method, target(path, **q), headers, version=version))
        return c.read_response(head=(method == "HEAD"))


# --------------------------------------------------------------------------
# the copy itself
# --------------------------------------------------------------------------

def test_strace_sees_sendfile_for_a_file_only(make_server, data_file, tmp_path):
    if not strace_works():
        pytest.skip("strace cannot ptrace a child process here")
    path, data = data_file
    trace = tmp_path / "trace.txt"
    s = make_server(APP, workers=1, prefix=["strace", "-f", "-qq", "-e", "trace=sendfile",
                                             "-o", str(trace)])
    r = get(s, path, kind="bytesio")
    assert r.status == 200 and r.body == data
    r = get(s, path)
    assert r.status == 200 and r.body == data
    # strace ends when the server it started has; its trace is then whole
    master = wait_until(lambda: children_of(s.pid), 10, what="the master under strace")[0]
    os.kill(master, 15)
    assert s.wait_exit(20) is not None, "strace did not end with the server"
    text = trace.read_text()
    sent = [int(n) for n in re.findall(r"sendfile\(.*\) = (\d+)$", text, re.M)]
    assert sent, "no sendfile call in the trace:\n" + text[-2000:]
    # every byte of the file went through sendfile, and none of the BytesIO's
    assert sum(sent) == len(data), (sum(sent), len(data), text[-2000:])


@only_cunicorn("the --no-sendfile path of cunicorn")
def test_no_sendfile_reads_and_writes_instead(make_server, data_file, tmp_path):
    """Gunicorn's --no-sendfile is honoured: the same body, no sendfile call."""
    if not strace_works():
        pytest.skip("strace cannot ptrace a child process here")
    path, data = data_file
    trace = tmp_path / "trace.txt"
    s = make_server(APP, workers=1, args=["--no-sendfile"],
                    prefix=["strace", "-f", "-qq", "-e", "trace=sendfile", "-o", str(trace)])
    r = get(s, path)
    assert r.status == 200 and r.body == data
    master = wait_until(lambda: children_of(s.pid), 10, what="the master under strace")[0]
    os.kill(master, 15)
    assert s.wait_exit(20) is not None, "strace did not end with the server"
    assert "sendfile(" not in trace.read_text()


def test_100_mib_file(srv, tmp_path):
    path = tmp_path / "big.bin"
    make_file(path, 100 * MIB)
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=60)
    try:
        conn.request("GET", target(path, cl="size"))
        resp = conn.getresponse()
        assert resp.status == 200
        assert resp.getheader("Content-Length") == str(100 * MIB)
        h, n = hashlib.sha256(), 0
        for block in iter(lambda: resp.read(MIB), b""):
            h.update(block)
            n += len(block)
    finally:
        conn.close()
    assert n == 100 * MIB
    assert h.hexdigest() == sha256_file(path)


@NOT_CHUNKED
@pytest.mark.parametrize("kind", ["buffered", "raw"])
def test_file_without_content_length_gets_one(srv, data_file, kind):
    path, data = data_file
    r = get(srv, path, kind=kind)
    assert r.status == 200 and r.body == data and not r.chunked
    assert r.header("Content-Length") == str(len(data))


@NOT_CHUNKED
def test_http_1_0_file(srv, data_file):
    path, data = data_file
    r = get(srv, path, version="HTTP/1.0")
    assert r.status == 200 and r.body == data
    assert r.header("Content-Length") == str(len(data))


# --------------------------------------------------------------------------
# Content-Length, HEAD, positions
# --------------------------------------------------------------------------

def test_content_length_smaller_than_the_file_truncates(srv, data_file):
    path, data = data_file
    for cl in (1000, 1, 2 * MIB + 7):
        with Conn.open(srv, timeout=30) as c:
            c.send(build_request("GET", target(path, cl=cl)))
            r = c.read_response()
            assert r.status == 200 and r.header("Content-Length") == str(cl)
            assert r.body == data[:cl]
            if r.header("Connection") == "close":
                assert c.peer_closed(5)  # sync: and nothing after the body
                continue
            # nothing was sent beyond Content-Length: the next response parses
            c.send(build_request("GET", target(path, cl=5)))
            r = c.read_response()
            assert r.status == 200 and r.body == data[:5]


@only_cunicorn("cunicorn's log line")
def test_content_length_larger_than_the_file_closes(srv, data_file):
    path, data = data_file
    with Conn.open(srv, timeout=30) as c:
        c.send(build_request("GET", target(path, cl=len(data) + 100)))
        r = c.read_response()
        assert r.status == 200 and not r.complete
        assert r.body == data
        assert c.peer_closed(5)
    srv.wait_log(r"Response shorter than its Content-Length \(%d of %d bytes\)"
                 % (len(data), len(data) + 100))


@only_cunicorn("Gunicorn 20.1 sends the file after the head of a HEAD response")
@pytest.mark.parametrize("cl", [None, "size"])
def test_head_sends_no_body(srv, data_file, cl):
    path, data = data_file
    q = {"cl": cl} if cl else {}
    with Conn.open(srv, timeout=30) as c:
        c.send(build_request("HEAD", target(path, **q)))
        r = c.read_response(head=True)
        assert r.status == 200 and r.header("Content-Length") == str(len(data))
        if r.header("Connection") == "close":
            assert c.peer_closed(5), "bytes after a HEAD response: %r" % c.buf[:100]
            return
        c.send(build_request("GET", target(path, cl=3), [("Connection", "close")]))
        r = c.read_response()
        assert r.status == 200 and r.body == data[:3]


@only_cunicorn("Gunicorn 20.1 sends from the start of the file (socket.sendfile's offset 0)")
@pytest.mark.parametrize("kind", ["buffered", "raw"])
def test_seeked_file_is_sent_from_its_position(srv, data_file, kind):
    path, data = data_file
    r = get(srv, path, kind=kind, seek=123457, cl="size")
    assert r.status == 200 and r.body == data[123457:]
    assert r.header("Content-Length") == str(len(data) - 123457)
    r = get(srv, path, kind=kind, seek=100, cl=50)
    assert r.body == data[100:150]


@only_cunicorn("Gunicorn 20.1 sends from the start of the file (socket.sendfile's offset 0)")
def test_partly_read_file_is_sent_from_where_reading_stopped(srv, data_file):
    # open(..., "rb") has read ahead on the fd: its position is tell()'s
    path, data = data_file
    r = get(srv, path, read=10)
    assert r.status == 200 and r.body == data[10:]
    r = get(srv, path, seek=5000, read=3, cl="size")
    assert r.status == 200 and r.body == data[5003:]


def test_file_at_its_end_sends_an_empty_body(srv, data_file):
    path, data = data_file
    r = get(srv, path, seek=len(data))
    assert r.status == 200 and r.body == b""


# --------------------------------------------------------------------------
# what is iterated instead
# --------------------------------------------------------------------------

@pytest.mark.parametrize("kind", ["bytesio", "nofileno", "badfileno"])
def test_objects_that_are_not_files_are_iterated(srv, data_file, kind):
    path, data = data_file
    r = get(srv, path, kind=kind, blksize=65536)
    assert r.status == 200 and r.body == data
    r = get(srv, path, kind=kind, cl=777)
    assert r.status == 200 and r.body == data[:777]


@only_cunicorn("Gunicorn 20.1 sends the bytes of any fileno(): here the compressed file")
def test_gzip_file_sends_what_it_reads(srv, data_file, tmp_path):
    path, data = data_file
    gz = tmp_path / "data.gz"
    with gzip.open(gz, "wb") as f:
        f.write(data[:50000])
    r = get(srv, gz, kind="gzip")
    assert r.status == 200 and r.body == data[:50000]


@only_cunicorn("Gunicorn 20.1 sends the bytes of any fileno(), whatever read() returns")
def test_fileio_subclass_is_iterated(srv, data_file):
    path, data = data_file
    r = get(srv, path, kind="upper", cl=4096)
    assert r.status == 200 and r.body == data[:4096].upper()


def test_write_before_the_wrapper_is_iterated(srv, data_file):
    path, data = data_file
    r = get(srv, path, write=1)
    assert r.status == 200 and r.body == b"prefix:" + data
    assert r.chunked


def test_pipe_is_iterated(srv, tmp_path):
    fifo = tmp_path / "fifo"
    os.mkfifo(fifo)

    def writer():
        with open(fifo, "wb") as w:  # waits for the app to open the other end
            w.write(b"through a pipe")

    t = threading.Thread(target=writer, daemon=True)
    t.start()
    try:
        r = get(srv, fifo, kind="raw")
        assert r.status == 200 and r.body == b"through a pipe"
    finally:
        t.join(5)
        if t.is_alive():  # the app never opened it: let the writer go
            os.close(os.open(fifo, os.O_RDONLY | os.O_NONBLOCK))
            t.join(5)


@only_cunicorn("Gunicorn 20.1 sends the size fstat() gives: 0 for a /proc file")
def test_file_that_reports_no_size_is_iterated(srv):
    # /proc files are regular and say they are empty: only reading tells
    with open("/proc/version", "rb") as f:
        want = f.read()
    r = get(srv, "/proc/version")
    assert r.status == 200 and r.body == want


# --------------------------------------------------------------------------
# a slow reader does not hold the worker
# --------------------------------------------------------------------------

@needs_class("gthread", "gevent")
def test_stalled_reader_does_not_block_other_requests(srv, tmp_path):
    path = tmp_path / "stall.bin"
    make_file(path, 64 * MIB)
    slow = srv.connect(timeout=30)
    try:
        slow.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 64 * 1024)
        slow.sendall(build_request("GET", target(path)))
        time.sleep(0.5)  # the worker now waits for the socket to drain
        t0 = time.monotonic()
        r = get(srv, path, kind="bytesio", cl=10)
        assert r.status == 200 and len(r.body) == 10
        assert time.monotonic() - t0 < 3, "another request waited for the stalled download"
        h, n = hashlib.sha256(), 0
        head = b""
        while b"\r\n\r\n" not in head:
            head += slow.recv(4096)
        head, _, rest = head.partition(b"\r\n\r\n")
        h.update(rest)
        n = len(rest)
        while n < 64 * MIB:
            d = slow.recv(MIB)
            assert d, "connection closed after %d bytes" % n
            h.update(d)
            n += len(d)
    finally:
        slow.close()
    assert h.hexdigest() == sha256_file(path)
