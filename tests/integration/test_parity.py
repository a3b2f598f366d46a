"""Drop-in parity: Gunicorn's settings honoured or refused out loud,
$GUNICORN_CMD_ARGS, wsgi_app, umask, user/group, log-level spellings."""
import os
import stat

import pytest

from conftest import free_port, only_cunicorn, run_bin, wait_until

pytestmark = only_cunicorn("cunicorn's refusals and additions")


def conf(tmp_path, text, name="c.conf.py"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def one_error_line(p):
    lines = p.stderr.decode(errors="replace").strip().splitlines()
    assert len(lines) == 1, lines
    return lines[0]


# ---- refused, ignored, accepted as Gunicorn's default -----------------------

@pytest.mark.parametrize("args, name", [
    (["--certfile", "cert.pem", "--keyfile", "key.pem"], "certfile"),
    (["--statsd-host", "127.0.0.1:8125"], "statsd_host"),
    (["--paste", "development.ini"], "paste"),
])
def test_unsupported_flag_refused_one_line(tmp_path, args, name):
    for extra in ([], ["--check-config"]):
        p = run_bin(args + extra + ["app_env:app"], cwd=str(tmp_path))
        assert p.returncode == 1
        line = one_error_line(p)
        assert line.startswith("Error: setting %s " % name) and "not supported" in line, line


@pytest.mark.parametrize("text, name", [
    ("certfile = '/etc/ssl/cert.pem'\n", "certfile"),
    ("user = 'nobody'\nspew = True\n", "spew"),
    ("statsd_host = 'localhost:8125'\n", "statsd_host"),
    ("def dirty_post_fork(arbiter, worker):\n    pass\n", "dirty_post_fork"),
    ("logconfig_dict = {'version': 1}\n", "logconfig_dict"),
    ("syslog = True\n", "syslog"),
])
def test_unsupported_config_setting_refused_one_line(tmp_path, text, name):
    c = conf(tmp_path, text)
    for extra in ([], ["--check-config"]):
        p = run_bin(["-c", c] + extra + ["app_env:app"], cwd=str(tmp_path))
        assert p.returncode == 1
        line = one_error_line(p)
        assert line.startswith("Error: setting %s " % name) and "not supported" in line, line


def test_gunicorn_defaults_and_ignored_settings_start(make_server, tmp_path):
    """Configs copied from Gunicorn projects spell out defaults and tuning
    knobs: they start, and the ignored ones are named in one warning."""
    c = conf(tmp_path, "preload_app = False\ndaemon = False\nkeyfile = None\nreload = False\n"
                       "worker_tmp_dir = '/dev/shm'\n"
                       "def helper():\n    return 1\n")
    s = make_server("app_env:app", args=["-c", c, "--log-syslog-facility", "local0"])
    assert s.get("/").status == 200
    warn = [line for line in s.log_text().splitlines() if "Ignoring Gunicorn settings" in line]
    assert len(warn) == 1, s.log_text()
    assert "[WARNING]" in warn[0]
    assert "syslog_facility, worker_tmp_dir (" in warn[0]  # command line first


def test_unknown_worker_class_refused(tmp_path):
    p = run_bin(["-k", "uvicorn.workers.UvicornWorker", "app_env:app"], cwd=str(tmp_path))
    assert p.returncode == 1
    line = one_error_line(p)
    assert "worker_class" in line and "sync, gthread or gevent" in line, line
    p = run_bin(["--check-config", "-k", "eventlet", "app_env:app"], cwd=str(tmp_path))
    assert p.returncode == 1


@pytest.mark.parametrize("path", ["gunicorn.workers.sync.SyncWorker",
                                  "gunicorn.workers.gthread.ThreadWorker",
                                  "gunicorn.workers.ggevent.GeventWorker"])
def test_gunicorn_class_paths_accepted(tmp_path, path):
    p = run_bin(["--check-config", "-k", path, "app_env:app"], cwd=str(tmp_path))
    assert p.returncode == 0, p.stderr


def test_check_config_fails_on_a_broken_app(tmp_path):
    p = run_bin(["--check-config", "app_importerror:app"], cwd=str(tmp_path))
    assert p.returncode == 1


# ---- sources ----------------------------------------------------------------

def test_gunicorn_cmd_args_env(make_server):
    """Docker images set GUNICORN_CMD_ARGS; CUNICORN_CMD_ARGS wins over it,
    and the command line over both."""
    port = free_port()
    s = make_server("app_env:app", add_bind=False, workers=None,
                    port=port, env={"GUNICORN_CMD_ARGS": "--workers=2 --bind=127.0.0.1:%d" % port})
    wait_until(lambda: len(s.worker_pids()) == 2, 15, what="two workers from GUNICORN_CMD_ARGS")
    assert s.get("/").status == 200
    s2 = make_server("app_env:app", workers=None,
                     env={"GUNICORN_CMD_ARGS": "--workers=2 --timeout=7",
                          "CUNICORN_CMD_ARGS": "--workers=3"})
    wait_until(lambda: len(s2.worker_pids()) == 3, 15, what="three workers from CUNICORN_CMD_ARGS")


def test_gunicorn_cmd_args_bad_value_one_line(tmp_path):
    p = run_bin(["app_env:app"], cwd=str(tmp_path), env={"GUNICORN_CMD_ARGS": "--certfile=x"})
    assert p.returncode == 1
    assert "certfile" in one_error_line(p)


def test_wsgi_app_from_config_file(make_server, tmp_path):
    c = conf(tmp_path, "wsgi_app = 'app_env:app'\n")
    s = make_server(app=None, args=["-c", c])
    r = s.get("/from-wsgi-app")
    assert r.status == 200 and r.json()["PATH_INFO"] == "/from-wsgi-app"


def test_config_from_python_module_and_file_prefix(make_server, tmp_path):
    """-c python:MODULE imports the module (found from the working
    directory); -c file:PATH is a path, as in Gunicorn."""
    pkg = tmp_path / "deploy"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "gunicorn_settings.py").write_text("workers = 2\nwsgi_app = 'app_env:app'\n")
    s = make_server(app=None, workers=None, cwd=str(tmp_path),
                    args=["-c", "python:deploy.gunicorn_settings"])
    wait_until(lambda: len(s.worker_pids()) == 2, 15, what="two workers from the module")
    assert s.get("/").status == 200
    c = conf(tmp_path, "wsgi_app = 'app_env:app'\n")
    s2 = make_server(app=None, args=["-c", "file:" + c])
    assert s2.get("/").status == 200
    p = run_bin(["-c", "python:no_such_settings_module", "app_env:app"], cwd=str(tmp_path))
    assert p.returncode == 1
    assert b"No module named 'no_such_settings_module'" in p.stderr
    p = run_bin(["-c", "file:/nonexistent/x.py", "app_env:app"], cwd=str(tmp_path))
    assert p.returncode == 1 and "'/nonexistent/x.py' doesn't exist" in one_error_line(p)


def test_log_level_warn_spelling(make_server):
    s = make_server("app_env:app", args=["--log-level", "warn"])
    assert s.get("/").status == 200
    assert "[INFO]" not in s.log_text()


# ---- umask, user, group -------------------------------------------------------

@pytest.mark.parametrize("args, mode", [([], 0o777), (["--umask", "0o22"], 0o755),
                                        (["-m", "007"], 0o770)])
def test_umask_gives_the_unix_socket_mode(make_server, tmp_path, args, mode):
    path = str(tmp_path / "s.sock")
    s = make_server("app_env:app", bind="unix:" + path, args=args)
    assert stat.S_IMODE(os.stat(path).st_mode) == mode
    assert s.get("/").status == 200


def proc_ids(pid):
    ids = {}
    with open("/proc/%d/status" % pid) as f:
        for line in f:
            key, _, rest = line.partition(":")
            if key in ("Uid", "Gid", "Groups"):
                ids[key] = rest.split()
    return ids


needs_root = pytest.mark.skipif(os.geteuid() != 0, reason="dropping privileges needs root")


@needs_root
def test_user_and_group_drop_in_workers(make_server, tmp_path):
    """Workers run as nobody:nogroup with no supplementary groups left from
    root; the master stays root and bound the socket (port and unix socket)
    before the drop; the unix socket is handed to the user."""
    os.chmod(str(tmp_path), 0o755)
    path = str(tmp_path / "s.sock")
    s = make_server("app_env:app", workers=2, args=["-b", "unix:" + path,
                                                    "--user", "nobody", "--group", "nogroup"])
    assert s.get("/").status == 200
    for pid in s.worker_pids():
        ids = proc_ids(pid)
        assert ids["Uid"] == ["65534"] * 4, ids
        assert ids["Gid"] == ["65534"] * 4, ids
        assert ids["Groups"] in ([], ["65534"]), ids
    assert proc_ids(s.pid)["Uid"][0] == "0"
    st = os.stat(path)
    assert (st.st_uid, st.st_gid) == (65534, 65534)


@needs_root
def test_numeric_user_and_initgroups(make_server, tmp_path):
    s = make_server("app_env:app", args=["-u", "65534", "-g", "65534", "--initgroups"])
    assert s.get("/").status == 200
    (pid,) = s.worker_pids()
    assert proc_ids(pid)["Uid"][1] == "65534"


@pytest.mark.parametrize("args, word", [(["--user", "no-such-user-x"], "No such user"),
                                        (["--group", "no-such-group-x"], "No such group"),
                                        (["--umask", "0o8"], "umask")])
def test_bad_privilege_values_one_line(tmp_path, args, word):
    p = run_bin(args + ["app_env:app"], cwd=str(tmp_path))
    assert p.returncode == 1
    assert word in one_error_line(p)



# ---- process titles -----------------------------------------------------------

def cmdline(pid):
    with open("/proc/%d/cmdline" % pid, "rb") as f:
        return f.read().rstrip(b"\0").decode()


@pytest.mark.parametrize("args, name", [([], "app_env:app"), (["-n", "shop-frontend"],
                                                              "shop-frontend")])
def test_process_titles_as_gunicorns(make_server, args, name):
    """ps -o args shows Gunicorn's titles: the proc_name, else the app."""
    s = make_server("app_env:app", workers=2, args=args, env={"TITLE_PROBE": "still-here"})
    assert cmdline(s.pid) == "cunicorn: master [%s]" % name
    for pid in s.worker_pids():
        assert cmdline(pid) == "cunicorn: worker [%s]" % name
    # the environment strings the title overwrote were moved, not lost
    r = s.get("/?env=TITLE_PROBE")
    assert r.status == 200 and r.json()["_os_environ"]["TITLE_PROBE"] == "still-here"
