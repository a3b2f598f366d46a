/* py_boot.c - the boot module's source and its loading (see py_boot.h). */
#include "py/py_boot.h"

static const char boot_source[] =
    "import ast, importlib, inspect, os, sys\n"
    "\n"
    "class AppImportError(Exception):\n"
    "    '''The module imported, but no usable app was found in it.'''\n"
    "\n"
    "def _parse_target(expr):\n"
    "    try:\n"
    "        node = ast.parse(expr, mode='eval').body\n"
    "    except SyntaxError:\n"
    "        raise AppImportError('Failed to parse %r as an attribute name or function call.'\n"
    "                             % expr) from None\n"
    "    if isinstance(node, ast.Name):\n"
    "        return node.id, None, None\n"
    "    if not isinstance(node, ast.Call):\n"
    "        raise AppImportError('Failed to parse %r as an attribute name or function call.'\n"
    "                             % expr)\n"
    "    if not isinstance(node.func, ast.Name):\n"
    "        raise AppImportError('Function reference must be a simple name: %r' % expr)\n"
    "    try:\n"
    "        args = [ast.literal_eval(a) for a in node.args]\n"
    "        kwargs = {k.arg: ast.literal_eval(k.value) for k in node.keywords}\n"
    "    except ValueError:\n"
    "        raise AppImportError('Failed to parse arguments as literal values: %r' % expr) from None\n"
    "    return node.func.id, args, kwargs\n"
    "\n"
    "def import_app(uri):\n"
    "    module, sep, expr = uri.partition(':')\n"
    "    if not sep:\n"
    "        expr = 'application'\n"
    "    try:\n"
    "        mod = importlib.import_module(module)\n"
    "    except ImportError:\n"
    "        if module.endswith('.py') and os.path.exists(module):\n"
    "            raise ImportError(\"Failed to find application, did you mean '%s:%s'?\"\n"
    "                              % (module[:-3], expr)) from None\n"
    "        raise\n"
    "    name, args, kwargs = _parse_target(expr)\n"
    "    try:\n"
    "        app = getattr(mod, name)\n"
    "    except AttributeError:\n"
    "        raise AppImportError('Failed to find attribute %r in %r.' % (name, module)) from None\n"
    "    if args is not None:\n"
    "        try:\n"
    "            inspect.signature(app).bind(*args, **kwargs)\n"
    "        except TypeError as e:\n"
    "            raise AppImportError('%s: %s' % (name, e)) from None\n"
    "        except ValueError:\n"
    "            pass\n"
    "        app = app(*args, **kwargs)\n"
    "    if app is None:\n"
    "        raise AppImportError('Failed to find application object: %r' % expr)\n"
    "    if not callable(app):\n"
    "        raise AppImportError('Application object must be callable.')\n"
    "    return app\n"
    "\n"
    "def load_config(path):\n"
    "    ns = {'__file__': path, '__name__': '__config__'}\n"
    "    with open(path, 'rb') as f:\n"
    "        code = compile(f.read(), path, 'exec')\n"
    "    exec(code, ns)\n"
    "    return ns\n"
    "\n"
    "def activate_venv():\n"
    "    venv = os.environ.get('VIRTUAL_ENV')\n"
    "    if not venv:\n"
    "        return\n"
    "    import site\n"
    "    lib = 'python%d.%d' % sys.version_info[:2]\n"
    "    site.addsitedir(os.path.join(venv, 'lib', lib, 'site-packages'))\n"
    "\n"
    "def format_exception(exc):\n"
    "    import traceback\n"
    "    return ''.join(traceback.format_exception(exc)).rstrip('\\n')\n";

#define BOOT_MODULE "_cunicorn_boot"

int cn_py_boot_install(void)
{
    PyObject *code = Py_CompileString(boot_source, "<cunicorn-boot>", Py_file_input);
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
