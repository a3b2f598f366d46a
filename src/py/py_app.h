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

/** preload_app: load the app in the master, as cn_py_app_load; from then on
 * cn_py_app_load returns it (in the workers forked later) without importing
 * again. 0, or -1 as cn_py_app_load. */
int cn_py_app_preload(const char *uri, int *exit_code);

#endif
