/* wsgi_hooks.c - the per-request server hooks: pre_request(worker, req)
 * before the app, post_request(worker, req, environ, resp) after the
 * response, with req and resp shaped as Gunicorn's (src/py/boot.py builds
 * them from what C parsed and sent). cn_wsgi_serve calls in here only when
 * the config file defined one of the two, so an undefined hook costs a bit
 * test per request. */
#include "py/wsgi_internal.h"

#include "py/py_boot.h"
#include "py/py_hooks.h"

#include <string.h>

static PyObject *latin1(const char *s, size_t len)
{
    return PyUnicode_DecodeLatin1(s, (Py_ssize_t)len, NULL);
}

/* The request's header fields as [(NAME, value)], names upper-cased. */
static PyObject *request_headers(const cn_conn_t *c)
{
    PyObject *list = PyList_New(0);
    for (uint32_t i = 0; list != NULL && i < c->req.nheaders; i++) {
        const cn_http_header_t *h = &c->req.headers[i];
        PyObject *raw = latin1(cn_conn_span(c, h->name), h->name.len);
        PyObject *name = raw ? PyObject_CallMethod(raw, "upper", NULL) : NULL;
        PyObject *value = name ? latin1(cn_conn_span(c, h->value), h->value.len) : NULL;
        PyObject *pair = value ? PyTuple_Pack(2, name, value) : NULL;
        if (pair == NULL || PyList_Append(list, pair) < 0)
            Py_CLEAR(list);
        Py_XDECREF(pair);
        Py_XDECREF(value);
        Py_XDECREF(name);
        Py_XDECREF(raw);
    }
    return list;
}

static PyObject *span_str(const cn_conn_t *c, cn_span_t s)
{
    return latin1(cn_conn_span(c, s), s.len);
}

/* Gunicorn's req for c's request. New reference, or NULL with an exception. */
static PyObject *hook_request(const cn_conn_t *c, bool https)
{
    PyObject *type = cn_py_boot_func("Request");
    PyObject *headers = type ? request_headers(c) : NULL;
    PyObject *req = NULL;
    if (headers != NULL)
        req = PyObject_CallFunction(type, "NNNNNiOs(si)", span_str(c, c->req.method),
                                    span_str(c, c->req.target), span_str(c, c->req.path),
                                    span_str(c, c->req.query), span_str(c, c->req.fragment),
                                    (int)c->req.version_minor, headers,
                                    https ? "https" : "http", c->peer_host, c->peer_port);
    Py_XDECREF(headers);
    Py_XDECREF(type);
    return req;
}

/* Gunicorn's resp: the status and headers the app gave, body bytes sent. */
static PyObject *hook_response(const cn_wsgi_request_t *req)
{
    PyObject *headers = PyList_New((Py_ssize_t)req->nfields);
    for (size_t i = 0; headers != NULL && i < req->nfields; i++) {
        const cn_wsgi_field_t *f = &req->fields[i];
        const char *base = (const char *)req->hbytes.data;
        PyObject *pair = Py_BuildValue("(NN)", latin1(base + f->name_off, f->name_len),
                                       latin1(base + f->value_off, f->value_len));
        if (pair == NULL)
            Py_CLEAR(headers);
        else
            PyList_SET_ITEM(headers, (Py_ssize_t)i, pair); /* steals pair */
    }
    PyObject *type = headers ? cn_py_boot_func("Response") : NULL;
    PyObject *status = req->headers_set ? latin1((const char *)req->status_line.data,
                                                 req->status_line.len)
                                        : Py_NewRef(Py_None);
    PyObject *resp = type && status ? PyObject_CallFunction(type, "OOK", status, headers,
                                                            (unsigned long long)req->body_sent)
                                    : NULL;
    Py_XDECREF(status);
    Py_XDECREF(type);
    Py_XDECREF(headers);
    return resp;
}

bool cn_wsgi_hooks_wanted(void)
{
    return cn_py_hook_defined(CN_HOOK_PRE_REQUEST) || cn_py_hook_defined(CN_HOOK_POST_REQUEST);
}

int cn_wsgi_pre_request(cn_wsgi_request_t *req, bool https, PyObject **hook_req)
{
    *hook_req = hook_request(req->c, https);
    if (*hook_req == NULL)
        return -1;
    if (!cn_py_hook_defined(CN_HOOK_PRE_REQUEST))
        return 0;
    return cn_py_hook_run_request(CN_HOOK_PRE_REQUEST, req->w->opt.worker, *hook_req, NULL,
                                  NULL);
}

void cn_wsgi_post_request(cn_wsgi_request_t *req, PyObject *hook_req, PyObject *env)
{
    if (!cn_py_hook_defined(CN_HOOK_POST_REQUEST))
        return;
    PyObject *t, *v, *tb; /* an exception of the app's is not the hook's */
    PyErr_Fetch(&t, &v, &tb);
    /* As Gunicorn: before the environ exists (pre_request raised) the hook
     * gets an empty environ and resp None. */
    PyObject *environ = env ? Py_NewRef(env) : PyDict_New();
    PyObject *resp = env ? hook_response(req) : Py_NewRef(Py_None);
    if (environ == NULL || resp == NULL ||
        cn_py_hook_run_request(CN_HOOK_POST_REQUEST, req->w->opt.worker, hook_req, environ,
                               resp) < 0)
        cn_py_log_exception(CN_LOG_ERROR, "Exception in post_request hook");
    Py_XDECREF(resp);
    Py_XDECREF(environ);
    PyErr_Restore(t, v, tb);
}
