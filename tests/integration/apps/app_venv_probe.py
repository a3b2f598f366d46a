def app(environ, start_response):
    try:
        import venv_only_module
        body = ("venv:%s" % venv_only_module.VALUE).encode()
    except ImportError as e:
        body = ("import failed: %s" % e).encode()
    start_response("200 OK", [("Content-Type", "text/plain"), ("Content-Length", str(len(body)))])
    return [body]
