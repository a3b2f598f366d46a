"""One app serving many test endpoints, so a test module can share a server.

/__<name>[/...]  -> the app named in ROUTES; any other path -> environ echo.
"""
import app_body
import app_close
import app_env
import app_misc
import app_stream

ROUTES = {
    "body": app_body.app,
    "stream": app_stream.stream,
    "single": app_stream.single,
    "multi": app_stream.multi_list,
    "write": app_stream.write_app,
    "filewrapper": app_stream.file_wrapper,
    "filewrapper_nolen": app_stream.file_wrapper_nolen,
    "status": app_stream.status,
    "head_stream": app_stream.head_stream,
    "big": app_stream.big,
    "close": app_close.app,
    "sleep": app_misc.sleep,
    "pid": app_misc.pid,
    "headers": app_misc.echo_headers,
    "errors": app_misc.errors_write,
}
for _name in ("raise_before", "raise_after", "raise_after_cl", "bad_status", "crlf_header",
              "crlf_header_name", "hop_header", "double_start", "exc_info_restart",
              "exc_info_reraise", "not_iterable", "str_body"):
    ROUTES[_name] = getattr(app_misc, _name)


def app(environ, start_response):
    path = environ.get("PATH_INFO", "")
    if path.startswith("/__"):
        name = path[3:].split("/", 1)[0]
        target = ROUTES.get(name)
        if target is not None:
            return target(environ, start_response)
    return app_env.app(environ, start_response)


application = app
