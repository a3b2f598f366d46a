"""daemon (-D), enable_stdio_inheritance (-R) and capture_output, with the
real binary detaching from this test's session."""
import http.client
import os
import signal
import subprocess

import pytest

from conftest import APPS_DIR, BIN, WORKER_CLASS, base_env, free_port, pid_alive, wait_until


def stat_fields(pid):
    with open("/proc/%d/stat" % pid) as f:
        data = f.read()
    return data[data.rfind(")") + 2:].split()  # state, ppid, pgrp, session, ...


def get(port, query=""):
    c = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    try:
        c.request("GET", "/?" + query)
        r = c.getresponse()
        return r.status, r.read()
    finally:
        c.close()


@pytest.fixture
def daemon(tmp_path):
    """Start cunicorn -D; yields (master pid, port, error log path)."""
    started = []

    def start(*extra, stdout=None):
        port = free_port()
        pidfile, log = str(tmp_path / "pid"), str(tmp_path / "error.log")
        args = ["-D", "-k", WORKER_CLASS, "-w", "1", "-b", "127.0.0.1:%d" % port, "-p", pidfile,
                "--error-logfile", log] + list(extra) + ["app_print:app"]
        # the launcher returns once detached: with stdio on pipes, only if the
        # daemon let go of them too
        p = subprocess.run([BIN, "--pythonpath", APPS_DIR] + args, cwd=str(tmp_path),
                           env=base_env(), stdout=stdout or subprocess.PIPE,
                           stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, timeout=20)
        assert p.returncode == 0, p.stdout
        assert not p.stdout
        pid = wait_until(lambda: os.path.exists(pidfile) and open(pidfile).read().strip(), 15,
                         what="the pidfile")
        started.append(int(pid))
        wait_until(lambda: get_or_none(port), 15, what="the daemon answering")
        return int(pid), port, log, pidfile
    yield start
    for pid in started:
        if pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            wait_until(lambda: not pid_alive(pid), 15, what="the daemon stopped")


def get_or_none(port):
    try:
        return get(port)[0] == 200
    except OSError:
        return False


def test_daemon_detaches_and_writes_the_pidfile(daemon):
    pid, port, log, pidfile = daemon()
    state, ppid, pgrp, session = stat_fields(pid)[:4]
    assert int(ppid) != os.getpid()
    assert int(session) != os.getsid(0)  # its own session, from setsid()
    assert int(session) != pid  # forked again: not the leader, no terminal to take
    for fd in (0, 1, 2):
        assert os.readlink("/proc/%d/fd/%d" % (pid, fd)) == "/dev/null"
    assert "Booting worker" in open(log).read()
    os.kill(pid, signal.SIGTERM)
    wait_until(lambda: not pid_alive(pid), 15, what="the daemon stopped")
    assert not os.path.exists(pidfile)


def test_capture_output_sends_the_apps_output_to_the_error_log(daemon, tmp_path):
    pid, port, log, _ = daemon("--capture-output")
    assert get(port, "one")[0] == 200
    wait_until(lambda: "stderr-from-app one" in open(log).read(), 10, what="captured output")
    assert "stdout-from-app one" in open(log).read()
    # USR1 reopens the log; the captured streams follow the new file
    os.rename(log, log + ".1")
    os.kill(pid, signal.SIGUSR1)
    wait_until(lambda: os.path.exists(log), 10, what="the reopened log")

    def captured_in_new_log():
        get(port, "two")
        text = open(log).read()
        return "stdout-from-app two" in text and "stderr-from-app two" in text
    wait_until(captured_in_new_log, 10, what="output captured into the reopened log")
    assert "two" not in open(log + ".1").read()


def test_stdio_inheritance_keeps_stdout(daemon, tmp_path):
    out = open(tmp_path / "out.txt", "wb")
    pid, port, log, _ = daemon("-R", stdout=out)
    out.close()
    assert os.readlink("/proc/%d/fd/0" % pid) == "/dev/null"
    assert os.readlink("/proc/%d/fd/1" % pid) == str(tmp_path / "out.txt")
