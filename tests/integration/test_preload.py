"""preload_app: the app is imported once, in the master, and every worker
shares it, including those forked after a HUP (Gunicorn's behaviour)."""
import signal

from conftest import run_bin, wait_until


def imports(path):
    try:
        with open(path) as f:
            return [int(line) for line in f]
    except FileNotFoundError:
        return []


def answering_pids(s, want, tries=60):
    """The worker pids that answered, until want distinct ones did."""
    seen = set()
    for _ in range(tries):
        r = s.get("/")
        assert r.status == 200
        seen.add(int(r.body))
        if len(seen) >= want:
            break
    return seen


def test_preload_imports_once_in_the_master(make_server, tmp_path):
    marks, spins = str(tmp_path / "imports"), str(tmp_path / "spins")
    s = make_server("app_preload:app", workers=3, args=["--preload"],
                    env={"PRELOAD_MARKS": marks, "PRELOAD_SPINS": spins})
    assert imports(marks) == [s.pid]

    def master_spins():
        try:
            with open(spins) as f:
                pid, n = map(int, f.read().split())
        except (FileNotFoundError, ValueError):
            return None
        return n if pid == s.pid else None
    # the app's thread runs on in the master, as under Gunicorn
    first = wait_until(master_spins, 15, what="the app's thread running in the master")
    wait_until(lambda: (master_spins() or 0) > first, 15, what="the thread going on")
    workers = set(s.worker_pids())
    # every worker answers: none was forked while the app's thread held the
    # import lock or its own lock
    assert answering_pids(s, 3) <= workers
    s.send_signal(signal.SIGHUP)
    wait_until(lambda: len(s.worker_pids()) == 3 and not workers & set(s.worker_pids()), 20,
               what="the workers replaced after HUP")
    assert s.get("/").status == 200
    assert imports(marks) == [s.pid]  # HUP does not import the app again
    assert s.stop() == 0


def test_without_preload_every_worker_imports(make_server, tmp_path):
    marks = str(tmp_path / "imports")
    s = make_server("app_preload:app", workers=2, env={"PRELOAD_MARKS": marks})
    wait_until(lambda: len(imports(marks)) == 2, 15, what="two imports")
    assert sorted(imports(marks)) == sorted(s.worker_pids())


def test_preload_failure_stops_the_master(tmp_path):
    p = run_bin(["--preload", "app_noattr:app"], cwd=str(tmp_path))
    assert p.returncode == 1
    assert b"Failed to find attribute" in p.stderr
    p = run_bin(["--preload", "no_such_module_here:app"], cwd=str(tmp_path))
    assert p.returncode == 1
    assert b"No module named 'no_such_module_here'" in p.stderr
