"""Serves one file through wsgi.file_wrapper, as a framework's send_file
does: cunicorn sends it with sendfile(2).

Serve it with:  SERVE_FILE=/path/to/file cunicorn --chdir examples file_wrapper:app
(without SERVE_FILE it serves this file). tests/bench/bench_file.py uses it.
"""
import os

PATH = os.environ.get("SERVE_FILE") or os.path.abspath(__file__)


def app(environ, start_response):
    f = open(PATH, "rb")
    start_response("200 OK", [
        ("Content-Type", "application/octet-stream"),
        ("Content-Length", str(os.fstat(f.fileno()).st_size)),
    ])
    return environ["wsgi.file_wrapper"](f)
