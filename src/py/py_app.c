/* py_app.c - load the WSGI app with Gunicorn's rules and exit codes. */
#include "py/py_app.h"
#include "py/py_boot.h"

#include "cunicorn/arbiter.h"

PyObject *cn_py_app_load(const char *uri, int *exit_code)
{
    PyObject *fn = cn_py_boot_func("import_app");
    PyObject *arg = PyUnicode_FromString(uri);
    PyObject *app = NULL;
    if (fn != NULL && arg != NULL)
        app = PyObject_CallOneArg(fn, arg);
    Py_XDECREF(fn);
    Py_XDECREF(arg);
    if (app != NULL)
        return app;

    PyObject *err_type = PyErr_Occurred(); /* borrowed */
    PyObject *app_import_error = cn_py_boot_func("AppImportError");
    int is_load_error = app_import_error != NULL &&
                        PyErr_GivenExceptionMatches(err_type, app_import_error);
    Py_XDECREF(app_import_error);
    if (is_load_error) {
        /* Gunicorn prints these without a traceback: they are about the
         * command line, not a bug in the app. */
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyObject *text = value ? PyObject_Str(value) : NULL;
        const char *s = text ? PyUnicode_AsUTF8(text) : NULL;
        cn_log_error("%s", s ? s : "cannot load the application");
        PyErr_Clear();
        Py_XDECREF(text);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        *exit_code = CN_EXIT_APP_LOAD_ERROR;
    } else {
        cn_py_log_exception(CN_LOG_ERROR, "Exception in worker process");
        *exit_code = CN_EXIT_WORKER_BOOT_ERROR;
    }
    return NULL;
}
