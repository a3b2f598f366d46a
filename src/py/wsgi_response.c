/* wsgi_response.c - start_response, the write() callable, and putting the
 * response on the wire.
 *
 * start_response validates everything before storing it: a status or
 * header that could split the response (CR, LF, NUL), a bad header name or
 * a hop-by-hop header raises, so it never reaches the wire and the app's
 * error turns into a 500. The head is sent with the first body bytes (one
 * writev), or at the end for an empty body. */
#include "py/wsgi_internal.h"

#include <errno.h>
#include <string.h>

typedef struct {
    PyObject_HEAD cn_wsgi_request_t *req; /* borrowed; NULL after the request */
} cn_start_response_t;

static int store_status(cn_wsgi_request_t *req, PyObject *status);
static int store_headers(cn_wsgi_request_t *req, PyObject *headers);
static int store_header(cn_wsgi_request_t *req, PyObject *item);
static int send_iov(cn_wsgi_request_t *req, struct iovec *iov, int n);

PyObject *cn_wsgi_start_response_new(cn_wsgi_request_t *req)
{
    cn_start_response_t *self = PyObject_New(cn_start_response_t, &cn_StartResponseType);
    if (self != NULL)
        self->req = req;
    return (PyObject *)self;
}

void cn_wsgi_start_response_detach(PyObject *sr) { ((cn_start_response_t *)sr)->req = NULL; }

/* start_response(status, headers, exc_info=None) -> write */
static PyObject *sr_call(cn_start_response_t *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"status", "headers", "exc_info", NULL};
    PyObject *status, *headers, *exc_info = Py_None;
    cn_wsgi_request_t *req = self->req;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "OO|O:start_response", kwlist, &status,
                                     &headers, &exc_info))
        return NULL;
    if (cn_wsgi_request_check(req, "start_response") < 0)
        return NULL;
    if (exc_info != Py_None) {
        if (req->headers_sent) {
            /* PEP 3333: too late to change the response; re-raise. */
            PyObject *t, *v, *tb;
            if (!PyArg_ParseTuple(exc_info, "OOO", &t, &v, &tb))
                return NULL;
            if (!PyExceptionInstance_Check(v)) {
                PyErr_SetString(PyExc_TypeError, "exc_info must hold an exception");
                return NULL;
            }
            if (tb != Py_None && PyException_SetTraceback(v, tb) < 0)
                return NULL;
            PyErr_SetObject((PyObject *)Py_TYPE(v), v);
            return NULL;
        }
    } else if (req->headers_set) {
        PyErr_SetString(PyExc_AssertionError, "Response headers already set!");
        return NULL;
    }
    req->headers_set = false;
    if (store_status(req, status) < 0 || store_headers(req, headers) < 0)
        return NULL;
    req->headers_set = true;
    return PyObject_GetAttrString((PyObject *)self, "write");
}

static int store_status(cn_wsgi_request_t *req, PyObject *status)
{
    Py_ssize_t len;
    const char *s = PyUnicode_Check(status) ? PyUnicode_AsUTF8AndSize(status, &len) : NULL;
    if (s == NULL) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "status must be a str, not %.100s",
                         Py_TYPE(status)->tp_name);
        return -1;
    }
    int code = cn_http_status_parse(s, (size_t)len);
    if (code < 0) {
        PyErr_Format(PyExc_ValueError, "invalid status %R", status);
        return -1;
    }
    req->status = code;
    cn_buf_reset(&req->status_line);
    cn_buf_append(&req->status_line, s, (size_t)len);
    return 0;
}

static int store_headers(cn_wsgi_request_t *req, PyObject *headers)
{
    if (!PyList_Check(headers)) {
        PyErr_Format(PyExc_TypeError, "headers must be a list, not %.100s",
                     Py_TYPE(headers)->tp_name);
        return -1;
    }
    cn_buf_reset(&req->hbytes);
    req->nfields = 0;
    req->app_length = false;
    for (Py_ssize_t i = 0; i < PyList_GET_SIZE(headers); i++)
        if (store_header(req, PyList_GET_ITEM(headers, i)) < 0)
            return -1;
    return 0;
}

/* Latin-1 bytes of a header str, appended to hbytes; -1 if not a str or not
 * latin-1. */
static int append_latin1(cn_wsgi_request_t *req, PyObject *s, size_t *off, size_t *len)
{
    if (!PyUnicode_Check(s)) {
        PyErr_Format(PyExc_TypeError, "header names and values must be str, not %.100s",
                     Py_TYPE(s)->tp_name);
        return -1;
    }
    PyObject *b = PyUnicode_AsLatin1String(s);
    if (b == NULL)
        return -1;
    *off = req->hbytes.len;
    *len = (size_t)PyBytes_GET_SIZE(b);
    cn_buf_append(&req->hbytes, PyBytes_AS_STRING(b), *len);
    Py_DECREF(b);
    return 0;
}

static int store_header(cn_wsgi_request_t *req, PyObject *item)
{
    if (!PyTuple_Check(item) || PyTuple_GET_SIZE(item) != 2) {
        PyErr_SetString(PyExc_TypeError, "each header must be a (name, value) tuple");
        return -1;
    }
    cn_wsgi_field_t f;
    if (append_latin1(req, PyTuple_GET_ITEM(item, 0), &f.name_off, &f.name_len) < 0 ||
        append_latin1(req, PyTuple_GET_ITEM(item, 1), &f.value_off, &f.value_len) < 0)
        return -1;
    const char *name = req->hbytes.data + f.name_off, *value = req->hbytes.data + f.value_off;
    if (!cn_http_header_name_valid(name, f.name_len) ||
        !cn_http_header_value_valid(value, f.value_len)) {
        PyErr_Format(PyExc_ValueError, "invalid header %R", item);
        return -1;
    }
    if (cn_http_header_is_hop_by_hop(name, f.name_len)) {
        PyErr_Format(PyExc_ValueError, "hop-by-hop header not allowed: %R", item);
        return -1;
    }
    if (cn_strcase_eq(name, f.name_len, "content-length")) {
        if (req->app_length ||
            cn_parse_uint(value, f.value_len, UINT64_MAX / 2, &req->app_length_value) < 0) {
            PyErr_Format(PyExc_ValueError, "invalid Content-Length %R", item);
            return -1;
        }
        req->app_length = true;
    }
    if (req->nfields == req->fields_cap) {
        req->fields_cap = req->fields_cap ? req->fields_cap * 2 : 16;
        req->fields = cn_xrealloc(req->fields, req->fields_cap * sizeof(*req->fields));
    }
    req->fields[req->nfields++] = f;
    return 0;
}

/* Serialise the head into out (framing decided here). */
static int build_head(cn_wsgi_request_t *req, cn_buf_t *out, const uint64_t *known_length)
{
    cn_http_field_t stack[32];
    cn_http_field_t *fields =
        req->nfields <= 32 ? stack : cn_xmalloc(req->nfields * sizeof(*fields));
    for (size_t i = 0; i < req->nfields; i++) {
        const cn_wsgi_field_t *f = &req->fields[i];
        fields[i] = (cn_http_field_t){req->hbytes.data + f->name_off, f->name_len,
                                      req->hbytes.data + f->value_off, f->value_len};
    }
    req->framing.known_length = known_length != NULL;
    req->framing.length = known_length ? *known_length : 0;
    int rc = cn_http_response_head(out, req->status_line.data, req->status_line.len, fields,
                                   req->nfields, &req->framing);
    if (fields != stack)
        free(fields);
    return rc;
}

int cn_wsgi_send(cn_wsgi_request_t *req, const char *data, size_t len,
                 const uint64_t *known_length)
{
    if (!req->headers_set) {
        PyErr_SetString(PyExc_AssertionError, "write() before start_response()");
        return -1;
    }
    /* PEP 3333: the head waits for the first non-empty bytestring (so an
     * error after an empty one can still change the status). */
    if (!req->headers_sent && len == 0 && known_length == NULL)
        return 0;
    cn_buf_t head = CN_BUF_INIT;
    struct iovec iov[4];
    int n = 0;
    char chunk[20];
    if (!req->headers_sent) {
        if (build_head(req, &head, known_length) < 0) {
            cn_buf_free(&head);
            PyErr_SetString(PyExc_ValueError, "invalid status");
            return -1;
        }
        iov[n++] = (struct iovec){head.data, head.len};
        req->headers_sent = true;
    }
    const cn_http_framing_t *fr = &req->framing;
    if (!fr->body_allowed)
        len = 0;
    if (fr->has_length && len > fr->content_length - req->body_sent)
        len = (size_t)(fr->content_length - req->body_sent); /* never send more than declared */
    if (len > 0) {
        if (fr->chunked)
            iov[n++] = (struct iovec){chunk, cn_http_chunk_header(chunk, len)};
        iov[n++] = (struct iovec){(void *)data, len};
        if (fr->chunked)
            iov[n++] = (struct iovec){"\r\n", 2};
    }
    int rc = n > 0 ? send_iov(req, iov, n) : 0;
    req->body_sent += len;
    cn_buf_free(&head);
    return rc;
}

int cn_wsgi_finish(cn_wsgi_request_t *req)
{
    if (!req->headers_sent) {
        uint64_t zero = 0;
        if (cn_wsgi_send(req, NULL, 0, &zero) < 0)
            return -1;
    }
    const cn_http_framing_t *fr = &req->framing;
    if (fr->body_allowed && fr->has_length && req->body_sent < fr->content_length) {
        /* The client waits for bytes that will never come: the connection
         * cannot carry another response. */
        cn_log_warning("Response shorter than its Content-Length (%llu of %llu bytes): closing",
                       (unsigned long long)req->body_sent,
                       (unsigned long long)fr->content_length);
        req->framing.keep_alive = false;
    }
    if (req->framing.chunked) {
        struct iovec iov = {CN_HTTP_LAST_CHUNK, sizeof(CN_HTTP_LAST_CHUNK) - 1};
        return send_iov(req, &iov, 1);
    }
    return 0;
}

static int send_iov(cn_wsgi_request_t *req, struct iovec *iov, int n)
{
    if (req->write_failed) {
        /* whatever cut the response short was raised before: this one is ours */
        req->write_interrupted = false;
        PyErr_SetString(PyExc_OSError, "the response was cut short earlier");
        return -1;
    }
    int rc;
    CN_WSGI_IO(req->w, rc = cn_conn_writev_all(req->c, iov, n));
    return rc < 0 ? cn_wsgi_write_failed(req, rc) : 0;
}

int cn_wsgi_write_failed(cn_wsgi_request_t *req, int rc)
{
    req->write_failed = true;
    if (rc == -ECANCELED && PyErr_Occurred()) {
        req->write_interrupted = true;
        return -1; /* the app's own exception, thrown into the wait */
    }
    errno = -rc;
    PyErr_SetFromErrno(PyExc_OSError);
    return -1;
}

const char *cn_wsgi_response_header(const cn_wsgi_request_t *req, const char *name,
                                    size_t name_len, size_t *len)
{
    for (size_t i = 0; i < req->nfields; i++) {
        const cn_wsgi_field_t *f = &req->fields[i];
        if (f->name_len == name_len &&
            strncasecmp(req->hbytes.data + f->name_off, name, name_len) == 0) {
            *len = f->value_len;
            return req->hbytes.data + f->value_off;
        }
    }
    return NULL;
}

/* write(data): the PEP 3333 imperative API. */
static PyObject *sr_write(cn_start_response_t *self, PyObject *data)
{
    if (cn_wsgi_request_check(self->req, "write()") < 0)
        return NULL;
    Py_buffer view;
    if (!PyBytes_Check(data)) {
        PyErr_Format(PyExc_TypeError, "write() takes bytes, not %.100s", Py_TYPE(data)->tp_name);
        return NULL;
    }
    if (PyObject_GetBuffer(data, &view, PyBUF_SIMPLE) < 0)
        return NULL;
    int rc = cn_wsgi_send(self->req, view.buf, (size_t)view.len, NULL);
    PyBuffer_Release(&view);
    if (rc < 0)
        return NULL;
    Py_RETURN_NONE;
}

static PyMethodDef sr_methods[] = {
    {"write", (PyCFunction)sr_write, METH_O, "write(data): send body bytes now."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject cn_StartResponseType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "cunicorn.StartResponse",
    .tp_basicsize = sizeof(cn_start_response_t),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "start_response(status, headers, exc_info=None) -> write",
    .tp_call = (ternaryfunc)sr_call,
    .tp_methods = sr_methods,
    .tp_dealloc = (destructor)PyObject_Free,
};
