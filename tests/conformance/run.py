#!/usr/bin/python3
"""Replay Gunicorn's request corpus against cunicorn, including the cases
that need a setting the shared runner cannot pass (it knows only the three
limit flags): this wraps shared/conformance/replay.py, maps those settings to
cunicorn's flags, and starts one server per flag set.

    run.py CORPUS_DIR 'SERVER TEMPLATE with {port} and {app}' [replay args]

Exit status: replay.py's (0 = no failures); 2 if a server does not start.
KEEP_LOGS=1 keeps the servers' logs.
"""
import contextlib
import io
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

CORPUS = os.path.abspath(sys.argv[1])
TEMPLATE = sys.argv[2]
sys.path.insert(0, CORPUS)
import replay  # noqa: E402  (the shared runner, from CORPUS)

BOOL_FLAGS = {
    "strip_header_spaces": "--strip-header-spaces",
    "permit_unconventional_http_method": "--permit-unconventional-http-method",
    "casefold_http_method": "--casefold-http-method",
    "permit_obsolete_folding": "--permit-obsolete-folding",
    "proxy_protocol": "--proxy-protocol",
}
_plan = replay.Case._plan


def plan_with_settings(case):
    """Turn the settings cunicorn has flags for into flags, then let the
    runner plan the rest (limits, skips) as usual."""
    extra, rest = [], dict(case.settings)
    for name, value in case.settings.items():
        if BOOL_FLAGS.get(name) and value is True:
            extra.append(BOOL_FLAGS[name])
            del rest[name]
        elif name == "header_map":
            extra += ["--header-map", str(value)]
            del rest[name]
    saved, case.settings = case.settings, rest
    _plan(case)
    case.settings = saved
    case.flags += extra


replay.Case._plan = plan_with_settings


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(extra, procs, logdir):
    port = free_port()
    cmd = TEMPLATE.replace("{port}", str(port)).replace("{app}", "echo_app:app") + " " + extra
    env = dict(os.environ, PYTHONPATH=CORPUS, PYTHONDONTWRITEBYTECODE="1")
    log = open(os.path.join(logdir, "server-%d.log" % port), "w")
    procs.append(subprocess.Popen(["bash", "-c", "exec " + cmd], cwd=CORPUS, env=env, stdout=log,
                                  stderr=log, start_new_session=True))
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=1) as s:
                s.sendall(b"GET / HTTP/1.0\r\n\r\n")
                if s.recv(5) == b"HTTP/":
                    return port
        except OSError:
            pass
        time.sleep(0.2)
    print("run.py: server did not start: %s (log in %s)" % (cmd, logdir), file=sys.stderr)
    sys.exit(2)


def stop(procs):
    for p in procs:
        p.send_signal(signal.SIGTERM)
    for p in procs:
        try:
            p.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(p.pid, signal.SIGKILL)
            p.wait(5)


def main():
    args = sys.argv[3:]
    listing = io.StringIO()
    with contextlib.redirect_stdout(listing):
        replay.main(["--list-flag-sets"] + args)
    procs, logdir = [], tempfile.mkdtemp(prefix="cunicorn-conformance-")
    try:
        main_port = start("", procs, logdir)
        server_args = []
        for flags in filter(None, (line.strip() for line in listing.getvalue().splitlines())):
            server_args += ["--flags-server", " " + flags,
                            "127.0.0.1:%d" % start(flags, procs, logdir)]
        return replay.main(["127.0.0.1:%d" % main_port] + server_args + args)
    finally:
        stop(procs)
        if not os.environ.get("KEEP_LOGS"):
            shutil.rmtree(logdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
