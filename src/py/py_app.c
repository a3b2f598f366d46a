/* py_app.c - load the WSGI app with Gunicorn's rules and exit codes. */
#include "py/py_app.h"
#include "py/py_boot.h"

#include "cunicorn/worker_proc.h"

/* Whether exc (a normalised exception) is the boot module's AppImportError:
 * a problem with the app's name, not a bug in its code. */
static bool is_app_import_error(PyObject *exc)
{
    PyObject *cls = cn_py_boot_func("AppImportError");
    bool match = cls != NULL && PyErr_GivenExceptionMatches(exc, cls);
    Py_XDECREF(cls);
    PyErr_Clear(); /* a failed lookup just means "no" */
    return match;
}

/* strong, or NULL: the app the master loaded (preload_app), which every
 * worker forked afterwards shares */
static PyObject *preloaded;

int cn_py_app_preload(const char *uri, int *exit_code)
{
    preloaded = cn_py_app_load(uri, exit_code);
    return preloaded ? 0 : -1;
}

PyObject *cn_py_app_load(const char *uri, int *exit_code)
{
    if (preloaded != NULL)
        return Py_NewRef(preloaded);
    PyObject *fn = cn_py_boot_func("import_app");
    PyObject *arg = PyUnicode_FromString(uri);
    PyObject *app = NULL;
    if (fn != NULL && arg != NULL)
        app = PyObject_CallOneArg(fn, arg);
    Py_XDECREF(fn);
    Py_XDECREF(arg);
    if (app != NULL)
        return app;

    /* Take the exception out before calling into Python again. */
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    PyErr_NormalizeException(&type, &value, &tb);
    if (value != NULL && is_app_import_error(value)) {
        /* Gunicorn prints these without a traceback: they are about the
         * command line, not a bug in the app. */
        PyObject *text = PyObject_Str(value);
        const char *s = text ? PyUnicode_AsUTF8(text) : NULL;
        cn_log_error("%s", s ? s : "cannot load the application");
        PyErr_Clear();
        Py_XDECREF(text);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        *exit_code = CN_EXIT_APP_LOAD_ERROR;
        return NULL;
    }
    PyErr_Restore(type, value, tb);
    cn_py_log_exception(CN_LOG_ERROR, "Exception in worker process");
    *exit_code = CN_EXIT_WORKER_BOOT_ERROR;
    return NULL;
}
