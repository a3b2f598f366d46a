/* py_hooks.c - server hooks, called through src/py/boot.py (see py_hooks.h). */
#include "py/py_hooks.h"
#include "py/py_boot.h"

static unsigned defined; /* bit (1 << enum cn_hook) per hook the config file defined */

int cn_py_hook_register(enum cn_hook h, PyObject *fn, char *err)
{
    PyObject *reg = cn_py_boot_func("register_hook");
    PyObject *r = reg ? PyObject_CallFunction(reg, "sO", cn_hook_name(h), fn) : NULL;
    Py_XDECREF(reg);
    if (r == NULL) {
        PyObject *type, *value, *tb;
        PyErr_Fetch(&type, &value, &tb);
        PyObject *text = value ? PyObject_Str(value) : NULL;
        const char *s = text ? PyUnicode_AsUTF8(text) : NULL;
        cn_err(err, "%s", s ? s : "invalid server hook");
        PyErr_Clear();
        Py_XDECREF(text);
        Py_XDECREF(type);
        Py_XDECREF(value);
        Py_XDECREF(tb);
        return -1;
    }
    Py_DECREF(r);
    defined |= 1u << h;
    return 0;
}

bool cn_py_hook_defined(enum cn_hook h) { return (defined & (1u << h)) != 0; }

/* One setting's value as Python sees it in Gunicorn's cfg. New reference. */
static PyObject *setting_value(const cn_config_t *cfg, const cn_setting_t *s)
{
    const void *field = (const char *)cfg + s->offset;
    switch (s->type) {
    case CN_T_INT:
        return PyLong_FromLong(*(const int *)field);
    case CN_T_BOOL:
        return PyBool_FromLong(*(const bool *)field);
    case CN_T_STR: {
        const char *v = *(char *const *)field;
        return v ? PyUnicode_FromString(v) : Py_NewRef(Py_None);
    }
    case CN_T_LIST: {
        const cn_strlist_t *l = field;
        PyObject *list = PyList_New((Py_ssize_t)l->n);
        for (size_t i = 0; list != NULL && i < l->n; i++) {
            PyObject *item = PyUnicode_FromString(l->items[i]);
            if (item == NULL) {
                Py_CLEAR(list);
                break;
            }
            PyList_SET_ITEM(list, (Py_ssize_t)i, item); /* steals item */
        }
        return list;
    }
    }
    return Py_NewRef(Py_None);
}

int cn_py_hooks_setup(const cn_config_t *cfg, char *err)
{
    if (defined == 0)
        return 0;
    size_t n;
    const cn_setting_t *rows = cn_settings(&n);
    PyObject *values = PyDict_New();
    int rc = values != NULL ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < n; i++) {
        PyObject *v = setting_value(cfg, &rows[i]);
        rc = v != NULL ? PyDict_SetItemString(values, rows[i].name, v) : -1;
        Py_XDECREF(v);
    }
    PyObject *emit = rc == 0 ? cn_py_log_function() : NULL;
    PyObject *setup = emit ? cn_py_boot_func("setup_hooks") : NULL;
    PyObject *r = setup ? PyObject_CallFunctionObjArgs(setup, values, emit, NULL) : NULL;
    Py_XDECREF(values);
    Py_XDECREF(emit);
    Py_XDECREF(setup);
    if (r == NULL) {
        cn_py_log_exception(CN_LOG_ERROR, "cannot prepare the server hooks");
        return cn_err(err, "cannot prepare the server hooks");
    }
    Py_DECREF(r);
    return 0;
}

int cn_py_hooks_take(cn_py_hook_set_t *out)
{
    PyObject *take = cn_py_boot_func("take_hooks");
    out->held = take ? PyObject_CallNoArgs(take) : NULL;
    Py_XDECREF(take);
    if (out->held == NULL) {
        cn_py_log_exception(CN_LOG_ERROR, "cannot set the server hooks aside");
        return -1;
    }
    out->defined = defined;
    defined = 0;
    return 0;
}

void cn_py_hooks_put_back(cn_py_hook_set_t *set)
{
    PyObject *put = cn_py_boot_func("put_back_hooks");
    PyObject *r = put ? PyObject_CallOneArg(put, set->held) : NULL;
    if (r == NULL)
        cn_py_log_exception(CN_LOG_ERROR, "cannot restore the server hooks");
    else
        defined = set->defined;
    Py_XDECREF(r);
    Py_XDECREF(put);
    cn_py_hooks_drop(set);
}

void cn_py_hooks_drop(cn_py_hook_set_t *set)
{
    Py_CLEAR(set->held);
    set->defined = 0;
}

int cn_py_hook_run(enum cn_hook h, const cn_hook_info_t *info)
{
    if (!cn_py_hook_defined(h))
        return 0;
    PyObject *run = cn_py_boot_func("run_hook");
    PyObject *r = run ? PyObject_CallFunction(run, "siiiiii", cn_hook_name(h),
                                              (int)info->server_pid, info->num_workers,
                                              info->worker_age, (int)info->worker_pid,
                                              info->new_value, info->old_value)
                      : NULL;
    Py_XDECREF(run);
    if (r == NULL) {
        char what[64];
        snprintf(what, sizeof(what), "Exception in %s hook", cn_hook_name(h));
        cn_py_log_exception(CN_LOG_ERROR, what);
        return -1;
    }
    Py_DECREF(r);
    return 0;
}

int cn_py_hook_run_request(enum cn_hook h, const cn_hook_info_t *worker, PyObject *req,
                           PyObject *environ, PyObject *resp)
{
    PyObject *run = cn_py_boot_func("run_request_hook");
    PyObject *r = run ? PyObject_CallFunction(run, "siiiOOO", cn_hook_name(h),
                                              (int)worker->server_pid, worker->worker_age,
                                              (int)worker->worker_pid, req,
                                              environ ? environ : Py_None,
                                              resp ? resp : Py_None)
                      : NULL;
    Py_XDECREF(run);
    Py_XDECREF(r);
    return r ? 0 : -1;
}

void cn_py_hook_from_arbiter(void *ud, enum cn_hook h, const cn_hook_info_t *info)
{
    (void)ud;
    if (!cn_py_hook_defined(h))
        return;
    PyGILState_STATE gil = PyGILState_Ensure(); /* the arbiter runs without it */
    (void)cn_py_hook_run(h, info);
    PyGILState_Release(gil);
}
