/* wsgi_deadline.c - request_timeout's log line and exception (see wsgi.h);
 * the clocks are the worker classes'. */
#include "py/py_boot.h"
#include "py/wsgi_internal.h"

#include <unistd.h>

void cn_wsgi_overdue_log(const char *what, PyObject *frame, int seconds, bool answered)
{
    PyObject *fmt = cn_py_boot_func("format_stack");
    PyObject *stack = fmt ? PyObject_CallOneArg(fmt, frame ? frame : Py_None) : NULL;
    const char *text = stack ? PyUnicode_AsUTF8(stack) : NULL;
    if (text == NULL)
        PyErr_Clear();
    cn_log_error("Request timeout (pid:%d): %s ran past %d s; %s\n%s", (int)getpid(), what,
                 seconds,
                 answered ? "answered 503 Service Unavailable"
                          : "its response had begun: connection cut",
                 text ? text : "  (stack not available)");
    Py_XDECREF(stack);
    Py_XDECREF(fmt);
}

PyObject *cn_wsgi_request_timeout_type(void) { return cn_py_boot_func("RequestTimeout"); }

PyObject *cn_wsgi_thread_frame(unsigned long ident)
{
    PyObject *get = cn_py_boot_func("thread_frame");
    PyObject *frame = get ? PyObject_CallFunction(get, "k", ident) : NULL;
    Py_XDECREF(get);
    if (frame == NULL)
        PyErr_Clear();
    if (frame == Py_None)
        Py_CLEAR(frame);
    return frame;
}
