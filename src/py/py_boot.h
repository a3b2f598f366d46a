/* py_boot.h - the start-up helpers written in Python, src/py/boot.py (app
 * import with Gunicorn's rules, config-file execution, virtualenv
 * activation), embedded in the binary at build time. They run once per
 * process, never per request, so Python is the clearer language. */
#ifndef CUNICORN_PY_BOOT_H
#define CUNICORN_PY_BOOT_H

#include "py/py_runtime.h"

/** Compile the boot module into sys.modules. 0, or -1 with an exception
 * set. GIL: held. */
int cn_py_boot_install(void);

/** New reference to function `name` of the boot module, or NULL with an
 * exception set. GIL: held. */
PyObject *cn_py_boot_func(const char *name);

#endif
