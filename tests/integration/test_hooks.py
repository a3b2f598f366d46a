"""Server hooks from the config file, each called once, in the process and
with the arguments Gunicorn uses; exceptions logged as Gunicorn does."""
import os
import re
import shutil
import signal
import tempfile
import time

import pytest

from conftest import WORKER_CLASS, only_cunicorn, pid_alive, run_bin, wait_until
from test_signals import _start_slow_request

pytestmark = only_cunicorn("hooks: Gunicorn itself is the reference")

HOOKS_CONF = '''
import os
MARK = os.environ["HOOK_MARKS"]


def _mark(name, *parts):
    with open(MARK, "a") as f:
        f.write(" ".join([name, str(os.getpid())] + [str(p) for p in parts]) + "\\n")


def on_starting(server):
    _mark("on_starting", server.pid, server.num_workers, server.cfg.workers)


def when_ready(server):
    _mark("when_ready", server.pid)
    server.log.info("ready, said the hook")


def on_reload(server):
    _mark("on_reload", server.pid)


def pre_fork(server, worker):
    worker.tag = "t%d" % worker.age
    _mark("pre_fork", server.pid, worker.age, worker.pid)


def post_fork(server, worker):
    _mark("post_fork", server.pid, worker.age, worker.pid, worker.ppid, worker.tag,
          os.getuid())


def post_worker_init(worker):
    _mark("post_worker_init", worker.pid, worker.age, worker.booted, worker.cfg.graceful_timeout)


def child_exit(server, worker):
    _mark("child_exit", server.pid, worker.age, worker.pid, worker.tag, worker.alive)


def worker_exit(server, worker):
    _mark("worker_exit", server.pid, worker.age, worker.pid)


def nworkers_changed(server, new_value, old_value):
    _mark("nworkers_changed", server.pid, new_value, old_value)


def on_exit(server):
    _mark("on_exit", server.pid)
'''


def marks(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.split() for line in f]


def named(rows, name):
    return [r for r in rows if r[0] == name]


@pytest.fixture
def hooked(make_server, tmp_path):
    conf = tmp_path / "hooks.conf.py"
    conf.write_text(HOOKS_CONF)
    # workers that dropped to nobody write here too: outside pytest's 0700 tree
    marks_dir = tempfile.mkdtemp(prefix="cunicorn-hooks-", dir="/tmp")
    os.chmod(marks_dir, 0o777)
    path = os.path.join(marks_dir, "marks")
    with open(path, "w"):
        pass
    os.chmod(path, 0o666)

    def start(**kw):
        return make_server("app_env:app", args=["-c", str(conf)] + kw.pop("args", []),
                           env={"HOOK_MARKS": path}, **kw), path
    yield start
    shutil.rmtree(marks_dir, ignore_errors=True)


def test_every_master_and_worker_hook_fires_in_its_process(hooked):
    s, path = hooked(workers=2)
    master = str(s.pid)
    wait_until(lambda: len(named(marks(path), "post_worker_init")) == 2, 15,
               what="two workers initialised")
    assert s.get("/").status == 200
    workers = sorted(str(p) for p in s.worker_pids())
    rows = marks(path)
    assert named(rows, "on_starting") == [["on_starting", master, master, "2", "2"]]
    assert named(rows, "nworkers_changed")[0] == ["nworkers_changed", master, master, "2",
                                                   "None"]
    assert named(rows, "when_ready") == [["when_ready", master, master]]
    assert [r[3] for r in named(rows, "pre_fork")] == ["1", "2"]
    assert all(r[1] == master and r[4] == "None" for r in named(rows, "pre_fork"))
    post = sorted(named(rows, "post_fork"), key=lambda r: r[1])
    assert [r[1] for r in post] == workers
    for r in post:  # in the worker: its own pid, the master's, pre_fork's attribute
        assert r[2] == master and r[4] == r[1] and r[5] == master and r[6] == "t" + r[3]
    init = named(rows, "post_worker_init")
    assert sorted(r[1] for r in init) == workers
    assert all(r[2] == r[1] and r[4] == "True" and r[5] == "3" for r in init)
    assert "ready, said the hook" in s.log_text()
    order = [r[0] for r in rows]
    assert order.index("on_starting") < order.index("when_ready") < order.index("pre_fork")

    s.send_signal(signal.SIGTTIN)
    wait_until(lambda: len(named(marks(path), "post_worker_init")) == 3, 15, what="TTIN worker")
    assert ["nworkers_changed", master, master, "3", "2"] in marks(path)

    victim = int(workers[0])
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: any(r[0] == "child_exit" and r[4] == str(victim) for r in marks(path)),
               15, what="child_exit for the killed worker")
    (row,) = [r for r in marks(path) if r[0] == "child_exit"]
    assert row[1] == master and row[2] == master and row[5] == "t" + row[3] and row[6] == "False"
    assert not any(r[0] == "worker_exit" and r[1] == str(victim) for r in marks(path))
    wait_until(lambda: len(named(marks(path), "post_worker_init")) == 4, 15,
               what="the replacement worker initialised")

    assert s.stop() == 0
    rows = marks(path)
    exits = named(rows, "worker_exit")  # every worker that stopped on TERM
    assert len(exits) == 3 and all(r[2] == master and r[1] == r[4] for r in exits)
    assert len(named(rows, "child_exit")) == 4
    assert rows[-1] == ["on_exit", master, master]


def test_hup_calls_on_reload(hooked):
    s, path = hooked(workers=1)
    s.send_signal(signal.SIGHUP)
    wait_until(lambda: named(marks(path), "on_reload"), 10, what="on_reload")
    assert named(marks(path), "on_reload") == [["on_reload", str(s.pid), str(s.pid)]]


@pytest.mark.skipif(os.geteuid() != 0, reason="needs root to drop privileges")
def test_post_fork_runs_before_the_privilege_drop(hooked):
    s, path = hooked(workers=1, args=["--user", "nobody"])
    wait_until(lambda: named(marks(path), "post_fork"), 10, what="post_fork")
    (row,) = named(marks(path), "post_fork")
    assert row[7] == "0"  # still root, as in Gunicorn
    (pid,) = s.worker_pids()
    with open("/proc/%d/status" % pid) as f:
        assert re.search(r"^Uid:\s+65534\s", f.read(), re.M)


def test_prometheus_multiprocess_recipe(make_server, tmp_path):
    """prometheus_client's documented Gunicorn recipe: child_exit marks the
    dead worker, so a killed worker stops counting as live."""
    pytest.importorskip("prometheus_client")
    metrics = tmp_path / "metrics"
    metrics.mkdir()
    conf = tmp_path / "prom.conf.py"
    conf.write_text("from prometheus_client import multiprocess\n\n\n"
                    "def child_exit(server, worker):\n"
                    "    multiprocess.mark_process_dead(worker.pid)\n")
    s = make_server("app_prometheus:app", workers=2, args=["-c", str(conf)],
                    env={"PROMETHEUS_MULTIPROC_DIR": str(metrics)})

    def live():
        r = s.get("/metrics")
        m = re.search(rb"^workers_live (\d+(\.\d+)?)$", r.body, re.M)
        return float(m.group(1)) if m else None
    wait_until(lambda: live() == 2.0, 15, what="two live workers")
    victim = s.worker_pids()[0]
    os.kill(victim, signal.SIGKILL)
    wait_until(lambda: not pid_alive(victim) and len(s.worker_pids()) == 2
               and victim not in s.worker_pids(), 15, what="replacement worker")
    wait_until(lambda: live() == 2.0, 15, what="still two live workers after the kill")
    for _ in range(5):
        assert live() == 2.0


@pytest.mark.parametrize("text, word", [
    ("def post_fork(server):\n    pass\n", "post_fork: must have an arity of 2"),
    ("when_ready = 3\n", "when_ready: not callable"),
])
def test_bad_hook_refused_one_line(tmp_path, text, word):
    conf = tmp_path / "bad.conf.py"
    conf.write_text(text)
    p = run_bin(["-c", str(conf), "app_env:app"], cwd=str(tmp_path))
    assert p.returncode == 1
    lines = p.stderr.decode().strip().splitlines()
    assert len(lines) == 1 and word in lines[0], lines


def test_hook_exceptions_are_logged(make_server, tmp_path):
    """A master hook's exception is logged with its traceback and the server
    goes on; post_fork's is a worker boot error (exit 3), as in Gunicorn."""
    conf = tmp_path / "raise.conf.py"
    conf.write_text("def when_ready(server):\n    raise RuntimeError('ready-boom')\n")
    s = make_server("app_env:app", args=["-c", str(conf)])
    assert s.get("/").status == 200
    log = s.log_text()
    assert "Exception in when_ready hook" in log and "RuntimeError: ready-boom" in log
    conf.write_text("def post_fork(server, worker):\n    raise RuntimeError('fork-boom')\n")
    s2 = make_server("app_env:app", args=["-c", str(conf)], wait=False)
    assert s2.wait_exit(20) == 3
    assert "RuntimeError: fork-boom" in s2.log_text()


REQUEST_HOOKS_CONF = '''
import os
MARK = os.environ["HOOK_MARKS"]


def _mark(*parts):
    with open(MARK, "a") as f:
        f.write("|".join(str(p) for p in parts) + "\\n")


def pre_request(worker, req):
    if req.path == "/pre-boom":
        raise RuntimeError("pre-boom")
    _mark("pre_request", os.getpid(), worker.pid, worker.age, req.method, req.uri, req.path,
          req.query, req.version, dict(req.headers).get("X-HOOK-TEST"), req.scheme)


def post_request(worker, req, environ, resp):
    if req.path == "/pre-boom":
        _mark("post_request", "after pre-boom", environ, resp)
        return
    if req.path == "/post-boom":
        raise RuntimeError("post-boom")
    _mark("post_request", os.getpid(), worker.pid, req.path, environ["PATH_INFO"],
          resp.status, resp.status_code, resp.response_length, resp.sent,
          dict(resp.headers).get("Content-Type"))
'''


def pipe_marks(path):
    if not os.path.exists(path):
        return []
    with open(path) as f:
        return [line.rstrip("\n").split("|") for line in f]


def test_pre_and_post_request_see_gunicorns_objects(make_server, tmp_path):
    conf = tmp_path / "req.conf.py"
    conf.write_text(REQUEST_HOOKS_CONF)
    path = str(tmp_path / "marks")
    s = make_server("app_env:app", args=["-c", str(conf)], env={"HOOK_MARKS": path})
    r = s.get("/some/where?a=1", headers=[("X-Hook-Test", "yes")])
    assert r.status == 200
    (worker,) = s.worker_pids()
    wait_until(lambda: len(pipe_marks(path)) == 2, 10, what="both request hooks")
    pre, post = pipe_marks(path)
    assert pre == ["pre_request", str(worker), str(worker), "1", "GET", "/some/where?a=1",
                   "/some/where", "a=1", "(1, 1)", "yes", "http"]
    assert post[:7] == ["post_request", str(worker), str(worker), "/some/where", "/some/where",
                        "200 OK", "200"]
    assert post[7] == str(len(r.body)) and post[8] == str(len(r.body))
    # Gunicorn's order: pre_request's exception fails the request (500);
    # post_request's is logged and the answer stands
    assert s.get("/pre-boom").status == 500
    assert s.get("/post-boom").status == 200
    assert pipe_marks(path)[2] == ["post_request", "after pre-boom", "{}", "None"]
    s.wait_log("RuntimeError: post-boom")  # post_request runs after the response
    log = s.log_text()
    assert "RuntimeError: pre-boom" in log and "Error handling request /pre-boom" in log
    assert "Exception in post_request hook" in log
    assert s.get("/").status == 200


STOP_HOOKS_CONF = '''
import os
import sys
import traceback
MARK = os.environ["HOOK_MARKS"]


def _mark(name, worker):
    # the stacks of every thread, as Gunicorn's example worker_int dumps them
    stacks = "".join(line for frame in sys._current_frames().values()
                     for line in traceback.format_stack(frame))
    with open(MARK, "a") as f:
        f.write("%s %d %d %s %s\\n" % (name, os.getpid(), worker.pid, worker.alive,
                                       "in-app" if "def app" in stacks or "sleep" in stacks
                                       else "idle"))


def worker_int(worker):
    _mark("worker_int", worker)


def worker_abort(worker):
    _mark("worker_abort", worker)
'''


@pytest.mark.parametrize("sig, hook, code", [(signal.SIGINT, "worker_int", 0),
                                             (signal.SIGQUIT, "worker_int", 0),
                                             (signal.SIGABRT, "worker_abort", 1)])
def test_worker_int_and_abort_hooks(make_server, tmp_path, sig, hook, code):
    """INT/QUIT call worker_int, ABRT (what the master sends a worker whose
    heartbeat stopped) worker_abort and exits 1, in the worker, while the
    request that was running is still there to see."""
    conf = tmp_path / "stop.conf.py"
    conf.write_text(STOP_HOOKS_CONF)
    path = str(tmp_path / "marks")
    s = make_server("app_router:app", args=["-c", str(conf), "--graceful-timeout", "3"],
                    env={"HOOK_MARKS": path})
    (worker,) = s.worker_pids()
    c, t, result = _start_slow_request(s, 5)
    try:
        time.sleep(0.5)  # the worker has picked the request up
        os.kill(worker, sig)
        wait_until(lambda: marks(path), 10, what=hook)
    finally:
        c.close()
    (row,) = marks(path)
    assert row[:4] == [hook, str(worker), str(worker), "False"]
    if WORKER_CLASS != "gevent":  # a waiting greenlet is not in sys._current_frames
        assert row[4] == "in-app"
    wait_until(lambda: not pid_alive(worker), 10, what="the worker gone")
    if code:
        s.wait_log(r"Worker \(pid:%d\) exited with code 1" % worker, timeout=10)
    wait_until(lambda: len(s.worker_pids()) == 1 and worker not in s.worker_pids(), 15,
               what="a replacement worker")
    assert s.get("/").status == 200
