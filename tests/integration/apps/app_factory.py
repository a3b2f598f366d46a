def make_app(arg, suffix="!"):
    body = ("factory:%s%s" % (arg, suffix)).encode()

    def app(environ, start_response):
        start_response("200 OK", [("Content-Type", "text/plain"),
                                  ("Content-Length", str(len(body)))])
        return [body]
    return app


def make_default():
    return make_app("noargs")
