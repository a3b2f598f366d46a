"""prometheus_client in multiprocess mode, as its docs set it up under
Gunicorn: every worker marks itself live at import; /metrics sums the live
workers over PROMETHEUS_MULTIPROC_DIR."""
import os

from prometheus_client import CollectorRegistry, Gauge, generate_latest, multiprocess

LIVE = Gauge("workers_live", "Workers alive", multiprocess_mode="livesum")
LIVE.set(1)


def app(environ, start_response):
    registry = CollectorRegistry()
    multiprocess.MultiProcessCollector(registry)
    body = generate_latest(registry)
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body))),
                              ("X-Pid", str(os.getpid()))])
    return [body]
