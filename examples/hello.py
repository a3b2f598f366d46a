"""The smallest WSGI app: answers every request with "Hello, World!".

Serve it with:  cunicorn --chdir examples hello:app
"""

BODY = b"Hello, World!\n"


def app(environ, start_response):
    start_response("200 OK", [
        ("Content-Type", "text/plain; charset=utf-8"),
        ("Content-Length", str(len(BODY))),
    ])
    return [BODY]


# Gunicorn's default attribute name: `cunicorn hello` finds this one.
application = app
