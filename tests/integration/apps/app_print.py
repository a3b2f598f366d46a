"""Prints to stdout and stderr on every request (for capture_output), and
answers with its pid."""
import os
import sys


def app(environ, start_response):
    tag = environ.get("QUERY_STRING", "")
    print("stdout-from-app %s" % tag, flush=True)
    sys.stderr.write("stderr-from-app %s\n" % tag)
    sys.stderr.flush()
    body = b"%d" % os.getpid()
    start_response("200 OK", [("Content-Type", "text/plain"),
                              ("Content-Length", str(len(body)))])
    return [body]
