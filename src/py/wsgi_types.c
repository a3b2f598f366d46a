/* wsgi_types.c - the small objects of the environ: wsgi.errors (writes to
 * the error log) and wsgi.file_wrapper (iterates a file in blocks, when
 * wsgi_sendfile.c does not send its file whole); and readying every type
 * the app sees. */
#include "py/wsgi_internal.h"

#include <string.h>

/* ---- wsgi.errors ----------------------------------------------------------- */

typedef struct {
    PyObject_HEAD
} cn_errors_t;

static PyObject *errors_write(PyObject *self, PyObject *arg)
{
    Py_ssize_t len;
    const char *s = PyUnicode_Check(arg) ? PyUnicode_AsUTF8AndSize(arg, &len) : NULL;
    if (s == NULL) {
        if (!PyErr_Occurred())
            PyErr_Format(PyExc_TypeError, "write() argument must be str, not %.100s",
                         Py_TYPE(arg)->tp_name);
        return NULL;
    }
    while (len > 0 && s[len - 1] == '\n')
        len--; /* the log adds its own line end */
    if (len > 0)
        cn_log_raw(CN_LOG_ERROR, s, (size_t)len);
    return PyLong_FromSsize_t(len);
}

static PyObject *errors_writelines(PyObject *self, PyObject *lines)
{
    PyObject *it = PyObject_GetIter(lines), *line;
    if (it == NULL)
        return NULL;
    while ((line = PyIter_Next(it)) != NULL) {
        PyObject *r = errors_write(self, line);
        Py_DECREF(line);
        if (r == NULL) {
            Py_DECREF(it);
            return NULL;
        }
        Py_DECREF(r);
    }
    Py_DECREF(it);
    if (PyErr_Occurred())
        return NULL;
    Py_RETURN_NONE;
}

static PyObject *errors_flush(PyObject *self, PyObject *unused) { Py_RETURN_NONE; }

static PyMethodDef errors_methods[] = {
    {"write", errors_write, METH_O, "write(str): log it on the error log."},
    {"writelines", errors_writelines, METH_O, "writelines(iterable of str)."},
    {"flush", errors_flush, METH_NOARGS, "flush(): lines are written at once."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject cn_ErrorsType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "cunicorn.Errors",
    .tp_basicsize = sizeof(cn_errors_t),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "wsgi.errors: a text stream onto the error log.",
    .tp_methods = errors_methods,
    .tp_new = PyType_GenericNew,
};

/* ---- wsgi.file_wrapper ------------------------------------------------------ */

typedef struct {
    PyObject_HEAD PyObject *filelike; /* strong */
    Py_ssize_t blksize;
} cn_file_wrapper_t;

static int fw_init(cn_file_wrapper_t *self, PyObject *args, PyObject *kwargs)
{
    static char *kwlist[] = {"filelike", "blksize", NULL};
    PyObject *filelike;
    Py_ssize_t blksize = 8192;
    if (!PyArg_ParseTupleAndKeywords(args, kwargs, "O|n:file_wrapper", kwlist, &filelike,
                                     &blksize))
        return -1;
    if (blksize <= 0) {
        PyErr_SetString(PyExc_ValueError, "blksize must be positive");
        return -1;
    }
    Py_XSETREF(self->filelike, Py_NewRef(filelike));
    self->blksize = blksize;
    return 0;
}

static PyObject *fw_iternext(cn_file_wrapper_t *self)
{
    if (self->filelike == NULL)
        return NULL;
    PyObject *data = PyObject_CallMethod(self->filelike, "read", "n", self->blksize);
    if (data != NULL && PyBytes_Check(data) && PyBytes_GET_SIZE(data) == 0) {
        Py_DECREF(data);
        return NULL; /* StopIteration */
    }
    return data;
}

PyObject *cn_wsgi_file_wrapper_file(PyObject *wrapper)
{
    return Py_XNewRef(((cn_file_wrapper_t *)wrapper)->filelike);
}

static PyObject *fw_close(cn_file_wrapper_t *self, PyObject *unused)
{
    if (self->filelike != NULL && PyObject_HasAttrString(self->filelike, "close"))
        return PyObject_CallMethod(self->filelike, "close", NULL);
    Py_RETURN_NONE;
}

static void fw_dealloc(cn_file_wrapper_t *self)
{
    Py_CLEAR(self->filelike);
    Py_TYPE(self)->tp_free((PyObject *)self);
}

static PyMethodDef fw_methods[] = {
    {"close", (PyCFunction)fw_close, METH_NOARGS, "close the wrapped file, if it can."},
    {NULL, NULL, 0, NULL},
};

PyTypeObject cn_FileWrapperType = {
    PyVarObject_HEAD_INIT(NULL, 0).tp_name = "cunicorn.FileWrapper",
    .tp_basicsize = sizeof(cn_file_wrapper_t),
    .tp_flags = Py_TPFLAGS_DEFAULT,
    .tp_doc = "wsgi.file_wrapper(filelike, blksize=8192): iterate a file in blocks.",
    .tp_init = (initproc)fw_init,
    .tp_new = PyType_GenericNew,
    .tp_iter = PyObject_SelfIter,
    .tp_iternext = (iternextfunc)fw_iternext,
    .tp_methods = fw_methods,
    .tp_dealloc = (destructor)fw_dealloc,
};

int cn_wsgi_types_ready(void)
{
    if (PyType_Ready(&cn_InputType) < 0 || PyType_Ready(&cn_StartResponseType) < 0 ||
        PyType_Ready(&cn_ErrorsType) < 0 || PyType_Ready(&cn_FileWrapperType) < 0)
        return -1;
    return 0;
}
