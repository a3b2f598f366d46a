#!/usr/bin/python3
"""cunicorn vs gunicorn throughput/latency/CPU benchmark (see README.md).

Usage: bench.py [DURATION_SECONDS]
Env:   CUNICORN_BIN (default <repo>/build/cunicorn), GUNICORN_BIN (/usr/bin/gunicorn),
       CLASSES ("sync"; e.g. "sync gthread gevent"), THREADS (4, gthread),
       CONNS (50), WORKER_CONNECTIONS (1000, gevent), SERVERS ("cunicorn gunicorn"),
       MODES ("keepalive close"), SERVER_CPU (0), WRK_CPU (1),
       APP ("hello:app"; any app in examples/, e.g. "slow_io:app", which sleeps 50 ms:
       the notes column then shows the ideal rate, connections / 0.05 s),
       WORKERS (1), MAX_REQUESTS (unset; e.g. 50: the rate while workers are
       recycled every 50 requests, and wrk's socket errors in the notes)
"""
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))
EXAMPLES = os.path.join(REPO, "examples")
CLK_TCK = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def children(pid):
    kids = []
    for ent in os.listdir("/proc"):
        if not ent.isdigit():
            continue
        try:
            with open("/proc/%s/stat" % ent) as f:
                data = f.read()
        except OSError:
            continue
        fields = data[data.rfind(")") + 2:].split()
        if int(fields[1]) == pid:
            kids.append(int(ent))
    return kids


def cpu_ticks(pid):
    try:
        with open("/proc/%d/stat" % pid) as f:
            data = f.read()
    except OSError:
        return 0
    fields = data[data.rfind(")") + 2:].split()
    return int(fields[11]) + int(fields[12])  # utime + stime


def tree_ticks(pid):
    return cpu_ticks(pid) + sum(cpu_ticks(k) for k in children(pid))


def to_ms(v):
    m = re.match(r"^([\d.]+)(us|ms|s|m)$", v)
    if not m:
        return float("nan")
    x, u = float(m.group(1)), m.group(2)
    return {"us": x / 1000, "ms": x, "s": x * 1000, "m": x * 60000}[u]


def parse_wrk(out):
    res = {"rps": float("nan"), "avg_ms": float("nan"), "p99_ms": float("nan"), "requests": 0,
           "errors": ""}
    m = re.search(r"Requests/sec:\s+([\d.]+)", out)
    if m:
        res["rps"] = float(m.group(1))
    m = re.search(r"^\s*Latency\s+(\S+)\s+(\S+)\s+(\S+)", out, re.M)
    if m:
        res["avg_ms"] = to_ms(m.group(1))
    m = re.search(r"^\s*99%\s+(\S+)", out, re.M)
    if m:
        res["p99_ms"] = to_ms(m.group(1))
    m = re.search(r"(\d+) requests in", out)
    if m:
        res["requests"] = int(m.group(1))
    errs = []
    m = re.search(r"Socket errors: (.*)", out)
    if m:
        errs.append("socket errors: " + m.group(1).strip())
    m = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    if m:
        errs.append("non-2xx: " + m.group(1))
    res["errors"] = "; ".join(errs)
    return res


class Server:
    def __init__(self, binary, klass, logdir, cpu, extra=()):
        self.port = free_port()
        cmd = []
        if cpu is not None:
            cmd += ["taskset", "-c", str(cpu)]
        cmd += [binary, "-k", klass, "-w", os.environ.get("WORKERS", "1"),
                "-b", "127.0.0.1:%d" % self.port,
                "--chdir", EXAMPLES, "--log-level", "warning", "--graceful-timeout", "5"]
        if klass == "gthread":
            cmd += ["--threads", os.environ.get("THREADS", "4")]
        if klass == "gevent":
            cmd += ["--worker-connections", os.environ.get("WORKER_CONNECTIONS", "1000")]
        if os.environ.get("MAX_REQUESTS"):
            cmd += ["--max-requests", os.environ["MAX_REQUESTS"]]
        cmd += list(extra)
        cmd.append(os.environ.get("APP", "hello:app"))
        self.cmd = cmd
        self.log = open(os.path.join(logdir, "%s-%s-%d.log" % (os.path.basename(binary), klass,
                                                               self.port)), "wb")
        env = dict(os.environ)
        for k in ("WEB_CONCURRENCY", "GUNICORN_CMD_ARGS", "CUNICORN_CMD_ARGS", "PORT"):
            env.pop(k, None)
        self.proc = subprocess.Popen(cmd, stdout=self.log, stderr=subprocess.STDOUT, env=env,
                                     stdin=subprocess.DEVNULL, cwd=logdir)
        self.pid = self.proc.pid

    def wait_ready(self, timeout=20, path="/"):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return False
            try:
                with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
                    s.settimeout(5)
                    s.sendall(b"GET %s HTTP/1.0\r\n\r\n" % path.encode())
                    data = b""
                    while True:
                        d = s.recv(4096)
                        if not d:
                            break
                        data += d
                    if data.startswith(b"HTTP/1.") and b" 200 " in data.split(b"\r\n", 1)[0]:
                        return True
            except OSError:
                pass
            time.sleep(0.1)
        return False

    def stop(self):
        kids = children(self.pid)
        if self.proc.poll() is None:
            os.kill(self.pid, signal.SIGTERM)
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                os.kill(self.pid, signal.SIGKILL)
                self.proc.wait(5)
        for k in kids:  # workers of the master we started, if any survived
            try:
                os.kill(k, signal.SIGKILL)
            except ProcessLookupError:
                pass
        self.log.close()


def run_one(name, binary, klass, mode, duration, logdir, server_cpu, wrk_cpu, conns):
    # "cunicorn+metrics": the same binary with --metrics-bind on (METRICS=1)
    extra = ["--metrics-bind", "127.0.0.1:%d" % free_port()] if name.endswith("+metrics") else []
    srv = Server(binary, klass, logdir, server_cpu, extra)
    return measure(srv, name, klass, mode, duration, logdir, wrk_cpu, conns)


def measure(srv, name, klass, mode, duration, logdir, wrk_cpu, conns, path="/"):
    """Run wrk against a started server (anything with port, pid, log,
    wait_ready(path=) and stop()), which it stops at the end; one row."""
    row = {"server": name, "class": klass, "mode": mode, "rps": float("nan"),
           "avg_ms": float("nan"), "p99_ms": float("nan"), "cpu_us": float("nan"), "errors": ""}
    try:
        if not srv.wait_ready(path=path):
            row["errors"] = "server did not start (see %s)" % srv.log.name
            return row
        before = tree_ticks(srv.pid)
        cmd = []
        if wrk_cpu is not None:
            cmd += ["taskset", "-c", str(wrk_cpu)]
        cmd += ["wrk", "-t1", "-c%d" % conns, "-d%ds" % duration, "--latency"]
        if mode == "close":
            cmd += ["-H", "Connection: close"]
        cmd.append("http://127.0.0.1:%d%s" % (srv.port, path))
        try:
            p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               timeout=duration + 30)
            out = p.stdout.decode(errors="replace")
        except subprocess.TimeoutExpired:
            out = ""
            row["errors"] = "wrk timed out"
        after = tree_ticks(srv.pid)
        res = parse_wrk(out)
        row.update({k: res[k] for k in ("rps", "avg_ms", "p99_ms")})
        row["errors"] = row["errors"] or res["errors"]
        if os.environ.get("APP", "").startswith("slow_io"):
            ideal = conns / 0.05
            row["errors"] = (row["errors"] + " " if row["errors"] else "") + \
                "%.2f of ideal %.0f req/s" % (res["rps"] / ideal, ideal)
        if res["requests"]:
            row["cpu_us"] = (after - before) / CLK_TCK * 1e6 / res["requests"]
        with open(os.path.join(logdir, "wrk-%s-%s-%s.txt" % (name, klass, mode)), "w") as f:
            f.write(" ".join(cmd) + "\n" + out)
    finally:
        srv.stop()
    return row


def fmt(v, spec):
    return "-" if v != v else format(v, spec)


def main():
    duration = int(sys.argv[1]) if len(sys.argv) > 1 else 10
    duration = max(1, min(duration, 600))
    cun = os.environ.get("CUNICORN_BIN") or os.path.join(REPO, "build", "cunicorn")
    gun = os.environ.get("GUNICORN_BIN") or "/usr/bin/gunicorn"
    classes = os.environ.get("CLASSES", "sync").split()
    modes = os.environ.get("MODES", "keepalive close").split()
    wanted = os.environ.get("SERVERS", "cunicorn gunicorn").split()
    conns = int(os.environ.get("CONNS", "50"))
    ncpu = len(os.sched_getaffinity(0))
    server_cpu = int(os.environ.get("SERVER_CPU", "0"))
    wrk_cpu = int(os.environ.get("WRK_CPU", "1"))
    if ncpu < 2:
        print("warning: fewer than 2 CPUs, not pinning wrk/server apart", file=sys.stderr)
        server_cpu = wrk_cpu = None
    if not shutil.which("wrk"):
        sys.exit("wrk not found")
    servers = []
    for name, binary in (("cunicorn", cun), ("gunicorn", gun)):
        if name not in wanted:
            continue
        if os.access(binary, os.X_OK):
            servers.append((name, binary))
        else:
            print("warning: %s not executable at %s, skipped" % (name, binary), file=sys.stderr)
    if os.environ.get("METRICS") == "1" and os.access(cun, os.X_OK):
        servers.insert(1, ("cunicorn+metrics", cun))
    logdir = tempfile.mkdtemp(prefix="cunicorn-bench-")
    rows = []
    for klass in classes:
        for name, binary in servers:
            for mode in modes:
                print("running %s %s %s (%ds)..." % (name, klass, mode, duration), file=sys.stderr)
                rows.append(run_one(name, binary, klass, mode, duration, logdir, server_cpu,
                                    wrk_cpu, conns))
    hdr = "%-16s %-8s %-10s %12s %10s %10s %12s %9s  %s" % (
        "server", "class", "mode", "req/s", "avg ms", "p99 ms", "cpu us/req", "ratio", "notes")
    print(hdr)
    print("-" * len(hdr))
    base = {(r["class"], r["mode"]): r["rps"] for r in rows if r["server"] == "gunicorn"}
    plain = {(r["class"], r["mode"]): r["rps"] for r in rows if r["server"] == "cunicorn"}
    for r in rows:
        g = base.get((r["class"], r["mode"]))
        ratio = r["rps"] / g if (r["server"] == "cunicorn" and g and g == g and g > 0) else float("nan")
        print("%-16s %-8s %-10s %12s %10s %10s %12s %9s  %s" % (
            r["server"], r["class"], r["mode"], fmt(r["rps"], ".1f"), fmt(r["avg_ms"], ".3f"),
            fmt(r["p99_ms"], ".3f"), fmt(r["cpu_us"], ".1f"),
            ("%.2fx" % ratio) if ratio == ratio else "-", r["errors"]))
    for r in rows:
        p = plain.get((r["class"], r["mode"]))
        if r["server"] == "cunicorn+metrics" and p and p == p and r["rps"] == r["rps"]:
            print("metrics on/off %s %s: %.3f (%+.1f%%)" % (r["class"], r["mode"], r["rps"] / p,
                                                          (r["rps"] / p - 1) * 100))
    print("\nratio = cunicorn req/s / gunicorn req/s (same class and mode); logs and raw wrk "
          "output in %s" % logdir)


if __name__ == "__main__":
    main()
