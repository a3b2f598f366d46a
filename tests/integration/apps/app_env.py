"""Environ echo: returns the WSGI environ as JSON.

Query options: errors=MSG writes MSG to wsgi.errors; env=NAME adds os.environ[NAME];
read=1 reads the whole body and reports it.
"""
import json
import os
import sys
import urllib.parse


def _jsonable(v):
    if isinstance(v, (str, int, float, bool)) or v is None:
        return v
    if isinstance(v, tuple):
        return list(v)
    return "<%s>" % type(v).__name__


def app(environ, start_response):
    qs = urllib.parse.parse_qs(environ.get("QUERY_STRING", ""))
    out = {k: _jsonable(v) for k, v in environ.items()}
    out["_has_input_read"] = hasattr(environ.get("wsgi.input"), "read")
    out["_has_errors_write"] = hasattr(environ.get("wsgi.errors"), "write")
    out["_has_file_wrapper"] = callable(environ.get("wsgi.file_wrapper"))
    out["_pid"] = os.getpid()
    if "errors" in qs:
        environ["wsgi.errors"].write(qs["errors"][0] + "\n")
        environ["wsgi.errors"].flush()
    if "env" in qs:
        out["_os_environ"] = {n: os.environ.get(n) for n in qs["env"]}
    if "read" in qs:
        body = environ["wsgi.input"].read()
        out["_body"] = body.decode("latin-1")
    if "import" in qs:
        res = {}
        for name in qs["import"]:
            try:
                mod = __import__(name)
                res[name] = getattr(mod, "VALUE", "imported")
            except Exception as e:  # noqa
                res[name] = "ERROR: %r" % (e,)
        out["_import"] = res
    if "syspath" in qs:
        out["_sys_path"] = list(sys.path)
        out["_cwd"] = os.getcwd()
    body = json.dumps(out, sort_keys=True).encode("utf-8")
    start_response("200 OK", [("Content-Type", "application/json"),
                              ("Content-Length", str(len(body)))])
    return [body]


application = app
