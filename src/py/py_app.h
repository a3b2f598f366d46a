/* py_app.h - loading the WSGI application ("module:attr",
 * "module:factory(literal args)"), with Gunicorn's error semantics.
 * GIL: held. */
#ifndef CUNICORN_PY_APP_H
#define CUNICORN_PY_APP_H

#include "py/py_runtime.h"

/**
 * Import the app. Returns a new reference, or NULL after logging why and
 * setting *exit_code: CN_EXIT_APP_LOAD_ERROR (4) when the module imported but
 * the attribute is missing, unparsable or not callable (message logged
 * without a traceback), CN_EXIT_WORKER_BOOT_ERROR (3) for any other
 * exception (traceback logged).
 */
PyObject *cn_py_app_load(const char *uri, int *exit_code);

#endif
