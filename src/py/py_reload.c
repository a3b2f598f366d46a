/* py_reload.c - see py_reload.h. */
#include "py/py_reload.h"
#include "py/py_boot.h"

int cn_py_reload_start(const cn_config_t *cfg)
{
    const cn_strlist_t *extra = &cfg->reload_extra_files;
    PyObject *files = PyList_New((Py_ssize_t)extra->n);
    for (size_t i = 0; files != NULL && i < extra->n; i++) {
        PyObject *f = PyUnicode_DecodeFSDefault(extra->items[i]);
        if (f == NULL)
            Py_CLEAR(files);
        else
            PyList_SET_ITEM(files, (Py_ssize_t)i, f); /* steals f */
    }
    PyObject *emit = files ? cn_py_log_function() : NULL;
    PyObject *start = emit ? cn_py_boot_func("start_reloader") : NULL;
    PyObject *r = start ? PyObject_CallFunction(start, "sOO", cfg->reload_engine, files, emit)
                        : NULL;
    Py_XDECREF(start);
    Py_XDECREF(emit);
    Py_XDECREF(files);
    if (r == NULL) {
        cn_py_log_exception(CN_LOG_ERROR, "Cannot start the reloader");
        return -1;
    }
    Py_DECREF(r);
    return 0;
}
