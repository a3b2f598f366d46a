"""reload: a worker whose app source (or a reload_extra_files path) changes
stops and is replaced by one running the new code, with either engine."""
import os
import time

import pytest

from conftest import wait_until

APP = '''
import os

BODY = b"%s"


def app(environ, start_response):
    body = BODY + b" %%d" %% os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
'''


def touch_later(path):
    """A later mtime each call, even with coarse timestamps."""
    touch_later.t = max(getattr(touch_later, "t", 0), time.time()) + 2
    os.utime(path, (touch_later.t, touch_later.t))


def write_app(path, body):
    path.write_text(APP % body)
    touch_later(path)


@pytest.mark.parametrize("engine", ["poll", "inotify"])
def test_reload_restarts_the_worker_on_a_source_change(make_server, tmp_path, engine):
    src = tmp_path / "live_app.py"
    write_app(src, "first")
    s = make_server("live_app:app", args=["--reload", "--reload-engine", engine,
                                          "--pythonpath", str(tmp_path)])
    body, pid = s.get("/").body.split()
    assert body == b"first"

    def new_code():
        # written again on every try: a change made before the watcher took
        # its first look would not count
        write_app(src, "second")
        time.sleep(0.3)
        r = s.get("/")
        return r.status == 200 and r.body.split()[0] == b"second" and r.body.split()
    _, new_pid = wait_until(new_code, 15, what="the new code served")
    assert new_pid != pid
    assert "Worker reloading: %s modified" % src in s.log_text()


def test_reload_extra_files_glob(make_server, tmp_path):
    src = tmp_path / "live_app2.py"
    write_app(src, "same")
    templates = tmp_path / "templates"
    templates.mkdir()
    page = templates / "page.html"
    page.write_text("v1")
    s = make_server("live_app2:app", args=["--reload", "--pythonpath", str(tmp_path),
                                           "--reload-extra-file", str(templates / "*.html")])
    (pid,) = s.worker_pids()

    def replaced():
        page.write_text("v2")
        touch_later(page)
        time.sleep(0.3)
        return s.worker_pids() and pid not in s.worker_pids()
    wait_until(replaced, 15, what="the worker replaced")
    assert "Worker reloading: %s modified" % page in s.log_text()
    assert s.get("/").status == 200
