"""Records every import of itself, and keeps a thread busy with the import
machinery, so that a fork taken at any moment would catch the import lock
held unless the server follows CPython's fork protocol; the thread must go
on running in the master, as it would under Gunicorn.

$PRELOAD_MARKS: the file each import appends its pid to.
"""
import importlib
import os
import threading
import time

with open(os.environ["PRELOAD_MARKS"], "a") as _f:
    _f.write("%d\n" % os.getpid())

_spins = [0]


def _churn():
    while True:
        importlib.invalidate_caches()
        importlib.import_module("json")
        _spins[0] += 1
        if _spins[0] % 200 == 0 and os.environ.get("PRELOAD_SPINS"):
            with open(os.environ["PRELOAD_SPINS"], "w") as f:
                f.write("%d %d" % (os.getpid(), _spins[0]))
        time.sleep(0.0005)


threading.Thread(target=_churn, daemon=True, name="churn").start()


def app(environ, start_response):
    importlib.invalidate_caches()
    importlib.import_module("decimal")  # hangs if the import lock was inherited held
    body = b"%d" % os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
