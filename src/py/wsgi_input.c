/* wsgi_input.c - wsgi.input: the request body as a file-like object.
 *
 * Bytes are decoded from the socket on demand (cn_conn_body_fill), so an
 * upload is never held whole in memory unless the app asks for all of it.
 * read() returns b"" at the end of the body (wsgi.input_terminated). A body
 * the client gets wrong (bad chunk, early close, timeout) raises OSError and
 * remembers the status the server answers with if the app lets it through. */
#include "py/wsgi_internal.h"

#include <errno.h>
#include <string.h>

typedef struct {
    PyObject_HEAD cn_wsgi_request_t *req; /* borrowed; NULL after the request */
} cn_input_t;

static ssize_t fill(cn_input_t *self);
static PyObject *take(cn_input_t *self, size_t n);

PyObject *cn_wsgi_input_new(cn_wsgi_request_t *req)
{
    cn_input_t *self = PyObject_New(cn_input_t, &cn_InputType);
    if (self != NULL)
        self->req = req;
    return (PyObject *)self;
}

void cn_wsgi_input_detach(PyObject *input) { ((cn_input_t *)input)->req = NULL; }

static int check_alive(cn_input_t *self)
{
    return cn_wsgi_request_check(self->req, "wsgi.input");
}

/* More decoded bytes: > 0 added, 0 at the end of the body, -1 with an
 * exception set. */
static ssize_t fill(cn_input_t *self)
{
    cn_wsgi_request_t *req = self->req;
    ssize_t n;
    CN_WSGI_IO(req->w, n = cn_conn_body_fill(req->c));
    if (n >= 0)
        return n;
    if (n == -ECANCELED && PyErr_Occurred())
        return -1; /* the app's own exception, thrown into the wait */
    if (n == -EPROTO) {
        req->body_error = req->c->error.status;
        PyErr_Format(PyExc_OSError, "invalid request body: %s", req->c->error.reason);
    } else if (n == -ETIMEDOUT) {
        req->body_error = 408;
        PyErr_SetString(PyExc_OSError, "timed out reading the request body");
    } else {
        req->body_error = 400;
        PyErr_Format(PyExc_OSError, "client closed the connection inside the request body (%s)",
                     strerror((int)-n));
    }
    return -1;
}

static inline size_t avail(const cn_input_t *self)
{
    return self->req->c->body.len - self->req->c->body_off;
}

/* The first n available bytes as a new bytes object. */
static PyObject *take(cn_input_t *self, size_t n)
{
    cn_conn_t *c = self->req->c;
    PyObject *b = PyBytes_FromStringAndSize(c->body.data + c->body_off, (Py_ssize_t)n);
    if (b != NULL)
        cn_conn_body_consume(c, n);
    return b;
}

static int parse_size(PyObject *const *args, Py_ssize_t nargs, Py_ssize_t *size)
{
    *size = -1;
    if (nargs > 1) {
        PyErr_SetString(PyExc_TypeError, "expected at most one argument");
        return -1;
    }
    if (nargs == 1 && args[0] != Py_None) {
        *size = PyLong_AsSsize_t(args[0]);
        if (*size == -1 && PyErr_Occurred())
            return -1;
    }
    return 0;
}

static PyObject *input_read(cn_input_t *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t size;
    if (check_alive(self) < 0 || parse_size(args, nargs, &size) < 0)
        return NULL;
    while (size < 0 || avail(self) < (size_t)size) {
        ssize_t n = fill(self);
        if (n < 0)
            return NULL;
        if (n == 0)
            break;
    }
    size_t want = avail(self);
    if (size >= 0 && (size_t)size < want)
        want = (size_t)size;
    return take(self, want);
}

static PyObject *input_readline(cn_input_t *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t size;
    if (check_alive(self) < 0 || parse_size(args, nargs, &size) < 0)
        return NULL;
    size_t scanned = 0;
    for (;;) {
        cn_conn_t *c = self->req->c;
        size_t have = avail(self);
        size_t limit = size >= 0 && (size_t)size < have ? (size_t)size : have;
        const char *nl = limit > scanned ? memchr(c->body.data + c->body_off + scanned, '\n',
                                                  limit - scanned)
                                         : NULL;
        if (nl != NULL)
            return take(self, (size_t)(nl - (c->body.data + c->body_off)) + 1);
        if (size >= 0 && have >= (size_t)size)
            return take(self, (size_t)size);
        scanned = have;
        ssize_t n = fill(self);
        if (n < 0)
            return NULL;
        if (n == 0)
            return take(self, avail(self));
    }
}

static PyObject *input_readlines(cn_input_t *self, PyObject *const *args, Py_ssize_t nargs)
{
    Py_ssize_t hint;
    if (check_alive(self) < 0 || parse_size(args, nargs, &hint) < 0)
        return NULL;
    PyObject *lines = PyList_New(0);
    Py_ssize_t total = 0;
    while (lines != NULL) {
        PyObject *line = input_readline(self, NULL, 0);
        if (line == NULL || PyBytes_GET_SIZE(line) == 0 || PyList_Append(lines, line) < 0) {
            if (line == NULL || PyBytes_GET_SIZE(line) != 0)
                Py_CLEAR(lines);
            Py_XDECREF(line);
            break;
        }
        total += PyBytes_GET_SIZE(line);
        Py_DECREF(line);
        if (hint > 0 && total >= hint)
            break;
    }
    return lines;
}

static PyObject *input_iternext(cn_input_t *self)
{
    PyObject *line = input_readline(self, NULL, 0);
    if (line != NULL && PyBytes_GET_SIZE(line) == 0) {
        Py_DECREF(line);
        return NULL; /* StopIteration */
    }
    return line;
}

static PyMethodDef input_methods[] = {
    {"read", (PyCFunction)(void (*)(void))input_read, METH_FASTCALL,
     "read(size=-1): up to size bytes of the body; b'' at its end."},
    {"readline", (PyCFunction)(void (*)(void))input_readline, METH_FASTCALL,
     "readline(size=-1): one line, at most size bytes."},
    {"readlines", (PyCFunction)(void (*)(void))input_readlines, METH_FASTCALL,
     "readlines(hint=-1): a list of lines."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject cn_InputType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "cunicorn.Input",
    .tp_basicsize = sizeof(cn_input_t),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "wsgi.input: the request body, read from the socket on demand.",
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)input_iternext,
    .tp_methods = input_methods,
    .tp_dealloc = (destructor)PyObject_Free,
};
