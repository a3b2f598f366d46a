"""An I/O-bound app: every request waits 50 ms (time.sleep stands for a
database or HTTP call) before answering.

Under the gevent worker, time.sleep is monkey-patched, so one worker overlaps
many of these waits:

    cunicorn -k gevent --worker-connections 1000 --chdir examples slow_io:app
"""
import time

BODY = b"done\n"


def app(environ, start_response):
    time.sleep(0.05)
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(BODY)))])
    return [BODY]


application = app
