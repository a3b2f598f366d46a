"""Concurrency test app for the gthread / gevent integration tests.

Routes (all answer with a Content-Length body):
  /echo/<anything>   body = the request path (used to check pipelining order)
  /fast              body = b"fast"
  /sleep?s=SEC       time.sleep(SEC) then body = b"slept" (gevent: patched sleep)
  /block             time.sleep(5) then body = b"blocked"
  /rawsleep?s=SEC    sleeps with the *original* (non-patched) select.select when
                     gevent is loaded, so it blocks the whole worker
  /record?s=SEC&file=PATH
                     appends "start <t>" to PATH, sleeps SEC, appends "end <t>"
  /fetch?url=URL     urllib.request.urlopen(URL).read() and returns it
  /env               JSON of wsgi.multithread / wsgi.multiprocess / pid / thread
  /read-timeout?s=SEC
                     reads wsgi.input inside the app's own gevent.Timeout(SEC);
                     body = b"app timeout" if that Timeout reached the app
  /greenlet          JSON: is the serving greenlet a gevent.Greenlet, and does
                     gevent.local keep per-request values across a switch
  /write-timeout?s=SEC
                     write()s 64 MiB inside the app's own gevent.Timeout(SEC) and
                     logs to wsgi.errors whether that Timeout reached the app
"""
import json
import os
import sys
import threading
import time
import urllib.parse
import urllib.request


def _qs(environ):
    return urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))


def _respond(start_response, body, ctype="text/plain"):
    if isinstance(body, str):
        body = body.encode("utf-8")
    start_response("200 OK", [("Content-Type", ctype), ("Content-Length", str(len(body)))])
    return [body]


def _raw_select():
    if "gevent" in sys.modules:
        try:
            from gevent import monkey
            return monkey.get_original("select", "select")
        except Exception:  # noqa
            pass
    import select
    return select.select


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    qs = _qs(environ)
    if path.startswith("/echo/"):
        return _respond(start_response, path)
    if path == "/fast":
        return _respond(start_response, "fast")
    if path == "/sleep":
        time.sleep(float(qs.get("s", ["0.5"])[0]))
        return _respond(start_response, "slept")
    if path == "/block":
        time.sleep(float(qs.get("s", ["5"])[0]))
        return _respond(start_response, "blocked")
    if path == "/rawsleep":
        sec = float(qs.get("s", ["0.3"])[0])
        _raw_select()([], [], [], sec)
        return _respond(start_response, "rawslept")
    if path == "/record":
        sec = float(qs.get("s", ["1"])[0])
        fn = qs["file"][0]
        tag = qs.get("id", ["?"])[0]
        with open(fn, "a") as f:
            f.write("start %s %.6f\n" % (tag, time.time()))
        time.sleep(sec)
        with open(fn, "a") as f:
            f.write("end %s %.6f\n" % (tag, time.time()))
        return _respond(start_response, "recorded")
    if path == "/fetch":
        url = qs["url"][0]
        with urllib.request.urlopen(url, timeout=10) as r:
            data = r.read()
        return _respond(start_response, data)
    if path == "/read-timeout":
        import gevent
        try:
            with gevent.Timeout(float(qs.get("s", ["0.5"])[0])):
                environ["wsgi.input"].read()
            return _respond(start_response, "read all")
        except gevent.Timeout:
            return _respond(start_response, "app timeout")
    if path == "/write-timeout":
        import gevent
        write = start_response("200 OK", [("Content-Type", "application/octet-stream")])
        try:
            with gevent.Timeout(float(qs.get("s", ["0.5"])[0])):
                for _ in range(64):
                    write(b"x" * (1 << 20))
            environ["wsgi.errors"].write("app wrote everything\n")
        except gevent.Timeout:
            environ["wsgi.errors"].write("app caught its write timeout\n")
        environ["wsgi.errors"].flush()
        return []
    if path == "/greenlet":
        import gevent
        import gevent.local
        local = _greenlet_local(gevent)
        local.tag = qs.get("tag", [""])[0]
        gevent.sleep(0.2)  # other requests run and set their own tag
        out = {"is_gevent_greenlet": isinstance(gevent.getcurrent(), gevent.Greenlet),
               "tag": local.tag}
        return _respond(start_response, json.dumps(out), "application/json")
    if path == "/env":
        out = {
            "multithread": environ.get("wsgi.multithread"),
            "multiprocess": environ.get("wsgi.multiprocess"),
            "run_once": environ.get("wsgi.run_once"),
            "pid": os.getpid(),
            "thread": threading.get_ident(),
            "gevent_loaded": "gevent" in sys.modules,
            "time_sleep_patched": _sleep_patched(),
        }
        return _respond(start_response, json.dumps(out), "application/json")
    start_response("404 Not Found", [("Content-Type", "text/plain"), ("Content-Length", "9")])
    return [b"not found"]


_LOCAL = []


def _greenlet_local(gevent):
    if not _LOCAL:
        _LOCAL.append(gevent.local.local())
    return _LOCAL[0]


def _sleep_patched():
    if "gevent" not in sys.modules:
        return False
    try:
        from gevent import monkey
        return monkey.is_module_patched("time")
    except Exception:  # noqa
        return None


application = app
