"""USR2, Gunicorn's binary upgrade: a new master runs the same command line
on the inherited sockets, writes PIDFILE.2, and takes over PIDFILE when the
old master exits; no request fails on the way."""
import os
import signal
import threading

import pytest

from conftest import children_of, pid_alive, read_pid, wait_until

PRE_EXEC_CONF = '''
import os


def pre_exec(server):
    with open(os.environ["PRE_EXEC_MARK"], "a") as f:
        f.write("%d %d\\n" % (os.getpid(), server.pid))
'''


class Load:
    """A client requesting in a loop (bounded) that counts failures."""

    def __init__(self, s):
        self.s, self.ok, self.failed, self.stop = s, 0, [], threading.Event()
        self.t = threading.Thread(target=self.run, daemon=True)
        self.t.start()

    def run(self):
        for _ in range(20000):
            if self.stop.is_set():
                return
            try:
                r = self.s.get("/")
                if r.status == 200:
                    self.ok += 1
                else:
                    self.failed.append(r.status)
            except Exception as e:  # noqa: B902 - every failure counts, whatever its kind
                self.failed.append(repr(e))

    def finish(self):
        self.stop.set()
        self.t.join(30)
        return self.ok, self.failed


@pytest.fixture
def new_masters():
    pids = []
    yield pids
    for pid in pids:
        if pid and pid_alive(pid):
            os.kill(pid, signal.SIGTERM)
            wait_until(lambda: not pid_alive(pid), 15, what="the new master stopped")


@pytest.mark.parametrize("unix", [False, True])
def test_usr2_upgrade_hands_over_without_losing_a_request(make_server, tmp_path, new_masters,
                                                         unix):
    pidfile, mark = str(tmp_path / "app.pid"), str(tmp_path / "pre_exec")
    conf = tmp_path / "upgrade.conf.py"
    conf.write_text(PRE_EXEC_CONF)
    sock = str(tmp_path / "s.sock")
    kw = {"bind": "unix:" + sock} if unix else {}
    s = make_server("app_env:app", workers=2, args=["-p", pidfile, "-c", str(conf)],
                    env={"PRE_EXEC_MARK": mark}, **kw)
    old = s.pid
    assert read_pid(pidfile) == old
    load = Load(s)
    s.send_signal(signal.SIGUSR2)
    new = wait_until(lambda: read_pid(pidfile + ".2"), 15, what="PIDFILE.2")
    new_masters.append(new)
    assert new != old and new in children_of(old)
    # pre_exec ran in the child that became the new master, before the exec
    with open(mark) as f:
        assert f.read().split() == [str(new), str(old)]
    wait_until(lambda: len(children_of(new)) == 2, 15, what="the new master's workers")
    with open("/proc/%d/cmdline" % new, "rb") as f:
        assert f.read().rstrip(b"\0") == b"cunicorn: master [app_env:app.2]"
    s.send_signal(signal.SIGUSR2)  # one upgrade at a time
    s.wait_log("USR2 signal ignored. Child exists.")
    os.kill(new, signal.SIGUSR2)
    s.wait_log("USR2 signal ignored. Parent exists.")

    os.kill(old, signal.SIGTERM)
    wait_until(lambda: not pid_alive(old), 15, what="the old master gone")
    wait_until(lambda: read_pid(pidfile) == new and not os.path.exists(pidfile + ".2"), 15,
               what="the new master promoted")
    s.wait_log(r"\[%d\] \[INFO\] Master has been promoted\." % new)
    if unix:
        assert os.path.exists(sock)  # the old master left the shared socket file
    ok, failed = load.finish()
    assert failed == [] and ok > 0
    assert s.get("/").status == 200


def test_usr2_child_failing_to_start_leaves_the_old_master_serving(make_server, tmp_path):
    """A new master that cannot start (here: its config file is gone) is
    reaped and logged; the old one serves on and may upgrade again."""
    conf = tmp_path / "gone.conf.py"
    conf.write_text("workers = 1\n")
    s = make_server("app_env:app", args=["-c", str(conf)])
    conf.unlink()
    s.send_signal(signal.SIGUSR2)
    s.wait_log(r"The new master \(pid \d+\) exited with status 1")
    assert s.get("/").status == 200
    assert len(s.worker_pids()) == 1  # no second master left behind
