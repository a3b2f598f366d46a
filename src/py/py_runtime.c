/* py_runtime.c - interpreter start-up, fork handling, config file, exception
 * logging (see py_runtime.h). */
#include "py/py_runtime.h"
#include "py/py_boot.h"
#include "py/py_hooks.h"

#include "cunicorn/config_foreign.h"

#include <string.h>

static int call_boot(const char *func, PyObject *arg, PyObject **result);
static int apply_config_value(cn_config_t *cfg, const char *name, PyObject *value, char *err);
static int apply_config_dict(cn_config_t *cfg, const char *name, PyObject *dict, char *err);
static int apply_foreign_value(cn_config_t *cfg, const cn_foreign_setting_t *f, PyObject *value,
                               char *err);

int cn_py_init(char *err)
{
    PyConfig config;
    PyConfig_InitPythonConfig(&config);
    config.install_signal_handlers = 0; /* the worker classes own signals */
    config.parse_argv = 0;
    /* Path computation and sys.executable as if Debian's python3 ran: the
     * interpreter's stdlib lives under its prefix, not next to cunicorn. */
    PyStatus st = PyConfig_SetBytesString(&config, &config.program_name,
                                          CN_PYTHON_PREFIX "/bin/python3");
    if (!PyStatus_Exception(st))
        st = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(st))
        return cn_err(err, "cannot start Python: %s", st.err_msg ? st.err_msg : "unknown error");
    if (cn_py_boot_install() < 0 || call_boot("activate_venv", NULL, NULL) < 0) {
        cn_py_log_exception(CN_LOG_CRITICAL, "cannot prepare the interpreter");
        return cn_err(err, "cannot prepare the interpreter");
    }
    return 0;
}

/* Call a boot-module function with zero or one argument. The result is
 * stored in *result (new reference) when result is not NULL. */
static int call_boot(const char *func, PyObject *arg, PyObject **result)
{
    PyObject *fn = cn_py_boot_func(func);
    if (fn == NULL)
        return -1;
    PyObject *res = arg ? PyObject_CallOneArg(fn, arg) : PyObject_CallNoArgs(fn);
    Py_DECREF(fn);
    if (res == NULL)
        return -1;
    if (result != NULL)
        *result = res;
    else
        Py_DECREF(res);
    return 0;
}

static int sys_path_insert(PyObject *path_list, Py_ssize_t where, const char *dir)
{
    PyObject *s = PyUnicode_DecodeFSDefault(dir);
    if (s == NULL)
        return -1;
    int rc = PyList_Insert(path_list, where, s);
    Py_DECREF(s);
    return rc;
}

/* os.environ is a copy taken when the interpreter started: raw_env goes
 * there too (os.environ.__setitem__ also calls putenv). */
static int apply_raw_env(const cn_config_t *cfg)
{
    PyObject *os = PyImport_ImportModule("os");
    PyObject *environ = os ? PyObject_GetAttrString(os, "environ") : NULL;
    int rc = environ ? 0 : -1;
    for (size_t i = 0; rc == 0 && i < cfg->raw_env.n; i++) {
        const char *kv = cfg->raw_env.items[i], *eq = strchr(kv, '=');
        if (eq == NULL)
            continue; /* the settings table rejects these */
        PyObject *k = PyUnicode_DecodeFSDefaultAndSize(kv, eq - kv);
        PyObject *v = PyUnicode_DecodeFSDefault(eq + 1);
        rc = k && v ? PyObject_SetItem(environ, k, v) : -1;
        Py_XDECREF(k);
        Py_XDECREF(v);
    }
    Py_XDECREF(environ);
    Py_XDECREF(os);
    return rc;
}

int cn_py_apply_paths(const cn_config_t *cfg, char *err)
{
    if (apply_raw_env(cfg) < 0) {
        cn_py_log_exception(CN_LOG_ERROR, "cannot apply raw_env");
        return cn_err(err, "cannot apply raw_env");
    }
    PyObject *path = PySys_GetObject("path"); /* borrowed */
    if (path == NULL || !PyList_Check(path))
        return cn_err(err, "sys.path is not a list");
    Py_ssize_t at = 0;
    if (cfg->chdir != NULL && sys_path_insert(path, at++, cfg->chdir) < 0)
        goto fail;
    if (cfg->pythonpath != NULL) {
        char *copy = cn_xstrdup(cfg->pythonpath), *save = NULL;
        for (char *dir = strtok_r(copy, ",", &save); dir; dir = strtok_r(NULL, ",", &save)) {
            while (*dir == ' ')
                dir++;
            if (*dir != '\0' && sys_path_insert(path, at++, dir) < 0) {
                free(copy);
                goto fail;
            }
        }
        free(copy);
    }
    return 0;
fail:
    cn_py_log_exception(CN_LOG_ERROR, "cannot extend sys.path");
    return cn_err(err, "cannot extend sys.path");
}

int cn_py_load_config_file(const char *path, cn_config_t *cfg, char *err)
{
    PyObject *arg = PyUnicode_DecodeFSDefault(path), *ns = NULL;
    int rc = -1;
    if (arg == NULL || call_boot("load_config", arg, &ns) < 0) {
        PyErr_Print();
        cn_err(err, "Failed to read config file: %s", path);
        goto done;
    }
    PyObject *key, *value; /* borrowed from ns while iterating */
    Py_ssize_t pos = 0;
    while (PyDict_Next(ns, &pos, &key, &value)) {
        const char *name = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : NULL;
        if (name == NULL) {
            PyErr_Clear();
            continue;
        }
        int hook = cn_hook_find(name);
        if (hook >= 0) {
            if (value != Py_None && cn_py_hook_register((enum cn_hook)hook, value, err) < 0)
                goto done;
            continue;
        }
        const cn_foreign_setting_t *f = cn_foreign_find(name);
        if (f != NULL) {
            if (apply_foreign_value(cfg, f, value, err) < 0)
                goto done;
            continue;
        }
        if (cn_setting_find(name) == NULL || strchr(name, '-') != NULL)
            continue; /* ignore names that are not settings, as Gunicorn does */
        if (apply_config_value(cfg, name, value, err) < 0)
            goto done;
    }
    rc = 0;
done:
    Py_XDECREF(arg);
    Py_XDECREF(ns);
    return rc;
}

/* A dict setting (secure_scheme_headers) as "KEY=VALUE,KEY=VALUE". */
static int apply_config_dict(cn_config_t *cfg, const char *name, PyObject *dict, char *err)
{
    cn_buf_t text = CN_BUF_INIT;
    PyObject *key, *value; /* borrowed from dict */
    Py_ssize_t pos = 0;
    int rc = -1;
    while (PyDict_Next(dict, &pos, &key, &value)) {
        const char *k = PyUnicode_Check(key) ? PyUnicode_AsUTF8(key) : NULL;
        const char *v = PyUnicode_Check(value) ? PyUnicode_AsUTF8(value) : NULL;
        if (k == NULL || v == NULL) {
            PyErr_Clear();
            cn_err(err, "Invalid value for %s: keys and values must be str", name);
            goto done;
        }
        cn_buf_appendf(&text, "%s%s=%s", text.len ? "," : "", k, v);
    }
    cn_buf_append(&text, "", 1);
    rc = cn_config_set(cfg, name, text.data, CN_SRC_FILE, err);
done:
    cn_buf_free(&text);
    return rc;
}

/* A Gunicorn setting cunicorn lacks, judged by its value's repr (a hook's
 * function never equals the default, so a defined hook is refused). */
static int apply_foreign_value(cn_config_t *cfg, const cn_foreign_setting_t *f, PyObject *value,
                               char *err)
{
    PyObject *repr = PyObject_Repr(value);
    const char *text = repr ? PyUnicode_AsUTF8(repr) : NULL;
    int rc;
    if (text == NULL) {
        PyErr_Clear();
        text = "<unprintable>";
    }
    rc = cn_config_foreign(cfg, f, text, err);
    Py_XDECREF(repr);
    return rc;
}

/* One config-file value: lists and tuples set each item; None leaves the
 * default. No setting of cunicorn's takes a Python object (Gunicorn's
 * worker_class = SomeClass), so a callable is a bad value, not a skip. */
static int apply_config_value(cn_config_t *cfg, const char *name, PyObject *value, char *err)
{
    if (value == Py_None)
        return 0;
    if (PyCallable_Check(value))
        return cn_err(err, "Invalid value for %s: a Python object (expected a string or number)",
                      name);
    if (PyList_Check(value) || PyTuple_Check(value)) {
        PyObject *seq = PySequence_Fast(value, "");
        if (seq == NULL)
            return cn_err(err, "Invalid value for %s", name);
        int rc = 0;
        for (Py_ssize_t i = 0; rc == 0 && i < PySequence_Fast_GET_SIZE(seq); i++)
            rc = apply_config_value(cfg, name, PySequence_Fast_GET_ITEM(seq, i), err);
        Py_DECREF(seq);
        return rc;
    }
    if (PyDict_Check(value))
        return apply_config_dict(cfg, name, value, err);
    PyObject *text = PyBool_Check(value) ? PyUnicode_FromString(value == Py_True ? "true" : "false")
                                         : PyObject_Str(value);
    const char *s = text ? PyUnicode_AsUTF8(text) : NULL;
    if (s == NULL) {
        Py_XDECREF(text);
        PyErr_Clear();
        return cn_err(err, "Invalid value for %s", name);
    }
    int rc = cn_config_set(cfg, name, s, CN_SRC_FILE, err);
    Py_DECREF(text);
    return rc;
}

/* The master runs the arbiter without the GIL (threads the preloaded app or
 * a hook started go on running there, as in Gunicorn), so the fork takes it
 * first; the child keeps it. */
static PyGILState_STATE fork_gil;

void cn_py_before_fork(void)
{
    fork_gil = PyGILState_Ensure();
    PyOS_BeforeFork();
}

void cn_py_after_fork_parent(void)
{
    PyOS_AfterFork_Parent();
    PyGILState_Release(fork_gil);
}

void cn_py_after_fork_child(void) { PyOS_AfterFork_Child(); }

/* emit(level, text): a line from Python code of ours (boot.py), into the
 * error log */
static PyObject *py_emit(PyObject *self, PyObject *args)
{
    int level;
    const char *text;
    Py_ssize_t len;
    (void)self;
    if (!PyArg_ParseTuple(args, "is#", &level, &text, &len))
        return NULL;
    if (level < CN_LOG_DEBUG || level > CN_LOG_CRITICAL)
        level = CN_LOG_INFO;
    cn_log_raw((enum cn_log_level)level, text, (size_t)len);
    Py_RETURN_NONE;
}

static PyMethodDef emit_def = {"emit", py_emit, METH_VARARGS, NULL};

PyObject *cn_py_log_function(void) { return PyCFunction_New(&emit_def, NULL); }

void cn_py_log_exception(enum cn_log_level level, const char *msg)
{
    PyObject *type, *value, *tb;
    PyErr_Fetch(&type, &value, &tb);
    if (type == NULL) {
        cn_log(level, "%s", msg);
        return;
    }
    PyErr_NormalizeException(&type, &value, &tb);
    if (tb != NULL)
        PyException_SetTraceback(value, tb);
    PyObject *text = NULL;
    PyObject *fn = cn_py_boot_func("format_exception");
    if (fn != NULL)
        text = PyObject_CallOneArg(fn, value);
    const char *s = text ? PyUnicode_AsUTF8(text) : NULL;
    if (s != NULL) {
        cn_buf_t line = CN_BUF_INIT;
        cn_buf_appendf(&line, "%s\n%s", msg, s);
        cn_log_raw(level, line.data, line.len);
        cn_buf_free(&line);
    } else {
        PyErr_Clear();
        cn_log(level, "%s (the traceback could not be formatted)", msg);
    }
    Py_XDECREF(fn);
    Py_XDECREF(text);
    Py_XDECREF(type);
    Py_XDECREF(value);
    Py_XDECREF(tb);
}

PyObject *cn_py_dict_get(PyObject *dict, PyObject *key)
{
    PyObject *v = PyDict_GetItemWithError(dict, key); /* borrowed */
    return Py_XNewRef(v);
}
