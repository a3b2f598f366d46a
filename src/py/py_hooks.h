/* py_hooks.h - the config file's server hooks (post_fork, child_exit, ...):
 * kept when the config file is read, called at the points of
 * cunicorn/hooks.h with Gunicorn's server and worker objects (src/py/boot.py).
 * A hook that is not defined costs one bit test. GIL: held, for every
 * function here except cn_py_hook_defined. */
#ifndef CUNICORN_PY_HOOKS_H
#define CUNICORN_PY_HOOKS_H

#include "py/py_runtime.h"

#include "cunicorn/config.h"
#include "cunicorn/hooks.h"

/** Keep fn as hook name (checked as Gunicorn does: callable, arity). 0, or
 * -1 with err set ("Invalid value for post_fork: must have an arity of 2"). */
int cn_py_hook_register(enum cn_hook h, PyObject *fn, char *err);

/** Whether the config file defined h. No GIL needed. */
bool cn_py_hook_defined(enum cn_hook h);

/** Build the objects hooks receive from the final settings; once, in the
 * master, after every source is read. -1 with err set on failure. */
int cn_py_hooks_setup(const cn_config_t *cfg, char *err);

/** The hooks of one reading of the config file, while a reload (HUP) reads
 * it again. */
typedef struct cn_py_hook_set {
    PyObject *held;    /* strong: boot.py's table and server object */
    unsigned defined;
} cn_py_hook_set_t;

/** Move the hooks into *out, leaving none defined. 0, or -1 (logged). */
int cn_py_hooks_take(cn_py_hook_set_t *out);
/** Make *set the hooks again, dropping those defined since the take. */
void cn_py_hooks_put_back(cn_py_hook_set_t *set);
/** Release a set that is not coming back. */
void cn_py_hooks_drop(cn_py_hook_set_t *set);

/** Call h if defined. An exception is logged with its traceback
 * ("Exception in post_fork hook") and returns -1; else 0. */
int cn_py_hook_run(enum cn_hook h, const cn_hook_info_t *info);

/** pre_request(worker, req) or post_request(worker, req, environ, resp),
 * h defined; worker is the serving worker. 0, or -1 with the hook's
 * exception set. */
int cn_py_hook_run_request(enum cn_hook h, const cn_hook_info_t *worker, PyObject *req,
                           PyObject *environ, PyObject *resp);

/** cn_hook_cb for the arbiter: cn_py_hook_run, the result only logged.
 * Takes the GIL (the master runs the arbiter without it). */
void cn_py_hook_from_arbiter(void *ud, enum cn_hook h, const cn_hook_info_t *info);

#endif
