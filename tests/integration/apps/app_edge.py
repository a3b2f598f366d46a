"""Apps that break the WSGI rules in ways a server must survive.

/short          declares Content-Length: 100 and sends 5 bytes
/empty-first    yields b"" (no headers sent yet), then replaces the status
                with start_response(..., exc_info) and sends an error body
/input-thread   reads wsgi.input from another thread; answers with what
                that read raised
"""
import sys
import threading


def app(environ, start_response):
    path = environ["PATH_INFO"]
    if path == "/short":
        start_response("200 OK", [("Content-Length", "100")])
        return [b"hello"]
    if path == "/empty-first":
        return _empty_first(environ, start_response)
    if path == "/input-thread":
        seen = []

        def read():
            try:
                environ["wsgi.input"].read(1)
                seen.append("no error")
            except Exception as e:  # what the server refuses with
                seen.append(type(e).__name__)

        t = threading.Thread(target=read)
        t.start()
        t.join(5)
        body = (seen[0] if seen else "thread hung").encode()
        start_response("200 OK", [("Content-Length", str(len(body)))])
        return [body]
    start_response("404 Not Found", [("Content-Length", "0")])
    return [b""]


def _empty_first(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    yield b""
    try:
        raise RuntimeError("changed my mind")
    except RuntimeError:
        start_response("503 Service Unavailable", [("Content-Type", "text/plain")],
                       sys.exc_info())
    yield b"retry later"
