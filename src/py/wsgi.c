/* wsgi.c - one request through the app: environ, call, response, close(),
 * access log, keep-alive verdict (see wsgi.h).
 *
 * Error handling, in one place:
 *   app raises before the head was sent -> 500 (or the 4xx/408 wsgi.input
 *     ran into), traceback logged, connection closed;
 *   app raises after the head was sent  -> traceback logged, connection
 *     closed so the client sees a truncated response, never a second one;
 *   client went away while we wrote    -> logged at debug, closed;
 *   request_timeout took the request over -> already answered 503 (or cut)
 *     and logged with its stack: the exception is dropped. */
#include "py/wsgi_internal.h"

#include <string.h>
#include <time.h>
#include <unistd.h>

static int intern_strings(cn_py_strings_t *s);
static PyObject *make_template(cn_wsgi_t *w);
static int run_app(cn_wsgi_request_t *req, PyObject *env, PyObject *sr);
static int send_result(cn_wsgi_request_t *req, PyObject *result);
static int call_close(cn_wsgi_request_t *req, PyObject *result);
static void report_error(cn_wsgi_request_t *req);
static void access_log(cn_wsgi_request_t *req, PyObject *env, time_t when, double duration);
static const void *current_task(const cn_wsgi_t *w);

cn_wsgi_t *cn_wsgi_new(PyObject *app, const cn_wsgi_options_t *opt)
{
    cn_wsgi_t *w = cn_xcalloc(1, sizeof(*w));
    w->opt = *opt;
    w->script_name = cn_xstrdup(opt->script_name ? opt->script_name : "");
    w->app = Py_NewRef(app);
    if (cn_wsgi_types_ready() < 0 || intern_strings(&w->s) < 0 || cn_wsgi_sendfile_init(w) < 0)
        goto fail;
    w->errors = PyObject_CallNoArgs((PyObject *)&cn_ErrorsType);
    if (w->errors == NULL || (w->template = make_template(w)) == NULL)
        goto fail;
    return w;
fail:
    cn_wsgi_free(w);
    return NULL;
}

void cn_wsgi_free(cn_wsgi_t *w)
{
    if (w == NULL)
        return;
    PyObject **strings = (PyObject **)&w->s;
    for (size_t i = 0; i < sizeof(w->s) / sizeof(PyObject *); i++)
        Py_CLEAR(strings[i]);
    Py_CLEAR(w->app);
    Py_CLEAR(w->template);
    Py_CLEAR(w->errors);
    cn_wsgi_sendfile_clear(w);
    free(w->script_name);
    free(w);
}

static int intern_strings(cn_py_strings_t *s)
{
    static const char *const names[] = {
        "REQUEST_METHOD", "SCRIPT_NAME", "PATH_INFO", "QUERY_STRING", "RAW_URI",
        "SERVER_PROTOCOL", "SERVER_NAME", "SERVER_PORT", "REMOTE_ADDR", "REMOTE_PORT",
        "wsgi.input", "HTTP/1.0", "HTTP/1.1", "close", "wsgi.url_scheme", "https"};
    PyObject **slots = (PyObject **)s;
    _Static_assert(sizeof(names) / sizeof(names[0]) == sizeof(*s) / sizeof(PyObject *),
                   "one name per cn_py_strings_t member, in order");
    for (size_t i = 0; i < CN_ARRAY_LEN(names); i++)
        if ((slots[i] = PyUnicode_InternFromString(names[i])) == NULL)
            return -1;
    return 0;
}

/* The environ keys that are the same for every request of this worker. */
static PyObject *make_template(cn_wsgi_t *w)
{
    PyObject *t = Py_BuildValue(
        "{s:(ii),s:s,s:O,s:O,s:O,s:O,s:O,s:O,s:s}", "wsgi.version", 1, 0, "wsgi.url_scheme",
        "http", "wsgi.errors", w->errors, "wsgi.multithread",
        w->opt.multithread ? Py_True : Py_False, "wsgi.multiprocess", Py_True, "wsgi.run_once",
        Py_False, "wsgi.input_terminated", Py_True, "wsgi.file_wrapper",
        (PyObject *)&cn_FileWrapperType, "SERVER_SOFTWARE", CN_SERVER_SOFTWARE);
    return t;
}

/* The scheme a trusted front end reports; -1 (request answered 400) when
 * its headers contradict each other. */
static int request_scheme(cn_wsgi_t *w, cn_conn_t *c, bool *https)
{
    *https = false;
    if (!c->peer_trusted)
        return 0;
    if (cn_scheme_from_request(w->opt.scheme_headers, &c->req, c->rbuf.data, https) == 0)
        return 0;
    (void)cn_conn_fail(c, 400, "contradictory secure scheme headers");
    CN_WSGI_IO(w, cn_conn_reject(c));
    cn_wsgi_drop_thrown();
    return -1;
}

bool cn_wsgi_serve(cn_wsgi_t *w, cn_conn_t *c, bool may_keep_alive)
{
    bool https;
    if (request_scheme(w, c, &https) < 0)
        return false;
    /* On the heap, not the C stack: a greenlet's stack is swapped out while
     * it waits, and the objects given to the app point here. */
    cn_wsgi_request_t *req = cn_xcalloc(1, sizeof(*req));
    req->owner = PyThread_get_thread_ident();
    req->owner_task = current_task(w);
    req->w = w;
    req->c = c;
    req->framing.version_minor = c->req.version_minor;
    req->framing.head_request = c->req.method.len == 4 &&
                                memcmp(cn_conn_span(c, c->req.method), "HEAD", 4) == 0;
    req->framing.may_keep_alive = may_keep_alive && c->req.keep_alive;
    double start = cn_now();
    time_t when = time(NULL);
    cn_metrics_in_flight(c->metrics, 1);
    cn_metrics_wait(c->metrics, start - c->head_at);

    PyObject *hook_req = NULL; /* strong: Gunicorn's req, if a request hook wants it */
    bool hooks = cn_wsgi_hooks_wanted();
    bool ok = !hooks || cn_wsgi_pre_request(req, https, &hook_req) == 0;
    PyObject *input = ok ? cn_wsgi_input_new(req) : NULL;
    PyObject *sr = input ? cn_wsgi_start_response_new(req) : NULL;
    PyObject *env = input && sr ? cn_wsgi_environ(w, c, input, https) : NULL;
    ok = env != NULL && run_app(req, env, sr) == 0;
    if (!ok)
        report_error(req);
    if (hook_req != NULL)
        cn_wsgi_post_request(req, hook_req, env);
    Py_XDECREF(hook_req);
    double end = cn_access_log_enabled() || c->metrics != NULL ? cn_now() : 0;
    if (cn_access_log_enabled() && env != NULL)
        access_log(req, env, when, end - start);
    if (c->metrics != NULL) {
        enum cn_metrics_method m =
            cn_metrics_method(cn_conn_span(c, c->req.method), c->req.method.len);
        cn_metrics_request(c->metrics, m, req->status, end - c->head_at);
        cn_metrics_in_flight(c->metrics, -1);
    }

    if (input != NULL)
        cn_wsgi_input_detach(input);
    if (sr != NULL)
        cn_wsgi_start_response_detach(sr);
    Py_XDECREF(env);
    Py_XDECREF(input);
    Py_XDECREF(sr);

    bool keep = ok && req->framing.keep_alive;
    if (keep) {
        int rc;
        CN_WSGI_IO(req->w, rc = cn_conn_body_drain(c, 1 << 20));
        cn_wsgi_drop_thrown();
        keep = rc == 0;
    }
    cn_buf_free(&req->status_line);
    cn_buf_free(&req->hbytes);
    free(req->fields);
    free(req);
    return keep;
}

int cn_wsgi_request_check(const cn_wsgi_request_t *req, const char *what)
{
    if (req == NULL) {
        PyErr_Format(PyExc_ValueError, "%s used after its request ended", what);
        return -1;
    }
    if (req->owner != PyThread_get_thread_ident()) {
        /* The connection's I/O belongs to the thread serving it. */
        PyErr_Format(PyExc_ValueError, "%s used from another thread than the request's", what);
        return -1;
    }
    if (req->owner_task != current_task(req->w)) {
        /* ... and to its coroutine (opt.current_task): another one could
         * still be waiting on the connection when the request ends and the
         * connection is reused or freed. */
        PyErr_Format(PyExc_ValueError, "%s used from another coroutine than the request's", what);
        return -1;
    }
    return 0;
}

/* The running coroutine's identity, or NULL (none, or the hook failed). */
static const void *current_task(const cn_wsgi_t *w)
{
    if (w->opt.current_task == NULL)
        return NULL;
    PyObject *task = PyObject_CallNoArgs(w->opt.current_task);
    if (task == NULL)
        PyErr_Clear(); /* the hooks in use (gevent.getcurrent) do not fail */
    Py_XDECREF(task); /* the identity outlives the reference: the serving
                         coroutine is alive while its request is */
    return task;
}

/* Call the app and send what it returns; close() is always called on the
 * result. 0, or -1 with an exception set. */
static int run_app(cn_wsgi_request_t *req, PyObject *env, PyObject *sr)
{
    PyObject *result = PyObject_CallFunctionObjArgs(req->w->app, env, sr, NULL);
    if (result == NULL)
        return -1;
    int rc = send_result(req, result);
    if (call_close(req, result) < 0)
        rc = -1;
    Py_DECREF(result);
    if (rc == 0 && cn_wsgi_finish(req) < 0)
        rc = -1;
    return rc;
}

static int send_item(cn_wsgi_request_t *req, PyObject *item, const uint64_t *known)
{
    if (!PyBytes_Check(item)) {
        PyErr_Format(PyExc_TypeError, "the app must yield bytes, not %.100s",
                     Py_TYPE(item)->tp_name);
        return -1;
    }
    return cn_wsgi_send(req, PyBytes_AS_STRING(item), (size_t)PyBytes_GET_SIZE(item), known);
}

static int send_result(cn_wsgi_request_t *req, PyObject *result)
{
    if (Py_IS_TYPE(result, &cn_FileWrapperType)) {
        int rc = cn_wsgi_send_file(req, result);
        if (rc != CN_WSGI_ITERATE)
            return rc;
    }
    /* A one-element list or tuple is the whole body: its length is known,
     * so it gets a Content-Length instead of chunked encoding. */
    if ((PyList_CheckExact(result) || PyTuple_CheckExact(result)) &&
        PySequence_Fast_GET_SIZE(result) == 1 && !req->headers_sent) {
        /* strong: the send releases the GIL, and the list is the app's */
        PyObject *item = Py_NewRef(PySequence_Fast_GET_ITEM(result, 0));
        uint64_t len = PyBytes_Check(item) ? (uint64_t)PyBytes_GET_SIZE(item) : 0;
        int rc = send_item(req, item, &len);
        Py_DECREF(item);
        return rc;
    }
    PyObject *it = PyObject_GetIter(result), *item;
    if (it == NULL)
        return -1;
    while ((item = PyIter_Next(it)) != NULL) {
        int rc = send_item(req, item, NULL);
        Py_DECREF(item);
        if (rc < 0) {
            Py_DECREF(it);
            return -1;
        }
    }
    Py_DECREF(it);
    return PyErr_Occurred() ? -1 : 0;
}

/* result.close(), keeping an exception already being handled. */
static int call_close(cn_wsgi_request_t *req, PyObject *result)
{
    PyObject *t, *v, *tb;
    PyErr_Fetch(&t, &v, &tb);
    int rc = 0;
    PyObject *close = PyObject_GetAttr(result, req->w->s.close);
    if (close == NULL) {
        if (PyErr_ExceptionMatches(PyExc_AttributeError))
            PyErr_Clear(); /* no close(): nothing to call */
        else
            rc = -1;
    } else {
        PyObject *r = PyObject_CallNoArgs(close);
        rc = r ? 0 : -1;
        Py_XDECREF(r);
        Py_DECREF(close);
    }
    if (t != NULL) {
        if (rc < 0)
            cn_py_log_exception(CN_LOG_ERROR, "Error in close() of the response");
        PyErr_Restore(t, v, tb);
        return -1;
    }
    return rc;
}

static void report_error(cn_wsgi_request_t *req)
{
    cn_conn_t *c = req->c;
    if (cn_conn_deadline_hit(c)) { /* answered 503 or cut, and logged, by the deadline */
        PyErr_Clear();
        if (!req->headers_sent)
            req->status = 503;
        cn_log_info("Request %.*s ended after its deadline", (int)c->req.target.len,
                    cn_conn_span(c, c->req.target));
        return;
    }
    if (req->write_failed && !req->write_interrupted) {
        PyErr_Clear();
        cn_log_debug("Ignoring connection error: the client went away");
        return;
    }
    if (PyErr_Occurred() && !PyErr_ExceptionMatches(PyExc_Exception)) {
        /* SystemExit, GreenletExit, KeyboardInterrupt: the worker is
         * quitting (INT/QUIT, or the app asked for it). As Gunicorn: no
         * traceback and no answer. */
        PyErr_Clear();
        cn_log_info("Request %.*s interrupted: the worker is exiting", (int)c->req.target.len,
                    cn_conn_span(c, c->req.target));
        return;
    }
    char msg[160];
    snprintf(msg, sizeof(msg), "Error handling request %.*s", (int)c->req.target.len,
             cn_conn_span(c, c->req.target));
    cn_py_log_exception(CN_LOG_ERROR, msg);
    if (!req->headers_sent && !req->write_failed) {
        req->status = req->body_error ? req->body_error : 500;
        CN_WSGI_IO(req->w, cn_conn_send_error(c, req->status));
        cn_wsgi_drop_thrown();
    }
}

typedef struct {
    cn_wsgi_request_t *req;
    PyObject *env;
} access_ctx_t;

static const char *access_lookup(void *ctx, char kind, const char *name, size_t nlen,
                                 size_t *len)
{
    access_ctx_t *a = ctx;
    const cn_conn_t *c = a->req->c;
    if (kind == 'o')
        return cn_wsgi_response_header(a->req, name, nlen, len);
    if (kind == 'i') {
        const cn_http_header_t *h = cn_http_request_header(&c->req, c->rbuf.data, name, nlen);
        if (h == NULL)
            return NULL;
        *len = h->value.len;
        return cn_conn_span(c, h->value);
    }
    PyObject *key = PyUnicode_FromStringAndSize(name, (Py_ssize_t)nlen);
    PyObject *v = key ? cn_py_dict_get(a->env, key) : NULL; /* strong, or NULL */
    Py_XDECREF(key);
    Py_ssize_t n = 0;
    const char *s = v && PyUnicode_Check(v) ? PyUnicode_AsUTF8AndSize(v, &n) : NULL;
    Py_XDECREF(v); /* the UTF-8 cache lives as long as the environ holds v */
    PyErr_Clear();
    *len = (size_t)n;
    return s;
}

static void access_log(cn_wsgi_request_t *req, PyObject *env, time_t when, double duration)
{
    const cn_conn_t *c = req->c;
    access_ctx_t ctx = {req, env};
    cn_access_entry_t e = {
        .remote_addr = c->peer_host,
        .method = cn_conn_span(c, c->req.method),
        .method_len = c->req.method.len,
        .raw_uri = cn_conn_span(c, c->req.target),
        .raw_uri_len = c->req.target.len,
        .path = cn_conn_span(c, c->req.path),
        .path_len = c->req.path.len,
        .query = cn_conn_span(c, c->req.query),
        .query_len = c->req.query.len,
        .protocol = c->req.version_minor == 0 ? "HTTP/1.0" : "HTTP/1.1",
        .status = req->status,
        .sent = req->headers_sent ? (int64_t)req->body_sent : -1,
        .when = when,
        .duration = duration,
        .pid = getpid(),
        .lookup = access_lookup,
        .lookup_ctx = &ctx,
    };
    cn_access_log_write(&e);
}
