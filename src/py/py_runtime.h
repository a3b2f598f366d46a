/* py_runtime.h - the embedded interpreter: start-up (virtualenv aware),
 * fork handling, the config file, exception logging.
 * GIL: every function here is called with the GIL held; the master and a
 * freshly forked worker hold it until a worker class releases it. */
#ifndef CUNICORN_PY_RUNTIME_H
#define CUNICORN_PY_RUNTIME_H

#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include "cunicorn/config.h"
#include "cunicorn/log.h"

/** Start the interpreter (no Python signal handlers; $VIRTUAL_ENV's
 * site-packages importable). 0 or -1 + err. */
int cn_py_init(char *err) CN_NODISCARD;

/** Put cfg->chdir (first) and each cfg->pythonpath entry on sys.path, and
 * apply raw_env to os.environ. 0 or -1 + err. */
int cn_py_apply_paths(const cn_config_t *cfg, char *err) CN_NODISCARD;

/** Run a Python config file and apply each module-level name that is a
 * setting, as CN_SRC_FILE. 0, or -1 + err (a traceback is printed to
 * stderr first when the file itself raises). */
int cn_py_load_config_file(const char *path, cn_config_t *cfg, char *err) CN_NODISCARD;

/** CPython's fork protocol around the arbiter's fork(), called without the
 * GIL: before (takes it), in the master after (gives it back), and in the
 * worker right after (the worker keeps the GIL the fork was taken with). */
void cn_py_before_fork(void);
void cn_py_after_fork_parent(void);
void cn_py_after_fork_child(void);

/** Log the current exception with its traceback as one record, prefixed by
 * msg, and clear it. */
void cn_py_log_exception(enum cn_log_level level, const char *msg);

/** emit(level, text) for Python code of boot.py: writes text to the error
 * log at level (enum cn_log_level). New reference, or NULL. */
PyObject *cn_py_log_function(void);

/** Strong reference to a dict item, or NULL (with an exception set only on
 * error: check PyErr_Occurred()). Python 3.11 lacks PyDict_GetItemRef. */
PyObject *cn_py_dict_get(PyObject *dict, PyObject *key);

#endif
