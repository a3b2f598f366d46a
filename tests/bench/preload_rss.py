#!/usr/bin/python3
"""Idle memory of N workers with and without preload_app, cunicorn and
gunicorn in the same run (see README.md).

Usage: preload_rss.py [WORKERS]
Env:   CUNICORN_BIN (default <repo>/build/cunicorn), GUNICORN_BIN
       (/usr/bin/gunicorn), SERVERS ("cunicorn gunicorn"), APP ("flask_app:app",
       from examples/; any heavier app shows the effect better)

For each server and each of (no preload, --preload): start it with WORKERS
workers on 127.0.0.1, wait until every worker answered, send 50 requests,
then read the workers' RSS and PSS (/proc/PID/smaps_rollup: PSS divides a
shared page among the processes sharing it, so it is what the workers cost
together) and stop the server by its PID.
"""
import os
import signal
import socket
import subprocess
import sys
import time

from bench import EXAMPLES, REPO, children, free_port

WORKERS = int(sys.argv[1]) if len(sys.argv) > 1 else 4
BINS = {"cunicorn": os.environ.get("CUNICORN_BIN", os.path.join(REPO, "build", "cunicorn")),
        "gunicorn": os.environ.get("GUNICORN_BIN", "/usr/bin/gunicorn")}
SERVERS = os.environ.get("SERVERS", "cunicorn gunicorn").split()
APP = os.environ.get("APP", "flask_app:app")


def memory_kib(pid):
    """(rss, pss) of pid in KiB."""
    got = {}
    with open("/proc/%d/smaps_rollup" % pid) as f:
        for line in f:
            name, _, rest = line.partition(":")
            if name in ("Rss", "Pss"):
                got[name] = int(rest.split()[0])
    return got["Rss"], got["Pss"]


def http_get(port):
    """The status of GET / on 127.0.0.1:port, or 0."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=2) as c:
            c.sendall(b"GET / HTTP/1.0\r\nHost: x\r\n\r\n")
            head = c.recv(64)
        return int(head.split()[1]) if head.startswith(b"HTTP/") else 0
    except (OSError, ValueError, IndexError):
        return 0


def measure(server, preload):
    port = free_port()
    args = [BINS[server], "-w", str(WORKERS), "-b", "127.0.0.1:%d" % port, "--chdir", EXAMPLES,
            "--log-level", "warning"] + (["--preload"] if preload else []) + [APP]
    p = subprocess.Popen(args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 30
        while time.monotonic() < deadline and len(children(p.pid)) < WORKERS:
            time.sleep(0.1)
        for _ in range(50):
            for _ in range(100):
                if http_get(port) == 200:
                    break
                time.sleep(0.1)
        time.sleep(1)
        workers = children(p.pid)
        rss = pss = 0
        for pid in workers:
            r, s = memory_kib(pid)
            rss, pss = rss + r, pss + s
        return len(workers), rss, pss
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def main():
    print("%d workers, app %s; workers' memory in MiB (sum over the workers)" % (WORKERS, APP))
    print("%-9s %-8s %7s %9s %9s %14s" % ("server", "preload", "workers", "RSS", "PSS",
                                          "PSS vs no-pre"))
    for server in SERVERS:
        if not os.access(BINS[server], os.X_OK):
            print("%-9s not installed" % server)
            continue
        base = None
        for preload in (False, True):
            n, rss, pss = measure(server, preload)
            base = base or pss
            print("%-9s %-8s %7d %9.1f %9.1f %13.2fx" % (server, "yes" if preload else "no", n,
                                                        rss / 1024, pss / 1024, pss / base))


if __name__ == "__main__":
    main()
