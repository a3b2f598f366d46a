"""Command line, settings, config files, environment variables, binds."""
import os
import re
import socket
import subprocess
import time

import pytest

from conftest import (BIN, CMD_ARGS_ENV, NAME, WORKER_CLASS, free_port, has_ipv6, only_cunicorn, parse_print_config, run_bin, wait_until)


CWD_APP = (
    "def app(environ, start_response):\n"
    "    start_response('200 OK', [('Content-Length', '3')])\n"
    "    return [b'ok\\n']\n")


def put_cwd_app(cwd):
    """print-config/check paths may import the app before --pythonpath applies
    (gunicorn does): use an app module in the working directory instead."""
    with open(os.path.join(cwd, "cwdapp.py"), "w") as f:
        f.write(CWD_APP)
    return "cwdapp:app"


def print_config(args=(), cwd=None, env=None, prefix=()):
    app = put_cwd_app(cwd)
    if prefix:
        e = dict(os.environ)
        for k in ("WEB_CONCURRENCY", "PORT", CMD_ARGS_ENV):
            e.pop(k, None)
        e.update(env or {})
        p = subprocess.run(list(prefix) + [BIN, "--print-config"] + list(args) + [app],
                           cwd=cwd, env=e, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                           timeout=20)
    else:
        p = run_bin(["--print-config"] + list(args) + [app], cwd=cwd, env=env, pythonpath=False)
    assert p.returncode == 0, (p.returncode, p.stderr.decode(errors="replace"))
    return parse_print_config(p.stdout.decode())


def cgroup_cpu_limit():
    """CPUs allowed by a cgroup v2 cpu.max quota, or None."""
    try:
        with open("/proc/self/cgroup") as f:
            rel = [l.split("::", 1)[1].strip() for l in f if l.startswith("0::")]
        if not rel:
            return None
        path = os.path.join("/sys/fs/cgroup", rel[0].lstrip("/"), "cpu.max")
        with open(path) as f:
            quota, period = f.read().split()
        if quota == "max":
            return None
        return int(quota) / int(period)
    except (OSError, ValueError):
        return None


# --------------------------------------------------------------------------
# version / print-config / precedence
# --------------------------------------------------------------------------

@pytest.mark.parametrize("flag", ["-v", "--version"])
def test_version(flag, tmp_path):
    p = run_bin([flag], cwd=str(tmp_path))
    assert p.returncode == 0
    out = (p.stdout + p.stderr).decode()
    assert re.search(r"%s \(version \d+\.\d+\.\d+\)" % NAME, out), out


def test_print_config_defaults(tmp_path):
    cfg = print_config(cwd=str(tmp_path))
    expect = {"timeout": "30", "graceful_timeout": "30", "keepalive": "2",
              "limit_request_line": "4094", "limit_request_fields": "100",
              "limit_request_field_size": "8190", "backlog": "2048", "worker_class": "sync",
              "threads": "1", "worker_connections": "1000", "loglevel": "info",
              "errorlog": "-", "accesslog": "None", "reuse_port": "False",
              "bind": "['127.0.0.1:8000']", "proc_name": "None", "pidfile": "None",
              "raw_env": "[]"}
    for k, v in expect.items():
        assert cfg.get(k) == v, (k, cfg.get(k))
    for k in ("workers", "chdir", "pythonpath", "access_log_format", "check_config",
              "print_config", "config"):
        assert k in cfg, k


def test_print_config_reflects_flags(tmp_path):
    cfg = print_config(["-w", "5", "-k", "gthread", "--threads", "4", "--worker-connections", "50",
                        "-t", "7", "--graceful-timeout", "8", "--keep-alive", "9", "--backlog", "64",
                        "--limit-request-line", "1000", "--limit-request-fields", "20",
                        "--limit-request-field_size", "300", "-n", "myproc", "--log-level",
                        "warning", "--reuse-port", "-b", "127.0.0.1:1234", "-b", "unix:/tmp/x.sock",
                        "-e", "A=1", "-p", "/tmp/pidf", "--access-logfile", "-"],
                       cwd=str(tmp_path))
    assert cfg["workers"] == "5"
    assert cfg["worker_class"] == "gthread"
    assert cfg["threads"] == "4"
    assert cfg["worker_connections"] == "50"
    assert cfg["timeout"] == "7"
    assert cfg["graceful_timeout"] == "8"
    assert cfg["keepalive"] == "9"
    assert cfg["backlog"] == "64"
    assert cfg["limit_request_line"] == "1000"
    assert cfg["limit_request_fields"] == "20"
    assert cfg["limit_request_field_size"] == "300"
    assert cfg["proc_name"] == "myproc"
    assert cfg["loglevel"] == "warning"
    assert cfg["reuse_port"] == "True"
    assert cfg["bind"] == "['127.0.0.1:1234', 'unix:/tmp/x.sock']"
    assert cfg["raw_env"] == "['A=1']"
    assert cfg["pidfile"] == "/tmp/pidf"
    assert cfg["accesslog"] == "-"


def test_precedence_cli_env_config(tmp_path):
    (tmp_path / ("%s.conf.py" % NAME)).write_text("workers = 2\ntimeout = 11\n")
    d = str(tmp_path)
    assert print_config(cwd=d)["workers"] == "2"
    assert print_config(cwd=d)["timeout"] == "11"
    env = {CMD_ARGS_ENV: "--workers 3"}
    assert print_config(cwd=d, env=env)["workers"] == "3"
    assert print_config(cwd=d, env=env)["timeout"] == "11"
    assert print_config(["-w", "4"], cwd=d, env=env)["workers"] == "4"


def test_explicit_config_file_flag(tmp_path):
    conf = tmp_path / "my.conf.py"
    conf.write_text("workers = 6\nkeepalive = 13\nbind = ['127.0.0.1:9999']\n")
    cfg = print_config(["-c", str(conf)], cwd=str(tmp_path))
    assert cfg["workers"] == "6"
    assert cfg["keepalive"] == "13"
    assert cfg["bind"] == "['127.0.0.1:9999']"
    cfg = print_config(["--config", str(conf), "-w", "2"], cwd=str(tmp_path))
    assert cfg["workers"] == "2"


@only_cunicorn("cunicorn.conf.py is cunicorn's own default config name")
def test_cunicorn_conf_preferred_over_gunicorn_conf(tmp_path):
    (tmp_path / "gunicorn.conf.py").write_text("workers = 7\n")
    assert print_config(cwd=str(tmp_path))["workers"] == "7"
    (tmp_path / "cunicorn.conf.py").write_text("workers = 8\n")
    assert print_config(cwd=str(tmp_path))["workers"] == "8"


def test_web_concurrency(tmp_path):
    assert print_config(cwd=str(tmp_path), env={"WEB_CONCURRENCY": "3"})["workers"] == "3"
    # explicit flag beats WEB_CONCURRENCY
    assert print_config(["-w", "2"], cwd=str(tmp_path), env={"WEB_CONCURRENCY": "3"})["workers"] == "2"


def _skip_if_quota():
    lim = cgroup_cpu_limit()
    if lim is not None and lim < 1:
        pytest.skip("cgroup cpu.max quota %.2f CPUs changes the default worker count" % lim)


@only_cunicorn("gunicorn 20.1 defaults to 1 worker")
def test_default_workers_from_affinity_print_config(tmp_path):
    _skip_if_quota()
    cfg = print_config(cwd=str(tmp_path), prefix=["taskset", "-c", "0"])
    assert cfg["workers"] == "3"


@only_cunicorn("gunicorn 20.1 defaults to 1 worker")
def test_default_workers_from_affinity_running(make_server):
    _skip_if_quota()
    s = make_server("app_env:app", workers=None, prefix=["taskset", "-c", "0"])
    s.wait_workers(3, timeout=15)
    time.sleep(0.5)
    assert len(s.worker_pids()) == 3
    assert s.get("/").status == 200


# --------------------------------------------------------------------------
# --workers=auto and the start-up line on the worker count
# --------------------------------------------------------------------------

WORKERS_LINE = re.compile(r"\[INFO\] (Workers: .*)$", re.M)


def workers_lines(s):
    return WORKERS_LINE.findall(s.stderr_text())


def one_cpu_source():
    """How the line names one CPU under `taskset -c 0`."""
    online = os.sysconf("SC_NPROCESSORS_ONLN")
    return "the online CPU count" if online == 1 else "the scheduler affinity mask"


@only_cunicorn("gunicorn 20.1 takes only an integer for workers")
def test_workers_auto_starts_and_logs(make_server):
    _skip_if_quota()
    s = make_server("app_env:app", workers=None, args=["--workers=auto"],
                    prefix=["taskset", "-c", "0"], expect_workers=3)
    s.wait_workers(3, timeout=15)
    time.sleep(0.5)
    assert len(s.worker_pids()) == 3
    assert s.get("/").status == 200
    assert workers_lines(s) == ["Workers: 3 ((2 x 1 CPU) + 1, from %s)" % one_cpu_source()]
    # the master logs it, once, before it forks
    assert re.search(r"\[%d\] \[INFO\] Workers: 3 " % s.pid, s.stderr_text())


@only_cunicorn("gunicorn 20.1 defaults to 1 worker")
def test_default_workers_logged_given_not(make_server):
    s = make_server("app_env:app", workers=None)
    lines = workers_lines(s)
    assert len(lines) == 1 and re.match(r"^Workers: \d+ \(\(2 x \d+ CPUs?\) \+ 1, from ",
                                        lines[0]), lines
    s.wait_workers(int(lines[0].split(" ")[1]), timeout=15)
    s = make_server("app_env:app", workers=2)
    assert workers_lines(s) == []
    s = make_server("app_env:app", workers=None, env={"WEB_CONCURRENCY": "2"}, expect_workers=2)
    assert workers_lines(s) == ["Workers: 2 (from $WEB_CONCURRENCY)"]


@only_cunicorn("gunicorn 20.1 takes only an integer for workers")
@pytest.mark.parametrize("how", ["config", "GUNICORN_CMD_ARGS", "CUNICORN_CMD_ARGS",
                                 "WEB_CONCURRENCY", "-w"])
def test_workers_auto_every_source(tmp_path, how):
    _skip_if_quota()
    args, env = [], {}
    if how == "config":
        conf = tmp_path / "auto.conf.py"
        conf.write_text("workers = 'auto'\n")
        args = ["-c", str(conf)]
    elif how == "-w":
        args = ["-w", "auto"]
    elif how == "WEB_CONCURRENCY":
        env = {how: "auto"}
    else:
        env = {how: "--workers auto"}
    cfg = print_config(args, cwd=str(tmp_path), env=env, prefix=["taskset", "-c", "0"])
    assert cfg["workers"] == "3"


@only_cunicorn("gunicorn 20.1 takes only an integer for workers")
def test_workers_auto_below_a_number(tmp_path):
    conf = tmp_path / "auto.conf.py"
    conf.write_text("workers = 'auto'\n")
    assert print_config(["-c", str(conf), "-w", "2"], cwd=str(tmp_path))["workers"] == "2"


def _mountinfo():
    """(fstype, mount point, root shown, super options) of every mount."""
    out = []
    with open("/proc/self/mountinfo") as f:
        for line in f:
            pre, _, post = line.partition(" - ")
            a, b = pre.split(), post.split()
            out.append((b[0], a[4], a[3], b[2].split(",") if len(b) > 2 else []))
    return out


def _own_cgroups():
    """{"v2": path, "v1": path of the hierarchy with the cpu controller}"""
    own = {}
    with open("/proc/self/cgroup") as f:
        for line in f:
            hid, ctl, path = line.rstrip("\n").split(":", 2)
            if hid == "0" and ctl == "":
                own["v2"] = path
            elif "cpu" in ctl.split(","):
                own["v1"] = path
    return own


def _cgroup_dir(mount, shown, path):
    rel = path[len(shown):] if shown != "/" and path.startswith(shown) else path
    return mount + (rel if shown == "/" or path.startswith(shown) else "")


def _new_quota_cgroup(cpus):
    """A new cgroup beside nothing else, under this process's own, whose CPU
    quota is `cpus`: its directory. pytest.skip with the reason if neither
    cgroup v2 nor v1 lets this process make one."""
    if os.geteuid() != 0:
        pytest.skip("creating a cgroup needs root")
    own, why = _own_cgroups(), []
    name = "cunicorn-test-%d" % os.getpid()
    for fstype, mount, shown, opts in _mountinfo():
        if fstype == "cgroup2" and "v2" in own:
            parent = _cgroup_dir(mount, shown, own["v2"])
            try:
                with open(os.path.join(parent, "cgroup.controllers")) as f:
                    if "cpu" not in f.read().split():
                        why.append("cgroup v2 at %s has no cpu controller" % parent)
                        continue
                with open(os.path.join(parent, "cgroup.subtree_control"), "w") as f:
                    f.write("+cpu")
                d = os.path.join(parent, name)
                os.mkdir(d)
                with open(os.path.join(d, "cpu.max"), "w") as f:
                    f.write("%d 100000" % (cpus * 100000))
                return d
            except OSError as e:
                why.append("cgroup v2 at %s: %s" % (parent, e))
        elif fstype == "cgroup" and "cpu" in opts and "v1" in own:
            d = os.path.join(_cgroup_dir(mount, shown, own["v1"]), name)
            try:
                os.mkdir(d)
                with open(os.path.join(d, "cpu.cfs_period_us"), "w") as f:
                    f.write("100000")
                with open(os.path.join(d, "cpu.cfs_quota_us"), "w") as f:
                    f.write("%d" % (cpus * 100000))
                return d
            except OSError as e:
                why.append("cgroup v1 cpu at %s: %s" % (d, e))
    pytest.skip("no cgroup with a CPU quota can be made here: %s"
                % ("; ".join(why) or "no cgroup cpu controller mounted"))


@pytest.fixture
def quota_cgroup():
    made = []

    def make(cpus):
        made.append(_new_quota_cgroup(cpus))
        return made[-1]
    yield make
    for d in made:  # empty once the server's processes have exited
        for _ in range(50):
            try:
                os.rmdir(d)
                break
            except OSError:
                time.sleep(0.1)


@only_cunicorn("gunicorn 20.1 defaults to 1 worker")
def test_default_workers_from_cgroup_quota(quota_cgroup, make_server):
    """The server runs in a real cgroup whose quota is one CPU (systemd-run
    --scope -p CPUQuota=100% would need systemd as PID 1; the test makes the
    cgroup itself): the default and auto give 3 workers, and the line says
    the quota decided."""
    if len(os.sched_getaffinity(0)) < 2:
        pytest.skip("one usable CPU: a one-CPU quota would not lower the count")
    d = quota_cgroup(1)
    into = ["sh", "-c", 'echo $$ > "$0/cgroup.procs" && exec "$@"', d]
    for args in ([], ["--workers=auto"]):
        s = make_server("app_env:app", workers=None, args=args, prefix=into, expect_workers=3)
        s.wait_workers(3, timeout=15)
        time.sleep(0.5)
        assert len(s.worker_pids()) == 3
        assert s.get("/").status == 200
        with open(os.path.join(d, "cgroup.procs")) as f:
            assert s.pid in [int(x) for x in f.read().split()]
        lines = workers_lines(s)
        assert len(lines) == 1 and re.match(
            r"^Workers: 3 \(\(2 x 1 CPU\) \+ 1, from the cgroup CPU quota, \d+/\d+ us\)$",
            lines[0]), lines
        assert s.stop() == 0


def test_cmd_args_env_starts_workers(make_server):
    s = make_server("app_env:app", workers=None, env={CMD_ARGS_ENV: "--workers 3"},
                    expect_workers=3)
    s.wait_workers(3)
    assert s.get("/").status == 200


def test_config_file_bind_and_workers(make_server, tmp_path):
    port = free_port()
    conf = tmp_path / "server.conf.py"
    conf.write_text("bind = ['127.0.0.1:%d']\nworkers = 2\n" % port)
    s = make_server("app_env:app", workers=None, add_bind=False, port=port,
                    args=["-c", str(conf)], expect_workers=2)
    s.wait_workers(2)
    assert s.get("/").status == 200
    assert "Listening at: http://127.0.0.1:%d" % port in s.stderr_text()


def test_port_env_sets_default_bind(make_server):
    port = free_port()
    s = make_server("app_env:app", add_bind=False, port=port, env={"PORT": str(port)})
    assert s.get("/").status == 200
    assert "Listening at: http://0.0.0.0:%d" % port in s.stderr_text()


def test_proc_name_flag(tmp_path):
    assert print_config(["-n", "special-name"], cwd=str(tmp_path))["proc_name"] == "special-name"
    assert print_config(["--name", "n2"], cwd=str(tmp_path))["proc_name"] == "n2"


# --------------------------------------------------------------------------
# bad usage
# --------------------------------------------------------------------------

BAD_VALUES = [
    (["-w", "abc"], ("workers", "-w")),
    (["--workers", "abc"], ("workers",)),
    (["--workers", "autox"], ("workers",)),
    (["--workers=auto1"], ("workers",)),
    (["--timeout", "-5"], ("timeout", "-t")),
    (["--log-level", "loud"], ("log-level", "loglevel", "log_level")),
    (["-k", "nosuch"], ("worker-class", "worker_class", "-k", "nosuch")),
    (["-e", "NOEQUALS"], ("env", "raw_env", "-e", "NOEQUALS")),
    (["--threads", "x"], ("threads",)),
    (["--backlog", "-1"], ("backlog",)),
    (["--limit-request-line", "abc"], ("limit-request-line", "limit_request_line")),
    (["--max-requests", "-1"], ("max-requests", "max_requests")),
    (["--max-requests-jitter", "x"], ("max-requests-jitter", "max_requests_jitter")),
]


@pytest.mark.parametrize("args,names", BAD_VALUES, ids=[" ".join(a) for a, _ in BAD_VALUES])
def test_bad_value_rejected_one_line(tmp_path, args, names):
    app = put_cwd_app(str(tmp_path))
    try:
        p = run_bin(args + [app], cwd=str(tmp_path), timeout=10, pythonpath=False)
    except subprocess.TimeoutExpired:
        pytest.fail("%s was accepted: the server started instead of exiting" % args)
    err = p.stderr.decode(errors="replace")
    assert p.returncode != 0, err
    assert "Traceback" not in err, err
    lines = [l for l in err.splitlines() if l.strip()]
    assert len(lines) == 1, "expected exactly one error line, got:\n" + err
    assert any(n in lines[0] for n in names), lines[0]


def test_unknown_flag_exits_2(tmp_path):
    p = run_bin(["--no-such-flag", "app_env:app"], cwd=str(tmp_path))
    assert p.returncode == 2
    assert b"Traceback" not in p.stderr
    assert b"no-such-flag" in p.stderr


def test_no_app_module(tmp_path):
    p = run_bin([], cwd=str(tmp_path), pythonpath=False)
    assert p.returncode != 0
    assert p.stderr.strip()
    assert b"Traceback" not in p.stderr


def test_bad_config_file_value(tmp_path):
    conf = tmp_path / "bad.conf.py"
    conf.write_text("workers = 'many'\n")
    p = run_bin(["-c", str(conf), put_cwd_app(str(tmp_path))], cwd=str(tmp_path), pythonpath=False)
    assert p.returncode != 0


# --------------------------------------------------------------------------
# binds
# --------------------------------------------------------------------------

def test_multiple_binds(make_server):
    p1, p2 = free_port(), free_port()
    s = make_server("app_env:app", bind=["127.0.0.1:%d" % p1, "127.0.0.1:%d" % p2])
    for p in (p1, p2):
        with socket.create_connection(("127.0.0.1", p), timeout=10) as c:
            c.sendall(b"GET /multi HTTP/1.0\r\n\r\n")
            data = b""
            deadline = time.monotonic() + 10
            while time.monotonic() < deadline:
                d = c.recv(65536)
                if not d:
                    break
                data += d
        assert re.match(rb"HTTP/1\.[01] 200 ", data), data[:100]
        assert re.search(r"Listening at: .*http://127\.0\.0\.1:%d\b" % p, s.stderr_text())


def test_unix_socket_bind_and_cleanup(make_server, tmp_path):
    path = str(tmp_path / "s.sock")
    s = make_server("app_env:app", bind="unix:" + path)
    assert os.path.exists(path)
    r = s.get("/over-unix")
    assert r.status == 200
    assert r.json()["PATH_INFO"] == "/over-unix"
    assert "Listening at: unix:%s" % path in s.stderr_text()
    assert s.stop() == 0
    assert not os.path.exists(path), "unix socket file left behind"


@pytest.mark.skipif(not has_ipv6(), reason="no IPv6 loopback")
def test_ipv6_bind(make_server):
    port = free_port(socket.AF_INET6, "::1")
    s = make_server("app_env:app", bind="[::1]:%d" % port)
    env = s.get_json("/v6")
    assert env["REMOTE_ADDR"] == "::1"
    assert "Listening at: http://[::1]:%d" % port in s.stderr_text()


def test_fd_bind(make_server):
    lsock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    lsock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    lsock.bind(("127.0.0.1", 0))
    lsock.listen(16)
    port = lsock.getsockname()[1]
    fd = lsock.fileno()
    try:
        s = make_server("app_env:app", bind="fd://%d" % fd, port=port, pass_fds=(fd,))
        assert s.get("/fd").json()["PATH_INFO"] == "/fd"
    finally:
        lsock.close()


def test_host_only_bind_uses_port_8000(make_server):
    try:
        with socket.socket() as t:
            t.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            t.bind(("127.0.0.1", 8000))
    except OSError:
        pytest.skip("port 8000 busy")
    s = make_server("app_env:app", bind="127.0.0.1", port=8000)
    assert s.get("/").status == 200


def test_reuse_port_two_masters(make_server):
    port = free_port()
    a = make_server("app_env:app", bind="127.0.0.1:%d" % port, args=["--reuse-port"])
    b = make_server("app_env:app", bind="127.0.0.1:%d" % port, args=["--reuse-port"])
    assert a.proc.poll() is None and b.proc.poll() is None
    assert a.get("/").status == 200


def test_backlog_flag_serves(make_server):
    s = make_server("app_env:app", args=["--backlog", "16"])
    assert s.get("/").status == 200


def test_pidfile_written_and_removed(make_server, tmp_path):
    pidfile = str(tmp_path / "run" / "master.pid")
    os.makedirs(os.path.dirname(pidfile))
    s = make_server("app_env:app", args=["-p", pidfile])
    wait_until(lambda: os.path.exists(pidfile), 5, what="pidfile")
    with open(pidfile) as f:
        assert int(f.read().strip()) == s.pid
    assert s.stop() == 0
    assert not os.path.exists(pidfile)


def test_worker_class_flag_used(make_server):
    s = make_server("app_env:app")
    assert re.search(r"Using worker: %s\b" % WORKER_CLASS, s.stderr_text())


def test_bind_retries_while_the_address_is_in_use(make_server):
    """As Gunicorn: 'Connection in use' is retried (5 times, 1 s apart), so a
    port freed meanwhile is bound. The error log is /dev/full, whose writes
    fail: the retry used to test errno after logging, which had changed it,
    and the server gave up at once."""
    port = free_port()
    holder = socket.socket()  # bound, not listening: bind fails, connect is refused
    holder.bind(("127.0.0.1", port))
    try:
        s = make_server("app_env:app", bind="127.0.0.1:%d" % port, wait=False,
                        args=["--error-logfile", "/dev/full"])
        time.sleep(1.5)
        assert s.proc.poll() is None, "gave up instead of retrying"
    finally:
        holder.close()
    s.wait_ready()
    assert s.get("/").status == 200
