/* py_boot.c - loading the boot module, src/py/boot.py (see py_boot.h). */
#include "py/py_boot.h"

/* src/py/boot.py, embedded by cmake/embed.cmake at build time. */
extern const char cn_boot_py_source[];

#define BOOT_MODULE "_cunicorn_boot"

int cn_py_boot_install(void)
{
    PyObject *code = Py_CompileString(cn_boot_py_source, "src/py/boot.py", Py_file_input);
    if (code == NULL)
        return -1;
    PyObject *mod = PyImport_ExecCodeModule(BOOT_MODULE, code); /* now in sys.modules */
    Py_DECREF(code);
    if (mod == NULL)
        return -1;
    Py_DECREF(mod);
    return 0;
}

PyObject *cn_py_boot_func(const char *name)
{
    PyObject *mod = PyImport_ImportModule(BOOT_MODULE);
    if (mod == NULL)
        return NULL;
    PyObject *func = PyObject_GetAttrString(mod, name);
    Py_DECREF(mod);
    return func;
}
