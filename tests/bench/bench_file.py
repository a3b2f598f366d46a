#!/usr/bin/python3
"""A 1 MiB file: cunicorn vs Gunicorn vs nginx in one run (see README.md).

cunicorn and Gunicorn serve it through wsgi.file_wrapper
(examples/file_wrapper.py, with Content-Length); nginx serves the same
file statically (sendfile on), from a config of its own in the run's temp
directory. Every server has one worker pinned to SERVER_CPU, wrk runs on
WRK_CPU, exactly as bench.py does.

Usage: bench_file.py [DURATION_SECONDS]
Env:   as bench.py (CUNICORN_BIN, GUNICORN_BIN, CLASSES, MODES, CONNS, THREADS,
       WORKER_CONNECTIONS, SERVER_CPU, WRK_CPU), plus NGINX_BIN
       (/usr/sbin/nginx), FILE_SIZE (bytes, 1048576), SERVERS
       ("cunicorn gunicorn nginx").
"""
import os
import shutil
import subprocess
import sys
import tempfile

import bench

NGINX_CONF = """\
daemon off;
master_process on;
worker_processes 1;
user {user};
pid {dir}/nginx.pid;
error_log {dir}/nginx-error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    keepalive_requests 1000000;
    keepalive_timeout 60s;
    client_body_temp_path {dir}/nginx-body;
    proxy_temp_path {dir}/nginx-proxy;
    fastcgi_temp_path {dir}/nginx-fastcgi;
    uwsgi_temp_path {dir}/nginx-uwsgi;
    scgi_temp_path {dir}/nginx-scgi;
    types {{ application/octet-stream bin; }}
    server {{
        listen 127.0.0.1:{port};
        root {root};
    }}
}}
"""


class Nginx:
    """nginx serving root statically, with one worker (bench.Server's shape)."""

    def __init__(self, binary, root, logdir, cpu):
        self.port = bench.free_port()
        conf = os.path.join(logdir, "nginx-%d.conf" % self.port)
        user = "root" if os.geteuid() == 0 else os.environ.get("USER", "nobody")
        with open(conf, "w") as f:
            f.write(NGINX_CONF.format(user=user, dir=logdir, port=self.port, root=root))
        cmd = ["taskset", "-c", str(cpu)] if cpu is not None else []
        cmd += [binary, "-c", conf, "-p", logdir, "-e", os.path.join(logdir, "nginx-error.log")]
        self.log = open(os.path.join(logdir, "nginx-%d.log" % self.port), "wb")
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL, cwd=logdir)
        self.pid = self.proc.pid

    wait_ready = bench.Server.wait_ready
    stop = bench.Server.stop


def main():
    duration = max(1, min(int(sys.argv[1]) if len(sys.argv) > 1 else 10, 600))
    cun = os.environ.get("CUNICORN_BIN") or os.path.join(bench.REPO, "build", "cunicorn")
    gun = os.environ.get("GUNICORN_BIN") or "/usr/bin/gunicorn"
    ngx = os.environ.get("NGINX_BIN") or "/usr/sbin/nginx"
    classes = os.environ.get("CLASSES", "sync").split()
    modes = os.environ.get("MODES", "keepalive close").split()
    wanted = os.environ.get("SERVERS", "cunicorn gunicorn nginx").split()
    conns = int(os.environ.get("CONNS", "50"))
    size = int(os.environ.get("FILE_SIZE", str(1 << 20)))
    server_cpu = int(os.environ.get("SERVER_CPU", "0"))
    wrk_cpu = int(os.environ.get("WRK_CPU", "1"))
    if len(os.sched_getaffinity(0)) < 2:
        print("warning: fewer than 2 CPUs, not pinning wrk/server apart", file=sys.stderr)
        server_cpu = wrk_cpu = None
    if not shutil.which("wrk"):
        sys.exit("wrk not found")
    logdir = tempfile.mkdtemp(prefix="cunicorn-bench-file-")
    root = os.path.join(logdir, "www")
    os.makedirs(root)
    path = os.path.join(root, "data.bin")
    with open(path, "wb") as f:
        f.write(os.urandom(size))
    os.chmod(logdir, 0o755)
    os.environ["APP"] = "file_wrapper:app"
    os.environ["SERVE_FILE"] = path

    rows = []

    def run(name, make, klass, mode):
        print("running %s %s %s (%ds)..." % (name, klass, mode, duration), file=sys.stderr)
        rows.append(bench.measure(make(), name, klass, mode, duration, logdir, wrk_cpu, conns,
                                  path="/data.bin"))

    for mode in modes:
        if "nginx" in wanted:
            run("nginx", lambda: Nginx(ngx, root, logdir, server_cpu), "static", mode)
        for klass in classes:
            for name, binary in (("cunicorn", cun), ("gunicorn", gun)):
                if name in wanted:
                    run(name, lambda: bench.Server(binary, klass, logdir, server_cpu), klass,
                        mode)
    report(rows, size, logdir)


def report(rows, size, logdir):
    hdr = "%-9s %-8s %-10s %10s %10s %10s %12s %9s %9s  %s" % (
        "server", "class", "mode", "req/s", "MiB/s", "p99 ms", "cpu us/req", "/nginx",
        "/gunicorn", "notes")
    print(hdr)
    print("-" * len(hdr))
    nginx = {r["mode"]: r["rps"] for r in rows if r["server"] == "nginx"}
    gun = {(r["class"], r["mode"]): r["rps"] for r in rows if r["server"] == "gunicorn"}

    def ratio(r, base):
        return "%.2fx" % (r["rps"] / base) if base and base == base and r["rps"] == r["rps"] \
            else "-"
    for r in rows:
        vs_gun = ratio(r, gun.get((r["class"], r["mode"]))) if r["server"] == "cunicorn" else "-"
        vs_ngx = ratio(r, nginx.get(r["mode"])) if r["server"] != "nginx" else "-"
        print("%-9s %-8s %-10s %10s %10s %10s %12s %9s %9s  %s" % (
            r["server"], r["class"], r["mode"], bench.fmt(r["rps"], ".1f"),
            bench.fmt(r["rps"] * size / (1 << 20), ".1f"), bench.fmt(r["p99_ms"], ".3f"),
            bench.fmt(r["cpu_us"], ".1f"), vs_ngx, vs_gun, r["errors"]))
    print("\n/nginx, /gunicorn = req/s relative to nginx (same mode) and to Gunicorn (same "
          "class and mode); logs and raw wrk output in %s" % logdir)


if __name__ == "__main__":
    main()
